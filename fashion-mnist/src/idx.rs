//! A small, strict reader for the IDX files Fashion-MNIST ships in.
//!
//! IDX layout (big-endian): two zero bytes, a type code (0x08 = u8), the number of
//! dimensions, then one u32 per dimension, then the data. Fashion-MNIST uses magic
//! `0x00000803` (u8, 3 dims: count, rows, cols) for images and `0x00000801` (u8, 1 dim:
//! count) for labels. Files may be gzip-compressed (detected by the gzip magic bytes).
//!
//! Every violation is an [`IdxError`] that names the file and what is wrong.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of u8 with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of u8 with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Image side in pixels.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes.
pub const CLASSES: usize = 10;
/// The most bytes a gzip-compressed file may inflate to: 64 MiB (Fashion-MNIST's training
/// images are 47,040,016 bytes), so a small hostile file cannot fill the memory.
pub const MAX_INFLATED: usize = 64 << 20;

/// What is wrong with an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdxProblem {
    /// The file could not be read.
    Io(String),
    /// The gzip stream is corrupt or truncated.
    BadGzip(String),
    /// The gzip stream inflates to more than [`MAX_INFLATED`] bytes.
    Inflates {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Fewer bytes than the header needs.
    TruncatedHeader {
        /// Bytes present.
        len: usize,
    },
    /// The magic number is not the expected one.
    WrongMagic {
        /// Expected magic.
        expected: u32,
        /// Found magic.
        found: u32,
    },
    /// Images are not 28x28.
    WrongDimensions {
        /// Rows found.
        rows: u32,
        /// Columns found.
        cols: u32,
    },
    /// The payload is shorter than the header announces.
    Truncated {
        /// Bytes the header announces (header included).
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The payload is longer than the header announces.
    TrailingBytes {
        /// Bytes the header announces (header included).
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A label outside 0..=9.
    BadLabel {
        /// Index of the label.
        index: usize,
        /// Its value.
        value: u8,
    },
}

impl fmt::Display for IdxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read: {e}"),
            Self::BadGzip(e) => write!(f, "bad gzip stream: {e}"),
            Self::Inflates { limit } => write!(f, "the gzip stream inflates to more than {limit} bytes"),
            Self::TruncatedHeader { len } => {
                write!(f, "truncated header: only {len} bytes")
            }
            Self::WrongMagic { expected, found } => {
                write!(f, "wrong magic number 0x{found:08x} (expected 0x{expected:08x})")
            }
            Self::WrongDimensions { rows, cols } => {
                write!(f, "images are {rows}x{cols}, expected {SIDE}x{SIDE}")
            }
            Self::Truncated { expected, found } => {
                write!(f, "truncated: {found} bytes, header announces {expected}")
            }
            Self::TrailingBytes { expected, found } => {
                write!(f, "wrong length: {found} bytes, header announces {expected} (trailing bytes)")
            }
            Self::BadLabel { index, value } => {
                write!(f, "bad label {value} at index {index} (labels are 0..=9)")
            }
        }
    }
}

/// An IDX file that failed to load, with the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct IdxError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: IdxProblem,
}

/// Images and labels that failed to pair up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// One of the files is bad.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// The files hold different numbers of items.
    #[error("count mismatch: {images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        /// Images file.
        images: String,
        /// Number of images.
        n_images: usize,
        /// Labels file.
        labels: String,
        /// Number of labels.
        n_labels: usize,
    },
}

/// Reads a file whole, inflating it if it starts with the gzip magic.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, IdxError> {
    let err = |problem| IdxError { path: path.to_path_buf(), problem };
    let raw = std::fs::read(path).map_err(|e| err(IdxProblem::Io(e.to_string())))?;
    inflate_maybe_gzip(raw).map_err(err)
}

/// `raw`, inflated if it starts with the gzip magic (to at most [`MAX_INFLATED`] bytes).
pub fn inflate_maybe_gzip(raw: Vec<u8>) -> Result<Vec<u8>, IdxProblem> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(MAX_INFLATED));
    flate2::read::GzDecoder::new(raw.as_slice())
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IdxProblem::BadGzip(e.to_string()))?;
    if out.len() > MAX_INFLATED {
        return Err(IdxProblem::Inflates { limit: MAX_INFLATED });
    }
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn check_header(bytes: &[u8], magic: u32, dims: usize) -> Result<Vec<u32>, IdxProblem> {
    let header = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(IdxProblem::TruncatedHeader { len: bytes.len() });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(IdxProblem::WrongMagic { expected: magic, found });
    }
    if bytes.len() < header {
        return Err(IdxProblem::TruncatedHeader { len: bytes.len() });
    }
    Ok((0..dims).map(|d| be_u32(bytes, 4 + 4 * d)).collect())
}

