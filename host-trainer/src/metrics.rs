//! Classification metrics: confusion matrix, per-class precision/recall/F1, averages.
//!
//! Conventions follow scikit-learn's `classification_report`: precision of a class that is
//! never predicted is 0, recall of a class with no support is 0, F1 is 0 when P + R = 0.

use serde::Serialize;

use crate::data::CLASS_NAMES;

/// Number of classes.
pub const K: usize = 10;

/// `matrix[true][predicted]` counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Rows: true class; columns: predicted class.
    pub matrix: [[usize; K]; K],
}

/// Precision, recall, F1 and support of one class (or an average).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of true instances.
    pub support: usize,
}

/// The full report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// Per class, in label order.
    pub per_class: Vec<(String, ClassScores)>,
    /// Unweighted mean over classes.
    pub macro_avg: ClassScores,
    /// Support-weighted mean over classes.
    pub weighted_avg: ClassScores,
    /// Share of correct predictions.
    pub accuracy: f64,
}

/// Pairs of visually similar classes whose confusions the studies tracked:
/// (true, predicted).
pub const SIMILAR_PAIRS: [(usize, usize); 8] = [
    (6, 0), // Shirt -> T-shirt/top
    (6, 4), // Shirt -> Coat
    (2, 6), // Pullover -> Shirt
    (2, 4), // Pullover -> Coat
    (4, 2), // Coat -> Pullover
    (7, 9), // Sneaker -> Ankle boot
    (9, 7), // Ankle boot -> Sneaker
    (5, 7), // Sandal -> Sneaker
];

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Confusion {
    /// Counts `(true, predicted)` pairs. Labels must be < 10.
    pub fn new(truth: &[u8], predicted: &[u8]) -> Self {
        let mut matrix = [[0; K]; K];
        for (&t, &p) in truth.iter().zip(predicted) {
            matrix[t as usize % K][p as usize % K] += 1;
        }
        Self { matrix }
    }

    /// Total count.
    pub fn total(&self) -> usize {
        self.matrix.iter().flatten().sum()
    }

    /// Correct predictions.
    pub fn correct(&self) -> usize {
        (0..K).map(|i| self.matrix[i][i]).sum()
    }

    /// Accuracy (0 when empty).
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Scores of class `c`.
    pub fn scores(&self, c: usize) -> ClassScores {
        let tp = self.matrix[c][c];
        let predicted: usize = (0..K).map(|t| self.matrix[t][c]).sum();
        let support: usize = self.matrix[c].iter().sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        ClassScores { precision, recall, f1, support }
    }

    /// The classification report.
    pub fn report(&self) -> ClassificationReport {
        let per: Vec<ClassScores> = (0..K).map(|c| self.scores(c)).collect();
        let total: usize = per.iter().map(|s| s.support).sum();
        let mean = |f: fn(&ClassScores) -> f64| per.iter().map(f).sum::<f64>() / K as f64;
        let wmean = |f: fn(&ClassScores) -> f64| {
            if total == 0 { 0.0 } else { per.iter().map(|s| f(s) * s.support as f64).sum::<f64>() / total as f64 }
        };
        ClassificationReport {
            per_class: CLASS_NAMES.iter().map(|n| n.to_string()).zip(per.iter().copied()).collect(),
            macro_avg: ClassScores {
                precision: mean(|s| s.precision),
                recall: mean(|s| s.recall),
                f1: mean(|s| s.f1),
                support: total,
            },
            weighted_avg: ClassScores {
                precision: wmean(|s| s.precision),
                recall: wmean(|s| s.recall),
                f1: wmean(|s| s.f1),
                support: total,
            },
            accuracy: self.accuracy(),
        }
    }

    /// Counts for [`SIMILAR_PAIRS`]: ("Shirt -> T-shirt/top", count).
    pub fn similar_pairs(&self) -> Vec<(String, usize)> {
        SIMILAR_PAIRS
            .iter()
            .map(|&(t, p)| (format!("{} -> {}", CLASS_NAMES[t], CLASS_NAMES[p]), self.matrix[t][p]))
            .collect()
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn hand_computed_report() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        // class 0: TP 2, FP 0, FN 1 -> P 1, R 2/3, F1 0.8
        // class 1: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
        // class 2: TP 1, FP 1, FN 0 -> P 1/2, R 1, F1 2/3
        // classes 3..9: no support, never predicted -> 0
        let c = Confusion::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert_eq!(c.matrix[0][1], 1);
        assert_eq!(c.total(), 6);
        close(c.accuracy(), 4.0 / 6.0);
        let r = c.report();
        let s0 = r.per_class[0].1;
        close(s0.precision, 1.0);
        close(s0.recall, 2.0 / 3.0);
        close(s0.f1, 0.8);
        assert_eq!(s0.support, 3);
        close(r.per_class[1].1.f1, 0.5);
        close(r.per_class[2].1.f1, 2.0 / 3.0);
        close(r.macro_avg.f1, (0.8 + 0.5 + 2.0 / 3.0) / 10.0);
        close(r.weighted_avg.f1, (0.8 * 3.0 + 0.5 * 2.0 + 2.0 / 3.0) / 6.0);
        close(r.weighted_avg.recall, 4.0 / 6.0); // weighted recall equals accuracy
        assert_eq!(r.per_class[9].1, ClassScores { precision: 0.0, recall: 0.0, f1: 0.0, support: 0 });
    }

    #[test]
    fn similar_pairs_read_the_right_cells() {
        let c = Confusion::new(&[6, 6, 6, 7, 9, 5], &[0, 0, 4, 9, 7, 7]);
        let pairs = c.similar_pairs();
        assert_eq!(pairs[0], ("Shirt -> T-shirt/top".to_string(), 2));
        assert_eq!(pairs[1].1, 1);
        assert_eq!(pairs[5], ("Sneaker -> Ankle boot".to_string(), 1));
        assert_eq!(pairs[6].1, 1);
        assert_eq!(pairs[7].1, 1);
        assert_eq!(pairs[2].1, 0);
    }

    #[test]
    fn argmax_takes_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
