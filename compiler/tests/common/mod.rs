//! Small ONNX graphs written in the tests, with tract-onnx's protobuf types.

#![allow(dead_code)]

use int8_compiler::Images;
use prost::Message;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto, attribute_proto::AttributeType, tensor_shape_proto, type_proto,
};

/// A dimension: fixed, or symbolic.
#[derive(Clone, Copy)]
pub enum D {
    N(i64),
    Sym(&'static str),
}

pub fn value_info(name: &str, elem_type: i32, dims: &[D]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                D::N(n) => Value::DimValue(*n),
                D::Sym(s) => Value::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    let t = type_proto::Tensor { elem_type, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), ..Default::default() }),
        ..Default::default()
    }
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints.into(), ints: v.to_vec(), ..Default::default() }
}

pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int.into(), i: v, ..Default::default() }
}

pub fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float.into(), f: v, ..Default::default() }
}

pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// An f32 initializer with deterministic pseudo-random values in [-scale, scale].
pub fn weights(name: &str, dims: &[i64], seed: u32, scale: f32) -> TensorProto {
    let n: i64 = dims.iter().product();
    let mut s = seed.wrapping_mul(2654435761).max(1);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
        })
        .collect();
    values(name, dims, &v)
}

pub fn values(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: 1,
        dims: dims.to_vec(),
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn ints_tensor(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: 7,
        dims: vec![v.len() as i64],
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> Vec<u8> {
    let graph = GraphProto {
        name: "test".into(),
        node: nodes,
        initializer: inits,
        input: inputs,
        output: outputs,
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `n` deterministic pseudo-random 8-bit images of `pixels` pixels.
pub fn pixels(n: usize, pixels: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..n * pixels)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8
        })
        .collect()
}

pub fn images(px: &[u8], per: usize) -> Images<'_> {
    Images::new(px, per).unwrap()
}

/// A small valid CNN on 8x8 images: Conv 3x3 (pads 1) 1→4, Relu, MaxPool 2, Flatten, Gemm → 3.
pub fn small_cnn() -> (Vec<NodeProto>, Vec<TensorProto>) {
    (
        vec![
            node(
                "Conv",
                "conv",
                &["x", "w1", "b1"],
                &["c"],
                vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
            ),
            node("Relu", "relu", &["c"], &["r"], vec![]),
            node("MaxPool", "pool", &["r"], &["p"], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]),
            node("Flatten", "flatten", &["p"], &["f"], vec![int("axis", 1)]),
            node("Gemm", "fc", &["f", "w2", "b2"], &["y"], vec![int("transB", 1)]),
        ],
        vec![
            weights("w1", &[4, 1, 3, 3], 1, 0.5),
            weights("b1", &[4], 2, 0.1),
            weights("w2", &[3, 64], 3, 0.2),
            weights("b2", &[3], 4, 0.1),
        ],
    )
}

pub const FLOAT: i32 = 1;
