//! x86-64 AVX2 kernels for [`crate::Model::run_dispatched`] (feature `x86-dispatch`).
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
//!   requantized once (exact: requantization is non-decreasing). Pooled convolutions whose
//!   patches are whole 32-byte chunks go to the AVX-512 VNNI kernel ([`super::vnni`]) when
//!   the CPU has it.
//! - [`conv_pool4_lanes`]: patches of at most 16 values (a 3x3 first layer), channels in lanes:
//!   pairs of input values broadcast against 32 channels' weight pairs, no horizontal sums.
//! - [`dense`]: four output rows at a time share each 16-value slice of the input, widened and
//!   centered as it is read.
//!
//! Same integer arithmetic as [`super::conv2d::reference`] and [`super::dense::reference`], so
//! bit-identical results: proptested against them, and the conformance suite compares
//! `run_dispatched` with `run` on all 10,000 test images.
//!
//! # Audit of the `unsafe` in this file
//!
//! - [`Avx2`] is a token that only [`Avx2::detect`] creates, after `is_x86_feature_detected!`
//!   confirmed AVX2 (and records whether AVX-512 VNNI and VL are there too); its methods call
//!   the `#[target_feature]` kernels only for features the token records.
//! - Four helpers load from or store to exactly the array they are given (`&[u8; 16]`,
//!   `&[i16; 16]`, `[i32; 4]`, `[i32; 8]`), unaligned. Every other intrinsic used is a
//!   register operation.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, _mm_add_epi32, _mm_loadu_si128, _mm_storeu_si128, _mm256_add_epi32, _mm256_castsi256_si128,
    _mm256_cvtepi8_epi16, _mm256_extracti128_si256, _mm256_hadd_epi32, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_max_epi32, _mm256_permute2x128_si256, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256,
    _mm256_shuffle_epi32, _mm256_storeu_si256, _mm256_sub_epi16,
};

use super::{ConvParams, DenseParams};
use crate::requant::{ROW, RequantRow, lower_clamp};

/// Proof that this CPU executes AVX2 instructions, and whether it also has AVX-512 VNNI
/// (with AVX-512VL, for the 256-bit forms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2 {
    vnni: bool,
}

impl Avx2 {
    /// The token, when the CPU has AVX2.
    pub(crate) fn detect() -> Option<Self> {
        let vnni = std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl");
        std::is_x86_feature_detected!("avx2").then_some(Avx2 { vnni })
    }

    /// The token without the VNNI kernels (to test the AVX2 ones on a VNNI CPU).
    #[cfg(test)]
    pub(crate) fn without_vnni(self) -> Self {
        Avx2 { vnni: false }
    }

    /// Whether the VNNI kernels run.
    pub(crate) fn vnni(self) -> bool {
        self.vnni
    }

    /// [`super::vnni::conv_pool4`] when the CPU has VNNI and the layer suits it, else
    /// [`conv_pool4`]; `false` (nothing written) when neither takes the layer.
    #[inline(always)]
    pub(crate) fn conv(self, p: &ConvParams, out: &mut [u8]) -> bool {
        // SAFETY: `vnni` is true only when `detect` found AVX-512 VNNI and VL (and AVX2).
        if self.vnni && unsafe { super::vnni::conv_pool4(p, out) } {
            return true;
        }
        // SAFETY: the token exists, so the CPU has AVX2 (see `detect`).
        unsafe { conv_pool4(p, out) }
    }

    /// [`dense`]; `false` (nothing written) for an empty input.
    #[inline(always)]
    pub(crate) fn dense(self, p: &DenseParams, out: &mut [u8]) -> bool {
        // SAFETY: the token exists, so the CPU has AVX2 (see `detect`).
        unsafe { dense(p, out) }
    }
}

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

/// The sums of the eight lanes of each of four accumulators.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn sums4(a: [__m256i; 4]) -> [i32; 4] {
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    let s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    let mut r = [0i32; 4];
    // SAFETY: writes the 16 bytes of `r` (unaligned store).
    unsafe { _mm_storeu_si128(r.as_mut_ptr().cast(), s) };
    r
}

/// `v` (a whole number of 16-element chunks) as chunks.
#[inline(always)]
pub(super) fn chunks16<T>(v: &[T]) -> &[[T; 16]] {
    v.as_chunks::<16>().0
}

