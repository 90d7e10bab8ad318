//! The interpreter: runs a parsed [`Model`] on raw pixels in the caller's arena, op by op, with
//! the kernels [`crate::kernels::select`] chooses.
//!
//! [`Model::run`] takes the fastest path the build allows; [`Model::run_with`] takes
//! [`RunOptions`]: which kernels, the tie rule, and an observer of each op's output.

use heapless::Vec;

use crate::blob::Reader;
use crate::error::Error;
use crate::graph::{Model, Op, OpKind};
use crate::kernels::concat;
use crate::kernels::params::{ConcatParams, ConvParams, DenseParams, PoolParams, Sections};
use crate::kernels::select::{self, Choice, Cpu};
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
use crate::kernels::x86::{V3Body, X86};
use crate::output::{MAX_OUTPUTS, Output};
use crate::requant::{M_MIN, N_MIN, Requant, Rounding};

/// Which kernels a run uses. All give bit-identical outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernels {
    /// The fastest the build allows (default): per shape the fastest kernel of the compile
    /// target, and with feature `x86-dispatch` those compiled for the CPU's x86-64-v3 / AVX-512
    /// VNNI features when it has them.
    #[default]
    Fast,
    /// The fast kernels of the compile target only, without run-time CPU dispatch (what
    /// dispatch gains is `Fast` against this).
    Baseline,
    /// The plain scalar reference kernels.
    Reference,
}

/// The instruction set [`Kernels::Fast`] runs on, on this build and CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isa {
    /// Plain Rust, vectorized by the compiler for the compile target.
    Portable,
    /// Cortex-M DSP extension (SXTB16/SMLAD; feature `cortex-m-dsp`).
    CortexMDsp,
    /// x86-64-v3: AVX2 intrinsic kernels (feature `x86-dispatch`).
    X86Avx2,
    /// x86-64-v3 and AVX-512 VNNI (feature `x86-dispatch`).
    X86Avx512Vnni,
}

impl Isa {
    /// What [`Kernels::Fast`] runs on here.
    pub fn detect() -> Self {
        #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
        if let Some(x) = X86::detect() {
            return if x.vnni() { Isa::X86Avx512Vnni } else { Isa::X86Avx2 };
        }
        if cfg!(all(feature = "cortex-m-dsp", target_arch = "arm")) { Isa::CortexMDsp } else { Isa::Portable }
    }

    /// A short name: `portable`, `Cortex-M DSP`, `AVX2`, `AVX-512 VNNI`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::CortexMDsp => "Cortex-M DSP",
            Isa::X86Avx2 => "AVX2",
            Isa::X86Avx512Vnni => "AVX-512 VNNI",
        }
    }
}

/// What [`Model::run_with`] calls after each op: `op_done(op_index, output_bytes)`. Every
/// `FnMut(usize, &[u8])` is one; [`NoObserver`] is the default.
pub trait Observer {
    /// Op `index` has written its int8 output, `bytes`.
    fn op_done(&mut self, index: usize, bytes: &[u8]);
}

impl<F: FnMut(usize, &[u8])> Observer for F {
    #[inline(always)]
    fn op_done(&mut self, index: usize, bytes: &[u8]) {
        self(index, bytes)
    }
}

/// No observer (compiles to nothing).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    #[inline(always)]
    fn op_done(&mut self, _: usize, _: &[u8]) {}
}

/// How [`Model::run_with`] runs: kernels, tie rule, observer. Built from [`RunOptions::new`].
///
/// On a microcontroller, build the options where `run_with` is called: options known at
/// compile time let LLVM drop the kernels they exclude, while options passed in from elsewhere
/// keep the reference kernels linked (2.9 KB of flash on the Cortex-M4).
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<O = NoObserver> {
    kernels: Kernels,
    rounding: Rounding,
    observer: O,
}

