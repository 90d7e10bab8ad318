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

use std::collections::HashMap;

use infer_core::Shape;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::EvalOp;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::nn::{DataFormat, Softmax};
use tract_onnx::tract_core::ops::source::TypedSource;

use crate::error::{CompileError, UnsupportedNode};
use crate::graph::{FloatGraph, FloatNode, FloatOp};

/// Largest kernel side infer-core's convolution takes.
const MAX_KERNEL: usize = 255;
/// Largest fused pool window infer-core takes.
const MAX_FUSED_POOL: usize = 4;

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

/// The row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn f32s(t: &Tensor) -> TractResult<Vec<f32>> {
    Ok(t.cast_to::<f32>()?.to_plain_array_view::<f32>()?.iter().copied().collect())
}

/// `t` broadcast to `shape` (numpy rules), or `None` when it does not broadcast to exactly it.
fn broadcast(t: &Tensor, shape: &[usize]) -> Option<Vec<f32>> {
    let values = f32s(t).ok()?;
    let ts = t.shape();
    if ts.len() > shape.len() {
        return None;
    }
    let pad = shape.len() - ts.len();
    let full: Vec<usize> = (0..shape.len()).map(|i| if i < pad { 1 } else { ts[i - pad] }).collect();
    if full.iter().zip(shape).any(|(&a, &b)| a != b && a != 1) {
        return None;
    }
    let (src, dst) = (strides(&full), strides(shape));
    let n: usize = shape.iter().product();
    Some(
        (0..n)
            .map(|e| {
                let mut at = 0;
                for d in 0..shape.len() {
                    let i = e / dst[d] % shape[d];
                    if full[d] != 1 {
                        at += i * src[d];
                    }
                }
                values[at]
            })
            .collect(),
    )
}

/// Position of each element of an outlet in a tensor of shape `t`, for an outlet holding it
/// in `format` with `shape`: `None` when the shapes do not match.
fn layout_map(format: DataFormat, shape: &[usize], t: Shape) -> Option<Vec<usize>> {
    let (n, h, w, c) = match (format, shape) {
        (DataFormat::NCHW, &[n, c, h, w]) | (DataFormat::NHWC, &[n, h, w, c]) => (n, h, w, c),
        (DataFormat::CHW, &[c, h, w]) | (DataFormat::HWC, &[h, w, c]) => (1, h, w, c),
        _ => return None,
    };
    if n != 1 || (h, w, c) != (t.h, t.w, t.c) {
        return None;
    }
    let mut map = vec![0; h * w * c];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let at = match format {
                    DataFormat::NCHW | DataFormat::CHW => (ch * h + y) * w + x,
                    DataFormat::NHWC | DataFormat::HWC => (y * w + x) * c + ch,
                };
                map[at] = (y * w + x) * c + ch;
            }
        }
    }
    Some(map)
}

/// The spatial dims and channels of an outlet in `format`.
fn spatial(format: DataFormat, shape: &[usize]) -> Option<(usize, usize, usize)> {
    match (format, shape) {
        (DataFormat::NCHW, &[1, c, h, w]) | (DataFormat::NHWC, &[1, h, w, c]) => Some((h, w, c)),
        (DataFormat::CHW, &[c, h, w]) | (DataFormat::HWC, &[h, w, c]) => Some((h, w, c)),
        _ => None,
    }
}

/// Explicit padding `[top, left, bottom, right]` of a pool spec on an `h x w` input, and the
/// output side lengths.
fn explicit_padding(spec: &PoolSpec, h: usize, w: usize) -> ([usize; 4], usize, usize) {
    let dims = spec.computed_padding(&[h, w]);
    (
        [dims[0].pad_before, dims[1].pad_before, dims[0].pad_after, dims[1].pad_after],
        dims[0].convoluted,
        dims[1].convoluted,
    )
}

impl<'m> Lowering<'m> {
    fn node_shape(&self, outlet: OutletId) -> Option<Vec<usize>> {
        self.model.outlet_fact(outlet).ok()?.shape.as_concrete().map(|s| s.to_vec())
    }

    /// The float-graph shape of tensor `t`.
    fn tensor_shape(&self, t: usize) -> Shape {
        if t == 0 { self.graph.input } else { self.graph.nodes[t - 1].output }
    }