/// The eight i32 lanes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn lanes8(v: __m256i) -> [i32; 8] {
    let mut r = [0i32; 8];
    // SAFETY: writes the 32 bytes of `r` (unaligned store).
    unsafe { _mm256_storeu_si256(r.as_mut_ptr().cast(), v) };
    r
}

/// Largest input (`h · w · cin` values) the convolutions center once into an i16 copy (16 KiB
/// of stack); larger inputs fall back to the portable kernels.
pub(crate) const INPUT_MAX: usize = 8 * 1024;

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

/// Top-left input tap of pool-window position `i` (0..4, row-major) of pooled output (py, px).
#[inline(always)]
pub(super) fn window_origin(p: &ConvParams, py: usize, px: usize, i: usize) -> (isize, isize) {
    let y0 = ((py * 2 + i / 2) * p.stride) as isize - p.pad[0] as isize;
    let x0 = ((px * 2 + i % 2) * p.stride) as isize - p.pad[1] as isize;
    (y0, x0)
}

/// Whether the four positions of pooled output (py, px) all lie inside the image (no padding).
#[inline(always)]
pub(super) fn window_inside(p: &ConvParams, py: usize, px: usize) -> bool {
    let k = p.kernel;
    (0..4).all(|i| {
        let (y0, x0) = window_origin(p, py, px, i);
        y0 >= 0 && x0 >= 0 && y0 as usize + k <= p.in_shape.h && x0 as usize + k <= p.in_shape.w
    })
}

