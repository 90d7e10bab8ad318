//! Concatenation of two flat int8 tensors, each requantized to the output's scale and zero
//! point: `y = clamp(zp_y + round_half_even((x − zp_x) · m / 2^n), −128, 127)`.

use super::params::ConcatParams;
use crate::requant::Requant;

/// The kernel (already the plain form; there is nothing to speed up).
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub fn run(p: &ConcatParams, out: &mut [u8]) {
    let (ya, yb) = out.split_at_mut(p.a.len().min(out.len()));
    for (y, x, requant, zp) in [(ya, p.a, p.a_requant, p.a_zp), (yb, p.b, p.b_requant, p.b_zp)] {
        requantize(y, x, requant, zp, p);
    }
}

/// One input, requantized into its part of the output (a function of its own, called for both
/// inputs: inlined twice it was 4 KB of Cortex-M4 code).
#[cfg_attr(feature = "x86-dispatch", inline(always))]
#[cfg_attr(not(feature = "x86-dispatch"), inline(never))]
fn requantize(y: &mut [u8], x: &[u8], requant: Requant, zp: i8, p: &ConcatParams) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = requant.apply_with(x as i8 as i32 - zp as i32, p.out_zp, i8::MIN, p.rounding) as u8;
    }
}
