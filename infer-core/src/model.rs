//! [`Model`]: a validated, zero-copy view of a blob, its arena plan, and the interpreter that
//! runs it.

use heapless::Vec;

use crate::blob::{self, HEADER_LEN, OP_RECORD, OpRecord, Reader, TENSOR_RECORD, TensorRecord, kind};
use crate::error::{Error, OpProblem};
use crate::kernels::{self, Avx2, ConcatParams, ConvParams, DenseParams, PoolParams, Sections};
use crate::output::Output;
use crate::plan;
use crate::requant::{Requant, Rounding};
use crate::{MAX_NUMEL, MAX_OPS, MAX_OUTPUTS, MAX_TENSORS, PRODUCT_BOUND};

/// Height × width × channels of an activation (HWC layout, channels fastest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Shape {
    /// Number of elements.
    pub const fn numel(&self) -> usize {
        self.h * self.w * self.c
    }
    /// True for a flat vector (`h = w = 1`).
    pub const fn is_flat(&self) -> bool {
        self.h == 1 && self.w == 1
    }
}

/// A validated tensor: shape, quantization and its place in the arena.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo {
    /// Shape.
    pub shape: Shape,
    /// Zero point.
    pub zero_point: i8,
    /// Scale.
    pub scale: f32,
    /// Byte offset in the arena.
    pub offset: usize,
}

/// The kind of a validated op, with its geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Convolution.
    Conv2d {
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding top, left, bottom, right.
        pad: [usize; 4],
        /// Fused max-pool window (1 = none).
        pool: usize,
    },
    /// Fully connected.
    Dense,
    /// Max pooling with window = stride.
    MaxPool2d {
        /// Window side.
        size: usize,
    },
    /// Concatenation of inputs `a` then `b`.
    Concat,
}

/// A validated op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// Fused ReLU.
    pub relu: bool,
    /// First input tensor id.
    pub a: usize,
    /// Second input tensor id (Concat).
    pub b: Option<usize>,
    /// Output tensor id.
    pub out: usize,
    /// Offset of the weights section (Conv2d, Dense).
    pub weights: usize,
    /// Offset of the bias section (Conv2d, Dense).
    pub bias: usize,
    /// Offset of the requantization section (Conv2d, Dense, Concat).
    pub requant: usize,
}

/// A parsed, validated model. Borrowing the blob: no weight is copied.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    blob: &'a [u8],
    tensors: Vec<TensorInfo, MAX_TENSORS>,
    ops: Vec<Op, MAX_OPS>,
    input: usize,
    output: usize,
    arena_len: usize,
}

/// Which kernels to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The optimized kernels (default).
    Fast,
    /// The plain scalar reference kernels.
    Reference,
}

fn op_err(index: usize, problem: OpProblem) -> Error {
    Error::BadOp { index: index as u16, problem }
}

/// Output side of a window sliding over `size` padded by `pad_sum`: `None` if it does not fit.
fn window_out(size: usize, pad_sum: usize, kernel: usize, stride: usize) -> Option<usize> {
    (size + pad_sum).checked_sub(kernel).map(|d| d / stride + 1)
}

