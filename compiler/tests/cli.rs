//! The command line: help, files written, errors on stderr with a failing exit code.

mod common;

use std::process::Command;

use common::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_int8-compiler"))
}

/// A `.npy` file of uint8 `shape`.
fn npy(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn help_describes_every_option() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--calibration",
        "--labels",
        "--out",
        "--name",
        "--method",
        "--calibration-images",
        "--held-back",
        "--input-mean",
        "--input-std",
        "--output",
        "--image",
    ] {
        assert!(text.contains(opt), "{opt} missing from --help:\n{text}");
    }
}

#[test]
fn compiles_a_model_with_npy_calibration_images() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, inits) = small_cnn();
    let onnx = model(
        nodes,
        inits,
        vec![value_info("x", FLOAT, &[D::Sym("N"), D::N(1), D::N(8), D::N(8)])],
        vec![value_info("y", FLOAT, &[D::Sym("N"), D::N(3)])],
    );
    std::fs::write(dir.path().join("small.onnx"), &onnx).unwrap();
    std::fs::write(dir.path().join("cal.npy"), npy(&[100, 8, 8], &pixels(100, 64, 3))).unwrap();
    let out = bin()
        .arg(dir.path().join("small.onnx"))
        .args(["--calibration"])
        .arg(dir.path().join("cal.npy"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for f in ["small.ic8", "small.int8.onnx", "small.quant.json", "small.quant.md"] {
        assert!(dir.path().join("out").join(f).is_file(), "{f}: {stdout}");
    }
    let blob = std::fs::read(dir.path().join("out/small.ic8")).unwrap();
    let m = infer_core::Model::parse(&blob).unwrap();
    assert_eq!(m.num_outputs(), 3);
    // 90 calibration images, 10 held back (a tenth), scored by agreement (no labels).
    assert!(stdout.contains("agreement") && stdout.contains("on 10 held back"), "{stdout}");
}

#[test]
fn errors_go_to_stderr_with_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().args(["missing.onnx", "--calibration", "missing.npy", "--out"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read missing.onnx"), "{err}");
    // Calibration images of the wrong kind.
    std::fs::write(dir.path().join("m.onnx"), b"not onnx").unwrap();
    std::fs::write(dir.path().join("f.npy"), b"\x93NUMPY junk").unwrap();
    let out = bin()
        .arg(dir.path().join("m.onnx"))
        .arg("--calibration")
        .arg(dir.path().join("f.npy"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a .npy file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A bad image size.
    let out = bin().args(["m.onnx", "--calibration", "c", "--out", "o", "--image", "28by28"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not HxW"));
    // Zero calibration images.
    let out = bin().args(["m.onnx", "--calibration", "c", "--out", "o", "--calibration-images", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--calibration-images"));
}
