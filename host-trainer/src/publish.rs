//! Publishing trained runs into `onnx-models/artifacts`: burn weights, the float ONNX the
//! compiler took, the int8 blob and QDQ model, their reports, and the manifest entry that says
//! how each was made and what it scores.

use std::path::Path;

use anyhow::{Context, Result};

use crate::data::FashionMnist;
use crate::evaluation::Checkpoint;
use crate::export::{float_onnx, manifest};
use crate::job::{eval_existing, quantize};
use crate::quantize::QuantizeOptions;
use crate::run_dir::{RunPaths, write_atomic};

/// The command that regenerates the committed models.
pub const PUBLISH_COMMAND: &str =
    "cargo run -p host-trainer --release && cargo run -p host-trainer --release -- publish";

/// Exports the trained default runs under `runs` into `out` (float ONNX, int8 QDQ ONNX,
/// infer-core blob, quantization reports) and writes `out/manifest.json` and `out/MODELS.md`.
pub fn publish(
    data: &FashionMnist,
    runs: &Path,
    out: &Path,
    presets: &[crate::model::Preset],
) -> Result<crate::export::manifest::Manifest> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut m = manifest::Manifest {
        dataset: data.files.iter().map(|f| (f.name.clone(), f.sha256.clone())).collect(),
        ..Default::default()
    };
    for &preset in presets {
        let dir = runs.join(preset.name());
        if !RunPaths::new(&dir).state().exists() {
            anyhow::bail!("{} has no trained run: run `cargo run -p host-trainer --release` first", dir.display());
        }
        let run = eval_existing(data, &dir, Checkpoint::Best)?;
        let bpk_name = format!("{}.bpk", preset.name());
        let bpk = std::fs::read(RunPaths::new(&dir).best_model())?;
        write_atomic(&out.join(&bpk_name), &bpk)?;
        // Writes <preset>.onnx (the float model the compiler took) beside the int8 files.
        let q = quantize(data, &run, &QuantizeOptions::default(), out)?;
        let onnx_name = format!("{}.onnx", preset.name());
        let mut acc = std::collections::BTreeMap::new();
        acc.insert("burn".to_string(), run.test.accuracy);
        acc.insert("infer-core-int8".to_string(), q.int8_accuracy());
        m.models.insert(
            preset.name().to_string(),
            manifest::ModelEntry {
                preset: preset.name().to_string(),
                params: run.test.params,
                macs: run.test.macs,
                seed: run.state.config.seed,
                epochs: run.state.history.len(),
                epoch: run.test.epoch,
                command: PUBLISH_COMMAND.to_string(),
                burn: manifest::Artifact::of(out, &bpk_name)?,
                onnx: manifest::Artifact::of(out, &onnx_name)?,
                onnx_int8: manifest::Artifact::of(out, &format!("{}.int8.onnx", preset.name()))?,
                blob: manifest::Artifact::of(out, &format!("{}.ic8", preset.name()))?,
                io: (float_onnx::INPUT.to_string(), float_onnx::OUTPUT.to_string()),
                test_accuracy: acc,
                arena_bytes: q.compile.arena_bytes,
                calibration: format!("{:?}", q.compile.method),
            },
        );
        eprintln!("published {} -> {}", preset, out.display());
    }
    m.write(out)?;
    Ok(m)
}