impl RunOptions {
    /// The defaults: [`Kernels::Fast`], the contract's ties to even, no observer.
    pub const fn new() -> Self {
        RunOptions { kernels: Kernels::Fast, rounding: Rounding::HalfToEven, observer: NoObserver }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> RunOptions<O> {
    /// Runs with these kernels.
    pub fn kernels(self, kernels: Kernels) -> Self {
        RunOptions { kernels, ..self }
    }

    /// Rounds exact ties by `rounding` instead of the contract's ties to even. Only for
    /// measuring the rounding choice against other engines.
    pub fn rounding(self, rounding: Rounding) -> Self {
        RunOptions { rounding, ..self }
    }

    /// Calls `observer(op_index, output_bytes)` after each op with the op's int8 output (as
    /// bytes), e.g. to measure per-layer quantization error or to time each op.
    pub fn observe<P: FnMut(usize, &[u8])>(self, observer: P) -> RunOptions<P> {
        RunOptions { kernels: self.kernels, rounding: self.rounding, observer }
    }
}

impl<const OPS: usize, const TENSORS: usize> Model<'_, OPS, TENSORS> {
    /// Runs the model on raw pixels (`input_len()` bytes, 0..=255) with the fastest kernels
    /// the build allows ([`Kernels::Fast`]).
    pub fn run(&self, pixels: &[u8], arena: &mut [u8]) -> Result<Output, Error> {
        self.run_with(RunOptions::new(), pixels, arena)
    }

    /// Runs the model as `options` say. Every choice of kernels gives the same bytes.
    pub fn run_with<O: Observer>(
        &self,
        options: RunOptions<O>,
        pixels: &[u8],
        arena: &mut [u8],
    ) -> Result<Output, Error> {
        let RunOptions { kernels, rounding, observer } = options;
        let choice = match kernels {
            Kernels::Reference => Choice::Reference,
            Kernels::Baseline => Choice::Fast(Cpu::BASELINE),
            Kernels::Fast => {
                #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
                if let Some(cpu) = X86::detect() {
                    return cpu.run_v3(V3Run { model: self, rounding, pixels, arena, observer });
                }
                Choice::Fast(Cpu::BASELINE)
            }
        };
        #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
        return self.execute_baseline(choice, rounding, pixels, arena, observer);
        #[cfg(not(all(feature = "x86-dispatch", target_arch = "x86_64")))]
        self.execute(choice, rounding, pixels, arena, observer)
    }

    /// With `x86-dispatch`: [`Model::execute`] compiled for the build's target as a function of
    /// its own, apart from the copy `X86::run_v3` compiles (sharing one function cost the
    /// portable path 2% on the MLP).
    #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
    #[inline(never)]
    fn execute_baseline<O: Observer>(
        &self,
        choice: Choice,
        rounding: Rounding,
        pixels: &[u8],
        arena: &mut [u8],
        observer: O,
    ) -> Result<Output, Error> {
        self.execute(choice, rounding, pixels, arena, observer)
    }

    #[cfg_attr(feature = "x86-dispatch", inline(always))]
    fn execute<O: Observer>(
        &self,
        choice: Choice,
        rounding: Rounding,
        pixels: &[u8],
        arena: &mut [u8],
        mut observer: O,
    ) -> Result<Output, Error> {
        let expected = self.input_len();
        if pixels.len() != expected {
            return Err(Error::InputLength { expected, given: pixels.len() });
        }
        if arena.len() < self.arena_len {
            return Err(Error::ArenaTooSmall { needed: self.arena_len, given: arena.len() });
        }
        let inp = self.tensors[self.input];
        // p − 128 as int8 (zero point −128) is p with its top bit flipped: four bytes at a time.
        let mut dst = arena[inp.offset..inp.offset + expected].chunks_exact_mut(4);
        let mut src = pixels.chunks_exact(4);
        for (d, p) in (&mut dst).zip(&mut src) {
            let v = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) ^ 0x8080_8080;
            d.copy_from_slice(&v.to_le_bytes());
        }
        for (d, &p) in dst.into_remainder().iter_mut().zip(src.remainder()) {
            *d = p ^ 0x80;
        }
        for (i, op) in self.ops.iter().enumerate() {
            self.run_op(choice, rounding, op, arena);
            let t = self.tensors[op.output()];
            observer.op_done(i, &arena[t.offset..t.offset + t.shape.numel()]);
        }
        let o = self.tensors[self.output];
        let mut values: Vec<i8, MAX_OUTPUTS> = Vec::new();
        for &b in &arena[o.offset..o.offset + o.shape.c] {
            // Capacity was checked at parse (c <= MAX_OUTPUTS).
            let _ = values.push(b as i8);
        }
        Ok(Output { values, scale: o.scale, zero_point: o.zero_point })
    }