impl<'a> Model<'a> {
    /// Validates a blob (see docs/FORMAT.md for every check) and plans its arena.
    pub fn parse(blob: &'a [u8]) -> Result<Self, Error> {
        let len = blob.len();
        if len < HEADER_LEN + blob::CRC_LEN {
            return Err(Error::TooShort { len });
        }
        let r = Reader(blob);
        let h = blob::Header::read(&r).ok_or(Error::TooShort { len })?;
        if h.magic != blob::MAGIC {
            return Err(Error::BadMagic);
        }
        if h.version != blob::VERSION {
            return Err(Error::UnsupportedVersion(h.version));
        }
        if h.header_len as usize != HEADER_LEN || h.reserved != 0 {
            return Err(Error::BadHeader);
        }
        if h.total_len as usize != len {
            return Err(Error::LengthMismatch { declared: h.total_len, actual: len });
        }
        let body = len - blob::CRC_LEN;
        let stored = r.u32(body).ok_or(Error::TooShort { len })?;
        let computed = crate::crc32::crc32(&blob[..body]);
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        let nt = h.n_tensors as usize;
        let no = h.n_ops as usize;
        if !(1..=MAX_TENSORS).contains(&nt) {
            return Err(Error::TensorCount(h.n_tensors));
        }
        if !(1..=MAX_OPS).contains(&no) {
            return Err(Error::OpCount(h.n_ops));
        }
        let tensor_table = HEADER_LEN;
        let op_table = tensor_table + nt * TENSOR_RECORD;
        let data_start = op_table + no * OP_RECORD;
        if h.tensor_table as usize != tensor_table || h.op_table as usize != op_table || data_start > body {
            return Err(Error::BadTable);
        }

        let mut tensors: Vec<TensorInfo, MAX_TENSORS> = Vec::new();
        for i in 0..nt {
            let bad = Error::BadTensor { index: i as u16 };
            let t = TensorRecord::read(&r, tensor_table + i * TENSOR_RECORD).ok_or(bad)?;
            let shape = Shape { h: t.h as usize, w: t.w as usize, c: t.c as usize };
            let ok = shape.h > 0
                && shape.w > 0
                && shape.c > 0
                && shape.numel() <= MAX_NUMEL
                && t.scale.is_finite()
                && t.scale > 0.0
                && t.reserved0 == 0
                && t.reserved1 == 0;
            if !ok {
                return Err(bad);
            }
            tensors
                .push(TensorInfo { shape, zero_point: t.zero_point, scale: t.scale, offset: 0 })
                .map_err(|_| Error::TensorCount(h.n_tensors))?;
        }
        let input = h.input as usize;
        let output = h.output as usize;
        let inp = tensors.get(input).ok_or(Error::BadInput)?;
        if inp.shape.c != 1 || inp.zero_point != -128 {
            return Err(Error::BadInput);
        }

        let mut produced = [false; MAX_TENSORS];
        produced[input] = true;
        let mut ops: Vec<Op, MAX_OPS> = Vec::new();
        for i in 0..no {
            let rec = OpRecord::read(&r, op_table + i * OP_RECORD).ok_or(Error::BadTable)?;
            let op = validate_op(i, &rec, &tensors, &produced, &r, data_start, body)?;
            produced[op.out] = true;
            ops.push(op).map_err(|_| Error::OpCount(h.n_ops))?;
        }
        if let Some(t) = (0..nt).find(|&t| !produced[t]) {
            return Err(Error::BadTensor { index: t as u16 });
        }
        match tensors.get(output) {
            Some(t) if output != input && t.shape.is_flat() && t.shape.c <= MAX_OUTPUTS => {}
            _ => return Err(Error::BadOutput),
        }
        let arena_len = plan::assign(&mut tensors, &ops, input, output);
        Ok(Self { blob, tensors, ops, input, output, arena_len })
    }

    /// Bytes of arena [`Model::run`] needs.
    pub fn arena_len(&self) -> usize {
        self.arena_len
    }

    /// Number of input pixels (784 for Fashion-MNIST).
    pub fn input_len(&self) -> usize {
        self.tensors[self.input].shape.numel()
    }

    /// Shape of the input.
    pub fn input_shape(&self) -> Shape {
        self.tensors[self.input].shape
    }

    /// Number of output values (classes).
    pub fn num_outputs(&self) -> usize {
        self.tensors[self.output].shape.c
    }

    /// The validated tensors (arena offsets included).
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The validated ops, in execution order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Multiply-accumulates of one inference.
    pub fn macs(&self) -> usize {
        self.ops.iter().map(|op| self.op_macs(op)).sum()
    }

    /// Multiply-accumulates of one op.
    pub fn op_macs(&self, op: &Op) -> usize {
        let i = self.tensors[op.a].shape;
        let o = self.tensors[op.out].shape;
        match op.kind {
            OpKind::Conv2d { kernel, stride, pad, .. } => {
                let oh = window_out(i.h, pad[0] + pad[2], kernel, stride).unwrap_or(0);
                let ow = window_out(i.w, pad[1] + pad[3], kernel, stride).unwrap_or(0);
                [ow, o.c, kernel, kernel, i.c].iter().fold(oh, |acc, &v| acc.saturating_mul(v))
            }
            OpKind::Dense => i.numel().saturating_mul(o.c),
            _ => 0,
        }
    }

