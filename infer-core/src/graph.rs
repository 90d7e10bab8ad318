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
    pub(crate) blob: &'a [u8],
    pub(crate) tensors: Vec<TensorInfo, MAX_TENSORS>,
    pub(crate) ops: Vec<Op, MAX_OPS>,
    pub(crate) input: usize,
    pub(crate) output: usize,
    pub(crate) arena_len: usize,
}

/// Output side of a window sliding over `size` padded by `pad_sum`: `None` if it does not fit.
pub(crate) fn window_out(size: usize, pad_sum: usize, kernel: usize, stride: usize) -> Option<usize> {
    (size + pad_sum).checked_sub(kernel).map(|d| d / stride + 1)
}

impl Model<'_> {
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
}
