//! x86-64 AVX2 kernels (feature `x86-dispatch`; chosen by [`crate::kernels::select`] when
//! the CPU has x86-64-v3).
//!
//! The portable kernels compiled for AVX2 leave most of the machine unused: LLVM turns their
//! i16 dot products into `vpmaddwd` on 128-bit halves, and a loop that shares one weight load
//! among four sums into `vpmulld`. These kernels write the shape out with intrinsics, 16
//! multiply-accumulates per `vpmaddwd`:
//!
//! - [`conv_pool4`]: a convolution with a fused 2x2 max pool. The input is centered (i16)
//!   once per call; the four positions of a pool window read their kernel rows in place (when a
//!   row is whole 16-value chunks and the window lies inside the image) or are gathered once;
//!   each output channel's contiguous OHWI weight row is widened 16 bytes at a time
//!   (`vpmovsxbw`) and multiplied with all four positions (four `vpmaddwd`), two channels per
//!   input load, so a weight is loaded once per window. The window's largest accumulator is
//!   requantized once (exact: requantization is non-decreasing).
//! - `conv_pool4_lanes`: patches of at most 16 values (a 3x3 first layer), channels in lanes:
//!   pairs of input values broadcast against 32 channels' weight pairs, no horizontal sums.
//! - [`dense`]: four output rows at a time share each 16-value slice of the input, widened and
//!   centered as it is read.
//!
//! Same integer arithmetic as [`crate::kernels::conv2d::reference`] and
//! [`crate::kernels::dense::reference`], so bit-identical results (the shared kernel contract
//! checks them, and the conformance suite compares all 10,000 test images).
//!
//! # Audit of the `unsafe` in this file
//!
//! Two helpers load from exactly the array they are given (`&[u8; 16]`, `&[i16; 16]`),
//! unaligned. Every other intrinsic used is a register operation. The kernels are
//! `#[target_feature(enable = "avx2")]`; `super::X86` calls them only with its token, which
//! exists only when detection found AVX2.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, _mm_loadu_si128, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_max_epi32, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_sub_epi16,
};

use super::support::{INPUT_MAX, WINDOW_LEN_MAX, chunks16, lanes8, max_of_sums4x2, sums4};
use crate::kernels::params::{ConvParams, DenseParams};
use crate::kernels::window::{K_MAX, Step, inside4, origin2, origins2, pooled, rows4};
use crate::requant::{ROW, RequantRow, lower_clamp};

/// Sixteen int8 values widened to i16.
#[target_feature(enable = "avx2")]
#[inline]
fn widen16(b: &[u8; 16]) -> __m256i {
    // SAFETY: reads the 16 bytes of `b` (unaligned load).
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
}

/// Sixteen centered i16 inputs.
#[target_feature(enable = "avx2")]
#[inline]
fn inputs16(x: &[i16; 16]) -> __m256i {
    // SAFETY: reads the 32 bytes of `x` (unaligned load).
    unsafe { _mm256_loadu_si256(x.as_ptr().cast()) }
}

/// The convolution's input minus its zero point, as i16, into `dst` (same length).
#[target_feature(enable = "avx2")]
#[inline]
fn center(p: &ConvParams, dst: &mut [i16]) {
    let zp = p.in_zp as i16;
    for (d, &v) in dst.iter_mut().zip(p.input) {
        *d = v as i8 as i16 - zp;
    }
}