    fn sections(&self, op: &Op, out_c: usize, weights_len: usize) -> Sections<'_> {
        Sections {
            weights: section(self.blob, op.weights, weights_len),
            bias: section(self.blob, op.bias, 4 * out_c),
            requant: section(self.blob, op.requant, 8 * out_c),
        }
    }

    #[cfg_attr(feature = "x86-dispatch", inline(always))]
    fn run_op(&self, choice: Choice, rounding: Rounding, op: &Op, arena: &mut [u8]) {
        let ti = self.tensors[op.input()];
        let to = self.tensors[op.output()];
        let out_range = to.offset..to.offset + to.shape.numel();
        let OpBuffers { x, xb, y, scratch } = split_arena(
            arena,
            ti.offset..ti.offset + ti.shape.numel(),
            op.second_input().map(|b| {
                let t = self.tensors[b];
                t.offset..t.offset + t.shape.numel()
            }),
            out_range,
            op.scratch_range(),
        );
        match op.kind {
            OpKind::Conv2d { kernel, stride, pad, pool } => {
                let (kernel, stride, pad, pool) =
                    (kernel as usize, stride as usize, pad.map(usize::from), pool as usize);
                let weights_len = to.shape.c * kernel * kernel * ti.shape.c;
                let p = ConvParams {
                    input: x,
                    in_shape: ti.shape,
                    in_zp: ti.zero_point,
                    sections: self.sections(op, to.shape.c, weights_len),
                    kernel,
                    stride,
                    pad,
                    pool,
                    out_shape: to.shape,
                    out_zp: to.zero_point,
                    relu: op.relu,
                    rounding,
                };
                select::conv2d_with(&p, y, scratch, choice);
            }
            OpKind::Dense => {
                let weights_len = to.shape.c * ti.shape.numel();
                let p = DenseParams {
                    input: x,
                    in_zp: ti.zero_point,
                    sections: self.sections(op, to.shape.c, weights_len),
                    out_zp: to.zero_point,
                    relu: op.relu,
                    rounding,
                };
                select::dense_with(&p, y, scratch, choice);
            }
            OpKind::MaxPool2d { size } => {
                let p = PoolParams { input: x, in_shape: ti.shape, size: size as usize, out_shape: to.shape };
                select::max_pool2d_with(&p, y, choice);
            }
            OpKind::Concat => {
                let tb = op.second_input().map(|b| self.tensors[b]).unwrap_or(ti);
                let rq = Reader(section(self.blob, op.requant, 16));
                let pair = |at| Requant { m: rq.i32(at).unwrap_or(M_MIN), n: rq.u32(at + 4).unwrap_or(N_MIN) };
                let p = ConcatParams {
                    a: x,
                    a_zp: ti.zero_point,
                    a_requant: pair(0),
                    b: xb.unwrap_or(&[]),
                    b_zp: tb.zero_point,
                    b_requant: pair(8),
                    out_zp: to.zero_point,
                    rounding,
                };
                concat::run(&p, y);
            }
        }
    }
}

/// A run for [`X86::run_v3`]: `execute` and every kernel it inlines compiled for x86-64-v3.
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
struct V3Run<'m, 'b, 'x, O, const OPS: usize, const TENSORS: usize> {
    model: &'m Model<'b, OPS, TENSORS>,
    rounding: Rounding,
    pixels: &'x [u8],
    arena: &'x mut [u8],
    observer: O,
}

#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
impl<O: Observer, const OPS: usize, const TENSORS: usize> V3Body for V3Run<'_, '_, '_, O, OPS, TENSORS> {
    type Output = Result<Output, Error>;

    #[inline(always)]
    fn run(self, cpu: X86) -> Self::Output {
        let choice = Choice::Fast(Cpu { x86: Some(cpu) });
        self.model.execute(choice, self.rounding, self.pixels, self.arena, self.observer)
    }
}

/// `blob[at..at + len]` (parse checked that it is inside the blob).
fn section(blob: &[u8], at: u32, len: usize) -> &[u8] {
    let at = at as usize;
    &blob[at..at + len]
}

/// An op's view of the arena: its input(s), its output and its scratch.
struct OpBuffers<'a> {
    x: &'a [u8],
    xb: Option<&'a [u8]>,
    y: &'a mut [u8],
    scratch: &'a mut [u8],
}

/// Splits the arena into the read-only input(s), the writable output and the op's scratch.
/// The plan guarantees that output and scratch overlap each other and the inputs nowhere, so
/// each input lies in one of the three stretches around them.
fn split_arena(
    arena: &mut [u8],
    a: core::ops::Range<usize>,
    b: Option<core::ops::Range<usize>>,
    out: core::ops::Range<usize>,
    scratch: core::ops::Range<usize>,
) -> OpBuffers<'_> {
    // The two writable ranges in address order (an empty scratch right after the output).
    let scratch = if scratch.is_empty() { out.end..out.end } else { scratch };
    let out_first = out.start <= scratch.start;
    let (r1, r2) = if out_first { (out, scratch) } else { (scratch, out) };
    let (g0, rest) = arena.split_at_mut(r1.start);
    let (w1, rest) = rest.split_at_mut(r1.end - r1.start);
    let (g1, rest) = rest.split_at_mut(r2.start - r1.end);
    let (w2, g2) = rest.split_at_mut(r2.end - r2.start);
    let gaps: [(usize, &[u8]); 3] = [(0, g0), (r1.end, g1), (r2.end, g2)];
    let pick = |r: core::ops::Range<usize>| -> &[u8] {
        gaps.iter().find_map(|&(at, g)| r.start.checked_sub(at).and_then(|s| g.get(s..r.end - at))).unwrap_or(&[])
    };
    let (x, xb) = (pick(a), b.map(pick));
    let (y, scratch) = if out_first { (w1, w2) } else { (w2, w1) };
    OpBuffers { x, xb, y, scratch }
}
