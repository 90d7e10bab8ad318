//! 2-D convolution, HWC input, OHWI weights, optional fused ReLU (lower clamp) and max pool.

use super::{ConvParams, dot_centered};
use crate::requant::lower_clamp;

/// Requantized, clamped conv output at pre-pool position `(oy, ox)`, channel `oc`:
/// the direct formula of docs/QUANTIZATION.md, tap by tap.
fn conv_at(p: &ConvParams, oy: usize, ox: usize, oc: usize) -> i8 {
    let (k, cin) = (p.kernel, p.in_shape.c);
    let mut acc = p.sections.bias(oc);
    for ky in 0..k {
        for kx in 0..k {
            let iy = (oy * p.stride + ky) as isize - p.pad[0] as isize;
            let ix = (ox * p.stride + kx) as isize - p.pad[1] as isize;
            if iy < 0 || ix < 0 || iy >= p.in_shape.h as isize || ix >= p.in_shape.w as isize {
                continue; // padding: the real value 0, i.e. x − zp = 0
            }
            for ic in 0..cin {
                let x = p.input[(iy as usize * p.in_shape.w + ix as usize) * cin + ic] as i8 as i32;
                let w = p.sections.weights[((oc * k + ky) * k + kx) * cin + ic] as i8 as i32;
                acc += (x - p.in_zp as i32) * w;
            }
        }
    }
    p.sections.requant(oc).apply_with(acc, p.out_zp, lower_clamp(p.out_zp, p.relu), p.rounding)
}

/// Scalar reference: every output is the max over its pool window of [`conv_at`].
pub fn reference(p: &ConvParams, out: &mut [u8]) {
    let o = p.out_shape;
    for py in 0..o.h {
        for px in 0..o.w {
            for oc in 0..o.c {
                let mut best = i8::MIN;
                for dy in 0..p.pool {
                    for dx in 0..p.pool {
                        best = best.max(conv_at(p, py * p.pool + dy, px * p.pool + dx, oc));
                    }
                }
                out[(py * o.w + px) * o.c + oc] = best as u8;
            }
        }
    }
}

/// Fast version: per kernel row, one contiguous dot product over `kw · cin` values (the valid
/// part of the row at borders), so the inner loop has no branch and vectorizes; the pool max
/// is folded in as outputs are produced, so the pre-pool output is never stored.
pub fn fast(p: &ConvParams, out: &mut [u8]) {
    let (k, s, cin) = (p.kernel, p.stride, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    let o = p.out_shape;
    let zp = p.in_zp as i32;
    let lo = lower_clamp(p.out_zp, p.relu);
    let row_len = k * cin;
    out.fill(i8::MIN as u8);
    for py in 0..o.h {
        for px in 0..o.w {
            let dst = &mut out[(py * o.w + px) * o.c..(py * o.w + px + 1) * o.c];
            for dy in 0..p.pool {
                for dx in 0..p.pool {
                    let (oy, ox) = (py * p.pool + dy, px * p.pool + dx);
                    let y0 = (oy * s) as isize - p.pad[0] as isize;
                    let x0 = (ox * s) as isize - p.pad[1] as isize;
                    // Valid kernel columns [kx0, kx1) for this position.
                    let kx0 = (-x0).max(0) as usize;
                    let kx1 = (iw - x0).clamp(0, k as isize) as usize;
                    if kx0 >= kx1 {
                        // Entirely in padding: every tap contributes 0.
                        for (oc, d) in dst.iter_mut().enumerate() {
                            let v = p.sections.requant(oc).apply_with(p.sections.bias(oc), p.out_zp, lo, p.rounding);
                            *d = (*d as i8).max(v) as u8;
                        }
                        continue;
                    }
                    let (c0, c1) = (kx0 * cin, kx1 * cin);
                    for (oc, d) in dst.iter_mut().enumerate() {
                        let mut acc = p.sections.bias(oc);
                        let wbase = oc * k * row_len;
                        for ky in 0..k {
                            let iy = y0 + ky as isize;
                            if iy < 0 || iy >= ih {
                                continue;
                            }
                            let xrow = (iy as usize * p.in_shape.w) as isize + x0;
                            let xs = &p.input[(xrow * cin as isize) as usize + c0..(xrow * cin as isize) as usize + c1];
                            let ws = &p.sections.weights[wbase + ky * row_len + c0..wbase + ky * row_len + c1];
                            acc += dot_centered(xs, ws, zp);
                        }
                        let v = p.sections.requant(oc).apply_with(acc, p.out_zp, lo, p.rounding);
                        *d = (*d as i8).max(v) as u8;
                    }
                }
            }
        }
    }
}
