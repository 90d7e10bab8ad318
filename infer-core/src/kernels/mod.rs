//! The kernels, one file each. Every kernel has a plain scalar `reference` and (where it pays)
//! a `fast` version; the fast ones are proptested against the references and must agree bit
//! for bit. Activations are int8 stored as bytes (`b as i8`), HWC layout.

#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
mod avx2;
pub mod concat;
pub mod conv2d;
#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
mod conv9_dsp;
#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
mod conv_pool4_dsp;
pub mod dense;
#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
mod dsp;
pub mod maxpool;
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
mod vnni;

use crate::model::Shape;
use crate::requant::{Requant, RequantRow, Rounding};

#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
pub(crate) use avx2::Avx2;

/// Stand-in for the AVX2 token where there is none (no value exists, so the kernels that take
/// an `Option<Avx2>` always get `None`).
#[cfg(not(all(feature = "x86-dispatch", target_arch = "x86_64")))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Avx2 {}

#[cfg(not(all(feature = "x86-dispatch", target_arch = "x86_64")))]
impl Avx2 {
    pub(crate) fn conv(self, _: &ConvParams, _: &mut [u8]) -> bool {
        match self {}
    }
    pub(crate) fn dense(self, _: &DenseParams, _: &mut [u8]) -> bool {
        match self {}
    }
}

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

/// `Σ (x − zp) · w` over two equally long byte slices holding int8 values, written so that
/// LLVM vectorizes it (i32 lanes; no bounds checks in the loop).
///
/// `x − zp` and `w` both fit in i16, so the products are written as i16 × i16 → i32, the shape
/// x86's `pmaddwd` (SSE2) implements.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[inline(always)]
pub(crate) fn dot_centered(x: &[u8], w: &[u8], zp: i32) -> i32 {
    let zp = zp as i16;
    x.iter().zip(w).map(|(&x, &w)| ((x as i8 as i16 - zp) as i32) * ((w as i8 as i16) as i32)).sum()
}

/// `Σ x · w` for an already centered i16 input.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[inline(always)]
fn dot_i16(x: &[i16], w: &[u8]) -> i32 {
    x.iter().zip(w).map(|(&x, &w)| (x as i32) * ((w as i8 as i16) as i32)).sum()
}

/// Two channels at once: `(Σ (x − zp) · w0, Σ (x − zp) · w1)`. On the DSP path the widening
/// of `x` is shared by both channels.
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[inline(always)]
pub(crate) fn dot2_centered(x: &[u8], w0: &[u8], w1: &[u8], zp: i32) -> (i32, i32) {
    (dot_centered(x, w0, zp), dot_centered(x, w1, zp))
}

/// Largest input patch (bytes) a kernel gathers or widens on the stack: 1 KiB for the
/// gathered bytes, and on the Cortex-M DSP path 2 KiB more for their widened form.
pub const PATCH_MAX: usize = 1024;

/// An input patch prepared once and dotted with many weight rows (portable: its first
/// [`PATCH_MAX`] values centered into i16, 2 KiB of stack; the rest is centered on the fly).
#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
pub(crate) struct Widened {
    centered: [i16; PATCH_MAX],
    len: usize,
    zp: i32,
}

#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
impl Widened {
    #[inline(always)]
    pub(crate) fn new(zp: i32) -> Self {
        Self { centered: [0; PATCH_MAX], len: 0, zp }
    }
    #[inline(always)]
    pub(crate) fn load(&mut self, x: &[u8]) {
        self.len = x.len().min(PATCH_MAX);
        let zp = self.zp as i16;
        for (c, &v) in self.centered.iter_mut().zip(&x[..self.len]) {
            *c = v as i8 as i16 - zp;
        }
    }
    /// `Σ (x − zp) · w`.
    #[inline(always)]
    pub(crate) fn dot(&self, x: &[u8], w: &[u8]) -> i32 {
        let n = self.len.min(w.len());
        dot_i16(&self.centered[..n], &w[..n])
            + dot_centered(x.get(n..).unwrap_or(&[]), w.get(n..).unwrap_or(&[]), self.zp)
    }
    /// Two weight rows at once.
    #[inline(always)]
    pub(crate) fn dot2(&self, x: &[u8], w0: &[u8], w1: &[u8]) -> (i32, i32) {
        (self.dot(x, w0), self.dot(x, w1))
    }
    /// Two rows of a length known at compile time (loaded with `x`).
    #[inline(always)]
    pub(crate) fn dot2_fixed<const L: usize>(&self, x: &[u8; L], w0: &[u8; L], w1: &[u8; L]) -> (i32, i32) {
        match self.centered.get(..L) {
            Some(c) if self.len == L => (dot_i16(c, w0), dot_i16(c, w1)),
            _ => self.dot2(x, w0, w1),
        }
    }
}

#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
pub(crate) use dsp::{Widened, dot_centered, dot2_centered};
