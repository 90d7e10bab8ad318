//! Shapes, strides and layouts: where each element of a tract outlet lies in a float-graph tensor.

use infer_core::Shape;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::nn::DataFormat;

/// The row-major strides of `shape`.
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

pub(super) fn f32s(t: &Tensor) -> TractResult<Vec<f32>> {
    Ok(t.cast_to::<f32>()?.to_plain_array_view::<f32>()?.iter().copied().collect())
}

/// `t` broadcast to `shape` (numpy rules), or `None` when it does not broadcast to exactly it.
pub(super) fn broadcast(t: &Tensor, shape: &[usize]) -> Option<Vec<f32>> {
    let values = f32s(t).ok()?;
    let ts = t.shape();
    if ts.len() > shape.len() {
        return None;
    }
    let pad = shape.len() - ts.len();
    let full: Vec<usize> = (0..shape.len()).map(|i| if i < pad { 1 } else { ts[i - pad] }).collect();
    if full.iter().zip(shape).any(|(&a, &b)| a != b && a != 1) {
        return None;
    }
    let (src, dst) = (strides(&full), strides(shape));
    let n: usize = shape.iter().product();
    Some(
        (0..n)
            .map(|e| {
                let mut at = 0;
                for d in 0..shape.len() {
                    let i = e / dst[d] % shape[d];
                    if full[d] != 1 {
                        at += i * src[d];
                    }
                }
                values[at]
            })
            .collect(),
    )
}

/// Position of each element of an outlet in a tensor of shape `t`, for an outlet holding it
/// in `format` with `shape`: `None` when the shapes do not match.
pub(super) fn layout_map(format: DataFormat, shape: &[usize], t: Shape) -> Option<Vec<usize>> {
    let (n, h, w, c) = match (format, shape) {
        (DataFormat::NCHW, &[n, c, h, w]) | (DataFormat::NHWC, &[n, h, w, c]) => (n, h, w, c),
        (DataFormat::CHW, &[c, h, w]) | (DataFormat::HWC, &[h, w, c]) => (1, h, w, c),
        _ => return None,
    };
    if n != 1 || (h, w, c) != (t.h, t.w, t.c) {
        return None;
    }
    let mut map = vec![0; h * w * c];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let at = match format {
                    DataFormat::NCHW | DataFormat::CHW => (ch * h + y) * w + x,
                    DataFormat::NHWC | DataFormat::HWC => (y * w + x) * c + ch,
                };
                map[at] = (y * w + x) * c + ch;
            }
        }
    }
    Some(map)
}

/// The spatial dims and channels of an outlet in `format`.
pub(super) fn spatial(format: DataFormat, shape: &[usize]) -> Option<(usize, usize, usize)> {
    match (format, shape) {
        (DataFormat::NCHW, &[1, c, h, w]) | (DataFormat::NHWC, &[1, h, w, c]) => Some((h, w, c)),
        (DataFormat::CHW, &[c, h, w]) | (DataFormat::HWC, &[h, w, c]) => Some((h, w, c)),
        _ => None,
    }
}

/// Explicit padding `[top, left, bottom, right]` of a pool spec on an `h x w` input, and the
/// output side lengths.
pub(super) fn explicit_padding(spec: &PoolSpec, h: usize, w: usize) -> ([usize; 4], usize, usize) {
    let dims = spec.computed_padding(&[h, w]);
    (
        [dims[0].pad_before, dims[1].pad_before, dims[0].pad_after, dims[1].pad_after],
        dims[0].convoluted,
        dims[1].convoluted,
    )
}
