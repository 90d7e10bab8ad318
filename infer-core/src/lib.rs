//! # infer-core
//!
//! `no_std`, allocation-free, integer-only inference for small int8 MLPs and CNNs, from a
//! compact, versioned, CRC-checked model blob.
//!
//! ```
//! # static BLOB: &[u8] =
//! #     include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../onnx-models/artifacts/cnn-baseline.ic8"));
//! # fn main() -> Result<(), infer_core::Error> {
//! // static BLOB: &[u8] = include_bytes!("cnn-baseline.ic8");
//! let model = infer_core::Model::parse(BLOB)?; // validates everything once
//! let mut arena = [0u8; 16 * 1024]; // at least model.arena_len() bytes
//! let pixels = [0u8; 784]; // a 28x28 image, raw pixels 0..=255
//! let out = model.run(&pixels, &mut arena)?;
//! let class = out.argmax();
//! assert!(class < model.num_outputs());
//! # Ok(())
//! # }
//! ```
//!
//! - The arithmetic is specified in `docs/QUANTIZATION.md`: per-channel int8 weights, int32
//!   biases, int8 activations with zero points, a 31-bit fixed-point requantization with one
//!   round-half-to-even step. No float runs in any kernel, so results are bit-identical on
//!   every target.
//! - The blob format is specified in `docs/FORMAT.md`. [`Model::parse`] checks every field,
//!   offset, length, shape, requantization range and accumulator bound, and returns a typed
//!   [`Error`]; no blob can make the interpreter panic or overflow.
//! - Memory: the caller supplies the arena (`&mut [u8]` of [`Model::arena_len`] bytes): every
//!   activation over its lifetime, and every op's kernel scratch while the op runs (the
//!   kernels' working memory: gathered patches, widened inputs and weights, sized per layer as
//!   CMSIS-NN's `*_get_buffer_size` functions size theirs, the same bytes on every build; see
//!   [`Op::scratch_len`] and [`kernels::select::conv2d_scratch_len`]). Besides it, [`Model`]
//!   holds fixed-capacity tables ([`MAX_OPS`] ops and [`MAX_TENSORS`] tensors: 1,948 bytes on
//!   32-bit targets, 2,488 on 64-bit hosts), filled in place by `Model::parse`; a firmware that
//!   knows its model's counts at build time sizes them exactly with [`Model::parse_sized`]
//!   (cnn-baseline: 292 bytes).
//! - Stack: on the Cortex-M4 (thumbv7em, release with LTO, `opt-level` 3 or `"s"`)
//!   `Model::parse` and `Model::run` take at most 2.25 KiB below their caller's frame (the
//!   published models: 1.3 to 2.1 KiB) — the firmware example measures it for every published
//!   model and fails above that bound. What they hold: during a convolution the
//!   window loop's pool maxima and requantization row (0.8 KiB), during parse the arena plan's
//!   table (0.8 KiB), and call frames. The x86 kernels keep their buffers (4 to 64 KiB) on the
//!   stack; they run on hosts only.
//! - [`Model::run`] takes the fastest path the build allows; [`Model::run_with`] takes
//!   [`RunOptions`] (the reference kernels, the fast kernels without run-time dispatch, another
//!   tie rule, an observer of each op's output).
//! - Layout ([`kernels`]): portable kernels by op, each a scalar `reference` and fast variants;
//!   ISA kernels in `kernels/arm/` (feature `cortex-m-dsp`: SXTB16/SMLAD) and `kernels/x86/`
//!   (feature `x86-dispatch`: AVX2 and AVX-512 VNNI, chosen at run time); one chooser,
//!   [`kernels::select`], by shape and CPU.
//!
//! ## `unsafe`
//!
//! Forbidden in the crate unless feature `cortex-m-dsp` or `x86-dispatch` is on; then denied
//! everywhere except the files that opt in with `#![allow(unsafe_code)]`, all under
//! `kernels/arm/` (`dsp.rs`: inline assembly) and `kernels/x86/` (`mod.rs`: calls of
//! `#[target_feature]` functions behind a CPU-detection token; `avx2.rs`, `vnni.rs`,
//! `support.rs`: unaligned loads and stores of the arrays they are given). Each such file
//! starts with its audit, and a test checks that no other file uses `unsafe`.

#![cfg_attr(not(test), no_std)]
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
#[cfg(any(test, feature = "contract"))]
pub mod contract;
pub mod crc32;
mod error;
mod graph;
mod interpreter;
pub mod kernels;
mod output;
mod parse;
mod plan;
pub mod requant;

pub use blob::{MAGIC, VERSION};
pub use error::{Error, OpProblem};
pub use graph::{MAX_NUMEL, MAX_OPS, MAX_TENSORS, Model, Op, OpKind, Shape, TensorInfo};
pub use interpreter::{Isa, Kernels, NoObserver, Observer, RunOptions};
pub use output::{MAX_OUTPUTS, Output};
pub use parse::PRODUCT_BOUND;

#[cfg(test)]
mod tests;
