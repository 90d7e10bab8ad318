//! Quantizing a trained run, through the one lowering path: the run's float ONNX (exported by
//! burn-onnx, [`crate::export::float_onnx`]) is handed to the int8 compiler (`int8-compiler`)
//! with the run's own images: calibration from its training split, the calibration method
//! chosen on its validation split, the report on the test set. This module only gathers them
//! and writes the files; everything about quantization is the compiler's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use int8_compiler::report::CompileReport;
use int8_compiler::{CompileData, CompileOptions, Images, Method};
use serde::Serialize;

use crate::data::FashionMnist;
use crate::evaluation::Checkpoint;
use crate::export::float_onnx;
use crate::run_dir::{RunPaths, RunState, write_atomic};

/// What the quantizer is asked to do.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// Calibration method; `None` tries all and keeps the best on validation.
    pub method: Option<Method>,
    /// Training images used for calibration.
    pub calibration_images: usize,
    /// Which checkpoint of the run to quantize.
    pub checkpoint: Checkpoint,
    /// The model's name in the files and the report (default: the run's preset).
    pub name: Option<String>,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        Self { method: None, calibration_images: 2000, checkpoint: Checkpoint::Best, name: None }
    }
}

/// The outcome of quantizing a run: the compiler's report and where the files went.
#[derive(Debug, Clone, Serialize)]
pub struct QuantReport {
    /// The model's name (its preset's unless one was given).
    pub preset: String,
    /// The compiler's report (its `test` holds the f32 and int8 test accuracies).
    pub compile: CompileReport,
    /// The float ONNX handed to the compiler.
    pub onnx_path: PathBuf,
    /// The blob.
    pub blob_path: PathBuf,
    /// The QDQ ONNX model.
    pub qdq_path: PathBuf,
}

impl QuantReport {
    /// Test accuracy of the int8 model (infer-core).
    pub fn int8_accuracy(&self) -> f64 {
        self.compile.test.map_or(f64::NAN, |t| t.int8_accuracy)
    }
    /// Test accuracy of the float model (tract on the ONNX file).
    pub fn f32_accuracy(&self) -> f64 {
        self.compile.test.map_or(f64::NAN, |t| t.f32_accuracy)
    }
    /// Share of test images on which int8 and f32 agree.
    pub fn top1_agreement(&self) -> f64 {
        self.compile.test.map_or(f64::NAN, |t| t.top1_agreement)
    }
}

