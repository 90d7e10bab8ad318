//! The jobs the CLI runs: train a preset end to end (data → train → evaluate → report →
//! pictures), evaluate an existing run, and summarise runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::TrainConfig;
use crate::data::{FashionMnist, Split};
use crate::evaluation::{Checkpoint, TestResult, evaluate_run};
use crate::plots;
use crate::quantize::{self, QuantReport, QuantizeOptions};
use crate::report::{self, RunReport, SummaryRow};
use crate::run_dir::{RunPaths, RunState};
use crate::training::{self, TrainOptions};

/// What a finished run produced.
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Its state after training.
    pub state: RunState,
    /// Test-set results.
    pub test: TestResult,
}

/// Trains (or resumes) a run, then evaluates and reports it.
pub fn train_and_report(
    data: &FashionMnist,
    config: &TrainConfig,
    run_dir: &Path,
    opts: TrainOptions,
    checkpoint: Checkpoint,
) -> Result<RunOutcome> {
    let (train, val) = config.splits(data)?;
    if !opts.quiet {
        eprintln!(
            "training {} on {} images ({} validation), {} epochs, batch {}, lr {}, seed {}, backend {} -> {}",
            config.preset,
            train.len(),
            val.len(),
            config.epochs,
            config.batch_size,
            config.lr,
            config.seed,
            config.backend,
            run_dir.display()
        );
    }
    let state = training::train(config, &train, &val, run_dir, opts)?;
    report_run(data, run_dir, &state, checkpoint, &val)
}

/// Evaluates a run's checkpoint on the test set and writes its report and pictures.
pub fn report_run(
    data: &FashionMnist,
    run_dir: &Path,
    state: &RunState,
    checkpoint: Checkpoint,
    val: &Split,
) -> Result<RunOutcome> {
    let test = evaluate_run(run_dir, state, checkpoint, &data.test)?;
    let name = run_dir.file_name().map_or_else(|| run_dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let pics = run_dir.join("plots");
    std::fs::create_dir_all(&pics).with_context(|| format!("creating {}", pics.display()))?;
    let title = format!("{name}: {} (test accuracy {:.2}%)", state.config.preset, 100.0 * test.accuracy);
    let (train, _) = state.config.splits(data)?;
    let mut pictures = Vec::new();
    let mut draw = |file: &str, f: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
        f(&pics.join(file))?;
        pictures.push(format!("plots/{file}"));
        Ok(())
    };
    draw("training_curves.png", &|p| plots::training_curves(&state.history, &title, p))?;
    draw("confusion_matrix.png", &|p| plots::confusion_heatmap(&test.confusion, &title, p))?;
    draw("test_samples.png", &|p| plots::sample_grid(&data.test, &test.predictions, p))?;
    draw("class_distribution.png", &|p| {
        plots::class_distribution(&[("train", &train), ("validation", val), ("test", &data.test)], p)
    })?;
    draw("mean_pixels.png", &|p| plots::mean_pixel_heatmap(&train, p))?;
    if state.config.augment.is_active() {
        draw("augmentation.png", &|p| {
            plots::augmentation_samples(&train, &state.config.augment, state.config.seed, p)
        })?;
    }
    let r = RunReport::new(&name, state, &test, &data.files, pictures);
    report::write(run_dir, &r, state)?;
    Ok(RunOutcome { dir: run_dir.to_path_buf(), state: state.clone(), test })
}

/// Re-evaluates an existing run directory.
pub fn eval_existing(data: &FashionMnist, run_dir: &Path, checkpoint: Checkpoint) -> Result<RunOutcome> {
    let state = crate::run_dir::read_state(&RunPaths::new(run_dir))?;
    let (_, val) = state.config.splits(data)?;
    report_run(data, run_dir, &state, checkpoint, &val)
}

/// Writes `summary.md` and `summary.json` for every run directory under `runs` that has a
/// report, and returns the markdown.
pub fn summarize(runs: &Path) -> Result<String> {
    let mut rows = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .with_context(|| format!("reading {}", runs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("report.json").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let text = std::fs::read_to_string(d.join("report.json"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}/report.json", d.display()))?;
        let get = |p: &str| v.pointer(p).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
        rows.push(SummaryRow {
            run: v["run"].as_str().unwrap_or_default().to_string(),
            preset: v.pointer("/config/preset").and_then(|x| x.as_str()).unwrap_or_default().to_string(),
            params: get("/test/params") as usize,
            epochs: get("/epochs_trained") as usize,
            train_seconds: get("/train_seconds"),
            seconds_per_epoch: get("/seconds_per_epoch"),
            val_acc: get("/val_acc"),
            test_acc: get("/test/accuracy"),
            test_loss: get("/test/loss"),
            macro_f1: get("/test/report/macro_avg/f1"),
            backend: v.pointer("/config/backend").and_then(|x| x.as_str()).unwrap_or_default().to_string(),
        });
    }
    let md = report::summary_markdown(&rows);
    crate::run_dir::write_atomic(&runs.join("summary.md"), md.as_bytes())?;
    crate::run_dir::write_atomic(&runs.join("summary.json"), serde_json::to_string_pretty(&rows)?.as_bytes())?;
    crate::plots::comparison_bars(&rows, &runs.join("comparison.png"))?;
    Ok(md)
}

/// Quantizes an evaluated run into `out` (blob, per-layer report) and returns the report.
pub fn quantize(data: &FashionMnist, run: &RunOutcome, opts: &QuantizeOptions, out: &Path) -> Result<QuantReport> {
    let opts = QuantizeOptions { checkpoint: run.test.checkpoint, ..opts.clone() };
    quantize::quantize_run(data, &run.dir, &run.state, &opts, out)
}

/// Picks the first `per_class` images of each class of `test` (kept in test-set order) and
/// writes `images.bin`, `labels.bin` and `indices.txt` into `out`. Returns the indices.
pub fn firmware_data(test: &Split, per_class: usize, out: &Path) -> Result<Vec<usize>> {
    let mut taken = [0usize; 10];
    let picked: Vec<usize> = (0..test.len())
        .filter(|&i| {
            let c = test.labels[i] as usize;
            taken[c] += 1;
            taken[c] <= per_class
        })
        .collect();
    let subset = test.subset(&picked);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    crate::run_dir::write_atomic(&out.join("images.bin"), &subset.pixels)?;
    crate::run_dir::write_atomic(&out.join("labels.bin"), &subset.labels)?;
    let text: String = picked.iter().map(|i| format!("{i}\n")).collect();
    crate::run_dir::write_atomic(&out.join("indices.txt"), text.as_bytes())?;
    Ok(picked)
}
