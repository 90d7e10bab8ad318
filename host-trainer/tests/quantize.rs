//! End to end: train briefly, quantize, and check the int8 model against the float one.

use host_trainer::config::TrainConfig;
use host_trainer::data::FashionMnist;
use host_trainer::evaluation::Checkpoint;
use host_trainer::job;
use host_trainer::model::Preset;
use host_trainer::quantize::QuantizeOptions;
use host_trainer::training::TrainOptions;
use infer_core::{Kernels, Model, RunOptions};

fn data() -> FashionMnist {
    FashionMnist::load(None).expect("tests need the dataset: set FASHION_MNIST_DIR=../shared/data/fashion-mnist")
}

fn quantized(preset: Preset, limit: usize) -> (host_trainer::quantize::QuantReport, tempfile::TempDir) {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig { epochs: 1, train_limit: Some(limit), val_size: 1000, ..TrainConfig::for_preset(preset) };
    let opts = TrainOptions { quiet: true, ..Default::default() };
    let run = job::train_and_report(&data, &config, dir.path(), opts, Checkpoint::Best).unwrap();
    let q = job::quantize(
        &data,
        &run,
        &QuantizeOptions { calibration_images: 500, ..Default::default() },
        &dir.path().join("int8"),
    )
    .unwrap();
    (q, dir)
}

#[test]
fn quantized_mlp_tracks_the_float_model() {
    let (q, dir) = quantized(Preset::Mlp128x64, 5000);
    assert!(q.f32_accuracy() > 0.75, "{}", q.f32_accuracy());
    assert!(
        (q.int8_accuracy() - q.f32_accuracy()).abs() < 0.01,
        "int8 {} vs f32 {}",
        q.int8_accuracy(),
        q.f32_accuracy()
    );
    assert!(q.top1_agreement() > 0.98, "{}", q.top1_agreement());
    assert_eq!(q.compile.candidates.len(), 3);
    assert_eq!(q.compile.criterion, "accuracy");
    assert_eq!(q.compile.layers.len(), 3);
    assert!(q.compile.layers.iter().all(|l| l.snr_db > 25.0), "{:?}", q.compile.layers);
    // The written blob parses, and the reference and fast kernels agree on it.
    let blob = std::fs::read(dir.path().join("int8/mlp-128-64.ic8")).unwrap();
    assert_eq!(blob.len(), q.compile.blob_bytes);
    let m = Model::parse(&blob).unwrap();
    assert_eq!(m.macs(), 109_184);
    let mut arena = vec![0u8; m.arena_len()];
    let d = data();
    for i in 0..50 {
        let a = m.run_with(RunOptions::new().kernels(Kernels::Reference), d.test.image(i), &mut arena).unwrap();
        let b = m.run(d.test.image(i), &mut arena).unwrap();
        assert_eq!(a, b);
    }
    for f in
        ["int8/mlp-128-64.quant.json", "int8/mlp-128-64.quant.md", "int8/mlp-128-64.onnx", "int8/mlp-128-64.int8.onnx"]
    {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
}

#[test]
fn quantized_cnn_fuses_pooling_and_tracks_the_float_model() {
    let (q, _dir) = quantized(Preset::CnnBaseline, 4000);
    assert!(q.f32_accuracy() > 0.6, "{}", q.f32_accuracy());
    assert!(
        (q.int8_accuracy() - q.f32_accuracy()).abs() < 0.015,
        "int8 {} vs f32 {}",
        q.int8_accuracy(),
        q.f32_accuracy()
    );
    assert!(q.top1_agreement() > 0.97, "{}", q.top1_agreement());
    // Conv + ReLU + pool fused twice, then two Dense layers.
    let layers = &q.compile.layers;
    assert_eq!(layers.len(), 4);
    assert!(layers[0].op.contains("MaxPool 2") && layers[0].op.contains("ReLU"));
    assert_eq!(layers[0].output, "13x13x32");
    assert_eq!(q.compile.macs, 2_631_040);
    // At conv2: its input (5408), its pooled output (1600) and its scratch (the 2x2-pool DSP
    // kernel's: one 288-byte patch and the widened words of four, 2,598 bytes), aligned.
    assert!(q.compile.arena_bytes <= 5408 + 1600 + 2598 + 16, "{}", q.compile.arena_bytes);
}
