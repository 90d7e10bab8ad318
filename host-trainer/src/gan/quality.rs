//! How good generated images are, measured with one of our trained classifiers:
//!
//! - the Fréchet distance between Gaussians fitted to the classifier's penultimate-layer
//!   features of two image sets (as FID does with Inception features):
//!   `‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2·(Σ₁^½ Σ₂ Σ₁^½)^½)`;
//! - the share of images the classifier assigns with probability ≥ 0.9, the class histogram
//!   of those, and (for class-conditional samples) how often it names the requested class.

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::Serialize;

use crate::data::batcher::scale_pixels;
use crate::data::idx::{CLASSES, PIXELS, SIDE};
use crate::model::Net;

/// Probability at or above which a classification counts as confident.
pub const CONFIDENT: f32 = 0.9;

/// Mean and covariance of a set of feature vectors.
#[derive(Debug, Clone)]
pub struct Gaussian {
    /// Mean.
    pub mean: DVector<f64>,
    /// Covariance (unbiased, n − 1).
    pub cov: DMatrix<f64>,
}

impl Gaussian {
    /// Fits `rows` (`n * dim` values, one vector per row); needs at least two rows.
    pub fn fit(rows: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !rows.len().is_multiple_of(dim) || rows.len() / dim < 2 {
            bail!("need at least two feature vectors of length {dim}, got {} values", rows.len());
        }
        let n = rows.len() / dim;
        let x = DMatrix::from_row_iterator(n, dim, rows.iter().map(|&v| f64::from(v)));
        let mean = x.row_mean().transpose();
        let centered = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centered.transpose() * &centered / (n as f64 - 1.0);
        Ok(Self { mean, cov })
    }
}

/// The square root of a symmetric positive semi-definite matrix (negative eigenvalues from
/// rounding are clamped to zero).
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let e = SymmetricEigen::new(sym);
    let d = DMatrix::from_diagonal(&e.eigenvalues.map(|v| v.max(0.0).sqrt()));
    &e.eigenvectors * d * e.eigenvectors.transpose()
}

/// The Fréchet distance between two Gaussians.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let s = sqrt_psd(&a.cov);
    let inner = &s * &b.cov * &s;
    let cross: f64 =
        SymmetricEigen::new((&inner + inner.transpose()) * 0.5).eigenvalues.iter().map(|v| v.max(0.0).sqrt()).sum();
    let d = &a.mean - &b.mean;
    (d.dot(&d) + a.cov.trace() + b.cov.trace() - 2.0 * cross).max(0.0)
}

/// A classifier's view of an image set.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Penultimate-layer features, `dim` per image.
    pub features: Vec<f32>,
    /// Feature length.
    pub dim: usize,
    /// Class probabilities, 10 per image.
    pub probs: Vec<f32>,
}

/// Runs `net` (evaluation mode) over `pixels` (`n * 784`).
pub fn look(net: &Net, pixels: &[u8], device: &Device) -> Result<Seen> {
    let (mut features, mut probs, mut dim) = (Vec::new(), Vec::new(), 0);
    for chunk in pixels.chunks(500 * PIXELS) {
        let n = chunk.len() / PIXELS;
        let x = Tensor::<4>::from_data(TensorData::new(scale_pixels(&chunk[..n * PIXELS]), [n, 1, SIDE, SIDE]), device);
        let (f, logits) = net.features_and_logits(x);
        dim = f.dims()[1];
        let read = |t: Tensor<2>| {
            t.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading features: {e:?}"))
        };
        features.extend(read(f)?);
        probs.extend(read(softmax(logits, 1))?);
    }
    Ok(Seen { features, dim, probs })
}

/// The figures for one image set against a reference set.
#[derive(Debug, Clone, Serialize)]
pub struct SetQuality {
    /// What the set is.
    pub name: String,
    /// Images.
    pub images: usize,
    /// Fréchet distance to the reference in the classifier's feature space.
    pub frechet_distance: f64,
    /// Share of images classified with probability ≥ 0.9.
    pub confident_share: f64,
    /// Confident images per predicted class.
    pub confident_histogram: [usize; CLASSES],
    /// Share whose predicted class is the requested (or true) one, when known.
    pub class_match: Option<f64>,
}

