//! 2-D convolution, HWC input, OHWI weights, optional fused ReLU (lower clamp) and max pool:
//! the scalar [`reference`] and the portable fast variants. [`super::select::conv2d`] picks
//! among them and the ISA kernels (`arm/`, `x86/`) by shape and CPU.
//!
//! The fast variants run on the shared loop of [`super::window::pooled`] and the dot products
//! of [`super::dot`] (SXTB16/SMLAD on the Cortex-M DSP path).

use super::dot::{Widened, dot_centered, dot2_centered};
use super::params::{ConvParams, PATCH_MAX};
use super::scratch::Carve;
use super::window::{Step, gather, origin, pooled};
use crate::requant::{ROW, lower_clamp};

/// Requantized, clamped conv output at pre-pool position `(oy, ox)`, channel `oc`:
/// the direct formula of docs/QUANTIZATION.md, tap by tap.
fn conv_at(p: &ConvParams, oy: usize, ox: usize, oc: usize) -> i8 {
    let (k, cin) = (p.kernel, p.in_shape.c);
    let mut acc = p.sections.bias(oc);
    for ky in 0..k {
        for kx in 0..k {
            let iy = (oy * p.stride + ky) as isize - p.pad[0] as isize;
            let ix = (ox * p.stride + kx) as isize - p.pad[1] as isize;
            if iy < 0 || ix < 0 || iy >= p.in_shape.h as isize || ix >= p.in_shape.w as isize {
                continue; // padding: the real value 0, i.e. x − zp = 0
            }
            for ic in 0..cin {
                let x = p.input[(iy as usize * p.in_shape.w + ix as usize) * cin + ic] as i8 as i32;
                let w = p.sections.weights[((oc * k + ky) * k + kx) * cin + ic] as i8 as i32;
                acc += (x - p.in_zp as i32) * w;
            }
        }
    }
    p.sections.requant(oc).apply_with(acc, p.out_zp, lower_clamp(p.out_zp, p.relu), p.rounding)
}

/// Scalar reference: every output is the max over its pool window of `conv_at`.
pub fn reference(p: &ConvParams, out: &mut [u8]) {
    let o = p.out_shape;
    for py in 0..o.h {
        for px in 0..o.w {
            for oc in 0..o.c {
                let mut best = i8::MIN;
                for dy in 0..p.pool {
                    for dx in 0..p.pool {
                        best = best.max(conv_at(p, py * p.pool + dy, px * p.pool + dx, oc));
                    }
                }
                out[(py * o.w + px) * o.c + oc] = best as u8;
            }
        }
    }
}

pub use super::params::CI_LEN_MAX;

/// Output channels one vector group of [`channels_inner`] holds.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
const CI_GROUP: usize = 16;

/// Channels innermost (portable path). Contract: `patch_len() ≤ CI_LEN_MAX` (a first layer on
/// a grayscale image). Stack: 2 KiB of transposed weights.
///
/// The block's weights are transposed once into `[group][tap][16 channels]` i16 (zero-padded
/// past the last channel), then per position and group `acc[j] += x[t] · w[t][j]` over 16
/// channels held in registers, which LLVM vectorizes. `(x − zp) · w` fits in i16 exactly
/// (|x − zp| ≤ 255, |w| ≤ 128: at most 32,640), so the products are i16 multiplies widened to
/// i32 for the sum.
///
/// `L`: the patch length when known at compile time (the caller checked it), 0 when not; a
/// constant tap count unrolls the tap loop, so the vectorizer works across the channels.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub(crate) fn channels_inner<const L: usize>(p: &ConvParams, out: &mut [u8]) {
    let zp = p.in_zp as i16;
    let len = if L > 0 && L <= CI_LEN_MAX { L } else { p.patch_len().min(CI_LEN_MAX) };
    let mut patch = [0u8; CI_LEN_MAX];
    let mut xc = [0i16; CI_LEN_MAX];
    let mut wt = [[0i16; CI_GROUP]; CI_LEN_MAX * ROW / CI_GROUP];
    let mut groups = 0;
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => {
                groups = blk.nb.div_ceil(CI_GROUP);
                for (g, taps) in wt.chunks_exact_mut(CI_LEN_MAX).take(groups).enumerate() {
                    for (t, lanes) in taps.iter_mut().take(len).enumerate() {
                        for (j, w) in lanes.iter_mut().enumerate() {
                            let c = blk.c0 + g * CI_GROUP + j;
                            *w = match p.sections.weights.get(c * len + t) {
                                Some(&v) if c < blk.c0 + blk.nb => v as i8 as i16,
                                _ => 0,
                            };
                        }
                    }
                }
            }
            Step::Output { py, px } => {
                best.fill(i32::MIN);
                for dy in 0..p.pool {
                    for dx in 0..p.pool {
                        let (y0, x0) = origin(p, py, px, dy, dx);
                        gather(p, y0, x0, &mut patch[..len]);
                        for (c, &v) in xc.iter_mut().zip(&patch[..len]) {
                            *c = v as i8 as i16 - zp;
                        }
                        for (taps, best) in
                            wt.chunks_exact(CI_LEN_MAX).zip(best.chunks_exact_mut(CI_GROUP)).take(groups)
                        {
                            let mut acc = [0i32; CI_GROUP];
                            for (&x, lanes) in xc[..len].iter().zip(taps) {
                                for (a, &w) in acc.iter_mut().zip(lanes) {
                                    *a += x.wrapping_mul(w) as i32;
                                }
                            }
                            for (b, a) in best.iter_mut().zip(acc) {
                                *b = (*b).max(a);
                            }
                        }
                    }
                }
            }
        },
    );
}

