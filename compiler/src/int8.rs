//! Lowering the float graph to integers (docs/QUANTIZATION.md): activation scales and zero
//! points from calibrated ranges, per-channel symmetric int8 weights, int32 biases, and the
//! fixed-point requantization derived from exactly the f32 scales that the QDQ ONNX holds.

use infer_core::Shape;
use infer_core::builder::BlobBuilder;
use infer_core::requant::{self, Requant};

use crate::error::CompileError;
use crate::graph::{FloatGraph, FloatOp};

/// Scale and zero point of an int8 tensor.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QParams {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i8,
}

/// Rounds half to even (f64).
pub fn round_even(x: f64) -> f64 {
    requant::round_half_even_f64(x)
}

impl QParams {
    /// The input's parameters: raw pixels, scale 1/255, zero point −128.
    pub const INPUT: QParams = QParams { scale: 1.0 / 255.0, zero_point: -128 };

    /// Parameters covering `[lo, hi]` (widened to contain 0).
    pub fn from_range(lo: f32, hi: f32) -> Self {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = ((f64::from(hi) - f64::from(lo)) / 255.0).max(1e-12) as f32;
        let zp = round_even(-128.0 - f64::from(lo) / f64::from(scale)).clamp(-128.0, 127.0);
        Self { scale, zero_point: zp as i8 }
    }

    /// `clamp(round_half_even(v / scale) + zp)` — what ONNX QuantizeLinear computes.
    pub fn quantize(&self, v: f32) -> i8 {
        (round_even(f64::from(v / self.scale)) + f64::from(self.zero_point)).clamp(-128.0, 127.0) as i8
    }

    /// `scale · (q − zp)`.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (i32::from(q) - i32::from(self.zero_point)) as f32
    }
}

/// The integer parameters of one Conv/Dense.
#[derive(Debug, Clone)]
pub struct QWeights {
    /// int8 weights, same layout as the float ones.
    pub w: Vec<i8>,
    /// Per-output-channel weight scales.
    pub w_scale: Vec<f32>,
    /// int32 biases.
    pub bias: Vec<i32>,
    /// Per-output-channel requantization.
    pub requant: Vec<Requant>,
}

/// The quantized graph: parameters of every tensor and weights of every layer.
#[derive(Debug, Clone)]
pub struct QuantGraph {
    /// The float graph it came from.
    pub graph: FloatGraph,
    /// Parameters of each node's output.
    pub act: Vec<QParams>,
    /// Integer weights per node (`None` for max pool).
    pub weights: Vec<Option<QWeights>>,
}

fn quantize_weights(w: &[f32], b: &[f32], s_in: f32, s_out: f32) -> Result<QWeights, CompileError> {
    let out = b.len();
    let per = w.len() / out.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut w_scale = Vec::with_capacity(out);
    let mut bias = Vec::with_capacity(out);
    let mut rq = Vec::with_capacity(out);
    for c in 0..out {
        let row = &w[c * per..(c + 1) * per];
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s_w = if max > 0.0 { max / 127.0 } else { 1.0 };
        q.extend(row.iter().map(|&v| round_even(f64::from(v / s_w)).clamp(-127.0, 127.0) as i8));
        // The bias scale as ONNX holds it: the f32 product of the two f32 scales.
        let s_b = s_in * s_w;
        bias.push(round_even(f64::from(b[c]) / f64::from(s_b)).clamp(i32::MIN as f64, i32::MAX as f64) as i32);
        let real = f64::from(s_in) * f64::from(s_w) / f64::from(s_out);
        rq.push(
            requant::from_real(real)
                .ok_or_else(|| CompileError::Quantize(format!("requantization multiplier {real} out of range")))?,
        );
        w_scale.push(s_w);
    }
    Ok(QWeights { w: q, w_scale, bias, requant: rq })
}

