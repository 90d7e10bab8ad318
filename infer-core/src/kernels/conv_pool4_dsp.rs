//! Convolution with a fused 2x2 max pool on the Cortex-M DSP path: the four positions of a pool
//! window are computed together, so each weight is loaded and widened once per window.
//!
//! Per pooled output, the four receptive fields are gathered (zero point in the padding) and
//! widened into 16-bit pairs, interleaved by 4-byte chunk (`[chunk][position][even, odd]`),
//! then each output channel is one pass over its contiguous OHWI weight row
//! ([`dot_positions4`]: per four weights one `LDR`, two `SXTB16`, four `LDRD` and eight
//! `SMLAD`); the window's largest accumulator is requantized once (requantization is
//! non-decreasing, see docs/QUANTIZATION.md). Patch bytes past the last whole word are
//! multiplied one by one.
//!
//! Same result as [`super::conv2d::reference`] bit for bit: the sums are exact integers.

use super::ConvParams;
use super::conv2d::gather;
use super::dsp::{dot_positions4, widen_word};
use crate::requant::{ROW, RequantRow, lower_clamp};

/// Longest patch this path takes (`k · k · cin` bytes; 3x3x64): the four widened patches take
/// 4.5 KiB of stack.
pub(crate) const LEN_MAX: usize = 576;

/// Runs the layer when its pool is 2x2 and its patches at most [`LEN_MAX`] bytes; returns
/// `false` (having written nothing) otherwise.
pub(crate) fn run(p: &ConvParams, out: &mut [u8]) -> bool {
    let len = p.kernel * p.kernel * p.in_shape.c;
    if p.pool != 2 || !(4..=LEN_MAX).contains(&len) {
        return false;
    }
    let o = p.out_shape;
    let lo = lower_clamp(p.out_zp, p.relu);
    let zp = p.in_zp as i32;
    let words = len / 4;
    let body = 4 * words;
    let mut patches = [[0u8; LEN_MAX]; 4];
    let mut xw = [0u32; 2 * LEN_MAX];
    let mut best = [0i32; ROW];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(ROW) {
        let nb = (o.c - c0).min(ROW);
        p.sections.load_row(&mut rq, c0, nb);
        let weights = p.sections.weights.get(c0 * len..).unwrap_or(&[]);
        for py in 0..o.h {
            for px in 0..o.w {
                for (i, patch) in patches.iter_mut().enumerate() {
                    let y0 = ((2 * py + i / 2) * p.stride) as isize - p.pad[0] as isize;
                    let x0 = ((2 * px + i % 2) * p.stride) as isize - p.pad[1] as isize;
                    gather(p, y0, x0, &mut patch[..len]);
                    for (chunk, b) in xw.chunks_exact_mut(8).zip(patch[..body].chunks_exact(4)) {
                        let (e, o) = widen_word(b, zp);
                        chunk[2 * i] = e;
                        chunk[2 * i + 1] = o;
                    }
                }
                for (b, row) in best[..nb].iter_mut().zip(weights.chunks_exact(len)) {
                    let mut acc = dot_positions4(&xw[..8 * words], row);
                    for (t, &w) in row[body..].iter().enumerate() {
                        let w = w as i8 as i32;
                        for (a, patch) in acc.iter_mut().zip(&patches) {
                            *a += (patch[body + t] as i8 as i32 - zp) * w;
                        }
                    }
                    let [a0, a1, a2, a3] = acc;
                    *b = a0.max(a1).max(a2.max(a3));
                }
                let at = (py * o.w + px) * o.c + c0;
                if let Some(dst) = out.get_mut(at..at + nb) {
                    rq.apply(&best[..nb], p.out_zp, lo, p.rounding, dst);
                }
            }
        }
    }
    true
}