    /// Folds `act`'s pending affine into the op that produced its tensor; `Err` with the reason
    /// when that op cannot take it (the input, a ReLU or clamp or pool already fused, or an
    /// affine that is not one per channel of a convolution).
    fn fold_into_producer(&mut self, act: &mut Act) -> Result<(), String> {
        let Some(aff) = act.affine.take() else { return Ok(()) };
        let t = self.tensor_shape(act.tensor);
        // Per tensor element.
        let n = t.numel();
        let (mut a, mut b) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        for (j, &i) in act.map.iter().enumerate() {
            a[i] = aff.a[j];
            b[i] = aff.b[j];
        }
        let restore = |act: &mut Act, aff: Affine| act.affine = Some(aff);
        if act.tensor == 0 {
            restore(act, aff);
            return Err("an affine map on the model input".into());
        }
        let node = &mut self.graph.nodes[act.tensor - 1];
        match &mut node.op {
            FloatOp::Conv { w, b: bias, relu: false, max: None, pool: 1, .. } => {
                let c = t.c;
                let per = w.len() / c;
                // One (a, b) per channel, the same at every position.
                for (i, (&ai, &bi)) in a.iter().zip(&b).enumerate() {
                    if ai != a[i % c] || bi != b[i % c] {
                        restore(act, aff);
                        return Err("an affine map that differs between positions of a channel".into());
                    }
                }
                for ch in 0..c {
                    for v in &mut w[ch * per..(ch + 1) * per] {
                        *v *= a[ch];
                    }
                    bias[ch] = bias[ch] * a[ch] + b[ch];
                }
                Ok(())
            }
            FloatOp::Dense { w, b: bias, relu: false, max: None } => {
                let per = w.len() / n;
                for o in 0..n {
                    for v in &mut w[o * per..(o + 1) * per] {
                        *v *= a[o];
                    }
                    bias[o] = bias[o] * a[o] + b[o];
                }
                Ok(())
            }
            _ => {
                restore(act, aff);
                Err("an affine map after a ReLU, clamp or pool".into())
            }
        }
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

    fn axis_op(&mut self, node: &TypedNode, op: &AxisOp) -> Result<(), UnsupportedNode> {
        let Some(Value::Act(act)) = self.values.get(&node.inputs[0]).cloned() else {
            return Err(problem(node, "not an activation"));
        };
        let shape = self.node_shape(OutletId::new(node.id, 0)).ok_or_else(|| problem(node, "dynamic shape"))?;
        let moved = |v: Tensor| -> Option<Tensor> {
            let mut out = op.eval_out_of_plan(tvec![v.into_tvalue()]).ok()??;
            if out.len() != 1 {
                return None;
            }
            Some(out.remove(0).into_tensor())
        };
        let map_t = Tensor::from_shape(&act.shape, &act.map.iter().map(|&v| v as i64).collect::<Vec<_>>())
            .map_err(|e| problem(node, e.to_string()))?;
        let map = moved(map_t)
            .and_then(|t| {
                t.to_plain_array_view::<i64>().ok().map(|v| v.iter().map(|&i| i as usize).collect::<Vec<_>>())
            })
            .ok_or_else(|| problem(node, "tract cannot move the index map"))?;
        let affine = match &act.affine {
            None => None,
            Some(aff) => {
                let mv = |v: &[f32]| -> Option<Vec<f32>> {
                    let t = Tensor::from_shape(&act.shape, v).ok()?;
                    let t = moved(t)?;
                    Some(t.to_plain_array_view::<f32>().ok()?.iter().copied().collect())
                };
                match (mv(&aff.a), mv(&aff.b)) {
                    (Some(a), Some(b)) => Some(Affine { a, b }),
                    _ => return Err(problem(node, "tract cannot move the pending affine")),
                }
            }
        };
        if map.len() != shape.iter().product::<usize>() {
            return Err(problem(node, "a data movement that changes the number of elements"));
        }
        self.set(node, Value::Act(Act { tensor: act.tensor, shape, map, affine }));
        Ok(())
    }

    fn binary(&mut self, node: &TypedNode, op: &TypedBinOp, acts: &[usize]) -> Result<(), UnsupportedNode> {
        let name = op.0.name();
        if acts.len() == 2 {
            return Err(problem(
                node,
                format!("{name} of two activations (a residual connection): infer-core has no Add of two tensors yet"),
            ));
        }
        let xi = acts[0];
        let Some(Value::Act(mut act)) = self.values.get(&node.inputs[xi]).cloned() else {
            return Err(problem(node, "not an activation"));
        };
        let Some(Value::Const(c)) = self.values.get(&node.inputs[1 - xi]).cloned() else {
            return Err(problem(node, "the other input is not a constant"));
        };
        let c = broadcast(&c, &act.shape)
            .ok_or_else(|| problem(node, "a constant that does not broadcast to the activation's shape"))?;
        let const_first = xi == 1;
        let n = act.map.len();
        match name {
            "Add" | "Sub" | "Mul" | "Div" => {
                let aff = act.affine.get_or_insert_with(|| Affine { a: vec![1.0; n], b: vec![0.0; n] });
                for ((a, b), &c) in aff.a.iter_mut().zip(aff.b.iter_mut()).zip(&c) {
                    match (name, const_first) {
                        ("Add", _) => *b += c,
                        ("Sub", false) => *b -= c,
                        ("Sub", true) => (*a, *b) = (-*a, c - *b),
                        ("Mul", _) => (*a, *b) = (*a * c, *b * c),
                        ("Div", false) => (*a, *b) = (*a / c, *b / c),
                        _ => return Err(problem(node, "a constant divided by an activation")),
                    }
                }
                self.set(node, Value::Act(act));
                Ok(())
            }
            "Max" | "Min" => {
                let v = c[0];
                if c.iter().any(|&x| x.to_bits() != v.to_bits()) {
                    return Err(problem(node, format!("{name} with a constant that differs between elements")));
                }
                self.fold_into_producer(&mut act).map_err(|e| problem(node, format!("cannot fuse the clamp: {e}")))?;
                if act.tensor == 0 {
                    return Err(problem(node, "a clamp of the model input"));
                }
                let fused = &mut self.graph.nodes[act.tensor - 1].op;
                let (relu, max) = match fused {
                    FloatOp::Conv { relu, max, .. } | FloatOp::Dense { relu, max, .. } => (relu, max),
                    FloatOp::MaxPool { .. } => return Err(problem(node, "a clamp after a standalone max pool")),
                };
                match name {
                    "Max" if v == 0.0 => *relu = true,
                    "Max" => {
                        return Err(problem(
                            node,
                            format!(
                                "a lower clamp at {v} (only 0, ReLU): infer-core has no general activation clamp yet"
                            ),
                        ));
                    }
                    _ if v > 0.0 => *max = Some(max.map_or(v, |m| m.min(v))),
                    _ => return Err(problem(node, format!("an upper clamp at {v} ≤ 0"))),
                }
                self.set(node, Value::Act(act));
                Ok(())
            }
            other => Err(problem(node, format!("{other} with a constant"))),
        }
    }

    fn conv(&mut self, node: &TypedNode, op: &Conv) -> Result<(), UnsupportedNode> {
        if op.q_params.is_some() {
            return Err(problem(node, "an already quantized convolution (the compiler takes float models)"));
        }
        if op.group != 1 {
            return Err(problem(
                node,
                format!("a grouped convolution (group {}): not in infer-core's op set yet", op.group),
            ));
        }
        let spec = &op.pool_spec;
        if spec.dilations().iter().any(|&d| d != 1) {
            return Err(problem(node, "a dilated convolution: not in infer-core's op set yet"));
        }
        let ks = &spec.kernel_shape;
        if ks.len() != 2 || ks[0] != ks[1] || ks[0] == 0 || ks[0] > MAX_KERNEL {
            return Err(problem(node, format!("kernel {ks:?}: infer-core takes square 2-D kernels")));
        }
        let k = ks[0];
        let st = spec.strides();
        if st.len() != 2 || st[0] != st[1] || !(1..=2).contains(&st[0]) {
            return Err(problem(node, format!("strides {st:?}: infer-core takes one stride of 1 or 2")));
        }
        let stride = st[0];
        let mut act = self.take_input(node, 0)?;
        let Some(Value::Const(kernel)) = self.values.get(&node.inputs[1]).cloned() else {
            return Err(problem(node, "weights that are not constants"));
        };
        let bias = match node.inputs.get(2).and_then(|o| self.values.get(o)) {
            Some(Value::Const(b)) => Some(b.clone()),
            None => None,
            Some(_) => return Err(problem(node, "a bias that is not a constant")),
        };
        let t = self.tensor_shape(act.tensor);
        let (h, w, cin) = spatial(spec.data_format, &act.shape).ok_or_else(|| problem(node, "input shape"))?;
        let canonical = layout_map(spec.data_format, &act.shape, t);
        if canonical.as_deref() != Some(&act.map[..]) {
            return Err(problem(
                node,
                format!(
                    "its input is not laid out as its data format ({:?}) reads it: a transpose between layers",
                    spec.data_format
                ),
            ));
        }
        let (pad, oh, ow) = explicit_padding(spec, h, w);
        if pad.iter().any(|&p| p >= k) {
            return Err(problem(
                node,
                format!("padding {pad:?} of a {k}x{k} kernel: infer-core takes padding below the kernel side"),
            ));
        }
        let cout = spec.output_channels;
        // Weights into OHWI.
        let kv = f32s(&kernel).map_err(|e| problem(node, e.to_string()))?;
        let ksh = kernel.shape();
        let expect: [usize; 4] = match op.kernel_fmt {
            KernelFormat::OIHW => [cout, cin, k, k],
            KernelFormat::HWIO => [k, k, cin, cout],
            KernelFormat::OHWI => [cout, k, k, cin],
        };
        if ksh != expect {
            return Err(problem(node, format!("kernel of shape {ksh:?}, expected {expect:?}")));
        }
        let mut wt = vec![0.0f32; cout * k * k * cin];
        for o in 0..cout {
            for y in 0..k {
                for x in 0..k {
                    for i in 0..cin {
                        let at = match op.kernel_fmt {
                            KernelFormat::OIHW => ((o * cin + i) * k + y) * k + x,
                            KernelFormat::HWIO => ((y * k + x) * cin + i) * cout + o,
                            KernelFormat::OHWI => ((o * k + y) * k + x) * cin + i,
                        };
                        wt[((o * k + y) * k + x) * cin + i] = kv[at];
                    }
                }
            }
        }
        let mut b = match &bias {
            None => vec![0.0; cout],
            Some(bt) => {
                let v = f32s(bt).map_err(|e| problem(node, e.to_string()))?;
                match v.len() {
                    0 => vec![0.0; cout],
                    1 => vec![v[0]; cout],
                    n if n == cout => v,
                    n => return Err(problem(node, format!("{n} biases for {cout} channels"))),
                }
            }
        };
        // A pending affine the producer did not take: fold it into this convolution's weights.
        if let Some(aff) = act.affine.take() {
            let mut per_c = vec![(f32::NAN, f32::NAN); cin];
            for (j, &i) in act.map.iter().enumerate() {
                let ch = i % cin;
                let (a, bb) = (aff.a[j], aff.b[j]);
                if per_c[ch].0.is_nan() {
                    per_c[ch] = (a, bb);
                } else if per_c[ch] != (a, bb) {
                    return Err(problem(node, "an affine map on its input that differs between positions"));
                }
            }
            let offset = per_c.iter().any(|&(_, bb)| bb != 0.0);
            if offset && pad.iter().any(|&p| p > 0) {
                if act.tensor == 0 && cin == 1 {
                    // The padding is 0 after the normalization: normalize in a layer of its own.
                    let (a, bb) = per_c[0];
                    self.graph.nodes.push(FloatNode {
                        op: FloatOp::Conv {
                            w: vec![a],
                            b: vec![bb],
                            k: 1,
                            stride: 1,
                            pad: [0; 4],
                            relu: false,
                            max: None,
                            pool: 1,
                        },
                        input: t,
                        output: t,
                    });
                    act.tensor = self.graph.nodes.len();
                } else {
                    return Err(problem(
                        node,
                        "an affine map (batch norm after a ReLU?) before a padded convolution: the padding would be offset",
                    ));
                }
            } else {
                for o in 0..cout {
                    for tap in 0..k * k {
                        for (ch, &(a, bb)) in per_c.iter().enumerate() {
                            let v = &mut wt[(o * k * k + tap) * cin + ch];
                            b[o] += *v * bb;
                            *v *= a;
                        }
                    }
                }
            }
        }
        let input = self.tensor_shape(act.tensor);
        let output = Shape { h: oh, w: ow, c: cout };
        self.graph.nodes.push(FloatNode {
            op: FloatOp::Conv { w: wt, b, k, stride, pad, relu: false, max: None, pool: 1 },
            input,
            output,
        });
        let shape = self.node_shape(OutletId::new(node.id, 0)).ok_or_else(|| problem(node, "dynamic shape"))?;
        let map = layout_map(spec.data_format, &shape, output).ok_or_else(|| problem(node, "output shape"))?;
        self.set(node, Value::Act(Act { tensor: self.graph.nodes.len(), shape, map, affine: None }));
        Ok(())
    }

    fn einsum(&mut self, node: &TypedNode, op: &EinSum, acts: &[usize]) -> Result<(), UnsupportedNode> {
        if op.q_params.is_some() {
            return Err(problem(node, "an already quantized matrix product"));
        }
        if node.inputs.len() != 2 || acts.len() != 1 {
            return Err(problem(node, "a product of two activations"));
        }
        let xi = acts[0];
        let mut act = self.take_input(node, xi)?;
        let Some(Value::Const(wt)) = self.values.get(&node.inputs[1 - xi]).cloned() else {
            return Err(problem(node, "weights that are not constants"));
        };
        let wv = f32s(&wt).map_err(|e| problem(node, e.to_string()))?;
        let wsh = wt.shape().to_vec();
        let out_shape = self.node_shape(OutletId::new(node.id, 0)).ok_or_else(|| problem(node, "dynamic shape"))?;
        // Every axis: contracted (activation and weights), an output feature (weights and
        // output), or of size 1. Anything else (sums over one operand, batched products) is not
        // a Dense layer.
        let (xs, ws, os) = (strides(&act.shape), strides(&wsh), strides(&out_shape));
        let mut contracted = Vec::new(); // (act axis, weight axis)
        let mut features = Vec::new(); // (weight axis, output axis)
        for axis in op.axes.iter_all_axes() {
            let (ia, iw, io) = (&axis.inputs[xi], &axis.inputs[1 - xi], &axis.outputs[0]);
            if ia.len() > 1 || iw.len() > 1 || io.len() > 1 {
                return Err(problem(node, "a repeated axis (a diagonal)"));
            }
            let size = |s: &[usize], p: &[usize]| p.first().map_or(1, |&p| s[p]);
            match (ia.first(), iw.first(), io.first()) {
                (Some(&a), Some(&w), None) => contracted.push((a, w)),
                (None, Some(&w), Some(&o)) => features.push((w, o)),
                _ if size(&act.shape, ia) == 1 && size(&wsh, iw) == 1 && size(&out_shape, io) == 1 => {}
                _ => return Err(problem(node, format!("axis '{}' is not a Dense layer's", axis.repr))),
            }
        }
        let n_in = act.map.len();
        let n_out: usize = out_shape.iter().product();
        let t_in = self.tensor_shape(act.tensor);
        if t_in.numel() != n_in {
            return Err(problem(node, "an input that is part of a tensor"));
        }
        let mut w = vec![0.0f32; n_out * n_in];
        for o in 0..n_out {
            for j in 0..n_in {
                let mut at = 0;
                for &(a, wa) in &contracted {
                    at += (j / xs[a] % act.shape[a]) * ws[wa];
                }
                for &(wa, oa) in &features {
                    at += (o / os[oa] % out_shape[oa]) * ws[wa];
                }
                w[o * n_in + act.map[j]] = wv[at];
            }
        }
        let mut b = vec![0.0f32; n_out];
        if let Some(aff) = act.affine.take() {
            // Exact for a Dense layer: it sees every element.
            for o in 0..n_out {
                for (j, &i) in act.map.iter().enumerate() {
                    let v = &mut w[o * n_in + i];
                    b[o] += *v * aff.b[j];
                    *v *= aff.a[j];
                }
            }
        }
        self.graph.nodes.push(FloatNode {
            op: FloatOp::Dense { w, b, relu: false, max: None },
            input: t_in,
            output: Shape { h: 1, w: 1, c: n_out },
        });
        let map = (0..n_out).collect();
        self.set(node, Value::Act(Act { tensor: self.graph.nodes.len(), shape: out_shape, map, affine: None }));
        Ok(())
    }

    fn max_pool(&mut self, node: &TypedNode, op: &MaxPool) -> Result<(), UnsupportedNode> {
        if op.with_index_outputs.is_some() {
            return Err(problem(node, "a max pool with indices"));
        }
        let spec = &op.pool_spec;
        let ks = &spec.kernel_shape;
        let st = spec.strides();
        if ks.len() != 2 || ks[0] != ks[1] || st.len() != 2 || st[0] != ks[0] || st[1] != ks[0] || ks[0] < 2 {
            return Err(problem(
                node,
                format!(
                    "window {ks:?}, strides {st:?}: infer-core's max pool has a square window equal to its stride (no other window yet)"
                ),
            ));
        }
        if spec.dilations().iter().any(|&d| d != 1) {
            return Err(problem(node, "a dilated max pool"));
        }
        let size = ks[0];
        let Some(Value::Act(mut act)) = self.values.get(&node.inputs[0]).cloned() else {
            return Err(problem(node, "not an activation"));
        };
        let (h, w, _) = spatial(spec.data_format, &act.shape).ok_or_else(|| problem(node, "input shape"))?;
        let (pad, oh, ow) = explicit_padding(spec, h, w);
        if pad.iter().any(|&p| p > 0) || !matches!(spec.padding, PaddingSpec::Valid | PaddingSpec::Explicit(..)) {
            return Err(problem(node, "a padded max pool (infer-core has none yet)"));
        }
        let t = self.tensor_shape(act.tensor);
        if layout_map(spec.data_format, &act.shape, t).as_deref() != Some(&act.map[..]) {
            return Err(problem(node, "its input is not laid out as its data format reads it"));
        }
        // Max commutes with an increasing affine map: fold it back, or carry it past the pool.
        let mut carried: Option<Vec<(f32, f32)>> = None;
        if act.affine.is_some() && self.fold_into_producer(&mut act).is_err() {
            let aff = act.affine.take().unwrap_or(Affine { a: vec![], b: vec![] });
            let mut per_c = vec![(f32::NAN, f32::NAN); t.c];
            for (j, &i) in act.map.iter().enumerate() {
                let ch = i % t.c;
                let (a, b) = (aff.a[j], aff.b[j]);
                if per_c[ch].0.is_nan() {
                    per_c[ch] = (a, b);
                } else if per_c[ch] != (a, b) || a <= 0.0 {
                    return Err(problem(node, "an affine map before it that is not increasing and one per channel"));
                }
            }
            carried = Some(per_c);
        }
        let output = Shape { h: oh, w: ow, c: t.c };
        let fusable = act.tensor > 0
            && (2..=MAX_FUSED_POOL).contains(&size)
            && matches!(self.graph.nodes[act.tensor - 1].op, FloatOp::Conv { pool: 1, .. });
        if fusable {
            let last = &mut self.graph.nodes[act.tensor - 1];
            if let FloatOp::Conv { pool, .. } = &mut last.op {
                *pool = size;
            }
            last.output = output;
        } else {
            self.graph.nodes.push(FloatNode { op: FloatOp::MaxPool { size }, input: t, output });
            act.tensor = self.graph.nodes.len();
        }
        let shape = self.node_shape(OutletId::new(node.id, 0)).ok_or_else(|| problem(node, "dynamic shape"))?;
        let map = layout_map(spec.data_format, &shape, output).ok_or_else(|| problem(node, "output shape"))?;
        let affine = carried.map(|per_c| {
            let (a, b) = map.iter().map(|&i| per_c[i % output.c]).unzip();
            Affine { a, b }
        });
        self.set(node, Value::Act(Act { tensor: act.tensor, shape, map, affine }));
        Ok(())
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
