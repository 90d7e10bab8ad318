//! Max pooling with window = stride (floor mode), directly on int8 values: max commutes with
//! the monotonic dequantization, so the output keeps the input's scale and zero point.

use super::params::PoolParams;

/// Scalar reference.
pub fn reference(p: &PoolParams, out: &mut [u8]) {
    let (i, o, k) = (p.in_shape, p.out_shape, p.size);
    for py in 0..o.h {
        for px in 0..o.w {
            for c in 0..o.c {
                let mut best = i8::MIN;
                for dy in 0..k {
                    for dx in 0..k {
                        let v = p.input[((py * k + dy) * i.w + px * k + dx) * i.c + c] as i8;
                        best = best.max(v);
                    }
                }
                out[(py * o.w + px) * o.c + c] = best as u8;
            }
        }
    }
}

/// Fast version: element-wise max of whole channel vectors (vectorizes over channels).
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub fn fast(p: &PoolParams, out: &mut [u8]) {
    let (i, o, k) = (p.in_shape, p.out_shape, p.size);
    let c = i.c;
    for py in 0..o.h {
        for px in 0..o.w {
            let dst = &mut out[(py * o.w + px) * c..(py * o.w + px + 1) * c];
            dst.fill(i8::MIN as u8);
            for dy in 0..k {
                let row = (py * k + dy) * i.w;
                for dx in 0..k {
                    let src = &p.input[(row + px * k + dx) * c..(row + px * k + dx + 1) * c];
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = (*d as i8).max(s as i8) as u8;
                    }
                }
            }
        }
    }
}
