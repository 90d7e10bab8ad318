//! The float graph the quantizer works on: a trained burn [`Net`] lowered to the int8
//! engine's op set, with batch norm folded into the preceding Conv/Dense, ReLU and 2x2 max pool
//! fused into the convolution, dropout removed, and the CHW flatten order of burn turned into
//! the HWC order of infer-core by permuting the next Dense layer's weights.
//!
//! [`FloatGraph::forward`] runs it in f32 (NHWC). It must agree with burn to float rounding;
//! a test checks that.

use anyhow::{Result, bail};
use burn::prelude::*;
use infer_core::Shape;

use crate::model::{Layer, LayerSpec, Net, Padding, same_pad};

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
    /// Input shape (28 x 28 x 1).
    pub input: Shape,
    /// The ops.
    pub nodes: Vec<FloatNode>,
}

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading a parameter: {e:?}"))
}

fn out_side(size: usize, pad: usize, k: usize, s: usize) -> usize {
    (size + pad - k) / s + 1
}

impl FloatGraph {
    /// Lowers a trained network (its layer list and weights).
    pub fn from_net(specs: &[LayerSpec], net: &Net) -> Result<Self> {
        let input = Shape { h: 28, w: 28, c: 1 };
        let mut shape = input;
        let mut nodes: Vec<FloatNode> = Vec::new();
        if specs.len() != net.layers.len() {
            bail!("layer list and network differ in length");
        }
        for (spec, layer) in specs.iter().zip(&net.layers) {
            match (spec, layer) {
                (LayerSpec::Conv { out, kernel, stride, padding }, Layer::Conv(conv)) => {
                    let (k, cin) = (*kernel, shape.c);
                    let p = if *padding == Padding::Same { same_pad(k) } else { 0 };
                    let oihw = values(conv.weight.val())?;
                    let mut w = vec![0.0; out * k * k * cin];
                    for o in 0..*out {
                        for i in 0..cin {
                            for y in 0..k {
                                for x in 0..k {
                                    w[((o * k + y) * k + x) * cin + i] = oihw[((o * cin + i) * k + y) * k + x];
                                }
                            }
                        }
                    }
                    let b = match &conv.bias {
                        Some(b) => values(b.val())?,
                        None => vec![0.0; *out],
                    };
                    let output = Shape {
                        h: out_side(shape.h, 2 * p, k, *stride),
                        w: out_side(shape.w, 2 * p, k, *stride),
                        c: *out,
                    };
                    nodes.push(FloatNode {
                        op: FloatOp::Conv { w, b, k, stride: *stride, pad: [p; 4], relu: false, pool: 1 },
                        input: shape,
                        output,
                    });
                    shape = output;
                }
                (LayerSpec::Dense { out }, Layer::Dense(dense)) => {
                    // burn stores [in, out], `in` in CHW order; we want [out][in] in HWC order.
                    let w_io = values(dense.weight.val())?;
                    let n = shape.numel();
                    let mut w = vec![0.0; out * n];
                    for y in 0..shape.h {
                        for x in 0..shape.w {
                            for c in 0..shape.c {
                                let chw = (c * shape.h + y) * shape.w + x;
                                let hwc = (y * shape.w + x) * shape.c + c;
                                for o in 0..*out {
                                    w[o * n + hwc] = w_io[chw * out + o];
                                }
                            }
                        }
                    }
                    let b = match &dense.bias {
                        Some(b) => values(b.val())?,
                        None => vec![0.0; *out],
                    };
                    let output = Shape { h: 1, w: 1, c: *out };
                    nodes.push(FloatNode { op: FloatOp::Dense { w, b, relu: false }, input: shape, output });
                    shape = output;
                }
                (LayerSpec::BatchNorm, Layer::BatchNorm(bn)) => {
                    let gamma = values(bn.gamma.val())?;
                    let beta = values(bn.beta.val())?;
                    let mean = values(bn.running_mean.value())?;
                    let var = values(bn.running_var.value())?;
                    let eps = bn.epsilon;
                    let Some(last) = nodes.last_mut() else { bail!("batch norm before any Conv/Dense") };
                    let (w, b) = match &mut last.op {
                        FloatOp::Conv { w, b, relu: false, pool: 1, .. } | FloatOp::Dense { w, b, relu: false } => {
                            (w, b)
                        }
                        _ => bail!("batch norm must directly follow a Conv or Dense to be folded"),
                    };
                    let per = w.len() / b.len();
                    for c in 0..b.len() {
                        let g = (gamma[c] as f64 / (var[c] as f64 + eps).sqrt()) as f32;
                        for v in &mut w[c * per..(c + 1) * per] {
                            *v *= g;
                        }
                        b[c] = (b[c] - mean[c]) * g + beta[c];
                    }
                }
                (LayerSpec::Relu, Layer::Relu(_)) => match nodes.last_mut().map(|n| &mut n.op) {
                    Some(FloatOp::Conv { relu, .. } | FloatOp::Dense { relu, .. }) => *relu = true,
                    _ => bail!("ReLU must follow a Conv or Dense"),
                },
                (LayerSpec::MaxPool { size }, Layer::MaxPool(_)) => {
                    let fusable = matches!(nodes.last().map(|n| &n.op), Some(FloatOp::Conv { pool: 1, .. }))
                        && (2..=4).contains(size);
                    let output = Shape { h: shape.h / size, w: shape.w / size, c: shape.c };
                    if fusable && let Some(last) = nodes.last_mut() {
                        if let FloatOp::Conv { pool, .. } = &mut last.op {
                            *pool = *size;
                        }
                        last.output = output;
                    } else {
                        nodes.push(FloatNode { op: FloatOp::MaxPool { size: *size }, input: shape, output });
                    }
                    shape = output;
                }
                (LayerSpec::Dropout { .. }, Layer::Dropout(_)) | (LayerSpec::Flatten, Layer::Flatten(_)) => {}
                (LayerSpec::ConcatInput, _) => bail!(
                    "the int8 exporter lowers sequential models; the input skip concatenation (mlp-skip) is not supported"
                ),
                (spec, _) => bail!("layer {spec:?} does not match the network"),
            }
        }
        Ok(Self { input, nodes })
    }

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
            FloatOp::Conv { w, b, k, stride, pad, relu, pool } => {
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
                            full[(oy * ow + ox) * o.c + oc] = if *relu { acc.max(0.0) } else { acc };
                        }
                    }
                }
                if *pool == 1 { full } else { max_pool(&full, Shape { h: oh, w: ow, c: o.c }, *pool) }
            }
            FloatOp::Dense { w, b, relu } => {
                let n = x.len();
                (0..o.c)
                    .map(|c| {
                        let acc = b[c] + w[c * n..(c + 1) * n].iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
                        if *relu { acc.max(0.0) } else { acc }
                    })
                    .collect()
            }
            FloatOp::MaxPool { size } => max_pool(x, i, *size),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batcher::images_batch;
    use crate::model::{Preset, Shape3};

    /// The lowered graph computes what burn computes, for every preset and for a net with batch
    /// norm and same padding (random weights, non-trivial BN statistics).
    #[test]
    fn float_graph_matches_burn() {
        let _rng = crate::training::rng_guard();
        let device = Device::flex();
        let pixels: Vec<u8> = (0..3 * 784).map(|i| ((i * 7919) % 256) as u8).collect();
        let bn_net = vec![
            LayerSpec::Conv { out: 4, kernel: 3, stride: 1, padding: Padding::Same },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::MaxPool { size: 2 },
            LayerSpec::Conv { out: 6, kernel: 3, stride: 2, padding: Padding::Valid },
            LayerSpec::Relu,
            LayerSpec::MaxPool { size: 3 },
            LayerSpec::Flatten,
            LayerSpec::Dense { out: 12 },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::Dropout { prob: 0.5 },
            LayerSpec::Dense { out: 10 },
        ];
        assert!(matches!(crate::model::shapes(&bn_net).unwrap()[7], Shape3::Image { .. }));
        let mut cases: Vec<Vec<LayerSpec>> =
            Preset::ALL.iter().map(|p| p.layers()).filter(|l| !l.contains(&LayerSpec::ConcatInput)).collect();
        cases.push(bn_net);
        for specs in cases {
            device.seed(3);
            let mut net = Net::new(&specs, &device).unwrap();
            // Give batch norms non-trivial running statistics by one training-mode pass.
            let train_dev = device.clone().autodiff();
            let mut t = Net::new(&specs, &train_dev).unwrap();
            let b = images_batch(&pixels, vec![0, 1, 2], &train_dev);
            let _ = t.forward(b.images);
            if specs.contains(&LayerSpec::BatchNorm) {
                t = t.valid();
                net = t;
            }
            let graph = FloatGraph::from_net(&specs, &net).unwrap();
            let b = images_batch(&pixels, vec![0, 1, 2], &device);
            let burn: Vec<f32> = net.valid().forward(b.images).into_data().try_into_vec_as().unwrap();
            for img in 0..3 {
                let ours = graph.logits(&pixels[img * 784..(img + 1) * 784]);
                for (a, b) in ours.iter().zip(&burn[img * 10..(img + 1) * 10]) {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{specs:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn skip_concat_is_a_clear_error() {
        let _rng = crate::training::rng_guard();
        let specs = Preset::MlpSkip.layers();
        let net = Net::new(&specs, &Device::flex()).unwrap();
        let e = FloatGraph::from_net(&specs, &net).unwrap_err().to_string();
        assert!(e.contains("skip concatenation"), "{e}");
    }
}
