//! Lowering: tract's typed, decluttered model (see `load.rs`) → a [`FloatGraph`] in
//! infer-core's op set, or the list of every node that cannot be lowered.
//!
//! The walk follows tract's evaluation order and keeps, for every outlet, what it holds:
//! a constant, or an *activation*: a tensor of the float graph seen through tract's shape. An
//! activation carries an index map (for each element of the outlet, in row-major order, its
//! HWC position in the float-graph tensor) and a pending per-element affine `a·x + b`. So:
//!
//! - data movement (tract's `AxisOp`: Flatten, Reshape, Transpose, Squeeze, ...) only moves the
//!   map (tract evaluates the op on the map itself), whatever the layout;
//! - Add/Sub/Mul/Div with a constant (batch norm, biases, input normalization) update the
//!   pending affine, which is folded into the weights of the op that produced the tensor, or,
//!   when that op already ends in a ReLU, into the op that consumes it (exact for Dense; for a
//!   convolution only without padding or without offset, since padding is 0 *after* the
//!   affine) — for the model input with a padded first convolution, into an explicit 1x1
//!   normalization convolution;
//! - `Max(x, 0)` (ReLU), `Min(x, m)` (the top of ReLU6 / Clip) and a following MaxPool fuse into
//!   the op before them;
//! - Conv needs its input in the layout its data format reads (else the layout change would
//!   need a real transpose); EinSum with a constant operand is a Dense whose weights are read
//!   through the map, so any flatten order (CHW, HWC) lands in the weights;
//! - a Softmax at the very end is dropped: the logits are the output.
//!
//! Anything else is an [`UnsupportedNode`]; all of them are collected before failing.

mod affine;
mod axis;
mod conv;
mod dense;
mod layout;
mod max_pool;

use std::collections::HashMap;

use infer_core::Shape;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Conv, MaxPool};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::nn::{DataFormat, Softmax};
use tract_onnx::tract_core::ops::source::TypedSource;

use crate::error::{CompileError, UnsupportedNode};
use crate::graph::{FloatGraph, FloatNode, FloatOp};
use layout::layout_map;

/// The input normalization the model expects on top of `pixel / 255` (from the options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    /// Subtracted from `pixel / 255`.
    pub mean: f32,
    /// Then divided by.
    pub std: f32,
}

impl Normalization {
    /// None: the model takes `pixel / 255`.
    pub const NONE: Normalization = Normalization { mean: 0.0, std: 1.0 };
}

/// A per-element affine `a·x + b` still to apply to an activation (outlet order).
#[derive(Debug, Clone)]
struct Affine {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// An activation: a float-graph tensor seen through an outlet of the typed model.
#[derive(Debug, Clone)]
struct Act {
    /// 0 = the model input, `i + 1` = the output of float-graph node `i`.
    tensor: usize,
    /// The outlet's shape in tract.
    shape: Vec<usize>,
    /// For each element of the outlet (row-major in `shape`), its HWC index in the tensor.
    map: Vec<usize>,
    /// Still to apply.
    affine: Option<Affine>,
}

#[derive(Debug, Clone)]
enum Value {
    Const(Arc<Tensor>),
    Act(Act),
}

/// The lowered model, and the outlet of tract's model whose values are its logits (before a
/// dropped Softmax), to check the lowering against.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The float graph.
    pub graph: FloatGraph,
    /// tract's outlet holding the logits.
    pub logits: OutletId,
}

/// Where the lowering stands.
struct Lowering<'m> {
    model: &'m TypedModel,
    graph: FloatGraph,
    values: HashMap<OutletId, Value>,
    problems: Vec<UnsupportedNode>,
    output: OutletId,
    logits: Option<OutletId>,
}

fn problem(node: &TypedNode, reason: impl Into<String>) -> UnsupportedNode {
    UnsupportedNode { name: node.name.clone(), op: node.op.name().to_string(), reason: reason.into() }
}

