//! On-target property check of infer-core's kernels (QEMU): random layers — shapes, strides,
//! paddings, pools, zero points, requantization constants and biases at their extremes — run
//! through each `fast` kernel as compiled for the Cortex-M4 (the `cortex-m-dsp` paths) and
//! through its plain scalar `reference`; every output byte must agree. The host proptests
//! cannot reach the DSP kernels, so this is their proptest. Deterministic (fixed seed).
//!
//! `cargo run --release --example kernel_props`; exit code 0 when every case agrees, 1 on the
//! first disagreement (printed), 2 on a panic, 3 on a HardFault.

#![no_std]
#![no_main]

#[path = "../src/exit.rs"]
mod exit;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use infer_core::kernels::{ConvParams, DenseParams, PoolParams, Sections, conv2d, dense, maxpool};
use infer_core::requant::{M_MIN, N_MAX, N_MIN, Requant, Rounding};
use infer_core::{PRODUCT_BOUND, Shape};

use exit::exit;

/// Largest input, weights and output a case may use.
const IN_MAX: usize = 12 * 12 * 66;
const W_MAX: usize = 70 * 600;
const OUT_MAX: usize = 12 * 12 * 70;
const CH_MAX: usize = 70;

struct Buffers {
    input: [u8; IN_MAX],
    weights: [u8; W_MAX],
    bias: [u8; 4 * CH_MAX],
    requant: [u8; 8 * CH_MAX],
    reference: [u8; OUT_MAX],
    fast: [u8; OUT_MAX],
}

/// xorshift64*: small, deterministic, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
    fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// A valid requantization, extremes included.
    fn requant(&mut self) -> Requant {
        let span = (i32::MAX - M_MIN) as u64 + 1;
        match self.range(0, 5) {
            0 => Requant { m: i32::MAX, n: 31 },
            1 => Requant { m: M_MIN, n: N_MAX },
            2 => Requant { m: i32::MAX, n: N_MIN },
            3 => Requant { m: M_MIN + (self.next() % span) as i32, n: self.range(35, 50) as u32 },
            _ => {
                Requant { m: M_MIN + (self.next() % span) as i32, n: self.range(N_MIN as usize, N_MAX as usize) as u32 }
            }
        }
    }
    /// Per-channel biases (as large as the accumulator bound allows for `fan_in`, or small)
    /// and requantizations, little-endian as in a blob.
    fn channels(&mut self, n: usize, fan_in: usize, bias: &mut [u8], requant: &mut [u8]) {
        let max = (i32::MAX as i64 - fan_in as i64 * PRODUCT_BOUND).max(0);
        for c in 0..n {
            let b = match self.range(0, 3) {
                0 => max,
                1 => -max,
                2 => (self.next() % 2000) as i64 - 1000,
                _ => (self.next() % (2 * max as u64 + 1)) as i64 - max,
            } as i32;
            bias[4 * c..4 * c + 4].copy_from_slice(&b.to_le_bytes());
            let q = self.requant();
            requant[8 * c..8 * c + 4].copy_from_slice(&q.m.to_le_bytes());
            requant[8 * c + 4..8 * c + 8].copy_from_slice(&q.n.to_le_bytes());
        }
    }
}

fn shape(h: usize, w: usize, c: usize) -> Shape {
    Shape { h, w, c }
}

/// Ranges a family of convolution cases draws from.
struct ConvFamily {
    name: &'static str,
    cases: usize,
    kernel: (usize, usize),
    cin: (usize, usize),
    cout: (usize, usize),
    pool: (usize, usize),
    side: (usize, usize),
}

fn conv_cases(f: &ConvFamily, rng: &mut Rng, b: &mut Buffers) {
    let mut done = 0;
    while done < f.cases {
        let k = rng.range(f.kernel.0, f.kernel.1);
        let cin = rng.range(f.cin.0, f.cin.1);
        let cout = rng.range(f.cout.0, f.cout.1);
        let pool = rng.range(f.pool.0, f.pool.1);
        let stride = rng.range(1, 2);
        let (h, w) = (rng.range(f.side.0, f.side.1), rng.range(f.side.0, f.side.1));
        let pad = [rng.range(0, k - 1), rng.range(0, k - 1), rng.range(0, k - 1), rng.range(0, k - 1)];
        let (Some(dh), Some(dw)) = ((h + pad[0] + pad[2]).checked_sub(k), (w + pad[1] + pad[3]).checked_sub(k)) else {
            continue;
        };
        let (oh, ow) = ((dh / stride + 1) / pool, (dw / stride + 1) / pool);
        let (n_in, n_w, n_out) = (h * w * cin, cout * k * k * cin, oh * ow * cout);
        if oh == 0 || ow == 0 || n_in > IN_MAX || n_w > W_MAX || n_out > OUT_MAX || cout > CH_MAX {
            continue;
        }
        rng.fill(&mut b.input[..n_in]);
        rng.fill(&mut b.weights[..n_w]);
        rng.channels(cout, k * k * cin, &mut b.bias, &mut b.requant);
        let p = ConvParams {
            input: &b.input[..n_in],
            in_shape: shape(h, w, cin),
            in_zp: rng.i8(),
            sections: Sections {
                weights: &b.weights[..n_w],
                bias: &b.bias[..4 * cout],
                requant: &b.requant[..8 * cout],
            },
            kernel: k,
            stride,
            pad,
            pool,
            out_shape: shape(oh, ow, cout),
            out_zp: rng.i8(),
            relu: rng.bool(),
            rounding: if rng.bool() { Rounding::HalfToEven } else { Rounding::HalfAwayFromZero },
        };
        conv2d::reference(&p, &mut b.reference[..n_out]);
        conv2d::fast(&p, &mut b.fast[..n_out]);
        if b.reference[..n_out] != b.fast[..n_out] {
            hprintln!(
                "conv {}: MISMATCH at case {}: {}x{}x{} k {} stride {} pad {:?} pool {} cout {}",
                f.name,
                done,
                h,
                w,
                cin,
                k,
                stride,
                pad,
                pool,
                cout
            );
            exit(1);
        }
        done += 1;
    }
    hprintln!("conv {}: {} cases, fast == reference", f.name, f.cases);
}

