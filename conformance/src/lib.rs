//! Conformance of every published model on the full 10,000-image test set: burn (our models),
//! its re-import through burn-onnx, tract and ONNX Runtime on the float model; tract and ONNX
//! Runtime on the int8 QDQ model; infer-core (fast and reference kernels) on the blob.
//!
//! [`measure`] runs everything once; the tests in `tests/` check the thresholds and the
//! `conformance` binary writes `onnx-models/CONFORMANCE.{md,json}`.

pub mod engines;
pub mod report;

use anyhow::{Result, anyhow};
use burn::prelude::*;
use host_trainer::data::{FashionMnist, Split};
use host_trainer::model::Preset;
use infer_core::requant::Rounding;
use infer_core::{Kernels, Model, RunOptions};
use onnx_models::ModelArtifacts;
use onnx_models::manifest::Manifest;

use engines::{Ort, Tract};

/// Logits of one engine over the test set (10 per image).
#[derive(Debug, Clone)]
pub struct Run {
    /// Engine and batch, e.g. `tract b256`.
    pub engine: String,
    /// Logits, row-major.
    pub logits: Vec<f32>,
    /// Wall seconds.
    pub seconds: f64,
}

/// Everything measured for one model.
#[derive(Debug, Clone)]
pub struct ModelRuns {
    /// The model.
    pub name: &'static str,
    /// Float engines: burn, burn re-imported, ORT and tract at batch 1 and 256.
    pub float: Vec<Run>,
    /// Int8 QDQ engines: ORT and tract (batch 256), as dequantized logits.
    pub qdq: Vec<Run>,
    /// infer-core int8 logits, fast kernels.
    pub ic8_fast: Vec<i8>,
    /// infer-core int8 logits, reference kernels.
    pub ic8_reference: Vec<i8>,
    /// infer-core int8 logits with ties rounded away from zero (to measure the tie rule).
    pub ic8_ties_away: Vec<i8>,
    /// Per logit: how far (in output LSB) infer-core's exact value before its last rounding
    /// lies from the nearest rounding boundary (a half-integer); NaN when the last op is not a
    /// Dense layer. Where another engine computes in f32, a logit this close can round either
    /// way.
    pub ic8_margins: Vec<f64>,
    /// Output scale of the int8 model.
    pub out_scale: f32,
    /// Output zero point of the int8 model.
    pub out_zero_point: i8,
}

/// The test set.
pub fn test_set() -> Result<Split> {
    Ok(FashionMnist::load(None).map_err(|e| anyhow!("{e} (set FASHION_MNIST_DIR=../shared/data/fashion-mnist)"))?.test)
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let t = std::time::Instant::now();
    let v = f()?;
    Ok((v, t.elapsed().as_secs_f64()))
}

/// The float models of ours re-imported into burn by `ModelGen` (build script).
mod imported {
    include!(concat!(env!("OUT_DIR"), "/imported.rs"));
}

/// Logits of the original burn model (the published `.bpk` weights), for a model of ours with
/// its weights published; `None` otherwise.
pub fn burn_logits(m: &ModelArtifacts, test: &Split) -> Result<Option<Vec<f32>>> {
    let dir = onnx_models::artifacts_dir();
    let manifest = Manifest::read(&dir).map_err(|e| anyhow!("{e}"))?;
    let entry = manifest.models.get(m.name).ok_or_else(|| anyhow!("{} is not in the manifest", m.name))?;
    let (Some(preset), Some(burn)) = (&entry.preset, &entry.burn) else { return Ok(None) };
    let preset = Preset::from_name(preset).ok_or_else(|| anyhow!("unknown preset {preset}"))?;
    let device = Device::flex();
    let net = host_trainer::run_dir::load_model(&preset.layers(), &dir.join(&burn.file), &device)?;
    Ok(Some(host_trainer::training::evaluate(&net, test, 256, &device)?.logits))
}

