//! What a training run is asked to do ([`TrainConfig`]): preset, epochs, batch, optimizer,
//! schedule, augmentation, seed and split, backend; saved as the run's `config.json`.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::data::augment::Augment;
use crate::data::{FashionMnist, Split, train_val_split};
use crate::model::Preset;
use crate::optimizer::{OptimizerKind, Schedule};

/// What a training run is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Architecture.
    pub preset: Preset,
    /// Epochs to train.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of initialisation, shuffling, dropout and the validation split.
    pub seed: u64,
    /// Validation images held out of the 60,000 training images.
    pub val_size: usize,
    /// Train on only the first N images of the training split (None: all).
    pub train_limit: Option<usize>,
    /// Backend.
    pub backend: Backend,
    /// On-the-fly augmentation of training images (off by default).
    #[serde(default)]
    pub augment: Augment,
    /// Optimizer (Adam by default).
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// L2 weight decay (decoupled for AdamW); 0 = none.
    #[serde(default)]
    pub weight_decay: f64,
    /// Label smoothing of the cross-entropy; 0 = none.
    #[serde(default)]
    pub label_smoothing: f64,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: Schedule,
    /// Stop after this many epochs without a better validation loss (the best checkpoint is
    /// what gets evaluated); `None` = train all epochs.
    #[serde(default)]
    pub early_stopping: Option<usize>,
    /// Replace the preset's dropout probabilities with this one (grid search); `None` = the
    /// preset's own. Dropout holds no weights, so checkpoints load into the plain preset.
    #[serde(default)]
    pub dropout: Option<f64>,
}

impl TrainConfig {
    /// The studies' defaults for a preset: Adam 1e-3, batch 128, seed 42, 6,000 validation.
    pub fn for_preset(preset: Preset) -> Self {
        Self {
            preset,
            epochs: preset.default_epochs(),
            batch_size: 128,
            lr: 1e-3,
            seed: 42,
            val_size: 6_000,
            train_limit: None,
            backend: Backend::Flex,
            augment: Augment::default(),
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            label_smoothing: 0.0,
            schedule: Schedule::Constant,
            early_stopping: None,
            dropout: None,
        }
    }

    /// The training and validation splits this configuration asks for: the seeded split of
    /// the 60,000 training images, the training part cut to `train_limit`.
    pub fn splits(&self, data: &FashionMnist) -> Result<(Split, Split)> {
        let (train, val) = train_val_split(&data.train, self.val_size, self.seed)?;
        match self.train_limit {
            Some(n) if n > train.len() => anyhow::bail!(
                "--train-limit {n} is more than the {} training images that --val-size {} leaves",
                train.len(),
                self.val_size
            ),
            Some(n) => Ok((train.take(n), val)),
            None => Ok((train, val)),
        }
    }

    /// Settings that contradict each other (each value's own range is the CLI's to check, see
    /// `arg_values.rs`; this also guards configurations built in code).
    pub fn check(&self) -> Result<()> {
        use anyhow::bail;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("the learning rate {} must be a finite number above 0", self.lr);
        }
        if self.epochs == 0 || self.batch_size == 0 {
            bail!("epochs ({}) and the batch size ({}) must be 1 or more", self.epochs, self.batch_size);
        }
        let min_lr = match self.schedule {
            Schedule::Constant => None,
            Schedule::Cosine { min_lr } | Schedule::Plateau { min_lr, .. } => Some(min_lr),
        };
        if let Some(m) = min_lr
            && m > self.lr
        {
            bail!("--min-lr {m} is above --lr {}: the schedule would raise the learning rate", self.lr);
        }
        Ok(())
    }

    /// The layer list trained: the preset's, with dropout overridden if asked.
    pub fn layers(&self) -> Vec<crate::model::LayerSpec> {
        use crate::model::LayerSpec;
        let mut layers = self.preset.layers();
        if let Some(p) = self.dropout {
            for l in &mut layers {
                if let LayerSpec::Dropout { prob } = l {
                    *prob = p;
                }
            }
        }
        layers
    }
}

impl TrainConfig {
    /// The `host-trainer train` command line that asks for exactly this configuration, with
    /// `run_dir`: every setting that differs from the command's defaults, in a fixed order.
    pub fn command(&self, run_dir: &std::path::Path) -> String {
        use clap::ValueEnum;
        let name = |v: Option<clap::builder::PossibleValue>| v.map_or(String::new(), |v| v.get_name().to_string());
        let mut a = vec![format!("--preset {}", self.preset.name())];
        if self.epochs != self.preset.default_epochs() {
            a.push(format!("--epochs {}", self.epochs));
        }
        if self.batch_size != 128 {
            a.push(format!("--batch-size {}", self.batch_size));
        }
        if self.lr != 1e-3 {
            a.push(format!("--lr {}", self.lr));
        }
        a.push(format!("--seed {}", self.seed));
        if self.val_size != 6000 {
            a.push(format!("--val-size {}", self.val_size));
        }
        if let Some(n) = self.train_limit {
            a.push(format!("--train-limit {n}"));
        }
        let g = &self.augment;
        if g.flip {
            a.push("--flip".into());
        }
        for (flag, v) in [("--rotate", g.rotate_deg), ("--zoom", g.zoom), ("--erase", g.erase)] {
            if v != 0.0 {
                a.push(format!("{flag} {v}"));
            }
        }
        if g.shift != 0 {
            a.push(format!("--shift {}", g.shift));
        }
        if self.optimizer != OptimizerKind::Adam {
            a.push(format!("--optimizer {}", name(self.optimizer.to_possible_value())));
        }
        if self.weight_decay != 0.0 {
            a.push(format!("--weight-decay {}", self.weight_decay));
        }
        if self.label_smoothing != 0.0 {
            a.push(format!("--label-smoothing {}", self.label_smoothing));
        }
        match self.schedule {
            Schedule::Constant => {}
            Schedule::Cosine { min_lr } => {
                a.push("--schedule cosine".into());
                if min_lr != 1e-5 {
                    a.push(format!("--min-lr {min_lr}"));
                }
            }
            Schedule::Plateau { factor, patience, min_lr } => {
                a.push(format!("--schedule plateau --plateau-factor {factor} --plateau-patience {patience}"));
                if min_lr != 1e-5 {
                    a.push(format!("--min-lr {min_lr}"));
                }
            }
        }
        if let Some(n) = self.early_stopping {
            a.push(format!("--early-stopping {n}"));
        }
        if let Some(p) = self.dropout {
            a.push(format!("--dropout {p}"));
        }
        let device = if self.backend == Backend::Flex {
            String::new()
        } else {
            format!(" --device {}", name(self.backend.to_possible_value()))
        };
        let features =
            if self.backend == Backend::Flex { String::new() } else { format!(" --features {}", self.backend) };
        format!(
            "cargo run -p host-trainer --release{features} --{device} train {} --run-dir {}",
            a.join(" "),
            run_dir.display()
        )
    }
}