impl<'m> Lowering<'m> {
    fn node_shape(&self, outlet: OutletId) -> Option<Vec<usize>> {
        self.model.outlet_fact(outlet).ok()?.shape.as_concrete().map(|s| s.to_vec())
    }

    /// The float-graph shape of tensor `t`.
    fn tensor_shape(&self, t: usize) -> Shape {
        if t == 0 { self.graph.input } else { self.graph.nodes[t - 1].output }
    }

    /// An input to a Conv or Dense, its pending affine folded backwards where it can be; what is
    /// left is for the consumer to fold.
    fn take_input(&mut self, node: &TypedNode, ix: usize) -> Result<Act, UnsupportedNode> {
        let Some(Value::Act(mut act)) = self.values.get(&node.inputs[ix]).cloned() else {
            return Err(problem(node, format!("input {ix} is not an activation")));
        };
        if act.affine.is_some() && act.tensor != 0 {
            // The reason it cannot is kept for the consumer's own attempt.
            let _ = self.fold_into_producer(&mut act);
        }
        Ok(act)
    }

    /// After a node that cannot be lowered: an activation of its output's shape (NCHW for a
    /// rank-4 outlet, else flat), from a placeholder node, for the rest of the walk.
    fn stand_in(&mut self, node: &TypedNode) {
        let out = OutletId::new(node.id, 0);
        let shape = self.node_shape(out).unwrap_or_default();
        let n: usize = shape.iter().product();
        let (t, map) = match shape[..] {
            [1, c, h, w] if c > 0 && h > 0 && w > 0 => {
                let t = Shape { h, w, c };
                (t, layout_map(DataFormat::NCHW, &shape, t).unwrap_or_default())
            }
            _ => (Shape { h: 1, w: 1, c: n.max(1) }, (0..n).collect()),
        };
        self.graph.nodes.push(FloatNode { op: FloatOp::MaxPool { size: 1 }, input: t, output: t });
        self.set(node, Value::Act(Act { tensor: self.graph.nodes.len(), shape, map, affine: None }));
    }

    fn set(&mut self, node: &TypedNode, v: Value) {
        self.values.insert(OutletId::new(node.id, 0), v);
    }

    fn lower_node(&mut self, node: &TypedNode) -> Result<(), UnsupportedNode> {
        if node.op_is::<TypedSource>() {
            return Err(problem(node, "a second model input"));
        }
        if let Some(c) = node.op_as::<Const>() {
            self.set(node, Value::Const(c.val().clone()));
            return Ok(());
        }
        let acts: Vec<usize> = (0..node.inputs.len())
            .filter(|&i| matches!(self.values.get(&node.inputs[i]), Some(Value::Act(_))))
            .collect();
        if acts.is_empty() {
            return self.fold_constant(node);
        }
        // Activations form a chain: each feeds one node (the model output excepted).
        let out = OutletId::new(node.id, 0);
        if node.outputs.len() != 1 {
            return Err(problem(node, "more than one output"));
        }
        if node.outputs[0].successors.len() > 1 {
            return Err(problem(
                node,
                format!(
                    "its output feeds {} nodes (a residual or concatenated branch): the lowering takes chains",
                    node.outputs[0].successors.len()
                ),
            ));
        }
        if let Some(op) = node.op_as::<AxisOp>() {
            return self.axis_op(node, op);
        }
        if let Some(op) = node.op_as::<TypedBinOp>() {
            return self.binary(node, op, &acts);
        }
        if let Some(op) = node.op_as::<Conv>() {
            return self.conv(node, op);
        }
        if let Some(op) = node.op_as::<EinSum>() {
            return self.einsum(node, op, &acts);
        }
        if let Some(op) = node.op_as::<MaxPool>() {
            return self.max_pool(node, op);
        }
        if node.op_is::<Softmax>() {
            if out != self.output {
                return Err(problem(node, "a softmax that is not the model's last op"));
            }
            self.logits = Some(node.inputs[0]);
            let v = self.values[&node.inputs[0]].clone();
            self.set(node, v);
            return Ok(());
        }
        Err(problem(node, "no infer-core op computes this"))
    }

