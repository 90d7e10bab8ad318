//! Activation-range calibration: run the float graph over calibration images, keep every
//! node's output values, and pick a range per node by one of three methods.

use serde::Serialize;

use crate::graph::FloatGraph;
use crate::images::Images;

/// How a node's real range is chosen from its calibration values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// The 0.01st and 99.99th percentiles (outliers clipped).
    Percentile,
    /// The clipping range that minimises the mean squared quantization error.
    Mse,
}

impl Method {
    /// All methods.
    pub const ALL: [Method; 3] = [Method::MinMax, Method::Percentile, Method::Mse];
}

/// Every node's output values over the calibration images (concatenated).
pub struct Observations {
    /// Values per node.
    pub values: Vec<Vec<f32>>,
}

/// Runs the graph over the first `n` images, on all cores.
pub fn observe(graph: &FloatGraph, images: &Images, n: usize) -> Observations {
    let n = n.min(images.len());
    let threads = std::thread::available_parallelism().map_or(1, |v| v.get()).clamp(1, 8);
    let per = n.div_ceil(threads).max(1);
    let parts: Vec<Vec<Vec<f32>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                s.spawn(move || {
                    let mut vals = vec![Vec::new(); graph.nodes.len()];
                    for i in start..(start + per).min(n) {
                        for (v, out) in vals.iter_mut().zip(graph.forward(images.image(i))) {
                            v.extend(out);
                        }
                    }
                    vals
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut values = vec![Vec::new(); graph.nodes.len()];
    for part in parts {
        for (v, p) in values.iter_mut().zip(part) {
            v.extend(p);
        }
    }
    Observations { values }
}

fn percentile(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Squared error of quantizing `values` to int8 with range `[lo, hi]`.
fn quant_mse(values: &[f32], lo: f32, hi: f32) -> f64 {
    let q = crate::int8::QParams::from_range(lo, hi);
    values
        .iter()
        .map(|&v| {
            let d = q.dequantize(q.quantize(v)) - v;
            f64::from(d) * f64::from(d)
        })
        .sum::<f64>()
        / values.len().max(1) as f64
}

/// The range `[lo, hi]` (always containing 0) of one node's values.
pub fn range(values: &[f32], method: Method) -> (f32, f32) {
    let (mut lo, mut hi) = values.iter().fold((0.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    match method {
        Method::MinMax => {}
        Method::Percentile => {
            let mut s = values.to_vec();
            s.sort_unstable_by(f32::total_cmp);
            lo = percentile(&s, 1e-4).min(0.0);
            hi = percentile(&s, 1.0 - 1e-4).max(0.0);
        }
        Method::Mse => {
            // Subsample for speed; search the clipping fraction of the min/max range.
            let step = (values.len() / 200_000).max(1);
            let sample: Vec<f32> = values.iter().step_by(step).copied().collect();
            let mut best = (f64::INFINITY, lo, hi);
            // Geometric grid of clipping fractions, 1 down to ~1e-3 (2^(-i/8)).
            for i in 0..=80 {
                let t = 2f32.powf(-(i as f32) / 8.0);
                let (l, h) = (lo * t, hi * t);
                let e = quant_mse(&sample, l, h);
                if e < best.0 {
                    best = (e, l, h);
                }
            }
            (lo, hi) = (best.1, best.2);
        }
    }
    if hi - lo < 1e-8 {
        hi = lo + 1e-8;
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_method() {
        let mut v: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        v.push(50.0); // one outlier
        assert_eq!(range(&v, Method::MinMax), (0.0, 50.0));
        let (lo, hi) = range(&v, Method::Percentile);
        assert_eq!(lo, 0.0);
        assert!((0.99..=1.0).contains(&hi), "{hi}");
        // MSE picks the range with the least squared error, never worse than min-max (a
        // single outlier in 100k is cheaper to keep than to clip at 8 bits).
        let (lo, hi) = range(&v, Method::Mse);
        assert_eq!(lo, 0.0);
        assert!(hi <= 50.0);
        assert!(quant_mse(&v, lo, hi) <= quant_mse(&v, 0.0, 50.0));
        // By hand: range [0, 2.55] has step 0.01; 0.004 → 0 (error 0.004), 0.006 → 0.01
        // (error 0.004): mean squared error 1.6e-5.
        let e = quant_mse(&[0.004, 0.006], 0.0, 2.55);
        assert!((e - 1.6e-5).abs() < 1e-9, "{e}");
        // Negative values widen the low end; a constant tensor still gets a valid range.
        assert_eq!(range(&[-2.0, 1.0], Method::MinMax), (-2.0, 1.0));
        let (l, h) = range(&[0.0, 0.0], Method::MinMax);
        assert!(h > l);
    }
}
