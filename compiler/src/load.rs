//! Reading a float ONNX model with tract-onnx: the protobuf decoded by tract's own parser,
//! the one image input fixed to batch 1, the class-score output chosen, and the graph typed and
//! decluttered by tract (shapes inferred, constant subgraphs folded, Dropout/Identity removed,
//! Gemm/MatMul as EinSum, batch norm as affine ops or folded into the convolution, Flatten /
//! Reshape / Transpose as axis ops), which is what `lower/` walks.
//!
//! Why tract-onnx: it is the ONNX reader the conformance suite already trusts (its results are
//! compared with ONNX Runtime on every published model), it is pure Rust with no burn in its
//! tree, and its typed model gives the lowering one normalized form of what exporters write in
//! many ways (PyTorch's Flatten + Gemm, tf2onnx's Transpose + MatMul + Add, burn's
//! Shape/Gather/Concat/Reshape chains, skl2onnx's MatMul + Add).

use std::io::Cursor;

use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as DimValue, type_proto};
use tract_onnx::prelude::*;

use crate::error::CompileError;
use crate::screen;

/// What the caller knows that the file may not say.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The output to compile (by ONNX name); default: the model's one float output.
    pub output: Option<String>,
    /// Height and width of the image, for models whose input is a flat vector (default: square)
    /// or has symbolic spatial dimensions.
    pub image: Option<(usize, usize)>,
}

/// A model ready to lower.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Typed and decluttered, batch 1, one input, one output.
    pub model: TypedModel,
    /// Height and width of the input image.
    pub image: (usize, usize),
    /// The ONNX names of the input and of the chosen output.
    pub io: (String, String),
    /// The input's shape with batch 1, as the model takes it (for running it with tract).
    pub input_shape: Vec<usize>,
    /// Every ONNX node's name and op type, to report problems in the file's own terms.
    pub onnx_nodes: Vec<(String, String)>,
}

impl Loaded {
    /// The ONNX node (name, op type) a tract node comes from: tract keeps the ONNX name and
    /// may add `.suffix`es for the nodes it splits one into.
    pub fn onnx_node(&self, tract_name: &str) -> Option<&(String, String)> {
        self.onnx_nodes
            .iter()
            .filter(|(n, _)| {
                !n.is_empty()
                    && (tract_name == n || tract_name.strip_prefix(n.as_str()).is_some_and(|r| r.starts_with('.')))
            })
            .max_by_key(|(n, _)| n.len())
    }
}

/// A declared dimension: `Some(n)` when fixed.
fn dims(v: &pb::ValueInfoProto) -> Option<Vec<Option<usize>>> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref()?.value.as_ref() else { return None };
    Some(
        t.shape
            .as_ref()?
            .dim
            .iter()
            .map(|d| match d.value {
                Some(DimValue::DimValue(n)) if n > 0 => Some(n as usize),
                _ => None,
            })
            .collect(),
    )
}

fn elem_type(v: &pb::ValueInfoProto) -> Option<i32> {
    let type_proto::Value::TensorType(t) = v.r#type.as_ref()?.value.as_ref()?;
    Some(t.elem_type)
}

/// ONNX's FLOAT element type.
const FLOAT: i32 = 1;

/// The image height and width, and the input shape at batch 1, from the declared input dims.
fn input_layout(
    d: &[Option<usize>],
    image: Option<(usize, usize)>,
) -> Result<((usize, usize), Vec<usize>), CompileError> {
    let bad = |why: &str| {
        CompileError::Input(format!(
            "{why}; infer-core takes one-channel images: [N,1,H,W], [N,H,W,1], [N,H,W] or [N,H·W] (declared {})",
            describe(d)
        ))
    };
    let rest = d.get(1..).ok_or_else(|| bad("no dimensions"))?;
    let fixed = |i: usize, from_image: Option<usize>| rest[i].or(from_image);
    let (h, w) = match rest.len() {
        1 => {
            let n = rest[0].or(image.map(|(h, w)| h * w)).ok_or_else(|| bad("a flat input of unknown length"))?;
            match image {
                Some((h, w)) if h * w == n => (h, w),
                Some((h, w)) => return Err(bad(&format!("{n} values are not a {h}x{w} image"))),
                None => {
                    let s = (n as f64).sqrt().round() as usize;
                    if s * s != n {
                        return Err(bad(&format!("{n} values are not a square image: say its size with --image HxW")));
                    }
                    (s, s)
                }
            }
        }
        2 => (fixed(0, image.map(|i| i.0)), fixed(1, image.map(|i| i.1)))
            .into_option()
            .ok_or_else(|| bad("dynamic image size: say it with --image HxW"))?,
        3 if rest[0] == Some(1) => (fixed(1, image.map(|i| i.0)), fixed(2, image.map(|i| i.1)))
            .into_option()
            .ok_or_else(|| bad("dynamic image size: say it with --image HxW"))?,
        3 if rest[2] == Some(1) => (fixed(0, image.map(|i| i.0)), fixed(1, image.map(|i| i.1)))
            .into_option()
            .ok_or_else(|| bad("dynamic image size: say it with --image HxW"))?,
        3 => return Err(bad("more than one channel")),
        _ => return Err(bad("not an image")),
    };
    if h == 0 || w == 0 || h > u16::MAX as usize || w > u16::MAX as usize {
        return Err(bad(&format!("an image of {h}x{w}")));
    }
    let shape = match rest.len() {
        1 => vec![1, h * w],
        2 => vec![1, h, w],
        _ if rest[0] == Some(1) => vec![1, 1, h, w],
        _ => vec![1, h, w, 1],
    };
    Ok(((h, w), shape))
}

