//! Where the Fashion-MNIST files come from: resolution order, checksums, download.
//!
//! Resolution order (first that applies wins):
//! 1. `--data-dir DIR` (must hold the four files, else an error);
//! 2. `FASHION_MNIST_DIR` (must hold the four files, else an error);
//! 3. `../shared/data/fashion-mnist` seen from the working directory or from the workspace;
//! 4. the per-user cache `$XDG_CACHE_HOME/fmnist-edge/fashion-mnist` (or `~/.cache/...`);
//! 5. only when none of the above holds the files: download the official files into the cache,
//!    verify each checksum, and rename it into place (a half-written file never has the final
//!    name, so the loader can never see one).

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

/// The four files of the dataset, by their official base names (without `.gz`).
pub const FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Official download mirrors, tried in order.
pub const MIRRORS: [&str; 2] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
];

/// A checksum a file is accepted under.
#[derive(Debug, Clone, Copy)]
pub struct KnownChecksum {
    /// Base name of the file.
    pub file: &'static str,
    /// Which copy of the dataset this describes.
    pub variant: &'static str,
    /// Algorithm: "md5" or "sha256".
    pub algo: &'static str,
    /// Whether it is the checksum of the gzip file (else of the raw IDX file).
    pub gzip: bool,
    /// Lower-case hex digest.
    pub hex: &'static str,
}

const fn k(
    file: &'static str,
    variant: &'static str,
    algo: &'static str,
    gzip: bool,
    hex: &'static str,
) -> KnownChecksum {
    KnownChecksum { file, variant, algo, gzip, hex }
}