/// The receptive field whose top-left tap is at `(y0, x0)` from the centered input `xin` into
/// `dst` (`k · k · cin` values, HWC); padding taps are 0 (the zero point, centered).
#[inline(always)]
fn gather_centered(p: &ConvParams, xin: &[i16], y0: isize, x0: isize, dst: &mut [i16]) {
    let (k, cin) = (p.kernel, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    for (ky, rows) in dst.chunks_mut(k * cin).enumerate().take(k) {
        let iy = y0 + ky as isize;
        for (kx, d) in rows.chunks_mut(cin).enumerate() {
            let ix = x0 + kx as isize;
            let src = if iy >= 0 && ix >= 0 && iy < ih && ix < iw {
                let at = (iy * iw + ix) as usize * cin;
                xin.get(at..at + cin)
            } else {
                None
            };
            match src {
                // One channel: a plain store (a one-element copy would call memcpy).
                Some(&[v]) => d.fill(v),
                Some(src) => d.copy_from_slice(src),
                None => d.fill(0),
            }
        }
    }
}

/// The contract of [`conv_pool4`]: a 2x2 pool, patches of 1 to [`WINDOW_LEN_MAX`] values, an
/// input of at most [`INPUT_MAX`] values. Stack: the centered input (64 KiB) and four
/// gathered patches (8 KiB).
pub(crate) fn takes_conv(p: &ConvParams) -> bool {
    let n_in = p.in_shape.numel();
    let len = p.patch_len();
    p.pool == 2 && len > 0 && len <= WINDOW_LEN_MAX && n_in <= INPUT_MAX && p.input.len() >= n_in
}

/// Convolution + 2x2 max pool, the window's four positions sharing each weight load, on a layer
/// [`takes_conv`] accepts.
///
/// The input is centered once per call. Where a kernel row's `k · cin` values are whole
/// 16-value chunks and the window lies inside the image, each position reads its `k` input
/// runs in place; elsewhere the patch is gathered first (zeros in the padding).
#[target_feature(enable = "avx2")]
pub(crate) fn conv_pool4(p: &ConvParams, out: &mut [u8]) {
    let len = p.patch_len().min(WINDOW_LEN_MAX);
    let n_in = p.in_shape.numel().min(INPUT_MAX);
    // One spare element after the input (see `conv_pool4_lanes`).
    let mut xin = [0i16; INPUT_MAX + 1];
    let xin = &mut xin[..n_in + 1];
    center(p, xin);
    if len <= 16 {
        // The number of tap pairs as a constant, so the pair loop unrolls.
        match lane_pairs(p) {
            1 => conv_pool4_lanes::<1>(p, xin, out),
            2 => conv_pool4_lanes::<2>(p, xin, out),
            3 => conv_pool4_lanes::<3>(p, xin, out),
            4 => conv_pool4_lanes::<4>(p, xin, out),
            5 => conv_pool4_lanes::<5>(p, xin, out),
            6 => conv_pool4_lanes::<6>(p, xin, out),
            7 => conv_pool4_lanes::<7>(p, xin, out),
            _ => conv_pool4_lanes::<8>(p, xin, out),
        }
        return;
    }
    let (k, cin) = (p.kernel, p.in_shape.c);
    let body = len / 16 * 16;
    let run = k * cin;
    // Kernel rows read in place need whole chunks; a patch tail needs the one-channel path.
    let in_place = run % 16 == 0 && k <= K_MAX;
    let pairs = body == len;
    let xin: &[i16] = xin;
    let mut xc = [[0i16; WINDOW_LEN_MAX]; 4];
    let mut weights: &[u8] = &[];
    pooled(
        p,
        out,
        ROW,
        #[inline(always)]
        |blk, step, best| {
            let py_px = match step {
                Step::Start => {
                    weights = p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]);
                    return;
                }
                Step::Output { py, px } => (py, px),
            };
            let (py, px) = py_px;
            // The input of the four positions as segments of whole chunks, each paired with the
            // weight chunks it meets: the k kernel rows read in place, or the gathered patches
            // (their first `body` values) as one segment.
            let mut segs: [[&[[i16; 16]]; 4]; K_MAX] = [[&[]; 4]; K_MAX];
            let origins = origins2(p, py, px);
            let (n_segs, seg_chunks) = if in_place && inside4(p, &origins) {
                rows4(p, xin, &origins, &mut segs);
                (k, run / 16)
            } else {
                for (centered, &(y0, x0)) in xc.iter_mut().zip(&origins) {
                    gather_centered(p, xin, y0, x0, &mut centered[..len]);
                }
                let [x0, x1, x2, x3] = &xc;
                segs[0] = [chunks16(&x0[..body]), chunks16(&x1[..body]), chunks16(&x2[..body]), chunks16(&x3[..body])];
                (1, body / 16)
            };
            let segs = &segs[..n_segs];
            let nb = blk.nb;
            let mut rows = weights.chunks_exact(len);
            let mut c = 0;
            while c < nb {
                if pairs && c + 1 < nb {
                    let (Some(r0), Some(r1)) = (rows.next(), rows.next()) else { break };
                    let mut acc = [_mm256_setzero_si256(); 8];
                    for (s, seg) in segs.iter().enumerate() {
                        mac4x2(&mut acc, segment(r0, body, s, seg_chunks), segment(r1, body, s, seg_chunks), seg);
                    }
                    (best[c], best[c + 1]) = max_of_sums4x2(acc);
                    c += 2;
                } else {
                    let Some(r) = rows.next() else { break };
                    let mut acc = [_mm256_setzero_si256(); 4];
                    for (s, seg) in segs.iter().enumerate() {
                        mac4(&mut acc, segment(r, body, s, seg_chunks), seg);
                    }
                    let mut sums = sums4(acc);
                    // The patch tail past the last whole chunk (gathered path only).
                    for (t, &w) in r.iter().enumerate().skip(body) {
                        for (s, x) in sums.iter_mut().zip(&xc) {
                            *s += x[t] as i32 * (w as i8 as i32);
                        }
                    }
                    best[c] = sums[0].max(sums[1]).max(sums[2].max(sums[3]));
                    c += 1;
                }
            }
        },
    );
}

