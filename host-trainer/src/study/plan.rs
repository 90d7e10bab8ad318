//! The study's runs: which models with which recipes, which seeds, where each run lives, and
//! which share of them a shard trains.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::config::TrainConfig;
use crate::data::augment::Augment;
use crate::model::Preset;
use crate::optimizer::{OptimizerKind, Schedule};

/// The first seed; a study of N seeds uses `FIRST_SEED..FIRST_SEED + N` (42 is the default
/// job's, so the baselines' first runs are the published models).
pub const FIRST_SEED: u64 = 42;

/// A study's shape: how many seeds, and the reduced `--quick` version for CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StudySpec {
    /// Seeds per model.
    pub seeds: usize,
    /// One epoch on 1,000 training images (500 validation), evaluated on 1,000 test images.
    pub quick: bool,
}

impl StudySpec {
    /// Test images the study evaluates on (all 10,000; the first 1,000 when quick).
    pub fn test_images(&self) -> usize {
        if self.quick { 1000 } else { 10_000 }
    }
    /// Calibration images of each run's int8 model.
    pub fn calibration_images(&self) -> usize {
        if self.quick { 200 } else { 2000 }
    }
}

/// One run of the study.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRun {
    /// The model (preset) and its recipe.
    pub config: TrainConfig,
    /// `<out>/<preset>/seed-<seed>`.
    pub dir: PathBuf,
}

/// The README's recipe for `preset` (AdamW with weight decay 0.01, label smoothing 0.1, a cosine
/// schedule, flips and shifts for the improved models; the defaults for the baselines).
pub fn recipe(preset: Preset, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::for_preset(preset);
    c.seed = seed;
    let improved = |c: &mut TrainConfig, epochs: usize, shift: i32| {
        c.epochs = epochs;
        c.augment = Augment { flip: true, shift, ..Augment::default() };
        c.optimizer = OptimizerKind::AdamW;
        c.weight_decay = 0.01;
        c.label_smoothing = 0.1;
        c.schedule = Schedule::Cosine { min_lr: 1e-5 };
    };
    match preset {
        Preset::MlpImproved => improved(&mut c, 50, 1),
        Preset::CnnEdge => improved(&mut c, 22, 2),
        Preset::CnnImproved => improved(&mut c, 15, 2),
        _ => {}
    }
    c
}

/// The models of the study, in the order they are reported.
pub const MODELS: [Preset; 5] =
    [Preset::Mlp128x64, Preset::MlpImproved, Preset::CnnBaseline, Preset::CnnImproved, Preset::CnnEdge];

/// Every run of `spec` under `out`, seed-major (a study cut short has every model at the first
/// seeds), with the quick reduction applied.
pub fn runs(spec: StudySpec, out: &Path) -> Vec<StudyRun> {
    let mut v = Vec::new();
    for s in 0..spec.seeds as u64 {
        let seed = FIRST_SEED + s;
        for preset in MODELS {
            let mut config = recipe(preset, seed);
            if spec.quick {
                config.epochs = 1;
                config.train_limit = Some(1000);
                config.val_size = 500;
            }
            let dir = out.join(preset.name()).join(format!("seed-{seed}"));
            v.push(StudyRun { config, dir });
        }
    }
    v
}

/// `K/N` (1-based): this shard takes every run whose index is `K − 1` modulo `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number.
    pub k: usize,
    /// Number of shards.
    pub n: usize,
}

impl Shard {
    /// All runs.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    /// Parses `K/N`.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((k, n)) = s.split_once('/') else { bail!("--shard {s}: expected K/N, e.g. 2/4") };
        let (Ok(k), Ok(n)) = (k.trim().parse::<usize>(), n.trim().parse::<usize>()) else {
            bail!("--shard {s}: expected K/N with whole numbers, e.g. 2/4")
        };
        if n == 0 || k == 0 || k > n {
            bail!("--shard {s}: K must be from 1 to N and N at least 1");
        }
        Ok(Shard { k, n })
    }

    /// Whether run `index` is this shard's.
    pub fn takes(&self, index: usize) -> bool {
        index % self.n == self.k - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_runs_without_overlap() {
        let runs = runs(StudySpec { seeds: 3, quick: false }, Path::new("runs/study"));
        assert_eq!(runs.len(), 15);
        assert_eq!(runs[0].dir, Path::new("runs/study/mlp-128-64/seed-42"));
        assert_eq!(runs[14].dir, Path::new("runs/study/cnn-edge/seed-44"));
        for n in 1..=4 {
            let mut seen = vec![0; runs.len()];
            for k in 1..=n {
                let s = Shard::parse(&format!("{k}/{n}")).unwrap();
                for (i, c) in seen.iter_mut().enumerate() {
                    *c += usize::from(s.takes(i));
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{n} shards: {seen:?}");
        }
        for bad in ["0/2", "3/2", "1/0", "x", "1-2", "a/b"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    /// The recipes are the README's commands (and the runs of a study already started).
    #[test]
    fn recipes_are_the_readme_commands() {
        let line = recipe(Preset::CnnEdge, 43).command(Path::new("d"));
        assert!(
            line.ends_with("train --preset cnn-edge --seed 43 --flip --shift 2 --optimizer adamw --weight-decay 0.01 --label-smoothing 0.1 --schedule cosine --run-dir d"),
            "{line}"
        );
        let line = recipe(Preset::CnnBaseline, 42).command(Path::new("d"));
        assert!(line.ends_with("train --preset cnn-baseline --seed 42 --run-dir d"), "{line}");
    }
}
