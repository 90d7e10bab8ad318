//! The jobs the CLI runs: train a preset end to end (data → train → evaluate → report →
//! pictures), evaluate an existing run, and summarise runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::data::{FashionMnist, Split, train_val_split};
use crate::evaluation::{Checkpoint, TestResult, evaluate_run};
use crate::plots;
use crate::quantize::{self, QuantReport, QuantizeOptions};
use crate::report::{self, RunReport, SummaryRow};
use crate::training::{self, RunPaths, RunState, TrainConfig, TrainOptions};

/// The training and validation splits a config asks for.
pub fn splits(data: &FashionMnist, config: &TrainConfig) -> Result<(Split, Split)> {
    let (train, val) = train_val_split(&data.train, config.val_size, config.seed)?;
    let train = match config.train_limit {
        Some(n) => train.take(n),
        None => train,
    };
    Ok((train, val))
}

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
    let (train, val) = splits(data, config)?;
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
    let (train, _) = splits(data, &state.config)?;
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
    let state = training::read_state(&RunPaths::new(run_dir))?;
    let (_, val) = splits(data, &state.config)?;
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
    training::write_atomic(&runs.join("summary.md"), md.as_bytes())?;
    training::write_atomic(&runs.join("summary.json"), serde_json::to_string_pretty(&rows)?.as_bytes())?;
    crate::plots::comparison_bars(&rows, &runs.join("comparison.png"))?;
    Ok(md)
}

/// Quantizes an evaluated run into `out` (blob, per-layer report) and returns the report.
pub fn quantize(data: &FashionMnist, run: &RunOutcome, opts: &QuantizeOptions, out: &Path) -> Result<QuantReport> {
    let opts = QuantizeOptions { checkpoint: run.test.checkpoint, ..opts.clone() };
    quantize::quantize_run(data, &run.dir, &run.state, &opts, out)
}

/// The command that regenerates the committed models.
pub const PUBLISH_COMMAND: &str =
    "cargo run -p host-trainer --release && cargo run -p host-trainer --release -- publish";

/// Exports the trained default runs under `runs` into `out` (float ONNX, int8 QDQ ONNX,
/// infer-core blob, quantization reports) and writes `out/manifest.json` and `out/MODELS.md`.
pub fn publish(
    data: &FashionMnist,
    runs: &Path,
    out: &Path,
    presets: &[crate::model::Preset],
) -> Result<crate::export::manifest::Manifest> {
    use crate::export::{float_onnx, manifest};

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut m = manifest::Manifest {
        dataset: data.files.iter().map(|f| (f.name.clone(), f.sha256.clone())).collect(),
        ..Default::default()
    };
    for &preset in presets {
        let dir = runs.join(preset.name());
        if !RunPaths::new(&dir).state().exists() {
            anyhow::bail!("{} has no trained run: run `cargo run -p host-trainer --release` first", dir.display());
        }
        let run = eval_existing(data, &dir, Checkpoint::Best)?;
        let bpk_name = format!("{}.bpk", preset.name());
        let bpk = std::fs::read(RunPaths::new(&dir).best_model())?;
        training::write_atomic(&out.join(&bpk_name), &bpk)?;
        // Writes <preset>.onnx (the float model the compiler took) beside the int8 files.
        let q = quantize(data, &run, &QuantizeOptions::default(), out)?;
        let onnx_name = format!("{}.onnx", preset.name());
        let mut acc = std::collections::BTreeMap::new();
        acc.insert("burn".to_string(), run.test.accuracy);
        acc.insert("infer-core-int8".to_string(), q.int8_accuracy());
        m.models.insert(
            preset.name().to_string(),
            manifest::ModelEntry {
                preset: preset.name().to_string(),
                params: run.test.params,
                macs: run.test.macs,
                seed: run.state.config.seed,
                epochs: run.state.history.len(),
                epoch: run.test.epoch,
                command: PUBLISH_COMMAND.to_string(),
                burn: manifest::Artifact::of(out, &bpk_name)?,
                onnx: manifest::Artifact::of(out, &onnx_name)?,
                onnx_int8: manifest::Artifact::of(out, &format!("{}.int8.onnx", preset.name()))?,
                blob: manifest::Artifact::of(out, &format!("{}.ic8", preset.name()))?,
                io: (float_onnx::INPUT.to_string(), float_onnx::OUTPUT.to_string()),
                test_accuracy: acc,
                arena_bytes: q.compile.arena_bytes,
                calibration: format!("{:?}", q.compile.method),
            },
        );
        eprintln!("published {} -> {}", preset, out.display());
    }
    m.write(out)?;
    Ok(m)
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
    training::write_atomic(&out.join("images.bin"), &subset.pixels)?;
    training::write_atomic(&out.join("labels.bin"), &subset.labels)?;
    let text: String = picked.iter().map(|i| format!("{i}\n")).collect();
    training::write_atomic(&out.join("indices.txt"), text.as_bytes())?;
    Ok(picked)
}

