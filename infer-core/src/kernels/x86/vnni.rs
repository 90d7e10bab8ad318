//! x86-64 AVX-512 VNNI kernels (feature `x86-dispatch`; chosen by [`crate::kernels::select`]):
//! a convolution whose patches are whole 32-byte chunks, unpooled or with a fused 2x2 max pool,
//! and a dense layer.
//!
//! `vpdpbusd` multiplies 32 unsigned bytes by 32 signed bytes and adds each group of four
//! products to an i32 lane: 32 multiply-accumulates per instruction, twice `vpmaddwd`'s, with
//! no widening. Its unsigned operand is the activation shifted by 128 (`x ^ 0x80` of the int8
//! byte, so `u = x + 128` in 0..=255); the product sums are exact (four products of at most
//! 255 · 128 fit easily in i32), and
//!
//! `Σ (x − zp) · w = Σ u · w − (128 + zp) · Σ w`,
//!
//! where `Σ w` (the channel's weight sum) is computed once per block, also with `vpdpbusd`
//! (against bytes of 1). Padding taps hold `u = zp + 128`, whose centered value is 0. Four
//! positions share each weight load as in [`super::avx2`] (a pool window's four, or four
//! unpooled outputs in a row), two channels share each input load, and the correction is the
//! same for the four positions, so a pool subtracts it after the maximum. Bit-identical to [`crate::kernels::conv2d::reference`] (the shared
//! kernel contract checks it).
//!
//! [`dense`] shifts each 32-byte slice of the input as it reads it (shared by up to eight
//! rows) and needs no weight sums when the input's zero point is −128 (`128 + zp = 0`: the
//! pixels and every ReLU output our quantizer writes); otherwise it sums the weights in the
//! same pass. A 16-value remainder is taken centered with `vpmaddwd`, a shorter one scalar.
//! Bit-identical to [`crate::kernels::dense::reference`].
//!
//! # Audit of the `unsafe` in this file
//!
//! `load32` and `widen16` read exactly the array they are given (unaligned loads); [`conv4`]
//! and [`dense`] are called only through `super::X86`, whose token records that
//! detection found AVX2, AVX-512 VNNI and AVX-512VL. Every other intrinsic is a register
//! operation.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, _mm_loadu_si128, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_dpbusd_epi32, _mm256_loadu_si256,
    _mm256_madd_epi16, _mm256_set1_epi8, _mm256_set1_epi16, _mm256_setzero_si256, _mm256_sub_epi16, _mm256_xor_si256,
};

use super::support::{INPUT_MAX, WINDOW_LEN_MAX, lanes8, max_of_sums4x2, sums4};
use crate::kernels::params::{ConvParams, DenseParams};
use crate::kernels::window::{Block, K_MAX, Origins, Step, Step4, gather, inside4, origins2, pooled, rows4, runs4};
use crate::requant::{ROW, RequantRow, lower_clamp};