/// Weight chunks `[s · n, (s + 1) · n)` of `row`'s first `body` bytes (empty if out of range).
#[inline(always)]
fn segment(row: &[u8], body: usize, s: usize, n: usize) -> &[[u8; 16]] {
    row.get(..body).map(chunks16).and_then(|c| c.get(s * n..(s + 1) * n)).unwrap_or(&[])
}

/// `acc[i] += Σ_j widen(w[j]) · x[i][j]` (pairwise, `vpmaddwd`) for the four positions `i`,
/// over the chunks all five slices hold.
#[target_feature(enable = "avx2")]
#[inline]
fn mac4(acc: &mut [__m256i; 4], w: &[[u8; 16]], x: &[&[[i16; 16]]; 4]) {
    let n = w.len().min(x[0].len()).min(x[1].len()).min(x[2].len()).min(x[3].len());
    let (w, x0, x1, x2, x3) = (&w[..n], &x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]);
    let [mut a0, mut a1, mut a2, mut a3] = *acc;
    for j in 0..n {
        let w = widen16(&w[j]);
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(w, inputs16(&x0[j])));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(w, inputs16(&x1[j])));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(w, inputs16(&x2[j])));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(w, inputs16(&x3[j])));
    }
    *acc = [a0, a1, a2, a3];
}

/// [`mac4`] for two channels (`acc[..4]` with `w0`, `acc[4..]` with `w1`): each input load
/// serves both.
#[target_feature(enable = "avx2")]
#[inline]
fn mac4x2(acc: &mut [__m256i; 8], w0: &[[u8; 16]], w1: &[[u8; 16]], x: &[&[[i16; 16]]; 4]) {
    let n = w0.len().min(w1.len()).min(x[0].len()).min(x[1].len()).min(x[2].len()).min(x[3].len());
    let (w0, w1, x0, x1, x2, x3) = (&w0[..n], &w1[..n], &x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]);
    let [mut a0, mut a1, mut a2, mut a3, mut b0, mut b1, mut b2, mut b3] = *acc;
    for j in 0..n {
        let (u, v) = (widen16(&w0[j]), widen16(&w1[j]));
        let x = inputs16(&x0[j]);
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(u, x));
        b0 = _mm256_add_epi32(b0, _mm256_madd_epi16(v, x));
        let x = inputs16(&x1[j]);
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(u, x));
        b1 = _mm256_add_epi32(b1, _mm256_madd_epi16(v, x));
        let x = inputs16(&x2[j]);
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(u, x));
        b2 = _mm256_add_epi32(b2, _mm256_madd_epi16(v, x));
        let x = inputs16(&x3[j]);
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(u, x));
        b3 = _mm256_add_epi32(b3, _mm256_madd_epi16(v, x));
    }
    *acc = [a0, a1, a2, a3, b0, b1, b2, b3];
}

