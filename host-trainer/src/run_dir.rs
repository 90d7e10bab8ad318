//! A run directory: its paths, the resume state written beside the checkpoints, the lock
//! that keeps a second process out, and the atomic writes everything in it goes through.
//!
//! A run directory holds:
//! - `config.json`: what was asked (preset, epochs, batch, lr, seed, split, backend);
//! - `history.csv` and `history.json`: one row per finished epoch;
//! - `checkpoints/state.json`: the resume state, naming the checkpoint files it belongs to;
//! - `checkpoints/epoch-NNNN-model.bpk` and `epoch-NNNN-optim.bpk`: the last finished epoch's
//!   weights and optimizer state, and the weights of the epoch with the lowest validation loss
//!   (the same file when that is the last epoch);
//! - `.lock`: locked (advisory, by the OS) while a process trains into the directory.
//!
//! Crash safety: an epoch's files get new names (each written to a temporary name and renamed),
//! then `state.json` is replaced atomically to name them, and only then are the files no state
//! names any more removed. Whatever fails or is interrupted, `state.json` names a complete,
//! consistent set. Runs written before this scheme (`last-model.bpk`, `last-optim.bpk`,
//! `best-model.bpk`, no file names in their state) are read as they are and move to it at their
//! next epoch.

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
    /// The checkpoint files this state belongs to; `None` in runs written before they were
    /// named per epoch (those use the fixed names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<CheckpointFiles>,
}

/// The checkpoint files of a state, by name inside `checkpoints/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFiles {
    /// Weights after the last finished epoch.
    pub last_model: String,
    /// Optimizer state after the last finished epoch.
    pub last_optim: String,
    /// Weights of the best epoch.
    pub best_model: String,
}

impl CheckpointFiles {
    /// The names epoch `n` (1-based) writes.
    pub fn of_epoch(n: usize) -> (String, String) {
        (format!("epoch-{n:04}-model.bpk"), format!("epoch-{n:04}-optim.bpk"))
    }
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

    /// The weights after the last finished epoch.
    pub fn last_model(&self, paths: &RunPaths) -> PathBuf {
        self.files.as_ref().map_or_else(|| paths.ckpt().join("last-model.bpk"), |f| paths.ckpt().join(&f.last_model))
    }

    /// The optimizer state after the last finished epoch.
    pub fn last_optim(&self, paths: &RunPaths) -> PathBuf {
        self.files.as_ref().map_or_else(|| paths.ckpt().join("last-optim.bpk"), |f| paths.ckpt().join(&f.last_optim))
    }

    /// The weights of the epoch with the lowest validation loss.
    pub fn best_model(&self, paths: &RunPaths) -> PathBuf {
        self.files.as_ref().map_or_else(|| paths.ckpt().join("best-model.bpk"), |f| paths.ckpt().join(&f.best_model))
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
    /// Resume state.
    pub fn state(&self) -> PathBuf {
        self.ckpt().join("state.json")
    }
    /// Configuration.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(".lock")
    }
}

