//! The int8 model as QDQ ONNX: the same integers infer-core runs, written as
//! QuantizeLinear/DequantizeLinear pairs around float Conv/Gemm/MaxPool so that ONNX Runtime
//! (which fuses them into integer kernels) and tract can run it.
//!
//! Graph (NCHW, opset 18):
//! - `image` f32 `[N,1,H,W]` (pixel / 255) → QuantizeLinear(1/255, −128) → int8 activations;
//! - per Conv/Dense: DequantizeLinear of the int8 input, of the int8 weights (per output
//!   channel, axis 0, zero point 0) and of the int32 bias (scale `s_in · s_w[c]` as the f32
//!   product), the float op, ReLU if fused, then QuantizeLinear to the output's parameters;
//! - a fused max pool is a MaxPool on the dequantized, requantized output (same scale, so ORT
//!   runs it on int8);
//! - before the first Dense, `Flatten` runs on the int8 tensor; Dense weights are put back
//!   into the CHW order ONNX's Flatten produces;
//! - a fused upper clamp (ReLU6, Clip) is the saturation of the QuantizeLinear after the op:
//!   the quantizer ends the output range at the clamp;
//! - the last layer's int8 output is dequantized into `logits` f32 `[N,classes]`.
//!
//! Written with the ONNX protobuf types of tract-onnx (`tract_onnx::pb`, prost).

use prost::Message;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto, attribute_proto::AttributeType, tensor_shape_proto, type_proto,
};

use crate::error::CompileError;
use crate::graph::FloatOp;
use crate::int8::{QParams, QuantGraph};

/// ONNX element types.
mod dtype {
    pub const FLOAT: i32 = 1;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
}

/// The opset the QDQ model declares.
pub const OPSET: i64 = 18;
/// Input name.
pub const INPUT: &str = "image";
/// Output name.
pub const OUTPUT: &str = "logits";

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    count: usize,
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int.into(), i: v, ..Default::default() }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints.into(), ints: v.to_vec(), ..Default::default() }
}

impl Builder {
    fn fresh(&mut self, stem: &str) -> String {
        self.count += 1;
        format!("{stem}_{}", self.count)
    }

    fn init(&mut self, name: &str, dtype: i32, dims: &[usize], raw: Vec<u8>) -> String {
        self.inits.push(TensorProto {
            name: name.into(),
            data_type: dtype,
            dims: dims.iter().map(|&d| d as i64).collect(),
            raw_data: raw,
            ..Default::default()
        });
        name.to_string()
    }

