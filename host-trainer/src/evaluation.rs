//! Test-set evaluation of a trained run: predictions, probabilities, metrics.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::data::Split;
use crate::metrics::{ClassificationReport, Confusion, argmax};
use crate::model::{self, Preset};
use crate::run_dir::{RunPaths, RunState};
use crate::training;

/// Which checkpoint of a run to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checkpoint {
    /// The weights after the last finished epoch.
    Last,
    /// The weights of the epoch with the lowest validation loss (restore-best, the default).
    #[default]
    Best,
}

/// Everything measured on the test set.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Preset evaluated.
    pub preset: Preset,
    /// Checkpoint evaluated.
    pub checkpoint: Checkpoint,
    /// Epoch the checkpoint comes from.
    pub epoch: usize,
    /// Parameter count.
    pub params: usize,
    /// Multiply-accumulates per image.
    pub macs: usize,
    /// Mean cross-entropy on the test set.
    pub loss: f64,
    /// Accuracy on the test set.
    pub accuracy: f64,
    /// Classification report.
    pub report: ClassificationReport,
    /// Confusion matrix.
    pub confusion: Confusion,
    /// Confusions between visually similar classes.
    pub similar_pairs: Vec<(String, usize)>,
    /// Predicted class per test image.
    #[serde(skip)]
    pub predictions: Vec<u8>,
    /// Logits per test image (10 each).
    #[serde(skip)]
    pub logits: Vec<f32>,
}

/// Evaluates a run's checkpoint on `test`.
pub fn evaluate_run(run_dir: &Path, state: &RunState, checkpoint: Checkpoint, test: &Split) -> Result<TestResult> {
    let paths = RunPaths::new(run_dir);
    let preset = state.config.preset;
    let (path, epoch) = match checkpoint {
        Checkpoint::Last => (state.last_model(&paths), state.history.len()),
        Checkpoint::Best => (state.best_model(&paths), state.best_epoch),
    };
    let device = state.config.backend.device()?;
    let layers = state.layers();
    let net = crate::run_dir::load_model(&layers, &path, &device)?;
    let eval = training::evaluate(&net, test, 512, &device)?;
    let predictions: Vec<u8> = eval.logits.chunks(10).map(|r| argmax(r) as u8).collect();
    let confusion = Confusion::new(&test.labels, &predictions);
    Ok(TestResult {
        preset,
        checkpoint,
        epoch,
        params: model::param_count(&layers)?,
        macs: model::macs(&layers)?,
        loss: eval.loss,
        accuracy: eval.accuracy,
        report: confusion.report(),
        similar_pairs: confusion.similar_pairs(),
        confusion,
        predictions,
        logits: eval.logits,
    })
}