/// The `k` kernel rows of each position of a window inside the image, read in place from `x`
/// (one element per input value, HWC) as chunks of `N`: `segs[ky][i]`, empty where a row is
/// out of range (never, for a window inside the image).
#[inline(always)]
pub(super) fn window_rows<'a, T, const N: usize>(
    p: &ConvParams,
    x: &'a [T],
    py: usize,
    px: usize,
    segs: &mut [[&'a [[T; N]]; 4]; K_MAX],
) {
    let (k, cin, iw) = (p.kernel, p.in_shape.c, p.in_shape.w);
    let run = k * cin;
    for i in 0..4 {
        let (y0, x0) = window_origin(p, py, px, i);
        let start = (y0 as usize * iw + x0 as usize) * cin;
        for (ky, seg) in segs.iter_mut().enumerate().take(k) {
            let at = start + ky * iw * cin;
            seg[i] = x.get(at..at + run).map(|r| r.as_chunks::<N>().0).unwrap_or(&[]);
        }
    }
}

/// Largest kernel side whose rows [`conv_pool4`] reads in place.
pub(super) const K_MAX: usize = 7;

/// Longest patch [`conv_pool4`] takes.
pub(crate) const WINDOW_LEN_MAX: usize = 1024;

/// Convolution + 2x2 max pool, the window's four positions sharing each weight load.
///
/// The input is centered once per call. Where a kernel row's `k · cin` values are whole
/// 16-value chunks and the window lies inside the image, each position reads its `k` input
/// runs in place; elsewhere the patch is gathered first (zeros in the padding).
#[target_feature(enable = "avx2")]
fn conv_pool4(p: &ConvParams, out: &mut [u8]) -> bool {
    let len = p.kernel * p.kernel * p.in_shape.c;
    let n_in = p.in_shape.h * p.in_shape.w * p.in_shape.c;
    if p.pool != 2 || len > WINDOW_LEN_MAX || len == 0 || n_in > INPUT_MAX || p.input.len() < n_in {
        return false;
    }
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
        return true;
    }
    let (k, cin) = (p.kernel, p.in_shape.c);
    let o = p.out_shape;
    let lo = lower_clamp(p.out_zp, p.relu);
    let body = len / 16 * 16;
    let run = k * cin;
    // Kernel rows read in place need whole chunks; a patch tail needs the one-channel path.
    let in_place = run % 16 == 0 && k <= K_MAX;
    let pairs = body == len;
    let mut xc = [[0i16; WINDOW_LEN_MAX]; 4];
    let mut best = [0i32; ROW];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(ROW) {
        let nb = (o.c - c0).min(ROW);
        p.sections.load_row(&mut rq, c0, nb);
        let weights = p.sections.weights.get(c0 * len..).unwrap_or(&[]);
        for py in 0..o.h {
            for px in 0..o.w {
                // The input of the four positions as segments of whole chunks, each paired
                // with the weight chunks it meets: the k kernel rows read in place, or the
                // gathered patches (their first `body` values) as one segment.
                let mut segs: [[&[[i16; 16]]; 4]; K_MAX] = [[&[]; 4]; K_MAX];
                let (n_segs, seg_chunks) = if in_place && window_inside(p, py, px) {
                    window_rows(p, xin, py, px, &mut segs);
                    (k, run / 16)
                } else {
                    for (i, centered) in xc.iter_mut().enumerate() {
                        let (y0, x0) = window_origin(p, py, px, i);
                        gather_centered(p, xin, y0, x0, &mut centered[..len]);
                    }
                    let [x0, x1, x2, x3] = &xc;
                    segs[0] =
                        [chunks16(&x0[..body]), chunks16(&x1[..body]), chunks16(&x2[..body]), chunks16(&x3[..body])];
                    (1, body / 16)
                };
                let segs = &segs[..n_segs];
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
                let at = (py * o.w + px) * o.c + c0;
                if let Some(dst) = out.get_mut(at..at + nb) {
                    rq.apply(&best[..nb], p.out_zp, lo, p.rounding, dst);
                }
            }
        }
    }
    true
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

/// For two channels' four position accumulators (`acc[..4]`, `acc[4..]`): the largest of
/// each channel's four lane sums.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn max_of_sums4x2(acc: [__m256i; 8]) -> (i32, i32) {
    let a = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
    let b = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[4], acc[5]), _mm256_hadd_epi32(acc[6], acc[7]));
    // [a0 a1 a2 a3 | b0 b1 b2 b3]: each 128-bit half of `a` and `b` holds half of every sum.
    let s = _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(a, b), _mm256_permute2x128_si256::<0x31>(a, b));
    let m = _mm256_max_epi32(s, _mm256_shuffle_epi32::<0b0100_1110>(s));
    let m = _mm256_max_epi32(m, _mm256_shuffle_epi32::<0b1011_0001>(m));
    let l = lanes8(m);
    (l[0], l[4])
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
/// Per call, the weights of 32 channels are laid out pair by pair (`[pair][channel][2]`, i16):
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
    let o = p.out_shape;
    let lo = lower_clamp(p.out_zp, p.relu);
    let mut packed = [[0i16; 2 * LANES]; P];
    let mut best = [0i32; LANES];
    let mut rq = RequantRow::new();
    // Centered input value at (y, x, channel), 0 in the padding.
    let value = |y: isize, x: isize, ch: usize| -> i16 {
        if y < 0 || x < 0 || y >= ih || x >= iw {
            return 0;
        }
        xin.get((y * iw + x) as usize * cin + ch).copied().unwrap_or(0)
    };
    for c0 in (0..o.c).step_by(LANES) {
        let nb = (o.c - c0).min(LANES);
        p.sections.load_row(&mut rq, c0, nb);
        let weights = p.sections.weights.get(c0 * len..).unwrap_or(&[]);
        for (t, lanes) in packed.iter_mut().enumerate() {
            let (ky, q) = (t / row_pairs, t % row_pairs);
            for (c, pair) in lanes.chunks_exact_mut(2).enumerate() {
                for (h, v) in pair.iter_mut().enumerate() {
                    let r = 2 * q + h;
                    *v = match weights.get(c * len + ky * run + r) {
                        Some(&w) if c < nb && r < run && ky < k => w as i8 as i16,
                        _ => 0,
                    };
                }
            }
        }
        for py in 0..o.h {
            for px in 0..o.w {
                let mut m = [_mm256_set1_epi32(i32::MIN); 4];
                for i in 0..4 {
                    let (y0, x0) = window_origin(p, py, px, i);
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
                let at = (py * o.w + px) * o.c + c0;
                if let Some(dst) = out.get_mut(at..at + nb) {
                    rq.apply(&best[..nb], p.out_zp, lo, p.rounding, dst);
                }
            }
        }
    }
}

/// Fully connected layer, four rows at a time; the input is widened and centered 16 values at
/// a time as it is read (two instructions shared by four rows), so nothing is staged.
#[target_feature(enable = "avx2")]
fn dense(p: &DenseParams, out: &mut [u8]) -> bool {
    let n = p.input.len();
    if n == 0 {
        return false;
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
    true
}
