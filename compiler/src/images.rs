//! Images as the device gets them: raw 8-bit pixels, row-major, one image after the other, with
//! labels when they are known. The compiler calibrates, chooses its calibration method and
//! measures accuracy on these.

use fashion_mnist::Split;

use crate::error::CompileError;

/// A set of images (and maybe their labels), borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Images<'a> {
    pixels: &'a [u8],
    per_image: usize,
    labels: Option<&'a [u8]>,
}

impl<'a> Images<'a> {
    /// `pixels` holds whole images of `per_image` pixels each.
    pub fn new(pixels: &'a [u8], per_image: usize) -> Result<Self, CompileError> {
        if per_image == 0 || !pixels.len().is_multiple_of(per_image) {
            return Err(CompileError::BadImages(format!(
                "{} pixels are not whole images of {per_image} pixels",
                pixels.len()
            )));
        }
        Ok(Self { pixels, per_image, labels: None })
    }

    /// The same images with one label each.
    pub fn with_labels(self, labels: &'a [u8]) -> Result<Self, CompileError> {
        if labels.len() != self.len() {
            return Err(CompileError::BadImages(format!("{} images but {} labels", self.len(), labels.len())));
        }
        Ok(Self { labels: Some(labels), ..self })
    }

    /// A Fashion-MNIST split (28 x 28, labelled).
    pub fn from_split(split: &'a Split) -> Self {
        Self { pixels: &split.pixels, per_image: fashion_mnist::idx::PIXELS, labels: Some(&split.labels) }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.per_image
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Pixels per image.
    pub fn per_image(&self) -> usize {
        self.per_image
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &'a [u8] {
        &self.pixels[i * self.per_image..(i + 1) * self.per_image]
    }

    /// The labels, when known.
    pub fn labels(&self) -> Option<&'a [u8]> {
        self.labels
    }

    /// Images `start..end` (clamped to what there is).
    pub fn range(&self, start: usize, end: usize) -> Images<'a> {
        let (start, end) = (start.min(self.len()), end.min(self.len()).max(start.min(self.len())));
        Images {
            pixels: &self.pixels[start * self.per_image..end * self.per_image],
            per_image: self.per_image,
            labels: self.labels.map(|l| &l[start..end]),
        }
    }
}
