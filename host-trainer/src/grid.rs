//! Grid search: short trials over learning rate × batch size (× dropout), ranked by
//! validation accuracy (the test set is not looked at), with the best configuration printed
//! as a ready `train` command.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::config::TrainConfig;
use crate::data::FashionMnist;
use crate::run_dir::write_atomic;
use crate::training::{self, TrainOptions};

/// What to search.
#[derive(Debug, Clone)]
pub struct GridSpec {
    /// Everything but the searched values (preset, epochs, seed, subset...).
    pub base: TrainConfig,
    /// Learning rates.
    pub lrs: Vec<f64>,
    /// Batch sizes.
    pub batch_sizes: Vec<usize>,
    /// Dropout probabilities (`None`: the preset's own).
    pub dropouts: Vec<Option<f64>>,
}

/// One finished trial.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Learning rate.
    pub lr: f64,
    /// Batch size.
    pub batch_size: usize,
    /// Dropout override.
    pub dropout: Option<f64>,
    /// Best validation accuracy over the epochs.
    pub val_acc: f64,
    /// Validation loss at that epoch.
    pub val_loss: f64,
    /// That epoch (1-based).
    pub best_epoch: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Training time.
    pub seconds: f64,
    /// Where the trial's run lives.
    pub run_dir: PathBuf,
}

impl GridSpec {
    /// Every configuration of the grid, in order.
    pub fn configs(&self) -> Vec<TrainConfig> {
        let mut v = Vec::new();
        for &lr in &self.lrs {
            for &batch_size in &self.batch_sizes {
                for &dropout in &self.dropouts {
                    v.push(TrainConfig { lr, batch_size, dropout, ..self.base.clone() });
                }
            }
        }
        v
    }
}

fn trial_name(c: &TrainConfig) -> String {
    let d = c.dropout.map_or("preset".to_string(), |d| format!("{d}"));
    format!("lr{}-bs{}-dropout{d}", c.lr, c.batch_size)
}

/// Runs (or, where a trial is already complete, reads) every trial under `out`, and writes
/// `grid.md` and `grid.json` there. Returns the trials best first.
pub fn run(data: &FashionMnist, spec: &GridSpec, out: &Path, quiet: bool) -> Result<Vec<Trial>> {
    let configs = spec.configs();
    if configs.is_empty() {
        bail!("the grid is empty: give at least one learning rate, batch size and dropout");
    }
    let mut trials = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let dir = out.join(trial_name(config));
        if !quiet {
            eprintln!("grid trial {}/{}: {}", i + 1, configs.len(), dir.display());
        }
        let (train, val) = config.splits(data)?;
        let state =
            training::train(config, &train, &val, &dir, TrainOptions { resume: true, quiet, stop_after: None })?;
        let best = state
            .history
            .iter()
            .max_by(|a, b| a.val_acc.total_cmp(&b.val_acc))
            .ok_or_else(|| anyhow::anyhow!("trial {} trained no epoch", dir.display()))?;
        let (best_epoch, val_acc, val_loss) = (best.epoch, best.val_acc, best.val_loss);
        trials.push(Trial {
            lr: config.lr,
            batch_size: config.batch_size,
            dropout: config.dropout,
            val_acc,
            val_loss,
            best_epoch,
            epochs: state.history.len(),
            seconds: state.train_seconds(),
            run_dir: dir,
        });
    }
    trials.sort_by(|a, b| b.val_acc.total_cmp(&a.val_acc).then(a.val_loss.total_cmp(&b.val_loss)));
    write_atomic(&out.join("grid.json"), serde_json::to_string_pretty(&trials)?.as_bytes())?;
    write_atomic(&out.join("grid.md"), markdown(&trials, &spec.base).as_bytes())?;
    Ok(trials)
}

/// The `train` command line that trains the trial's configuration in full.
pub fn command(t: &Trial, base: &TrainConfig) -> String {
    let mut s = format!(
        "cargo run -p host-trainer --release -- train --preset {} --lr {} --batch-size {} --seed {}",
        base.preset, t.lr, t.batch_size, base.seed
    );
    if let Some(d) = t.dropout {
        s += &format!(" --dropout {d}");
    }
    s
}

/// The results table, best first.
pub fn markdown(trials: &[Trial], base: &TrainConfig) -> String {
    let mut s = format!(
        "# Grid search: {}\n\n{} trials of {} epochs on {} training images, seed {}; ranked by best validation accuracy.\n\n\
         | rank | lr | batch | dropout | val acc | val loss | best epoch | time (s) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        base.preset,
        trials.len(),
        base.epochs,
        base.train_limit.map_or("all".to_string(), |n| n.to_string()),
        base.seed
    );
    for (i, t) in trials.iter().enumerate() {
        s += &format!(
            "| {} | {} | {} | {} | {:.2}% | {:.4} | {} | {:.1} |\n",
            i + 1,
            t.lr,
            t.batch_size,
            t.dropout.map_or("preset".to_string(), |d| d.to_string()),
            100.0 * t.val_acc,
            t.val_loss,
            t.best_epoch,
            t.seconds
        );
    }
    if let Some(best) = trials.first() {
        s += &format!("\nBest, ready to train:\n\n```\n{}\n```\n", command(best, base));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LayerSpec, Preset};

    #[test]
    fn grid_configs_and_dropout_override() {
        let spec = GridSpec {
            base: TrainConfig::for_preset(Preset::MlpImproved),
            lrs: vec![1e-3, 1e-2],
            batch_sizes: vec![32, 64, 128],
            dropouts: vec![None, Some(0.1)],
        };
        let c = spec.configs();
        assert_eq!(c.len(), 12);
        assert_eq!((c[0].lr, c[0].batch_size, c[0].dropout), (1e-3, 32, None));
        assert_eq!((c[11].lr, c[11].batch_size, c[11].dropout), (1e-2, 128, Some(0.1)));
        let probs = |c: &TrainConfig| {
            c.layers()
                .iter()
                .filter_map(|l| if let LayerSpec::Dropout { prob } = l { Some(*prob) } else { None })
                .collect::<Vec<_>>()
        };
        assert_eq!(probs(&c[0]), vec![0.4, 0.4]);
        assert_eq!(probs(&c[1]), vec![0.1, 0.1]);
        assert_ne!(trial_name(&c[0]), trial_name(&c[1]));
    }
}
