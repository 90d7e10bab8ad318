//! The study's merge: the finished runs into per-model tables (mean ± std over seeds), the
//! studies' claims with paired bootstrap intervals over the test images, the seed committees,
//! the similar-class confusions with their spread; `study.md`, `study.json`, `accuracy.png`.
//!
//! Every claim compares two things on the same test images. Its figure is the difference of
//! the seed-averaged accuracies; its interval is the 95% bootstrap interval of that difference
//! over the test images (the uncertainty of a finite test set); the per-seed differences
//! (seed s of one against seed s of the other: the same split) show the spread from training.
//! The verdict says "beats" only when the interval excludes zero and every seed agrees.

use anyhow::{Result, bail};
use serde::Serialize;

use crate::committee::{combine, predictions, softmax_rows};
use crate::metrics::argmax;
use crate::model::Preset;

use super::plan::{MODELS, StudySpec};
use super::run::FinishedRun;
use super::stats::{bootstrap_mean, mean, std};

/// A value over seeds: mean, sample standard deviation, min, max, and the values.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub std: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// One value per seed, in seed order.
    pub values: Vec<f64>,
}

impl Spread {
    /// The spread of `values`.
    pub fn of(values: Vec<f64>) -> Self {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self { mean: mean(&values), std: std(&values), min, max, values }
    }
    /// `mean ± std` scaled, with `prec` decimals (a sign when `signed`); one value has no spread,
    /// so it is shown alone.
    fn show(&self, scale: f64, prec: usize, signed: bool) -> String {
        let mean =
            if signed { format!("{:+.prec$}", scale * self.mean) } else { format!("{:.prec$}", scale * self.mean) };
        if self.values.len() < 2 { mean } else { format!("{mean} ± {:.prec$}", scale * self.std) }
    }
    /// In percent, two decimals: `88.59 ± 0.10`, or `90.40` for one seed.
    pub fn pct(&self) -> String {
        self.show(100.0, 2, false)
    }
    fn pct_range(&self) -> String {
        format!("{:.2} – {:.2}", 100.0 * self.min, 100.0 * self.max)
    }
}

/// One model of the study over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// The preset.
    pub model: String,
    /// Seeds merged.
    pub seeds: Vec<u64>,
    /// The command of its first seed's run (the others differ only in `--seed` and `--run-dir`).
    pub command: String,
    /// Float test accuracy.
    pub test_acc: Spread,
    /// int8 (infer-core) test accuracy.
    pub int8_acc: Spread,
    /// int8 minus float accuracy.
    pub int8_delta: Spread,
    /// Macro F1.
    pub macro_f1: Spread,
    /// Validation accuracy of the evaluated checkpoint.
    pub val_acc: Spread,
    /// Parameters.
    pub params: usize,
    /// Multiply-accumulates per image.
    pub macs: usize,
    /// Seconds per training epoch on the machines that trained it.
    pub seconds_per_epoch: Spread,
    /// Epochs trained.
    pub epochs: usize,
}

/// A comparison on the same test images.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    /// What the studies say.
    pub claim: String,
    /// What is compared, "A − B".
    pub comparison: String,
    /// Mean difference in accuracy (A − B), fraction.
    pub difference: f64,
    /// 95% bootstrap interval over the test images.
    pub interval: (f64, f64),
    /// Per-seed differences (A's seed s − B's seed s), where both sides have seeds.
    pub per_seed: Vec<f64>,
    /// What the evidence allows to say.
    pub verdict: String,
}

/// A committee of one model's seeds.
#[derive(Debug, Clone, Serialize)]
pub struct CommitteeRow {
    /// The committee's name.
    pub name: String,
    /// Member runs.
    pub members: Vec<String>,
    /// Its test accuracy.
    pub accuracy: f64,
    /// Mean member accuracy.
    pub mean_member: f64,
    /// Best member accuracy.
    pub best_member: f64,
}

/// A similar-class confusion for each model, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ConfusionRow {
    /// "Shirt -> T-shirt/top".
    pub pair: String,
    /// Per model (in [`MODELS`] order): the count over seeds.
    pub counts: Vec<(String, Spread)>,
}

