//! The validated graph a blob describes: shapes, tensors, ops, and the [`Model`] that holds
//! them, with the capacities of its fixed tables. [`Model::parse`] (in `parse.rs`) is the only
//! way to build one; the interpreter (`interpreter.rs`) runs it.

use heapless::Vec;

/// Most tensors a blob may declare.
pub const MAX_TENSORS: usize = 32;
/// Most ops a blob may declare.
pub const MAX_OPS: usize = 32;
/// Most elements of one tensor.
pub const MAX_NUMEL: usize = 1 << 20;

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

/// The kind of a validated op, with its geometry (bytes, as the blob stores them: the tables
/// of a [`Model`] stay small on a microcontroller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Convolution.
    Conv2d {
        /// Kernel side.
        kernel: u8,
        /// Stride.
        stride: u8,
        /// Padding top, left, bottom, right.
        pad: [u8; 4],
        /// Fused max-pool window (1 = none).
        pool: u8,
    },
    /// Fully connected.
    Dense,
    /// Max pooling with window = stride.
    MaxPool2d {
        /// Window side.
        size: u8,
    },
    /// Concatenation of inputs `a` then `b`.
    Concat,
}

/// A validated op: 36 bytes (tensor ids are below [`MAX_TENSORS`], offsets below 4 GiB, as
/// the blob's fields are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// Fused ReLU.
    pub relu: bool,
    /// First input tensor id.
    pub a: u8,
    /// Second input tensor id (Concat).
    pub b: Option<u8>,
    /// Output tensor id.
    pub out: u8,
    /// Offset of the weights section in the blob (Conv2d, Dense).
    pub weights: u32,
    /// Offset of the bias section in the blob (Conv2d, Dense).
    pub bias: u32,
    /// Offset of the requantization section in the blob (Conv2d, Dense, Concat).
    pub requant: u32,
    /// Byte offset in the arena of the op's kernel scratch (see [`Op::scratch_len`]).
    pub scratch: u32,
    /// Bytes of kernel scratch the op's kernels ask for (0 for none): planned into the arena
    /// for the op's duration, the same on every build.
    pub scratch_len: u32,
}

impl Op {
    /// First input tensor id, as an index.
    pub fn input(&self) -> usize {
        self.a as usize
    }
    /// Second input tensor id (Concat), as an index.
    pub fn second_input(&self) -> Option<usize> {
        self.b.map(usize::from)
    }
    /// Output tensor id, as an index.
    pub fn output(&self) -> usize {
        self.out as usize
    }
    /// The arena range of the op's scratch.
    pub fn scratch_range(&self) -> core::ops::Range<usize> {
        self.scratch as usize..self.scratch as usize + self.scratch_len as usize
    }
}

/// A parsed, validated model. Borrowing the blob: no weight is copied.
///
/// `OPS` and `TENSORS`: the capacities of its tables, [`MAX_OPS`] and [`MAX_TENSORS`] unless
/// [`Model::parse_sized`] is given smaller ones (a firmware that knows its model's counts at
/// build time keeps only those: cnn-baseline's 4 ops and 5 tensors take 292 bytes on a
/// Cortex-M4 instead of 1,948).
#[derive(Debug, Clone)]
pub struct Model<'a, const OPS: usize = MAX_OPS, const TENSORS: usize = MAX_TENSORS> {
    pub(crate) blob: &'a [u8],
    pub(crate) tensors: Vec<TensorInfo, TENSORS>,
    pub(crate) ops: Vec<Op, OPS>,
    pub(crate) input: usize,
    pub(crate) output: usize,
    pub(crate) arena_len: usize,
}

/// The ops at which tensor `t` is live, first and last: from the op that writes it (the model
/// input: 0) to the last op that reads it (the model output: to the end, `usize::MAX`; a
/// tensor never read: the op that wrote it).
pub(crate) fn lifetime(ops: &[Op], t: usize, input: usize, output: usize) -> (usize, usize) {
    let first = if t == input { 0 } else { ops.iter().position(|o| o.output() == t).unwrap_or(0) };
    let read = ops.iter().rposition(|o| o.input() == t || o.second_input() == Some(t));
    let last = if t == output { usize::MAX } else { read.unwrap_or(first).max(first) };
    (first, last)
}

/// Output side of a window sliding over `size` padded by `pad_sum`: `None` if it does not fit.
pub(crate) fn window_out(size: usize, pad_sum: usize, kernel: usize, stride: usize) -> Option<usize> {
    (size + pad_sum).checked_sub(kernel).map(|d| d / stride + 1)
}

impl<const OPS: usize, const TENSORS: usize> Model<'_, OPS, TENSORS> {
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
        let i = self.tensors[op.input()].shape;
        let o = self.tensors[op.output()].shape;
        match op.kind {
            OpKind::Conv2d { kernel, stride, pad, .. } => {
                let (kernel, stride) = (kernel as usize, stride as usize);
                let pad = pad.map(usize::from);
                let oh = window_out(i.h, pad[0] + pad[2], kernel, stride).unwrap_or(0);
                let ow = window_out(i.w, pad[1] + pad[3], kernel, stride).unwrap_or(0);
                [ow, o.c, kernel, kernel, i.c].iter().fold(oh, |acc, &v| acc.saturating_mul(v))
            }
            OpKind::Dense => i.numel().saturating_mul(o.c),
            _ => 0,
        }
    }

    /// Arena bytes live while op `index` runs: every tensor produced by then and read by it or
    /// later (its inputs, its output, the skips kept for later ops; the model input from the
    /// start, the output to the end) and the op's kernel scratch. The arena is at least the
    /// largest of these; 0 past the last op.
    pub fn op_live_bytes(&self, index: usize) -> usize {
        let Some(op) = self.ops.get(index) else { return 0 };
        let live = |t: usize| {
            let (first, last) = lifetime(&self.ops, t, self.input, self.output);
            first <= index && index <= last
        };
        let tensors: usize =
            self.tensors.iter().enumerate().filter(|&(t, _)| live(t)).map(|(_, info)| info.shape.numel()).sum();
        tensors + op.scratch_len as usize
    }

    /// Weight bytes (int8 weights + int32 biases + requantization pairs).
    pub fn weight_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| {
                let i = self.tensors[op.input()].shape;
                let o = self.tensors[op.output()].shape;
                match op.kind {
                    OpKind::Conv2d { kernel, .. } => o.c * kernel as usize * kernel as usize * i.c + 12 * o.c,
                    OpKind::Dense => o.c * i.numel() + 12 * o.c,
                    // (Both products were bounded by parse: they are section lengths.)
                    OpKind::Concat => 16,
                    OpKind::MaxPool2d { .. } => 0,
                }
            })
            .sum()
    }
}
