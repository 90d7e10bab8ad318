//! One run of the study, carried out: trained (or resumed, or left as it is when finished),
//! evaluated on the test set, quantized into `<run>/int8`, and recorded in `<run>/study/`:
//! `record.json` (what the merge tables need), `f32-logits.bin` (10 little-endian f32 logits
//! per test image, for the committees) and `int8-predictions.bin` (infer-core's class per test
//! image, for the paired int8 comparisons).
//!
//! A run whose record is there and was made for the same configuration and test images is not
//! touched again, so a study that stopped anywhere is continued by the same command.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use infer_core::Model;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::FashionMnist;
use crate::evaluation::Checkpoint;
use crate::job;
use crate::quantize::QuantizeOptions;
use crate::run_dir::write_atomic;
use crate::training::TrainOptions;

use super::plan::{StudyRun, StudySpec};

/// What the merge needs of one finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's configuration (the study's recipe for its model and seed).
    pub config: TrainConfig,
    /// The `host-trainer train` command that trains exactly this run.
    pub command: String,
    /// Test images evaluated (the first N of the test set).
    pub test_images: usize,
    /// Epochs trained and the best one (whose checkpoint is evaluated).
    pub epochs: usize,
    /// Epoch of the lowest validation loss.
    pub best_epoch: usize,
    /// Validation accuracy of the best epoch.
    pub val_acc: f64,
    /// Test accuracy of the float model (burn).
    pub test_acc: f64,
    /// Macro-averaged F1 on the test set.
    pub macro_f1: f64,
    /// Test accuracy of the int8 model (infer-core on the compiled blob).
    pub int8_acc: f64,
    /// Calibration method the compiler chose on the validation split.
    pub int8_method: String,
    /// Parameters.
    pub params: usize,
    /// Multiply-accumulates per image.
    pub macs: usize,
    /// Mean wall seconds per training epoch (including validation).
    pub seconds_per_epoch: f64,
    /// Wall seconds of training, summed over the epochs (across resumptions).
    pub train_seconds: f64,
    /// Wall seconds of evaluation, reports and quantization.
    pub eval_seconds: f64,
    /// The similar-class confusions ("Shirt -> T-shirt/top", count) on the test set.
    pub similar_pairs: Vec<(String, usize)>,
    /// The machine that evaluated it (CPU model and logical cores).
    pub machine: String,
    /// The source commit the evaluating binary was built from (`git describe`), if known.
    pub commit: Option<String>,
}

/// A finished run with its per-image outputs.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// Its record.
    pub record: RunRecord,
    /// Where it lives.
    pub dir: PathBuf,
    /// Float logits, 10 per test image.
    pub logits: Vec<f32>,
    /// infer-core's class per test image.
    pub int8_predictions: Vec<u8>,
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("study").join("record.json")
}

/// The run's record and outputs if it has finished for `spec` with `config`, else `None`.
/// Files that are there but unreadable or inconsistent are an error, not a silent rerun.
pub fn load_finished(dir: &Path, config: &TrainConfig, spec: StudySpec) -> Result<Option<FinishedRun>> {
    let path = record_path(dir);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let record: RunRecord = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if record.config != *config || record.test_images != spec.test_images() {
        bail!(
            "{} records another study's run ({} on {} test images); give this study another --out, or remove {}",
            dir.display(),
            record.command,
            record.test_images,
            dir.display()
        );
    }
    let study = dir.join("study");
    let read =
        |name: &str| std::fs::read(study.join(name)).with_context(|| format!("reading {}/{name}", study.display()));
    let bytes = read("f32-logits.bin")?;
    let int8_predictions = read("int8-predictions.bin")?;
    let n = record.test_images;
    if bytes.len() != n * 40 || int8_predictions.len() != n {
        bail!(
            "{}: the per-image outputs do not hold {n} test images; remove {} to redo the run's evaluation",
            study.display(),
            study.display()
        );
    }
    let logits = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Some(FinishedRun { record, dir: dir.to_path_buf(), logits, int8_predictions }))
}