fn check_len(bytes: &[u8], expected: usize) -> Result<(), IdxProblem> {
    use std::cmp::Ordering;
    match bytes.len().cmp(&expected) {
        Ordering::Less => Err(IdxProblem::Truncated { expected, found: bytes.len() }),
        Ordering::Greater => Err(IdxProblem::TrailingBytes { expected, found: bytes.len() }),
        Ordering::Equal => Ok(()),
    }
}

/// Parses an images file's bytes: returns the count and the pixels (count x 784, row-major).
pub fn parse_images(bytes: &[u8]) -> Result<(usize, Vec<u8>), IdxProblem> {
    let dims = check_header(bytes, IMAGES_MAGIC, 3)?;
    let (n, rows, cols) = (dims[0] as usize, dims[1], dims[2]);
    if rows as usize != SIDE || cols as usize != SIDE {
        return Err(IdxProblem::WrongDimensions { rows, cols });
    }
    let expected = n.checked_mul(PIXELS).and_then(|p| p.checked_add(16)).unwrap_or(usize::MAX);
    check_len(bytes, expected)?;
    Ok((n, bytes[16..].to_vec()))
}

/// Parses a labels file's bytes; every label must be in 0..=9.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<u8>, IdxProblem> {
    let dims = check_header(bytes, LABELS_MAGIC, 1)?;
    let n = dims[0] as usize;
    check_len(bytes, n.saturating_add(8))?;
    let labels = bytes[8..].to_vec();
    if let Some((index, &value)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= CLASSES) {
        return Err(IdxProblem::BadLabel { index, value });
    }
    Ok(labels)
}

/// Reads and validates an images file (gzip or raw).
pub fn read_images(path: &Path) -> Result<(usize, Vec<u8>), IdxError> {
    let bytes = read_maybe_gzip(path)?;
    parse_images(&bytes).map_err(|problem| IdxError { path: path.to_path_buf(), problem })
}

/// Reads and validates a labels file (gzip or raw).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    let bytes = read_maybe_gzip(path)?;
    parse_labels(&bytes).map_err(|problem| IdxError { path: path.to_path_buf(), problem })
}

/// Reads an images file and its labels file and checks that their counts match.
pub fn read_pair(images: &Path, labels: &Path) -> Result<(Vec<u8>, Vec<u8>), PairError> {
    let (n_images, pixels) = read_images(images)?;
    let label_values = read_labels(labels)?;
    if n_images != label_values.len() {
        return Err(PairError::CountMismatch {
            images: images.display().to_string(),
            n_images,
            labels: labels.display().to_string(),
            n_labels: label_values.len(),
        });
    }
    Ok((pixels, label_values))
}

