//! Writes `onnx-models/CONFORMANCE.md` and `.json`, and records the tract and ONNX Runtime
//! accuracies in `onnx-models/artifacts/manifest.json`.

use anyhow::Result;
use conformance::report::{self, ModelReport, Report};
use onnx_models::manifest::Manifest;

fn main() -> Result<()> {
    let started = std::time::Instant::now();
    let onnxruntime = conformance::engines::ort_init()?;
    let test = conformance::test_set()?;
    let mut models = Vec::new();
    for m in onnx_models::ALL {
        eprintln!("measuring {} ...", m.name);
        let runs = conformance::measure(&m, &test)?;
        models.push(ModelReport::new(&runs, &test.labels));
    }
    let r = Report {
        onnxruntime,
        tract: conformance::engines::TRACT_VERSION.to_string(),
        models,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    let root = onnx_models::artifacts_dir().join("..");
    std::fs::write(root.join("CONFORMANCE.json"), serde_json::to_string_pretty(&r)? + "\n")?;
    std::fs::write(root.join("CONFORMANCE.md"), report::markdown(&r))?;

    let dir = onnx_models::artifacts_dir();
    let mut manifest = Manifest::read(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    for m in &r.models {
        if let Some(entry) = manifest.models.get_mut(&m.name) {
            for (key, engine) in [
                ("tract", "tract b1"),
                ("onnxruntime", "onnxruntime b1"),
                ("tract-int8", "tract-int8 b256"),
                ("onnxruntime-int8", "onnxruntime-int8 b256"),
            ] {
                if let Some(a) = m.accuracy.get(engine) {
                    entry.test_accuracy.insert(key.to_string(), *a);
                }
            }
        }
    }
    manifest.write(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", report::markdown(&r));
    Ok(())
}
