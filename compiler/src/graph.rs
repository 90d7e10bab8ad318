//! The float graph the quantizer works on: a model in infer-core's op set (Conv, Dense,
//! MaxPool), HWC, with everything the lowering folded in: batch norm and affine ops in the
//! weights, ReLU / upper clamps and max pools fused into the op before them, an input
//! normalization in the first layer, and any flatten order in the Dense weights.
//!
//! [`FloatGraph::forward`] runs it in f32 on raw pixels (scaled by 1/255). The lowering checks
//! it against tract's run of the original ONNX model.

use infer_core::Shape;

/// One op of the float graph.
#[derive(Debug, Clone)]
pub enum FloatOp {
    /// Convolution; weights OHWI.
    Conv {
        /// `[out][kh][kw][in]`.
        w: Vec<f32>,
        /// Bias per output channel.
        b: Vec<f32>,
        /// Kernel side.
        k: usize,
        /// Stride.
        stride: usize,
        /// Padding top, left, bottom, right.
        pad: [usize; 4],
        /// Fused ReLU.
        relu: bool,
        /// Fused upper clamp (ReLU6, Clip), applied after the ReLU.
        max: Option<f32>,
        /// Fused max-pool window (1 = none).
        pool: usize,
    },
    /// Fully connected; weights `[out][in]`, `in` in HWC order of the input.
    Dense {
        /// Weights.
        w: Vec<f32>,
        /// Bias.
        b: Vec<f32>,
        /// Fused ReLU.
        relu: bool,
        /// Fused upper clamp (ReLU6, Clip), applied after the ReLU.
        max: Option<f32>,
    },
    /// Standalone max pool.
    MaxPool {
        /// Window = stride.
        size: usize,
    },
}

/// An op and the shape it produces.
#[derive(Debug, Clone)]
pub struct FloatNode {
    /// The op.
    pub op: FloatOp,
    /// Its input shape.
    pub input: Shape,
    /// Its output shape (HWC).
    pub output: Shape,
}

/// A sequential float graph in the engine's op set.
#[derive(Debug, Clone)]
pub struct FloatGraph {
    /// Input shape (`h x w x 1`: raw 8-bit pixels, seen as pixel / 255).
    pub input: Shape,
    /// The ops.
    pub nodes: Vec<FloatNode>,
}

fn out_side(size: usize, pad: usize, k: usize, s: usize) -> usize {
    (size + pad - k) / s + 1
}

impl FloatGraph {
    /// Runs the graph on one image; returns every node's output (HWC, f32).
    pub fn forward(&self, pixels: &[u8]) -> Vec<Vec<f32>> {
        let mut x: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let mut outs = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            x = node.run(&x);
            outs.push(x.clone());
        }
        outs
    }

    /// The logits of one image.
    pub fn logits(&self, pixels: &[u8]) -> Vec<f32> {
        self.forward(pixels).pop().unwrap_or_default()
    }
}

impl FloatNode {
    fn run(&self, x: &[f32]) -> Vec<f32> {
        let (i, o) = (self.input, self.output);
        match &self.op {
            FloatOp::Conv { w, b, k, stride, pad, relu, max, pool } => {
                let (k, s) = (*k, *stride);
                let oh = out_side(i.h, pad[0] + pad[2], k, s);
                let ow = out_side(i.w, pad[1] + pad[3], k, s);
                let mut full = vec![0.0f32; oh * ow * o.c];
                for oy in 0..oh {
                    for ox in 0..ow {
                        for oc in 0..o.c {
                            let mut acc = b[oc];
                            for ky in 0..k {
                                let iy = (oy * s + ky) as isize - pad[0] as isize;
                                if iy < 0 || iy >= i.h as isize {
                                    continue;
                                }
                                for kx in 0..k {
                                    let ix = (ox * s + kx) as isize - pad[1] as isize;
                                    if ix < 0 || ix >= i.w as isize {
                                        continue;
                                    }
                                    let xb = (iy as usize * i.w + ix as usize) * i.c;
                                    let wb = ((oc * k + ky) * k + kx) * i.c;
                                    for ic in 0..i.c {
                                        acc += x[xb + ic] * w[wb + ic];
                                    }
                                }
                            }
                            full[(oy * ow + ox) * o.c + oc] = clamp(acc, *relu, *max);
                        }
                    }
                }
                if *pool == 1 { full } else { max_pool(&full, Shape { h: oh, w: ow, c: o.c }, *pool) }
            }
            FloatOp::Dense { w, b, relu, max } => {
                let n = x.len();
                (0..o.c)
                    .map(|c| {
                        let acc = b[c] + w[c * n..(c + 1) * n].iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
                        clamp(acc, *relu, *max)
                    })
                    .collect()
            }
            FloatOp::MaxPool { size } => max_pool(x, i, *size),
        }
    }
}

/// ReLU, then the upper clamp.
fn clamp(v: f32, relu: bool, max: Option<f32>) -> f32 {
    let v = if relu { v.max(0.0) } else { v };
    max.map_or(v, |m| v.min(m))
}

fn max_pool(x: &[f32], i: Shape, k: usize) -> Vec<f32> {
    let (oh, ow) = (i.h / k, i.w / k);
    let mut out = vec![f32::NEG_INFINITY; oh * ow * i.c];
    for py in 0..oh {
        for px in 0..ow {
            for dy in 0..k {
                for dx in 0..k {
                    let src = ((py * k + dy) * i.w + px * k + dx) * i.c;
                    let dst = (py * ow + px) * i.c;
                    for c in 0..i.c {
                        out[dst + c] = out[dst + c].max(x[src + c]);
                    }
                }
            }
        }
    }
    out
}
