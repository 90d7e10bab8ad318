//! # infer-core
//!
//! `no_std`, allocation-free, integer-only inference for small int8 MLPs and CNNs, from a
//! compact, versioned, CRC-checked model blob.
//!
//! ```text
//! static BLOB: &[u8] = include_bytes!("cnn-baseline.ic8");
//! let model = infer_core::Model::parse(BLOB)?;          // validates everything once
//! let mut arena = [0u8; 32 * 1024];                     // >= model.arena_len()
//! let out = model.run(&pixels, &mut arena)?;            // 784 raw pixels, 0..=255
//! let class = out.argmax();
//! ```
//!
//! - The arithmetic is specified in `docs/QUANTIZATION.md`: per-channel int8 weights, int32
//!   biases, int8 activations with zero points, a 31-bit fixed-point requantization with one
//!   round-half-to-even step. No float runs in any kernel, so results are bit-identical on
//!   every target.
//! - The blob format is specified in `docs/FORMAT.md`. [`Model::parse`] checks every field,
//!   offset, length, shape, requantization range and accumulator bound, and returns a typed
//!   [`Error`]; no blob can make the interpreter panic or overflow.
//! - Memory: the caller supplies the arena (`&mut [u8]` of [`Model::arena_len`] bytes). Besides
//!   it, [`Model`] holds fixed-capacity tables (32 ops and 32 tensors: 5.4 KB on 64-bit hosts,
//!   about 2.8 KB on 32-bit targets), which `Model::parse` builds on the stack and returns by
//!   value. The kernels use a fixed stack: a convolution gathers its receptive field in a
//!   1 KiB buffer (patches of at most [`kernels::PATCH_MAX`] bytes), and the `cortex-m-dsp`
//!   path widens it (or a dense layer's input) into 2 KiB more; per-channel constants and pool
//!   maxima of up to 64 channels take 1.5 KiB; on 64-bit hosts the four-position pool path
//!   holds 4 KiB of centered patches. The firmware example measures a 14.3 KB stack
//!   high-water mark in total.
//! - One file per kernel under [`kernels`]; each has a scalar `reference` and a `fast` version
//!   proptested against it.
//! - Feature `cortex-m-dsp` (ARMv7E-M targets only) switches the dot products to SXTB16/SMLAD
//!   inline assembly, the crate's one audited use of `unsafe` (`kernels/dsp.rs`); without it the
//!   crate is `#![forbid(unsafe_code)]`.
//! - Feature `x86-dispatch` (std hosts) adds [`Model::run_dispatched`]: the same kernels compiled
//!   for AVX2 and chosen at run time, bit-identical to [`Model::run`] (`dispatch.rs`, the other
//!   audited `unsafe`).

#![cfg_attr(not(test), no_std)]
// No `unsafe` at all, except with feature `cortex-m-dsp` (only in the audited `kernels/dsp.rs`:
// register-only DSP instructions) or `x86-dispatch` (only in the audited `dispatch.rs`: one
// call of an AVX2-compiled function after checking that the CPU has AVX2).
#![cfg_attr(not(any(feature = "cortex-m-dsp", feature = "x86-dispatch")), forbid(unsafe_code))]
#![cfg_attr(any(feature = "cortex-m-dsp", feature = "x86-dispatch"), deny(unsafe_code))]
#![deny(missing_docs)]
// No panicking shortcuts outside tests: every failure a blob or an input can cause is an `Error`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::unreachable))]

#[cfg(any(test, feature = "builder"))]
extern crate alloc;
#[cfg(feature = "x86-dispatch")]
extern crate std;

mod blob;
#[cfg(any(test, feature = "builder"))]
pub mod builder;
pub mod crc32;
#[cfg(feature = "x86-dispatch")]
mod dispatch;
mod error;
pub mod kernels;
mod model;
mod output;
mod plan;
pub mod requant;

pub use blob::{MAGIC, VERSION};
pub use error::{Error, OpProblem};
pub use model::{Kernels, Model, Op, OpKind, Shape, TensorInfo};
pub use output::Output;

/// Most tensors a blob may declare.
pub const MAX_TENSORS: usize = 32;
/// Most ops a blob may declare.
pub const MAX_OPS: usize = 32;
/// Most output values (classes).
pub const MAX_OUTPUTS: usize = 64;
/// Most elements of one tensor.
pub const MAX_NUMEL: usize = 1 << 20;
/// Largest magnitude of one product `(x − zp) · w`: `255 · 128`.
pub const PRODUCT_BOUND: i64 = 255 * 128;

#[cfg(test)]
mod tests;
