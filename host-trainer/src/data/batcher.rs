//! Turns images into burn tensors: pixels scaled to [0,1], in either layout.

use burn::prelude::*;

use fashion_mnist::Split;
use fashion_mnist::idx::{PIXELS, SIDE};

/// A batch of images and their labels on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Images, `[N, 1, 28, 28]`, values in [0, 1].
    pub images: Tensor<4>,
    /// Labels, `[N]`.
    pub targets: Tensor<1, Int>,
}

impl Batch {
    /// The images flattened to `[N, 784]` (the MLP layout).
    pub fn flat(&self) -> Tensor<2> {
        self.images.clone().flatten(1, 3)
    }
}

/// Scales raw pixels to f32 in [0,1] (x / 255), the model's input convention.
pub fn scale_pixels(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
}

/// Builds the batch made of `indices` of `split`.
pub fn batch(split: &Split, indices: &[usize], device: &Device) -> Batch {
    let mut pixels = Vec::with_capacity(indices.len() * PIXELS);
    let mut labels = Vec::with_capacity(indices.len());
    for &i in indices {
        pixels.extend_from_slice(split.image(i));
        labels.push(i64::from(split.labels[i]));
    }
    images_batch(&pixels, labels, device)
}

/// Builds a batch from raw pixels (`n * 784` bytes) and labels.
pub fn images_batch(pixels: &[u8], labels: Vec<i64>, device: &Device) -> Batch {
    let n = labels.len();
    let images = Tensor::<4>::from_data(TensorData::new(scale_pixels(pixels), [n, 1, SIDE, SIDE]), device);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    Batch { images, targets }
}

/// Consecutive index ranges of at most `size` over `order`.
pub fn chunks(order: &[usize], size: usize) -> impl Iterator<Item = &[usize]> {
    order.chunks(size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_hold_scaled_pixels_in_order() {
        let device = Device::flex();
        let split = Split {
            pixels: (0..3 * PIXELS).map(|i| if i / PIXELS == 1 { 255 } else { (i % 256) as u8 }).collect(),
            labels: vec![4, 7, 9],
        };
        let b = batch(&split, &[1, 0], &device);
        assert_eq!(b.images.dims(), [2, 1, 28, 28]);
        assert_eq!(b.flat().dims(), [2, 784]);
        let v: Vec<f32> = b.flat().into_data().try_into_vec_as().unwrap();
        assert!(v[..PIXELS].iter().all(|&x| x == 1.0));
        assert_eq!(v[PIXELS + 3], 3.0 / 255.0);
        assert!(v.iter().all(|&x| (0.0..=1.0).contains(&x)));
        let t: Vec<i64> = b.targets.into_data().try_into_vec_as().unwrap();
        assert_eq!(t, vec![7, 4]);
    }
}
