//! Convolution with a fused 2x2 max pool on the Cortex-M DSP path: the four positions of a pool
//! window are computed together, so each weight is loaded and widened once per window.
//!
//! Per pooled output, the four receptive fields are gathered one after another into one patch
//! buffer (zero point in the padding) and widened into 16-bit pairs, interleaved by 4-byte
//! chunk (`[chunk][position][even, odd]`), both in the layer's scratch (planned in the arena),
//! then each output channel is one pass over its contiguous OHWI weight row
//! ([`dot_positions4`]: per four weights one `LDR`, two `SXTB16`, four `LDRD` and eight
//! `SMLAD`); the window's largest accumulator is requantized once (requantization is
//! non-decreasing, see docs/QUANTIZATION.md). Patch bytes past the last whole word are
//! kept centered (at most three per position) and multiplied one by one.
//!
//! Same result as [`crate::kernels::conv2d::reference`] bit for bit: the sums are exact integers.

use super::dsp::{dot_positions4, widen_word};
use crate::kernels::params::ConvParams;
use crate::kernels::scratch::{CONV_POOL4_LEN_MAX as LEN_MAX, Carve, conv_pool4_len};
use crate::kernels::window::{Step, gather, origin2, pooled};
use crate::requant::ROW;

/// The contract: a 2x2 pool, patches of 4 to 576 bytes (`LEN_MAX`), and the scratch
/// [`conv_pool4_len`] asks for (`9 · len` bytes: one gathered patch, the four positions'
/// widened words).
pub(crate) fn takes(p: &ConvParams, scratch: usize) -> bool {
    let len = p.patch_len();
    p.pool == 2 && (4..=LEN_MAX).contains(&len) && scratch >= conv_pool4_len(len)
}

/// Runs a layer [`takes`] accepts.
pub(crate) fn run(p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
    let len = p.patch_len().min(LEN_MAX);
    let zp = p.in_zp as i32;
    let words = len / 4;
    let body = 4 * words;
    let mut carve = Carve::new(scratch);
    let (Some(patch), Some(xw)) = (carve.bytes(len), carve.slice::<u32>(8 * words)) else { return };
    // The bytes past the last whole word (at most 3) of each position.
    let mut tails = [[0i32; 3]; 4];
    let mut weights: &[u8] = &[];
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => weights = p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]),
            Step::Output { py, px } => {
                for (i, tail) in tails.iter_mut().enumerate() {
                    let (y0, x0) = origin2(p, py, px, i);
                    gather(p, y0, x0, patch);
                    for (chunk, b) in xw.chunks_exact_mut(8).zip(patch[..body].chunks_exact(4)) {
                        let (e, o) = widen_word(b, zp);
                        chunk[2 * i] = e;
                        chunk[2 * i + 1] = o;
                    }
                    for (t, &b) in tail.iter_mut().zip(&patch[body..]) {
                        *t = b as i8 as i32 - zp;
                    }
                }
                for (b, row) in best[..blk.nb].iter_mut().zip(weights.chunks_exact(len)) {
                    let mut acc = dot_positions4(xw, row);
                    for (a, tail) in acc.iter_mut().zip(&tails) {
                        *a += tail.iter().zip(&row[body..]).map(|(&x, &w)| x * (w as i8 as i32)).sum::<i32>();
                    }
                    let [a0, a1, a2, a3] = acc;
                    *b = a0.max(a1).max(a2.max(a3));
                }
            }
        },
    );
}
