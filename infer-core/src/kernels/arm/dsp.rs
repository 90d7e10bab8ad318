//! ARMv7E-M DSP-extension primitives (feature `cortex-m-dsp`, `target_arch = "arm"`): the
//! dot products and the prepared input ([`Widened`]) the portable kernels run on here (see
//! `kernels/dot.rs`), and the widened forms the Cortex-M convolutions use.
//!
//! # Audit of the `unsafe` in this file
//!
//! This is the only `unsafe` in infer-core's Cortex-M path. Two kinds of `asm!` block:
//!
//! - Single DSP instructions (`SXTB16`, `SSUB16`, `SMLAD`, `SMUAD`) that read and write
//!   registers only: no memory access (`nomem`), no stack (`nostack`), no control flow. They
//!   are defined for every input value, so no input can cause undefined behaviour; `SSUB16`
//!   writes the GE flags and `SMLAD` may set the sticky Q flag, which is why those blocks do
//!   not claim `preserves_flags` (nothing in Rust reads either).
//! - Two hand-scheduled loops, [`dot2_pairs`] and [`dot_positions4`], that read memory
//!   (`readonly`, `nostack`): each takes its trip count from the lengths of the slices it is
//!   given, reads only inside them (the bounds are argued at each), writes only registers it
//!   declares, and runs only when the trip count is at least one. `LDRD` only reads `u32`
//!   slices (word-aligned); weight `LDR`s may be unaligned, which ARMv7-M permits.
//!
//! Overflow cannot happen: lanes hold `x − zp` in [−255, 255] and weights in [−128, 127], and
//! `Model::parse` bounds every accumulator below 2³¹ (see docs/QUANTIZATION.md).
//!
//! Why: on a Cortex-M4 the portable dot product compiles to two `ldrsb`, a `sub` and an
//! `smlabb` per multiply-accumulate; here one 32-bit load brings four int8 values, `SXTB16`
//! widens them in pairs and `SMLAD` does two multiply-accumulates, and the input's widening is
//! shared by two output channels. The instruction counts are in firmware-example/README.md.
//!
//! The results are bit-identical to the portable kernels: the firmware checks the hash of all
//! its int8 logits against the host's on every run, and `firmware-example`'s `kernel_props`
//! example checks every fast kernel against its scalar reference on random layers, on QEMU.
#![allow(unsafe_code)]

use core::arch::asm;

use crate::kernels::params::PATCH_MAX;
use crate::kernels::scratch::Carve;

