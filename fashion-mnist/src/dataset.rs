//! The dataset in memory: raw u8 pixels and labels, a seeded train/validation split,
//! and subsets by index.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::idx::{self, PIXELS, SIDE};
use crate::source::{self, Located, SourceError};

/// Class names, in label order.
pub const CLASS_NAMES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// A set of images (28x28 u8, row-major, one after the other) with their labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// `len() * 784` pixels.
    pub pixels: Vec<u8>,
    /// One label (0..=9) per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    /// A new split made of the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Split {
        let mut pixels = Vec::with_capacity(indices.len() * PIXELS);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Split { pixels, labels }
    }

    /// The first `n` images (all if fewer).
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split { pixels: self.pixels[..n * PIXELS].to_vec(), labels: self.labels[..n].to_vec() }
    }

    /// The same images mirrored left-right (labels unchanged): the second view of flip
    /// test-time augmentation.
    pub fn mirrored(&self) -> Split {
        let mut pixels = self.pixels.clone();
        for row in pixels.chunks_exact_mut(SIDE) {
            row.reverse();
        }
        Split { pixels, labels: self.labels.clone() }
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; 10] {
        let mut c = [0; 10];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

/// Checksums and provenance of the files a dataset was read from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    /// File name.
    pub name: String,
    /// sha256 of the file as stored (gzip or raw).
    pub sha256: String,
    /// Which known copy it matches ("official", "shared") or "unknown".
    pub variant: String,
}

/// The full Fashion-MNIST dataset.
#[derive(Debug, Clone)]
pub struct FashionMnist {
    /// The 60,000 training images.
    pub train: Split,
    /// The 10,000 test images.
    pub test: Split,
    /// Where they came from.
    pub located: Located,
    /// Checksums of the four files.
    pub files: Vec<FileInfo>,
}

/// Why the dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// No files could be located or fetched.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file is malformed.
    #[error(transparent)]
    Idx(#[from] idx::PairError),
    /// A split request that cannot be met.
    #[error("cannot hold out {val} validation images from {total} training images")]
    BadSplit {
        /// Requested validation size.
        val: usize,
        /// Available images.
        total: usize,
    },
}

impl FashionMnist {
    /// Locates (downloading only as a last resort) and loads the dataset.
    pub fn load(data_dir: Option<&Path>) -> Result<Self, DataError> {
        let located = source::locate(data_dir)?;
        Self::load_from(located)
    }

    /// Loads the four files of an already located dataset.
    pub fn load_from(located: Located) -> Result<Self, DataError> {
        let [ti, tl, vi, vl] = &located.paths;
        let (p, l) = idx::read_pair(ti, tl)?;
        let train = Split { pixels: p, labels: l };
        let (p, l) = idx::read_pair(vi, vl)?;
        let test = Split { pixels: p, labels: l };
        let files = located
            .paths
            .iter()
            .zip(source::FILES)
            .map(|(path, base)| {
                let bytes = std::fs::read(path).unwrap_or_default();
                let (_, sha256) = source::digests(&bytes);
                FileInfo {
                    name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    sha256,
                    variant: source::identify(base, &bytes).map_or("unknown", |k| k.variant).to_string(),
                }
            })
            .collect();
        Ok(Self { train, test, located, files })
    }
}

/// Splits `train` into (train, validation) with a seeded shuffle: the same seed always gives
/// the same split. `val` images go to validation.
pub fn train_val_split(train: &Split, val: usize, seed: u64) -> Result<(Split, Split), DataError> {
    if val >= train.len() {
        return Err(DataError::BadSplit { val, total: train.len() });
    }
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (v, t) = order.split_at(val);
    Ok((train.subset(t), train.subset(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Split {
        Split {
            pixels: (0..n * PIXELS).map(|i| (i / PIXELS) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
        }
    }

    #[test]
    fn mirrored_reverses_every_row_and_keeps_labels() {
        let s = Split { pixels: (0..2 * PIXELS).map(|i| (i * 7 % 251) as u8).collect(), labels: vec![3, 8] };
        let m = s.mirrored();
        assert_eq!(m.labels, s.labels);
        for i in 0..2 {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    assert_eq!(m.image(i)[y * SIDE + x], s.image(i)[y * SIDE + SIDE - 1 - x]);
                }
            }
        }
        assert_ne!(m, s);
        assert_eq!(m.mirrored(), s);
    }

    #[test]
    fn split_is_deterministic_per_seed_and_a_partition() {
        let s = toy(100);
        let (a_t, a_v) = train_val_split(&s, 20, 7).unwrap();
        let (b_t, b_v) = train_val_split(&s, 20, 7).unwrap();
        assert_eq!(a_t, b_t);
        assert_eq!(a_v, b_v);
        assert_eq!((a_t.len(), a_v.len()), (80, 20));
        // Every image lands in exactly one side (image i is filled with byte i).
        let mut seen: Vec<u8> = a_t.pixels.chunks(PIXELS).chain(a_v.pixels.chunks(PIXELS)).map(|c| c[0]).collect();
        seen.sort();
        assert_eq!(seen, (0..100).map(|i| i as u8).collect::<Vec<_>>());
        // Labels travel with their image.
        for (img, &l) in a_v.pixels.chunks(PIXELS).zip(&a_v.labels) {
            assert_eq!(img[0] % 10, l);
        }
        let (_, c_v) = train_val_split(&s, 20, 8).unwrap();
        assert_ne!(a_v, c_v, "another seed gives another split");
    }

    #[test]
    fn impossible_split_is_an_error() {
        let e = train_val_split(&toy(10), 10, 0).unwrap_err();
        assert_eq!(e.to_string(), "cannot hold out 10 validation images from 10 training images");
    }

    #[test]
    fn real_dataset_loads_with_expected_shape() {
        let d = FashionMnist::load(None).expect("tests need FASHION_MNIST_DIR or ../shared");
        assert_eq!(d.train.len(), 60_000);
        assert_eq!(d.test.len(), 10_000);
        assert_eq!(d.test.class_counts(), [1000; 10]);
        assert_eq!(d.train.class_counts(), [6000; 10]);
        assert!(d.files.iter().all(|f| f.variant != "unknown"), "{:?}", d.files);
        let (t, v) = train_val_split(&d.train, 6000, 42).unwrap();
        assert_eq!((t.len(), v.len()), (54_000, 6_000));
    }
}
