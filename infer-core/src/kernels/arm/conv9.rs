//! Convolution with nine-byte patches (3x3 on one input channel: the first layer of a grayscale
//! CNN) and a fused max pool of 1 or 2, on the Cortex-M DSP path.
//!
//! The weights of up to [`BLOCK`] output channels are widened once per block ([`pack9`]: four
//! words of 16-bit pairs and the ninth tap), and so is each patch of a pool window, so every
//! (channel, position) dot product is three `SMLAD`, one `SMUAD` and one `MLA` on data already
//! in registers or one `LDRD` away; the window's maximum accumulator is requantized once per
//! pooled output (requantization is non-decreasing, see docs/QUANTIZATION.md).
//!
//! Same result as [`crate::kernels::conv2d::reference`] bit for bit: the sums are exact integers.

use super::dsp::{dot9, pack9};
use crate::kernels::params::ConvParams;
use crate::kernels::scratch::{CONV9_BLOCK as BLOCK, Carve, conv9_len};
use crate::kernels::window::{Step, gather, inside, origin, pooled};

/// The contract: nine-byte patches, a pool window of at most 2x2, and the scratch
/// [`conv9_len`] asks for (the widened weights of a block of up to 64 channels: 1,280 bytes).
pub(crate) fn takes(p: &ConvParams, scratch: usize) -> bool {
    p.patch_len() == 9 && (p.pool == 1 || p.pool == 2) && scratch >= conv9_len(p.out_shape.c)
}

/// Runs a layer [`takes`] accepts (a function of its own: see [`crate::kernels::select`]).
#[inline(never)]
pub(crate) fn run(p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
    let Some(wt) = Carve::new(scratch).slice::<[u32; 5]>(p.out_shape.c.min(BLOCK)) else { return };
    if p.pool == 1 { window::<1>(p, out, wt) } else { window::<4>(p, out, wt) }
}

/// `P`: positions per pool window (`pool²`); `wt`: room for a block's widened weights.
#[inline(always)]
fn window<const P: usize>(p: &ConvParams, out: &mut [u8], wt: &mut [[u32; 5]]) {
    let zp = p.in_zp as i32;
    let pool = p.pool;
    let mut xs = [[0u32; 5]; P];
    let mut patch = [0u8; 9];
    pooled(
        p,
        out,
        BLOCK,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => {
                let rows = p.sections.weights.get(9 * blk.c0..).unwrap_or(&[]).chunks_exact(9);
                for (w, row) in wt.iter_mut().zip(rows).take(blk.nb) {
                    if let Ok(row) = <&[u8; 9]>::try_from(row) {
                        *w = pack9(row, 0);
                    }
                }
            }
            Step::Output { py, px } => {
                for (i, x) in xs.iter_mut().enumerate() {
                    let (y0, x0) = origin(p, py, px, i / pool, i % pool);
                    gather9(p, y0, x0, &mut patch);
                    *x = pack9(&patch, zp);
                }
                for (b, w) in best[..blk.nb].iter_mut().zip(&*wt) {
                    let mut m = i32::MIN;
                    for x in &xs {
                        m = m.max(dot9(x, w));
                    }
                    *b = m;
                }
            }
        },
    );
}

/// The patch whose top-left tap is at `(y0, x0)`: three 3-byte row copies when a 3x3 kernel
/// lies inside the image, else the general [`gather`] (zero point in the padding).
#[inline(always)]
fn gather9(p: &ConvParams, y0: isize, x0: isize, patch: &mut [u8; 9]) {
    if p.kernel == 3 && inside(p, y0, x0) {
        let (at, w) = (y0 as usize * p.in_shape.w + x0 as usize, p.in_shape.w);
        let row = |r: usize| p.input.get(at + r * w..at + r * w + 3);
        if let (Some(r0), Some(r1), Some(r2)) = (row(0), row(1), row(2)) {
            patch[..3].copy_from_slice(r0);
            patch[3..6].copy_from_slice(r1);
            patch[6..].copy_from_slice(r2);
            return;
        }
    }
    gather(p, y0, x0, patch);
}