/// Scores `seen` against the reference Gaussian; `classes` are the requested (or true)
/// classes when there are any.
pub fn assess(name: &str, seen: &Seen, reference: &Gaussian, classes: Option<&[u8]>) -> Result<SetQuality> {
    let g = Gaussian::fit(&seen.features, seen.dim)?;
    let n = seen.probs.len() / CLASSES;
    let mut hist = [0usize; CLASSES];
    let mut matched = 0usize;
    for (i, p) in seen.probs.chunks(CLASSES).enumerate() {
        let (best, &pmax) = p.iter().enumerate().fold((0, &f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
        if pmax >= CONFIDENT {
            hist[best] += 1;
        }
        if classes.and_then(|c| c.get(i)).is_some_and(|&c| usize::from(c) == best) {
            matched += 1;
        }
    }
    Ok(SetQuality {
        name: name.to_string(),
        images: n,
        frechet_distance: frechet_distance(&g, reference),
        confident_share: hist.iter().sum::<usize>() as f64 / n.max(1) as f64,
        confident_histogram: hist,
        class_match: classes.map(|_| matched as f64 / n.max(1) as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauss(mean: &[f64], cov: &[f64]) -> Gaussian {
        let d = mean.len();
        Gaussian { mean: DVector::from_column_slice(mean), cov: DMatrix::from_row_slice(d, d, cov) }
    }

    #[test]
    fn frechet_by_hand() {
        // Same distribution: 0.
        let a = gauss(&[1.0, 2.0], &[2.0, 0.5, 0.5, 1.0]);
        assert!(frechet_distance(&a, &a).abs() < 1e-9);
        // 1-D: (μ₁ − μ₂)² + (σ₁ − σ₂)² = 9 + (2 − 1)² = 10.
        assert!((frechet_distance(&gauss(&[0.0], &[4.0]), &gauss(&[3.0], &[1.0])) - 10.0).abs() < 1e-9);
        // Diagonal 2-D: sums over the axes: means (1, −1) apart, σ (1, 3) vs (2, 1):
        // 1 + 1 + (1 − 2)² + (3 − 1)² = 7.
        let p = gauss(&[0.0, 0.0], &[1.0, 0.0, 0.0, 9.0]);
        let q = gauss(&[1.0, -1.0], &[4.0, 0.0, 0.0, 1.0]);
        assert!((frechet_distance(&p, &q) - 7.0).abs() < 1e-9);
        assert!((frechet_distance(&q, &p) - 7.0).abs() < 1e-9);
    }

    #[test]
    fn fit_by_hand() {
        // Rows (0,0), (2,0), (1,3): mean (1,1); cov [[1, 0], [0, 3]].
        let g = Gaussian::fit(&[0.0, 0.0, 2.0, 0.0, 1.0, 3.0], 2).unwrap();
        assert_eq!(g.mean.as_slice(), &[1.0, 1.0]);
        assert_eq!(g.cov.as_slice(), &[1.0, 0.0, 0.0, 3.0]);
        assert!(Gaussian::fit(&[1.0, 2.0], 2).is_err());
    }

    #[test]
    fn confident_share_histogram_and_match() {
        let seen = Seen {
            features: vec![0.0, 1.0, 2.0],
            dim: 1,
            probs: [
                [0.95, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            ]
            .concat(),
        };
        let reference = Gaussian::fit(&[0.0, 1.0, 2.0], 1).unwrap();
        let q = assess("x", &seen, &reference, Some(&[0, 1, 3])).unwrap();
        assert!((q.confident_share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(q.confident_histogram, [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        // Image 2 ties 0.5/0.5: the first maximum (class 0) wins, so only image 1 matches.
        assert!((q.class_match.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!(q.frechet_distance.abs() < 1e-9);
    }
}