/// Encodes images as an IDX byte buffer (used by tests and tools that write subsets).
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    let n = (pixels.len() / PIXELS) as u32;
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, n, SIDE as u32, SIDE as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX byte buffer.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn sample(n: usize) -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..n * PIXELS).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        (pixels, labels)
    }

    #[test]
    fn reads_good_raw_and_gzip_files() {
        let dir = tempfile::tempdir().unwrap();
        let (pixels, labels) = sample(3);
        for (suffix, enc) in [("", false), (".gz", true)] {
            let img = encode_images(&pixels);
            let lab = encode_labels(&labels);
            let (img, lab) = if enc { (gzip(&img), gzip(&lab)) } else { (img, lab) };
            let ip = write(dir.path(), &format!("img{suffix}"), &img);
            let lp = write(dir.path(), &format!("lab{suffix}"), &lab);
            let (p, l) = read_pair(&ip, &lp).unwrap();
            assert_eq!(p, pixels);
            assert_eq!(l, labels);
        }
    }

    fn problem_of_images(bytes: &[u8]) -> IdxError {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "images.idx", bytes);
        let e = read_images(&p).unwrap_err();
        // The message always names the file.
        assert!(e.to_string().contains("images.idx"), "{e}");
        e
    }

    #[test]
    fn wrong_magic_is_named() {
        let (pixels, _) = sample(1);
        let mut b = encode_images(&pixels);
        b[3] = 0x01;
        let e = problem_of_images(&b);
        assert_eq!(e.problem, IdxProblem::WrongMagic { expected: IMAGES_MAGIC, found: 0x801 });
        assert!(e.to_string().contains("wrong magic number 0x00000801"), "{e}");
        // Labels given where images are expected.
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "l", &encode_labels(&[1, 2]));
        assert!(matches!(read_images(&p).unwrap_err().problem, IdxProblem::WrongMagic { .. }));
    }

    #[test]
    fn truncated_payload_and_header() {
        let (pixels, _) = sample(2);
        let b = encode_images(&pixels);
        let e = problem_of_images(&b[..b.len() - 1]);
        assert_eq!(e.problem, IdxProblem::Truncated { expected: 16 + 2 * PIXELS, found: 16 + 2 * PIXELS - 1 });
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = problem_of_images(&b[..10]);
        assert_eq!(e.problem, IdxProblem::TruncatedHeader { len: 10 });
        let e = problem_of_images(&b[..2]);
        assert_eq!(e.problem, IdxProblem::TruncatedHeader { len: 2 });
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let (pixels, _) = sample(1);
        let mut b = encode_images(&pixels);
        b.push(0);
        let e = problem_of_images(&b);
        assert!(matches!(e.problem, IdxProblem::TrailingBytes { .. }));
        assert!(e.to_string().contains("trailing bytes"), "{e}");
    }

    #[test]
    fn wrong_dimensions() {
        let mut b = Vec::new();
        for v in [IMAGES_MAGIC, 1, 32, 32] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend(std::iter::repeat_n(0u8, 32 * 32));
        let e = problem_of_images(&b);
        assert_eq!(e.problem, IdxProblem::WrongDimensions { rows: 32, cols: 32 });
        assert!(e.to_string().contains("32x32"), "{e}");
    }

    #[test]
    fn huge_count_does_not_overflow() {
        let mut b = Vec::new();
        for v in [IMAGES_MAGIC, u32::MAX, 28, 28] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let e = problem_of_images(&b);
        assert!(matches!(e.problem, IdxProblem::Truncated { .. }));
    }

    #[test]
    fn bad_label_is_named_with_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "labels.idx", &encode_labels(&[0, 9, 10, 3]));
        let e = read_labels(&p).unwrap_err();
        assert_eq!(e.problem, IdxProblem::BadLabel { index: 2, value: 10 });
        assert!(e.to_string().contains("labels.idx: bad label 10 at index 2"), "{e}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // 65 MiB of zeros compress to about 65 kB.
        let bomb = gzip(&vec![0u8; MAX_INFLATED + (1 << 20)]);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(inflate_maybe_gzip(bomb), Err(IdxProblem::Inflates { limit: MAX_INFLATED }));
        let fits = gzip(&vec![7u8; MAX_INFLATED]);
        assert_eq!(inflate_maybe_gzip(fits).map(|v| v.len()), Ok(MAX_INFLATED));
    }

    #[test]
    fn bad_gzip_is_reported() {
        let (pixels, _) = sample(2);
        let gz = gzip(&encode_images(&pixels));
        let e = problem_of_images(&gz[..gz.len() / 2]);
        assert!(matches!(e.problem, IdxProblem::BadGzip(_)), "{e:?}");
        assert!(e.to_string().contains("bad gzip"), "{e}");
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (pixels, labels) = sample(3);
        let ip = write(dir.path(), "imgs", &encode_images(&pixels));
        let lp = write(dir.path(), "labs", &encode_labels(&labels[..2]));
        let e = read_pair(&ip, &lp).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, PairError::CountMismatch { n_images: 3, n_labels: 2, .. }));
        assert!(msg.contains("imgs") && msg.contains("labs") && msg.contains("count mismatch"), "{msg}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = read_images(Path::new("/nonexistent/x.gz")).unwrap_err();
        assert!(matches!(e.problem, IdxProblem::Io(_)));
        assert!(e.to_string().starts_with("/nonexistent/x.gz: cannot read"), "{e}");
    }
}