/// The dataset a study evaluates on: the whole test set, or its first 1,000 images when quick.
pub fn study_data(data: &FashionMnist, spec: StudySpec) -> FashionMnist {
    let mut d = data.clone();
    if d.test.len() > spec.test_images() {
        d.test = d.test.take(spec.test_images());
    }
    d
}

/// Carries out `run`: trains or resumes it unless it has finished, evaluates and quantizes it,
/// and writes its record. `data` is [`study_data`]'s.
pub fn carry_out(data: &FashionMnist, run: &StudyRun, spec: StudySpec, quiet: bool) -> Result<FinishedRun> {
    if let Some(done) = load_finished(&run.dir, &run.config, spec)? {
        return Ok(done);
    }
    let opts = TrainOptions { resume: true, quiet, ..Default::default() };
    let out = job::train_and_report(data, &run.config, &run.dir, opts, Checkpoint::Best)?;
    if out.state.history.len() < run.config.epochs && run.config.early_stopping.is_none() {
        bail!("{} stopped after {} of {} epochs", run.dir.display(), out.state.history.len(), run.config.epochs);
    }
    let started = Instant::now();
    let qopts = QuantizeOptions { calibration_images: spec.calibration_images(), ..Default::default() };
    let q = job::quantize(data, &out, &qopts, &run.dir.join("int8"))?;
    let blob = std::fs::read(&q.blob_path).with_context(|| format!("reading {}", q.blob_path.display()))?;
    let int8_predictions = int8_classes(&blob, &data.test.pixels)?;
    let correct = int8_predictions.iter().zip(&data.test.labels).filter(|(p, l)| p == l).count();
    let n = data.test.len();
    let record = RunRecord {
        config: run.config.clone(),
        command: run.config.command(&run.dir),
        test_images: n,
        epochs: out.state.history.len(),
        best_epoch: out.state.best_epoch,
        val_acc: out.state.best().map_or(f64::NAN, |b| b.val_acc),
        test_acc: out.test.accuracy,
        macro_f1: out.test.report.macro_avg.f1,
        int8_acc: correct as f64 / n.max(1) as f64,
        int8_method: format!("{:?}", q.compile.method),
        params: out.test.params,
        macs: out.test.macs,
        seconds_per_epoch: out.state.train_seconds() / out.state.history.len().max(1) as f64,
        train_seconds: out.state.train_seconds(),
        eval_seconds: started.elapsed().as_secs_f64(),
        similar_pairs: out.test.similar_pairs.clone(),
        machine: machine(),
        commit: commit(),
    };
    let study = run.dir.join("study");
    std::fs::create_dir_all(&study).with_context(|| format!("creating {}", study.display()))?;
    let bytes: Vec<u8> = out.test.logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomic(&study.join("f32-logits.bin"), &bytes)?;
    write_atomic(&study.join("int8-predictions.bin"), &int8_predictions)?;
    // The record last: it is what marks the run finished.
    write_atomic(&record_path(&run.dir), serde_json::to_string_pretty(&record)?.as_bytes())?;
    Ok(FinishedRun { record, dir: run.dir.clone(), logits: out.test.logits, int8_predictions })
}

/// infer-core's class for each image of `pixels` (784 bytes each).
pub fn int8_classes(blob: &[u8], pixels: &[u8]) -> Result<Vec<u8>> {
    let model = Model::parse(blob).map_err(|e| anyhow!("the compiled blob does not parse: {e}"))?;
    let mut arena = vec![0u8; model.arena_len()];
    pixels
        .chunks_exact(model.input_len().max(1))
        .map(|img| {
            let out = model.run(img, &mut arena).map_err(|e| anyhow!("infer-core: {e}"))?;
            Ok(out.argmax() as u8)
        })
        .collect()
}

/// The CPU model and logical core count (Linux; "unknown" elsewhere).
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} logical cores")
}

/// `git describe --always --dirty` of the checkout the binary was built from (see `build.rs`),
/// if it was built from a git checkout.
pub fn commit() -> Option<String> {
    option_env!("FMNIST_EDGE_COMMIT").map(str::to_string)
}
