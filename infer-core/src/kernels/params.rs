//! What every kernel takes: the layer's read-only sections from the blob and its geometry, one
//! parameter struct per op, and the stack limits the kernels are written against.
//!
//! Activations are int8 stored as bytes (`b as i8`), HWC layout; convolution weights OHWI;
//! Dense weights `[out][in]` in the HWC order of their input.

use crate::graph::Shape;
use crate::requant::{Requant, RequantRow, Rounding};

/// Largest input patch (bytes) a kernel gathers or widens on the stack: 1 KiB for the
/// gathered bytes, and on the Cortex-M DSP path 2 KiB more for their widened form. Longer
/// patches are handled row by row, and longer dense inputs are widened in part.
pub const PATCH_MAX: usize = 1024;

/// Longest patch the portable `conv2d::channels_inner` takes (its transposed weights, 2 KiB,
/// are on the stack; the scratch sizes in `scratch.rs` count on it).
pub const CI_LEN_MAX: usize = 16;

/// The read-only data of a weighted layer, straight from the blob.
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    /// int8 weights.
    pub weights: &'a [u8],
    /// int32 biases, little-endian, one per output channel.
    pub bias: &'a [u8],
    /// `(m, n)` pairs, little-endian i32 each, one per output channel.
    pub requant: &'a [u8],
}

impl Sections<'_> {
    /// Bias of channel `c`.
    #[inline(always)]
    pub fn bias(&self, c: usize) -> i32 {
        let b = &self.bias[4 * c..4 * c + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Loads channels `c0..c0 + n` into `row`.
    #[inline(always)]
    pub(crate) fn load_row(&self, row: &mut RequantRow, c0: usize, n: usize) {
        row.load((c0..c0 + n).map(|c| (self.requant(c), self.bias(c))));
    }
    /// Requantization of channel `c`.
    #[inline(always)]
    pub fn requant(&self, c: usize) -> Requant {
        let b = &self.requant[8 * c..8 * c + 8];
        Requant {
            m: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            // `Model::parse` checked n ≤ 62, so its three upper bytes are zero.
            n: b[4] as u32,
        }
    }
}

/// Convolution parameters.
#[derive(Debug, Clone, Copy)]
pub struct ConvParams<'a> {
    /// Input activations, `in_shape`, HWC.
    pub input: &'a [u8],
    /// Input shape.
    pub in_shape: Shape,
    /// Input zero point.
    pub in_zp: i8,
    /// Weights (OHWI), biases, requantization.
    pub sections: Sections<'a>,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding top, left, bottom, right.
    pub pad: [usize; 4],
    /// Fused max-pool window (1 = none).
    pub pool: usize,
    /// Output shape (after the fused pool).
    pub out_shape: Shape,
    /// Output zero point.
    pub out_zp: i8,
    /// Fused ReLU.
    pub relu: bool,
    /// Tie rule of the requantization.
    pub rounding: Rounding,
}

impl ConvParams<'_> {
    /// Bytes of one receptive field: `kernel² · in_channels`.
    #[inline(always)]
    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.in_shape.c
    }
}

/// Dense parameters.
#[derive(Debug, Clone, Copy)]
pub struct DenseParams<'a> {
    /// Input activations (any shape, read flat).
    pub input: &'a [u8],
    /// Input zero point.
    pub in_zp: i8,
    /// Weights (`[out][in]`), biases, requantization.
    pub sections: Sections<'a>,
    /// Output zero point.
    pub out_zp: i8,
    /// Fused ReLU.
    pub relu: bool,
    /// Tie rule of the requantization.
    pub rounding: Rounding,
}

/// Max-pool parameters.
#[derive(Debug, Clone, Copy)]
pub struct PoolParams<'a> {
    /// Input activations.
    pub input: &'a [u8],
    /// Input shape.
    pub in_shape: Shape,
    /// Window side (= stride).
    pub size: usize,
    /// Output shape.
    pub out_shape: Shape,
}

/// Concat parameters.
#[derive(Debug, Clone, Copy)]
pub struct ConcatParams<'a> {
    /// First input (flat).
    pub a: &'a [u8],
    /// Its zero point.
    pub a_zp: i8,
    /// Its requantization to the output scale.
    pub a_requant: Requant,
    /// Second input (flat).
    pub b: &'a [u8],
    /// Its zero point.
    pub b_zp: i8,
    /// Its requantization to the output scale.
    pub b_requant: Requant,
    /// Output zero point.
    pub out_zp: i8,
    /// Tie rule of the requantization.
    pub rounding: Rounding,
}
