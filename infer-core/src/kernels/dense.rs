//! Fully connected layer: `y[c] = requant(bias[c] + Σ_k (x[k] − zp) · w[c][k])`.

use super::{DenseParams, dot_centered};
use crate::requant::lower_clamp;

/// Scalar reference.
pub fn reference(p: &DenseParams, out: &mut [u8]) {
    let n = p.input.len();
    let lo = lower_clamp(p.out_zp, p.relu);
    for (c, y) in out.iter_mut().enumerate() {
        let mut acc = p.sections.bias(c);
        for k in 0..n {
            let x = p.input[k] as i8 as i32 - p.in_zp as i32;
            let w = p.sections.weights[c * n + k] as i8 as i32;
            acc += x * w;
        }
        *y = p.sections.requant(c).apply_with(acc, p.out_zp, lo, p.rounding) as u8;
    }
}

/// Fast version: one contiguous, vectorizable dot product per output.
pub fn fast(p: &DenseParams, out: &mut [u8]) {
    let n = p.input.len();
    let lo = lower_clamp(p.out_zp, p.relu);
    let zp = p.in_zp as i32;
    for ((c, y), w) in out.iter_mut().enumerate().zip(p.sections.weights.chunks_exact(n.max(1))) {
        let acc = p.sections.bias(c) + dot_centered(p.input, w, zp);
        *y = p.sections.requant(c).apply_with(acc, p.out_zp, lo, p.rounding) as u8;
    }
}