/// Output channels [`conv_pool4_lanes`] holds in registers (four vectors of eight).
const LANES: usize = 32;

/// Tap pairs of a patch of at most 16 values in the layout [`conv_pool4_lanes`] uses: each
/// kernel row (`k · cin` contiguous input values) is split into pairs, the last one padded.
fn lane_pairs(p: &ConvParams) -> usize {
    p.kernel * (p.kernel * p.in_shape.c).div_ceil(2)
}

/// [`conv_pool4`] for patches of at most 16 values (a 3x3 first layer), channels in lanes.
///
/// Per block, the weights of 32 channels are laid out pair by pair (`[pair][channel][2]`, i16):
/// pairs run along each kernel row (`k · cin` contiguous input values), and a row of odd
/// length ends in a pair whose second weight is 0. Per position each pair of input values is
/// broadcast and one `vpmaddwd` per eight channels accumulates it, with no horizontal sums;
/// the window's maximum is a lane-wise `vpmaxsd`. Inside the image a pair is read straight
/// from the centered input (for the padded pair the value after the row, times 0; `xin` has
/// one spare element), so nothing is gathered; windows touching the padding read zeros there.
///
/// `P`: the number of pairs, [`lane_pairs`].
#[target_feature(enable = "avx2")]
fn conv_pool4_lanes<const P: usize>(p: &ConvParams, xin: &[i16], out: &mut [u8]) {
    let (k, cin) = (p.kernel, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    let len = k * k * cin;
    let run = k * cin;
    let row_pairs = run.div_ceil(2);
    let mut packed = [[0i16; 2 * LANES]; P];
    // Centered input value at (y, x, channel), 0 in the padding.
    let value = |y: isize, x: isize, ch: usize| -> i16 {
        if y < 0 || x < 0 || y >= ih || x >= iw {
            return 0;
        }
        xin.get((y * iw + x) as usize * cin + ch).copied().unwrap_or(0)
    };
    pooled(
        p,
        out,
        LANES,
        #[inline(always)]
        |blk, step, best| match step {
            Step::Start => {
                let weights = p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]);
                for (t, lanes) in packed.iter_mut().enumerate() {
                    let (ky, q) = (t / row_pairs, t % row_pairs);
                    for (c, pair) in lanes.chunks_exact_mut(2).enumerate() {
                        for (h, v) in pair.iter_mut().enumerate() {
                            let r = 2 * q + h;
                            *v = match weights.get(c * len + ky * run + r) {
                                Some(&w) if c < blk.nb && r < run && ky < k => w as i8 as i16,
                                _ => 0,
                            };
                        }
                    }
                }
            }
            Step::Output { py, px } => {
                let mut m = [_mm256_set1_epi32(i32::MIN); 4];
                for i in 0..4 {
                    let (y0, x0) = origin2(p, py, px, i);
                    let mut xp = [0i32; P];
                    let inside = y0 >= 0 && x0 >= 0 && y0 + k as isize <= ih && x0 + k as isize <= iw;
                    for (t, v) in xp.iter_mut().enumerate() {
                        let (ky, q) = (t / row_pairs, t % row_pairs);
                        let (a, b) = if inside {
                            let at = ((y0 as usize + ky) * iw as usize + x0 as usize) * cin + 2 * q;
                            match xin.get(at..at + 2) {
                                Some(&[a, b]) => (a, b),
                                _ => (0, 0),
                            }
                        } else {
                            let tap = |r: usize| {
                                if r < run { value(y0 + ky as isize, x0 + (r / cin) as isize, r % cin) } else { 0 }
                            };
                            (tap(2 * q), tap(2 * q + 1))
                        };
                        *v = (a as u16 as u32 | (b as u16 as u32) << 16) as i32;
                    }
                    let mut acc = [_mm256_setzero_si256(); 4];
                    for (w, &v) in packed.iter().zip(&xp) {
                        let x = _mm256_set1_epi32(v);
                        for (a, w) in acc.iter_mut().zip(w.as_chunks::<16>().0) {
                            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, inputs16(w)));
                        }
                    }
                    for (m, a) in m.iter_mut().zip(acc) {
                        *m = _mm256_max_epi32(*m, a);
                    }
                }
                for (dst, v) in best.chunks_exact_mut(8).zip(m) {
                    dst.copy_from_slice(&lanes8(v));
                }
            }
        },
    );
}