    fn f32s(&mut self, name: &str, v: &[f32]) -> String {
        let dims: Vec<usize> = if v.len() == 1 { vec![] } else { vec![v.len()] };
        self.init(name, dtype::FLOAT, &dims, v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name: format!("{op}_{}", self.count),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    /// Scale and zero-point initializers of a per-tensor int8 quantization.
    fn qparams(&mut self, q: QParams) -> (String, String) {
        let s = self.fresh("scale");
        let z = self.fresh("zero_point");
        (self.f32s(&s, &[q.scale]), self.init(&z, dtype::INT8, &[], vec![q.zero_point as u8]))
    }

    fn quantize(&mut self, x: &str, q: QParams) -> String {
        let (s, z) = self.qparams(q);
        self.node("QuantizeLinear", &[x, &s, &z], vec![])
    }

    fn dequantize(&mut self, x: &str, q: QParams) -> String {
        let (s, z) = self.qparams(q);
        self.node("DequantizeLinear", &[x, &s, &z], vec![])
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => Value::DimValue(*n),
                None => Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor { elem_type: dtype::FLOAT, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

/// Writes `q` as a QDQ ONNX model; returns the protobuf bytes.
pub fn qdq_onnx(q: &QuantGraph, model_name: &str) -> Result<Vec<u8>, CompileError> {
    let mut b = Builder::default();
    let g = &q.graph;
    let mut x = b.quantize(INPUT, QParams::INPUT); // int8 NCHW
    let mut x_q = QParams::INPUT;
    let mut flat = false;
    for ((node, act), w) in g.nodes.iter().zip(&q.act).zip(&q.weights) {
        let (i, o) = (node.input, node.output);
        match (&node.op, w) {
            (FloatOp::Conv { k, stride, pad, relu, pool, .. }, Some(w)) => {
                if flat {
                    return Err(CompileError::Internal("a convolution after Flatten cannot be exported".into()));
                }
                // OHWI → OIHW.
                let (k, cin, cout) = (*k, i.c, o.c);
                let mut oihw = vec![0u8; w.w.len()];
                for oc in 0..cout {
                    for ic in 0..cin {
                        for y in 0..k {
                            for xx in 0..k {
                                oihw[((oc * cin + ic) * k + y) * k + xx] =
                                    w.w[((oc * k + y) * k + xx) * cin + ic] as u8;
                            }
                        }
                    }
                }
                let xd = b.dequantize(&x, x_q);
                let wn = b.fresh("weight");
                let wq = b.init(&wn, dtype::INT8, &[cout, cin, k, k], oihw);
                let wd = dequantize_per_channel(&mut b, &wq, &w.w_scale, dtype::INT8);
                let bias_scale: Vec<f32> = w.w_scale.iter().map(|&s| x_q.scale * s).collect();
                let bn = b.fresh("bias");
                let bq = b.init(&bn, dtype::INT32, &[cout], w.bias.iter().flat_map(|v| v.to_le_bytes()).collect());
                let bd = dequantize_per_channel(&mut b, &bq, &bias_scale, dtype::INT32);
                let mut y = b.node(
                    "Conv",
                    &[&xd, &wd, &bd],
                    vec![
                        attr_ints("kernel_shape", &[k as i64, k as i64]),
                        attr_ints("strides", &[*stride as i64, *stride as i64]),
                        attr_ints("pads", &[pad[0] as i64, pad[1] as i64, pad[2] as i64, pad[3] as i64]),
                    ],
                );
                if *relu {
                    y = b.node("Relu", &[&y], vec![]);
                }
                x = b.quantize(&y, *act);
                if *pool > 1 {
                    let d = b.dequantize(&x, *act);
                    let p = b.node(
                        "MaxPool",
                        &[&d],
                        vec![attr_ints("kernel_shape", &[*pool as i64; 2]), attr_ints("strides", &[*pool as i64; 2])],
                    );
                    x = b.quantize(&p, *act);
                }
            }
            (FloatOp::Dense { relu, .. }, Some(w)) => {
                let n = i.numel();
                let mut w_chw = vec![0u8; w.w.len()];
                for oc in 0..o.c {
                    for y in 0..i.h {
                        for xx in 0..i.w {
                            for c in 0..i.c {
                                w_chw[oc * n + (c * i.h + y) * i.w + xx] = w.w[oc * n + (y * i.w + xx) * i.c + c] as u8;
                            }
                        }
                    }
                }
                if !flat {
                    x = b.node("Flatten", &[&x], vec![attr_int("axis", 1)]);
                    flat = true;
                }
                let xd = b.dequantize(&x, x_q);
                let wn = b.fresh("weight");
                let wq = b.init(&wn, dtype::INT8, &[o.c, n], w_chw);
                let wd = dequantize_per_channel(&mut b, &wq, &w.w_scale, dtype::INT8);
                let bias_scale: Vec<f32> = w.w_scale.iter().map(|&s| x_q.scale * s).collect();
                let bn = b.fresh("bias");
                let bq = b.init(&bn, dtype::INT32, &[o.c], w.bias.iter().flat_map(|v| v.to_le_bytes()).collect());
                let bd = dequantize_per_channel(&mut b, &bq, &bias_scale, dtype::INT32);
                let mut y = b.node("Gemm", &[&xd, &wd, &bd], vec![attr_int("transB", 1)]);
                if *relu {
                    y = b.node("Relu", &[&y], vec![]);
                }
                x = b.quantize(&y, *act);
            }
            (FloatOp::MaxPool { size }, _) => {
                let d = b.dequantize(&x, x_q);
                let p = b.node(
                    "MaxPool",
                    &[&d],
                    vec![attr_ints("kernel_shape", &[*size as i64; 2]), attr_ints("strides", &[*size as i64; 2])],
                );
                x = b.quantize(&p, *act);
            }
            _ => return Err(CompileError::Internal("a weighted layer without weights".into())),
        }
        x_q = *act;
    }
    // The last DequantizeLinear produces `logits`.
    b.dequantize(&x, x_q);
    if let Some(last) = b.nodes.last_mut() {
        last.output = vec![OUTPUT.to_string()];
    }

    let input = g.input;
    let graph = GraphProto {
        name: model_name.into(),
        node: b.nodes,
        initializer: b.inits,
        input: vec![value_info(INPUT, &[None, Some(1), Some(input.h as i64), Some(input.w as i64)])],
        output: vec![value_info(OUTPUT, &[None, Some(q.output_shape().c as i64)])],
        ..Default::default()
    };
    let m = ModelProto {
        ir_version: 8,
        producer_name: "fmnist-edge int8-compiler".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        graph: Some(graph),
        ..Default::default()
    };
    Ok(m.encode_to_vec())
}

/// DequantizeLinear with per-channel scales on axis 0 and zero points of `dtype`.
fn dequantize_per_channel(b: &mut Builder, x: &str, scales: &[f32], zp_dtype: i32) -> String {
    let sn = b.fresh("scale");
    let s = b.init(&sn, dtype::FLOAT, &[scales.len()], scales.iter().flat_map(|v| v.to_le_bytes()).collect());
    let zn = b.fresh("zero_point");
    let width = if zp_dtype == dtype::INT32 { 4 } else { 1 };
    let z = b.init(&zn, zp_dtype, &[scales.len()], vec![0u8; scales.len() * width]);
    b.node("DequantizeLinear", &[x, &s, &z], vec![attr_int("axis", 0)])
}