/// A run directory held by this process (released when dropped, or by the OS when the
/// process ends, however it ends: no stale lock survives a crash).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// Locks `dir` (created if missing) for this process, or says which directory another process
/// holds.
pub fn lock(dir: &Path) -> Result<RunLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = RunPaths::new(dir).lock();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another process is training into {} (it holds {}); wait for it to finish, or choose another --run-dir",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Saves the checkpoint of finished epoch `state.history.len()` with its state: the epoch's
/// files under new names, then the state that names them, then the files no state names any
/// more. A failure leaves the previous state and its files as they were, and says so.
pub fn save_checkpoint(
    paths: &RunPaths,
    state: &mut RunState,
    model: &Net,
    optim: &ModuleOptimizer,
    improved: bool,
) -> Result<()> {
    let n = state.history.len();
    let previous = state.files.clone();
    let (model_name, optim_name) = CheckpointFiles::of_epoch(n);
    let best = if improved {
        model_name.clone()
    } else {
        match &previous {
            Some(f) => f.best_model.clone(),
            // A run from before the per-epoch names: carry its best weights over under a name
            // of the new scheme.
            None => {
                let (name, _) = CheckpointFiles::of_epoch(state.best_epoch);
                let from = paths.ckpt().join("best-model.bpk");
                let to = paths.ckpt().join(&name);
                if !to.exists() {
                    write_atomic(&to, &std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?)?;
                }
                name
            }
        }
    };
    let files = CheckpointFiles { last_model: model_name, last_optim: optim_name, best_model: best };
    let write = || -> Result<()> {
        save_model(model, &paths.ckpt().join(&files.last_model))?;
        save_optim(optim, &paths.ckpt().join(&files.last_optim))?;
        let next = RunState { files: Some(files.clone()), ..state.clone() };
        write_atomic(&paths.state(), serde_json::to_string_pretty(&next)?.as_bytes())
    };
    if let Err(e) = write() {
        let kept = if n > 1 { format!("epoch {}", n - 1) } else { "none yet".to_string() };
        return Err(e.context(format!(
            "saving epoch {n} into {} failed; the last good checkpoint ({kept}) is unchanged and `--resume` continues from it",
            paths.dir.display()
        )));
    }
    state.files = Some(files.clone());
    // Only now is anything else removable: every file of the new state is in place.
    let keep = [&files.last_model, &files.last_optim, &files.best_model];
    if let Ok(entries) = std::fs::read_dir(paths.ckpt()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = (name.starts_with("epoch-") && name.ends_with(".bpk") && !keep.contains(&&name))
                || ["last-model.bpk", "last-optim.bpk", "best-model.bpk"].contains(&name.as_str());
            if stale {
                // A file that cannot be removed only costs space; the state does not name it.
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
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
        let text = e.to_string();
        // Only a file whose tensors are not the model's gets the layer-list explanation; a
        // truncated or unreadable file gets its own error alone.
        let lower = text.to_lowercase();
        let hint =
            if ["missing tensor", "unexpected tensor", "shape mismatch", "shape"].iter().any(|k| lower.contains(k)) {
                " (the file holds the weights of another layer list than this run's)"
            } else {
                ""
            };
        anyhow::anyhow!("loading {}: {text}{hint}", path.display())
    })
}

/// Reads a run's resume state.
pub fn read_state(paths: &RunPaths) -> Result<RunState> {
    read_json_state(&paths.dir, &paths.state(), "trained run", "host-trainer train")
}

/// Reads the JSON state file `state` of the run directory `dir`: when it is missing, the error
/// says that `dir` holds no `what` and that `command --run-dir DIR` makes one.
pub fn read_json_state<T: serde::de::DeserializeOwned>(
    dir: &Path,
    state: &Path,
    what: &str,
    command: &str,
) -> Result<T> {
    if !state.exists() {
        anyhow::bail!(
            "{} holds no {what} (no {}): train one with `{command} --run-dir {}`",
            dir.display(),
            state.display(),
            dir.display()
        );
    }
    let text = std::fs::read_to_string(state).with_context(|| format!("reading {}", state.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", state.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run reads its history and learning rate back from `state.json`, so every f64
    /// must come back bit for bit (serde_json's `float_roundtrip`; without it the last bit of
    /// values such as this training loss changes, and a plateau schedule resumes at another rate).
    #[test]
    fn state_floats_come_back_bit_for_bit() {
        let mut x = 1.9347590732574462f64;
        for i in 0..10_000u64 {
            let r = EpochRecord {
                epoch: 1,
                train_loss: x,
                train_acc: 1.0 / (i as f64 + 3.0),
                val_loss: x.sqrt(),
                val_acc: 0.1,
                lr: 1e-3 * 0.5f64.powi((i % 40) as i32),
                seconds: x * 1e3,
            };
            let back: EpochRecord = serde_json::from_str(&serde_json::to_string_pretty(&r).unwrap()).unwrap();
            for (a, b) in [
                (r.train_loss, back.train_loss),
                (r.val_loss, back.val_loss),
                (r.lr, back.lr),
                (r.train_acc, back.train_acc),
            ] {
                assert_eq!(a.to_bits(), b.to_bits(), "{a} came back as {b}");
            }
            x = (x * 1.000_123_4 + 0.000_77).fract() + 0.5;
        }
    }
}
