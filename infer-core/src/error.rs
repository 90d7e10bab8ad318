//! Every way a blob, an input or an arena can be rejected.

use core::fmt;

/// Why an op record is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpProblem {
    /// Unknown op kind byte.
    UnknownKind(u8),
    /// Unknown flag bits, non-zero reserved fields, or fields that do not apply to the kind.
    BadFields,
    /// A tensor id out of range.
    BadTensorId,
    /// An input that is neither the model input nor produced by an earlier op.
    InputNotReady,
    /// The output tensor is the model input or was already produced.
    OutputTwice,
    /// Kernel, stride, padding or pool parameters out of range.
    BadGeometry,
    /// The output tensor's shape is not what the op produces from its input.
    ShapeMismatch,
    /// A data section out of bounds, misaligned, or of the wrong length.
    BadSection,
    /// A requantization pair out of range.
    BadRequant,
    /// The int32 accumulator could overflow for some input.
    AccumulatorOverflow,
}

/// An error from parsing a blob or running a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than a header and a CRC.
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// Not an infer-core blob.
    BadMagic,
    /// A version this reader does not know.
    UnsupportedVersion(u16),
    /// Header length field is wrong.
    BadHeader,
    /// `total_len` differs from the blob's length.
    LengthMismatch {
        /// From the header.
        declared: u32,
        /// Bytes given.
        actual: usize,
    },
    /// The CRC-32 does not match the content.
    CrcMismatch {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// More tensors than the capacity (or none).
    TensorCount(u16),
    /// More ops than the capacity (or none).
    OpCount(u16),
    /// A table is not at its documented offset or runs past the data.
    BadTable,
    /// A tensor record is invalid.
    BadTensor {
        /// Tensor id.
        index: u16,
    },
    /// An op record is invalid.
    BadOp {
        /// Op index.
        index: u16,
        /// What is wrong.
        problem: OpProblem,
    },
    /// The model input is not a single-channel image with zero point -128.
    BadInput,
    /// The model output is not produced, not flat, or larger than the output capacity.
    BadOutput,
    /// The arena the caller gave is too small.
    ArenaTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// The input has the wrong number of pixels.
    InputLength {
        /// Pixels expected.
        expected: usize,
        /// Pixels given.
        given: usize,
    },
}

impl fmt::Display for OpProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind(k) => write!(f, "unknown op kind {k}"),
            Self::BadFields => f.write_str("fields that do not apply are set"),
            Self::BadTensorId => f.write_str("tensor id out of range"),
            Self::InputNotReady => f.write_str("input is not produced before this op"),
            Self::OutputTwice => f.write_str("output tensor is produced twice"),
            Self::BadGeometry => f.write_str("kernel, stride, padding or pool out of range"),
            Self::ShapeMismatch => f.write_str("output shape does not follow from the input"),
            Self::BadSection => f.write_str("data section out of bounds, misaligned or of wrong length"),
            Self::BadRequant => f.write_str("requantization multiplier or shift out of range"),
            Self::AccumulatorOverflow => f.write_str("int32 accumulator could overflow"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "blob too short ({len} bytes)"),
            Self::BadMagic => f.write_str("not an infer-core model blob (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported blob version {v}"),
            Self::BadHeader => f.write_str("bad header length"),
            Self::LengthMismatch { declared, actual } => {
                write!(f, "blob declares {declared} bytes but has {actual}")
            }
            Self::CrcMismatch { stored, computed } => {
                write!(f, "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            Self::TensorCount(n) => write!(f, "tensor count {n} outside 1..={}", crate::graph::MAX_TENSORS),
            Self::OpCount(n) => write!(f, "op count {n} outside 1..={}", crate::graph::MAX_OPS),
            Self::BadTable => f.write_str("tensor or op table out of place"),
            Self::BadTensor { index } => write!(f, "tensor {index} is invalid"),
            Self::BadOp { index, problem } => write!(f, "op {index}: {problem}"),
            Self::BadInput => f.write_str("model input must be a 1-channel image with zero point -128"),
            Self::BadOutput => {
                write!(f, "model output must be produced, flat, and at most {} values", crate::output::MAX_OUTPUTS)
            }
            Self::ArenaTooSmall { needed, given } => {
                write!(f, "arena too small: {needed} bytes needed, {given} given")
            }
            Self::InputLength { expected, given } => {
                write!(f, "input has {given} pixels, model expects {expected}")
            }
        }
    }
}

impl core::error::Error for Error {}
