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
//! Same result as [`crate::kernels::conv2d::reference`] bit for bit: the sums are exact integers.

use super::dsp::{dot_positions4, widen_word};
use crate::kernels::params::ConvParams;
use crate::kernels::window::{Step, gather, origin2, pooled};
use crate::requant::ROW;

/// Longest patch this path takes (`k · k · cin` bytes; 3x3x64): the four gathered patches and
/// their widened form take 6.75 KiB of stack.
pub(crate) const LEN_MAX: usize = 576;

/// The contract: a 2x2 pool, patches of 4 to [`LEN_MAX`] bytes.
pub(crate) fn takes(p: &ConvParams) -> bool {
    p.pool == 2 && (4..=LEN_MAX).contains(&p.patch_len())
}

/// Runs a layer [`takes`] accepts.
pub(crate) fn run(p: &ConvParams, out: &mut [u8]) {
    let len = p.patch_len().min(LEN_MAX);
    let zp = p.in_zp as i32;
    let words = len / 4;
    let body = 4 * words;
    let mut patches = [[0u8; LEN_MAX]; 4];
    let mut xw = [0u32; 2 * LEN_MAX];
    let mut weights: &[u8] = &[];
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => weights = p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]),
            Step::Output { py, px } => {
                for (i, patch) in patches.iter_mut().enumerate() {
                    let (y0, x0) = origin2(p, py, px, i);
                    gather(p, y0, x0, &mut patch[..len]);
                    for (chunk, b) in xw.chunks_exact_mut(8).zip(patch[..body].chunks_exact(4)) {
                        let (e, o) = widen_word(b, zp);
                        chunk[2 * i] = e;
                        chunk[2 * i + 1] = o;
                    }
                }
                for (b, row) in best[..blk.nb].iter_mut().zip(weights.chunks_exact(len)) {
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
            }
        },
    );
}
