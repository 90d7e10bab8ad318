//! What the compiler reports: per layer (scales, zero points, SNR of the int8 output against the
//! float graph, arena bytes) and for the model (calibration, accuracies, sizes), as JSON and
//! as Markdown.

use std::fmt::Write as _;

use infer_core::{Model, RunOptions};
use serde::Serialize;

use crate::calibration::Method;
use crate::error::CompileError;
use crate::graph::FloatOp;
use crate::images::Images;
use crate::int8::QuantGraph;

/// One layer of the report.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// Position.
    pub index: usize,
    /// Op and its fused parts.
    pub op: String,
    /// Output shape (HWC).
    pub output: String,
    /// Output scale.
    pub scale: f32,
    /// Output zero point.
    pub zero_point: i8,
    /// Smallest and largest per-channel weight scale.
    pub weight_scales: Option<(f32, f32)>,
    /// Signal-to-noise ratio of the int8 output against the f32 graph, dB.
    pub snr_db: f64,
    /// Bytes of the output activation.
    pub activation_bytes: usize,
    /// Bytes of weights, biases and requantization.
    pub weight_bytes: usize,
    /// Where the output lives in the arena.
    pub arena_offset: usize,
}

/// Accuracy of the float and the int8 model on labelled test images.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TestReport {
    /// Test images.
    pub images: usize,
    /// Accuracy of the float model (tract on the ONNX file).
    pub f32_accuracy: f64,
    /// Accuracy of the int8 model (infer-core on the blob).
    pub int8_accuracy: f64,
    /// Share of images on which int8 and f32 predict the same class.
    pub top1_agreement: f64,
}

/// The outcome of compiling a model.
#[derive(Debug, Clone, Serialize)]
pub struct CompileReport {
    /// The model's name.
    pub model: String,
    /// Chosen calibration method.
    pub method: Method,
    /// Per method tried: its score on the held-back images.
    pub candidates: Vec<(Method, f64)>,
    /// What the score is: `accuracy` (labelled held-back images) or `agreement` (top-1
    /// agreement with the float model).
    pub criterion: String,
    /// Calibration images.
    pub calibration_images: usize,
    /// Held-back images the method was chosen on.
    pub selection_images: usize,
    /// On the test images, when given.
    pub test: Option<TestReport>,
    /// Blob size.
    pub blob_bytes: usize,
    /// Arena bytes infer-core needs.
    pub arena_bytes: usize,
    /// Weight bytes (int8 weights, int32 biases, requantization).
    pub weight_bytes: usize,
    /// Multiply-accumulates per inference.
    pub macs: usize,
    /// Per layer.
    pub layers: Vec<LayerReport>,
}

fn describe(op: &FloatOp) -> String {
    let clamp = |relu: bool, max: Option<f32>| {
        let mut s = String::new();
        if relu {
            s.push_str(" + ReLU");
        }
        if let Some(m) = max {
            let _ = write!(s, " + min {m}");
        }
        s
    };
    match op {
        FloatOp::Conv { k, stride, pad, relu, max, pool, .. } => {
            let mut s = format!("Conv {k}x{k}/{stride} pad {pad:?}{}", clamp(*relu, *max));
            if *pool > 1 {
                let _ = write!(s, " + MaxPool {pool}");
            }
            s
        }
        FloatOp::Dense { relu, max, .. } => format!("Dense{}", clamp(*relu, *max)),
        FloatOp::MaxPool { size } => format!("MaxPool {size}"),
    }
}

