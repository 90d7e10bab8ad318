//! `onnx-models/manifest.json`: for each committed model, how it was made (preset, seed,
//! command, dataset checksums) and what it scores, with the sha256 of every artifact.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::source::hex;

/// One artifact file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// File name, relative to the manifest.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the file.
    pub sha256: String,
}

impl Artifact {
    /// Describes a file inside `dir`.
    pub fn of(dir: &Path, file: &str) -> Result<Self> {
        let bytes = std::fs::read(dir.join(file)).with_context(|| format!("reading {}", dir.join(file).display()))?;
        Ok(Self { file: file.to_string(), bytes: bytes.len() as u64, sha256: hex(&Sha256::digest(&bytes)) })
    }
}

/// One model's entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Preset name.
    pub preset: String,
    /// Parameter count.
    pub params: usize,
    /// Multiply-accumulates per image.
    pub macs: usize,
    /// Training seed.
    pub seed: u64,
    /// Epochs trained and the epoch exported (best by validation loss).
    pub epochs: usize,
    /// Epoch the weights come from.
    pub epoch: usize,
    /// The command that produced it.
    pub command: String,
    /// burn weights (burnpack) of the exported epoch.
    pub burn: Artifact,
    /// Float ONNX model.
    pub onnx: Artifact,
    /// int8 QDQ ONNX model.
    pub onnx_int8: Artifact,
    /// infer-core blob.
    pub blob: Artifact,
    /// ONNX graph input and output names.
    pub io: (String, String),
    /// Test accuracy by engine: `burn`, `infer-core-int8`, and (filled by the conformance
    /// suite) `tract`, `onnxruntime`, `tract-int8`, `onnxruntime-int8`.
    pub test_accuracy: BTreeMap<String, f64>,
    /// infer-core arena bytes.
    pub arena_bytes: usize,
    /// Calibration method chosen.
    pub calibration: String,
}

/// The manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Dataset files and their sha256.
    pub dataset: Vec<(String, String)>,
    /// Models by preset name.
    pub models: BTreeMap<String, ModelEntry>,
}

impl Manifest {
    /// Reads `dir/manifest.json` (empty if absent).
    pub fn read(dir: &Path) -> Result<Self> {
        let p = dir.join("manifest.json");
        if !p.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }

    /// Writes `dir/manifest.json` and the README table `dir/MODELS.md`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::run_dir::write_atomic(
            &dir.join("manifest.json"),
            (serde_json::to_string_pretty(self)? + "\n").as_bytes(),
        )?;
        crate::run_dir::write_atomic(&dir.join("MODELS.md"), self.markdown().as_bytes())
    }

    /// The table of models.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let engines = ["burn", "tract", "onnxruntime", "infer-core-int8", "tract-int8", "onnxruntime-int8"];
        let mut s = String::from(
            "# Committed models\n\nGenerated from `manifest.json`. Test accuracy on the 10,000 test images.\n\n",
        );
        let _ = write!(s, "| model | params | MACs | epoch | arena B | blob B |");
        for e in engines {
            let _ = write!(s, " {e} |");
        }
        s.push_str("\n|---|---:|---:|---:|---:|---:|");
        s.push_str(&"---:|".repeat(engines.len()));
        s.push('\n');
        for m in self.models.values() {
            let _ = write!(
                s,
                "| {} | {} | {} | {}/{} | {} | {} |",
                m.preset, m.params, m.macs, m.epoch, m.epochs, m.arena_bytes, m.blob.bytes
            );
            for e in engines {
                match m.test_accuracy.get(e) {
                    Some(a) => {
                        let _ = write!(s, " {:.2}% |", 100.0 * a);
                    }
                    None => s.push_str(" - |"),
                }
            }
            s.push('\n');
        }
        s.push_str("\nRegenerate with `scripts/regenerate-models.sh`. Each entry's command, seed, dataset checksums and file sha256 are in `manifest.json`. A regeneration reproduces the .onnx, .int8.onnx and .ic8 files byte for byte; the .bpk files differ only in the random parameter ids burn stores.\n");
        s
    }
}
