//! The host-side quantizer: trained burn model → float graph → calibrated int8 model →
//! infer-core blob (and QDQ ONNX), choosing the calibration method by the validation accuracy
//! of the int8 model run through infer-core itself.

pub mod calibration;
pub mod graph;
pub mod int8;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use infer_core::{Model, RunOptions};
use serde::Serialize;

use crate::data::{FashionMnist, Split};
use crate::evaluation::{Checkpoint, TestResult};
use crate::training::{self, RunPaths, RunState, write_atomic};
use calibration::Method;
use graph::{FloatGraph, FloatOp};
use int8::QuantGraph;

/// What the quantizer is asked to do.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// Calibration method; `None` tries all and keeps the best on validation.
    pub method: Option<Method>,
    /// Training images used for calibration.
    pub calibration_images: usize,
    /// Which checkpoint of the run to quantize.
    pub checkpoint: Checkpoint,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        Self { method: None, calibration_images: 2000, checkpoint: Checkpoint::Best }
    }
}

/// One layer of the quantization report.
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

/// The outcome of quantizing a run.
#[derive(Debug, Clone, Serialize)]
pub struct QuantReport {
    /// Preset.
    pub preset: String,
    /// Chosen calibration method.
    pub method: Method,
    /// Validation accuracy of the int8 model per method tried.
    pub candidates: Vec<(Method, f64)>,
    /// Calibration images.
    pub calibration_images: usize,
    /// Test accuracy of the f32 model.
    pub f32_accuracy: f64,
    /// Test accuracy of the int8 model (infer-core).
    pub int8_accuracy: f64,
    /// Share of test images on which int8 and f32 predict the same class.
    pub top1_agreement: f64,
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
    /// Where the blob was written.
    pub blob_path: PathBuf,
    /// Where the QDQ ONNX model was written.
    pub qdq_path: PathBuf,
}

