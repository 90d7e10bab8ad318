//! The WGAN-GP networks: a class-conditional generator and a projection critic whose input
//! gradient is written out with differentiable tensor ops.
//!
//! Why written out: burn 0.22's `Tensor::grad` returns a tensor "without an autodiff
//! association", so the gradient penalty's ∇ₓD(x̂) cannot be differentiated again through
//! `backward`. [`Critic::input_grad`] builds the same gradient from the critic's own weights
//! (transposed convolutions, LeakyReLU slope masks, the head's weight row), so burn's autodiff
//! differentiates the penalty with respect to those weights. A test proves it equals burn's own
//! input gradient, and another checks the penalty's weight gradient by finite differences.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, sigmoid};
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;

use crate::data::idx::{CLASSES, SIDE};

/// Length of the noise vector.
pub const NOISE: usize = 100;
/// LeakyReLU slope of the critic.
pub const SLOPE: f64 = 0.2;

/// Network widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Widths {
    /// Channels of the generator's 7x7 map (the 14x14 map has half) and of the critic's 7x7
    /// map (its 14x14 map has half).
    pub base: usize,
}

impl Default for Widths {
    fn default() -> Self {
        Self { base: 64 }
    }
}

/// Generator: noise (100) and a one-hot class → Dense → 7x7 map → two stride-2 transposed
/// convolutions (4x4) → a 28x28 image in [0, 1] (sigmoid).
#[derive(Module, Debug)]
pub struct Generator {
    dense: Linear,
    bn0: BatchNorm,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
    base: usize,
}

/// Critic: two stride-2 convolutions (4x4, LeakyReLU 0.2) → features `h` (7x7xC) → score
/// `w·h + b + e_y·h`, where `e_y` is the class's learned projection vector. No sigmoid, no
/// batch norm (the penalty is per sample).
#[derive(Module, Debug)]
pub struct Critic {
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
    pub(crate) head: Linear,
    pub(crate) embed: Param<Tensor<2>>,
}

fn up(cin: usize, cout: usize, device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([cin, cout], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(device)
}

fn down(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// One-hot rows for `labels` (values ≥ 10 give a zero row).
pub fn one_hot(labels: &[u8], device: &Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        if usize::from(l) < CLASSES {
            v[i * CLASSES + usize::from(l)] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), CLASSES]), device)
}

/// Labels as an int tensor.
pub fn label_tensor(labels: &[u8], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    Tensor::from_data(TensorData::new(v, [labels.len()]), device)
}

impl Generator {
    /// Builds the generator.
    pub fn new(w: Widths, device: &Device) -> Self {
        let b = w.base;
        Self {
            dense: LinearConfig::new(NOISE + CLASSES, b * 49).init(device),
            bn0: BatchNormConfig::new(b).init(device),
            up1: up(b, b / 2, device),
            bn1: BatchNormConfig::new(b / 2).init(device),
            up2: up(b / 2, 1, device),
            base: b,
        }
    }

    /// `[N, 100]` noise and `[N, 10]` one-hot classes → `[N, 1, 28, 28]` images in [0, 1].
    pub fn forward(&self, noise: Tensor<2>, classes: Tensor<2>) -> Tensor<4> {
        let n = noise.dims()[0];
        let x = self.dense.forward(Tensor::cat(vec![noise, classes], 1));
        let x = relu(self.bn0.forward(x.reshape([n, self.base, 7, 7])));
        let x = relu(self.bn1.forward(self.up1.forward(x)));
        sigmoid(self.up2.forward(x))
    }
}

/// LeakyReLU's derivative at `pre` (1 where positive, the slope elsewhere), as a constant.
fn slope_mask(pre: Tensor<4>) -> Tensor<4> {
    pre.detach().greater_elem(0.0).float().mul_scalar(1.0 - SLOPE).add_scalar(SLOPE)
}

fn transpose_options() -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1)
}

impl Critic {
    /// Builds the critic.
    pub fn new(w: Widths, device: &Device) -> Self {
        let b = w.base;
        let features = b * 49;
        Self {
            conv1: down(1, b / 2, device),
            conv2: down(b / 2, b, device),
            head: LinearConfig::new(features, 1).init(device),
            embed: Param::from_tensor(Tensor::zeros([CLASSES, features], device)),
        }
    }

    fn features(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>, Tensor<2>) {
        let p1 = self.conv1.forward(x);
        let p2 = self.conv2.forward(leaky_relu(p1.clone(), SLOPE));
        let h = leaky_relu(p2.clone(), SLOPE).flatten(1, 3);
        (p1, p2, h)
    }

