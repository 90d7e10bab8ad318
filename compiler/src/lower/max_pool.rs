//! MaxPool: fused into the convolution before it where infer-core's kernels take the window,
//! else a MaxPool op of its own.

use infer_core::Shape;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PaddingSpec};

use super::layout::{explicit_padding, layout_map, spatial};
use super::{Act, Affine, Lowering, Value, problem};
use crate::error::UnsupportedNode;
use crate::graph::{FloatNode, FloatOp};

/// Largest fused pool window infer-core takes.
const MAX_FUSED_POOL: usize = 4;

impl Lowering<'_> {
    pub(super) fn max_pool(&mut self, node: &TypedNode, op: &MaxPool) -> Result<(), UnsupportedNode> {
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
