//! The kernels. One axis: portable kernels by op (`conv2d.rs`, `dense.rs`, `maxpool.rs`,
//! `concat.rs`: each a scalar `reference` and portable fast variants), ISA kernels by
//! instruction set (`arm/`, `x86/`, the only folders with `unsafe`, each audited), and one
//! chooser, [`select`], that picks a kernel by shape and CPU. What they share lives in support
//! files: the parameter types ([`params`]), the dot products (`dot.rs`), and the receptive
//! fields and the loop over output channels and pooled positions (`window.rs`), and the
//! kernels' scratch: how much each asks for and how it carves it (`scratch.rs`).
//!
//! Every fast kernel must agree with its reference bit for bit: the kernel contract
//! ([`crate::contract`], feature `contract`) generates the cases once, and they run on the
//! host for every x86 kernel set and on the Cortex-M4 (QEMU) for the DSP kernels.
//!
//! Activations are int8 stored as bytes (`b as i8`), HWC layout.

#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
mod arm;
pub mod concat;
pub mod conv2d;
pub mod dense;
mod dot;
pub mod maxpool;
pub mod params;
pub(crate) mod scratch;
pub mod select;
pub(crate) mod window;
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
pub(crate) mod x86;

pub use params::{ConcatParams, ConvParams, DenseParams, PATCH_MAX, PoolParams, Sections};