/// Every checksum we accept: the official MD5s of the gzip files, and the sha256 values of the
/// project's shared copy (`../shared/data/fashion-mnist/README.md`), gzip and raw.
pub const KNOWN: [KnownChecksum; 12] = [
    k(FILES[0], "official", "md5", true, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    k(FILES[1], "official", "md5", true, "25c81989df183df01b3e8a0aad5dffbe"),
    k(FILES[2], "official", "md5", true, "bef4ecab320f06d8554ea6380940ec79"),
    k(FILES[3], "official", "md5", true, "bb300cfdad3c16e7a12a480ee83cd310"),
    k(FILES[0], "shared", "sha256", true, "f46450982819e161325683178a5324fc64e606fb3758c65c6ca7dcc91aa489fd"),
    k(FILES[1], "shared", "sha256", true, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    k(FILES[2], "shared", "sha256", true, "55ec2dd7358c56fba81678bf2cd00a44de07bae64c342921600298a2b5eb517d"),
    k(FILES[3], "shared", "sha256", true, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    k(FILES[0], "shared", "sha256", false, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    k(FILES[1], "shared", "sha256", false, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    k(FILES[2], "shared", "sha256", false, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    k(FILES[3], "shared", "sha256", false, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
];

/// Why no dataset could be found or fetched.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An explicitly named folder lacks a file.
    #[error("{origin} points at {}, which has no {file} (nor {file}.gz)", dir.display())]
    MissingFile {
        /// Which setting named the folder.
        origin: Origin,
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        file: &'static str,
    },
    /// A download failed on every mirror.
    #[error("could not download {file}: {reason}")]
    Download {
        /// The file.
        file: &'static str,
        /// What went wrong, per mirror.
        reason: String,
    },
    /// A downloaded file has an unknown checksum.
    #[error("downloaded {file} has md5 {md5} / sha256 {sha256}, which matches no known checksum")]
    Checksum {
        /// The file.
        file: &'static str,
        /// Its md5.
        md5: String,
        /// Its sha256.
        sha256: String,
    },
    /// File system trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No cache directory could be determined and nothing else holds the files.
    #[error("no dataset found and no cache directory (set FASHION_MNIST_DIR or pass --data-dir)")]
    NoCacheDir,
}

/// Which rule located the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Origin {
    /// `--data-dir`.
    Flag,
    /// `FASHION_MNIST_DIR`.
    Env,
    /// `../shared/data/fashion-mnist`.
    Shared,
    /// The per-user cache.
    Cache,
    /// Downloaded into the cache just now.
    Downloaded,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flag => "--data-dir",
            Self::Env => "FASHION_MNIST_DIR",
            Self::Shared => "../shared/data/fashion-mnist",
            Self::Cache => "the cache",
            Self::Downloaded => "a fresh download",
        })
    }
}

/// The resolved location of the four files.
#[derive(Debug, Clone)]
pub struct Located {
    /// Folder that holds them.
    pub dir: PathBuf,
    /// How it was found.
    pub origin: Origin,
    /// Full paths, in the order of [`FILES`].
    pub paths: [PathBuf; 4],
}

/// The path of `file` (gzip preferred, else raw) inside `dir`, if present.
pub fn find_file(dir: &Path, file: &str) -> Option<PathBuf> {
    [format!("{file}.gz"), file.to_string()].into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

fn all_files(dir: &Path) -> Option<[PathBuf; 4]> {
    let v: Vec<PathBuf> = FILES.iter().filter_map(|f| find_file(dir, f)).collect();
    v.try_into().ok()
}

fn require_all(dir: &Path, origin: Origin) -> Result<Located, SourceError> {
    for file in FILES {
        if find_file(dir, file).is_none() {
            return Err(SourceError::MissingFile { origin, dir: dir.to_path_buf(), file });
        }
    }
    let paths = all_files(dir).ok_or(SourceError::NoCacheDir)?;
    Ok(Located { dir: dir.to_path_buf(), origin, paths })
}

/// The per-user cache folder for the dataset.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("fmnist-edge").join("fashion-mnist"))
}

/// Candidate locations of the shared copy.
fn shared_candidates() -> Vec<PathBuf> {
    let rel = Path::new("..").join("shared").join("data").join("fashion-mnist");
    let mut v = vec![rel.clone()];
    // The workspace root is one level above this crate.
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    v.push(ws.join(&rel));
    v
}

/// Resolves the dataset location without touching the network.
/// Returns `Ok(None)` when only a download could provide it.
pub fn locate_offline(flag: Option<&Path>) -> Result<Option<Located>, SourceError> {
    if let Some(dir) = flag {
        return require_all(dir, Origin::Flag).map(Some);
    }
    if let Some(dir) = std::env::var_os("FASHION_MNIST_DIR").filter(|d| !d.is_empty()) {
        return require_all(Path::new(&dir), Origin::Env).map(Some);
    }
    for dir in shared_candidates() {
        if let Some(paths) = all_files(&dir) {
            return Ok(Some(Located { dir, origin: Origin::Shared, paths }));
        }
    }
    if let Some(dir) = cache_dir()
        && let Some(paths) = all_files(&dir)
    {
        return Ok(Some(Located { dir, origin: Origin::Cache, paths }));
    }
    Ok(None)
}

/// Resolves the dataset location, downloading into the cache as a last resort.
pub fn locate(flag: Option<&Path>) -> Result<Located, SourceError> {
    if let Some(found) = locate_offline(flag)? {
        return Ok(found);
    }
    let dir = cache_dir().ok_or(SourceError::NoCacheDir)?;
    download_all(&dir)?;
    let mut found = require_all(&dir, Origin::Cache)?;
    found.origin = Origin::Downloaded;
    Ok(found)
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// md5 and sha256 of a byte buffer, hex.
pub fn digests(bytes: &[u8]) -> (String, String) {
    (hex(&Md5::digest(bytes)), hex(&Sha256::digest(bytes)))
}

/// The known checksum a file's bytes match, if any.
pub fn identify(file: &str, bytes: &[u8]) -> Option<&'static KnownChecksum> {
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let (md5, sha) = digests(bytes);
    KNOWN.iter().find(|c| {
        c.file == file
            && c.gzip == gzip
            && match c.algo {
                "md5" => c.hex == md5,
                _ => c.hex == sha,
            }
    })
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io { path: path.to_path_buf(), source }
}

/// Downloads the files the cache lacks, each verified and atomically renamed into place.
pub fn download_all(dir: &Path) -> Result<(), SourceError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    for file in FILES {
        if find_file(dir, file).is_some() {
            continue;
        }
        let mut reasons = Vec::new();
        let mut done = false;
        for mirror in MIRRORS {
            let url = format!("{mirror}{file}.gz");
            match fetch(&url, file) {
                Ok(bytes) => {
                    if identify(file, &bytes).is_none() {
                        let (md5, sha256) = digests(&bytes);
                        return Err(SourceError::Checksum { file, md5, sha256 });
                    }
                    install_atomically(dir, &format!("{file}.gz"), &bytes)?;
                    done = true;
                    break;
                }
                Err(e) => reasons.push(format!("{url}: {e}")),
            }
        }
        if !done {
            return Err(SourceError::Download { file, reason: reasons.join("; ") });
        }
    }
    Ok(())
}

fn fetch(url: &str, file: &str) -> Result<Vec<u8>, String> {
    let resp = ureq::get(url).call().map_err(|e| e.to_string())?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(file.to_string());
    let mut reader = resp.into_body().into_reader();
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish();
    Ok(out)
}

/// Writes `bytes` to `dir/name` so that the final name only ever holds complete content:
/// write to a unique temporary name in the same folder, flush to disk, then rename.
pub fn install_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, SourceError> {
    let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let dst = dir.join(name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &dst)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        SourceError::Io { path: dst.clone(), source }
    })?;
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_known_and_rejects_unknown() {
        assert!(identify(FILES[1], b"not the labels").is_none());
        // md5("") is known not to be one of ours.
        assert!(identify(FILES[0], b"").is_none());
    }

    #[test]
    fn flag_dir_without_files_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = locate_offline(Some(dir.path())).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("--data-dir points at"), "{msg}");
        assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
    }

    #[test]
    fn flag_dir_with_raw_or_gzip_files_resolves() {
        let dir = tempfile::tempdir().unwrap();
        for (i, f) in FILES.iter().enumerate() {
            let name = if i % 2 == 0 { format!("{f}.gz") } else { f.to_string() };
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let found = locate_offline(Some(dir.path())).unwrap().unwrap();
        assert_eq!(found.origin, Origin::Flag);
        assert!(found.paths[0].ends_with("train-images-idx3-ubyte.gz"));
        assert!(found.paths[1].ends_with("train-labels-idx1-ubyte"));
    }

    #[test]
    fn atomic_install_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = install_atomically(dir.path(), "f.gz", b"hello").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["f.gz".to_string()]);
        // Into a folder that does not exist: an error, and nothing left behind.
        let missing = dir.path().join("nope");
        assert!(install_atomically(&missing, "g", b"x").is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn shared_copy_checksums_are_accepted() {
        // The project's shared copy (when present beside the checkout) must be recognised.
        let found = locate_offline(None)
            .unwrap()
            .expect("tests need the dataset: set FASHION_MNIST_DIR=../shared/data/fashion-mnist");
        for (f, p) in FILES.iter().zip(&found.paths) {
            let bytes = std::fs::read(p).unwrap();
            let k = identify(f, &bytes).unwrap_or_else(|| panic!("{} not recognised", p.display()));
            // The shared label files are the official bytes; its image files were rebuilt.
            let expected = if f.contains("labels") { "official" } else { "shared" };
            assert_eq!(k.variant, expected, "{f}");
        }
    }
}
