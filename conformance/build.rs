//! Build script: imports every published float ONNX model of ours (those with a preset) back
//! into burn with burn-onnx's `ModelGen`, which closes the burn → ONNX → burn round trip the
//! conformance suite checks, and generates `imported_forward`, which runs one by name.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut code = String::from(
        "/// The float model `name` as burn code, from its ONNX file: a function of `[N,1,28,28]` images to logits.\npub fn imported_forward(name: &str, device: &burn::prelude::Device) -> Option<Box<dyn Fn(burn::prelude::Tensor<4>) -> burn::prelude::Tensor<2>>> {\n    match name {\n",
    );
    let mut mods = String::new();
    for m in onnx_models::ALL.iter().filter(|m| m.preset.is_some()) {
        let onnx = m.path(onnx_models::Kind::Onnx);
        println!("cargo:rerun-if-changed={}", onnx.display());
        burn_onnx::ModelGen::new()
            .input(onnx.to_str().expect("utf-8 path"))
            .out_dir("imported/")
            .load_strategy(burn_onnx::LoadStrategy::Embedded)
            .run_from_script();
        let id = m.name.replace('-', "_");
        let _ = writeln!(
            mods,
            "#[allow(missing_docs, clippy::all, unused)]\npub mod {id} {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/imported/{}.rs\"));\n}}",
            m.name
        );
        let _ = writeln!(
            code,
            "        {:?} => {{\n            let model = {id}::Model::from_embedded(device);\n            Some(Box::new(move |x| model.forward(x)))\n        }}",
            m.name
        );
    }
    code.push_str("        _ => None,\n    }\n}\n");
    std::fs::write(Path::new(&out).join("imported.rs"), mods + &code).expect("writing imported.rs");
}
