//! The kernel contract (feature `contract`; `no_std`, no allocator): every fast kernel gives
//! the bytes of its scalar reference on every layer it may be given. The cases are generated
//! here, once, and checked wherever the kernels are compiled: the host tests instantiate the
//! contract for each x86 kernel set (portable, AVX2, AVX-512 VNNI), and
//! `firmware-example/examples/kernel_props.rs` runs it on the Cortex-M4 (QEMU) against the
//! `cortex-m-dsp` kernels, as tract's `frame` test macros are instantiated per ISA.
//!
//! Each [`ConvFamily`] draws layers from ranges aimed at one kernel's limits (kernel sides,
//! strides, paddings, pools, channel counts on both sides of every block size and patch
//! limit); every case draws zero points, ReLU and the tie rule, and either any bytes with
//! requantization constants at their extremes and biases as large as the accumulator bound
//! allows, or (a third of the cases) small values with multipliers near 1, where an
//! accumulator off by one changes the output. Deterministic: a case is a
//! function of the [`Rng`] seed.

use core::fmt;

use crate::graph::Shape;
use crate::kernels::params::{ConvParams, DenseParams, PoolParams, Sections};
use crate::kernels::select::{self, SCRATCH_MAX};
use crate::kernels::{conv2d, dense, maxpool};
use crate::parse::PRODUCT_BOUND;
use crate::requant::{M_MIN, N_MAX, N_MIN, Requant, Rounding};

/// Largest input a case uses (bytes).
pub const IN_MAX: usize = 12 * 12 * 66;
/// Largest weights section a case uses (bytes).
pub const W_MAX: usize = 70 * 600;
/// Largest output a case produces (bytes).
pub const OUT_MAX: usize = 12 * 12 * 70;
/// Most output channels of a case.
pub const CH_MAX: usize = 80;

/// The memory the cases are built in (about 78 KB: a `static` on a microcontroller).
pub struct Buffers {
    input: [u8; IN_MAX],
    weights: [u8; W_MAX],
    bias: [u8; 4 * CH_MAX],
    requant: [u8; 8 * CH_MAX],
    reference: [u8; OUT_MAX],
    fast: [u8; OUT_MAX],
    scratch: [u8; SCRATCH_MAX + 3],
}

