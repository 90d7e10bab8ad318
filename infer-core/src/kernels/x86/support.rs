//! Helpers the x86 kernels share (`avx2.rs`, `vnni.rs`): lane sums, stores of lanes, and the
//! limits of the stack buffers both use.
//!
//! # Audit of the `unsafe` in this file
//!
//! Two helpers store to exactly the array they are given (`[i32; 4]`, `[i32; 8]`), unaligned.
//! Every other intrinsic used is a register operation.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, _mm_add_epi32, _mm_storeu_si128, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256,
    _mm256_hadd_epi32, _mm256_max_epi32, _mm256_permute2x128_si256, _mm256_shuffle_epi32, _mm256_storeu_si256,
};

/// Longest patch (`k · k · cin` values) the x86 convolutions take.
pub(crate) const WINDOW_LEN_MAX: usize = 1024;

/// Largest input (`h · w · cin` values) the convolutions copy once, centered (AVX2: i16, 64 KiB
/// of stack) or shifted (VNNI: u8, 32 KiB); larger inputs go to the portable kernels. 32 Ki
/// values hold a 28x28x32 map, so cnn-edge's two pooled convolutions on 28x28x32 and 14x14x64
/// take these kernels (at 8 Ki they did not, and cnn-edge ran twice as long: benches/RESULTS.md).
pub(crate) const INPUT_MAX: usize = 32 * 1024;

/// The sums of the eight lanes of each of four accumulators.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn sums4(a: [__m256i; 4]) -> [i32; 4] {
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    let s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    let mut r = [0i32; 4];
    // SAFETY: writes the 16 bytes of `r` (unaligned store).
    unsafe { _mm_storeu_si128(r.as_mut_ptr().cast(), s) };
    r
}

/// `v` (a whole number of 16-element chunks) as chunks.
#[inline(always)]
pub(crate) fn chunks16<T>(v: &[T]) -> &[[T; 16]] {
    v.as_chunks::<16>().0
}

/// The eight i32 lanes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn lanes8(v: __m256i) -> [i32; 8] {
    let mut r = [0i32; 8];
    // SAFETY: writes the 32 bytes of `r` (unaligned store).
    unsafe { _mm256_storeu_si256(r.as_mut_ptr().cast(), v) };
    r
}

/// For two channels' four position accumulators (`acc[..4]`, `acc[4..]`): the largest of
/// each channel's four lane sums.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn max_of_sums4x2(acc: [__m256i; 8]) -> (i32, i32) {
    let a = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
    let b = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[4], acc[5]), _mm256_hadd_epi32(acc[6], acc[7]));
    // [a0 a1 a2 a3 | b0 b1 b2 b3]: each 128-bit half of `a` and `b` holds half of every sum.
    let s = _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(a, b), _mm256_permute2x128_si256::<0x31>(a, b));
    let m = _mm256_max_epi32(s, _mm256_shuffle_epi32::<0b0100_1110>(s));
    let m = _mm256_max_epi32(m, _mm256_shuffle_epi32::<0b1011_0001>(m));
    let l = lanes8(m);
    (l[0], l[4])
}
