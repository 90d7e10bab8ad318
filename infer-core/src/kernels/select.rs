//! The one place that chooses a kernel: by op, by shape (each kernel's contract, its `takes`
//! function next to it) and by CPU, as CMSIS-NN's `arm_convolve_wrapper_s8` chooses by shape
//! and tract's `plug` by CPU. The interpreter calls only these functions.
//!
//! Convolutions, in order of preference (the first whose contract holds):
//!
//! | build / CPU | kernel | when |
//! |---|---|---|
//! | `x86-dispatch`, AVX-512 VNNI + VL | `x86/vnni.rs` `conv4` | no pool or 2x2 pool, patch of whole 32-byte chunks ≤ 1 KiB, input ≤ 32 Ki values |
//! | `x86-dispatch`, x86-64-v3 | `x86/avx2.rs` `conv_pool4` | 2x2 pool, patch ≤ 1 KiB, input ≤ 32 Ki values |
//! | `cortex-m-dsp` | `arm/conv9.rs` | nine-byte patches, pool 1 or 2 |
//! | `cortex-m-dsp` | `arm/conv_pool4.rs` | 2x2 pool, patch of 4 to 576 bytes |
//! | not `cortex-m-dsp` | `conv2d::channels_inner` | patch ≤ 16 bytes |
//! | 64-bit targets | `conv2d::pool_window4` | 2x2 pool, patch ≤ 512 bytes |
//! | any | `conv2d::small_patch` | patch ≤ 1 KiB (nine-byte patches unrolled, but on `cortex-m-dsp`) |
//! | any | `conv2d::row_spans` | any |
//!
//! Each kernel that needs working memory takes it from the layer's scratch (planned into the
//! arena; [`conv2d_scratch_len`], [`dense_scratch_len`]) and its contract includes having
//! enough of it, so a caller that gives less gets the next kernel in the table, with the same
//! result.
//!
//! On the Cortex-M the chooser and the larger kernels (`conv9`, `small_patch`, `row_spans`)
//! are functions of their own: inlined into one another, their frames added up and the 3x3
//! kernels compiled worse. Flash, stack and instructions per model are in
//! docs/DEVICE.md.
//!
//! Dense layers: `x86/vnni.rs` `dense` with AVX-512 VNNI + VL and an input of at least 32
//! values, `x86/avx2.rs` `dense` on x86-64-v3, else `dense::fast` (SMLAD loops on the
//! Cortex-M DSP path). Max pooling: `maxpool::fast`.

#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
use super::arm::{conv_pool4, conv9};
use super::params::{ConvParams, DenseParams, PATCH_MAX, PoolParams};
use super::scratch;
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
use super::x86::{self, X86};
use super::{conv2d, dense, maxpool};

/// Which kernels a run may use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Choice {
    /// The plain scalar references.
    Reference,
    /// The fastest kernel for each shape that the build and this CPU allow.
    Fast(Cpu),
}

/// What run-time CPU detection found beyond the compile target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cpu {
    /// The x86-64-v3 token, when the CPU has it.
    #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
    pub(crate) x86: Option<X86>,
}

impl Cpu {
    /// Nothing beyond the compile target.
    pub(crate) const BASELINE: Cpu = Cpu {
        #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
        x86: None,
    };
}

/// The fast convolution this build has for the layer's shape, for the compile target (no
/// run-time CPU dispatch): on a Cortex-M4 with `cortex-m-dsp`, the DSP kernels. Writes
/// `out_shape.numel()` bytes; bit-identical to [`conv2d::reference`]. `scratch`: working
/// memory of [`conv2d_scratch_len`] bytes (less makes it fall back to kernels that need less,
/// with the same result; its contents on entry do not matter).
pub fn conv2d(p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
    conv2d_with(p, out, scratch, Choice::Fast(Cpu::BASELINE));
}

/// The fast dense layer for the compile target; bit-identical to [`dense::reference`].
/// `scratch`: [`dense_scratch_len`] bytes, as for [`conv2d()`].
pub fn dense(p: &DenseParams, out: &mut [u8], scratch: &mut [u8]) {
    dense_with(p, out, scratch, Choice::Fast(Cpu::BASELINE));
}

