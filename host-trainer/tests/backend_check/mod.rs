//! The check both optional-backend tests run (`wgpu.rs`, `libtorch.rs`): a backend trains like
//! flex, and what it trains evaluates and exports.

use host_trainer::backend::Backend;
use host_trainer::config::TrainConfig;
use host_trainer::data::FashionMnist;
use host_trainer::evaluation::Checkpoint;
use host_trainer::job;
use host_trainer::model::Preset;
use host_trainer::quantize::QuantizeOptions;
use host_trainer::training::TrainOptions;

const QUIET: TrainOptions = TrainOptions { resume: false, quiet: true, stop_after: None };

/// Trains `cnn-baseline` on 2,000 images for two epochs on `backend` and on flex with the same
/// seed; checks that the loss falls on `backend`, that its accuracy is within 5 points of flex's,
/// and that the run evaluates and exports (float ONNX, int8 blob, QDQ ONNX). `hint` says what
/// the backend needs when it fails to train.
pub fn trains_like_flex_and_exports(backend: Backend, hint: &str) {
    let data =
        FashionMnist::load(None).expect("tests need the dataset: set FASHION_MNIST_DIR=../shared/data/fashion-mnist");
    let flex_config = TrainConfig {
        epochs: 2,
        train_limit: Some(2_000),
        val_size: 1_000,
        ..TrainConfig::for_preset(Preset::CnnBaseline)
    };
    let other_config = TrainConfig { backend, ..flex_config.clone() };
    let (flex_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flex = job::train_and_report(&data, &flex_config, flex_dir.path(), QUIET, Checkpoint::Last).unwrap();
    let other = job::train_and_report(&data, &other_config, dir.path(), QUIET, Checkpoint::Last)
        .unwrap_or_else(|e| panic!("training on {backend} ({hint}): {e:#}"));

    let h = &other.state.history;
    eprintln!(
        "{backend}: test {:.2}%, losses {:.4} -> {:.4}, {:.1} s per epoch; flex: test {:.2}%, {:.1} s per epoch",
        100.0 * other.test.accuracy,
        h[0].train_loss,
        h[h.len() - 1].train_loss,
        h.iter().map(|e| e.seconds).sum::<f64>() / h.len() as f64,
        100.0 * flex.test.accuracy,
        flex.state.history.iter().map(|e| e.seconds).sum::<f64>() / flex.state.history.len().max(1) as f64,
    );
    assert_eq!(h.len(), 2);
    assert!(h[1].train_loss < h[0].train_loss, "{backend}'s training loss did not fall: {h:?}");
    assert!(h[1].val_loss < h[0].val_loss, "{backend}'s validation loss did not fall: {h:?}");
    let (a_other, a_flex) = (other.test.accuracy, flex.test.accuracy);
    assert!(a_other > 0.65, "{backend} test accuracy {a_other}");
    assert!((a_other - a_flex).abs() < 0.05, "{backend} {a_other} vs flex {a_flex} on the same seed");

    // The run trained on `backend` evaluates and exports: float ONNX, int8 blob and QDQ ONNX.
    let q = job::quantize(
        &data,
        &other,
        &QuantizeOptions { calibration_images: 500, ..Default::default() },
        &dir.path().join("int8"),
    )
    .unwrap();
    assert!((q.f32_accuracy() - a_other).abs() < 0.005, "exported f32 {} vs {backend}'s {a_other}", q.f32_accuracy());
    assert!(
        (q.int8_accuracy() - q.f32_accuracy()).abs() < 0.02,
        "int8 {} vs f32 {}",
        q.int8_accuracy(),
        q.f32_accuracy()
    );
    for f in ["cnn-baseline.onnx", "cnn-baseline.int8.onnx", "cnn-baseline.ic8"] {
        assert!(dir.path().join("int8").join(f).is_file(), "{f}");
    }
}
