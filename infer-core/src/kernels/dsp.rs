//! ARMv7E-M DSP-extension kernels (feature `cortex-m-dsp`, `target_arch = "arm"`).
//!
//! # Audit of the `unsafe` in this file
//!
//! This is the only `unsafe` in infer-core. Each `asm!` block is a single DSP instruction that
//! reads and writes registers only: no memory access (`nomem`), no stack (`nostack`), no
//! control flow. `SXTB16` and `SSUB16`/`SMLAD` are defined for every input value, so no input
//! can cause undefined behaviour; `SSUB16` writes the GE flags and `SMLAD` may set the sticky Q
//! flag, which is why the blocks do not claim `preserves_flags` (nothing in Rust reads either).
//! Overflow cannot happen: lanes hold `x − zp` in [−255, 255] and weights in [−128, 127], and
//! `Model::parse` bounds every accumulator below 2³¹ (see docs/QUANTIZATION.md).
//!
//! Why: on a Cortex-M4 the portable dot product compiles to two `ldrsb`, a `sub` and an
//! `smlabb` per multiply-accumulate; here one 32-bit load brings four int8 values, `SXTB16`
//! widens them in pairs and `SMLAD` does two multiply-accumulates, and the input's widening is
//! shared by two output channels. The instruction counts are in firmware-example/README.md.
//!
//! The result is bit-identical to [`super::dot_centered`]: the firmware checks the hash of all
//! its int8 logits against the host's (portable kernels) on every run.
#![allow(unsafe_code)]

use core::arch::asm;

/// Bytes 0 and 2 of `x`, sign-extended into the two 16-bit lanes.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe { asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    r
}

/// Bytes 1 and 3 of `x`, sign-extended into the two 16-bit lanes.
#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe { asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    r
}

/// Lane-wise 16-bit subtraction.
#[inline(always)]
fn ssub16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe { asm!("ssub16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack)) };
    r
}

/// `acc + a.lo · b.lo + a.hi · b.hi` on signed 16-bit lanes.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe {
        asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

#[inline(always)]
fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// `(Σ (x − zp) · w0, Σ (x − zp) · w1)` over equally long byte slices of int8 values.
#[inline(always)]
pub(crate) fn dot2_centered(x: &[u8], w0: &[u8], w1: &[u8], zp: i32) -> (i32, i32) {
    let z = (zp as u16 as u32) | ((zp as u16 as u32) << 16);
    let n = x.len().min(w0.len()).min(w1.len());
    let (mut a0, mut a1) = (0i32, 0i32);
    let body = n & !3;
    for ((xc, c0), c1) in x[..body].chunks_exact(4).zip(w0[..body].chunks_exact(4)).zip(w1[..body].chunks_exact(4)) {
        let xv = word(xc);
        let (xe, xo) = (ssub16(sxtb16(xv), z), ssub16(sxtb16_ror8(xv), z));
        let v0 = word(c0);
        a0 = smlad(xo, sxtb16_ror8(v0), smlad(xe, sxtb16(v0), a0));
        let v1 = word(c1);
        a1 = smlad(xo, sxtb16_ror8(v1), smlad(xe, sxtb16(v1), a1));
    }
    for ((&x, &p), &q) in x[body..n].iter().zip(&w0[body..n]).zip(&w1[body..n]) {
        let xc = x as i8 as i32 - zp;
        a0 += xc * (p as i8 as i32);
        a1 += xc * (q as i8 as i32);
    }
    (a0, a1)
}

/// `Σ (x − zp) · w` with the same instructions, for a lone channel.
#[inline(always)]
pub(crate) fn dot_centered(x: &[u8], w: &[u8], zp: i32) -> i32 {
    let z = (zp as u16 as u32) | ((zp as u16 as u32) << 16);
    let n = x.len().min(w.len());
    let mut a = 0i32;
    let body = n & !3;
    for (xc, c) in x[..body].chunks_exact(4).zip(w[..body].chunks_exact(4)) {
        let xv = word(xc);
        let v = word(c);
        a = smlad(ssub16(sxtb16_ror8(xv), z), sxtb16_ror8(v), smlad(ssub16(sxtb16(xv), z), sxtb16(v), a));
    }
    for (&x, &w) in x[body..n].iter().zip(&w[body..n]) {
        a += (x as i8 as i32 - zp) * (w as i8 as i32);
    }
    a
}
