//! What every convolution kernel shares: where a receptive field lies, how it is gathered, and
//! the loop over output channels and pooled positions ([`pooled`]; on x86 also `runs4`, four
//! unpooled positions at a time), so that each kernel writes only how it computes a block of
//! window maxima or sums.
//!
//! A convolution with a fused `pool × pool` max pool computes, for pooled output `(py, px)`, the
//! pre-pool positions `(py · pool + dy, px · pool + dx)`; the receptive field of a pre-pool
//! position `(oy, ox)` has its top-left tap at `(oy · stride − pad_top, ox · stride − pad_left)`,
//! which may lie in the padding. Padding taps take the input's zero point, so `x − zp = 0`
//! there. The pool takes the maximum of the accumulators and requantizes once: requantization
//! is non-decreasing (docs/QUANTIZATION.md), so `max(rq(a), rq(b)) = rq(max(a, b))`.

use super::params::ConvParams;
use crate::requant::{ROW, RequantRow, lower_clamp};

/// A block of output channels `c0..c0 + nb` (at most [`ROW`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    /// First channel.
    pub c0: usize,
    /// Channels in the block.
    pub nb: usize,
}

/// What [`pooled`] asks of a kernel next.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// The block begins: prepare its weights.
    Start,
    /// Fill `best[..nb]` with each channel's largest accumulator (bias excluded) over the pool
    /// window of pooled output `(py, px)`.
    Output {
        /// Pooled row.
        py: usize,
        /// Pooled column.
        px: usize,
    },
}

/// The loop every convolution kernel runs: output channels in blocks of `block` (at most
/// [`ROW`]); per block, its requantization constants unpacked once and
/// `f(block, Step::Start, best)`; per pooled output, `f(block, Step::Output, best)` fills
/// `best[..nb]`, which is then requantized once (bias added, zero point, clamps) into `out`.
/// `best` has room for [`ROW`] channels whatever `nb`, so kernels may fill whole vector groups.
#[inline(always)]
pub(crate) fn pooled(p: &ConvParams, out: &mut [u8], block: usize, mut f: impl FnMut(Block, Step, &mut [i32; ROW])) {
    let o = p.out_shape;
    let lo = lower_clamp(p.out_zp, p.relu);
    let block = block.clamp(1, ROW);
    let mut best = [0i32; ROW];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(block) {
        let b = Block { c0, nb: (o.c - c0).min(block) };
        p.sections.load_row(&mut rq, c0, b.nb);
        f(b, Step::Start, &mut best);
        for py in 0..o.h {
            for px in 0..o.w {
                f(b, Step::Output { py, px }, &mut best);
                let at = (py * o.w + px) * o.c + c0;
                if let Some(dst) = out.get_mut(at..at + b.nb) {
                    rq.apply(&best[..b.nb], p.out_zp, lo, p.rounding, dst);
                }
            }
        }
    }
}

/// Top-left input tap of pre-pool position `(py · pool + dy, px · pool + dx)`.
#[inline(always)]
pub(crate) fn origin(p: &ConvParams, py: usize, px: usize, dy: usize, dx: usize) -> (isize, isize) {
    let y0 = ((py * p.pool + dy) * p.stride) as isize - p.pad[0] as isize;
    let x0 = ((px * p.pool + dx) * p.stride) as isize - p.pad[1] as isize;
    (y0, x0)
}

/// [`origin`] of position `i` (0..4, row-major) of a 2x2 pool window (for the kernels that
/// compute a window's four positions together: on 64-bit hosts and the Cortex-M DSP path).
#[cfg(any(target_pointer_width = "64", all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[inline(always)]
pub(crate) fn origin2(p: &ConvParams, py: usize, px: usize, i: usize) -> (isize, isize) {
    let y0 = ((py * 2 + i / 2) * p.stride) as isize - p.pad[0] as isize;
    let x0 = ((px * 2 + i % 2) * p.stride) as isize - p.pad[1] as isize;
    (y0, x0)
}

/// Whether the receptive field whose top-left tap is `(y0, x0)` lies inside the image.
#[cfg(any(all(feature = "x86-dispatch", target_arch = "x86_64"), all(feature = "cortex-m-dsp", target_arch = "arm")))]
#[inline(always)]
pub(crate) fn inside(p: &ConvParams, y0: isize, x0: isize) -> bool {
    let k = p.kernel as isize;
    y0 >= 0 && x0 >= 0 && y0 + k <= p.in_shape.h as isize && x0 + k <= p.in_shape.w as isize
}

/// The top-left input taps of four pre-pool positions a kernel computes together: the 2x2
/// window of a pooled output ([`origins2`]) or four outputs of an unpooled convolution
/// ([`runs4`]).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
pub(crate) type Origins = [(isize, isize); 4];

