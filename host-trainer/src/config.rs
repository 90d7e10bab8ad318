//! What a training run is asked to do ([`TrainConfig`]): preset, epochs, batch, optimizer,
//! schedule, augmentation, seed and split, backend; saved as the run's `config.json`.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::data::augment::Augment;
use crate::data::{FashionMnist, Split, splits};
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
        Ok(splits::train_val(&data.train, self.val_size, self.seed, self.train_limit)?)
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