/// Thirty-two bytes as a vector.
#[target_feature(enable = "avx2")]
#[inline]
fn load32(b: &[u8; 32]) -> __m256i {
    // SAFETY: reads the 32 bytes of `b` (unaligned load).
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Sixteen bytes as the low half of a vector's worth of i16 (sign-extended).
#[target_feature(enable = "avx2")]
#[inline]
fn widen16(b: &[u8; 16]) -> __m256i {
    // SAFETY: reads the 16 bytes of `b` (unaligned load).
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
}

/// `v` (a whole number of 32-byte chunks) as chunks.
#[inline(always)]
fn chunks32(v: &[u8]) -> &[[u8; 32]] {
    v.as_chunks::<32>().0
}

/// Weight chunks `[s · n, (s + 1) · n)` of `row` (empty if out of range).
#[inline(always)]
fn segment(row: &[u8], s: usize, n: usize) -> &[[u8; 32]] {
    chunks32(row).get(s * n..(s + 1) * n).unwrap_or(&[])
}

/// The contract of [`conv4`]: no pool or a 2x2 pool, patches of whole 32-byte chunks up to
/// [`WINDOW_LEN_MAX`] bytes, an input of at most [`INPUT_MAX`] values. Stack: the shifted input
/// (32 KiB), four gathered patches (4 KiB) and four rows of sums (1 KiB).
pub(crate) fn takes(p: &ConvParams) -> bool {
    let len = p.patch_len();
    let n_in = p.in_shape.numel();
    (p.pool == 1 || p.pool == 2)
        && len > 0
        && len.is_multiple_of(32)
        && len <= WINDOW_LEN_MAX
        && n_in <= INPUT_MAX
        && p.input.len() >= n_in
}

/// Convolution with `vpdpbusd`, four positions sharing each weight load: the 2x2 window of a
/// pooled output (its maximum kept) or, unpooled, four outputs in a row; on a layer [`takes`]
/// accepts.
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
pub(crate) fn conv4(p: &ConvParams, out: &mut [u8]) {
    let n_in = p.in_shape.numel().min(INPUT_MAX);
    let mut xu = [0u8; INPUT_MAX];
    for (d, &v) in xu.iter_mut().zip(&p.input[..n_in]) {
        *d = v ^ 0x80;
    }
    let mut k = Conv4 {
        p,
        xu: &xu[..n_in],
        len: p.patch_len().min(WINDOW_LEN_MAX),
        patches: [[0u8; WINDOW_LEN_MAX]; 4],
        corr: [0i32; ROW],
        weights: &[],
        in_place: (p.kernel * p.in_shape.c).is_multiple_of(32) && p.kernel <= K_MAX,
    };
    if p.pool == 2 {
        pooled(
            p,
            out,
            ROW,
            #[inline(always)]
            |blk, step, best| match step {
                Step::Start => k.start(blk),
                Step::Output { py, px } => {
                    k.positions::<true, 1>(blk, &origins2(p, py, px), core::array::from_mut(best))
                }
            },
        );
    } else {
        runs4(
            p,
            out,
            ROW,
            #[inline(always)]
            |blk, step, sums| match step {
                Step4::Start => k.start(blk),
                Step4::Positions { origins } => k.positions::<false, 4>(blk, &origins, sums),
            },
        );
    }
}

/// The state of a [`conv4`] call: the shifted input, the gathered patches, the current block's
/// weights and weight-sum corrections.
struct Conv4<'a> {
    p: &'a ConvParams<'a>,
    xu: &'a [u8],
    len: usize,
    patches: [[u8; WINDOW_LEN_MAX]; 4],
    corr: [i32; ROW],
    weights: &'a [u8],
    /// Whether a kernel row is whole 32-byte chunks, so that positions inside the image read
    /// their rows in place.
    in_place: bool,
}