/// int8 predictions and logits of `blob` over `split`, on all cores.
pub fn run_int8(blob: &[u8], split: &Split) -> Result<(Vec<u8>, Vec<i8>)> {
    let model = Model::parse(blob).map_err(|e| anyhow!("the quantizer wrote an invalid blob: {e}"))?;
    let n = split.len();
    let threads = std::thread::available_parallelism().map_or(1, |v| v.get()).clamp(1, 8);
    let per = n.div_ceil(threads).max(1);
    let parts: Vec<Result<(Vec<u8>, Vec<i8>)>> = std::thread::scope(|s| {
        let model = &model;
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                s.spawn(move || -> Result<(Vec<u8>, Vec<i8>)> {
                    let mut arena = vec![0u8; model.arena_len()];
                    let (mut preds, mut logits) = (Vec::new(), Vec::new());
                    for i in start..(start + per).min(n) {
                        let out = model.run(split.image(i), &mut arena).map_err(|e| anyhow!("{e}"))?;
                        preds.push(out.argmax() as u8);
                        logits.extend_from_slice(&out.values);
                    }
                    Ok((preds, logits))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().map_err(|_| anyhow!("worker panicked"))?).collect()
    });
    let (mut preds, mut logits) = (Vec::with_capacity(n), Vec::with_capacity(n * model.num_outputs()));
    for p in parts {
        let (a, b) = p?;
        preds.extend(a);
        logits.extend(b);
    }
    Ok((preds, logits))
}

fn accuracy(preds: &[u8], labels: &[u8]) -> f64 {
    preds.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len().max(1) as f64
}

fn describe(op: &FloatOp) -> String {
    match op {
        FloatOp::Conv { k, stride, pad, relu, pool, .. } => {
            let mut s = format!("Conv {k}x{k}/{stride} pad {pad:?}");
            if *relu {
                s.push_str(" + ReLU");
            }
            if *pool > 1 {
                s.push_str(&format!(" + MaxPool {pool}"));
            }
            s
        }
        FloatOp::Dense { relu, .. } => {
            if *relu {
                "Dense + ReLU".into()
            } else {
                "Dense".into()
            }
        }
        FloatOp::MaxPool { size } => format!("MaxPool {size}"),
    }
}

/// Per-layer report: SNR of every layer's int8 output against the float graph.
fn layer_reports(q: &QuantGraph, blob: &[u8], images: &Split, n: usize) -> Result<Vec<LayerReport>> {
    let model = Model::parse(blob).map_err(|e| anyhow!("{e}"))?;
    let nodes = &q.graph.nodes;
    let (mut signal, mut noise) = (vec![0f64; nodes.len()], vec![0f64; nodes.len()]);
    let mut arena = vec![0u8; model.arena_len()];
    for i in 0..n.min(images.len()) {
        let float = q.graph.forward(images.image(i));
        model
            .run_with(
                RunOptions::new().observe(|op, bytes| {
                    let qp = q.act[op];
                    for (&b, &f) in bytes.iter().zip(&float[op]) {
                        let d = qp.dequantize(b as i8) - f;
                        signal[op] += f64::from(f) * f64::from(f);
                        noise[op] += f64::from(d) * f64::from(d);
                    }
                }),
                images.image(i),
                &mut arena,
            )
            .map_err(|e| anyhow!("{e}"))?;
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

/// Quantizes a trained run; writes the blob `<out>/<preset>.ic8`, the same integer model as
/// QDQ ONNX `<out>/<preset>.int8.onnx`, and the report `<out>/<preset>.quant.{json,md}`.
pub fn quantize_run(
    data: &FashionMnist,
    run_dir: &Path,
    state: &RunState,
    float_test: &TestResult,
    opts: &QuantizeOptions,
    out_dir: &Path,
) -> Result<QuantReport> {
    let preset = state.config.preset;
    let paths = RunPaths::new(run_dir);
    let ckpt = match opts.checkpoint {
        Checkpoint::Best => paths.best_model(),
        Checkpoint::Last => paths.last_model(),
    };
    let device = state.config.backend.device()?;
    let layers = state.layers();
    let net = training::load_model(&layers, &ckpt, &device)?;
    let graph = FloatGraph::from_net(&layers, &net)?;
    let (train, val) = crate::job::splits(data, &state.config)?;
    let obs = calibration::observe(&graph, &train, opts.calibration_images);

    let methods: Vec<Method> = opts.method.map_or(Method::ALL.to_vec(), |m| vec![m]);
    let mut candidates = Vec::new();
    let mut best: Option<(f64, Method, QuantGraph, Vec<u8>)> = None;
    for m in methods {
        let ranges: Vec<(f32, f32)> = obs.values.iter().map(|v| calibration::range(v, m)).collect();
        let q = QuantGraph::new(&graph, &ranges)?;
        let blob = q.blob();
        let (preds, _) = run_int8(&blob, &val)?;
        let acc = accuracy(&preds, &val.labels);
        candidates.push((m, acc));
        if best.as_ref().is_none_or(|b| acc > b.0) {
            best = Some((acc, m, q, blob));
        }
    }
    let (_, method, q, blob) = best.ok_or_else(|| anyhow!("no calibration method given"))?;
    let (preds, _) = run_int8(&blob, &data.test)?;
    let int8_accuracy = accuracy(&preds, &data.test.labels);
    let agree = preds.iter().zip(&float_test.predictions).filter(|(a, b)| a == b).count();
    let model = Model::parse(&blob).map_err(|e| anyhow!("{e}"))?;
    let layers = layer_reports(&q, &blob, &train, 256)?;

    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let blob_path = out_dir.join(format!("{}.ic8", preset.name()));
    write_atomic(&blob_path, &blob)?;
    let qdq_path = out_dir.join(format!("{}.int8.onnx", preset.name()));
    write_atomic(&qdq_path, &crate::export::qdq_onnx::qdq_onnx(&q, &format!("{}-int8", preset.name()))?)?;
    let report = QuantReport {
        preset: preset.name().to_string(),
        method,
        candidates,
        calibration_images: opts.calibration_images.min(train.len()),
        f32_accuracy: float_test.accuracy,
        int8_accuracy,
        top1_agreement: agree as f64 / preds.len().max(1) as f64,
        blob_bytes: blob.len(),
        arena_bytes: model.arena_len(),
        weight_bytes: model.weight_bytes(),
        macs: model.macs(),
        layers,
        blob_path,
        qdq_path,
    };
    write_atomic(
        &out_dir.join(format!("{}.quant.json", preset.name())),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write_atomic(&out_dir.join(format!("{}.quant.md", preset.name())), markdown(&report).as_bytes())?;
    Ok(report)
}

/// The human-readable quantization report.
pub fn markdown(r: &QuantReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "# int8 quantization: {}\n", r.preset);
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| f32 test accuracy | {:.2}% |", 100.0 * r.f32_accuracy);
    let _ = writeln!(
        s,
        "| int8 test accuracy (infer-core) | **{:.2}%** ({:+.2} pp) |",
        100.0 * r.int8_accuracy,
        100.0 * (r.int8_accuracy - r.f32_accuracy)
    );
    let _ = writeln!(s, "| top-1 agreement int8 vs f32 | {:.2}% |", 100.0 * r.top1_agreement);
    let _ = writeln!(s, "| calibration | {:?} on {} training images |", r.method, r.calibration_images);
    let cands: Vec<String> = r.candidates.iter().map(|(m, a)| format!("{m:?} {:.2}%", 100.0 * a)).collect();
    let _ = writeln!(s, "| validation accuracy per method | {} |", cands.join(", "));
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