trait IntoOption<T> {
    fn into_option(self) -> Option<T>;
}

impl IntoOption<(usize, usize)> for (Option<usize>, Option<usize>) {
    fn into_option(self) -> Option<(usize, usize)> {
        Some((self.0?, self.1?))
    }
}

fn describe(d: &[Option<usize>]) -> String {
    let parts: Vec<String> = d.iter().map(|x| x.map_or("?".to_string(), |n| n.to_string())).collect();
    format!("[{}]", parts.join(","))
}

/// Decodes, checks and types `bytes` (see the module docs).
pub fn load(bytes: &[u8], opts: &LoadOptions) -> Result<Loaded, CompileError> {
    let onnx = tract_onnx::onnx();
    let proto =
        onnx.proto_model_for_read(&mut Cursor::new(bytes)).map_err(|e| CompileError::NotOnnx(format!("{e:#}")))?;
    let graph = proto.graph.as_ref().ok_or_else(|| CompileError::NotOnnx("the model has no graph".into()))?;
    if graph.node.is_empty() {
        return Err(CompileError::NotOnnx("the graph has no nodes".into()));
    }
    screen::check(graph)?;
    // Inputs that are not initializers (older exporters list weights as inputs too).
    let inits: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph.input.iter().filter(|i| !inits.contains(i.name.as_str())).collect();
    let [input] = inputs[..] else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(CompileError::Input(format!(
            "{} inputs ({}): infer-core models take one image",
            names.len(),
            names.join(", ")
        )));
    };
    if elem_type(input) != Some(FLOAT) {
        return Err(CompileError::Input(format!("input `{}` is not f32", input.name)));
    }
    let declared = dims(input).ok_or_else(|| CompileError::Input(format!("input `{}` has no shape", input.name)))?;
    if let Some(Some(b)) = declared.first()
        && *b != 1
    {
        return Err(CompileError::Input(format!(
            "input `{}` has a fixed batch of {b}; the device runs one image",
            input.name
        )));
    }
    let (image, input_shape) = input_layout(&declared, opts.image)?;

    // The output: the one asked for, else the one float output.
    let float_outputs: Vec<(usize, &pb::ValueInfoProto)> =
        graph.output.iter().enumerate().filter(|(_, o)| elem_type(o) == Some(FLOAT)).collect();
    let chosen = match &opts.output {
        Some(name) => graph.output.iter().position(|o| &o.name == name).ok_or_else(|| {
            let all: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
            CompileError::Output(format!("no output `{name}` (the model has {})", all.join(", ")))
        })?,
        None => match float_outputs[..] {
            [(i, _)] => i,
            [] => return Err(CompileError::Output("no f32 output (class scores)".into())),
            _ => {
                let names: Vec<&str> = float_outputs.iter().map(|(_, o)| o.name.as_str()).collect();
                return Err(CompileError::Output(format!(
                    "{} f32 outputs ({}): choose one with --output",
                    names.len(),
                    names.join(", ")
                )));
            }
        },
    };
    let shell = Loaded {
        model: TypedModel::default(),
        image,
        io: (input.name.clone(), graph.output[chosen].name.clone()),
        input_shape,
        onnx_nodes: graph.node.iter().map(|n| (n.name.clone(), n.op_type.clone())).collect(),
    };

    // tract can panic on attributes it does not check (a Flatten axis past the rank, found by
    // the fuzzer): a panic there is a load error of this file, never a crash of the caller.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| type_model(&onnx, &proto, chosen, shell))).unwrap_or_else(
        |p| {
            let why = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(CompileError::Load(format!("tract panicked on this file: {}", why.unwrap_or_default())))
        },
    )
}

/// tract's typed, decluttered model of `proto` with output `chosen` and the input fact of
/// `loaded.input_shape`, into `loaded`.
fn type_model(
    onnx: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    chosen: usize,
    mut loaded: Loaded,
) -> Result<Loaded, CompileError> {
    let load = |e: TractError| CompileError::Load(format!("{e:#}"));
    let mut model = onnx.model_for_proto_model(proto).map_err(load)?;
    let outlet = *model
        .output_outlets()
        .map_err(load)?
        .get(chosen)
        .ok_or_else(|| CompileError::Output("outputs out of order".into()))?;
    model.select_output_outlets(&[outlet]).map_err(load)?;
    let typed =
        model.with_input_fact(0, f32::fact(&loaded.input_shape).into()).map_err(load)?.into_typed().map_err(load)?;
    screen::check_typed(&typed, |tract| match loaded.onnx_node(tract) {
        Some((name, op)) => format!("`{name}` ({op})"),
        None => format!("`{tract}`"),
    })?;
    loaded.model = typed.into_decluttered().map_err(load)?;
    Ok(loaded)
}