/// Bytes 0 and 2 of `x`, sign-extended into the two 16-bit lanes.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// Bytes 1 and 3 of `x`, sign-extended into the two 16-bit lanes.
#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// Lane-wise 16-bit subtraction.
#[inline(always)]
fn ssub16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe {
        asm!("ssub16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack))
    };
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

/// `a.lo · b.lo + a.hi · b.hi` on signed 16-bit lanes.
#[inline(always)]
pub(crate) fn smuad(a: u32, b: u32) -> i32 {
    let r: i32;
    // SAFETY: register-only instruction, defined for all inputs (see the module audit).
    unsafe {
        asm!("smuad {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack))
    };
    r
}

/// Nine int8 values (minus `zp`) as four words of 16-bit pairs, `(v0, v2), (v1, v3), (v4, v6),
/// (v5, v7)`, and `v8 − zp` as the fifth word. Two vectors packed alike have the dot product
/// [`dot9`].
#[inline(always)]
pub(crate) fn pack9(v: &[u8; 9], zp: i32) -> [u32; 5] {
    let z = (zp as u16 as u32) | ((zp as u16 as u32) << 16);
    let (a, b) = (word(&v[..4]), word(&v[4..8]));
    [
        ssub16(sxtb16(a), z),
        ssub16(sxtb16_ror8(a), z),
        ssub16(sxtb16(b), z),
        ssub16(sxtb16_ror8(b), z),
        (v[8] as i8 as i32 - zp) as u32,
    ]
}

/// The dot product of two [`pack9`] vectors: three `SMLAD`, one `SMUAD`, one `MLA`.
#[inline(always)]
pub(crate) fn dot9(x: &[u32; 5], w: &[u32; 5]) -> i32 {
    let pairs = smlad(x[3], w[3], smlad(x[2], w[2], smlad(x[1], w[1], smuad(x[0], w[0]))));
    pairs + (x[4] as i32) * (w[4] as i32)
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

/// An input (its first [`PATCH_MAX`] bytes) widened once into centered 16-bit pairs, in
/// the lane order `SXTB16` gives the weights, then reused for every output channel; bytes past
/// the widened part go through [`dot2_centered`]. Its storage is carved from the kernel's
/// scratch (`2 · len` bytes, [`crate::kernels::scratch::widened_len`]); with less, fewer words
/// are widened and the rest is multiplied unwidened, with the same sums.
pub(crate) struct Widened<'s> {
    pairs: &'s mut [u32],
    words: usize,
    zp: i32,
}

impl<'s> Widened<'s> {
    /// Room for inputs of up to `len` bytes, carved from `scratch` (none if it is too short).
    #[inline(always)]
    pub(crate) fn carve(scratch: &mut Carve<'s>, len: usize, zp: i32) -> Self {
        let pairs = scratch.slice::<u32>(2 * (len.min(PATCH_MAX) / 4)).unwrap_or_default();
        Self { pairs, words: 0, zp }
    }

    /// Widens `x` (its whole 4-byte words; the rest is handled by the dot products).
    #[inline(always)]
    pub(crate) fn load(&mut self, x: &[u8]) {
        let z = (self.zp as u16 as u32) | ((self.zp as u16 as u32) << 16);
        self.words = (x.len() / 4).min(self.pairs.len() / 2);
        for (p, c) in self.pairs.chunks_exact_mut(2).zip(x[..4 * self.words].chunks_exact(4)) {
            let v = word(c);
            p[0] = ssub16(sxtb16(v), z);
            p[1] = ssub16(sxtb16_ror8(v), z);
        }
    }

    /// `Σ (x − zp) · w` for the loaded `x` and weights `w` as long as it.
    #[inline(always)]
    pub(crate) fn dot(&self, x: &[u8], w: &[u8]) -> i32 {
        let mut a = 0i32;
        for (pair, c) in self.pairs[..2 * self.words].chunks_exact(2).zip(w.chunks_exact(4)) {
            let v = word(c);
            a = smlad(pair[1], sxtb16_ror8(v), smlad(pair[0], sxtb16(v), a));
        }
        let body = 4 * self.words;
        a + dot_centered(tail(x, body), tail(w, body), self.zp)
    }

    /// Two weight rows at once: the pair loads are shared. Eight bytes per iteration in
    /// [`dot2_pairs`], then one word, then the tail.
    #[inline(always)]
    pub(crate) fn dot2(&self, x: &[u8], w0: &[u8], w1: &[u8]) -> (i32, i32) {
        let dwords = self.words / 2;
        let (mut a0, mut a1) = dot2_pairs(&self.pairs[..4 * dwords], w0, w1);
        if self.words % 2 == 1 {
            let i = self.words - 1;
            let (e, o) = (self.pairs[2 * i], self.pairs[2 * i + 1]);
            let (v0, v1) = (word(&w0[4 * i..]), word(&w1[4 * i..]));
            a0 = smlad(o, sxtb16_ror8(v0), smlad(e, sxtb16(v0), a0));
            a1 = smlad(o, sxtb16_ror8(v1), smlad(e, sxtb16(v1), a1));
        }
        let body = 4 * self.words;
        let (t0, t1) = dot2_centered(tail(x, body), tail(w0, body), tail(w1, body), self.zp);
        (a0 + t0, a1 + t1)
    }

    /// Two rows of a length `L` known at compile time (loaded with `x`): every loop has a
    /// constant trip count and unrolls; the last `L mod 4` bytes are multiplied one by one.
    #[inline(always)]
    pub(crate) fn dot2_fixed<const L: usize>(&self, x: &[u8; L], w0: &[u8; L], w1: &[u8; L]) -> (i32, i32) {
        let full = L / 4;
        if L > PATCH_MAX || self.words != full || self.pairs.len() < 2 * full {
            // Not loaded with `x` (never the case in the kernels): the plain loop is enough.
            return dot2_centered(x, w0, w1, self.zp);
        }
        let (mut a0, mut a1) = (0i32, 0i32);
        for ((p, c0), c1) in self.pairs[..2 * full].chunks_exact(2).zip(w0.chunks_exact(4)).zip(w1.chunks_exact(4)) {
            let (v0, v1) = (word(c0), word(c1));
            a0 = smlad(p[1], sxtb16_ror8(v0), smlad(p[0], sxtb16(v0), a0));
            a1 = smlad(p[1], sxtb16_ror8(v1), smlad(p[0], sxtb16(v1), a1));
        }
        for ((&x, &p), &q) in x[4 * full..].iter().zip(&w0[4 * full..]).zip(&w1[4 * full..]) {
            let xc = x as i8 as i32 - self.zp;
            a0 += xc * (p as i8 as i32);
            a1 += xc * (q as i8 as i32);
        }
        (a0, a1)
    }
}

/// `(Σ p · w0, Σ p · w1)` over whole 8-byte chunks: `pairs` holds four widened words per chunk
/// (as [`Widened::load`] writes them), `w0` and `w1` the int8 weights.
///
/// One hand-scheduled loop, because LLVM's version of it (indexed loads, an address add per
/// row and chunk, separate pair loads) costs 29 instructions per 16 multiply-accumulates and
/// this one 24: per chunk `LDRD` ×2 (pairs), `LDR` ×4 (weights), `SXTB16` ×8, `SMLAD` ×8,
/// `CMP` + `BNE`. It runs for every dense layer and every convolution patch over 16 bytes.
///
/// Safety of the `asm!` (audited): the chunk count is the minimum that all three slices hold,
/// so the loop reads `pairs[..4 · chunks]`, `w0[..8 · chunks]` and `w1[..8 · chunks]` and
/// nothing else; it runs only when `chunks > 0` (the loop tests its end after the first chunk).
/// `pairs` is a `u32` slice, so `LDRD` is word-aligned; the weight `LDR`s may be unaligned,
/// which ARMv7-M allows for `LDR` (as the portable `u32::from_le_bytes` loads already assume).
/// It writes only its listed registers and the flags (`CMP`, `SMLAD`'s sticky Q), no memory,
/// no stack.
#[inline(always)]
fn dot2_pairs(pairs: &[u32], w0: &[u8], w1: &[u8]) -> (i32, i32) {
    let chunks = (pairs.len() / 4).min(w0.len() / 8).min(w1.len() / 8);
    let (mut a0, mut a1) = (0i32, 0i32);
    if chunks == 0 {
        return (a0, a1);
    }
    let (mut p, mut q0, mut q1) = (pairs.as_ptr(), w0.as_ptr(), w1.as_ptr());
    let end = pairs[4 * chunks..].as_ptr();
    // SAFETY: reads only inside the three slices (see the audit above); register-only writes.
    unsafe {
        asm!(
            "2:",
            // Two 4-byte words per pass.
            ".rept 2",
            "ldrd {e}, {o}, [{p}], #8",
            "ldr {v0}, [{q0}], #4",
            "ldr {v1}, [{q1}], #4",
            "sxtb16 {t}, {v0}",
            "smlad {a0}, {e}, {t}, {a0}",
            "sxtb16 {v0}, {v0}, ror #8",
            "smlad {a0}, {o}, {v0}, {a0}",
            "sxtb16 {t}, {v1}",
            "smlad {a1}, {e}, {t}, {a1}",
            "sxtb16 {v1}, {v1}, ror #8",
            "smlad {a1}, {o}, {v1}, {a1}",
            ".endr",
            "cmp {p}, {end}",
            "bne 2b",
            p = inout(reg) p,
            q0 = inout(reg) q0,
            q1 = inout(reg) q1,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            end = in(reg) end,
            e = out(reg) _,
            o = out(reg) _,
            v0 = out(reg) _,
            v1 = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly)
        );
    }
    let _ = (p, q0, q1);
    (a0, a1)
}

/// One word of four int8 values minus `zp` as the pair words `((v0, v2), (v1, v3))` that
/// [`Widened::load`] writes and `SXTB16` makes of the weights.
#[inline(always)]
pub(crate) fn widen_word(b: &[u8], zp: i32) -> (u32, u32) {
    let z = (zp as u16 as u32) | ((zp as u16 as u32) << 16);
    let v = word(b);
    (ssub16(sxtb16(v), z), ssub16(sxtb16_ror8(v), z))
}

/// The dot products of one weight row `w` with four positions' widened inputs at once:
/// `xw` holds, per 4-byte chunk, the pair words of positions 0..3 (eight words per chunk).
/// Returns the four sums over the whole chunks both slices hold.
///
/// Per chunk: one `LDR` and two `SXTB16` widen four weights, which then serve four positions
/// (four `LDRD`, eight `SMLAD`): 16 instructions per 16 multiply-accumulates, plus the loop test
/// once per two chunks,
/// against 24 per 16 for two channels of one position ([`dot2_pairs`]), because the weight
/// widening is shared four ways instead of the input's two.
///
/// Safety of the `asm!` (audited): `chunks` is the number of whole chunks both slices hold; the
/// loop takes them two at a time, so it reads `xw[..16 · (chunks / 2)]` and
/// `w[..8 · (chunks / 2)]` only, and it runs only when there is a pair (an odd last chunk is
/// done with the single-instruction wrappers). `xw` is a `u32` slice, so `LDRD` is word-aligned; the weight `LDR` may be
/// unaligned, which ARMv7-M allows. It writes only its listed registers and the flags.
#[inline(always)]
pub(crate) fn dot_positions4(xw: &[u32], w: &[u8]) -> [i32; 4] {
    let chunks = (xw.len() / 8).min(w.len() / 4);
    let mut acc = [0i32; 4];
    let twos = chunks / 2;
    if twos > 0 {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        let (mut p, mut q) = (xw.as_ptr(), w.as_ptr());
        let end = xw[16 * twos..].as_ptr();
        // SAFETY: reads only `xw[..16 · twos]` and `w[..8 · twos]`, inside the two slices (see
        // the audit above); register-only writes.
        unsafe {
            asm!(
                "2:",
                // Two chunks per pass.
                ".rept 2",
                "ldr {v}, [{q}], #4",
                "sxtb16 {t}, {v}",
                "sxtb16 {v}, {v}, ror #8",
                "ldrd {e}, {o}, [{p}], #8",
                "smlad {a0}, {e}, {t}, {a0}",
                "smlad {a0}, {o}, {v}, {a0}",
                "ldrd {e}, {o}, [{p}], #8",
                "smlad {a1}, {e}, {t}, {a1}",
                "smlad {a1}, {o}, {v}, {a1}",
                "ldrd {e}, {o}, [{p}], #8",
                "smlad {a2}, {e}, {t}, {a2}",
                "smlad {a2}, {o}, {v}, {a2}",
                "ldrd {e}, {o}, [{p}], #8",
                "smlad {a3}, {e}, {t}, {a3}",
                "smlad {a3}, {o}, {v}, {a3}",
                ".endr",
                "cmp {p}, {end}",
                "bne 2b",
                p = inout(reg) p,
                q = inout(reg) q,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                end = in(reg) end,
                v = out(reg) _,
                t = out(reg) _,
                e = out(reg) _,
                o = out(reg) _,
                options(nostack, readonly)
            );
        }
        let _ = (p, q);
        acc = [a0, a1, a2, a3];
    }
    if chunks % 2 == 1 {
        let i = chunks - 1;
        let v = word(&w[4 * i..]);
        let (we, wo) = (sxtb16(v), sxtb16_ror8(v));
        for (j, a) in acc.iter_mut().enumerate() {
            *a = smlad(xw[8 * i + 2 * j + 1], wo, smlad(xw[8 * i + 2 * j], we, *a));
        }
    }
    acc
}

/// `v[at..]`, or empty.
#[inline(always)]
fn tail(v: &[u8], at: usize) -> &[u8] {
    v.get(at..).unwrap_or(&[])
}
