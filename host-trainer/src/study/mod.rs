//! `host-trainer study`: the studies' comparison set (the baseline and improved MLP, the
//! baseline and improved CNN, `cnn-edge`, each with its README recipe) over several seeds
//! (the seed also drives the train/validation split), every run resumable, shardable
//! (`--shard K/N`: any scheduler's array jobs or several machines can train the shares), and
//! merged (`--merge`) into `study.md`, `study.json` and a plot: each model's accuracy with its
//! spread, and the studies' claims with paired bootstrap intervals over the test images.

pub mod plan;
pub mod plot;
pub mod report;
pub mod run;
pub mod stats;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::data::FashionMnist;
use plan::{Shard, StudySpec};
use run::FinishedRun;

/// Trains, evaluates and records this shard's runs of `spec` under `out`, in plan order.
/// Returns the runs it finished.
pub fn train_shard(
    data: &FashionMnist,
    spec: StudySpec,
    shard: Shard,
    out: &Path,
    quiet: bool,
) -> Result<Vec<FinishedRun>> {
    let data = run::study_data(data, spec);
    let all = plan::runs(spec, out);
    let mine: Vec<_> = all.iter().enumerate().filter(|(i, _)| shard.takes(*i)).map(|(_, r)| r).collect();
    let mut done = Vec::new();
    for (k, r) in mine.iter().enumerate() {
        if !quiet {
            eprintln!(
                "study run {}/{} of shard {}/{}: {}",
                k + 1,
                mine.len(),
                shard.k,
                shard.n,
                r.config.command(&r.dir)
            );
        }
        done.push(run::carry_out(&data, r, spec, quiet)?);
    }
    Ok(done)
}

/// Finds every run of `spec` in `roots` (the study's layout under each: `<root>/<model>/seed-<s>`;
/// the first root that holds a finished run wins) and merges them. Without `partial`, a missing
/// run is an error that names every missing one.
pub fn merge(
    data: &FashionMnist,
    spec: StudySpec,
    roots: &[PathBuf],
    partial: bool,
    command: &str,
) -> Result<report::Study> {
    let data = run::study_data(data, spec);
    let Some(first) = roots.first() else { bail!("no study folder to merge") };
    let mut finished = Vec::new();
    let mut missing = Vec::new();
    for r in plan::runs(spec, first) {
        let rel = r.dir.strip_prefix(first).unwrap_or(&r.dir).to_path_buf();
        let mut found = None;
        for root in roots {
            if let Some(f) = run::load_finished(&root.join(&rel), &r.config, spec)? {
                found = Some(f);
                break;
            }
        }
        match found {
            Some(f) => finished.push(f),
            None => missing.push(rel.display().to_string()),
        }
    }
    if !missing.is_empty() && !partial {
        bail!(
            "{} of {} runs are not finished in {}: {} (train them with the same command without --merge, or merge what there is with --partial)",
            missing.len(),
            missing.len() + finished.len(),
            roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", "),
            missing.join(", ")
        );
    }
    report::merge(spec, &finished, missing, &data.test.labels, command)
}

/// Writes `study.md`, `study.json` and `accuracy.png` into `dir`.
pub fn write(s: &report::Study, dir: &Path) -> Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::run_dir::write_atomic(&dir.join("study.md"), report::markdown(s).as_bytes())?;
    crate::run_dir::write_atomic(&dir.join("study.json"), serde_json::to_string_pretty(s)?.as_bytes())?;
    plot::accuracy(s, &dir.join("accuracy.png"))
}
