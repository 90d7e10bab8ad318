//! `artifacts/manifest.json`, typed: for each published model, how it was made (the exact
//! commands, seed, dataset checksums), how its float model is fed, and what it scores per
//! engine, with the size and sha256 of every file. The one list of published models: the
//! build script generates [`crate::ALL`] from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A manifest that cannot be read, written or checked.
#[derive(Debug)]
pub struct ManifestError(pub String);

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestError {}

fn err(what: impl std::fmt::Display) -> ManifestError {
    ManifestError(what.to_string())
}

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
    pub fn of(dir: &Path, file: &str) -> Result<Self, ManifestError> {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|e| err(format!("reading {}: {e}", path.display())))?;
        Ok(Self { file: file.to_string(), bytes: bytes.len() as u64, sha256: hex(&Sha256::digest(&bytes)) })
    }
}

/// How the float model is fed: `(pixel / 255 − mean) / std` as f32 of `shape` (without the
/// batch axis) into input `name`, class scores from output `output`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FloatIo {
    /// Input name.
    pub name: String,
    /// Input shape without the batch axis.
    pub shape: Vec<usize>,
    /// Subtracted from `pixel / 255` (outside the graph).
    pub mean: f32,
    /// Then divided by.
    pub std: f32,
    /// Output name (logits, or probabilities after a final Softmax).
    pub output: String,
}

impl FloatIo {
    /// Our models: `image` `[1,28,28]` in [0,1], `logits`.
    pub fn ours() -> Self {
        Self { name: "image".into(), shape: vec![1, 28, 28], mean: 0.0, std: 1.0, output: "logits".into() }
    }
}

/// One model's entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// The preset it was trained from, for our models; `None` for a model made elsewhere.
    pub preset: Option<String>,
    /// Parameter count (batch-norm statistics included).
    pub params: usize,
    /// Multiply-accumulates per image of the int8 model.
    pub macs: usize,
    /// Training seed (also the seed of its train/validation split).
    pub seed: u64,
    /// Epochs trained (0 for a model made elsewhere).
    pub epochs: usize,
    /// Epoch the weights come from (best by validation loss).
    pub epoch: usize,
    /// The command that trained it, exactly.
    pub train_command: String,
    /// The command that published it (export, compile, evaluate).
    pub publish_command: String,
    /// burn weights (burnpack) of the exported epoch, for our models.
    pub burn: Option<Artifact>,
    /// Float ONNX model.
    pub onnx: Artifact,
    /// How the float model is fed.
    pub float_io: FloatIo,
    /// int8 QDQ ONNX model (input `image` `[N,1,H,W]` in [0,1], output `logits`).
    pub onnx_int8: Artifact,
    /// infer-core blob.
    pub blob: Artifact,
    /// The compiler's report.
    pub quant_report: Artifact,
    /// Test accuracy by engine: `burn` (the run's own evaluation), `infer-core-int8` (the
    /// compiler's), and (filled by the conformance suite) `tract`, `onnxruntime`, `tract-int8`,
    /// `onnxruntime-int8`.
    pub test_accuracy: BTreeMap<String, f64>,
    /// infer-core arena bytes.
    pub arena_bytes: usize,
    /// Calibration method chosen.
    pub calibration: String,
}

impl ModelEntry {
    /// Every file of the entry.
    pub fn artifacts(&self) -> Vec<&Artifact> {
        let mut v: Vec<&Artifact> = self.burn.iter().collect();
        v.extend([&self.onnx, &self.onnx_int8, &self.blob, &self.quant_report]);
        v
    }
}

/// The manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Dataset files and their sha256.
    pub dataset: Vec<(String, String)>,
    /// Models by name.
    pub models: BTreeMap<String, ModelEntry>,
}

/// Writes through a temporary file and a rename, so readers see the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ManifestError> {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).map_err(|e| err(format!("writing {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| err(format!("renaming to {}: {e}", path.display())))
}

impl Manifest {
    /// Reads `dir/manifest.json` (empty if absent).
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let p = dir.join("manifest.json");
        if !p.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| err(format!("reading {}: {e}", p.display())))?;
        serde_json::from_str(&text).map_err(|e| err(format!("parsing {}: {e}", p.display())))
    }

    /// Writes `dir/manifest.json` and the table `dir/MODELS.md`, each atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ManifestError> {
        let json = serde_json::to_string_pretty(self).map_err(err)? + "\n";
        write_atomic(&dir.join("manifest.json"), json.as_bytes())?;
        write_atomic(&dir.join("MODELS.md"), self.markdown().as_bytes())
    }

    /// Checks every file's size and sha256 against `dir`.
    pub fn verify(&self, dir: &Path) -> Result<(), ManifestError> {
        for (name, m) in &self.models {
            for a in m.artifacts() {
                let now = Artifact::of(dir, &a.file)?;
                if &now != a {
                    return Err(err(format!("{name}: {} has changed since it was published", a.file)));
                }
            }
        }
        Ok(())
    }

    /// The table of models.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let engines = ["burn", "tract", "onnxruntime", "infer-core-int8", "tract-int8", "onnxruntime-int8"];
        let mut s = String::from(
            "# Published models\n\nGenerated from `manifest.json`. Test accuracy on the 10,000 test images.\n\n",
        );
        let _ = write!(s, "| model | made by | params | MACs | epoch | arena B | blob B |");
        for e in engines {
            let _ = write!(s, " {e} |");
        }
        s.push_str("\n|---|---|---:|---:|---:|---:|---:|");
        s.push_str(&"---:|".repeat(engines.len()));
        s.push('\n');
        for (name, m) in &self.models {
            let made = m.preset.as_deref().map_or("elsewhere".to_string(), |p| format!("preset {p}"));
            let _ = write!(
                s,
                "| {name} | {made} | {} | {} | {}/{} | {} | {} |",
                m.params, m.macs, m.epoch, m.epochs, m.arena_bytes, m.blob.bytes
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
        s.push_str("\nEach entry's training and publishing commands, seed, dataset checksums and file sha256 are in `manifest.json`. Publishing a run again reproduces its .onnx, .int8.onnx and .ic8 files byte for byte; a .bpk file differs only in the random parameter ids burn stores.\n");
        s
    }
}
