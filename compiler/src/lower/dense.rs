//! EinSum with a constant operand (Gemm, MatMul) → Dense, its weights read through the input's
//! index map so that any flatten order lands in the weights.

use infer_core::Shape;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::layout::{f32s, strides};
use super::{Act, Lowering, Value, problem};
use crate::error::UnsupportedNode;
use crate::graph::{FloatNode, FloatOp};

impl Lowering<'_> {
    pub(super) fn einsum(&mut self, node: &TypedNode, op: &EinSum, acts: &[usize]) -> Result<(), UnsupportedNode> {
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
}
