//! `host-trainer publish --refresh-reports`: the compiler's reports and the manifest's arena
//! figures rewritten from the committed models, and nothing written when a blob would change.

use std::path::Path;
use std::process::Command;

const NAME: &str = "sklearn-mlp";

fn refresh(out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
        .args(["publish", "--refresh-reports", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn refresh_reports_rewrites_the_reports_and_refuses_a_changed_blob() {
    let committed = onnx_models::artifacts_dir();
    let dir = tempfile::tempdir().unwrap();
    // One published model (the smallest) with its manifest entry, its report out of date.
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(committed.join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["models"][NAME].clone();
    manifest["models"] = serde_json::json!({ NAME: entry });
    manifest["models"][NAME]["arena_bytes"] = 1.into();
    std::fs::write(dir.path().join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    for ext in ["onnx", "ic8", "int8.onnx", "quant.json"] {
        let f = format!("{NAME}.{ext}");
        std::fs::copy(committed.join(&f), dir.path().join(&f)).unwrap();
    }
    let md = dir.path().join(format!("{NAME}.quant.md"));
    std::fs::write(&md, "stale").unwrap();

    let out = refresh(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let refreshed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(refreshed["models"][NAME], entry, "the entry is the committed one again");
    for ext in ["quant.json", "quant.md"] {
        let f = format!("{NAME}.{ext}");
        assert!(std::fs::read(dir.path().join(&f)).unwrap() == std::fs::read(committed.join(&f)).unwrap(), "{f}");
    }

    // A blob the compiler would not make again: refused, nothing written.
    let blob = dir.path().join(format!("{NAME}.ic8"));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    std::fs::write(&md, "stale").unwrap();
    let out = refresh(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("the blob would change"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&md).unwrap(), "stale");
}