/// Longest patch [`pool_window4`] takes (4 KiB of stack for the centered patches).
#[cfg(target_pointer_width = "64")]
pub const WIN_LEN_MAX: usize = 512;

/// 64-bit hosts, 2x2 pool. Contract: `pool == 2`, `patch_len() ≤ WIN_LEN_MAX`. Stack: 4.5 KiB.
///
/// The four positions of a pool window are gathered and centered once (i16), then each weight
/// row is read once for all four dot products (the four sums of sign-extended i16 products are
/// what x86's `pmaddwd` computes), and the window's maximum accumulator is kept.
#[cfg(target_pointer_width = "64")]
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub(crate) fn pool_window4(p: &ConvParams, out: &mut [u8]) {
    let zp = p.in_zp as i16;
    let len = p.patch_len().min(WIN_LEN_MAX);
    let mut patch = [0u8; WIN_LEN_MAX];
    let mut xc = [[0i16; WIN_LEN_MAX]; 4];
    let mut weights: &[u8] = &[];
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => weights = p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]),
            Step::Output { py, px } => {
                for (i, centered) in xc.iter_mut().enumerate() {
                    let (y0, x0) = super::window::origin2(p, py, px, i);
                    gather(p, y0, x0, &mut patch[..len]);
                    for (c, &v) in centered.iter_mut().zip(&patch[..len]) {
                        *c = v as i8 as i16 - zp;
                    }
                }
                let [x0, x1, x2, x3] = &xc;
                let (x0, x1, x2, x3) = (&x0[..len], &x1[..len], &x2[..len], &x3[..len]);
                for (b, row) in best[..blk.nb].iter_mut().zip(weights.chunks_exact(len)) {
                    let (mut s0, mut s1, mut s2, mut s3) = (0i32, 0i32, 0i32, 0i32);
                    for ((((&w, &a0), &a1), &a2), &a3) in row.iter().zip(x0).zip(x1).zip(x2).zip(x3) {
                        let w = w as i8 as i16 as i32;
                        s0 += a0 as i32 * w;
                        s1 += a1 as i32 * w;
                        s2 += a2 as i32 * w;
                        s3 += a3 as i32 * w;
                    }
                    *b = s0.max(s1).max(s2).max(s3);
                }
            }
        },
    );
}

