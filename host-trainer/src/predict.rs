//! `host-trainer predict`: images classified by an int8 model with infer-core (a published
//! model by name, or any `.ic8` blob), with the float model's answer beside it (tract on the
//! published float ONNX, or `--onnx`).
//!
//! Images are 28x28 8-bit grayscale, white object on black as in Fashion-MNIST: PNG files
//! (other sizes are resized, color converted to gray) or test-set images by index.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use infer_core::Model;
use int8_compiler::Normalization;
use int8_compiler::load::{LoadOptions, load};
use int8_compiler::reference::Reference;

use crate::data::idx::SIDE;

/// The model to predict with.
#[derive(Debug, Clone)]
pub enum ModelRef {
    /// A published model (onnx-models), by name.
    Published(String),
    /// A blob file, and optionally its float ONNX model (fed `pixel / 255`).
    Blob {
        /// The `.ic8` file.
        blob: PathBuf,
        /// Its float model.
        onnx: Option<PathBuf>,
    },
}

/// One image's answers.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Where the image came from.
    pub source: String,
    /// Its label, when known (test-set images).
    pub label: Option<u8>,
    /// infer-core's class and class probabilities (softmax of the int8 logits).
    pub int8: (usize, Vec<f32>),
    /// The float model's class and its probability, when there is a float model.
    pub float: Option<(usize, f32)>,
}

/// A PNG file as 28x28 grayscale pixels (resized and converted when it is not).
pub fn read_png(path: &Path) -> Result<Vec<u8>> {
    let img = image::open(path).with_context(|| format!("reading {}", path.display()))?.to_luma8();
    let img = if img.dimensions() == (SIDE as u32, SIDE as u32) {
        img
    } else {
        image::imageops::resize(&img, SIDE as u32, SIDE as u32, image::imageops::FilterType::Triangle)
    };
    Ok(img.into_raw())
}

/// Probabilities from class scores: the scores themselves when they already are probabilities
/// (a model ending in Softmax), else their softmax.
fn probabilities(scores: &[f32]) -> Vec<f32> {
    let sum: f32 = scores.iter().sum();
    if scores.iter().all(|&v| (0.0..=1.0).contains(&v)) && (sum - 1.0).abs() < 1e-3 {
        return scores.to_vec();
    }
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let e: Vec<f32> = scores.iter().map(|&v| (v - max).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Classifies `images` (`(source, pixels, label)`) with `model`.
pub fn predict(model: &ModelRef, images: &[(String, Vec<u8>, Option<u8>)]) -> Result<Vec<Prediction>> {
    let (blob, float): (Vec<u8>, Option<(Vec<u8>, Normalization)>) = match model {
        ModelRef::Published(name) => {
            let m = onnx_models::by_name(name).ok_or_else(|| {
                let names: Vec<&str> = onnx_models::ALL.iter().map(|m| m.name).collect();
                anyhow!("no published model {name:?} (published: {})", names.join(", "))
            })?;
            (m.blob.to_vec(), Some((m.onnx.to_vec(), Normalization { mean: m.float_io.mean, std: m.float_io.std })))
        }
        ModelRef::Blob { blob, onnx } => {
            let b = std::fs::read(blob).with_context(|| format!("reading {}", blob.display()))?;
            let f = match onnx {
                Some(p) => {
                    Some((std::fs::read(p).with_context(|| format!("reading {}", p.display()))?, Normalization::NONE))
                }
                None => None,
            };
            (b, f)
        }
    };
    let int8 = Model::parse(&blob).map_err(|e| anyhow!("not a valid infer-core blob: {e}"))?;
    let float = match &float {
        Some((onnx, norm)) => {
            let loaded = load(onnx, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
            let out = *loaded
                .model
                .output_outlets()
                .map_err(|e| anyhow!("{e}"))?
                .first()
                .ok_or_else(|| anyhow!("no output"))?;
            Some(Reference::new(&loaded, out, *norm).map_err(|e| anyhow!("{e}"))?)
        }
        None => None,
    };
    let mut arena = vec![0u8; int8.arena_len()];
    images
        .iter()
        .map(|(source, pixels, label)| {
            if pixels.len() != int8.input_len() {
                bail!("{source}: {} pixels, the model takes {}", pixels.len(), int8.input_len());
            }
            let out = int8.run(pixels, &mut arena).map_err(|e| anyhow!("{e}"))?;
            let probs = out.probabilities().to_vec();
            let float = match &float {
                Some(r) => {
                    let p = probabilities(&r.run(pixels).map_err(|e| anyhow!("{e}"))?);
                    let c = int8_compiler::reference::argmax(&p);
                    Some((c, p[c]))
                }
                None => None,
            };
            Ok(Prediction { source: source.clone(), label: *label, int8: (out.argmax(), probs), float })
        })
        .collect()
}