/// The contract of [`dense`]: a non-empty input. Stack: one row of accumulators.
pub(crate) fn takes_dense(p: &DenseParams) -> bool {
    !p.input.is_empty()
}

/// Fully connected layer, four rows at a time; the input is widened and centered 16 values at
/// a time as it is read (two instructions shared by four rows), so nothing is staged.
#[target_feature(enable = "avx2")]
pub(crate) fn dense(p: &DenseParams, out: &mut [u8]) {
    let n = p.input.len();
    if n == 0 {
        return; // never: `takes_dense`, and parse gives every tensor elements
    }
    let lo = lower_clamp(p.out_zp, p.relu);
    let zp = p.in_zp as i32;
    let zpv = _mm256_set1_epi16(p.in_zp as i16);
    let body = n / 16 * 16;
    let xs = chunks16(&p.input[..body]);
    let tail = |row: &[u8], s: &mut i32| {
        for (&w, &x) in row[body..].iter().zip(&p.input[body..]) {
            *s += (x as i8 as i32 - zp) * (w as i8 as i32);
        }
    };
    let mut accs = [0i32; ROW];
    let mut rq = RequantRow::new();
    for (block, dst) in out.chunks_mut(ROW).enumerate() {
        let c0 = block * ROW;
        p.sections.load_row(&mut rq, c0, dst.len());
        let rows = p.sections.weights.get(c0 * n..).unwrap_or(&[]).chunks_exact(n);
        let mut rows4 = rows.clone();
        for quad in accs[..dst.len()].chunks_exact_mut(4) {
            let (Some(r0), Some(r1), Some(r2), Some(r3)) = (rows4.next(), rows4.next(), rows4.next(), rows4.next())
            else {
                break;
            };
            let chunks = body / 16;
            let (w0, w1, w2, w3) =
                (chunks16(&r0[..body]), chunks16(&r1[..body]), chunks16(&r2[..body]), chunks16(&r3[..body]));
            let [mut a0, mut a1, mut a2, mut a3] = [_mm256_setzero_si256(); 4];
            for j in 0..chunks {
                let x = _mm256_sub_epi16(widen16(&xs[j]), zpv);
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(widen16(&w0[j]), x));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(widen16(&w1[j]), x));
                a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(widen16(&w2[j]), x));
                a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(widen16(&w3[j]), x));
            }
            let mut s = sums4([a0, a1, a2, a3]);
            for (s, r) in s.iter_mut().zip([r0, r1, r2, r3]) {
                tail(r, s);
            }
            quad.copy_from_slice(&s);
        }
        let done = dst.len() / 4 * 4;
        for (a, r) in accs[done..dst.len()].iter_mut().zip(rows.skip(done)) {
            let mut acc = _mm256_setzero_si256();
            for (x, w) in xs.iter().zip(r[..body].as_chunks::<16>().0) {
                let x = _mm256_sub_epi16(widen16(x), zpv);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(widen16(w), x));
            }
            *a = lanes8(acc).iter().sum();
            tail(r, a);
        }
        rq.apply(&accs[..dst.len()], p.out_zp, lo, p.rounding, dst);
    }
}
