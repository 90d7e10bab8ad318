//! [`Net`]: any layer list built into a burn module (Glorot-uniform weights, zero biases).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::prelude::*;

use super::layers::{LayerSpec, Padding, Shape3, ShapeError, same_pad, shapes};

/// Flatten as a module.
#[derive(Module, Debug, Default)]
pub struct Flatten;

/// One built layer.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Layer {
    /// Convolution.
    Conv(Conv2d),
    /// Max pooling.
    MaxPool(MaxPool2d),
    /// Batch norm.
    BatchNorm(BatchNorm),
    /// ReLU.
    Relu(Relu),
    /// Dropout.
    Dropout(Dropout),
    /// Flatten.
    Flatten(Flatten),
    /// Dense.
    Dense(Linear),
    /// Input skip concatenation.
    ConcatInput(Flatten),
}

/// A sequential network built from a layer list.
#[derive(Module, Debug)]
pub struct Net {
    /// The layers, in order.
    pub layers: Vec<Layer>,
}

/// An activation flowing through [`Net`]: image-shaped or flat.
#[derive(Debug, Clone)]
pub enum Act {
    /// `[N, C, H, W]`.
    Image(Tensor<4>),
    /// `[N, F]`.
    Flat(Tensor<2>),
}

impl Net {
    /// Builds the layers on `device`. Fails if the list does not chain.
    pub fn new(specs: &[LayerSpec], device: &Device) -> Result<Self, ShapeError> {
        let shapes = shapes(specs)?;
        let layers = specs.iter().zip(&shapes).map(|(spec, &input)| build(spec, input, device)).collect();
        Ok(Self { layers })
    }

    /// Runs the network on `[N, 1, 28, 28]` images; returns `[N, 10]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        run(&self.layers, Act::Image(images.clone()), &images)
    }

    /// Index of the last Dense layer (the classifier head).
    fn head_start(&self) -> usize {
        self.layers.iter().rposition(|l| matches!(l, Layer::Dense(_))).unwrap_or(self.layers.len())
    }

    /// The activations that feed the last Dense layer: the classifier's feature space
    /// (penultimate layer), `[N, F]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        run(&self.layers[..self.head_start()], Act::Image(images.clone()), &images)
    }

    /// [`Net::features`] and the logits, from one pass through the network.
    pub fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let (body, head) = self.layers.split_at(self.head_start());
        let features = run(body, Act::Image(images.clone()), &images);
        let logits = run(head, Act::Flat(features.clone()), &images);
        (features, logits)
    }
}

/// Runs `layers` from `x` (`images`: the network input, for the skip concatenation) and
/// flattens the result.
fn run(layers: &[Layer], mut x: Act, images: &Tensor<4>) -> Tensor<2> {
    for layer in layers {
        x = layer.forward(x, images);
    }
    match x {
        Act::Flat(t) => t,
        Act::Image(t) => t.flatten(1, 3),
    }
}

/// Weights start Glorot-uniform and biases at zero, as in the Keras studies we reproduce
/// (burn's default is Kaiming-uniform for both).
const GLOROT: Initializer = Initializer::XavierUniform { gain: 1.0 };

fn zeros(n: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::zeros([n], device))
}

fn build(spec: &LayerSpec, input: Shape3, device: &Device) -> Layer {
    let channels = match input {
        Shape3::Image { c, .. } => c,
        Shape3::Flat(n) => n,
    };
    match *spec {
        LayerSpec::Conv { out, kernel, stride, padding } => {
            let pad = match padding {
                Padding::Valid => PaddingConfig2d::Valid,
                Padding::Same => {
                    PaddingConfig2d::Explicit(same_pad(kernel), same_pad(kernel), same_pad(kernel), same_pad(kernel))
                }
            };
            let mut conv = Conv2dConfig::new([channels, out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(pad)
                .with_initializer(GLOROT)
                .init(device);
            conv.bias = Some(zeros(out, device));
            Layer::Conv(conv)
        }
        LayerSpec::MaxPool { size } => {
            Layer::MaxPool(MaxPool2dConfig::new([size, size]).with_strides([size, size]).init())
        }
        LayerSpec::BatchNorm => Layer::BatchNorm(BatchNormConfig::new(channels).init(device)),
        LayerSpec::Relu => Layer::Relu(Relu::new()),
        LayerSpec::Dropout { prob } => Layer::Dropout(DropoutConfig::new(prob).init()),
        LayerSpec::Flatten => Layer::Flatten(Flatten),
        LayerSpec::ConcatInput => Layer::ConcatInput(Flatten),
        LayerSpec::Dense { out } => {
            let mut dense = LinearConfig::new(channels, out).with_initializer(GLOROT).init(device);
            dense.bias = Some(zeros(out, device));
            Layer::Dense(dense)
        }
    }
}

impl Layer {
    fn forward(&self, x: Act, input: &Tensor<4>) -> Act {
        match (self, x) {
            (Layer::ConcatInput(_), Act::Flat(t)) => Act::Flat(Tensor::cat(vec![input.clone().flatten(1, 3), t], 1)),
            (Layer::Conv(m), Act::Image(t)) => Act::Image(m.forward(t)),
            (Layer::MaxPool(m), Act::Image(t)) => Act::Image(m.forward(t)),
            (Layer::BatchNorm(m), Act::Image(t)) => Act::Image(m.forward(t)),
            (Layer::BatchNorm(m), Act::Flat(t)) => Act::Flat(m.forward(t)),
            (Layer::Relu(m), Act::Image(t)) => Act::Image(m.forward(t)),
            (Layer::Relu(m), Act::Flat(t)) => Act::Flat(m.forward(t)),
            (Layer::Dropout(m), Act::Image(t)) => Act::Image(m.forward(t)),
            (Layer::Dropout(m), Act::Flat(t)) => Act::Flat(m.forward(t)),
            (Layer::Flatten(_), Act::Image(t)) => Act::Flat(t.flatten(1, 3)),
            (Layer::Flatten(_), x @ Act::Flat(_)) => x,
            (Layer::Dense(m), Act::Flat(t)) => Act::Flat(m.forward(t)),
            // `Net::new` checked the shapes chain, so the remaining pairs cannot occur; keep the
            // value flowing unchanged rather than panic.
            (_, x) => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Preset, param_count};

    #[test]
    fn every_preset_builds_and_runs_with_burns_param_count() {
        let _rng = crate::rng::rng_guard();
        let device = Device::flex();
        for p in Preset::ALL {
            let net = Net::new(&p.layers(), &device).unwrap();
            let y = net.forward(Tensor::zeros([3, 1, 28, 28], &device));
            assert_eq!(y.dims(), [3, 10], "{p}");
            // Both counts include batch norm's running mean and variance (as Keras reports them).
            assert_eq!(net.num_params(), param_count(&p.layers()).unwrap(), "{p}");
            assert_eq!(Preset::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn skip_concat_passes_the_raw_pixels_to_the_last_layer() {
        let _rng = crate::rng::rng_guard();
        let device = Device::flex();
        let net = Net::new(&Preset::MlpSkip.layers(), &device).unwrap();
        let pixels: Vec<f32> = (0..2 * 784).map(|i| (i % 97) as f32 / 97.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [2, 1, 28, 28]), &device);
        let f = net.valid().features(x);
        assert_eq!(f.dims(), [2, 814]);
        let v: Vec<f32> = f.into_data().try_into_vec_as().unwrap();
        assert_eq!(&v[..784], &pixels[..784]);
        assert_eq!(&v[814..814 + 784], &pixels[784..]);
    }
}
