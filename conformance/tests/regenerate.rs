//! The committed int8 artifacts come out of the compiler again: each published model's float
//! ONNX, compiled with its run's own images (calibration from the seeded training split, the
//! method chosen on the validation split), gives the committed blob and QDQ model, and the
//! committed reports' arena figures are what infer-core plans for it today.

use host_trainer::data::{FashionMnist, train_val_split};
use int8_compiler::{CompileData, CompileOptions, Images};

#[test]
fn committed_blobs_regenerate_through_the_compiler() {
    let data = FashionMnist::load(None).expect("dataset (FASHION_MNIST_DIR)");
    let manifest = onnx_models::manifest::Manifest::read(&onnx_models::artifacts_dir()).expect("manifest");
    for m in onnx_models::ALL {
        let entry = &manifest.models[m.name];
        let (train, val) = train_val_split(&data.train, 6000, entry.seed).unwrap();
        let images =
            CompileData { calibration: Images::from_split(&train), selection: Images::from_split(&val), test: None };
        let mut opts = CompileOptions::new(m.name);
        opts.normalization = int8_compiler::Normalization { mean: m.float_io.mean, std: m.float_io.std };
        let c = int8_compiler::compile(m.onnx, &images, &opts).unwrap();
        assert_eq!(format!("{:?}", c.report.method), entry.calibration, "{}", m.name);
        assert!(c.blob == m.blob, "{}: the blob differs from the committed one", m.name);
        assert!(c.qdq == m.onnx_int8, "{}: the QDQ model differs from the committed one", m.name);
        // The committed reports' arena figures are infer-core's plan of today's blob (a change
        // of the plan is refreshed with `host-trainer publish --refresh-reports`).
        let refresh = "stale: run `cargo run -p host-trainer --release -- publish --refresh-reports`";
        assert_eq!(entry.arena_bytes, c.report.arena_bytes, "{}: manifest arena bytes {refresh}", m.name);
        let path = onnx_models::artifacts_dir().join(format!("{}.quant.json", m.name));
        let committed: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(committed["arena_bytes"], c.report.arena_bytes, "{}: {refresh}", path.display());
        let offsets: Vec<usize> = c.report.layers.iter().map(|l| l.arena_offset).collect();
        let committed_offsets: Vec<usize> = committed["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["arena_offset"].as_u64().unwrap() as usize)
            .collect();
        assert_eq!(committed_offsets, offsets, "{}: arena offsets {refresh}", path.display());
    }
}
