//! Layer lists: the layer kinds a model is made of, the shapes they chain through, and what a
//! list costs (parameters, multiply-accumulates, activation bytes).

use std::fmt;

/// Convolution padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Padding {
    /// No padding.
    Valid,
    /// Zero padding that keeps the size at stride 1 (odd kernels).
    Same,
}

/// One layer of a model, independent of any framework.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LayerSpec {
    /// 2-D convolution with bias.
    Conv {
        /// Output channels.
        out: usize,
        /// Square kernel side.
        kernel: usize,
        /// Stride (1 or 2).
        stride: usize,
        /// Padding.
        padding: Padding,
    },
    /// Max pooling with a square window and equal stride.
    MaxPool {
        /// Window side (= stride).
        size: usize,
    },
    /// Batch normalization over channels (after Conv) or features (after Dense).
    BatchNorm,
    /// ReLU.
    Relu,
    /// Dropout (identity at inference).
    Dropout {
        /// Drop probability.
        prob: f64,
    },
    /// `[N, C, H, W]` to `[N, C*H*W]`.
    Flatten,
    /// Fully connected layer with bias.
    Dense {
        /// Output features.
        out: usize,
    },
    /// `[N, F]` to `[N, 784 + F]`: the flattened input image, then the activation (a skip
    /// connection that lets the last layer see the raw pixels).
    ConcatInput,
}

/// The shape of an activation (batch excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Shape3 {
    /// Image-like `[C, H, W]`.
    Image {
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// Flat features.
    Flat(usize),
}

impl Shape3 {
    /// Number of elements.
    pub fn numel(self) -> usize {
        match self {
            Self::Image { c, h, w } => c * h * w,
            Self::Flat(n) => n,
        }
    }
}

impl fmt::Display for Shape3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image { c, h, w } => write!(f, "{c}x{h}x{w}"),
            Self::Flat(n) => write!(f, "{n}"),
        }
    }
}

/// The model input: one 28x28 channel.
pub const INPUT: Shape3 = Shape3::Image { c: 1, h: 28, w: 28 };

/// A layer list that does not chain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("layer {index} ({layer:?}) cannot take input of shape {input}")]
pub struct ShapeError {
    /// Position in the list.
    pub index: usize,
    /// The layer.
    pub layer: LayerSpec,
    /// The shape it was given.
    pub input: Shape3,
}

/// Output side of a convolution or pooling window.
fn conv_out(size: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    (size + 2 * pad).checked_sub(kernel).map(|d| d / stride + 1)
}

/// Padding on each side for `Same` (stride 1 keeps the size; stride 2 halves it, rounding up).
pub fn same_pad(kernel: usize) -> usize {
    (kernel - 1) / 2
}

impl LayerSpec {
    /// The output shape for `input`, or `None` if the layer cannot take it.
    pub fn output(&self, input: Shape3) -> Option<Shape3> {
        use Shape3::*;
        match (*self, input) {
            (Self::Conv { out, kernel, stride, padding }, Image { h, w, .. }) => {
                if kernel == 0 || !(1..=2).contains(&stride) || (padding == Padding::Same && kernel % 2 == 0) {
                    return None;
                }
                let pad = if padding == Padding::Same { same_pad(kernel) } else { 0 };
                Some(Image { c: out, h: conv_out(h, kernel, stride, pad)?, w: conv_out(w, kernel, stride, pad)? })
            }
            (Self::MaxPool { size }, Image { c, h, w }) if size > 0 && h >= size && w >= size => {
                Some(Image { c, h: h / size, w: w / size })
            }
            (Self::BatchNorm | Self::Relu | Self::Dropout { .. }, s) => Some(s),
            (Self::Flatten, s) => Some(Flat(s.numel())),
            (Self::Dense { out }, Flat(_)) => Some(Flat(out)),
            (Self::ConcatInput, Flat(n)) => Some(Flat(INPUT.numel() + n)),
            _ => None,
        }
    }

    /// Trainable and running parameters this layer holds for `input`.
    pub fn params(&self, input: Shape3) -> usize {
        match (*self, input) {
            (Self::Conv { out, kernel, .. }, Shape3::Image { c, .. }) => out * c * kernel * kernel + out,
            (Self::Dense { out }, Shape3::Flat(n)) => out * n + out,
            // gamma, beta (trainable) + running mean, var (state).
            (Self::BatchNorm, Shape3::Image { c, .. }) => 4 * c,
            (Self::BatchNorm, Shape3::Flat(n)) => 4 * n,
            _ => 0,
        }
    }
}

/// The shapes after each layer (the first entry is the input).
pub fn shapes(layers: &[LayerSpec]) -> Result<Vec<Shape3>, ShapeError> {
    let mut v = vec![INPUT];
    for (index, layer) in layers.iter().enumerate() {
        let input = *v.last().unwrap_or(&INPUT);
        let out = layer.output(input).ok_or(ShapeError { index, layer: *layer, input })?;
        v.push(out);
    }
    Ok(v)
}

/// Parameter count of a layer list (trainable and running statistics).
pub fn param_count(specs: &[LayerSpec]) -> Result<usize, ShapeError> {
    let shapes = shapes(specs)?;
    Ok(specs.iter().zip(&shapes).map(|(l, &s)| l.params(s)).sum())
}

/// Bytes of the largest pair of consecutive stored int8 activations: the input and the outputs
/// of each Conv, MaxPool and Dense (batch norm folds away; ReLU and dropout work in place). A
/// layer reads one buffer and writes the next, so this bounds the arena of a ping-pong engine
/// that does not fuse pooling into the convolution (infer-core does, and needs less).
pub fn largest_activation_pair(specs: &[LayerSpec]) -> Result<usize, ShapeError> {
    let shapes = shapes(specs)?;
    let mut stored = vec![INPUT.numel()];
    for (l, s) in specs.iter().zip(&shapes[1..]) {
        if matches!(
            l,
            LayerSpec::Conv { .. } | LayerSpec::MaxPool { .. } | LayerSpec::Dense { .. } | LayerSpec::ConcatInput
        ) {
            stored.push(s.numel());
        }
    }
    Ok(stored.windows(2).map(|w| w[0] + w[1]).max().unwrap_or(stored[0]))
}

/// Multiply-accumulates per image of a layer list.
pub fn macs(specs: &[LayerSpec]) -> Result<usize, ShapeError> {
    let shapes = shapes(specs)?;
    Ok(specs
        .iter()
        .zip(shapes.windows(2))
        .map(|(l, io)| match (*l, io[0], io[1]) {
            (LayerSpec::Conv { kernel, .. }, Shape3::Image { c, .. }, out) => out.numel() * c * kernel * kernel,
            (LayerSpec::Dense { out }, Shape3::Flat(n), _) => out * n,
            _ => 0,
        })
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_chains_are_rejected() {
        let e = shapes(&[LayerSpec::Dense { out: 3 }]).unwrap_err();
        assert_eq!(e.index, 0);
        assert!(e.to_string().contains("cannot take input of shape 1x28x28"), "{e}");
        assert!(shapes(&[LayerSpec::Flatten, LayerSpec::MaxPool { size: 2 }]).is_err());
        let same = LayerSpec::Conv { out: 4, kernel: 3, stride: 2, padding: Padding::Same };
        assert_eq!(same.output(INPUT), Some(Shape3::Image { c: 4, h: 14, w: 14 }));
    }
}