impl QuantGraph {
    /// Quantizes `graph` with per-node output ranges `ranges`.
    pub fn new(graph: &FloatGraph, ranges: &[(f32, f32)]) -> Result<Self, CompileError> {
        let mut act = Vec::with_capacity(graph.nodes.len());
        let mut weights = Vec::with_capacity(graph.nodes.len());
        let mut s_in = QParams::INPUT;
        for (node, &(lo, hi)) in graph.nodes.iter().zip(ranges) {
            let (q, w) = match &node.op {
                FloatOp::Conv { w, b, relu, max, .. } | FloatOp::Dense { w, b, relu, max } => {
                    // A fused ReLU starts the range at 0 and an upper clamp ends it there, so
                    // int8 saturation is the clamp (exactly, for a range that starts at 0).
                    let lo = if *relu { 0.0 } else { lo };
                    let hi = max.map_or(hi, |m| hi.min(m));
                    let q = QParams::from_range(lo, hi);
                    (q, Some(quantize_weights(w, b, s_in.scale, q.scale)?))
                }
                // Max pool keeps its input's parameters.
                FloatOp::MaxPool { .. } => (s_in, None),
            };
            act.push(q);
            weights.push(w);
            s_in = q;
        }
        Ok(Self { graph: graph.clone(), act, weights })
    }

    /// Writes the infer-core blob.
    pub fn blob(&self) -> Vec<u8> {
        let mut b = BlobBuilder::new();
        let g = &self.graph;
        let mut prev = b.tensor(g.input, QParams::INPUT.zero_point, QParams::INPUT.scale);
        let input = prev;
        for ((node, q), w) in g.nodes.iter().zip(&self.act).zip(&self.weights) {
            let t = b.tensor(node.output, q.zero_point, q.scale);
            match (&node.op, w) {
                (FloatOp::Conv { k, stride, pad, relu, pool, .. }, Some(w)) => b.conv2d(
                    prev,
                    t,
                    *k as u8,
                    *stride as u8,
                    pad.map(|p| p as u8),
                    if *pool == 1 { 0 } else { *pool as u8 },
                    *relu,
                    &w.w,
                    &w.bias,
                    &w.requant,
                ),
                (FloatOp::Dense { relu, .. }, Some(w)) => b.dense(prev, t, *relu, &w.w, &w.bias, &w.requant),
                (FloatOp::MaxPool { size }, _) => b.max_pool(prev, t, *size as u8),
                _ => {}
            }
            prev = t;
        }
        b.finish(input, prev)
    }

    /// Output shape of the last node.
    pub fn output_shape(&self) -> Shape {
        self.graph.nodes.last().map_or(Shape { h: 1, w: 1, c: 0 }, |n| n.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qparams_by_hand() {
        // [0, 2.55]: scale 0.01, zp −128 (ReLU-like).
        let q = QParams::from_range(0.0, 2.55);
        assert!((q.scale - 0.01).abs() < 1e-9);
        assert_eq!(q.zero_point, -128);
        assert_eq!(q.quantize(1.0), -28);
        assert_eq!(q.quantize(100.0), 127);
        assert_eq!(q.quantize(-1.0), -128);
        // Symmetric [−1.275, 1.275]: scale 0.01, zp round_even(−128 + 127.5) = round_even(−0.5) = 0.
        let q = QParams::from_range(-1.275, 1.275);
        assert_eq!(q.zero_point, 0);
        assert_eq!(q.dequantize(10), q.scale * 10.0);
        // The input convention is exact for every pixel.
        for p in 0..=255u8 {
            let v = f32::from(p) / 255.0;
            assert_eq!(QParams::INPUT.quantize(v), (i16::from(p) - 128) as i8);
        }
    }

    #[test]
    fn weights_by_hand() {
        // One channel [127, −63.5, 2.5]: s_w = 127/127 = 1, q = [127, −64 (ties to even), 2].
        let w = quantize_weights(&[127.0, -63.5, 2.5], &[10.25], 0.5, 0.25).unwrap();
        assert_eq!(w.w, vec![127, -64, 2]);
        assert_eq!(w.w_scale, vec![1.0]);
        // bias 10.25 / (0.5 · 1) = 20.5 → 20 (even).
        assert_eq!(w.bias, vec![20]);
        // M = 0.5 · 1 / 0.25 = 2 = 2^30 · 2^-29.
        assert_eq!(w.requant[0], Requant { m: 1 << 30, n: 29 });
    }
}
