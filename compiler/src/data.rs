//! The images the command line compiles with: a Fashion-MNIST folder (IDX files: calibration
//! and held-back images from the training set, the test set for the report), or a `.npy` array
//! of raw uint8 pixels (`[N,H,W]`, `[N,H·W]`, `[N,1,H,W]` or `[N,H,W,1]`), with labels from a
//! second `.npy` when given.

use std::path::Path;

use crate::error::CompileError;
use crate::images::Images;

/// Owned images and maybe labels.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    /// Raw pixels, image after image.
    pub pixels: Vec<u8>,
    /// Pixels per image.
    pub per_image: usize,
    /// One label per image, when known.
    pub labels: Option<Vec<u8>>,
}

impl ImageSet {
    /// A borrowed view.
    pub fn images(&self) -> Result<Images<'_>, CompileError> {
        let i = Images::new(&self.pixels, self.per_image)?;
        match &self.labels {
            Some(l) => i.with_labels(l),
            None => Ok(i),
        }
    }

    fn split_off_last(&mut self, n: usize) -> ImageSet {
        let count = self.pixels.len() / self.per_image.max(1);
        let keep = count - n.min(count);
        ImageSet {
            pixels: self.pixels.split_off(keep * self.per_image),
            per_image: self.per_image,
            labels: self.labels.as_mut().map(|l| l.split_off(keep)),
        }
    }
}

/// Calibration, held-back and (maybe) test images.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// For activation ranges.
    pub calibration: ImageSet,
    /// For choosing the calibration method.
    pub selection: ImageSet,
    /// For the report (labelled).
    pub test: Option<ImageSet>,
}

fn npy(path: &Path) -> Result<(Vec<u64>, Vec<u8>), CompileError> {
    let bytes = std::fs::read(path).map_err(|source| CompileError::Io { path: path.display().to_string(), source })?;
    let bad = |why: String| CompileError::BadImages(format!("{}: {why}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a .npy file ({e})")))?;
    let shape = file.shape().to_vec();
    let uint8 =
        matches!(file.dtype(), npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Uint && t.size_field() == 1);
    if !uint8 {
        return Err(bad(format!("dtype {:?}: the compiler takes raw uint8 pixels (0..=255)", file.dtype())));
    }
    let data: Vec<u8> = file.into_vec().map_err(|e| bad(format!("cannot read its data ({e})")))?;
    Ok((shape, data))
}

/// Reads `path` (a Fashion-MNIST folder or a `.npy` file) and holds back its last `held_back`
/// images (at most a tenth of a `.npy` set) for choosing the calibration method.
pub fn read(path: &Path, labels: Option<&Path>, held_back: usize) -> Result<Dataset, CompileError> {
    if path.is_dir() {
        if labels.is_some() {
            return Err(CompileError::Option("--labels goes with a .npy file; an IDX folder has its own".into()));
        }
        let data = fashion_mnist::FashionMnist::load(Some(path)).map_err(|e| CompileError::BadImages(e.to_string()))?;
        let per_image = fashion_mnist::idx::PIXELS;
        let set = |s: fashion_mnist::Split| ImageSet { pixels: s.pixels, per_image, labels: Some(s.labels) };
        let mut calibration = set(data.train);
        let selection = calibration.split_off_last(held_back);
        return Ok(Dataset { calibration, selection, test: Some(set(data.test)) });
    }
    let (shape, pixels) = npy(path)?;
    let per_image = match shape[..] {
        [_, hw] => hw,
        [_, h, w] | [_, 1, h, w] | [_, h, w, 1] => h * w,
        _ => 0,
    } as usize;
    if per_image == 0 || shape[0] == 0 {
        return Err(CompileError::BadImages(format!(
            "{}: shape {shape:?}; expected [N,H,W], [N,H·W], [N,1,H,W] or [N,H,W,1] with N ≥ 1",
            path.display()
        )));
    }
    let labels = match labels {
        None => None,
        Some(l) => {
            let (lshape, values) = npy(l)?;
            if lshape[..] != [shape[0]] {
                return Err(CompileError::BadImages(format!(
                    "{}: shape {lshape:?}, expected [{}] (one label per image)",
                    l.display(),
                    shape[0]
                )));
            }
            Some(values)
        }
    };
    let mut calibration = ImageSet { pixels, per_image, labels };
    let n = shape[0] as usize;
    let selection = calibration.split_off_last(held_back.min(n / 10));
    Ok(Dataset { calibration, selection, test: None })
}