/// What a committee scored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitteeResult {
    /// Member run directories.
    pub members: Vec<String>,
    /// Member test accuracies.
    pub member_accuracy: Vec<f64>,
    /// Member weights.
    pub weights: Vec<f64>,
    /// How the weights were chosen.
    pub weighting: crate::committee::Weighting,
    /// Whether each member also saw the mirrored test images (flip test-time augmentation);
    /// member accuracies are then those of the two views averaged.
    pub mirror_tta: bool,
    /// Committee test accuracy.
    pub accuracy: f64,
    /// Classification report of the committee.
    pub report: crate::metrics::ClassificationReport,
    /// Confusion matrix of the committee.
    pub confusion: crate::metrics::Confusion,
}

/// Evaluates each run's best checkpoint on the test set and combines their probabilities;
/// writes `committee.md` and `committee.json` into `out`. With `mirror_tta`, each member's
/// probabilities are the mean of those for the test images and for their mirror images.
pub fn committee(
    data: &FashionMnist,
    runs: &[PathBuf],
    weighting: crate::committee::Weighting,
    mirror_tta: bool,
    out: &Path,
) -> Result<CommitteeResult> {
    use crate::committee::{Weighting, combine, predictions, softmax_rows};
    if runs.is_empty() {
        anyhow::bail!("a committee needs at least one run directory");
    }
    let mirrored = if mirror_tta { Some(data.test.mirrored()) } else { None };
    let (mut probs, mut weights, mut member_accuracy) = (Vec::new(), Vec::new(), Vec::new());
    for dir in runs {
        let state = training::read_state(&RunPaths::new(dir))?;
        let test = evaluate_run(dir, &state, Checkpoint::Best, &data.test)?;
        let mut p = softmax_rows(&test.logits);
        if let Some(m) = &mirrored {
            let flipped = evaluate_run(dir, &state, Checkpoint::Best, m)?;
            p = combine(&[p, softmax_rows(&flipped.logits)], &[1.0, 1.0]);
        }
        let val_acc = state.best().map_or(0.0, |r| r.val_acc);
        weights.push(match weighting {
            Weighting::Mean => 1.0,
            Weighting::ValAccuracy => val_acc,
        });
        member_accuracy.push(crate::metrics::Confusion::new(&data.test.labels, &predictions(&p)).accuracy());
        probs.push(p);
    }
    let preds = predictions(&combine(&probs, &weights));
    let confusion = crate::metrics::Confusion::new(&data.test.labels, &preds);
    let r = CommitteeResult {
        members: runs.iter().map(|p| p.display().to_string()).collect(),
        member_accuracy,
        weights,
        weighting,
        mirror_tta,
        accuracy: confusion.accuracy(),
        report: confusion.report(),
        confusion,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let views = if mirror_tta { ", each member also shown the mirrored images" } else { "" };
    let mut md =
        format!("# Committee ({weighting:?}{views})\n\n| member | weight | test accuracy |\n|---|---:|---:|\n");
    for ((m, w), a) in r.members.iter().zip(&r.weights).zip(&r.member_accuracy) {
        md.push_str(&format!("| {m} | {w:.4} | {:.2}% |\n", 100.0 * a));
    }
    md.push_str(&format!(
        "\nCommittee test accuracy: **{:.2}%**, macro F1 {:.4}.\n",
        100.0 * r.accuracy,
        r.report.macro_avg.f1
    ));
    training::write_atomic(&out.join("committee.md"), md.as_bytes())?;
    training::write_atomic(&out.join("committee.json"), serde_json::to_string_pretty(&r)?.as_bytes())?;
    Ok(r)
}
