//! Kernel scratch: the working memory a kernel needs besides its input and output (gathered
//! patches, their widened form, widened weights), planned into the arena like an activation
//! that lives for one op, as CMSIS-NN's `*_get_buffer_size` functions size the buffer its
//! kernels are given. Here are both halves of that contract: how many bytes each kernel asks
//! for ([`conv2d_len`], [`dense_len`]: what [`crate::plan`] reserves) and how a kernel carves
//! its typed buffers out of the bytes it is given ([`Carve`]).
//!
//! The lengths depend on the layer's geometry only, not on the build: they are the largest of
//! what the Cortex-M DSP kernels and the portable kernels chosen for that geometry ask for, so
//! a blob needs the same arena on every target (the firmware's build script sizes the device's
//! arena on the host). The x86 kernels keep their buffers on the stack (hosts have megabytes of
//! it) and ignore the scratch; so does every kernel whose buffers are a few dozen bytes.
//!
//! A kernel given less scratch than it asks for (only a caller of the public kernel functions
//! can do that: the interpreter always gives what the plan reserved) falls back to a kernel
//! that needs none, with the same result.

use super::params::{CI_LEN_MAX, PATCH_MAX};

/// Alignment slack of one typed buffer: the arena may start at any address, so a `u32` buffer
/// may begin up to 3 bytes into the bytes set aside for it.
const SLACK: usize = 3;

/// Output channels whose widened weights the nine-byte convolution (`arm/conv9.rs`) holds at
/// once.
pub(crate) const CONV9_BLOCK: usize = 64;

/// Longest patch the 2x2-pool DSP convolution (`arm/conv_pool4.rs`) takes (`k · k · cin`
/// bytes; 3x3x64).
pub(crate) const CONV_POOL4_LEN_MAX: usize = 576;

/// Scratch of the nine-byte DSP convolution: five words of widened weights per channel of a
/// block of up to [`CONV9_BLOCK`] (1,280 bytes for 64 channels).
pub(crate) const fn conv9_len(out_c: usize) -> usize {
    let c = if out_c < CONV9_BLOCK { out_c } else { CONV9_BLOCK };
    20 * c + SLACK
}

/// Scratch of the 2x2-pool DSP convolution for patches of `len` bytes: one gathered patch and
/// the widened whole words of the window's four positions (eight `u32` per 4-byte chunk):
/// `len + 32 · ⌊len / 4⌋` bytes, about `9 · len`.
pub(crate) const fn conv_pool4_len(len: usize) -> usize {
    len + SLACK + 32 * (len / 4) + SLACK
}

/// Scratch of a [`super::dot::Widened`] input of `len` bytes: its first [`PATCH_MAX`] bytes as
/// 16-bit values (centered i16 on the portable path, `SXTB16` pairs on the DSP path).
pub(crate) const fn widened_len(len: usize) -> usize {
    let n = if len < PATCH_MAX { len } else { PATCH_MAX };
    2 * n + SLACK
}

/// Scratch of `conv2d::small_patch` for patches of `len` bytes: the gathered patch and its
/// widened form.
pub(crate) const fn small_patch_len(len: usize) -> usize {
    len + widened_len(len)
}

/// Scratch the convolution of this geometry asks for: the largest of the DSP path's choice and
/// the portable path's (the chooser is [`super::select`]; the two chains are mirrored here).
pub(crate) const fn conv2d_len(patch_len: usize, pool: usize, out_c: usize) -> usize {
    let len = patch_len;
    let dsp = if len == 9 && (pool == 1 || pool == 2) {
        conv9_len(out_c)
    } else if pool == 2 && len >= 4 && len <= CONV_POOL4_LEN_MAX {
        conv_pool4_len(len)
    } else if len <= PATCH_MAX {
        small_patch_len(len)
    } else {
        0
    };
    // Portable: `channels_inner` (patches ≤ 16 bytes, its 2 KiB of transposed weights on the
    // stack), `pool_window4` on 64-bit hosts (stack), else `small_patch` or `row_spans`.
    let portable = if len <= CI_LEN_MAX || len > PATCH_MAX { 0 } else { small_patch_len(len) };
    max(dsp, portable)
}

