//! Builds the Cortex-M4F firmware, runs it on QEMU (mps2-an386), and checks that it exits 0
//! (its int8 logits hash equals the host's) and prints the same accuracy as infer-core on the
//! host for the same images; and runs its `kernel_props` example, the on-target proptest of the
//! Cortex-M4 kernels. Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target
//! (`.ci/run` installs both); missing ones fail the test with instructions.

use std::path::Path;
use std::process::Command;

use infer_core::{Model, contract};

/// `cargo run --release --locked [args]` in firmware-example/ (QEMU via its runner); stdout,
/// after checking that it exited 0.
fn run_on_qemu(fw: &Path, args: &[&str]) -> String {
    let target = std::env::var("FIRMWARE_TARGET_DIR").unwrap_or_else(|_| {
        format!("{}/.cache/fmnist-edge/firmware-target", std::env::var("HOME").unwrap_or_default())
    });
    let out = Command::new(env!("CARGO"))
        .args(["run", "--release", "--locked"])
        .args(args)
        .current_dir(fw)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cannot run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "firmware {args:?} failed ({:?}); needs `apt-get install qemu-system-arm` and `rustup target add thumbv7em-none-eabihf`\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    stdout
}

fn firmware_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example")
}

/// The Cortex-M4 builds of the kernels (DSP paths the host cannot run) against their scalar
/// references on random layers, on QEMU.
#[test]
fn dsp_kernels_equal_their_references_on_qemu() {
    let stdout = run_on_qemu(&firmware_dir(), &["--example", "kernel_props"]);
    println!("{stdout}");
    assert!(stdout.contains("all kernels agree with their references"), "{stdout}");
    // Every family of the shared kernel contract ran on the target.
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
fn firmware_on_qemu_matches_the_host_bit_for_bit() {
    let fw = firmware_dir();
    let stdout = run_on_qemu(&fw, &[]);
    assert!(stdout.contains("MATCH") && !stdout.contains("MISMATCH"), "{stdout}");
    println!("{stdout}");

    // The accuracy it prints is what infer-core computes on the host for the same images.
    let images = std::fs::read(fw.join("data/images.bin")).unwrap();
    let labels = std::fs::read(fw.join("data/labels.bin")).unwrap();
    assert!(labels.len() >= 256);
    let mut classes = [0; 10];
    labels.iter().for_each(|&l| classes[l as usize] += 1);
    assert!(classes.iter().all(|&c| c > 0), "every class appears: {classes:?}");
    for m in onnx_models::ALL {
        let model = Model::parse(m.blob).unwrap();
        let mut arena = vec![0u8; model.arena_len()];
        let correct = images
            .chunks(784)
            .zip(&labels)
            .filter(|(img, l)| model.run(img, &mut arena).unwrap().argmax() == **l as usize)
            .count();
        let line = format!("{}: accuracy {}/{} (host {}/{})", m.name, correct, labels.len(), correct, labels.len());
        assert!(stdout.contains(&line), "expected `{line}` in:\n{stdout}");
        let instr = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{}: ", m.name)) && l.contains("instructions per inference"))
            .unwrap_or_else(|| panic!("no instruction count for {}", m.name));
        println!("{instr}");
    }
}
