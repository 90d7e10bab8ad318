//! A committee of trained runs: the class probabilities (softmax of each run's logits) averaged
//! with equal weights or weighted by each run's validation accuracy (optionally each member
//! also on the mirrored images), then evaluated like a single model and reported.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::data::FashionMnist;
use crate::evaluation::{Checkpoint, evaluate_run};
use crate::metrics::{ClassificationReport, Confusion};
use crate::run_dir::{RunPaths, read_state, write_atomic};

/// How members are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Every member counts the same.
    #[default]
    Mean,
    /// Each member counts in proportion to its validation accuracy.
    ValAccuracy,
}

/// Softmax of each row of 10 logits.
pub fn softmax_rows(logits: &[f32]) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(10) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let e: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| v / sum));
    }
    out
}

/// Weighted average of the members' probabilities (`weights` need not sum to 1).
pub fn combine(probabilities: &[Vec<f64>], weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let n = probabilities.first().map_or(0, Vec::len);
    let mut out = vec![0.0; n];
    for (p, &w) in probabilities.iter().zip(weights) {
        for (o, &v) in out.iter_mut().zip(p) {
            *o += v * w / total;
        }
    }
    out
}

/// Index of the largest probability of each row of 10.
pub fn predictions(probabilities: &[f64]) -> Vec<u8> {
    probabilities
        .chunks(10)
        .map(|r| r.iter().enumerate().fold(0, |b, (i, &v)| if v > r[b] { i } else { b }) as u8)
        .collect()
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
    pub weighting: Weighting,
    /// Whether each member also saw the mirrored test images (flip test-time augmentation);
    /// member accuracies are then those of the two views averaged.
    pub mirror_tta: bool,
    /// Committee test accuracy.
    pub accuracy: f64,
    /// Classification report of the committee.
    pub report: ClassificationReport,
    /// Confusion matrix of the committee.
    pub confusion: Confusion,
}

/// Evaluates each run's best checkpoint on the test set and combines their probabilities;
/// writes `committee.md` and `committee.json` into `out`. With `mirror_tta`, each member's
/// probabilities are the mean of those for the test images and for their mirror images.
pub fn committee(
    data: &FashionMnist,
    runs: &[PathBuf],
    weighting: Weighting,
    mirror_tta: bool,
    out: &Path,
) -> Result<CommitteeResult> {
    if runs.is_empty() {
        anyhow::bail!("a committee needs at least one run directory");
    }
    let mirrored = if mirror_tta { Some(data.test.mirrored()) } else { None };
    let (mut probs, mut weights, mut member_accuracy) = (Vec::new(), Vec::new(), Vec::new());
    for dir in runs {
        let state = read_state(&RunPaths::new(dir))?;
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
        member_accuracy.push(Confusion::new(&data.test.labels, &predictions(&p)).accuracy());
        probs.push(p);
    }
    let preds = predictions(&combine(&probs, &weights));
    let confusion = Confusion::new(&data.test.labels, &preds);
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
    write_atomic(&out.join("committee.md"), md.as_bytes())?;
    write_atomic(&out.join("committee.json"), serde_json::to_string_pretty(&r)?.as_bytes())?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committee_math_by_hand() {
        // Two members, two images (10 classes each; only the first three carry mass).
        let mut a = vec![0.0; 20];
        let mut b = vec![0.0; 20];
        a[..3].copy_from_slice(&[0.6, 0.4, 0.0]);
        b[..3].copy_from_slice(&[0.0, 0.7, 0.3]);
        a[10..13].copy_from_slice(&[0.2, 0.2, 0.6]);
        b[10..13].copy_from_slice(&[0.9, 0.1, 0.0]);
        // Mean: image 0 → [0.3, 0.55, 0.15] (class 1); image 1 → [0.55, 0.15, 0.3] (class 0).
        let mean = combine(&[a.clone(), b.clone()], &[1.0, 1.0]);
        assert!((mean[1] - 0.55).abs() < 1e-12 && (mean[10] - 0.55).abs() < 1e-12);
        assert_eq!(predictions(&mean), vec![1, 0]);
        // Weights 3:1 favour member a: image 0 → [0.45, 0.475, 0.075]; image 1 → [0.375, 0.175, 0.45].
        let w = combine(&[a, b], &[3.0, 1.0]);
        assert!((w[0] - 0.45).abs() < 1e-12 && (w[1] - 0.475).abs() < 1e-12);
        assert_eq!(predictions(&w), vec![1, 2]);
        // Softmax rows sum to 1 and keep the order.
        let s = softmax_rows(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(s[2] > s[1] && s[1] > s[0]);
    }
}
