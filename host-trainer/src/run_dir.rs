//! A run directory: its paths, the resume state written beside the last checkpoint, and the
//! atomic writes everything in it goes through.
//!
//! A run directory holds:
//! - `config.json`: what was asked (preset, epochs, batch, lr, seed, split, backend);
//! - `history.csv` and `history.json`: one row per finished epoch;
//! - `checkpoints/last-model.bpk`, `checkpoints/last-optim.bpk`, `checkpoints/state.json`:
//!   everything needed to continue after the last finished epoch;
//! - `checkpoints/best-model.bpk`: the weights of the epoch with the lowest validation loss.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::model::{LayerSpec, Net};
use crate::rng::rng_guard;

/// One finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size).
    pub train_loss: f64,
    /// Training accuracy over the epoch (with dropout active, as seen by the optimizer).
    pub train_acc: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Wall seconds of the epoch (training + validation).
    pub seconds: f64,
}

/// What is saved beside the last checkpoint to resume a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// The run's configuration.
    pub config: TrainConfig,
    /// Finished epochs.
    pub history: Vec<EpochRecord>,
    /// Epoch (1-based) of the best validation loss so far.
    pub best_epoch: usize,
    /// Learning rate in force (schedules that react to the history keep it here).
    #[serde(default)]
    pub lr: Option<f64>,
    /// The layer list the run was built with, so that its checkpoints stay loadable after
    /// its preset's layers change. `None` in runs made before this was recorded: those are
    /// read with the preset's current layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<crate::model::LayerSpec>>,
}

impl RunState {
    /// The best epoch's record, if any epoch finished.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.history.iter().find(|r| r.epoch == self.best_epoch)
    }

    /// Total training seconds.
    pub fn train_seconds(&self) -> f64 {
        self.history.iter().map(|r| r.seconds).sum()
    }

    /// The layers of the run's checkpoints: those recorded when it started, or, for a run
    /// that predates the record, its configuration's.
    pub fn layers(&self) -> Vec<crate::model::LayerSpec> {
        self.layers.clone().unwrap_or_else(|| self.config.layers())
    }
}

/// Paths inside a run directory.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
}

impl RunPaths {
    /// Paths of `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// The checkpoints folder.
    pub fn ckpt(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }
    /// Last model weights.
    pub fn last_model(&self) -> PathBuf {
        self.ckpt().join("last-model.bpk")
    }
    /// Last optimizer state.
    pub fn last_optim(&self) -> PathBuf {
        self.ckpt().join("last-optim.bpk")
    }
    /// Best model weights.
    pub fn best_model(&self) -> PathBuf {
        self.ckpt().join("best-model.bpk")
    }
    /// Resume state.
    pub fn state(&self) -> PathBuf {
        self.ckpt().join("state.json")
    }
    /// Configuration.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
}

/// Writes a file through a temporary name and a rename, so readers see old or new, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_name(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Saves a model's weights atomically.
pub fn save_model(model: &Net, path: &Path) -> Result<()> {
    save_module(model, path)
}

/// Saves any module's weights atomically (temporary file, then rename).
pub fn save_module<M: burn::module::Module + Clone>(model: &M, path: &Path) -> Result<()> {
    let tmp = tmp_name(path);
    model.clone().save_file(&tmp).map_err(|e| anyhow::anyhow!("saving {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Saves an optimizer's state atomically.
pub fn save_optim(optim: &ModuleOptimizer, path: &Path) -> Result<()> {
    let tmp = tmp_name(path);
    optim.save(&tmp).map_err(|e| anyhow::anyhow!("saving {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Loads weights saved by a run into a freshly built model of `layers` (a run's
/// [`RunState::layers`], or a preset's for a bare weights file). Building draws the initial
/// weights from burn's device RNG, so this holds [`crate::rng::RNG_LOCK`] meanwhile (a seeded training
/// elsewhere stays reproducible).
pub fn load_model(layers: &[LayerSpec], path: &Path, device: &Device) -> Result<Net> {
    let _rng = rng_guard();
    load_model_holding_rng(layers, path, device)
}

/// [`load_model`] for a caller that already holds [`crate::rng::RNG_LOCK`].
pub fn load_model_holding_rng(layers: &[LayerSpec], path: &Path, device: &Device) -> Result<Net> {
    let net = Net::new(layers, device)?;
    net.try_load_file(path).map_err(|e| {
        anyhow::anyhow!(
            "loading {}: {e} (the weights do not fit the layer list; a run made before its preset's layers changed, and before runs recorded their layers, needs its original preset)",
            path.display()
        )
    })
}

/// Reads a run's resume state.
pub fn read_state(paths: &RunPaths) -> Result<RunState> {
    let p = paths.state();
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

/// Writes `history.csv` and `history.json`.
pub fn write_history(paths: &RunPaths, history: &[EpochRecord]) -> Result<()> {
    let mut csv = String::from("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n");
    for r in history {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{},{:.3}\n",
            r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.lr, r.seconds
        ));
    }
    write_atomic(&paths.dir.join("history.csv"), csv.as_bytes())?;
    write_atomic(&paths.dir.join("history.json"), serde_json::to_string_pretty(history)?.as_bytes())
}
