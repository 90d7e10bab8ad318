//! Training on burn's wgpu backend for real (feature `wgpu`; `.ci/run` runs this test on Mesa's
//! lavapipe, which runs Vulkan on the CPU, so it needs no GPU): `cnn-baseline` on 2,000 images
//! for two epochs on wgpu and on flex with the same seed. The loss falls on wgpu, its accuracy
//! is within a few points of flex's, and evaluation and the int8 export work from the
//! wgpu-trained run.
//!
//! `cargo test --release --locked -p host-trainer --features wgpu --test wgpu`

use host_trainer::backend::Backend;
use host_trainer::config::TrainConfig;
use host_trainer::data::FashionMnist;
use host_trainer::evaluation::Checkpoint;
use host_trainer::job;
use host_trainer::model::Preset;
use host_trainer::quantize::QuantizeOptions;
use host_trainer::training::TrainOptions;

const QUIET: TrainOptions = TrainOptions { resume: false, quiet: true, stop_after: None };

#[test]
fn wgpu_trains_like_flex_and_its_run_exports() {
    let data =
        FashionMnist::load(None).expect("tests need the dataset: set FASHION_MNIST_DIR=../shared/data/fashion-mnist");
    let flex_config = TrainConfig {
        epochs: 2,
        train_limit: Some(2_000),
        val_size: 1_000,
        ..TrainConfig::for_preset(Preset::CnnBaseline)
    };
    let wgpu_config = TrainConfig { backend: Backend::Wgpu, ..flex_config.clone() };
    let (flex_dir, wgpu_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flex = job::train_and_report(&data, &flex_config, flex_dir.path(), QUIET, Checkpoint::Last).unwrap();
    let wgpu = job::train_and_report(&data, &wgpu_config, wgpu_dir.path(), QUIET, Checkpoint::Last)
        .expect("training on wgpu (Mesa's lavapipe: Debian's mesa-vulkan-drivers)");

    let h = &wgpu.state.history;
    eprintln!(
        "wgpu: test {:.2}%, losses {:.4} -> {:.4}, {:.1} s per epoch; flex: test {:.2}%, {:.1} s per epoch",
        100.0 * wgpu.test.accuracy,
        h[0].train_loss,
        h[h.len() - 1].train_loss,
        h.iter().map(|e| e.seconds).sum::<f64>() / h.len() as f64,
        100.0 * flex.test.accuracy,
        flex.state.history.iter().map(|e| e.seconds).sum::<f64>() / flex.state.history.len().max(1) as f64,
    );
    assert_eq!(h.len(), 2);
    assert!(h[1].train_loss < h[0].train_loss, "wgpu's training loss did not fall: {h:?}");
    assert!(h[1].val_loss < h[0].val_loss, "wgpu's validation loss did not fall: {h:?}");
    let (a_wgpu, a_flex) = (wgpu.test.accuracy, flex.test.accuracy);
    assert!(a_wgpu > 0.65, "wgpu test accuracy {a_wgpu}");
    assert!((a_wgpu - a_flex).abs() < 0.05, "wgpu {a_wgpu} vs flex {a_flex} on the same seed");

    // The wgpu-trained run evaluates and exports: float ONNX, int8 blob and QDQ ONNX.
    let q = job::quantize(
        &data,
        &wgpu,
        &QuantizeOptions { calibration_images: 500, ..Default::default() },
        &wgpu_dir.path().join("int8"),
    )
    .unwrap();
    assert!((q.f32_accuracy() - a_wgpu).abs() < 0.005, "exported f32 {} vs wgpu's {a_wgpu}", q.f32_accuracy());
    assert!(
        (q.int8_accuracy() - q.f32_accuracy()).abs() < 0.02,
        "int8 {} vs f32 {}",
        q.int8_accuracy(),
        q.f32_accuracy()
    );
    for f in ["cnn-baseline.onnx", "cnn-baseline.int8.onnx", "cnn-baseline.ic8"] {
        assert!(wgpu_dir.path().join("int8").join(f).is_file(), "{f}");
    }
}
