//! 2-D convolution, HWC input, OHWI weights, optional fused ReLU (lower clamp) and max pool.

use super::{ConvParams, PATCH_MAX, Widened, dot_centered, dot2_centered};
use crate::requant::{RequantRow, lower_clamp};

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

/// Requantizes channel `oc`'s accumulator and folds it into the pooled output byte `d`
/// (max with what the pool window produced so far).
#[inline(always)]
fn pool_into(p: &ConvParams, oc: usize, acc: i32, lo: i8, d: &mut u8) {
    let v = p.sections.requant(oc).apply_with(acc, p.out_zp, lo, p.rounding);
    *d = (*d as i8).max(v) as u8;
}

/// Fast version. The pool max is folded in as outputs are produced, so the pre-pool output is
/// never stored; for small patches it is taken over the accumulators, so each pooled output is
/// requantized once.
///
/// - Patches up to [`PATCH_MAX`] bytes (`k · k · cin`): the receptive field is gathered once
///   per position (the zero point in padding, so that `x − zp = 0` there) and prepared once
///   (widened on the Cortex-M DSP path), then every output channel, two at a time, is one dot
///   product with its contiguous OHWI weights.
/// - Larger patches: per kernel row, one contiguous dot product over `kw · cin` values (the
///   valid part of the row at borders), two output channels at a time.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub fn fast(p: &ConvParams, out: &mut [u8]) {
    let len = p.kernel * p.kernel * p.in_shape.c;
    #[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
    if len == 9 {
        // A compile-time tap count unrolls the tap loop, so the vectorizer works across the
        // channels (as intended) instead of across taps.
        return channels_inner::<9>(p, out);
    } else if len <= CI_LEN_MAX {
        return channels_inner::<0>(p, out);
    }
    #[cfg(target_pointer_width = "64")]
    if p.pool == 2 && len <= WIN_LEN_MAX {
        return pool_window4(p, out);
    }
    #[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
    if super::conv9_dsp::run(p, out) || super::conv_pool4_dsp::run(p, out) {
        return;
    }
    if len == 9 {
        // 3x3 on one channel, the usual first layer on grayscale images: a patch length known
        // at compile time lets the dot products unroll completely.
        small_patch::<9>(p, out);
    } else if len <= PATCH_MAX {
        small_patch::<0>(p, out);
    } else {
        row_spans(p, out);
    }
}

/// Output channels whose pool-window maxima are kept on the stack at once (256 bytes).
const CH_BLOCK: usize = 64;

