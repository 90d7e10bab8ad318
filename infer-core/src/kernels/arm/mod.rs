//! Cortex-M kernels for ARMv7E-M cores with the DSP extension (Cortex-M4/M7/M33; feature
//! `cortex-m-dsp`, `target_arch = "arm"`). [`super::select`] decides when they run.
//!
//! | file | what | contract | scratch (in the arena) |
//! |---|---|---|---|
//! | `dsp.rs` | SXTB16/SSUB16/SMLAD/SMUAD, the dot products and [`dsp::Widened`] the portable kernels run on, two hand-scheduled `SMLAD` loops | any lengths | `Widened`: `2 · len` bytes, up to 2 KiB |
//! | `conv9.rs` | convolution with nine-byte patches (3x3x1, 1x1x9), pool 1 or 2 | [`conv9::takes`] | widened weights: 20 bytes a channel, up to 1.3 KiB |
//! | `conv_pool4.rs` | convolution + 2x2 max pool, the window's four positions sharing each weight load | [`conv_pool4::takes`] | one patch and the four positions' widened words: `9 · len` bytes, up to 5.1 KiB |
//!
//! The `unsafe` (inline assembly) is in `dsp.rs` only, audited there.

pub(crate) mod conv9;
pub(crate) mod conv_pool4;
pub(crate) mod dsp;