    /// Weight bytes (int8 weights + int32 biases + requantization pairs).
    pub fn weight_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| {
                let i = self.tensors[op.a].shape;
                let o = self.tensors[op.out].shape;
                match op.kind {
                    OpKind::Conv2d { kernel, .. } => o.c * kernel * kernel * i.c + 12 * o.c,
                    OpKind::Dense => o.c * i.numel() + 12 * o.c,
                    // (Both products were bounded by parse: they are section lengths.)
                    OpKind::Concat => 16,
                    OpKind::MaxPool2d { .. } => 0,
                }
            })
            .sum()
    }

    /// Runs the model on raw pixels (`input_len()` bytes, 0..=255) with the fast kernels.
    pub fn run(&self, pixels: &[u8], arena: &mut [u8]) -> Result<Output, Error> {
        self.run_with(Kernels::Fast, pixels, arena)
    }

    /// Runs the model with the chosen kernels. Both give bit-identical outputs.
    pub fn run_with(&self, k: Kernels, pixels: &[u8], arena: &mut [u8]) -> Result<Output, Error> {
        self.run_observed(k, pixels, arena, |_, _| {})
    }

    /// Like [`Model::run_with`], calling `observe(op_index, output_bytes)` after each op with
    /// the op's int8 output (as bytes), e.g. to measure per-layer quantization error.
    pub fn run_observed<F: FnMut(usize, &[u8])>(
        &self,
        k: Kernels,
        pixels: &[u8],
        arena: &mut [u8],
        observe: F,
    ) -> Result<Output, Error> {
        self.execute(k, None, Rounding::HalfToEven, pixels, arena, observe)
    }

    /// Runs with another tie rule than the contract's ties-to-even. Only for measuring the
    /// rounding choice against other engines; models are specified with ties to even.
    pub fn run_with_rounding(
        &self,
        k: Kernels,
        rounding: Rounding,
        pixels: &[u8],
        arena: &mut [u8],
    ) -> Result<Output, Error> {
        self.execute(k, None, rounding, pixels, arena, |_, _| {})
    }

    #[cfg_attr(feature = "x86-dispatch", inline(always))]
    pub(crate) fn execute<F: FnMut(usize, &[u8])>(
        &self,
        k: Kernels,
        simd: Option<Avx2>,
        rounding: Rounding,
        pixels: &[u8],
        arena: &mut [u8],
        mut observe: F,
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
            self.run_op(k, simd, rounding, op, arena);
            let t = self.tensors[op.out];
            observe(i, &arena[t.offset..t.offset + t.shape.numel()]);
        }
        let o = self.tensors[self.output];
        let mut values: Vec<i8, MAX_OUTPUTS> = Vec::new();
        for &b in &arena[o.offset..o.offset + o.shape.c] {
            // Capacity was checked at parse (c <= MAX_OUTPUTS).
            let _ = values.push(b as i8);
        }
        Ok(Output { values, scale: o.scale, zero_point: o.zero_point })
    }

    fn sections(&self, op: &Op, out_c: usize, weights_len: usize) -> Sections<'a> {
        Sections {
            weights: &self.blob[op.weights..op.weights + weights_len],
            bias: &self.blob[op.bias..op.bias + 4 * out_c],
            requant: &self.blob[op.requant..op.requant + 8 * out_c],
        }
    }

    #[cfg_attr(feature = "x86-dispatch", inline(always))]
    fn run_op(&self, k: Kernels, simd: Option<Avx2>, rounding: Rounding, op: &Op, arena: &mut [u8]) {
        let ti = self.tensors[op.a];
        let to = self.tensors[op.out];
        let out_range = to.offset..to.offset + to.shape.numel();
        let (x, xb, y) = split_arena(
            arena,
            ti.offset..ti.offset + ti.shape.numel(),
            op.b.map(|b| {
                let t = self.tensors[b];
                t.offset..t.offset + t.shape.numel()
            }),
            out_range,
        );
        match op.kind {
            OpKind::Conv2d { kernel, stride, pad, pool } => {
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
                match k {
                    Kernels::Fast if simd.is_some_and(|t| t.conv(&p, y)) => {}
                    Kernels::Fast => kernels::conv2d::fast(&p, y),
                    Kernels::Reference => kernels::conv2d::reference(&p, y),
                }
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
                match k {
                    Kernels::Fast if simd.is_some_and(|t| t.dense(&p, y)) => {}
                    Kernels::Fast => kernels::dense::fast(&p, y),
                    Kernels::Reference => kernels::dense::reference(&p, y),
                }
            }
            OpKind::MaxPool2d { size } => {
                let p = PoolParams { input: x, in_shape: ti.shape, size, out_shape: to.shape };
                match k {
                    Kernels::Fast => kernels::maxpool::fast(&p, y),
                    Kernels::Reference => kernels::maxpool::reference(&p, y),
                }
            }
            OpKind::Concat => {
                let tb = op.b.map(|b| self.tensors[b]).unwrap_or(ti);
                let rq = Reader(&self.blob[op.requant..op.requant + 16]);
                let pair = |at| Requant {
                    m: rq.i32(at).unwrap_or(crate::requant::M_MIN),
                    n: rq.u32(at + 4).unwrap_or(crate::requant::N_MIN),
                };
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
                kernels::concat::run(&p, y);
            }
        }
    }
}

