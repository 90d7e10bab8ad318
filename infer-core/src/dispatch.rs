//! Run-time CPU dispatch on x86-64 (feature `x86-dispatch`, needs `std`).
//!
//! Rust's default x86-64 target assumes SSE2 only. [`Model::run_dispatched`] runs the same
//! interpreter and kernels compiled a second time for x86-64-v3 (AVX2, FMA, BMI1/2, ...):
//! every kernel is `#[inline(always)]`, so inlined into [`Model::run_v3`] it is compiled with
//! that function's target features; convolutions with a 2x2 pool and dense layers go to the
//! AVX2 intrinsic kernels of `kernels/avx2.rs`, and pooled convolutions whose patches are whole
//! 32-byte chunks to the AVX-512 VNNI kernel of `kernels/vnni.rs` when the CPU has it (their
//! `unsafe` is audited there). The integer arithmetic is the same, so the results are
//! bit-identical to [`Model::run`] (the conformance suite checks all 10,000 test images).
//!
//! # Audit of the `unsafe` in this file
//!
//! One call: `run_v3` is a `#[target_feature]` function, which is `unsafe` to call from code
//! compiled without those features, because executing an instruction the CPU lacks is
//! undefined behaviour. The call happens only after `is_x86_feature_detected!` confirmed every
//! feature `run_v3` is compiled with.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use crate::kernels::Avx2;
use crate::model::Kernels;
use crate::requant::Rounding;
use crate::{Error, Model, Output};

impl Model<'_> {
    /// [`Model::run`], with kernels compiled for AVX2 when this CPU has them (checked at run
    /// time; the check is cached by the standard library). Bit-identical to [`Model::run`].
    pub fn run_dispatched(&self, pixels: &[u8], arena: &mut [u8]) -> Result<Output, Error> {
        #[cfg(target_arch = "x86_64")]
        if has_v3()
            && let Some(avx2) = Avx2::detect()
        {
            // SAFETY: `has_v3` checked that the CPU supports every feature `run_v3` enables.
            return unsafe { self.run_v3(avx2, pixels, arena) };
        }
        self.run(pixels, arena)
    }

    /// Whether [`Model::run_dispatched`] takes the AVX2 path on this CPU.
    pub fn dispatches_to_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return has_v3();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Whether [`Model::run_dispatched`] also runs the AVX-512 VNNI convolution kernel on this
    /// CPU (AVX-512 VNNI and VL present, besides the AVX2 path).
    pub fn dispatches_to_vnni() -> bool {
        #[cfg(target_arch = "x86_64")]
        return has_v3() && Avx2::detect().is_some_and(Avx2::vnni);
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,popcnt")]
    fn run_v3(&self, avx2: Avx2, pixels: &[u8], arena: &mut [u8]) -> Result<Output, Error> {
        self.execute(Kernels::Fast, Some(avx2), Rounding::HalfToEven, pixels, arena, |_, _| {})
    }
}

#[cfg(target_arch = "x86_64")]
fn has_v3() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("lzcnt")
        && std::is_x86_feature_detected!("movbe")
        && std::is_x86_feature_detected!("popcnt")
}
