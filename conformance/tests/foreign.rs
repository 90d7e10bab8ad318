//! Models made elsewhere, through the int8 compiler: `scripts/foreign_models.py` writes float
//! ONNX classifiers the way PyTorch (Flatten, Gemm transB, BatchNormalization, Softmax),
//! tf2onnx (NHWC input + Transpose, Clip as ReLU6, MatMul + Add) and skl2onnx (a scikit-learn
//! MLP trained in the script) write them, with the weights of our committed models and input
//! normalizations inside and outside the graph. Each is compiled (calibration from the seeded
//! training split, the method chosen on the validation split), run by infer-core on all 10,000
//! test images, and compared with ONNX Runtime and tract on the QDQ model the compiler wrote
//! (≥ 99.9% identical int8 logits, identical top-1 on every image) and with the float model's
//! accuracy (within 0.5 pp). Needs the venv `.ci/run` makes (numpy, onnx, scikit-learn,
//! skl2onnx) through `ONNX_PYTHON`.

use std::path::PathBuf;
use std::process::Command;

use conformance::engines::{Ort, Tract, scaled};
use conformance::{infer_core_logits, to_lsb, top1};
use host_trainer::data::{FashionMnist, train_val_split};
use infer_core::requant::Rounding;
use infer_core::{Kernels, Model};
use int8_compiler::{CompileData, CompileOptions, Images, Normalization};

fn python() -> PathBuf {
    std::env::var_os("ONNX_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/fmnist-edge/venv/bin/python")
    })
}

#[test]
fn foreign_models_compile_and_agree_with_onnx_runtime_and_tract() {
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/foreign_models.py");
    let out = Command::new(python()).arg(&script).arg(dir.path()).output().unwrap_or_else(|e| {
        panic!("cannot run {} ({e}): create the venv with `bash .ci/run` or set ONNX_PYTHON", python().display())
    });
    assert!(out.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let data = FashionMnist::load(None).expect("dataset (FASHION_MNIST_DIR)");
    let (train, val) = train_val_split(&data.train, 6000, 42).unwrap();
    let images = CompileData {
        calibration: Images::from_split(&train),
        selection: Images::from_split(&val),
        test: Some(Images::from_split(&data.test)),
    };
    let labels = &data.test.labels;
    let models = manifest.as_object().unwrap();
    assert_eq!(models.len(), 4, "{manifest}");
    println!(
        "| model | f32 (ORT) | f32 (tract) | int8 (infer-core) | identical int8 logits vs ORT / tract | calibration |"
    );
    for (name, m) in models {
        let onnx = std::fs::read(dir.path().join(format!("{name}.onnx"))).unwrap();
        let (mean, std) = (m["mean"].as_f64().unwrap() as f32, m["std"].as_f64().unwrap() as f32);
        let mut opts = CompileOptions::new(name);
        opts.normalization = Normalization { mean, std };
        let c = int8_compiler::compile(&onnx, &images, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let t = c.report.test.unwrap();

        // The float model in ONNX Runtime, fed as it expects.
        let shape: Vec<usize> = m["input"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let x: Vec<f32> = scaled(&data.test.pixels).iter().map(|v| (v - mean) / std).collect();
        let mut ort = Ort::new(&onnx).unwrap();
        let probs = ort.run(m["input_name"].as_str().unwrap(), &shape, &x, m["output"].as_str().unwrap(), 500).unwrap();
        let f32_ort = conformance::accuracy(&top1(&probs), labels);
        assert!((f32_ort - t.f32_accuracy).abs() < 2e-4, "{name}: ORT {f32_ort} vs tract {}", t.f32_accuracy);
        assert!((t.int8_accuracy - f32_ort).abs() <= 0.005, "{name}: int8 {} vs float {f32_ort}", t.int8_accuracy);

        // infer-core against ORT and tract on the QDQ model.
        let ic8 = infer_core_logits(&c.blob, &data.test, Kernels::Fast, Rounding::HalfToEven).unwrap();
        let model = Model::parse(&c.blob).unwrap();
        let probe = model.run(data.test.image(0), &mut vec![0u8; model.arena_len()]).unwrap();
        let ours: Vec<i32> = ic8.iter().map(|&v| i32::from(v)).collect();
        let mut shares = Vec::new();
        for (engine, logits) in [
            ("onnxruntime", Ort::new(&c.qdq).unwrap().logits(&data.test.pixels, 256).unwrap()),
            ("tract", Tract::new(&c.qdq, 256).unwrap().logits(&data.test.pixels).unwrap()),
        ] {
            let theirs = to_lsb(&logits, probe.scale, probe.zero_point);
            let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count() as f64 / ours.len() as f64;
            assert!(same >= 0.999, "{name}: {engine} int8 logits identical on {:.4}%", 100.0 * same);
            assert_eq!(top1(&ours), top1(&theirs), "{name}: {engine} top-1 differs");
            shares.push(same);
        }
        println!(
            "| {name} | {:.2}% | {:.2}% | {:.2}% | {:.3}% / {:.3}% | {:?} |",
            100.0 * f32_ort,
            100.0 * t.f32_accuracy,
            100.0 * t.int8_accuracy,
            100.0 * shares[0],
            100.0 * shares[1],
            c.report.method
        );
    }
}