impl Conv4<'_> {
    /// A block begins: its weights, and each channel's correction `(128 + zp) · Σ w`.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    #[inline]
    fn start(&mut self, blk: Block) {
        let len = self.len;
        let shift = 128 + self.p.in_zp as i32;
        let ones = _mm256_set1_epi8(1);
        self.weights = self.p.sections.weights.get(blk.c0 * len..).unwrap_or(&[]);
        for (c, row) in self.corr[..blk.nb].iter_mut().zip(self.weights.chunks_exact(len)) {
            let mut s = _mm256_setzero_si256();
            for w in chunks32(row) {
                s = _mm256_dpbusd_epi32(s, ones, load32(w));
            }
            *c = shift * lanes8(s).iter().sum::<i32>();
        }
    }

    /// The four positions at `origins`, every channel of the block: each channel's maximum
    /// into `dst[0]` (`POOL`, a 2x2 window), or its four sums into `dst[..4]`.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    #[inline]
    fn positions<const POOL: bool, const N: usize>(
        &mut self,
        blk: Block,
        origins: &Origins,
        dst: &mut [[i32; ROW]; N],
    ) {
        let (p, len) = (self.p, self.len);
        let (k, cin) = (p.kernel, p.in_shape.c);
        let run = k * cin;
        // As in the AVX2 kernel: the k kernel rows read in place, or the gathered patches (raw
        // bytes, zero point in the padding, then shifted) as one segment.
        let mut segs: [[&[[u8; 32]]; 4]; K_MAX] = [[&[]; 4]; K_MAX];
        let (n_segs, seg_chunks) = if self.in_place && inside4(p, origins) {
            rows4(p, self.xu, origins, &mut segs);
            (k, run / 32)
        } else {
            for (patch, &(y0, x0)) in self.patches.iter_mut().zip(origins) {
                gather(p, y0, x0, &mut patch[..len]);
                for b in &mut patch[..len] {
                    *b ^= 0x80;
                }
            }
            let [a, b, c, d] = &self.patches;
            segs[0] = [chunks32(&a[..len]), chunks32(&b[..len]), chunks32(&c[..len]), chunks32(&d[..len])];
            (1, len / 32)
        };
        let segs = &segs[..n_segs];
        let nb = blk.nb;
        let mut rows = self.weights.chunks_exact(len);
        let mut c = 0;
        while c < nb {
            if c + 1 < nb {
                let (Some(r0), Some(r1)) = (rows.next(), rows.next()) else { break };
                let mut acc = [_mm256_setzero_si256(); 8];
                for (s, seg) in segs.iter().enumerate() {
                    mac4x2(&mut acc, segment(r0, s, seg_chunks), segment(r1, s, seg_chunks), seg);
                }
                let (c0, c1) = (self.corr[c], self.corr[c + 1]);
                if POOL {
                    let (m0, m1) = max_of_sums4x2(acc);
                    for row in dst.iter_mut().take(1) {
                        (row[c], row[c + 1]) = (m0 - c0, m1 - c1);
                    }
                } else {
                    let [a0, a1, a2, a3, b0, b1, b2, b3] = acc;
                    put::<POOL, N>(dst, c, sums4([a0, a1, a2, a3]), c0);
                    put::<POOL, N>(dst, c + 1, sums4([b0, b1, b2, b3]), c1);
                }
                c += 2;
            } else {
                let Some(r) = rows.next() else { break };
                let mut acc = [_mm256_setzero_si256(); 4];
                for (s, seg) in segs.iter().enumerate() {
                    mac4(&mut acc, segment(r, s, seg_chunks), seg);
                }
                put::<POOL, N>(dst, c, sums4(acc), self.corr[c]);
                c += 1;
            }
        }
    }
}

/// Channel `c`'s four sums minus `corr` into `dst`: their maximum into `dst[0][c]` (`POOL`,
/// `N = 1`), or each into `dst[i][c]` (`N = 4`). `c` is below the block's size (≤ [`ROW`]).
#[target_feature(enable = "avx2")]
#[inline]
fn put<const POOL: bool, const N: usize>(dst: &mut [[i32; ROW]; N], c: usize, s: [i32; 4], corr: i32) {
    if POOL {
        for row in dst.iter_mut().take(1) {
            row[c] = s[0].max(s[1]).max(s[2].max(s[3])) - corr;
        }
    } else {
        for (row, s) in dst.iter_mut().zip(s) {
            row[c] = s - corr;
        }
    }
}

/// `acc[i] += Σ_j x[i][j] · w[j]` (`vpdpbusd`: unsigned inputs, signed weights) for the four
/// positions `i`, over the chunks all five slices hold.
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
#[inline]
fn mac4(acc: &mut [__m256i; 4], w: &[[u8; 32]], x: &[&[[u8; 32]]; 4]) {
    let n = w.len().min(x[0].len()).min(x[1].len()).min(x[2].len()).min(x[3].len());
    let (w, x0, x1, x2, x3) = (&w[..n], &x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]);
    let [mut a0, mut a1, mut a2, mut a3] = *acc;
    for j in 0..n {
        let w = load32(&w[j]);
        a0 = _mm256_dpbusd_epi32(a0, load32(&x0[j]), w);
        a1 = _mm256_dpbusd_epi32(a1, load32(&x1[j]), w);
        a2 = _mm256_dpbusd_epi32(a2, load32(&x2[j]), w);
        a3 = _mm256_dpbusd_epi32(a3, load32(&x3[j]), w);
    }
    *acc = [a0, a1, a2, a3];
}