/// The merged study.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    /// The command that trains and merges it.
    pub command: String,
    /// Seeds per model asked for.
    pub seeds: usize,
    /// Whether it is the reduced CI version.
    pub quick: bool,
    /// Test images of every run.
    pub test_images: usize,
    /// Runs asked for and runs merged.
    pub runs_expected: usize,
    /// Runs merged.
    pub runs_merged: usize,
    /// Runs missing (a partial merge).
    pub missing: Vec<String>,
    /// Machines the runs were evaluated on.
    pub machines: Vec<String>,
    /// Commits the runs were evaluated at.
    pub commits: Vec<String>,
    /// Training wall seconds over all runs.
    pub train_seconds: f64,
    /// Evaluation and quantization wall seconds over all runs.
    pub eval_seconds: f64,
    /// Per model.
    pub models: Vec<ModelRow>,
    /// The studies' claims.
    pub claims: Vec<Claim>,
    /// Committees of each model's seeds and of all improved-recipe CNN runs.
    pub committees: Vec<CommitteeRow>,
    /// Similar-class confusions.
    pub confusions: Vec<ConfusionRow>,
}

/// Per-image correctness of `predictions` against `labels` as 0/1.
fn correct(predictions: &[u8], labels: &[u8]) -> Vec<f64> {
    predictions.iter().zip(labels).map(|(p, l)| f64::from(p == l)).collect()
}

fn float_predictions(r: &FinishedRun) -> Vec<u8> {
    r.logits.chunks(10).map(|row| argmax(row) as u8).collect()
}

/// Per-image accuracy averaged over a group's runs.
fn seed_mean(runs: &[Vec<f64>]) -> Vec<f64> {
    let n = runs.first().map_or(0, Vec::len);
    (0..n).map(|i| runs.iter().map(|r| r[i]).sum::<f64>() / runs.len() as f64).collect()
}

fn verdict(diff: f64, lo: f64, hi: f64, per_seed: &[f64], a: &str, b: &str) -> String {
    let all_pos = per_seed.iter().all(|&d| d > 0.0);
    let all_neg = per_seed.iter().all(|&d| d < 0.0);
    if lo > 0.0 && all_pos {
        format!("{a} beats {b} by {:.2} pp", 100.0 * diff)
    } else if hi < 0.0 && all_neg {
        format!("{b} beats {a} by {:.2} pp", -100.0 * diff)
    } else if lo > 0.0 || hi < 0.0 {
        format!("{} ahead on average, but not on every seed", if diff > 0.0 { a } else { b })
    } else {
        "no difference this test set can resolve".to_string()
    }
}

/// Claim that `a` beats `b`: `a` and `b` are per-run per-image correctness, paired by seed.
fn claim(text: &str, a_name: &str, b_name: &str, a: &[Vec<f64>], b: &[Vec<f64>], seed: u64) -> Claim {
    let (ma, mb) = (seed_mean(a), seed_mean(b));
    let d: Vec<f64> = ma.iter().zip(&mb).map(|(x, y)| x - y).collect();
    let (diff, lo, hi) = bootstrap_mean(&d, seed);
    let per_seed: Vec<f64> = a.iter().zip(b).map(|(x, y)| mean(x) - mean(y)).collect();
    Claim {
        claim: text.to_string(),
        comparison: format!("{a_name} − {b_name}"),
        difference: diff,
        interval: (lo, hi),
        verdict: verdict(diff, lo, hi, &per_seed, a_name, b_name),
        per_seed,
    }
}

/// The runs of one model, in seed order.
fn of_model(runs: &[FinishedRun], p: Preset) -> Vec<&FinishedRun> {
    let mut v: Vec<&FinishedRun> = runs.iter().filter(|r| r.record.config.preset == p).collect();
    v.sort_by_key(|r| r.record.config.seed);
    v
}

