//! Build script: picks the linker memory map (QEMU or board), and runs the two committed models
//! with infer-core on the host over the embedded test images, so the firmware knows the logits
//! hash and the accuracy it must reproduce bit for bit, and the arena size it needs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod hash {
    include!("src/hash.rs");
}

const MODELS: [&str; 2] = ["mlp-128-64", "cnn-baseline"];

fn read(p: &Path) -> Vec<u8> {
    println!("cargo:rerun-if-changed={}", p.display());
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));

    let memory = if std::env::var_os("CARGO_FEATURE_NRF52840").is_some() {
        root.join("boards/nrf52840-memory.x")
    } else {
        root.join("memory.x")
    };
    std::fs::write(out.join("memory.x"), read(&memory)).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());

    let images = read(&root.join("data/images.bin"));
    let labels = read(&root.join("data/labels.bin"));
    assert_eq!(images.len(), labels.len() * 784, "data/images.bin and data/labels.bin disagree");
    let mut h = hash::FNV_OFFSET;
    let mut consts = String::new();
    let mut arena = 0;
    for name in MODELS {
        let blob = read(&root.join(format!("../onnx-models/artifacts/{name}.ic8")));
        let model = infer_core::Model::parse(&blob).unwrap_or_else(|e| panic!("{name}: {e}"));
        arena = arena.max(model.arena_len());
        let mut buf = vec![0u8; model.arena_len()];
        let mut correct = [0u16; 10];
        for (img, &label) in images.chunks(784).zip(&labels) {
            let o = model.run(img, &mut buf).unwrap_or_else(|e| panic!("{name}: {e}"));
            let bytes: Vec<u8> = o.values.iter().map(|&v| v as u8).collect();
            h = hash::fnv1a(h, &bytes);
            if o.argmax() == label as usize {
                correct[label as usize] += 1;
            }
        }
        let ident = name.replace('-', "_").to_uppercase();
        let _ = writeln!(consts, "/// Images of each class the host classifies correctly with `{name}`.");
        let _ = writeln!(consts, "pub const HOST_CORRECT_{ident}: [u16; 10] = {correct:?};");
    }
    let mut per_class = [0u16; 10];
    for &l in &labels {
        per_class[l as usize] += 1;
    }
    let _ = writeln!(consts, "/// Number of embedded images.\npub const N_IMAGES: usize = {};", labels.len());
    let _ = writeln!(consts, "/// Embedded images per class.\npub const PER_CLASS: [u16; 10] = {per_class:?};");
    let _ =
        writeln!(consts, "/// Arena bytes for the larger of the two models.\npub const ARENA_LEN: usize = {arena};");
    let _ = writeln!(
        consts,
        "/// FNV-1a of all int8 logits (MLP over all images, then CNN) computed on the host.\npub const EXPECTED_HASH: u32 = {h:#010x};"
    );
    std::fs::write(out.join("expected.rs"), consts).expect("writing expected.rs");
    println!("cargo:rerun-if-changed=src/hash.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
