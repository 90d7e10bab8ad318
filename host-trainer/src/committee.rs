//! A committee of trained runs: the class probabilities (softmax of each run's logits) averaged
//! with equal weights or weighted by each run's validation accuracy, then evaluated like a
//! single model.

use serde::Serialize;

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