/// Per-layer report: SNR of every layer's int8 output against the float graph, over the first
/// `n` images.
pub fn layers(q: &QuantGraph, blob: &[u8], images: &Images, n: usize) -> Result<Vec<LayerReport>, CompileError> {
    let model = Model::parse(blob).map_err(|e| CompileError::Internal(e.to_string()))?;
    let nodes = &q.graph.nodes;
    let (mut signal, mut noise) = (vec![0f64; nodes.len()], vec![0f64; nodes.len()]);
    let mut arena = vec![0u8; model.arena_len()];
    for i in 0..n.min(images.len()) {
        let float = q.graph.forward(images.image(i));
        let observe = RunOptions::new().observe(|op, bytes| {
            let qp = q.act[op];
            for (&b, &f) in bytes.iter().zip(&float[op]) {
                let d = qp.dequantize(b as i8) - f;
                signal[op] += f64::from(f) * f64::from(f);
                noise[op] += f64::from(d) * f64::from(d);
            }
        });
        model.run_with(observe, images.image(i), &mut arena).map_err(|e| CompileError::Internal(e.to_string()))?;
    }
    let tensors = model.tensors();
    Ok(nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let w = q.weights[i].as_ref();
            LayerReport {
                index: i,
                op: describe(&node.op),
                output: format!("{}x{}x{}", node.output.h, node.output.w, node.output.c),
                scale: q.act[i].scale,
                zero_point: q.act[i].zero_point,
                weight_scales: w
                    .map(|w| w.w_scale.iter().fold((f32::INFINITY, 0.0f32), |(a, b), &s| (a.min(s), b.max(s)))),
                snr_db: 10.0 * (signal[i] / noise[i].max(1e-30)).log10(),
                activation_bytes: node.output.numel(),
                weight_bytes: w.map_or(0, |w| w.w.len() + 12 * w.bias.len()),
                arena_offset: tensors[i + 1].offset,
            }
        })
        .collect())
}

/// The human-readable report.
pub fn markdown(r: &CompileReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# int8 quantization: {}\n", r.model);
    let _ = writeln!(s, "| | |\n|---|---|");
    if let Some(t) = &r.test {
        let _ = writeln!(s, "| f32 test accuracy (tract, {} images) | {:.2}% |", t.images, 100.0 * t.f32_accuracy);
        let _ = writeln!(
            s,
            "| int8 test accuracy (infer-core) | **{:.2}%** ({:+.2} pp) |",
            100.0 * t.int8_accuracy,
            100.0 * (t.int8_accuracy - t.f32_accuracy)
        );
        let _ = writeln!(s, "| top-1 agreement int8 vs f32 | {:.2}% |", 100.0 * t.top1_agreement);
    }
    let _ = writeln!(s, "| calibration | {:?} on {} images |", r.method, r.calibration_images);
    let cands: Vec<String> = r.candidates.iter().map(|(m, a)| format!("{m:?} {:.2}%", 100.0 * a)).collect();
    let _ = writeln!(
        s,
        "| {} on {} held-back images, per method | {} |",
        r.criterion,
        r.selection_images,
        cands.join(", ")
    );
    let _ = writeln!(s, "| blob | {} bytes |", r.blob_bytes);
    let _ = writeln!(s, "| weights (int8 + int32 bias + requant) | {} bytes |", r.weight_bytes);
    let _ = writeln!(s, "| arena | {} bytes |", r.arena_bytes);
    let _ = writeln!(s, "| MACs / inference | {} |", r.macs);
    let _ = writeln!(s, "\n## Layers\n");
    let _ = writeln!(
        s,
        "| # | op | output | scale | zero point | weight scales | SNR (dB) | activation bytes | arena offset | weight bytes |"
    );
    let _ = writeln!(s, "|---:|---|---|---:|---:|---|---:|---:|---:|---:|");
    for l in &r.layers {
        let ws = l.weight_scales.map_or("-".to_string(), |(a, b)| format!("{a:.3e} .. {b:.3e}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4e} | {} | {} | {:.1} | {} | {} | {} |",
            l.index,
            l.op,
            l.output,
            l.scale,
            l.zero_point,
            ws,
            l.snr_db,
            l.activation_bytes,
            l.arena_offset,
            l.weight_bytes
        );
    }
    s
}
