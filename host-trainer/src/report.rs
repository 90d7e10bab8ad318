//! Per-run `report.md` (for people) and `report.json` (for programs), and the summary over
//! several runs.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::config::TrainConfig;
use crate::data::CLASS_NAMES;
use crate::data::dataset::FileInfo;
use crate::evaluation::TestResult;
use crate::run_dir::{RunState, write_atomic};

/// The machine-readable report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport<'a> {
    /// Run directory name.
    pub run: String,
    /// Training configuration (preset, epochs, batch, lr, seed, backend, split).
    pub config: &'a TrainConfig,
    /// Epochs trained.
    pub epochs_trained: usize,
    /// Total training wall seconds.
    pub train_seconds: f64,
    /// Mean seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Best epoch by validation loss.
    pub best_epoch: usize,
    /// Validation accuracy of the evaluated checkpoint's epoch.
    pub val_acc: f64,
    /// Test-set results.
    pub test: &'a TestResult,
    /// Dataset files and their checksums.
    pub dataset: &'a [FileInfo],
    /// Pictures written beside the report.
    pub pictures: Vec<String>,
}

impl<'a> RunReport<'a> {
    /// Assembles the report of a run.
    pub fn new(
        run: &str,
        state: &'a RunState,
        test: &'a TestResult,
        dataset: &'a [FileInfo],
        pictures: Vec<String>,
    ) -> Self {
        let n = state.history.len().max(1) as f64;
        let val_acc = state.history.iter().find(|r| r.epoch == test.epoch).map_or(0.0, |r| r.val_acc);
        Self {
            run: run.to_string(),
            config: &state.config,
            epochs_trained: state.history.len(),
            train_seconds: state.train_seconds(),
            seconds_per_epoch: state.train_seconds() / n,
            best_epoch: state.best_epoch,
            val_acc,
            test,
            dataset,
            pictures,
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// Renders the human report.
pub fn markdown(r: &RunReport, state: &RunState) -> String {
    let t = r.test;
    let c = r.config;
    let mut s = String::new();
    let _ = writeln!(s, "# {}: {}\n", r.run, c.preset);
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| test accuracy | **{}** |", pct(t.accuracy));
    let _ = writeln!(s, "| test loss | {:.4} |", t.loss);
    let _ = writeln!(s, "| macro F1 | {:.4} |", t.report.macro_avg.f1);
    let _ = writeln!(s, "| validation accuracy (epoch {}) | {} |", t.epoch, pct(r.val_acc));
    let _ = writeln!(s, "| checkpoint | {:?} (epoch {}; best by val loss: {}) |", t.checkpoint, t.epoch, r.best_epoch);
    let _ = writeln!(s, "| parameters | {} |", t.params);
    let _ = writeln!(s, "| MACs / image | {} |", t.macs);
    let _ = writeln!(s, "| epochs | {} |", r.epochs_trained);
    let _ = writeln!(s, "| training time | {:.1} s ({:.2} s/epoch) |", r.train_seconds, r.seconds_per_epoch);
    let _ = writeln!(s, "| backend | {} |", c.backend);
    let _ = writeln!(
        s,
        "| optimizer | {:?}, lr {} ({:?}), batch {}, weight decay {}, label smoothing {}, early stopping {:?} |",
        c.optimizer, c.lr, c.schedule, c.batch_size, c.weight_decay, c.label_smoothing, c.early_stopping
    );
    let _ = writeln!(s, "| seed | {} |", c.seed);
    let a = c.augment;
    let aug = if a.is_active() {
        format!(
            "flip {}, rotate ±{}°, zoom ±{}, shift ±{} px, erase p {}",
            a.flip, a.rotate_deg, a.zoom, a.shift, a.erase
        )
    } else {
        "none".into()
    };
    let _ = writeln!(s, "| augmentation | {aug} |");
    let _ = writeln!(
        s,
        "| split | {} train / {} validation |",
        c.train_limit.map_or(60_000 - c.val_size, |l| l.min(60_000 - c.val_size)),
        c.val_size
    );

    let _ = writeln!(s, "\n## Classification report (test set)\n");
    let _ = writeln!(s, "| class | precision | recall | f1-score | support |\n|---|---:|---:|---:|---:|");
    for (name, sc) in &t.report.per_class {
        let _ = writeln!(s, "| {name} | {:.4} | {:.4} | {:.4} | {} |", sc.precision, sc.recall, sc.f1, sc.support);
    }
    let _ = writeln!(s, "| accuracy | | | {:.4} | {} |", t.report.accuracy, t.report.macro_avg.support);
    for (name, sc) in [("macro avg", &t.report.macro_avg), ("weighted avg", &t.report.weighted_avg)] {
        let _ = writeln!(s, "| {name} | {:.4} | {:.4} | {:.4} | {} |", sc.precision, sc.recall, sc.f1, sc.support);
    }

    let _ = writeln!(s, "\n## Confusion matrix (rows: true, columns: predicted)\n");
    let _ = write!(s, "| |");
    for (i, _) in CLASS_NAMES.iter().enumerate() {
        let _ = write!(s, " {i} |");
    }
    let _ = write!(s, "\n|---|");
    for _ in 0..10 {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    for (i, row) in t.confusion.matrix.iter().enumerate() {
        let _ = write!(s, "| {i} {} |", CLASS_NAMES[i]);
        for (j, v) in row.iter().enumerate() {
            if i == j {
                let _ = write!(s, " **{v}** |");
            } else {
                let _ = write!(s, " {v} |");
            }
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "\n## Confusions between similar classes\n\n| true -> predicted | count |\n|---|---:|");
    for (pair, n) in &t.similar_pairs {
        let _ = writeln!(s, "| {pair} | {n} |");
    }

    let _ = writeln!(s, "\n## Training history\n");
    let _ = writeln!(
        s,
        "| epoch | train loss | train acc | val loss | val acc | seconds |\n|---:|---:|---:|---:|---:|---:|"
    );
    for h in &state.history {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1} |",
            h.epoch, h.train_loss, h.train_acc, h.val_loss, h.val_acc, h.seconds
        );
    }

    if !r.pictures.is_empty() {
        let _ = writeln!(s, "\n## Pictures\n");
        for p in &r.pictures {
            let _ = writeln!(s, "![{p}]({p})");
        }
    }

    let _ = writeln!(s, "\n## Dataset\n\n| file | sha256 | copy |\n|---|---|---|");
    for f in r.dataset {
        let _ = writeln!(s, "| {} | `{}` | {} |", f.name, f.sha256, f.variant);
    }
    s
}

/// Writes `report.md` and `report.json` into `run_dir`.
pub fn write(run_dir: &Path, r: &RunReport, state: &RunState) -> Result<()> {
    write_atomic(&run_dir.join("report.md"), markdown(r, state).as_bytes())?;
    write_atomic(&run_dir.join("report.json"), serde_json::to_string_pretty(r)?.as_bytes())
}

/// One row of the summary over runs.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// Run name.
    pub run: String,
    /// Preset.
    pub preset: String,
    /// Parameters.
    pub params: usize,
    /// Epochs.
    pub epochs: usize,
    /// Training seconds.
    pub train_seconds: f64,
    /// Seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Test accuracy.
    pub test_acc: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Macro F1.
    pub macro_f1: f64,
    /// Backend.
    pub backend: String,
}

/// Renders the summary table.
pub fn summary_markdown(rows: &[SummaryRow]) -> String {
    let mut s = String::from(
        "| run | model | params | epochs | train time | s/epoch | val acc | test acc | test loss | macro F1 |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} s | {:.1} | {} | {} | {:.4} | {:.4} |",
            r.run,
            r.preset,
            r.params,
            r.epochs,
            r.train_seconds,
            r.seconds_per_epoch,
            pct(r.val_acc),
            pct(r.test_acc),
            r.test_loss,
            r.macro_f1
        );
    }
    s
}
