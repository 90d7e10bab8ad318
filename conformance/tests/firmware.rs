//! Builds the Cortex-M4F firmware for every published model, runs it on QEMU (mps2-an386), and
//! checks that it exits 0 (its accuracy and the hash of all its int8 logits equal the host's)
//! and that its accuracy is the published int8 accuracy and infer-core's RAM is within the
//! bound known at build time; that a corrupted blob ends in
//! infer-core's typed error (exit code 2); and runs the `kernel_props` example, the on-target
//! kernel contract. Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target (`.ci/run`
//! installs both); missing ones fail the test with instructions.

use std::path::Path;
use std::process::{Command, Output};

use infer_core::contract;
use onnx_models::manifest::Manifest;

/// Models with at most this many MACs classify all 10,000 test images on QEMU in CI (cnn-edge,
/// 22 M MACs: 29.5 M instructions per image, about 290 s here); larger ones the first
/// `SUBSET_PER_CLASS` of each class (their full run: `MODEL=<name> cargo run --release`).
const FULL_RUN_MACS: usize = 25_000_000;
const SUBSET_PER_CLASS: usize = 50;
/// Blobs over this many bytes do not fit a 1 MiB part with the engine and the stack: they run on
/// QEMU with its whole 4 MiB (`PART=qemu-full`).
const PART_FLASH_BLOB_MAX: usize = 900 * 1024;

/// QEMU's wall-clock limit (`qemu-run.sh`'s `QEMU_TIMEOUT`) for classifying `images` images with
/// a model of `macs` MACs: about four times what it takes on an idle core here (cnn-edge's
/// 10,000 images, 2.2e11 MAC·images, take about 290 s), so a loaded CI machine does not time out
/// a run that would pass, and a hung one still ends.
fn qemu_timeout(macs: usize, images: usize) -> String {
    (120 + (macs as u64 * images as u64) / 200_000_000).to_string()
}

/// One firmware build at a time: the tests share its target folder, and each build's script
/// writes the model and the images into the same `OUT_DIR`.
static FIRMWARE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `cargo run --release --locked [args]` in firmware-example/ (QEMU via its runner) with `env`.
fn run_on_qemu(args: &[&str], env: &[(&str, String)]) -> Output {
    let _one = FIRMWARE.lock().unwrap_or_else(|p| p.into_inner());
    let target = std::env::var("FIRMWARE_TARGET_DIR").unwrap_or_else(|_| {
        format!("{}/.cache/fmnist-edge/firmware-target", std::env::var("HOME").unwrap_or_default())
    });
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["run", "--release", "--locked"]).args(args).current_dir(firmware_dir()).env("CARGO_TARGET_DIR", &target);
    cmd.env_remove("RUSTFLAGS").env_remove("MODEL").env_remove("IMAGES").env_remove("CORRUPT").env_remove("PART");
    cmd.env_remove("QEMU_TIMEOUT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cannot run cargo")
}

fn succeeded(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "firmware {what} failed ({:?}); needs `apt-get install qemu-system-arm` and `rustup target add thumbv7em-none-eabihf`\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn firmware_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example")
}

/// The Cortex-M4 builds of the kernels (DSP paths the host cannot run) against their scalar
/// references: every family of the shared kernel contract, on QEMU.
#[test]
fn dsp_kernels_equal_their_references_on_qemu() {
    // (The build script needs a model: the smallest, on one image per class.)
    let env = [("MODEL", "mlp-128-64".to_string()), ("IMAGES", "1".to_string())];
    let stdout = succeeded(&run_on_qemu(&["--example", "kernel_props"], &env), "kernel_props");
    println!("{stdout}");
    assert!(stdout.contains("all kernels agree with their references"), "{stdout}");
    let families =
        contract::CONV_FAMILIES.iter().map(|f| f.name).chain(contract::DENSE_FAMILIES.iter().map(|f| f.name));
    for family in families.chain(["max pool"]) {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{family}: ")) && l.contains("fast == reference")),
            "{family} missing:\n{stdout}"
        );
    }
}

#[test]
fn every_published_model_on_qemu_matches_the_host_bit_for_bit() {
    let manifest = Manifest::read(&onnx_models::artifacts_dir()).unwrap();
    for m in onnx_models::ALL {
        let full = m.macs <= FULL_RUN_MACS;
        let images = if full { "all".to_string() } else { SUBSET_PER_CLASS.to_string() };
        let part = if m.blob.len() > PART_FLASH_BLOB_MAX { "qemu-full" } else { "1m" };
        let n = if full { 10_000 } else { 10 * SUBSET_PER_CLASS };
        let env = [
            ("MODEL", m.name.to_string()),
            ("IMAGES", images),
            ("PART", part.to_string()),
            ("QEMU_TIMEOUT", qemu_timeout(m.macs, n)),
        ];
        let out = run_on_qemu(&[], &env);
        let stdout = succeeded(&out, m.name);
        assert!(stdout.contains("MATCH") && !stdout.contains("MISMATCH"), "{stdout}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{}: accuracy ", m.name)))
            .unwrap_or_else(|| panic!("no accuracy line:\n{stdout}"));
        let correct: usize = line.split_whitespace().nth(2).and_then(|v| v.split('/').next()?.parse().ok()).unwrap();
        assert!(line.contains(&format!("/{n} (host {correct}/{n})")), "{line}");
        if full {
            // The device's accuracy on the whole test set is the published int8 accuracy.
            let published = manifest.models[m.name].test_accuracy["infer-core-int8"];
            assert_eq!(correct as f64 / 10_000.0, published, "{}: {line}", m.name);
        }
        // infer-core's RAM (arena, tables, the stack of its calls) within what was known at
        // build time (the firmware also exits 1 when its stack goes over the bound).
        let ram = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{}: infer-core RAM ", m.name)))
            .unwrap_or_else(|| panic!("no RAM line:\n{stdout}"));
        assert!(ram.ends_with(": within)"), "{ram}");
        let ops = stdout.lines().filter(|l| l.contains(" B of arena (")).count();
        assert_eq!(ops, infer_core::Model::parse(m.blob).unwrap().ops().len(), "per-op RAM lines:\n{stdout}");
        for l in stdout.lines().filter(|l| {
            l.contains("instructions per inference") || l.starts_with("stack") || l.contains("infer-core RAM")
        }) {
            println!("{l}");
        }
    }
}

/// A blob corrupted in flash (one byte flipped, the CRC not resealed; or a weights offset past
/// the end, resealed) ends with infer-core's typed error and exit code 2.
#[test]
fn a_corrupted_blob_is_infer_cores_typed_error_on_qemu() {
    let model = onnx_models::ALL[0].name.to_string();
    for (how, message) in [("flip", "CRC mismatch"), ("offset", "data section out of bounds")] {
        let out = run_on_qemu(&[], &[("MODEL", model.clone()), ("IMAGES", "1".into()), ("CORRUPT", how.into())]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "CORRUPT={how}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("infer-core error") && stdout.contains(message), "CORRUPT={how}:\n{stdout}");
    }
}