/// A committee of `members` by the rule fixed before the test set is seen: every member's
/// softmax probabilities averaged with equal weights.
fn committee_row(name: &str, members: &[&FinishedRun], labels: &[u8]) -> (CommitteeRow, Vec<f64>) {
    let probs: Vec<Vec<f64>> = members.iter().map(|r| softmax_rows(&r.logits)).collect();
    let pred = predictions(&combine(&probs, &vec![1.0; probs.len()]));
    let c = correct(&pred, labels);
    let accs: Vec<f64> = members.iter().map(|r| mean(&correct(&float_predictions(r), labels))).collect();
    let row = CommitteeRow {
        name: name.to_string(),
        members: members.iter().map(|r| r.dir.display().to_string()).collect(),
        accuracy: mean(&c),
        mean_member: mean(&accs),
        best_member: accs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    (row, c)
}

/// Merges `runs` (finished runs of `spec`; `missing` names those that are not) over the test
/// `labels` (the first `spec.test_images()`).
pub fn merge(
    spec: StudySpec,
    runs: &[FinishedRun],
    missing: Vec<String>,
    labels: &[u8],
    command: &str,
) -> Result<Study> {
    if runs.is_empty() {
        bail!("no finished run to merge");
    }
    for r in runs {
        if r.record.test_images != labels.len() || r.int8_predictions.len() != labels.len() {
            bail!(
                "{} was evaluated on {} test images, the study on {}",
                r.dir.display(),
                r.record.test_images,
                labels.len()
            );
        }
    }
    let mut models = Vec::new();
    let mut f32_correct: Vec<(Preset, Vec<u64>, Vec<Vec<f64>>)> = Vec::new();
    let mut int8_correct: Vec<(Preset, Vec<Vec<f64>>)> = Vec::new();
    for p in MODELS {
        let rs = of_model(runs, p);
        let Some(first) = rs.first() else { continue };
        let s = |f: fn(&FinishedRun) -> f64| Spread::of(rs.iter().map(|r| f(r)).collect());
        models.push(ModelRow {
            model: p.name().to_string(),
            seeds: rs.iter().map(|r| r.record.config.seed).collect(),
            command: first.record.command.clone(),
            test_acc: s(|r| r.record.test_acc),
            int8_acc: s(|r| r.record.int8_acc),
            int8_delta: s(|r| r.record.int8_acc - r.record.test_acc),
            macro_f1: s(|r| r.record.macro_f1),
            val_acc: s(|r| r.record.val_acc),
            params: first.record.params,
            macs: first.record.macs,
            seconds_per_epoch: s(|r| r.record.seconds_per_epoch),
            epochs: first.record.config.epochs,
        });
        f32_correct.push((
            p,
            rs.iter().map(|r| r.record.config.seed).collect(),
            rs.iter().map(|r| correct(&float_predictions(r), labels)).collect(),
        ));
        int8_correct.push((p, rs.iter().map(|r| correct(&r.int8_predictions, labels)).collect()));
    }

    let get = |p: Preset| f32_correct.iter().find(|(q, _, _)| *q == p);
    let mut claims = Vec::new();
    let mut add = |text: &str, a: Preset, b: Preset| {
        if let (Some((_, sa, ca)), Some((_, sb, cb))) = (get(a), get(b)) {
            // Pair by seed: keep the seeds both have.
            let both: Vec<u64> = sa.iter().copied().filter(|s| sb.contains(s)).collect();
            let pick = |s: &[u64], c: &[Vec<f64>]| -> Vec<Vec<f64>> {
                both.iter().filter_map(|x| s.iter().position(|y| y == x).map(|i| c[i].clone())).collect()
            };
            if !both.is_empty() {
                claims.push(claim(text, a.name(), b.name(), &pick(sa, ca), &pick(sb, cb), 7 + claims.len() as u64));
            }
        }
    };
    add("A CNN beats an MLP (the baselines)", Preset::CnnBaseline, Preset::Mlp128x64);
    add("A CNN beats an MLP (both improved)", Preset::CnnImproved, Preset::MlpImproved);
    add(
        "Batch norm, dropout, augmentation and a schedule improve the CNN (cnn-improved's recipe over the baseline CNN)",
        Preset::CnnImproved,
        Preset::CnnBaseline,
    );
    add(
        "The same improve the MLP (mlp-improved's recipe over the baseline MLP)",
        Preset::MlpImproved,
        Preset::Mlp128x64,
    );
    add(
        "The microcontroller CNN keeps the improved CNN's accuracy (cnn-edge vs cnn-improved)",
        Preset::CnnEdge,
        Preset::CnnImproved,
    );
    add("The microcontroller CNN beats the baseline CNN", Preset::CnnEdge, Preset::CnnBaseline);
    // int8 against float, per model, run by run.
    for ((p, _, f), (_, i)) in f32_correct.iter().zip(&int8_correct) {
        let seed = 100 + claims.len() as u64;
        let mut c = claim(&format!("int8 keeps {}'s accuracy", p.name()), "int8", "f32", i, f, seed);
        c.comparison = format!("{} int8 − f32", p.name());
        claims.push(c);
    }

    // Committees: each model's seeds, and every improved-recipe CNN run (rule fixed before any
    // run was evaluated: all seeds, equal weights).
    let mut committees = Vec::new();
    let mut groups: Vec<(String, Vec<&FinishedRun>)> = MODELS
        .iter()
        .map(|&p| (format!("{} × {} seeds", p.name(), of_model(runs, p).len()), of_model(runs, p)))
        .filter(|(_, v)| v.len() >= 2)
        .collect();
    let recipe_cnns: Vec<&FinishedRun> =
        [Preset::CnnImproved, Preset::CnnEdge].iter().flat_map(|&p| of_model(runs, p)).collect();
    if recipe_cnns.len() >= 2 {
        groups.push((format!("cnn-improved + cnn-edge ({} runs)", recipe_cnns.len()), recipe_cnns));
    }
    for (name, members) in &groups {
        let (row, c) = committee_row(name, members, labels);
        let member_correct: Vec<Vec<f64>> = members.iter().map(|r| correct(&float_predictions(r), labels)).collect();
        let mean_member = seed_mean(&member_correct);
        let d: Vec<f64> = c.iter().zip(&mean_member).map(|(x, y)| x - y).collect();
        let (diff, lo, hi) = bootstrap_mean(&d, 1000 + committees.len() as u64);
        let per_member: Vec<f64> = member_correct.iter().map(|m| mean(&c) - mean(m)).collect();
        claims.push(Claim {
            claim: format!("A committee beats its members ({name})"),
            comparison: "committee − mean member".into(),
            difference: diff,
            interval: (lo, hi),
            verdict: verdict(diff, lo, hi, &per_member, "the committee", "its members"),
            per_seed: per_member,
        });
        committees.push(row);
    }

    let confusions = crate::metrics::SIMILAR_PAIRS
        .iter()
        .enumerate()
        .map(|(k, _)| {
            let mut pair = String::new();
            let counts = MODELS
                .iter()
                .filter_map(|&p| {
                    let rs = of_model(runs, p);
                    let first = rs.first()?;
                    pair = first.record.similar_pairs.get(k).map(|(n, _)| n.clone()).unwrap_or_default();
                    let v =
                        rs.iter().map(|r| r.record.similar_pairs.get(k).map_or(f64::NAN, |(_, c)| *c as f64)).collect();
                    Some((p.name().to_string(), Spread::of(v)))
                })
                .collect();
            ConfusionRow { pair, counts }
        })
        .collect();

    let mut machines: Vec<String> = runs.iter().map(|r| r.record.machine.clone()).collect();
    machines.sort();
    machines.dedup();
    let mut commits: Vec<String> = runs.iter().filter_map(|r| r.record.commit.clone()).collect();
    commits.sort();
    commits.dedup();
    Ok(Study {
        command: command.to_string(),
        seeds: spec.seeds,
        quick: spec.quick,
        test_images: labels.len(),
        runs_expected: runs.len() + missing.len(),
        runs_merged: runs.len(),
        missing,
        machines,
        commits,
        train_seconds: runs.iter().map(|r| r.record.train_seconds).sum(),
        eval_seconds: runs.iter().map(|r| r.record.eval_seconds).sum(),
        models,
        claims,
        committees,
        confusions,
    })
}

fn pp(x: f64) -> String {
    format!("{:+.2}", 100.0 * x)
}

fn hms(s: f64) -> String {
    let s = s.round() as u64;
    if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// The study as markdown.
pub fn markdown(s: &Study) -> String {
    let mut md = String::new();
    let quick = if s.quick { " (quick: 1 epoch on 1,000 training images — a smoke test, not a result)" } else { "" };
    md.push_str(&format!("# The study: {} seeds per model{quick}\n\n", s.seeds));
    md.push_str(&format!("Command: `{}`\n\n", s.command));
    md.push_str(&format!(
        "{} of {} runs merged, on the first {} test images. Training {} wall (summed over runs), evaluation and int8 compilation {}. Evaluated at commit {}, on {}.\n\n",
        s.runs_merged,
        s.runs_expected,
        s.test_images,
        hms(s.train_seconds),
        hms(s.eval_seconds),
        if s.commits.is_empty() { "unknown".to_string() } else { s.commits.join(", ") },
        s.machines.join("; "),
    ));
    if !s.missing.is_empty() {
        md.push_str(&format!("Missing (partial merge): {}\n\n", s.missing.join(", ")));
    }
    md.push_str("Seeds 42, 43, … drive initialisation, shuffling, dropout, augmentation and the 54,000/6,000 train/validation split. Accuracies are mean ± sample standard deviation over the seeds, then min – max; int8 is infer-core on the blob the compiler made of each run.\n\n");
    md.push_str("| model | seeds | f32 test acc (%) | min – max | int8 test acc (%) | int8 − f32 (pp) | macro F1 | params | MACs | epochs | s/epoch |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for m in &s.models {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |\n",
            m.model,
            m.seeds.len(),
            m.test_acc.pct(),
            m.test_acc.pct_range(),
            m.int8_acc.pct(),
            m.int8_delta.show(100.0, 2, true),
            m.macro_f1.show(1.0, 4, false),
            thousands(m.params),
            thousands(m.macs),
            m.epochs,
            m.seconds_per_epoch.mean,
        ));
    }
    md.push_str("\nEach model's command (seed 42; the other seeds change `--seed` and the run directory):\n\n");
    for m in &s.models {
        md.push_str(&format!("- `{}`\n", m.command));
    }
    md.push_str("\n## The studies' claims\n\n");
    md.push_str("Difference of the seed-averaged accuracies on the same test images; 95% bootstrap interval over the test images (2,000 seeded resamples); per-seed differences pair the runs that share a seed (and so a split). \"Beats\" only when the interval excludes zero and every seed agrees.\n\n");
    md.push_str("| claim | comparison | difference (pp) | 95% interval (pp) | per seed (pp) | verdict |\n|---|---|---:|---:|---|---|\n");
    for c in &s.claims {
        md.push_str(&format!(
            "| {} | {} | {} | [{}, {}] | {} | {} |\n",
            c.claim,
            c.comparison,
            pp(c.difference),
            pp(c.interval.0),
            pp(c.interval.1),
            c.per_seed.iter().map(|d| pp(*d)).collect::<Vec<_>>().join(", "),
            c.verdict
        ));
    }
    md.push_str("\n## Committees\n\nRule fixed before any run was evaluated: all runs of a model (and all runs of the improved recipe's CNNs), softmax probabilities averaged with equal weights; no member is chosen by a score.\n\n");
    md.push_str(
        "| committee | members | test acc (%) | mean member (%) | best member (%) |\n|---|---:|---:|---:|---:|\n",
    );
    for c in &s.committees {
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} |\n",
            c.name,
            c.members.len(),
            100.0 * c.accuracy,
            100.0 * c.mean_member,
            100.0 * c.best_member
        ));
    }
    md.push_str("\n## Similar-class confusions (test images, mean ± std over seeds)\n\n| true -> predicted |");
    let names: Vec<String> = s.models.iter().map(|m| m.model.clone()).collect();
    for n in &names {
        md.push_str(&format!(" {n} |"));
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(names.len()));
    md.push('\n');
    for r in &s.confusions {
        md.push_str(&format!("| {} |", r.pair));
        for (_, sp) in &r.counts {
            md.push_str(&format!(" {} |", sp.show(1.0, 1, false)));
        }
        md.push('\n');
    }
    md.push_str("\n![accuracy per model](accuracy.png)\n");
    md
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
