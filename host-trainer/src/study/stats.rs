//! The statistics the study reports: mean, standard deviation, and paired bootstrap intervals
//! over the test images (seeded, so the report is reproducible).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mean of `v` (NaN when empty).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// Sample standard deviation (n − 1); 0 for one value, NaN for none.
pub fn std(v: &[f64]) -> f64 {
    match v.len() {
        0 => f64::NAN,
        1 => 0.0,
        n => {
            let m = mean(v);
            (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64).sqrt()
        }
    }
}

/// Resamples of the bootstrap.
pub const RESAMPLES: usize = 2000;

/// The mean of `d` (one value per test image) and its 95% percentile bootstrap interval over
/// the images, from `RESAMPLES` seeded resamples.
pub fn bootstrap_mean(d: &[f64], seed: u64) -> (f64, f64, f64) {
    let n = d.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> =
        (0..RESAMPLES).map(|_| (0..n).map(|_| d[rng.random_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((RESAMPLES - 1) as f64 * q).round() as usize];
    (mean(d), at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert!((std(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        assert_eq!(std(&[5.0]), 0.0);
        assert!(mean(&[]).is_nan());
        // A constant difference has a zero-width interval; a fair coin's mean of 1,000 flips is
        // 0.5 ± about 0.031 (1.96 · 0.5 / √1000).
        assert_eq!(bootstrap_mean(&[0.25; 100], 1), (0.25, 0.25, 0.25));
        let coin: Vec<f64> = (0..1000).map(|i| f64::from(i % 2 == 0)).collect();
        let (m, lo, hi) = bootstrap_mean(&coin, 7);
        assert_eq!(m, 0.5);
        assert!((0.45..0.48).contains(&lo) && (0.52..0.55).contains(&hi), "{lo} {hi}");
        assert_eq!(bootstrap_mean(&coin, 7), (m, lo, hi), "seeded");
    }
}
