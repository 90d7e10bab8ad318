//! Fully connected layer: `y[c] = requant(bias[c] + Σ_k (x[k] − zp) · w[c][k])`: the scalar
//! [`reference`] and the portable [`fast`] version (on the dot products of [`super::dot`]).

use super::dot::Widened;
use super::params::DenseParams;
use super::scratch::Carve;
use crate::requant::{ROW, RequantRow, lower_clamp};

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

/// Fast version: contiguous dot products, two output rows at a time. The input is prepared
/// once (its first [`super::params::PATCH_MAX`] bytes widened to 16 bits, on the Cortex-M DSP
/// path into `SXTB16` pairs) in `scratch` ([`super::select::dense_scratch_len`] bytes; with
/// less, less is prepared ahead, same result) and shared by every row.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub fn fast(p: &DenseParams, out: &mut [u8], scratch: &mut [u8]) {
    let n = p.input.len().max(1);
    let lo = lower_clamp(p.out_zp, p.relu);
    let mut wide = Widened::carve(&mut Carve::new(scratch), p.input.len(), p.in_zp as i32);
    wide.load(p.input);
    if cfg!(target_pointer_width = "64") {
        // Accumulators of up to 64 rows, then one vectorized requantization.
        let mut accs = [0i32; ROW];
        let mut rq = RequantRow::new();
        for (block, dst) in out.chunks_mut(ROW).enumerate() {
            let c0 = block * ROW;
            p.sections.load_row(&mut rq, c0, dst.len());
            let mut rows = p.sections.weights.get(c0 * n..).unwrap_or(&[]).chunks_exact(n);
            for pair in accs[..dst.len()].chunks_mut(2) {
                match (pair, rows.next(), rows.next()) {
                    ([a0, a1], Some(w0), Some(w1)) => (*a0, *a1) = wide.dot2(p.input, w0, w1),
                    ([a0, ..], Some(w0), _) => *a0 = wide.dot(p.input, w0),
                    _ => {}
                }
            }
            rq.apply(&accs[..dst.len()], p.out_zp, lo, p.rounding, dst);
        }
    } else {
        // 32-bit cores: each output requantized as soon as its row is done (fewer loads and
        // stores than a row of accumulators, which the Cortex-M4 counts prefer).
        let mut rows = p.sections.weights.chunks_exact(n);
        for (i, pair) in out.chunks_mut(2).enumerate() {
            match (pair, rows.next(), rows.next()) {
                ([y0, y1], Some(w0), Some(w1)) => {
                    let (a0, a1) = wide.dot2(p.input, w0, w1);
                    emit(p, lo, 2 * i, a0, y0);
                    emit(p, lo, 2 * i + 1, a1, y1);
                }
                ([y0, ..], Some(w0), _) => emit(p, lo, 2 * i, wide.dot(p.input, w0), y0),
                _ => {}
            }
        }
    }
}

/// Requantizes row `c`'s accumulator (bias added) into `y` (a function, not a closure, so that
/// it is always inlined: a call per row cost the Cortex-M4 26 instructions).
#[inline(always)]
fn emit(p: &DenseParams, lo: i8, c: usize, acc: i32, y: &mut u8) {
    *y = p.sections.requant(c).apply_with(p.sections.bias(c) + acc, p.out_zp, lo, p.rounding) as u8;
}
