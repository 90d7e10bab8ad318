//! Conv → infer-core's convolution (square kernels, strides, explicit padding), weights
//! reordered to HWC and the input's pending affine folded in.

use infer_core::Shape;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};

use super::layout::{explicit_padding, f32s, layout_map, spatial};
use super::{Act, Lowering, Value, problem};
use crate::error::UnsupportedNode;
use crate::graph::{FloatNode, FloatOp};

/// Largest kernel side infer-core's convolution takes.
const MAX_KERNEL: usize = 255;

impl Lowering<'_> {
    pub(super) fn conv(&mut self, node: &TypedNode, op: &Conv) -> Result<(), UnsupportedNode> {
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
}
