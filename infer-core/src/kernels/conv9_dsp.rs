//! Convolution with nine-byte patches (3x3 on one input channel: the first layer of a grayscale
//! CNN) and a fused max pool of 1 or 2, on the Cortex-M DSP path.
//!
//! The weights of up to [`BLOCK`] output channels are widened once per call ([`pack9`]: four
//! words of 16-bit pairs and the ninth tap), and so is each patch of a pool window, so every
//! (channel, position) dot product is three `SMLAD`, one `SMUAD` and one `MLA` on data already
//! in registers or one `LDRD` away; the window's maximum accumulator is requantized once per
//! pooled output (requantization is non-decreasing, see docs/QUANTIZATION.md).
//!
//! Same result as [`super::conv2d::reference`] bit for bit: the sums are exact integers.

use super::ConvParams;
use super::conv2d::gather;
use super::dsp::{dot9, pack9};
use crate::requant::{RequantRow, lower_clamp};

/// Output channels whose widened weights are held at once (1,280 bytes of stack).
const BLOCK: usize = 64;

/// Runs the layer when its patches are nine bytes and its pool window at most 2x2; returns
/// `false` (having written nothing) otherwise.
pub(crate) fn run(p: &ConvParams, out: &mut [u8]) -> bool {
    if p.kernel * p.kernel * p.in_shape.c != 9 {
        return false;
    }
    match p.pool {
        1 => window::<1>(p, out),
        2 => window::<4>(p, out),
        _ => return false,
    }
    true
}

/// `P`: positions per pool window (`pool²`).
#[inline(always)]
fn window<const P: usize>(p: &ConvParams, out: &mut [u8]) {
    let o = p.out_shape;
    let lo = lower_clamp(p.out_zp, p.relu);
    let zp = p.in_zp as i32;
    let pool = p.pool;
    let mut wt = [[0u32; 5]; BLOCK];
    let mut xs = [[0u32; 5]; P];
    let mut best = [0i32; BLOCK];
    let mut patch = [0u8; 9];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(BLOCK) {
        let nb = (o.c - c0).min(BLOCK);
        p.sections.load_row(&mut rq, c0, nb);
        let rows = p.sections.weights.get(9 * c0..).unwrap_or(&[]).chunks_exact(9);
        for (w, row) in wt.iter_mut().zip(rows).take(nb) {
            if let Ok(row) = <&[u8; 9]>::try_from(row) {
                *w = pack9(row, 0);
            }
        }
        for py in 0..o.h {
            for px in 0..o.w {
                for (i, x) in xs.iter_mut().enumerate() {
                    let (dy, dx) = (i / pool, i % pool);
                    let y0 = ((py * pool + dy) * p.stride) as isize - p.pad[0] as isize;
                    let x0 = ((px * pool + dx) * p.stride) as isize - p.pad[1] as isize;
                    gather9(p, y0, x0, &mut patch);
                    *x = pack9(&patch, zp);
                }
                for (b, w) in best[..nb].iter_mut().zip(&wt) {
                    let mut m = i32::MIN;
                    for x in &xs {
                        m = m.max(dot9(x, w));
                    }
                    *b = m;
                }
                let at = (py * o.w + px) * o.c + c0;
                if let Some(dst) = out.get_mut(at..at + nb) {
                    rq.apply(&best[..nb], p.out_zp, lo, p.rounding, dst);
                }
            }
        }
    }
}

/// The patch whose top-left tap is at `(y0, x0)`: three 3-byte row copies when a 3x3 kernel
/// lies inside the image, else the general [`gather`] (zero point in the padding).
#[inline(always)]
fn gather9(p: &ConvParams, y0: isize, x0: isize, patch: &mut [u8; 9]) {
    let (h, w) = (p.in_shape.h as isize, p.in_shape.w as isize);
    if p.kernel == 3 && y0 >= 0 && x0 >= 0 && y0 + 3 <= h && x0 + 3 <= w {
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