/// The receptive field whose top-left tap is at `(y0, x0)` (may lie in the padding) into
/// `patch` (`k · k · cin` bytes, HWC); padding taps get the zero point, so that `x − zp = 0`.
#[inline(always)]
pub(super) fn gather(p: &ConvParams, y0: isize, x0: isize, patch: &mut [u8]) {
    let (k, cin) = (p.kernel, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    for ky in 0..k {
        for kx in 0..k {
            let (iy, ix) = (y0 + ky as isize, x0 + kx as isize);
            let t = (ky * k + kx) * cin;
            if iy < 0 || ix < 0 || iy >= ih || ix >= iw {
                patch[t..t + cin].fill(p.in_zp as u8);
            } else {
                let src = (iy as usize * p.in_shape.w + ix as usize) * cin;
                if cin == 1 {
                    patch[t] = p.input[src];
                } else {
                    patch[t..t + cin].copy_from_slice(&p.input[src..src + cin]);
                }
            }
        }
    }
}

/// Longest patch the channels-innermost path takes.
pub const CI_LEN_MAX: usize = 16;

/// Output channels one vector group of the channels-innermost path holds.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
const CI_GROUP: usize = 16;

/// Channels innermost (portable path): the block's weights transposed once per call into
/// `[group][tap][16 channels]` i16 (zero-padded past the last channel; 2 KiB of stack), then per
/// position and group `acc[j] += x[t] · w[t][j]` over 16 channels held in registers, which
/// LLVM vectorizes. `(x − zp) · w` fits in i16 exactly (|x − zp| ≤ 255, |w| ≤ 128: at most
/// 32,640), so the products are i16 multiplies widened to i32 for the sum.
///
/// `L`: the patch length when known at compile time (the caller checked it), 0 when not.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[cfg_attr(feature = "x86-dispatch", inline(always))]
fn channels_inner<const L: usize>(p: &ConvParams, out: &mut [u8]) {
    let (k, s, cin) = (p.kernel, p.stride, p.in_shape.c);
    let o = p.out_shape;
    let zp = p.in_zp as i16;
    let lo = lower_clamp(p.out_zp, p.relu);
    let len = if L > 0 && L <= CI_LEN_MAX { L } else { (k * k * cin).min(CI_LEN_MAX) };
    let mut patch = [0u8; CI_LEN_MAX];
    let mut xc = [0i16; CI_LEN_MAX];
    let mut wt = [[0i16; CI_GROUP]; CI_LEN_MAX * CH_BLOCK / CI_GROUP];
    let mut best = [0i32; CH_BLOCK];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(CH_BLOCK) {
        let nb = (o.c - c0).min(CH_BLOCK);
        p.sections.load_row(&mut rq, c0, nb);
        let groups = nb.div_ceil(CI_GROUP);
        for (g, taps) in wt.chunks_exact_mut(CI_LEN_MAX).take(groups).enumerate() {
            for (t, lanes) in taps.iter_mut().take(len).enumerate() {
                for (j, w) in lanes.iter_mut().enumerate() {
                    let c = c0 + g * CI_GROUP + j;
                    *w = match p.sections.weights.get(c * len + t) {
                        Some(&v) if c < c0 + nb => v as i8 as i16,
                        _ => 0,
                    };
                }
            }
        }
        for py in 0..o.h {
            for px in 0..o.w {
                best.fill(i32::MIN);
                for dy in 0..p.pool {
                    for dx in 0..p.pool {
                        let y0 = ((py * p.pool + dy) * s) as isize - p.pad[0] as isize;
                        let x0 = ((px * p.pool + dx) * s) as isize - p.pad[1] as isize;
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
                let dst = &mut out[(py * o.w + px) * o.c + c0..(py * o.w + px) * o.c + c0 + nb];
                rq.apply(&best[..nb], p.out_zp, lo, p.rounding, dst);
            }
        }
    }
}

/// Longest patch of the four-position path (4 KiB of stack for the centered patches).
#[cfg(target_pointer_width = "64")]
pub const WIN_LEN_MAX: usize = 512;

/// 64-bit hosts, 2x2 pool: the four positions of a pool window are gathered and centered once
/// (i16), then each weight row is read once for all four dot products (the four sums of
/// sign-extended i16 products are what x86's `pmaddwd` computes), and the window's maximum
/// accumulator is kept.
#[cfg(target_pointer_width = "64")]
#[cfg_attr(feature = "x86-dispatch", inline(always))]
fn pool_window4(p: &ConvParams, out: &mut [u8]) {
    let (k, s, cin) = (p.kernel, p.stride, p.in_shape.c);
    let o = p.out_shape;
    let zp = p.in_zp as i16;
    let lo = lower_clamp(p.out_zp, p.relu);
    let len = (k * k * cin).min(WIN_LEN_MAX);
    let mut patch = [0u8; WIN_LEN_MAX];
    let mut xc = [[0i16; WIN_LEN_MAX]; 4];
    let mut best = [0i32; CH_BLOCK];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(CH_BLOCK) {
        let nb = (o.c - c0).min(CH_BLOCK);
        p.sections.load_row(&mut rq, c0, nb);
        let weights = p.sections.weights.get(c0 * len..).unwrap_or(&[]);
        for py in 0..o.h {
            for px in 0..o.w {
                for (i, centered) in xc.iter_mut().enumerate() {
                    let (dy, dx) = (i / 2, i % 2);
                    let y0 = ((py * 2 + dy) * s) as isize - p.pad[0] as isize;
                    let x0 = ((px * 2 + dx) * s) as isize - p.pad[1] as isize;
                    gather(p, y0, x0, &mut patch[..len]);
                    for (c, &v) in centered.iter_mut().zip(&patch[..len]) {
                        *c = v as i8 as i16 - zp;
                    }
                }
                let [x0, x1, x2, x3] = &xc;
                let (x0, x1, x2, x3) = (&x0[..len], &x1[..len], &x2[..len], &x3[..len]);
                for (b, row) in best[..nb].iter_mut().zip(weights.chunks_exact(len)) {
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
                let at = (py * o.w + px) * o.c + c0;
                rq.apply(&best[..nb], p.out_zp, lo, p.rounding, &mut out[at..at + nb]);
            }
        }
    }
}

/// `L`: the patch length when known at compile time (the caller checked `len == L`), 0 when not.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
fn small_patch<const L: usize>(p: &ConvParams, out: &mut [u8]) {
    let (k, s, cin) = (p.kernel, p.stride, p.in_shape.c);
    let o = p.out_shape;
    let zp = p.in_zp as i32;
    let lo = lower_clamp(p.out_zp, p.relu);
    let len = k * k * cin;
    // Raw input bytes of the patch; padding holds the zero point, so that x − zp = 0 there.
    let mut patch = [p.in_zp as u8; PATCH_MAX];
    let mut wide = Widened::new(zp);
    // The pool takes the maximum of the accumulators and requantizes once: requantization is
    // non-decreasing (m > 0, rounding to nearest, clamps), so max(rq(a), rq(b)) = rq(max(a, b)).
    let mut best = [0i32; CH_BLOCK];
    // With one block (the usual case) the channels' constants are unpacked once per call.
    let mut rq = RequantRow::new();
    let single = o.c <= CH_BLOCK;
    if single {
        p.sections.load_row(&mut rq, 0, o.c);
    }
    for py in 0..o.h {
        for px in 0..o.w {
            let dst = &mut out[(py * o.w + px) * o.c..(py * o.w + px + 1) * o.c];
            for (block, dst) in dst.chunks_mut(CH_BLOCK).enumerate() {
                let c0 = block * CH_BLOCK;
                if !single {
                    p.sections.load_row(&mut rq, c0, dst.len());
                }
                let best = &mut best[..dst.len()];
                best.fill(i32::MIN);
                let weights = p.sections.weights.get(c0 * len..).unwrap_or(&[]);
                for dy in 0..p.pool {
                    for dx in 0..p.pool {
                        let y0 = ((py * p.pool + dy) * s) as isize - p.pad[0] as isize;
                        let x0 = ((px * p.pool + dx) * s) as isize - p.pad[1] as isize;
                        gather(p, y0, x0, &mut patch);
                        let x = &patch[..len];
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
                rq.apply(best, p.out_zp, lo, p.rounding, dst);
            }
        }
    }
}

#[cfg_attr(feature = "x86-dispatch", inline(always))]
fn row_spans(p: &ConvParams, out: &mut [u8]) {
    let (k, s, cin) = (p.kernel, p.stride, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    let o = p.out_shape;
    let zp = p.in_zp as i32;
    let lo = lower_clamp(p.out_zp, p.relu);
    let row_len = k * cin;
    out.fill(i8::MIN as u8);
    for py in 0..o.h {
        for px in 0..o.w {
            let dst = &mut out[(py * o.w + px) * o.c..(py * o.w + px + 1) * o.c];
            for dy in 0..p.pool {
                for dx in 0..p.pool {
                    let (oy, ox) = (py * p.pool + dy, px * p.pool + dx);
                    let y0 = (oy * s) as isize - p.pad[0] as isize;
                    let x0 = (ox * s) as isize - p.pad[1] as isize;
                    // Valid kernel columns [kx0, kx1) for this position.
                    let kx0 = (-x0).max(0) as usize;
                    let kx1 = (iw - x0).clamp(0, k as isize) as usize;
                    if kx0 >= kx1 {
                        // Entirely in padding: every tap contributes 0.
                        for (oc, d) in dst.iter_mut().enumerate() {
                            pool_into(p, oc, p.sections.bias(oc), lo, d);
                        }
                        continue;
                    }
                    let (c0, c1) = (kx0 * cin, kx1 * cin);
                    // Valid kernel rows [ky0, ky1) for this position.
                    let ky0 = (-y0).max(0) as usize;
                    let ky1 = (ih - y0).clamp(0, k as isize) as usize;
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
                    let mut oc = 0;
                    for pair in dst.chunks_mut(2) {
                        if let [d0, d1] = pair {
                            // Two output channels share every input row.
                            let (mut a0, mut a1) = (p.sections.bias(oc), p.sections.bias(oc + 1));
                            for ky in ky0..ky1 {
                                let (s0, s1) = dot2_centered(row(ky), weights(oc, ky), weights(oc + 1, ky), zp);
                                a0 += s0;
                                a1 += s1;
                            }
                            pool_into(p, oc, a0, lo, d0);
                            pool_into(p, oc + 1, a1, lo, d1);
                        } else if let [d0] = pair {
                            let mut acc = p.sections.bias(oc);
                            for ky in ky0..ky1 {
                                acc += dot_centered(row(ky), weights(oc, ky), zp);
                            }
                            pool_into(p, oc, acc, lo, d0);
                        }
                        oc += 2;
                    }
                }
            }
        }
    }
}
