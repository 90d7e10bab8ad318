//! [`Model::parse`]: every check of docs/FORMAT.md, done once, so that no blob can make the
//! interpreter panic, read out of bounds or overflow an accumulator.

use heapless::Vec;

use crate::blob::{self, HEADER_LEN, OP_RECORD, OpRecord, Reader, TENSOR_RECORD, TensorRecord, kind};
use crate::error::{Error, OpProblem};
use crate::graph::{MAX_NUMEL, MAX_OPS, MAX_TENSORS, Model, Op, OpKind, Shape, TensorInfo, window_out};
use crate::kernels::scratch;
use crate::output::MAX_OUTPUTS;
use crate::plan;
use crate::requant::Requant;

/// Largest magnitude of one product `(x − zp) · w`: `255 · 128`. `parse` rejects a layer whose
/// bias plus `fan_in` such products could leave the i32 range.
pub const PRODUCT_BOUND: i64 = 255 * 128;

fn op_err(index: usize, problem: OpProblem) -> Error {
    Error::BadOp { index: index as u16, problem }
}

impl<'a> Model<'a> {
    /// Validates a blob (see docs/FORMAT.md for every check) and plans its arena, with tables
    /// for up to [`MAX_OPS`] ops and [`MAX_TENSORS`] tensors (1,948 bytes on a Cortex-M4).
    ///
    /// The tables are filled in place by a function of its own: the caller's `Model` is the
    /// only copy of them, and parse's work takes its own, shorter stack frame.
    #[inline(always)]
    pub fn parse(blob: &'a [u8]) -> Result<Self, Error> {
        Self::parse_sized(blob)
    }
}

impl<'a, const OPS: usize, const TENSORS: usize> Model<'a, OPS, TENSORS> {
    /// [`Model::parse`] with tables for at most `OPS` ops and `TENSORS` tensors (at most
    /// [`MAX_OPS`] and [`MAX_TENSORS`], checked at compile time): `Model::<4, 5>::parse_sized`
    /// for a blob of 4 ops and 5 tensors. A blob with more is [`Error::OpCount`] or
    /// [`Error::TensorCount`].
    #[inline(always)]
    pub fn parse_sized(blob: &'a [u8]) -> Result<Self, Error> {
        const { assert!(OPS <= MAX_OPS && TENSORS <= MAX_TENSORS, "table capacities above MAX_OPS or MAX_TENSORS") };
        let mut model = Model { blob, tensors: Vec::new(), ops: Vec::new(), input: 0, output: 0, arena_len: 0 };
        model.fill()?;
        Ok(model)
    }

    /// What [`Model::parse`] does, into `self` (whose `blob` is set and tables are empty).
    #[inline(never)]
    fn fill(&mut self) -> Result<(), Error> {
        let blob = self.blob;
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

        let input = h.input as usize;
        let output = h.output as usize;
        (self.input, self.output) = (input, output);
        let tensors = &mut self.tensors;
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
        let inp = tensors.get(input).ok_or(Error::BadInput)?;
        if inp.shape.c != 1 || inp.zero_point != -128 {
            return Err(Error::BadInput);
        }

        let mut produced = [false; MAX_TENSORS];
        produced[input] = true;
        let ops = &mut self.ops;
        for i in 0..no {
            let rec = OpRecord::read(&r, op_table + i * OP_RECORD).ok_or(Error::BadTable)?;
            let op = validate_op(i, &rec, tensors, &produced, &r, data_start, body)?;
            produced[op.output()] = true;
            ops.push(op).map_err(|_| Error::OpCount(h.n_ops))?;
        }
        if let Some(t) = (0..nt).find(|&t| !produced[t]) {
            return Err(Error::BadTensor { index: t as u16 });
        }
        match tensors.get(output) {
            Some(t) if output != input && t.shape.is_flat() && t.shape.c <= MAX_OUTPUTS => {}
            _ => return Err(Error::BadOutput),
        }
        self.arena_len = plan::assign(tensors, ops, input, output);
        Ok(())
    }
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
    // Tensor ids are below MAX_TENSORS and section offsets came from the blob's u32 fields;
    // a scratch is at most `scratch::MAX` bytes.
    let op = |kind, weights: usize, bias: usize, requant: usize, scratch_len: usize| Op {
        kind,
        relu,
        a: a as u8,
        b: b.map(|b| b as u8),
        out: out as u8,
        weights: weights as u32,
        bias: bias as u32,
        requant: requant as u32,
        scratch: 0,
        scratch_len: scratch_len as u32,
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
            let scratch_len = scratch::conv2d_len(fan_in, pool, to.shape.c);
            let kind = OpKind::Conv2d { kernel: rec.kernel, stride: rec.stride, pad: rec.pad, pool: pool as u8 };
            op(kind, weights, bias, requant, scratch_len)
        }
        kind::DENSE => {
            if !geometry_zero {
                return Err(e(OpProblem::BadFields));
            }
            if !to.shape.is_flat() {
                return Err(e(OpProblem::ShapeMismatch));
            }
            let (weights, bias, requant) = weighted(ti.shape.numel(), to.shape.c)?;
            let scratch_len = scratch::dense_len(ti.shape.numel());
            op(OpKind::Dense, weights, bias, requant, scratch_len)
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
            op(OpKind::MaxPool2d { size: rec.kernel }, 0, 0, 0, 0)
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
            op(OpKind::Concat, 0, 0, requant, 0)
        }
        other => return Err(e(OpProblem::UnknownKind(other))),
    };
    Ok(op)
}
