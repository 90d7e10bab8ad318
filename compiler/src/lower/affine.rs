//! Add/Sub/Mul/Div/Max/Min with a constant: pending affine maps, folded into the op that made
//! the tensor, and fused ReLU / clamps.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;

use super::layout::broadcast;
use super::{Act, Affine, Lowering, Value, problem};
use crate::error::UnsupportedNode;
use crate::graph::FloatOp;

impl Lowering<'_> {
    /// Folds `act`'s pending affine into the op that produced its tensor; `Err` with the reason
    /// when that op cannot take it (the input, a ReLU or clamp or pool already fused, or an
    /// affine that is not one per channel of a convolution).
    pub(super) fn fold_into_producer(&mut self, act: &mut Act) -> Result<(), String> {
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

    pub(super) fn binary(&mut self, node: &TypedNode, op: &TypedBinOp, acts: &[usize]) -> Result<(), UnsupportedNode> {
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
}
