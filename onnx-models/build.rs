//! Build script: (1) parses every committed infer-core blob with infer-core itself and emits
//! its arena size as a compile-time constant, so firmware can size a static buffer; (2) imports
//! every committed float ONNX model back into burn with burn-onnx's `ModelGen`, which closes
//! the burn → ONNX → burn round trip.

use std::fmt::Write as _;
use std::path::Path;

const MODELS: [&str; 2] = ["mlp-128-64", "cnn-baseline"];

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut consts = String::new();
    for name in MODELS {
        let blob_path = dir.join(format!("{name}.ic8"));
        println!("cargo:rerun-if-changed={}", blob_path.display());
        let blob = std::fs::read(&blob_path).unwrap_or_else(|e| panic!("{}: {e}", blob_path.display()));
        let model = infer_core::Model::parse(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob_path.display()));
        let ident = name.replace('-', "_").to_uppercase();
        let _ = writeln!(consts, "/// Arena bytes infer-core needs for `{name}.ic8`.");
        let _ = writeln!(consts, "pub const {ident}_ARENA_LEN: usize = {};", model.arena_len());
        let _ = writeln!(consts, "/// Multiply-accumulates per inference of `{name}`.");
        let _ = writeln!(consts, "pub const {ident}_MACS: usize = {};", model.macs());

        let onnx = dir.join(format!("{name}.onnx"));
        println!("cargo:rerun-if-changed={}", onnx.display());
        burn_onnx::ModelGen::new()
            .input(onnx.to_str().expect("utf-8 path"))
            .out_dir("imported/")
            .load_strategy(burn_onnx::LoadStrategy::Embedded)
            .run_from_script();
    }
    std::fs::write(Path::new(&out).join("constants.rs"), consts).expect("writing constants.rs");
}