/// Splits the arena into the read-only input(s) and the writable output. The plan guarantees
/// the output overlaps neither input.
fn split_arena(
    arena: &mut [u8],
    a: core::ops::Range<usize>,
    b: Option<core::ops::Range<usize>>,
    out: core::ops::Range<usize>,
) -> (&[u8], Option<&[u8]>, &mut [u8]) {
    let (lo, rest) = arena.split_at_mut(out.start);
    let (y, hi) = rest.split_at_mut(out.end - out.start);
    let (lo, hi): (&[u8], &[u8]) = (lo, hi);
    let pick = |r: core::ops::Range<usize>| -> &[u8] {
        if r.end <= out.start { &lo[r] } else { &hi[r.start - out.end..r.end - out.end] }
    };
    (pick(a), b.map(pick), y)
}

fn validate_op(
    i: usize,
    rec: &OpRecord,
    tensors: &[TensorInfo],
    produced: &[bool; MAX_TENSORS],
    r: &Reader,
    data_start: usize,
    data_end: usize,
) -> Result<Op, Error> {
    let e = |p| op_err(i, p);
    let nt = tensors.len();
    if rec.reserved0 != 0 || rec.reserved1 != 0 || rec.flags & !blob::FLAG_RELU != 0 {
        return Err(e(OpProblem::BadFields));
    }
    let id = |v: u16| -> Result<usize, Error> {
        let v = v as usize;
        if v < nt { Ok(v) } else { Err(e(OpProblem::BadTensorId)) }
    };
    let a = id(rec.a)?;
    let out = id(rec.out)?;
    let b = if rec.kind == kind::CONCAT { Some(id(rec.b)?) } else { None };
    if rec.kind != kind::CONCAT && rec.b != blob::NO_TENSOR {
        return Err(e(OpProblem::BadFields));
    }
    if !produced[a] || b.is_some_and(|b| !produced[b]) {
        return Err(e(OpProblem::InputNotReady));
    }
    if produced[out] {
        return Err(e(OpProblem::OutputTwice));
    }
    let ti = tensors[a];
    let to = tensors[out];
    let relu = rec.flags & blob::FLAG_RELU != 0;
    let pad = rec.pad.map(|p| p as usize);
    let geometry_zero = rec.kernel == 0 && rec.stride == 0 && rec.pad == [0; 4] && rec.pool == 0;
    let section = |off: u32, len: usize| -> Result<usize, Error> {
        let off = off as usize;
        let end = off.checked_add(len).ok_or(e(OpProblem::BadSection))?;
        if !off.is_multiple_of(4) || off < data_start || end > data_end {
            return Err(e(OpProblem::BadSection));
        }
        Ok(off)
    };
    let check_requant = |off: usize, n: usize| -> Result<(), Error> {
        for k in 0..n {
            let m = r.i32(off + 8 * k).ok_or(e(OpProblem::BadSection))?;
            let s = r.u32(off + 8 * k + 4).ok_or(e(OpProblem::BadSection))?;
            if !(Requant { m, n: s }).is_valid() {
                return Err(e(OpProblem::BadRequant));
            }
        }
        Ok(())
    };
    // Weighted layers: sections, requant ranges, accumulator bound.
    let weighted = |fan_in: usize, out_c: usize| -> Result<(usize, usize, usize), Error> {
        let wlen = fan_in.checked_mul(out_c).ok_or(e(OpProblem::BadSection))?;
        let w = section(rec.weights, wlen)?;
        let bias = section(rec.bias, 4 * out_c)?;
        let rq = section(rec.requant, 8 * out_c)?;
        check_requant(rq, out_c)?;
        let mut max_bias: i64 = 0;
        for k in 0..out_c {
            let v = r.i32(bias + 4 * k).ok_or(e(OpProblem::BadSection))?;
            max_bias = max_bias.max((v as i64).abs());
        }
        if max_bias + fan_in as i64 * PRODUCT_BOUND > i32::MAX as i64 {
            return Err(e(OpProblem::AccumulatorOverflow));
        }
        Ok((w, bias, rq))
    };
    let op = match rec.kind {
        kind::CONV2D => {
            let k = rec.kernel as usize;
            let s = rec.stride as usize;
            let pool = if rec.pool == 0 { 1 } else { rec.pool as usize };
            if k == 0
                || !(1..=2).contains(&s)
                || pad.iter().any(|&p| p >= k)
                || !(1..=4).contains(&pool)
                || rec.pool == 1
            {
                return Err(e(OpProblem::BadGeometry));
            }
            let oh = window_out(ti.shape.h, pad[0] + pad[2], k, s).ok_or(e(OpProblem::BadGeometry))?;
            let ow = window_out(ti.shape.w, pad[1] + pad[3], k, s).ok_or(e(OpProblem::BadGeometry))?;
            if oh / pool == 0 || ow / pool == 0 {
                return Err(e(OpProblem::BadGeometry));
            }
            if to.shape.h != oh / pool || to.shape.w != ow / pool {
                return Err(e(OpProblem::ShapeMismatch));
            }
            let fan_in = k.checked_mul(k).and_then(|v| v.checked_mul(ti.shape.c)).ok_or(e(OpProblem::BadSection))?;
            let (weights, bias, requant) = weighted(fan_in, to.shape.c)?;
            Op { kind: OpKind::Conv2d { kernel: k, stride: s, pad, pool }, relu, a, b, out, weights, bias, requant }
        }
        kind::DENSE => {
            if !geometry_zero {
                return Err(e(OpProblem::BadFields));
            }
            if !to.shape.is_flat() {
                return Err(e(OpProblem::ShapeMismatch));
            }
            let (weights, bias, requant) = weighted(ti.shape.numel(), to.shape.c)?;
            Op { kind: OpKind::Dense, relu, a, b, out, weights, bias, requant }
        }
        kind::MAX_POOL2D => {
            let k = rec.kernel as usize;
            if relu || rec.pad != [0; 4] || rec.pool != 0 || rec.weights != 0 || rec.bias != 0 || rec.requant != 0 {
                return Err(e(OpProblem::BadFields));
            }
            if k < 2 || rec.stride != rec.kernel || ti.shape.h < k || ti.shape.w < k {
                return Err(e(OpProblem::BadGeometry));
            }
            let want = Shape { h: ti.shape.h / k, w: ti.shape.w / k, c: ti.shape.c };
            if to.shape != want || to.zero_point != ti.zero_point || to.scale.to_bits() != ti.scale.to_bits() {
                return Err(e(OpProblem::ShapeMismatch));
            }
            Op { kind: OpKind::MaxPool2d { size: k }, relu, a, b, out, weights: 0, bias: 0, requant: 0 }
        }
        kind::CONCAT => {
            if relu || !geometry_zero || rec.weights != 0 || rec.bias != 0 {
                return Err(e(OpProblem::BadFields));
            }
            let tb = tensors[b.unwrap_or(a)];
            if !to.shape.is_flat() || to.shape.c != ti.shape.numel() + tb.shape.numel() {
                return Err(e(OpProblem::ShapeMismatch));
            }
            let requant = section(rec.requant, 16)?;
            check_requant(requant, 2)?;
            Op { kind: OpKind::Concat, relu, a, b, out, weights: 0, bias: 0, requant }
        }
        other => return Err(e(OpProblem::UnknownKind(other))),
    };
    Ok(op)
}
