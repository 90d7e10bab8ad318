//! Build script: picks the memory map (QEMU or board) and the model (`MODEL`, a published
//! model's name from `../onnx-models/artifacts/manifest.json`; default `cnn-edge`), and runs
//! that model with infer-core on the host over the images the firmware will classify, so the
//! firmware knows the logits hash and the accuracy it must reproduce bit for bit, and the
//! arena size it needs.
//!
//! Images: under QEMU, the real test set, which the firmware reads from the host through
//! semihosting (`IMAGES=all`, the default: all 10,000; `IMAGES=N`: the first N of each class,
//! in test-set order), written here as raw pixels into `OUT_DIR`; on a board (`nrf52840`), the
//! 260 images of `data/` embedded in flash.
//!
//! `PART=qemu-full` links for all of QEMU's 4 MiB of flash and RAM instead of a 1 MiB part's
//! (`boards/qemu-memory.x`), for models that do not fit one.
//!
//! `CORRUPT=flip` flips one byte of the embedded blob (its CRC no longer matches), and
//! `CORRUPT=offset` points its first op's weights outside the blob and reseals the CRC: the
//! firmware must then end with infer-core's typed error (exit code 2).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod hash {
    include!("src/hash.rs");
}

fn read(p: &Path) -> Vec<u8> {
    println!("cargo:rerun-if-changed={}", p.display());
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fail(msg: String) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

/// The blob of the published model `name`.
fn published_blob(root: &Path, name: &str) -> Vec<u8> {
    let dir = root.join("../onnx-models/artifacts");
    let manifest: serde_json::Value = serde_json::from_slice(&read(&dir.join("manifest.json")))
        .unwrap_or_else(|e| fail(format!("manifest.json: {e}")));
    let models = manifest["models"].as_object().unwrap_or_else(|| fail("manifest.json has no models".into()));
    let Some(entry) = models.get(name) else {
        let names: Vec<&String> = models.keys().collect();
        fail(format!("MODEL={name} is not a published model; published: {names:?}"))
    };
    let file = entry["blob"]["file"].as_str().unwrap_or_else(|| fail(format!("{name}: no blob in the manifest")));
    read(&dir.join(file))
}

/// `CORRUPT`: break the blob the way its name says.
fn corrupt(blob: &mut [u8], how: &str) {
    match how {
        "" | "none" => {}
        "flip" => {
            let at = blob.len() / 2;
            blob[at] ^= 0x5a;
        }
        "offset" => {
            // The first op record starts after the header and the tensor table; its weights
            // offset is at +16. Past the end, then the CRC resealed.
            let n_tensors = u16::from_le_bytes([blob[12], blob[13]]) as usize;
            let op = 32 + 16 * n_tensors;
            let bad = (blob.len() as u32 + 64).to_le_bytes();
            blob[op + 16..op + 20].copy_from_slice(&bad);
            infer_core::builder::reseal(blob);
        }
        other => fail(format!("CORRUPT={other}: use flip or offset")),
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    for v in ["MODEL", "IMAGES", "CORRUPT", "PART", "FASHION_MNIST_DIR"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let board = std::env::var_os("CARGO_FEATURE_NRF52840").is_some();
    let part = std::env::var("PART").unwrap_or_default();
    let memory = match (board, part.as_str()) {
        (true, _) => root.join("boards/nrf52840-memory.x"),
        (false, "" | "1m") => root.join("boards/qemu-memory.x"),
        (false, "qemu-full") => root.join("boards/qemu-full-memory.x"),
        (false, other) => fail(format!("PART={other}: use 1m (a 1 MiB part, the default) or qemu-full (4 MiB)")),
    };
    std::fs::write(out.join("memory.x"), read(&memory)).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());

    let name = std::env::var("MODEL").unwrap_or_else(|_| "cnn-edge".into());
    let mut blob = published_blob(&root, &name);
    let model = infer_core::Model::parse(&blob).unwrap_or_else(|e| fail(format!("{name}: {e}")));
    let arena = model.arena_len();
    let (n_ops, n_tensors) = (model.ops().len(), model.tensors().len());

    // The images, in the order the firmware classifies them.
    let (pixels, labels, source) = if board {
        let images = read(&root.join("data/images.bin"));
        let labels = read(&root.join("data/labels.bin"));
        assert_eq!(images.len(), labels.len() * 784, "data/images.bin and data/labels.bin disagree");
        (images, labels, "260 embedded test images (data/)".to_string())
    } else {
        let dir = std::env::var_os("FASHION_MNIST_DIR").map(PathBuf::from);
        let data = fashion_mnist::FashionMnist::load(dir.as_deref())
            .unwrap_or_else(|e| fail(format!("the firmware classifies the test set: {e}")));
        let test = data.test;
        let which = std::env::var("IMAGES").unwrap_or_else(|_| "all".into());
        let picked: Vec<usize> = match which.as_str() {
            "all" => (0..test.len()).collect(),
            n => {
                let per: usize =
                    n.parse().unwrap_or_else(|_| fail(format!("IMAGES={n}: use all or a count per class")));
                let mut taken = [0usize; 10];
                (0..test.len())
                    .filter(|&i| {
                        let c = test.labels[i] as usize;
                        taken[c] += 1;
                        taken[c] <= per
                    })
                    .collect()
            }
        };
        let subset = test.subset(&picked);
        let what = if picked.len() == test.len() {
            "all 10,000 test images".to_string()
        } else {
            format!("{} test images (the first {which} of each class)", picked.len())
        };
        (subset.pixels, subset.labels, what)
    };
    let images_path = out.join("images.raw");
    std::fs::write(&images_path, if board { &[][..] } else { &pixels[..] }).expect("writing images.raw");

    let mut h = hash::FNV_OFFSET;
    let mut buf = vec![0u8; arena];
    let mut correct = [0u32; 10];
    let mut per_class = [0u32; 10];
    for (img, &label) in pixels.chunks(784).zip(&labels) {
        let o = model.run(img, &mut buf).unwrap_or_else(|e| fail(format!("{name}: {e}")));
        let bytes: Vec<u8> = o.values.iter().map(|&v| v as u8).collect();
        h = hash::fnv1a(h, &bytes);
        per_class[label as usize] += 1;
        if o.argmax() == label as usize {
            correct[label as usize] += 1;
        }
    }
    let corruption = std::env::var("CORRUPT").unwrap_or_default();
    corrupt(&mut blob, &corruption);
    std::fs::write(out.join("model.ic8"), &blob).expect("writing model.ic8");

    let mut c = String::new();
    let _ = writeln!(c, "/// The model this firmware was built with.\npub const MODEL_NAME: &str = {name:?};");
    let _ = writeln!(c, "/// What it classifies.\npub const IMAGE_SOURCE: &str = {source:?};");
    let _ = writeln!(c, "/// Images classified.\npub const N_IMAGES: usize = {};", labels.len());
    let _ = writeln!(c, "/// Images per class.\npub const PER_CLASS: [u32; 10] = {per_class:?};");
    let _ = writeln!(
        c,
        "/// Images of each class the host classifies correctly.\npub const HOST_CORRECT: [u32; 10] = {correct:?};"
    );
    let _ = writeln!(c, "/// Arena bytes the model needs.\npub const ARENA_LEN: usize = {arena};");
    let _ = writeln!(c, "/// Its ops (the capacity of the `Model`'s op table).\npub const MODEL_OPS: usize = {n_ops};");
    let _ = writeln!(
        c,
        "/// Its tensors (the capacity of the `Model`'s tensor table).\npub const MODEL_TENSORS: usize = {n_tensors};"
    );
    let _ =
        writeln!(c, "/// FNV-1a of all int8 logits, computed on the host.\npub const EXPECTED_HASH: u32 = {h:#010x};");
    let _ = writeln!(c, "/// The raw pixels the firmware reads through semihosting (QEMU), NUL-terminated.");
    let _ = writeln!(c, "pub const IMAGES_FILE: &str = \"{}\\0\";", images_path.display());
    let labels_path = out.join("labels.bin");
    std::fs::write(&labels_path, &labels).expect("writing labels.bin");
    let _ = writeln!(c, "/// The labels, in classification order.");
    let _ = writeln!(c, "pub static LABELS: &[u8] = include_bytes!({:?});", labels_path.display().to_string());
    let _ = writeln!(
        c,
        "/// The blob was corrupted on purpose (`CORRUPT`).\npub const CORRUPTED: bool = {};",
        !matches!(corruption.as_str(), "" | "none")
    );
    std::fs::write(out.join("expected.rs"), c).expect("writing expected.rs");
    println!("cargo:rerun-if-changed=src/hash.rs");
    println!("cargo:rerun-if-changed=boards");
    println!("cargo:rerun-if-changed=build.rs");
}