/// Logits of the model re-imported from ONNX by burn-onnx's `ModelGen` (models of ours only).
pub fn imported_logits(m: &ModelArtifacts, test: &Split) -> Result<Option<Vec<f32>>> {
    let device = Device::flex();
    let Some(forward) = imported::imported_forward(m.name, &device) else { return Ok(None) };
    let mut out = Vec::with_capacity(test.len() * 10);
    for chunk in test.pixels.chunks(256 * 784) {
        let n = chunk.len() / 784;
        let x = Tensor::<4>::from_data(TensorData::new(engines::scaled(chunk), [n, 1, 28, 28]), &device);
        let v: Vec<f32> = forward(x).into_data().try_into_vec_as().map_err(|e| anyhow!("{e:?}"))?;
        out.extend(v);
    }
    Ok(Some(out))
}

/// infer-core int8 logits over the test set with the given kernels and tie rule, on all cores.
pub fn infer_core_logits(blob: &[u8], test: &Split, kernels: Kernels, rounding: Rounding) -> Result<Vec<i8>> {
    let model = Model::parse(blob).map_err(|e| anyhow!("{e}"))?;
    let n = test.len();
    let threads = std::thread::available_parallelism().map_or(1, |v| v.get()).clamp(1, 8);
    let per = n.div_ceil(threads);
    let parts: Vec<Result<Vec<i8>>> = std::thread::scope(|s| {
        let model = &model;
        let hs: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                s.spawn(move || -> Result<Vec<i8>> {
                    let mut arena = vec![0u8; model.arena_len()];
                    let mut out = Vec::new();
                    for i in start..(start + per).min(n) {
                        let o = model
                            .run_with(RunOptions::new().kernels(kernels).rounding(rounding), test.image(i), &mut arena)
                            .map_err(|e| anyhow!("{e}"))?;
                        out.extend_from_slice(&o.values);
                    }
                    Ok(out)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().map_err(|_| anyhow!("worker panicked"))?).collect()
    });
    let mut out = Vec::with_capacity(n * 10);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// [`ModelRuns::ic8_margins`] of `blob` over `test`.
pub fn rounding_margins(blob: &[u8], test: &Split) -> Result<Vec<f64>> {
    let model = Model::parse(blob).map_err(|e| anyhow!("{e}"))?;
    let ops = model.ops();
    let (Some(last), n) = (ops.last(), ops.len()) else { return Ok(vec![]) };
    let classes = model.num_outputs();
    if last.kind != infer_core::OpKind::Dense || n < 2 {
        return Ok(vec![f64::NAN; test.len() * classes]);
    }
    let t = model.tensors();
    let (x_info, y_info) = (t[last.input()], t[last.output()]);
    let k = x_info.shape.numel();
    let le = |at: usize| i32::from_le_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
    let (bias, weights, requant) = (last.bias as usize, last.weights as usize, last.requant as usize);
    let mut arena = vec![0u8; model.arena_len()];
    let mut out = Vec::with_capacity(test.len() * classes);
    for i in 0..test.len() {
        let mut x = vec![0u8; k];
        let grab = RunOptions::new().observe(|op, bytes| {
            if op == n - 2 {
                x.copy_from_slice(bytes);
            }
        });
        model.run_with(grab, test.image(i), &mut arena).map_err(|e| anyhow!("{e}"))?;
        for c in 0..classes {
            let mut acc = i64::from(le(bias + 4 * c));
            for (j, &xv) in x.iter().enumerate() {
                let w = blob[weights + c * k + j] as i8;
                acc += (i64::from(xv as i8) - i64::from(x_info.zero_point)) * i64::from(w);
            }
            let (m, shift) = (le(requant + 8 * c), le(requant + 8 * c + 4));
            let v = acc as f64 * f64::from(m) / 2f64.powi(shift) + f64::from(y_info.zero_point);
            out.push((v - v.floor() - 0.5).abs());
        }
    }
    Ok(out)
}

/// Runs every engine on `m` over `test`.
pub fn measure(m: &ModelArtifacts, test: &Split) -> Result<ModelRuns> {
    let px = &test.pixels;
    let mut float = Vec::new();
    if let (Some(l), s) = timed(|| burn_logits(m, test))? {
        float.push(Run { engine: "burn b256".into(), logits: l, seconds: s });
    }
    if let (Some(l), s) = timed(|| imported_logits(m, test))? {
        float.push(Run { engine: "burn-import b256".into(), logits: l, seconds: s });
    }
    let io = &m.float_io;
    let mut ort = Ort::new(m.onnx)?;
    for batch in [1, 256] {
        let (l, s) = timed(|| ort.float_logits(io, px, batch))?;
        float.push(Run { engine: format!("onnxruntime b{batch}"), logits: l, seconds: s });
        let (l, s) = timed(|| Tract::with_input(m.onnx, batch, io)?.logits(px))?;
        float.push(Run { engine: format!("tract b{batch}"), logits: l, seconds: s });
    }
    let mut qdq = Vec::new();
    let mut ort8 = Ort::new(m.onnx_int8)?;
    let (l, s) = timed(|| ort8.logits(px, 256))?;
    qdq.push(Run { engine: "onnxruntime-int8 b256".into(), logits: l, seconds: s });
    // Without graph optimizations ORT runs the QDQ graph as written: float Conv/Gemm between
    // DequantizeLinear and QuantizeLinear, no fused QLinear kernels.
    let mut plain = Ort::unoptimized(m.onnx_int8)?;
    let (l, s) = timed(|| plain.logits(px, 256))?;
    qdq.push(Run { engine: "onnxruntime-int8 b256 unoptimized".into(), logits: l, seconds: s });
    let (l, s) = timed(|| Tract::new(m.onnx_int8, 256)?.logits(px))?;
    qdq.push(Run { engine: "tract-int8 b256".into(), logits: l, seconds: s });

    let model = Model::parse(m.blob).map_err(|e| anyhow!("{e}"))?;
    let probe = model.run(test.image(0), &mut vec![0u8; model.arena_len()]).map_err(|e| anyhow!("{e}"))?;
    Ok(ModelRuns {
        name: m.name,
        float,
        qdq,
        ic8_fast: infer_core_logits(m.blob, test, Kernels::Fast, Rounding::HalfToEven)?,
        ic8_reference: infer_core_logits(m.blob, test, Kernels::Reference, Rounding::HalfToEven)?,
        ic8_ties_away: infer_core_logits(m.blob, test, Kernels::Fast, Rounding::HalfAwayFromZero)?,
        ic8_margins: rounding_margins(m.blob, test)?,
        out_scale: probe.scale,
        out_zero_point: probe.zero_point,
    })
}

/// Index of the first maximum of each row of 10.
pub fn top1<T: PartialOrd + Copy>(logits: &[T]) -> Vec<usize> {
    logits
        .chunks(10)
        .map(|r| {
            let mut best = 0;
            for (i, v) in r.iter().enumerate() {
                if *v > r[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Accuracy of row-wise top-1 against labels.
pub fn accuracy(pred: &[usize], labels: &[u8]) -> f64 {
    pred.iter().zip(labels).filter(|(p, l)| **p == **l as usize).count() as f64 / labels.len().max(1) as f64
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Dequantized logits back to int8 units: `round(l / scale) + zp` (exact for a
/// DequantizeLinear output of the same scale).
pub fn to_lsb(logits: &[f32], scale: f32, zp: i8) -> Vec<i32> {
    logits.iter().map(|&l| (l / scale).round() as i32 + i32::from(zp)).collect()
}

/// Histogram of |a − b| in LSB: counts of 0, 1, 2 and more.
pub fn lsb_histogram(a: &[i32], b: &[i32]) -> [usize; 4] {
    let mut h = [0; 4];
    for (x, y) in a.iter().zip(b) {
        h[((x - y).unsigned_abs() as usize).min(3)] += 1;
    }
    h
}