/// The [`Origins`] of the 2x2 window of pooled output `(py, px)`.
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn origins2(p: &ConvParams, py: usize, px: usize) -> Origins {
    core::array::from_fn(|i| origin2(p, py, px, i))
}

/// Whether the receptive fields of all four `origins` lie inside the image (no padding).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn inside4(p: &ConvParams, origins: &Origins) -> bool {
    origins.iter().all(|&(y0, x0)| inside(p, y0, x0))
}

/// What [`runs4`] asks of a kernel next.
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step4 {
    /// The block begins: prepare its weights.
    Start,
    /// Fill `sums[i][..nb]` with each channel's accumulator (bias excluded) at the position
    /// whose receptive field starts at `origins[i]`.
    Positions {
        /// The four positions' top-left taps.
        origins: Origins,
    },
}

/// The loop of an unpooled convolution (`pool == 1`) whose kernel computes four positions at a
/// time: output channels in blocks of `block` (at most [`ROW`]); per block,
/// `f(block, Step4::Start, sums)`, then per run of four outputs in row-major order
/// `f(block, Step4::Positions, sums)` fills `sums[i][..nb]`, which are requantized into `out`.
/// A last run of fewer than four repeats its last position (computed, not written).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn runs4(
    p: &ConvParams,
    out: &mut [u8],
    block: usize,
    mut f: impl FnMut(Block, Step4, &mut [[i32; ROW]; 4]),
) {
    let o = p.out_shape;
    let n = o.h * o.w;
    if n == 0 {
        return;
    }
    let lo = lower_clamp(p.out_zp, p.relu);
    let block = block.clamp(1, ROW);
    let mut sums = [[0i32; ROW]; 4];
    let mut rq = RequantRow::new();
    for c0 in (0..o.c).step_by(block) {
        let b = Block { c0, nb: (o.c - c0).min(block) };
        p.sections.load_row(&mut rq, c0, b.nb);
        f(b, Step4::Start, &mut sums);
        for q0 in (0..n).step_by(4) {
            // With no pool, `origin`'s pre-pool position is the output position.
            let origins = core::array::from_fn(|i| {
                let q = (q0 + i).min(n - 1);
                origin(p, q / o.w, q % o.w, 0, 0)
            });
            f(b, Step4::Positions { origins }, &mut sums);
            for (i, s) in sums.iter().enumerate().take(n - q0) {
                let at = (q0 + i) * o.c + c0;
                if let Some(dst) = out.get_mut(at..at + b.nb) {
                    rq.apply(&s[..b.nb], p.out_zp, lo, p.rounding, dst);
                }
            }
        }
    }
}

/// The receptive field whose top-left tap is at `(y0, x0)` into `patch` (`k · k · cin` bytes,
/// HWC); padding taps get the zero point, so that `x − zp = 0`.
#[inline(always)]
pub(crate) fn gather(p: &ConvParams, y0: isize, x0: isize, patch: &mut [u8]) {
    let (k, cin) = (p.kernel, p.in_shape.c);
    let (ih, iw) = (p.in_shape.h as isize, p.in_shape.w as isize);
    for ky in 0..k {
        for kx in 0..k {
            let (iy, ix) = (y0 + ky as isize, x0 + kx as isize);
            let t = (ky * k + kx) * cin;
            if iy < 0 || ix < 0 || iy >= ih || ix >= iw {
                patch[t..t + cin].fill(p.in_zp as u8);
            } else {
                let src = (iy as usize * p.in_shape.w + ix as usize) * cin;
                if cin == 1 {
                    patch[t] = p.input[src];
                } else {
                    patch[t..t + cin].copy_from_slice(&p.input[src..src + cin]);
                }
            }
        }
    }
}

/// Largest kernel side whose rows [`rows4`] reads in place.
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
pub(crate) const K_MAX: usize = 7;

/// The `k` kernel rows of each of four positions (their top-left taps `origins`), read in place
/// from `x` (one element per input value, HWC) as chunks of `N`: `segs[ky][i]`, empty where a
/// row is out of range (never, for positions [`inside4`] the image).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn rows4<'a, T, const N: usize>(
    p: &ConvParams,
    x: &'a [T],
    origins: &Origins,
    segs: &mut [[&'a [[T; N]]; 4]; K_MAX],
) {
    let (k, cin, iw) = (p.kernel, p.in_shape.c, p.in_shape.w);
    let run = k * cin;
    for (i, &(y0, x0)) in origins.iter().enumerate() {
        let start = (y0 as usize * iw + x0 as usize) * cin;
        for (ky, seg) in segs.iter_mut().enumerate().take(k) {
            let at = start + ky * iw * cin;
            seg[i] = x.get(at..at + run).map(|r| r.as_chunks::<N>().0).unwrap_or(&[]);
        }
    }
}