/// Patches up to [`PATCH_MAX`] bytes. Contract: `patch_len() ≤ PATCH_MAX` (and `== L` when
/// `L > 0`), `scratch` of [`crate::kernels::scratch::small_patch_len`] bytes: the gathered patch and the
/// prepared [`Widened`] input (`3 · len` bytes in all).
///
/// Per position the receptive field is gathered once (the zero point in the padding) and
/// prepared once (widened on the Cortex-M DSP path), then every output channel, two at a time,
/// is one dot product with its contiguous OHWI weights.
///
/// `L`: the patch length when known at compile time (the caller checked `len == L`), 0 when not.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
// A function of its own on the Cortex-M (see `select`).
#[cfg_attr(target_arch = "arm", inline(never))]
pub(crate) fn small_patch<const L: usize>(p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
    let len = p.patch_len().min(PATCH_MAX);
    let mut carve = Carve::new(scratch);
    let Some(patch) = carve.bytes(len) else { return row_spans(p, out) };
    let mut wide = Widened::carve(&mut carve, len, p.in_zp as i32);
    let mut weights: &[u8] = &[];
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => weights = p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]),
            Step::Output { py, px } => {
                let best = &mut best[..blk.nb];
                best.fill(i32::MIN);
                for dy in 0..p.pool {
                    for dx in 0..p.pool {
                        let (y0, x0) = origin(p, py, px, dy, dx);
                        gather(p, y0, x0, patch);
                        let x = &*patch;
                        wide.load(x);
                        let mut rows = weights.chunks_exact(len);
                        for pair in best.chunks_mut(2) {
                            match (pair, rows.next(), rows.next()) {
                                ([b0, b1], Some(w0), Some(w1)) => {
                                    let fixed =
                                        (<&[u8; L]>::try_from(x), <&[u8; L]>::try_from(w0), <&[u8; L]>::try_from(w1));
                                    let (a0, a1) = match fixed {
                                        (Ok(x), Ok(w0), Ok(w1)) if L > 0 => wide.dot2_fixed(x, w0, w1),
                                        _ => wide.dot2(x, w0, w1),
                                    };
                                    *b0 = (*b0).max(a0);
                                    *b1 = (*b1).max(a1);
                                }
                                ([b0, ..], Some(w0), _) => *b0 = (*b0).max(wide.dot(x, w0)),
                                _ => {}
                            }
                        }
                    }
                }
            }
        },
    );
}

/// Any patch (those over [`PATCH_MAX`] bytes). Contract: none. Stack: none beyond the loop.
///
/// Per kernel row, one contiguous dot product over `kw · cin` values (the valid part of the
/// row at borders), two output channels at a time.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
// A function of its own on the Cortex-M (see `select`).
#[cfg_attr(target_arch = "arm", inline(never))]
pub(crate) fn row_spans(p: &ConvParams, out: &mut [u8]) {
    let (k, s, cin) = (p.kernel, p.stride, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    let zp = p.in_zp as i32;
    let row_len = k * cin;
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| {
            let Step::Output { py, px } = step else { return };
            let best = &mut best[..blk.nb];
            best.fill(i32::MIN);
            for dy in 0..p.pool {
                for dx in 0..p.pool {
                    let (oy, ox) = (py * p.pool + dy, px * p.pool + dx);
                    let y0 = (oy * s) as isize - p.pad[0] as isize;
                    let x0 = (ox * s) as isize - p.pad[1] as isize;
                    // Valid kernel columns [kx0, kx1) and rows [ky0, ky1) for this position.
                    let kx0 = (-x0).max(0) as usize;
                    let kx1 = (iw - x0).clamp(0, k as isize) as usize;
                    let ky0 = (-y0).max(0) as usize;
                    let ky1 = (ih - y0).clamp(0, k as isize) as usize;
                    if kx0 >= kx1 || ky0 >= ky1 {
                        // Entirely in padding: every tap contributes 0.
                        for b in best.iter_mut() {
                            *b = (*b).max(0);
                        }
                        continue;
                    }
                    let (c0, c1) = (kx0 * cin, kx1 * cin);
                    let row = |ky: usize| {
                        let xrow = ((y0 + ky as isize) as usize * p.in_shape.w) as isize + x0;
                        // x0 may be negative (left padding); x0 + kx0 ≥ 0, so `start` is too.
                        let start = (xrow * cin as isize + c0 as isize) as usize;
                        &p.input[start..start + (c1 - c0)]
                    };
                    let weights = |oc: usize, ky: usize| {
                        let base = oc * k * row_len + ky * row_len;
                        &p.sections.weights[base + c0..base + c1]
                    };
                    let mut oc = blk.c0;
                    for pair in best.chunks_mut(2) {
                        if let [b0, b1] = pair {
                            // Two output channels share every input row.
                            let (mut a0, mut a1) = (0, 0);
                            for ky in ky0..ky1 {
                                let (s0, s1) = dot2_centered(row(ky), weights(oc, ky), weights(oc + 1, ky), zp);
                                a0 += s0;
                                a1 += s1;
                            }
                            *b0 = (*b0).max(a0);
                            *b1 = (*b1).max(a1);
                        } else if let [b0] = pair {
                            let mut acc = 0;
                            for ky in ky0..ky1 {
                                acc += dot_centered(row(ky), weights(oc, ky), zp);
                            }
                            *b0 = (*b0).max(acc);
                        }
                        oc += 2;
                    }
                }
            }
        },
    );
}
