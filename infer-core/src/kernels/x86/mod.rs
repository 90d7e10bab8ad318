//! x86-64 kernels and CPU detection (feature `x86-dispatch`, needs `std` for detection).
//!
//! Rust's default x86-64 target assumes SSE2 only. With this feature, [`crate::Model::run`]
//! checks once per call (the standard library caches the CPUID answer) whether the CPU runs
//! x86-64-v3 code (AVX2, FMA, BMI1/2, LZCNT, MOVBE, POPCNT); if so it runs the same
//! interpreter and kernels compiled a second time for those features ([`X86::run_v3`]: every
//! portable kernel is `#[inline(always)]` under this feature, so inlined there it is compiled
//! for AVX2), and [`crate::kernels::select`] may pick the intrinsic kernels of this folder:
//!
//! | file | kernel | contract | stack |
//! |---|---|---|---|
//! | `avx2.rs` | [`avx2::conv_pool4`]: convolution + 2x2 max pool, `vpmaddwd`, four positions per weight load | [`avx2::takes_conv`] | 72 KiB (centered input, four patches) |
//! | `avx2.rs` | [`avx2::dense`]: four rows per input load | [`avx2::takes_dense`] | 256 B |
//! | `vnni.rs` | [`vnni::conv4`]: convolution, unpooled or with a 2x2 max pool, four positions per weight load, `vpdpbusd` (AVX-512 VNNI + VL) | [`vnni::takes`] | 37 KiB (shifted input, four patches, sums) |
//! | `vnni.rs` | [`vnni::dense`]: eight rows per input load, `vpdpbusd` | [`vnni::takes_dense`] | 256 B |
//! | `support.rs` | lane sums and stores both use, buffer limits | | |
//!
//! The integer arithmetic is the same as the references', so results are bit-identical to the
//! portable build (the shared kernel contract checks every kernel; the conformance suite
//! compares `Kernels::Fast` with `Kernels::Baseline` on all 10,000 test images).
//!
//! # Audit of the `unsafe` in this file
//!
//! [`X86`] is a token that only [`X86::detect`] creates, after `is_x86_feature_detected!`
//! confirmed every x86-64-v3 feature (and records whether AVX-512 VNNI and VL are there too).
//! Its methods are the only callers of this folder's `#[target_feature]` functions, and call
//! them only for features the token records: [`X86::run_v3`] (v3), the AVX2 kernels (AVX2, a
//! part of v3), and the VNNI kernels only when `vnni` is set. Executing an instruction the CPU
//! lacks is the undefined behaviour these calls must exclude; the token excludes it.
#![allow(unsafe_code)]

pub(crate) mod avx2;
mod support;
pub(crate) mod vnni;

use crate::kernels::params::{ConvParams, DenseParams};

/// Proof that this CPU runs x86-64-v3 code, and whether it also has AVX-512 VNNI (with
/// AVX-512VL, for the 256-bit forms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct X86 {
    vnni: bool,
}

/// The body of a run that [`X86::run_v3`] compiles for x86-64-v3: everything it calls that
/// is `#[inline(always)]` is compiled with those features.
pub(crate) trait V3Body {
    /// What the run returns.
    type Output;
    /// Runs; `cpu` is the token, for the kernels to choose with.
    fn run(self, cpu: X86) -> Self::Output;
}

impl X86 {
    /// The token, when the CPU runs x86-64-v3 code.
    pub(crate) fn detect() -> Option<Self> {
        let v3 = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2")
            && std::is_x86_feature_detected!("lzcnt")
            && std::is_x86_feature_detected!("movbe")
            && std::is_x86_feature_detected!("popcnt");
        let vnni = std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl");
        v3.then_some(X86 { vnni })
    }

    /// The token without the VNNI kernel (to test the AVX2 ones on a VNNI CPU).
    #[cfg(test)]
    pub(crate) fn without_vnni(self) -> Self {
        X86 { vnni: false }
    }

    /// Whether the VNNI kernel may run.
    pub(crate) fn vnni(self) -> bool {
        self.vnni
    }

    /// Runs `body` compiled for x86-64-v3.
    #[inline(always)]
    pub(crate) fn run_v3<B: V3Body>(self, body: B) -> B::Output {
        // SAFETY: the token exists, so the CPU has every feature `v3` enables (see `detect`).
        unsafe { v3(self, body) }
    }

    /// [`avx2::conv_pool4`] on a layer [`avx2::takes_conv`] accepts.
    #[inline(always)]
    pub(crate) fn conv_pool4_avx2(self, p: &ConvParams, out: &mut [u8]) {
        // SAFETY: the token exists, so the CPU has AVX2 (see `detect`).
        unsafe { avx2::conv_pool4(p, out) }
    }

    /// [`vnni::conv4`] on a layer [`vnni::takes`] accepts; `false` (nothing written) when the
    /// CPU lacks VNNI.
    #[inline(always)]
    pub(crate) fn conv4_vnni(self, p: &ConvParams, out: &mut [u8]) -> bool {
        if self.vnni {
            // SAFETY: `vnni` is true only when `detect` found AVX-512 VNNI and VL (and AVX2).
            unsafe { vnni::conv4(p, out) };
        }
        self.vnni
    }

    /// [`vnni::dense`] on a layer [`vnni::takes_dense`] accepts; `false` (nothing written) when
    /// the CPU lacks VNNI.
    #[inline(always)]
    pub(crate) fn dense_vnni(self, p: &DenseParams, out: &mut [u8]) -> bool {
        if self.vnni {
            // SAFETY: `vnni` is true only when `detect` found AVX-512 VNNI and VL (and AVX2).
            unsafe { vnni::dense(p, out) };
        }
        self.vnni
    }

    /// [`avx2::dense`] on a layer [`avx2::takes_dense`] accepts.
    #[inline(always)]
    pub(crate) fn dense_avx2(self, p: &DenseParams, out: &mut [u8]) {
        // SAFETY: the token exists, so the CPU has AVX2 (see `detect`).
        unsafe { avx2::dense(p, out) }
    }
}

#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,popcnt")]
fn v3<B: V3Body>(cpu: X86, body: B) -> B::Output {
    body.run(cpu)
}