    /// `∂score/∂h` per sample: the head's weight row plus the class's projection vector.
    fn score_grad_h(&self, labels: Tensor<1, Int>) -> Tensor<2> {
        let [f, _] = self.head.weight.val().dims();
        self.head.weight.val().reshape([1, f]) + self.embed.val().select(0, labels)
    }

    /// Scores `[N]` of images `[N, 1, 28, 28]` with classes `labels`.
    pub fn forward(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        let (_, _, h) = self.features(x);
        let n = h.dims()[0];
        let proj = (h.clone() * self.embed.val().select(0, labels)).sum_dim(1);
        (self.head.forward(h) + proj).reshape([n])
    }

    /// LeakyReLU's derivative at both layers' pre-activations for `x`, held constant (zero
    /// second derivative almost everywhere, as in any autodiff framework).
    pub fn slope_masks(&self, x: Tensor<4>) -> [Tensor<4>; 2] {
        let (p1, p2, _) = self.features(x);
        [slope_mask(p1), slope_mask(p2)]
    }

    /// `∇ₓ score(x)` `[N, 1, 28, 28]` per sample, built from differentiable ops so that a loss
    /// on it can be back-propagated into the critic's weights.
    pub fn input_grad(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<4> {
        self.input_grad_masked(self.slope_masks(x), labels)
    }

    /// The chain rule written out, given the slope masks of the input: head row + class
    /// vector, mask, transposed conv2, mask, transposed conv1 (biases drop out).
    pub fn input_grad_masked(&self, masks: [Tensor<4>; 2], labels: Tensor<1, Int>) -> Tensor<4> {
        let [m1, m2] = masks;
        let [n, c2, s2, _] = m2.dims();
        // [1, F] + [N, F] broadcasts to one row per sample.
        let g = self.score_grad_h(labels).reshape([n, c2, s2, s2]) * m2;
        let g = conv_transpose2d(g, self.conv2.weight.val(), None, transpose_options()) * m1;
        conv_transpose2d(g, self.conv1.weight.val(), None, transpose_options())
    }
}

/// The images' side, for shape checks.
pub const IMAGE: [usize; 3] = [1, SIDE, SIDE];

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32], tol: f32) -> f32 {
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let scale = b.iter().map(|y| y.abs()).fold(0f32, f32::max);
        assert!(worst <= tol * scale.max(1e-6), "max diff {worst} vs scale {scale}");
        worst
    }

    #[test]
    fn shapes_and_ranges() {
        let _rng = crate::rng::rng_guard();
        let device = Device::flex();
        device.seed(1);
        let g = Generator::new(Widths::default(), &device);
        let c = Critic::new(Widths::default(), &device);
        let z = Tensor::<2>::random([5, NOISE], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let img = g.forward(z, one_hot(&[0, 1, 2, 9, 7], &device));
        assert_eq!(img.dims(), [5, 1, 28, 28]);
        let v: Vec<f32> = img.clone().into_data().try_into_vec_as().unwrap();
        assert!(v.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert_eq!(c.forward(img.clone(), label_tensor(&[0, 1, 2, 9, 7], &device)).dims(), [5]);
        assert_eq!(c.input_grad(img, label_tensor(&[0, 1, 2, 9, 7], &device)).dims(), [5, 1, 28, 28]);
    }

    #[test]
    fn written_out_input_gradient_equals_burns() {
        let _rng = crate::rng::rng_guard();
        let device = Device::flex().autodiff();
        device.seed(3);
        let c = Critic::new(Widths { base: 16 }, &device);
        // A non-zero projection, so the class term is exercised too.
        let c = Critic {
            embed: Param::from_tensor(Tensor::random(
                [CLASSES, 16 * 49],
                burn::tensor::Distribution::Normal(0.0, 0.1),
                &device,
            )),
            ..c
        };
        let labels = [3u8, 0, 9, 4];
        let x =
            Tensor::<4>::random([4, 1, 28, 28], burn::tensor::Distribution::Uniform(0.0, 1.0), &device).require_grad();
        let grads = c.forward(x.clone(), label_tensor(&labels, &device)).sum().backward();
        let burns: Vec<f32> = x.grad(&grads).unwrap().into_data().try_into_vec_as().unwrap();
        let ours: Vec<f32> =
            c.input_grad(x.detach(), label_tensor(&labels, &device)).into_data().try_into_vec_as().unwrap();
        close(&ours, &burns, 1e-5);
        // Not trivially zero.
        assert!(burns.iter().any(|g| g.abs() > 1e-4));
    }
}