/// [`mac4`] for two channels (`acc[..4]` with `w0`, `acc[4..]` with `w1`).
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
#[inline]
fn mac4x2(acc: &mut [__m256i; 8], w0: &[[u8; 32]], w1: &[[u8; 32]], x: &[&[[u8; 32]]; 4]) {
    let n = w0.len().min(w1.len()).min(x[0].len()).min(x[1].len()).min(x[2].len()).min(x[3].len());
    let (w0, w1, x0, x1, x2, x3) = (&w0[..n], &w1[..n], &x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]);
    let [mut a0, mut a1, mut a2, mut a3, mut b0, mut b1, mut b2, mut b3] = *acc;
    for j in 0..n {
        let (u, v) = (load32(&w0[j]), load32(&w1[j]));
        let x = load32(&x0[j]);
        a0 = _mm256_dpbusd_epi32(a0, x, u);
        b0 = _mm256_dpbusd_epi32(b0, x, v);
        let x = load32(&x1[j]);
        a1 = _mm256_dpbusd_epi32(a1, x, u);
        b1 = _mm256_dpbusd_epi32(b1, x, v);
        let x = load32(&x2[j]);
        a2 = _mm256_dpbusd_epi32(a2, x, u);
        b2 = _mm256_dpbusd_epi32(b2, x, v);
        let x = load32(&x3[j]);
        a3 = _mm256_dpbusd_epi32(a3, x, u);
        b3 = _mm256_dpbusd_epi32(b3, x, v);
    }
    *acc = [a0, a1, a2, a3, b0, b1, b2, b3];
}

/// The contract of [`dense`]: at least one 32-byte slice of input. Stack: one row of
/// accumulators (256 B) and the requantization row.
pub(crate) fn takes_dense(p: &DenseParams) -> bool {
    p.input.len() >= 32
}

/// Fully connected layer with `vpdpbusd`, up to eight rows per input slice, on a layer
/// [`takes_dense`] accepts.
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
pub(crate) fn dense(p: &DenseParams, out: &mut [u8]) {
    let n = p.input.len();
    if n == 0 {
        return; // never: `takes_dense`
    }
    if p.in_zp == i8::MIN {
        dense_rows::<false>(p, out);
    } else {
        dense_rows::<true>(p, out);
    }
}

/// [`dense`], with (`SUMS`) or without the weight-sum correction.
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
#[inline]
fn dense_rows<const SUMS: bool>(p: &DenseParams, out: &mut [u8]) {
    let n = p.input.len();
    let lo = lower_clamp(p.out_zp, p.relu);
    let body = n / 32 * 32;
    let half = if n - body >= 16 { body + 16 } else { body };
    let d = Dense {
        xs: chunks32(&p.input[..body]),
        half: p.input[body..half].as_chunks::<16>().0.first(),
        tail: &p.input[half..],
        body,
        zp: p.in_zp as i32,
        shift: 128 + p.in_zp as i32,
    };
    let mut accs = [0i32; ROW];
    let mut rq = RequantRow::new();
    for (block, dst) in out.chunks_mut(ROW).enumerate() {
        let c0 = block * ROW;
        p.sections.load_row(&mut rq, c0, dst.len());
        let mut rows = p.sections.weights.get(c0 * n..).unwrap_or(&[]).chunks_exact(n);
        let mut accs_left = &mut accs[..dst.len()];
        while !accs_left.is_empty() {
            let taken = match accs_left.len() {
                8.. => d.rows::<8, SUMS>(&mut rows, accs_left),
                4.. => d.rows::<4, SUMS>(&mut rows, accs_left),
                2.. => d.rows::<2, SUMS>(&mut rows, accs_left),
                _ => d.rows::<1, SUMS>(&mut rows, accs_left),
            };
            if taken == 0 {
                break; // never: parse checked the weights hold every row
            }
            accs_left = &mut accs_left[taken..];
        }
        rq.apply(&accs[..dst.len()], p.out_zp, lo, p.rounding, dst);
    }
}

