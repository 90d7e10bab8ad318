//! The trained f32 model as ONNX, exported by burn-onnx from the model's own forward pass
//! (inference mode: dropout off, batch norm with running statistics), with a symbolic batch
//! axis, and the graph's input and output renamed to `image` and `logits`.

use anyhow::{Result, anyhow};
use burn::prelude::*;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use onnx_ir::ModelProto;
use protobuf::Message;

use crate::model::Net;

/// Input name.
pub const INPUT: &str = "image";
/// Output name.
pub const OUTPUT: &str = "logits";

/// Exports `net` (already in inference mode, on a plain device) as ONNX bytes.
pub fn float_onnx(net: &Net, device: &Device) -> Result<Vec<u8>> {
    let sample = Tensor::<4>::zeros([1, 1, 28, 28], device);
    let validation = Tensor::<4>::zeros([2, 1, 28, 28], device);
    let specs = [InputSpec::new([AxisSpec::dynamic("batch"), AxisSpec::Static, AxisSpec::Static, AxisSpec::Static])];
    let onnx = OnnxExporter::new()
        .export_dynamic(net, sample, validation, &specs, |m: &Net, x: Tensor<4>| m.forward(x))
        .map_err(|e| anyhow!("ONNX export failed: {e}"))?;
    rename_io(onnx.as_bytes(), INPUT, OUTPUT)
}

/// Renames the single graph input and output (and every reference to them).
pub fn rename_io(bytes: &[u8], input: &str, output: &str) -> Result<Vec<u8>> {
    let mut m = ModelProto::parse_from_bytes(bytes)?;
    let g = m.graph.as_mut().ok_or_else(|| anyhow!("ONNX model has no graph"))?;
    let (Some(old_in), Some(old_out)) =
        (g.input.first().map(|v| v.name.clone()), g.output.first().map(|v| v.name.clone()))
    else {
        return Err(anyhow!("ONNX graph has no input or output"));
    };
    let rename = |s: &mut String| {
        if *s == old_in {
            *s = input.to_string();
        } else if *s == old_out {
            *s = output.to_string();
        }
    };
    for n in &mut g.node {
        n.input.iter_mut().for_each(rename);
        n.output.iter_mut().for_each(rename);
    }
    g.input.iter_mut().for_each(|v| rename(&mut v.name));
    g.output.iter_mut().for_each(|v| rename(&mut v.name));
    g.value_info.iter_mut().for_each(|v| rename(&mut v.name));
    Ok(m.write_to_bytes()?)
}
