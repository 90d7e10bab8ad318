//! The dot products the portable kernels are built from: `Σ (x − zp) · w` over int8 bytes, and
//! [`Widened`], an input prepared once and dotted with many weight rows.
//!
//! On the Cortex-M DSP path (feature `cortex-m-dsp` on `target_arch = "arm"`) the same names
//! come from `arm/dsp.rs` (SXTB16/SMLAD), so the portable kernels in `conv2d.rs` and
//! `dense.rs` run on them unchanged. Everywhere else they are plain Rust written so that LLVM
//! vectorizes them. Both give the exact integer sums.

#[cfg(all(feature = "cortex-m-dsp", target_arch = "arm"))]
pub(crate) use super::arm::dsp::{Widened, dot_centered, dot2_centered};

#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
pub(crate) use portable::{Widened, dot_centered, dot2_centered};

#[cfg(not(all(feature = "cortex-m-dsp", target_arch = "arm")))]
mod portable {
    use crate::kernels::params::PATCH_MAX;
    use crate::kernels::scratch::Carve;

    /// `Σ (x − zp) · w` over two equally long byte slices holding int8 values, written so that
    /// LLVM vectorizes it (i32 lanes; no bounds checks in the loop).
    ///
    /// `x − zp` and `w` both fit in i16, so the products are written as i16 × i16 → i32, the
    /// shape x86's `pmaddwd` (SSE2) implements.
    #[inline(always)]
    pub(crate) fn dot_centered(x: &[u8], w: &[u8], zp: i32) -> i32 {
        let zp = zp as i16;
        x.iter().zip(w).map(|(&x, &w)| ((x as i8 as i16 - zp) as i32) * ((w as i8 as i16) as i32)).sum()
    }

    /// `Σ x · w` for an already centered i16 input.
    #[inline(always)]
    fn dot_i16(x: &[i16], w: &[u8]) -> i32 {
        x.iter().zip(w).map(|(&x, &w)| (x as i32) * ((w as i8 as i16) as i32)).sum()
    }

    /// Two channels at once: `(Σ (x − zp) · w0, Σ (x − zp) · w1)`.
    #[inline(always)]
    pub(crate) fn dot2_centered(x: &[u8], w0: &[u8], w1: &[u8], zp: i32) -> (i32, i32) {
        (dot_centered(x, w0, zp), dot_centered(x, w1, zp))
    }

    /// An input patch prepared once and dotted with many weight rows: its first [`PATCH_MAX`]
    /// values centered into i16, in storage carved from the kernel's scratch (`2 · len` bytes;
    /// with less, fewer values are centered ahead and the rest on the fly).
    pub(crate) struct Widened<'s> {
        centered: &'s mut [i16],
        len: usize,
        zp: i32,
    }

    impl<'s> Widened<'s> {
        /// Room for inputs of up to `len` bytes, carved from `scratch` (none if it is too short).
        #[inline(always)]
        pub(crate) fn carve(scratch: &mut Carve<'s>, len: usize, zp: i32) -> Self {
            let centered = scratch.slice::<i16>(len.min(PATCH_MAX)).unwrap_or_default();
            Self { centered, len: 0, zp }
        }
        #[inline(always)]
        pub(crate) fn load(&mut self, x: &[u8]) {
            self.len = x.len().min(self.centered.len());
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
}
