//! Concatenation of two flat int8 tensors, each requantized to the output's scale and zero
//! point: `y = clamp(zp_y + round_half_even((x − zp_x) · m / 2^n), −128, 127)`.

use super::params::ConcatParams;

/// The kernel (already the plain form; there is nothing to speed up).
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub fn run(p: &ConcatParams, out: &mut [u8]) {
    let (ya, yb) = out.split_at_mut(p.a.len().min(out.len()));
    for (y, &x) in ya.iter_mut().zip(p.a) {
        *y = p.a_requant.apply_with(x as i8 as i32 - p.a_zp as i32, p.out_zp, i8::MIN, p.rounding) as u8;
    }
    for (y, &x) in yb.iter_mut().zip(p.b) {
        *y = p.b_requant.apply_with(x as i8 as i32 - p.b_zp as i32, p.out_zp, i8::MIN, p.rounding) as u8;
    }
}