/// Scratch of a dense layer over `in_len` inputs: its widened input.
pub(crate) const fn dense_len(in_len: usize) -> usize {
    widened_len(in_len)
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The most any layer asks for: [`conv2d_len`] and [`dense_len`] are bounded by their largest
/// branches (5,190 bytes: the 2x2-pool DSP convolution of a 576-byte patch).
pub(crate) const MAX: usize = max(
    max(conv_pool4_len(CONV_POOL4_LEN_MAX), small_patch_len(PATCH_MAX)),
    max(conv9_len(CONV9_BLOCK), dense_len(PATCH_MAX)),
);

/// Typed buffers cut one after another from a kernel's scratch bytes.
pub(crate) struct Carve<'s> {
    rest: &'s mut [u8],
}

impl<'s> Carve<'s> {
    /// Carves from `scratch`.
    #[inline(always)]
    pub(crate) fn new(scratch: &'s mut [u8]) -> Self {
        Carve { rest: scratch }
    }

    /// The next `n` bytes, or `None` if fewer are left.
    #[inline(always)]
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'s mut [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        Some(head)
    }

    /// The next `n` values of `T`, aligned for `T` (skipping up to `align_of::<T>() − 1` bytes,
    /// which the lengths above include), or `None` if fewer are left.
    #[inline(always)]
    pub(crate) fn slice<T: bytemuck::Pod>(&mut self, n: usize) -> Option<&'s mut [T]> {
        let skip = self.rest.as_ptr().align_offset(core::mem::align_of::<T>());
        let bytes = n.checked_mul(core::mem::size_of::<T>())?;
        self.bytes(skip)?;
        bytemuck::try_cast_slice_mut(self.bytes(bytes)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carved_buffers_are_aligned_disjoint_and_bounded() {
        let mut buf = [0u8; 64];
        for start in 0..4 {
            let mut c = Carve::new(&mut buf[start..]);
            let a = c.bytes(5).unwrap();
            a.fill(1);
            let w = c.slice::<u32>(3).unwrap();
            assert_eq!(w.as_ptr() as usize % 4, 0);
            w.fill(u32::MAX);
            // 64 − start − 5 bytes were left; 3 words and up to 3 bytes of slack are gone.
            assert!(c.slice::<u32>(12).is_none());
            assert!(c.slice::<u16>(4).is_some());
        }
    }

    #[test]
    fn the_lengths_cover_what_the_kernels_carve() {
        // 2x2-pool DSP path: one patch, then 8 words per whole chunk, each carve aligned.
        for len in [4, 9, 17, 288, 576] {
            let mut buf = vec![0u8; conv_pool4_len(len) + 1];
            for start in 0..2 {
                let mut c = Carve::new(&mut buf[start..start + conv_pool4_len(len)]);
                assert!(c.bytes(len).is_some() && c.slice::<u32>(8 * (len / 4)).is_some(), "{len} at {start}");
            }
        }
        for len in [1, 3, 100, 1024, 5000] {
            let n = len.min(PATCH_MAX);
            let mut buf = vec![0u8; small_patch_len(len) + 3];
            for start in 0..4 {
                let mut c = Carve::new(&mut buf[start..start + small_patch_len(len)]);
                assert!(c.bytes(len.min(PATCH_MAX)).is_some() && c.slice::<u32>(n / 2).is_some(), "{len} at {start}");
            }
        }
        assert_eq!(conv9_len(32), 643);
        assert_eq!(conv9_len(200), 1283);
        assert_eq!(conv2d_len(5000, 1, 8), 0);
        assert_eq!(MAX, 5190);
        for len in 1..=PATCH_MAX + 8 {
            for pool in 1..=4 {
                assert!(conv2d_len(len, pool, 200) <= MAX && dense_len(len) <= MAX);
            }
        }
    }
}
