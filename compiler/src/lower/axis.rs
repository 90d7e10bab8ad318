//! tract's `AxisOp` (Flatten, Reshape, Transpose, Squeeze, ...): the index map moves, nothing is computed.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::EvalOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;

use super::{Act, Affine, Lowering, Value, problem};
use crate::error::UnsupportedNode;

impl Lowering<'_> {
    pub(super) fn axis_op(&mut self, node: &TypedNode, op: &AxisOp) -> Result<(), UnsupportedNode> {
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
}