/// Quantizes a trained run; writes `<out>/<preset>.onnx` (the float model), the blob
/// `<out>/<preset>.ic8`, the QDQ ONNX `<out>/<preset>.int8.onnx`, and the report
/// `<out>/<preset>.quant.{json,md}`.
pub fn quantize_run(
    data: &FashionMnist,
    run_dir: &Path,
    state: &RunState,
    opts: &QuantizeOptions,
    out_dir: &Path,
) -> Result<QuantReport> {
    let name = opts.name.as_deref().unwrap_or(state.config.preset.name());
    let paths = RunPaths::new(run_dir);
    let ckpt = match opts.checkpoint {
        Checkpoint::Best => state.best_model(&paths),
        Checkpoint::Last => state.last_model(&paths),
    };
    let device = state.config.backend.device()?;
    let net = crate::run_dir::load_model(&state.layers(), &ckpt, &device)?;
    let onnx = float_onnx::float_onnx(&net, &device)?;
    let (train, val) = state.config.splits(data)?;
    let images = CompileData {
        calibration: Images::from_split(&train),
        selection: Images::from_split(&val),
        test: Some(Images::from_split(&data.test)),
    };
    let mut copts = CompileOptions::new(name);
    copts.method = opts.method;
    copts.calibration_images = opts.calibration_images;
    let c = int8_compiler::compile(&onnx, &images, &copts).map_err(|e| anyhow!("compiling {name}: {e}"))?;

    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let onnx_path = out_dir.join(format!("{name}.onnx"));
    write_atomic(&onnx_path, &onnx)?;
    let blob_path = out_dir.join(format!("{name}.ic8"));
    write_atomic(&blob_path, &c.blob)?;
    let qdq_path = out_dir.join(format!("{name}.int8.onnx"));
    write_atomic(&qdq_path, &c.qdq)?;
    write_atomic(&out_dir.join(format!("{name}.quant.json")), serde_json::to_string_pretty(&c.report)?.as_bytes())?;
    write_atomic(&out_dir.join(format!("{name}.quant.md")), int8_compiler::report::markdown(&c.report).as_bytes())?;
    Ok(QuantReport { preset: name.to_string(), compile: c.report, onnx_path, blob_path, qdq_path })
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use crate::data::batcher::images_batch;
    use crate::export::float_onnx;
    use crate::model::{LayerSpec, Net, Padding, Preset};

    /// Every preset (and a net with batch norm, same padding and strides), exported to ONNX by
    /// burn-onnx and lowered by the compiler, computes what burn computes: the lowering path
    /// host-trainer uses, checked end to end with random weights and non-trivial batch-norm
    /// statistics.
    #[test]
    fn lowered_float_graph_matches_burn() {
        let _rng = crate::rng::rng_guard();
        let device = Device::flex();
        let pixels: Vec<u8> = (0..3 * 784).map(|i| ((i * 7919) % 256) as u8).collect();
        let bn_net = vec![
            LayerSpec::Conv { out: 4, kernel: 3, stride: 1, padding: Padding::Same },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::MaxPool { size: 2 },
            LayerSpec::Conv { out: 6, kernel: 3, stride: 2, padding: Padding::Valid },
            LayerSpec::Relu,
            LayerSpec::MaxPool { size: 3 },
            LayerSpec::Flatten,
            LayerSpec::Dense { out: 12 },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::Dropout { prob: 0.5 },
            LayerSpec::Dense { out: 10 },
        ];
        let mut cases: Vec<Vec<LayerSpec>> =
            Preset::ALL.iter().map(|p| p.layers()).filter(|l| !l.contains(&LayerSpec::ConcatInput)).collect();
        cases.push(bn_net);
        for specs in cases {
            device.seed(3);
            let mut net = Net::new(&specs, &device).unwrap();
            // Give batch norms non-trivial running statistics by one training-mode pass.
            let train_dev = device.clone().autodiff();
            let mut t = Net::new(&specs, &train_dev).unwrap();
            let b = images_batch(&pixels, vec![0, 1, 2], &train_dev);
            let _ = t.forward(b.images);
            if specs.contains(&LayerSpec::BatchNorm) {
                t = t.valid();
                net = t;
            }
            // (burn's logits first: the export leaves the net's tensors on its tracing device.)
            let b = images_batch(&pixels, vec![0, 1, 2], &device);
            let burn: Vec<f32> = net.clone().valid().forward(b.images).into_data().try_into_vec_as().unwrap();
            let onnx = float_onnx::float_onnx(&net, &device).unwrap();
            let loaded = int8_compiler::load::load(&onnx, &Default::default()).unwrap();
            let graph = int8_compiler::lower::lower(&loaded.model, loaded.image, int8_compiler::Normalization::NONE)
                .unwrap_or_else(|e| panic!("{specs:?}: {e}"))
                .graph;
            for img in 0..3 {
                let ours = graph.logits(&pixels[img * 784..(img + 1) * 784]);
                for (a, b) in ours.iter().zip(&burn[img * 10..(img + 1) * 10]) {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{specs:?}: {a} vs {b}");
                }
            }
        }
    }

    /// The input skip concatenation of `mlp-skip` is not in the lowering's op set: a clear error
    /// naming the node.
    #[test]
    fn skip_concat_is_a_clear_error() {
        let _rng = crate::rng::rng_guard();
        let specs = Preset::MlpSkip.layers();
        let device = Device::flex();
        let net = Net::new(&specs, &device).unwrap();
        let onnx = float_onnx::float_onnx(&net, &device).unwrap();
        let loaded = int8_compiler::load::load(&onnx, &Default::default()).unwrap();
        let e = int8_compiler::lower::lower(&loaded.model, loaded.image, int8_compiler::Normalization::NONE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be lowered"), "{e}");
    }
}