impl Buffers {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Buffers {
            input: [0; IN_MAX],
            weights: [0; W_MAX],
            bias: [0; 4 * CH_MAX],
            requant: [0; 8 * CH_MAX],
            reference: [0; OUT_MAX],
            fast: [0; OUT_MAX],
            scratch: [0; SCRATCH_MAX + 3],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// xorshift64*: small, deterministic, good enough to spread cases.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator; any seed (0 is replaced by a fixed odd constant).
    pub const fn new(seed: u64) -> Self {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    fn range(&mut self, (lo, hi): (usize, usize)) -> usize {
        if hi <= lo { lo } else { lo + (self.next() % (hi - lo + 1) as u64) as usize }
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
    /// Int8 values within ±2 of `center` (saturated), as bytes.
    fn fill_near(&mut self, b: &mut [u8], center: i8) {
        for x in b {
            *x = (center as i32 + (self.next() % 5) as i32 - 2).clamp(-128, 127) as i8 as u8;
        }
    }
    /// Inputs and weights: any bytes, or (`small`) inputs within ±2 of the zero point and
    /// weights within ±2 of 0, so that accumulators stay small.
    fn values(&mut self, small: bool, zp: i8, input: &mut [u8], weights: &mut [u8]) {
        if small {
            self.fill_near(input, zp);
            self.fill_near(weights, 0);
        } else {
            self.fill(input);
            self.fill(weights);
        }
    }
    fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn rounding(&mut self) -> Rounding {
        if self.bool() { Rounding::HalfToEven } else { Rounding::HalfAwayFromZero }
    }
    /// A valid requantization, extremes included.
    fn requant(&mut self) -> Requant {
        let span = (i32::MAX - M_MIN) as u64 + 1;
        match self.range((0, 5)) {
            0 => Requant { m: i32::MAX, n: 31 },
            1 => Requant { m: M_MIN, n: N_MAX },
            2 => Requant { m: i32::MAX, n: N_MIN },
            3 => Requant { m: M_MIN + (self.next() % span) as i32, n: self.range((35, 50)) as u32 },
            _ => Requant {
                m: M_MIN + (self.next() % span) as i32,
                n: self.range((N_MIN as usize, N_MAX as usize)) as u32,
            },
        }
    }
    /// Per-channel biases (as large as the accumulator bound allows for `fan_in`, or small)
    /// and requantizations, little-endian as in a blob. `small`: small biases and multipliers
    /// of 1/2 to 1, for the small-magnitude cases, where an accumulator off by one shows.
    fn channels(&mut self, n: usize, fan_in: usize, small: bool, bias: &mut [u8], requant: &mut [u8]) {
        let max = (i32::MAX as i64 - fan_in as i64 * PRODUCT_BOUND).max(0);
        let span = (i32::MAX - M_MIN) as u64 + 1;
        for (b, r) in bias.chunks_exact_mut(4).zip(requant.chunks_exact_mut(8)).take(n) {
            let v = match self.range((0, 3)) {
                _ if small => (self.next() % 21) as i64 - 10,
                0 => max,
                1 => -max,
                2 => (self.next() % 2000) as i64 - 1000,
                _ => (self.next() % (2 * max as u64 + 1)) as i64 - max,
            } as i32;
            b.copy_from_slice(&v.to_le_bytes());
            let q = if small {
                Requant { m: M_MIN + (self.next() % span) as i32, n: self.range((30, 31)) as u32 }
            } else {
                self.requant()
            };
            r[..4].copy_from_slice(&q.m.to_le_bytes());
            r[4..].copy_from_slice(&q.n.to_le_bytes());
        }
    }
}

/// Ranges a family of convolution cases draws from (inclusive).
#[derive(Debug, Clone, Copy)]
pub struct ConvFamily {
    /// Its name in reports.
    pub name: &'static str,
    /// Cases on the Cortex-M4 (the host runs a multiple).
    pub cases: usize,
    /// Kernel side.
    pub kernel: (usize, usize),
    /// Input channels.
    pub cin: (usize, usize),
    /// Output channels.
    pub cout: (usize, usize),
    /// Fused pool window.
    pub pool: (usize, usize),
    /// Input height and width.
    pub side: (usize, usize),
}

/// Every convolution family.
pub const CONV_FAMILIES: [ConvFamily; 10] = [
    // Anything small: every kernel size, stride, padding and pool (3 included).
    ConvFamily {
        name: "conv small",
        cases: 200,
        kernel: (1, 5),
        cin: (1, 4),
        cout: (1, 5),
        pool: (1, 3),
        side: (1, 9),
    },
    // Nine-byte patches (3x3x1, 1x1x9): the first-layer paths, up to 70 channels.
    ConvFamily {
        name: "conv nine-byte patches",
        cases: 100,
        kernel: (3, 3),
        cin: (1, 1),
        cout: (1, 70),
        pool: (1, 3),
        side: (3, 12),
    },
    ConvFamily {
        name: "conv 1x1x9",
        cases: 20,
        kernel: (1, 1),
        cin: (9, 9),
        cout: (1, 70),
        pool: (1, 2),
        side: (1, 8),
    },
    // More output channels than a block holds (64).
    ConvFamily {
        name: "conv wide",
        cases: 20,
        kernel: (1, 3),
        cin: (1, 3),
        cout: (60, 70),
        pool: (1, 3),
        side: (1, 9),
    },
    // Short patches with a 2x2 pool (x86 channels in lanes: 32-channel blocks).
    ConvFamily {
        name: "conv pooled, short patches",
        cases: 40,
        kernel: (1, 4),
        cin: (1, 4),
        cout: (1, 70),
        pool: (2, 2),
        side: (2, 9),
    },
    // 2x2-pooled layers with patches across the four-position paths' limits (576, 512 bytes).
    ConvFamily {
        name: "conv pooled, long patches",
        cases: 100,
        kernel: (1, 3),
        cin: (2, 66),
        cout: (1, 70),
        pool: (2, 2),
        side: (2, 6),
    },
    // Whole 32-byte chunks per kernel row (the VNNI kernel reads rows in place).
    ConvFamily {
        name: "conv pooled, 32-byte rows",
        cases: 20,
        kernel: (1, 3),
        cin: (32, 32),
        cout: (1, 20),
        pool: (2, 2),
        side: (2, 9),
    },
    // Unpooled, whole 32-byte chunks per kernel row (the VNNI kernel's runs of four outputs,
    // the last one short; more channels than a block).
    ConvFamily {
        name: "conv unpooled, 32-byte rows",
        cases: 20,
        kernel: (1, 3),
        cin: (32, 32),
        cout: (1, 70),
        pool: (1, 1),
        side: (1, 9),
    },
    // Whole 16-value chunks per kernel row (the AVX2 kernel reads rows in place), any pool.
    ConvFamily {
        name: "conv 16-value rows",
        cases: 20,
        kernel: (1, 3),
        cin: (16, 16),
        cout: (1, 20),
        pool: (1, 3),
        side: (2, 9),
    },
    // Patches on both sides of PATCH_MAX (5x5xcin around 1024 bytes).
    ConvFamily {
        name: "conv patches near 1 KiB",
        cases: 30,
        kernel: (5, 5),
        cin: (38, 44),
        cout: (1, 4),
        pool: (1, 3),
        side: (5, 7),
    },
];

/// Ranges a family of dense cases draws from (inclusive).
#[derive(Debug, Clone, Copy)]
pub struct DenseFamily {
    /// Its name in reports.
    pub name: &'static str,
    /// Cases on the Cortex-M4 (the host runs a multiple).
    pub cases: usize,
    /// Inputs.
    pub inputs: (usize, usize),
    /// Outputs.
    pub outputs: (usize, usize),
}

/// Every dense family.
pub const DENSE_FAMILIES: [DenseFamily; 2] = [
    // Long inputs on both sides of PATCH_MAX (the widened part of the input).
    DenseFamily { name: "dense", cases: 200, inputs: (1, 1100), outputs: (1, 12) },
    // More rows than a block of accumulators (64), and the four-row x86 loop's tails.
    DenseFamily { name: "dense, many rows", cases: 40, inputs: (1, 500), outputs: (13, 80) },
];

/// Cases of the max-pool family on the Cortex-M4.
pub const POOL_CASES: usize = 100;

/// The first case on which a fast kernel differed from its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The family.
    pub family: &'static str,
    /// The case's index in the family.
    pub case: usize,
    /// Input height, width, channels.
    pub input: [usize; 3],
    /// Kernel side, stride, pool (convolution; window for max pool).
    pub geometry: [usize; 3],
    /// Padding (convolution).
    pub pad: [usize; 4],
    /// Output channels.
    pub outputs: usize,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [h, w, c] = self.input;
        let [k, s, pool] = self.geometry;
        write!(
            f,
            "{}: fast differs from reference at case {}: input {h}x{w}x{c}, kernel {k}, stride {s}, pad {:?}, pool {pool}, {} outputs",
            self.family, self.case, self.pad, self.outputs
        )
    }
}

/// The kernels under test. `scratch` is what [`select::conv2d_scratch_len`] and
/// [`select::dense_scratch_len`] ask for, at a random alignment and full of garbage.
pub trait KernelSet {
    /// A fast convolution.
    fn conv2d(&self, p: &ConvParams, out: &mut [u8], scratch: &mut [u8]);
    /// A fast dense layer.
    fn dense(&self, p: &DenseParams, out: &mut [u8], scratch: &mut [u8]);
    /// A fast max pool.
    fn max_pool2d(&self, p: &PoolParams, out: &mut [u8]);
}

fn shape(h: usize, w: usize, c: usize) -> Shape {
    Shape { h, w, c }
}

/// `cases` layers of family `f` through `k.conv2d` and the reference.
pub fn check_conv(
    k: &impl KernelSet,
    f: &ConvFamily,
    cases: usize,
    rng: &mut Rng,
    b: &mut Buffers,
) -> Result<(), Mismatch> {
    let mut done = 0;
    while done < cases {
        let kernel = rng.range(f.kernel);
        let cin = rng.range(f.cin);
        let cout = rng.range(f.cout);
        let pool = rng.range(f.pool);
        let stride = rng.range((1, 2));
        let (h, w) = (rng.range(f.side), rng.range(f.side));
        let m = kernel - 1;
        let pad = [rng.range((0, m)), rng.range((0, m)), rng.range((0, m)), rng.range((0, m))];
        let (Some(dh), Some(dw)) =
            ((h + pad[0] + pad[2]).checked_sub(kernel), (w + pad[1] + pad[3]).checked_sub(kernel))
        else {
            continue;
        };
        let (oh, ow) = ((dh / stride + 1) / pool, (dw / stride + 1) / pool);
        let (n_in, n_w, n_out) = (h * w * cin, cout * kernel * kernel * cin, oh * ow * cout);
        if oh == 0 || ow == 0 || n_in > IN_MAX || n_w > W_MAX || n_out > OUT_MAX || cout > CH_MAX {
            continue;
        }
        let (in_zp, small) = (rng.i8(), rng.range((0, 2)) == 0);
        rng.values(small, in_zp, &mut b.input[..n_in], &mut b.weights[..n_w]);
        rng.channels(cout, kernel * kernel * cin, small, &mut b.bias, &mut b.requant);
        let p = ConvParams {
            input: &b.input[..n_in],
            in_shape: shape(h, w, cin),
            in_zp,
            sections: Sections {
                weights: &b.weights[..n_w],
                bias: &b.bias[..4 * cout],
                requant: &b.requant[..8 * cout],
            },
            kernel,
            stride,
            pad,
            pool,
            out_shape: shape(oh, ow, cout),
            out_zp: rng.i8(),
            relu: rng.bool(),
            rounding: rng.rounding(),
        };
        b.fast[..n_out].fill(0x5A);
        conv2d::reference(&p, &mut b.reference[..n_out]);
        let at = rng.range((0, 3));
        let scratch = &mut b.scratch[at..at + select::conv2d_scratch_len(&p)];
        scratch.fill(0xA5);
        k.conv2d(&p, &mut b.fast[..n_out], scratch);
        if b.reference[..n_out] != b.fast[..n_out] {
            let (family, input, geometry, outputs) = (f.name, [h, w, cin], [kernel, stride, pool], cout);
            return Err(Mismatch { family, case: done, input, geometry, pad, outputs });
        }
        done += 1;
    }
    Ok(())
}

/// `cases` layers of family `f` through `k.dense` and the reference.
pub fn check_dense(
    k: &impl KernelSet,
    f: &DenseFamily,
    cases: usize,
    rng: &mut Rng,
    b: &mut Buffers,
) -> Result<(), Mismatch> {
    for case in 0..cases {
        let n = rng.range(f.inputs);
        let out = rng.range(f.outputs).min(CH_MAX);
        let n = n.min(W_MAX / out).min(IN_MAX);
        // A third of the inputs have zero point -128 (the pixels' and ReLU outputs'), for
        // which a kernel may skip the weight-sum correction.
        let in_zp = if rng.range((0, 2)) == 0 { i8::MIN } else { rng.i8() };
        let small = rng.range((0, 2)) == 0;
        rng.values(small, in_zp, &mut b.input[..n], &mut b.weights[..n * out]);
        rng.channels(out, n, small, &mut b.bias, &mut b.requant);
        let p = DenseParams {
            input: &b.input[..n],
            in_zp,
            sections: Sections {
                weights: &b.weights[..n * out],
                bias: &b.bias[..4 * out],
                requant: &b.requant[..8 * out],
            },
            out_zp: rng.i8(),
            relu: rng.bool(),
            rounding: rng.rounding(),
        };
        b.fast[..out].fill(0x5A);
        dense::reference(&p, &mut b.reference[..out]);
        let at = rng.range((0, 3));
        let scratch = &mut b.scratch[at..at + select::dense_scratch_len(&p)];
        scratch.fill(0xA5);
        k.dense(&p, &mut b.fast[..out], scratch);
        if b.reference[..out] != b.fast[..out] {
            let input = [1, 1, n];
            return Err(Mismatch { family: f.name, case, input, geometry: [0; 3], pad: [0; 4], outputs: out });
        }
    }
    Ok(())
}

/// `cases` max pools (window 2 or 3) through `k.max_pool2d` and the reference.
pub fn check_max_pool(k: &impl KernelSet, cases: usize, rng: &mut Rng, b: &mut Buffers) -> Result<(), Mismatch> {
    for case in 0..cases {
        let size = rng.range((2, 3));
        let (h, w, c) = (rng.range((size, 12)), rng.range((size, 12)), rng.range((1, 40)));
        let n_out = (h / size) * (w / size) * c;
        rng.fill(&mut b.input[..h * w * c]);
        let p = PoolParams {
            input: &b.input[..h * w * c],
            in_shape: shape(h, w, c),
            size,
            out_shape: shape(h / size, w / size, c),
        };
        b.fast[..n_out].fill(0x5A);
        maxpool::reference(&p, &mut b.reference[..n_out]);
        k.max_pool2d(&p, &mut b.fast[..n_out]);
        if b.reference[..n_out] != b.fast[..n_out] {
            let (input, geometry) = ([h, w, c], [size, size, 1]);
            return Err(Mismatch { family: "max pool", case, input, geometry, pad: [0; 4], outputs: c });
        }
    }
    Ok(())
}

/// Every family, each with its Cortex-M4 case count times `scale`; `report(name, cases)` after
/// each family that agreed. Stops at the first mismatch.
pub fn check_all(
    k: &impl KernelSet,
    scale: usize,
    rng: &mut Rng,
    b: &mut Buffers,
    mut report: impl FnMut(&str, usize),
) -> Result<(), Mismatch> {
    for f in &CONV_FAMILIES {
        check_conv(k, f, f.cases * scale, rng, b)?;
        report(f.name, f.cases * scale);
    }
    for f in &DENSE_FAMILIES {
        check_dense(k, f, f.cases * scale, rng, b)?;
        report(f.name, f.cases * scale);
    }
    check_max_pool(k, POOL_CASES * scale, rng, b)?;
    report("max pool", POOL_CASES * scale);
    Ok(())
}
