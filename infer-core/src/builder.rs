//! Host side (feature `builder`, needs `alloc`): writes blobs in the format of docs/FORMAT.md.
//!
//! The builder writes what it is told and checks nothing: [`crate::Model::parse`] is the one
//! validator, so tests can also build malformed blobs with it.

use alloc::vec::Vec;

use crate::blob::{self, HEADER_LEN, OP_RECORD, TENSOR_RECORD, kind};
use crate::graph::Shape;
use crate::requant::Requant;

/// A tensor to declare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorSpec {
    /// Shape (HWC; flat = 1 × 1 × n).
    pub shape: Shape,
    /// Zero point.
    pub zero_point: i8,
    /// Scale.
    pub scale: f32,
}

#[derive(Debug, Clone, Copy, Default)]
struct OpSpec {
    kind: u8,
    flags: u8,
    kernel: u8,
    stride: u8,
    pad: [u8; 4],
    a: u16,
    b: u16,
    out: u16,
    pool: u8,
    // Offsets relative to the start of the data area; `u32::MAX` = none (written as 0).
    weights: u32,
    bias: u32,
    requant: u32,
}

/// Assembles a blob.
#[derive(Debug, Clone, Default)]
pub struct BlobBuilder {
    tensors: Vec<TensorSpec>,
    ops: Vec<OpSpec>,
    data: Vec<u8>,
}

const NONE: u32 = u32::MAX;

impl BlobBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a tensor; returns its id.
    pub fn tensor(&mut self, shape: Shape, zero_point: i8, scale: f32) -> u16 {
        self.tensors.push(TensorSpec { shape, zero_point, scale });
        (self.tensors.len() - 1) as u16
    }

    fn section(&mut self, bytes: impl IntoIterator<Item = u8>) -> u32 {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
        let at = self.data.len() as u32;
        self.data.extend(bytes);
        at
    }

    fn weighted(&mut self, weights: &[i8], bias: &[i32], requant: &[Requant]) -> (u32, u32, u32) {
        let w = self.section(weights.iter().map(|&v| v as u8));
        let b = self.section(bias.iter().flat_map(|v| v.to_le_bytes()));
        let r = self.section(requant.iter().flat_map(|q| {
            let mut pair = [0u8; 8];
            pair[..4].copy_from_slice(&q.m.to_le_bytes());
            pair[4..].copy_from_slice(&q.n.to_le_bytes());
            pair
        }));
        (w, b, r)
    }

    /// Adds a Conv2d: OHWI `weights`, one bias and requantization per output channel.
    /// `pool` is the fused max-pool window (0 = none).
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        &mut self,
        input: u16,
        output: u16,
        kernel: u8,
        stride: u8,
        pad: [u8; 4],
        pool: u8,
        relu: bool,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
    ) {
        let (weights, bias, requant) = self.weighted(weights, bias, requant);
        self.ops.push(OpSpec {
            kind: kind::CONV2D,
            flags: relu as u8,
            kernel,
            stride,
            pad,
            a: input,
            b: blob::NO_TENSOR,
            out: output,
            pool,
            weights,
            bias,
            requant,
        });
    }

    /// Adds a Dense layer: `[out][in]` weights.
    pub fn dense(&mut self, input: u16, output: u16, relu: bool, weights: &[i8], bias: &[i32], requant: &[Requant]) {
        let (weights, bias, requant) = self.weighted(weights, bias, requant);
        self.ops.push(OpSpec {
            kind: kind::DENSE,
            flags: relu as u8,
            a: input,
            b: blob::NO_TENSOR,
            out: output,
            weights,
            bias,
            requant,
            ..Default::default()
        });
    }

    /// Adds a max pool with window = stride = `size`.
    pub fn max_pool(&mut self, input: u16, output: u16, size: u8) {
        self.ops.push(OpSpec {
            kind: kind::MAX_POOL2D,
            kernel: size,
            stride: size,
            a: input,
            b: blob::NO_TENSOR,
            out: output,
            weights: NONE,
            bias: NONE,
            requant: NONE,
            ..Default::default()
        });
    }

    /// Adds a concat of `a` then `b`, each requantized to the output.
    pub fn concat(&mut self, a: u16, b: u16, output: u16, ra: Requant, rb: Requant) {
        let requant = self.section([ra, rb].iter().flat_map(|q| {
            let mut pair = [0u8; 8];
            pair[..4].copy_from_slice(&q.m.to_le_bytes());
            pair[4..].copy_from_slice(&q.n.to_le_bytes());
            pair
        }));
        self.ops.push(OpSpec {
            kind: kind::CONCAT,
            a,
            b,
            out: output,
            weights: NONE,
            bias: NONE,
            requant,
            ..Default::default()
        });
    }

    /// Writes the blob with the given input and output tensors.
    pub fn finish(&self, input: u16, output: u16) -> Vec<u8> {
        let nt = self.tensors.len();
        let no = self.ops.len();
        let op_table = HEADER_LEN + nt * TENSOR_RECORD;
        let data_start = op_table + no * OP_RECORD;
        let total = data_start + self.data.len().div_ceil(4) * 4 + blob::CRC_LEN;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&blob::MAGIC);
        out.extend_from_slice(&blob::VERSION.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(nt as u16).to_le_bytes());
        out.extend_from_slice(&(no as u16).to_le_bytes());
        out.extend_from_slice(&input.to_le_bytes());
        out.extend_from_slice(&output.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        out.extend_from_slice(&(op_table as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for t in &self.tensors {
            out.extend_from_slice(&(t.shape.h as u16).to_le_bytes());
            out.extend_from_slice(&(t.shape.w as u16).to_le_bytes());
            out.extend_from_slice(&(t.shape.c as u16).to_le_bytes());
            out.push(t.zero_point as u8);
            out.push(0);
            out.extend_from_slice(&t.scale.to_bits().to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        let abs = |rel: u32| if rel == NONE { 0 } else { rel + data_start as u32 };
        for o in &self.ops {
            out.extend_from_slice(&[o.kind, o.flags, o.kernel, o.stride]);
            out.extend_from_slice(&o.pad);
            out.extend_from_slice(&o.a.to_le_bytes());
            out.extend_from_slice(&o.b.to_le_bytes());
            out.extend_from_slice(&o.out.to_le_bytes());
            out.extend_from_slice(&[o.pool, 0]);
            out.extend_from_slice(&abs(o.weights).to_le_bytes());
            out.extend_from_slice(&abs(o.bias).to_le_bytes());
            out.extend_from_slice(&abs(o.requant).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        while out.len() < total - blob::CRC_LEN {
            out.push(0);
        }
        let crc = crate::crc32::crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Recomputes the CRC trailer of a blob in place (for tests that mutate blobs and want to
/// reach the checks behind the CRC).
pub fn reseal(blob: &mut [u8]) {
    if blob.len() >= blob::CRC_LEN {
        let body = blob.len() - blob::CRC_LEN;
        let crc = crate::crc32::crc32(&blob[..body]);
        blob[body..].copy_from_slice(&crc.to_le_bytes());
    }
}