/// Scratch bytes [`conv2d()`] asks for this layer: the same on every build (the largest the DSP
/// and the portable kernels for its geometry ask for; see `kernels/scratch.rs`), at most
/// [`SCRATCH_MAX`]. The interpreter plans them into the arena.
pub fn conv2d_scratch_len(p: &ConvParams) -> usize {
    scratch::conv2d_len(p.patch_len(), p.pool, p.out_shape.c)
}

/// Scratch bytes [`dense()`] asks for this layer (every build), at most [`SCRATCH_MAX`].
pub fn dense_scratch_len(p: &DenseParams) -> usize {
    scratch::dense_len(p.input.len())
}

/// The most scratch any layer asks for (the 2x2-pool DSP convolution of a 576-byte patch).
pub const SCRATCH_MAX: usize = scratch::MAX;

/// The fast max pool; bit-identical to [`maxpool::reference`].
pub fn max_pool2d(p: &PoolParams, out: &mut [u8]) {
    max_pool2d_with(p, out, Choice::Fast(Cpu::BASELINE));
}

/// Convolution with the kernels `choice` allows (see the table above).
#[cfg_attr(feature = "x86-dispatch", inline(always))]
#[cfg_attr(target_arch = "arm", inline(never))]
pub(crate) fn conv2d_with(p: &ConvParams, out: &mut [u8], scratch: &mut [u8], choice: Choice) {
    let Choice::Fast(cpu) = choice else { return conv2d::reference(p, out) };
    #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
    if let Some(x) = cpu.x86 {
        if x86::vnni::takes(p) && x.conv4_vnni(p, out) {
            return;
        }
        if x86::avx2::takes_conv(p) {
            return x.conv_pool4_avx2(p, out);
        }
    }
    #[cfg(not(all(feature = "x86-dispatch", target_arch = "x86_64")))]
    let _ = cpu;
    let len = p.patch_len();
    #[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
    {
        if conv9::takes(p, scratch.len()) {
            return conv9::run(p, out, scratch);
        }
        if conv_pool4::takes(p, scratch.len()) {
            return conv_pool4::run(p, out, scratch);
        }
    }
    #[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
    {
        if len == 9 {
            return conv2d::channels_inner::<9>(p, out);
        }
        if len <= conv2d::CI_LEN_MAX {
            return conv2d::channels_inner::<0>(p, out);
        }
    }
    #[cfg(target_pointer_width = "64")]
    if p.pool == 2 && len <= conv2d::WIN_LEN_MAX {
        return conv2d::pool_window4(p, out);
    }
    // 3x3 on one channel: a patch length known at compile time unrolls the dot products (not
    // on the Cortex-M DSP path, where `conv9` takes those layers but for pools of 3 and 4: a
    // second copy of the kernel would cost 3.6 KB of flash for them).
    let small = len <= PATCH_MAX && scratch.len() >= scratch::small_patch_len(len);
    #[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
    if small && len == 9 {
        return conv2d::small_patch::<9>(p, out, scratch);
    }
    if small { conv2d::small_patch::<0>(p, out, scratch) } else { conv2d::row_spans(p, out) }
}

/// Dense layer with the kernels `choice` allows.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub(crate) fn dense_with(p: &DenseParams, out: &mut [u8], scratch: &mut [u8], choice: Choice) {
    let Choice::Fast(cpu) = choice else { return dense::reference(p, out) };
    #[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
    if let Some(x) = cpu.x86 {
        if x86::vnni::takes_dense(p) && x.dense_vnni(p, out) {
            return;
        }
        if x86::avx2::takes_dense(p) {
            return x.dense_avx2(p, out);
        }
    }
    #[cfg(not(all(feature = "x86-dispatch", target_arch = "x86_64")))]
    let _ = cpu;
    dense::fast(p, out, scratch)
}

/// Max pool with the kernels `choice` allows.
#[cfg_attr(feature = "x86-dispatch", inline(always))]
pub(crate) fn max_pool2d_with(p: &PoolParams, out: &mut [u8], choice: Choice) {
    match choice {
        Choice::Reference => maxpool::reference(p, out),
        Choice::Fast(_) => maxpool::fast(p, out),
    }
}
