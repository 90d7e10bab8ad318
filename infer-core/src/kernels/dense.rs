//! Fully connected layer: `y[c] = requant(bias[c] + Σ_k (x[k] − zp) · w[c][k])`.

use super::{DenseParams, dot2_centered, dot_centered};
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

/// Fast version: contiguous dot products, two output rows at a time (they share the input's
/// loads and, on the Cortex-M DSP path, its widening).
pub fn fast(p: &DenseParams, out: &mut [u8]) {
    let n = p.input.len().max(1);
    let lo = lower_clamp(p.out_zp, p.relu);
    let zp = p.in_zp as i32;
    let mut rows = p.sections.weights.chunks_exact(n);
    let mut c = 0;
    for pair in out.chunks_mut(2) {
        match (pair, rows.next(), rows.next()) {
            ([y0, y1], Some(w0), Some(w1)) => {
                let (a0, a1) = dot2_centered(p.input, w0, w1, zp);
                *y0 = p.sections.requant(c).apply_with(p.sections.bias(c) + a0, p.out_zp, lo, p.rounding) as u8;
                *y1 = p.sections.requant(c + 1).apply_with(p.sections.bias(c + 1) + a1, p.out_zp, lo, p.rounding) as u8;
            }
            ([y0, ..], Some(w0), _) => {
                let acc = p.sections.bias(c) + dot_centered(p.input, w0, zp);
                *y0 = p.sections.requant(c).apply_with(acc, p.out_zp, lo, p.rounding) as u8;
            }
            _ => {}
        }
        c += 2;
    }
}
