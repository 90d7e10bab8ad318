//! `host-trainer predict`: a published model, a blob file, PNG files and test-set indices.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
}

#[test]
fn predicts_published_models_on_test_images_and_pngs() {
    let data = host_trainer::data::FashionMnist::load(None).expect("dataset (FASHION_MNIST_DIR)");
    let dir = tempfile::tempdir().unwrap();
    // Test image 0 as a 28x28 PNG, and the same image upscaled to 56x56 (resized back).
    let img = image::GrayImage::from_raw(28, 28, data.test.image(0).to_vec()).unwrap();
    img.save(dir.path().join("boot.png")).unwrap();
    image::imageops::resize(&img, 56, 56, image::imageops::FilterType::Nearest)
        .save(dir.path().join("big.png"))
        .unwrap();
    let out = bin()
        .args(["predict", "--model", "cnn-baseline", "--test-index", "0"])
        .arg(dir.path().join("boot.png"))
        .arg(dir.path().join("big.png"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("test image 0 [label Ankle boot]: int8: Ankle boot"), "{stdout}");
    assert!(lines[0].contains("float: Ankle boot"), "{stdout}");
    // The PNG of the same pixels gets the same answer.
    assert_eq!(lines[0].split_once(": int8").unwrap().1, lines[1].split_once(": int8").unwrap().1);
    assert!(lines[2].contains("int8: "), "{stdout}");
    // A blob file without its float model.
    let blob = onnx_models::artifacts_dir().join("mlp-128-64.ic8");
    let out = bin().args(["predict", "--model"]).arg(&blob).args(["--test-index", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("int8: ") && !stdout.contains("float:"), "{stdout}");
}

#[test]
fn bad_requests_are_clear_errors() {
    for (args, message) in [
        (vec!["predict", "--model", "no-such-model", "--test-index", "0"], "no published model"),
        (vec!["predict", "--model", "cnn-baseline", "--test-index", "10000"], "the test set has 10000 images"),
        (vec!["predict", "--model", "cnn-baseline"], "nothing to classify"),
        (vec!["predict", "--model", "cnn-baseline", "missing.png"], "missing.png"),
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("Stack backtrace"), "{args:?}: one message, not a backtrace: {err}");
    }
}