fn dense_cases(cases: usize, rng: &mut Rng, b: &mut Buffers) {
    for case in 0..cases {
        let n = rng.range(1, 1100);
        let out = rng.range(1, 12);
        rng.fill(&mut b.input[..n]);
        rng.fill(&mut b.weights[..n * out]);
        rng.channels(out, n, &mut b.bias, &mut b.requant);
        let p = DenseParams {
            input: &b.input[..n],
            in_zp: rng.i8(),
            sections: Sections {
                weights: &b.weights[..n * out],
                bias: &b.bias[..4 * out],
                requant: &b.requant[..8 * out],
            },
            out_zp: rng.i8(),
            relu: rng.bool(),
            rounding: if rng.bool() { Rounding::HalfToEven } else { Rounding::HalfAwayFromZero },
        };
        dense::reference(&p, &mut b.reference[..out]);
        dense::fast(&p, &mut b.fast[..out]);
        if b.reference[..out] != b.fast[..out] {
            hprintln!("dense: MISMATCH at case {}: {} -> {}", case, n, out);
            exit(1);
        }
    }
    hprintln!("dense: {} cases, fast == reference", cases);
}

fn pool_cases(cases: usize, rng: &mut Rng, b: &mut Buffers) {
    for case in 0..cases {
        let size = rng.range(2, 3);
        let (h, w, c) = (rng.range(size, 12), rng.range(size, 12), rng.range(1, 40));
        let n_out = (h / size) * (w / size) * c;
        rng.fill(&mut b.input[..h * w * c]);
        let p = PoolParams {
            input: &b.input[..h * w * c],
            in_shape: shape(h, w, c),
            size,
            out_shape: shape(h / size, w / size, c),
        };
        maxpool::reference(&p, &mut b.reference[..n_out]);
        maxpool::fast(&p, &mut b.fast[..n_out]);
        if b.reference[..n_out] != b.fast[..n_out] {
            hprintln!("max pool: MISMATCH at case {}: {}x{}x{} size {}", case, h, w, c, size);
            exit(1);
        }
    }
    hprintln!("max pool: {} cases, fast == reference", cases);
}

#[entry]
fn main() -> ! {
    let b = cortex_m::singleton!(: Buffers = Buffers {
        input: [0; IN_MAX],
        weights: [0; W_MAX],
        bias: [0; 4 * CH_MAX],
        requant: [0; 8 * CH_MAX],
        reference: [0; OUT_MAX],
        fast: [0; OUT_MAX],
    })
    .unwrap_or_else(|| exit(2));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let families = [
        // Anything small: every kernel size, stride, padding and pool (3 included).
        ConvFamily { name: "small", cases: 200, kernel: (1, 5), cin: (1, 4), cout: (1, 5), pool: (1, 3), side: (1, 9) },
        // Nine-byte patches (3x3x1, 1x1x9): the first-layer path, up to 70 channels.
        ConvFamily {
            name: "nine-byte patches",
            cases: 100,
            kernel: (3, 3),
            cin: (1, 1),
            cout: (1, 70),
            pool: (1, 3),
            side: (3, 12),
        },
        ConvFamily { name: "1x1x9", cases: 20, kernel: (1, 1), cin: (9, 9), cout: (1, 70), pool: (1, 2), side: (1, 8) },
        // 2x2-pooled layers with patches across the four-position path's limit (576 bytes).
        ConvFamily {
            name: "pooled, long patches",
            cases: 100,
            kernel: (1, 3),
            cin: (2, 66),
            cout: (1, 70),
            pool: (2, 2),
            side: (2, 6),
        },
        // Patches on both sides of PATCH_MAX (5x5xcin around 1024 bytes).
        ConvFamily {
            name: "patches near 1 KiB",
            cases: 30,
            kernel: (5, 5),
            cin: (38, 44),
            cout: (1, 4),
            pool: (1, 2),
            side: (5, 7),
        },
    ];
    for f in &families {
        conv_cases(f, &mut rng, b);
    }
    dense_cases(200, &mut rng, b);
    pool_cases(100, &mut rng, b);
    hprintln!("all kernels agree with their references");
    exit(0)
}