/// A dense layer's input, split for [`dense`]: whole 32-byte slices, one 16-byte slice or
/// none, the rest.
struct Dense<'a> {
    xs: &'a [[u8; 32]],
    half: Option<&'a [u8; 16]>,
    tail: &'a [u8],
    body: usize,
    zp: i32,
    shift: i32,
}

impl Dense<'_> {
    /// The dot products of the next `R` rows into `accs[..R]`; returns `R`, or 0 if fewer
    /// rows or accumulators are left.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    #[inline]
    fn rows<const R: usize, const SUMS: bool>(
        &self,
        rows: &mut core::slice::ChunksExact<'_, u8>,
        accs: &mut [i32],
    ) -> usize {
        let Some(accs) = accs.get_mut(..R) else { return 0 };
        let mut r: [&[u8]; R] = [&[]; R];
        for row in &mut r {
            match rows.next() {
                Some(w) => *row = w,
                None => return 0,
            }
        }
        let chunks = self.xs.len();
        let w: [&[[u8; 32]]; R] = r.map(|row| chunks32(row).get(..chunks).unwrap_or(&[]));
        let n = w.iter().fold(chunks, |m, w| m.min(w.len()));
        let (flip, ones) = (_mm256_set1_epi8(i8::MIN), _mm256_set1_epi8(1));
        let mut acc = [_mm256_setzero_si256(); R];
        let mut sum = [_mm256_setzero_si256(); R];
        for (j, x) in self.xs[..n].iter().enumerate() {
            let x = _mm256_xor_si256(load32(x), flip);
            for i in 0..R {
                let wv = load32(&w[i][j]);
                acc[i] = _mm256_dpbusd_epi32(acc[i], x, wv);
                if SUMS {
                    sum[i] = _mm256_dpbusd_epi32(sum[i], ones, wv);
                }
            }
        }
        if let Some(h) = self.half {
            let x = _mm256_sub_epi16(widen16(h), _mm256_set1_epi16(self.zp as i16));
            for i in 0..R {
                let wh = r[i].get(self.body..self.body + 16).and_then(|s| s.as_chunks::<16>().0.first());
                if let Some(wh) = wh {
                    acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(widen16(wh), x));
                }
            }
        }
        let total = sums(acc);
        let corr = if SUMS { sums(sum) } else { [0; R] };
        let tail_at = r.map(|row| row.get(row.len() - self.tail.len()..).unwrap_or(&[]));
        for i in 0..R {
            let mut s = total[i] - self.shift * corr[i];
            for (&x, &wt) in self.tail.iter().zip(tail_at[i]) {
                s += (x as i8 as i32 - self.zp) * (wt as i8 as i32);
            }
            accs[i] = s;
        }
        R
    }
}

/// The lane sums of `R` accumulators (four at a time with horizontal adds).
#[target_feature(enable = "avx2")]
#[inline]
fn sums<const R: usize>(a: [__m256i; R]) -> [i32; R] {
    let mut s = [0i32; R];
    let mut i = 0;
    while i + 4 <= R {
        s[i..i + 4].copy_from_slice(&sums4([a[i], a[i + 1], a[i + 2], a[i + 3]]));
        i += 4;
    }
    while i < R {
        s[i] = lanes8(a[i]).iter().sum();
        i += 1;
    }
    s
}