    /// A node of constants only: tract folds these; if one is left, evaluate it.
    fn fold_constant(&mut self, node: &TypedNode) -> Result<(), UnsupportedNode> {
        let inputs: TVec<TValue> = node
            .inputs
            .iter()
            .filter_map(|o| match self.values.get(o) {
                Some(Value::Const(t)) => Some(t.clone().into_tvalue()),
                _ => None,
            })
            .collect();
        match node.op.eval_out_of_plan(inputs) {
            Ok(Some(mut out)) if out.len() == 1 => {
                let t = out.remove(0).into_arc_tensor();
                self.set(node, Value::Const(t));
                Ok(())
            }
            _ => Err(problem(node, "cannot be evaluated on constants")),
        }
    }
}

/// Lowers `model` (typed, decluttered, batch 1, one f32 input of `image` = `h x w` pixels in
/// any of the layouts `load.rs` accepts, one output) with the input normalization `norm`.
pub fn lower(model: &TypedModel, image: (usize, usize), norm: Normalization) -> Result<Lowered, CompileError> {
    let inputs = model.input_outlets().map_err(|e| CompileError::Internal(e.to_string()))?;
    let outputs = model.output_outlets().map_err(|e| CompileError::Internal(e.to_string()))?;
    let (&[input], &[output]) = (inputs, outputs) else {
        return Err(CompileError::Internal("the loader leaves one input and one output".into()));
    };
    let in_shape = model
        .outlet_fact(input)
        .ok()
        .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()))
        .ok_or_else(|| CompileError::Input("a dynamic input shape".into()))?;
    let n: usize = in_shape.iter().product();
    if n != image.0 * image.1 {
        return Err(CompileError::Input(format!("{in_shape:?} is not a {}x{} image", image.0, image.1)));
    }
    let mut l = Lowering {
        model,
        graph: FloatGraph { input: Shape { h: image.0, w: image.1, c: 1 }, nodes: Vec::new() },
        values: HashMap::new(),
        problems: Vec::new(),
        output,
        logits: None,
    };
    // One channel: every accepted layout lists the pixels row-major, the tensor's HWC order.
    let affine =
        (norm != Normalization::NONE).then(|| Affine { a: vec![1.0 / norm.std; n], b: vec![-norm.mean / norm.std; n] });
    l.values.insert(input, Value::Act(Act { tensor: 0, shape: in_shape, map: (0..n).collect(), affine }));
    let order = model.eval_order().map_err(|e| CompileError::Internal(e.to_string()))?;
    for id in order {
        let node = model.node(id);
        if node.id == input.node {
            continue;
        }
        if let Err(p) = l.lower_node(node) {
            l.problems.push(p);
            // Keep walking with a stand-in activation of the right shape, so that the nodes
            // after it are checked (and reported) too.
            l.stand_in(node);
        }
    }
    if !l.problems.is_empty() {
        return Err(CompileError::Unsupported { nodes: l.problems });
    }
    let logits = l.logits.unwrap_or(output);
    let Some(Value::Act(mut last)) = l.values.get(&logits).cloned() else {
        return Err(CompileError::Output("the output is not computed from the input".into()));
    };
    l.fold_into_producer(&mut last)
        .map_err(|e| CompileError::Output(format!("cannot fold the last affine map: {e}")))?;
    let out = l.tensor_shape(last.tensor);
    if last.tensor == 0 || !out.is_flat() || last.map.iter().enumerate().any(|(j, &i)| i != j) {
        return Err(CompileError::Output(format!(
            "the logits must be a flat vector computed by the last layer, not a {}x{}x{} tensor",
            out.h, out.w, out.c
        )));
    }
    if last.tensor != l.graph.nodes.len() {
        return Err(CompileError::Internal("the output is not the last node".into()));
    }
    Ok(Lowered { graph: l.graph, logits })
}
