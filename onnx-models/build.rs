//! Build script: reads `artifacts/manifest.json` (the one list of published models), checks
//! that every file it names is there with its recorded size, parses every blob with infer-core
//! itself, and generates `ModelArtifacts` constants and `ALL` for the crate: the files as
//! bytes, the arena size (so firmware can size a static buffer) and MACs of each blob.

use std::fmt::Write as _;
use std::path::Path;

#[allow(dead_code)]
#[path = "src/manifest.rs"]
mod manifest;

fn ident(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed={}", dir.join("manifest.json").display());
    let m = manifest::Manifest::read(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut code = String::new();
    let mut names = Vec::new();
    for (name, e) in &m.models {
        for a in e.artifacts() {
            let p = dir.join(&a.file);
            println!("cargo:rerun-if-changed={}", p.display());
            let len = std::fs::metadata(&p).unwrap_or_else(|err| panic!("{}: {err}", p.display())).len();
            assert_eq!(len, a.bytes, "{}: {len} bytes, the manifest says {}", p.display(), a.bytes);
        }
        let blob = std::fs::read(dir.join(&e.blob.file)).unwrap_or_else(|err| panic!("{}: {err}", e.blob.file));
        let model = infer_core::Model::parse(&blob).unwrap_or_else(|err| panic!("{}: {err}", e.blob.file));
        let id = ident(name);
        let file = |f: &str| format!("include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/artifacts/{f}\"))");
        let io = &e.float_io;
        let _ = writeln!(
            code,
            "/// `{name}` ({}).",
            e.preset.as_deref().map_or("made elsewhere".to_string(), |p| format!("preset {p}"))
        );
        let _ = writeln!(code, "pub const {id}: ModelArtifacts = ModelArtifacts {{");
        let _ = writeln!(code, "    name: {name:?},");
        let _ = writeln!(code, "    preset: {:?},", e.preset);
        let _ = writeln!(code, "    onnx: {},", file(&e.onnx.file));
        let _ = writeln!(code, "    onnx_int8: {},", file(&e.onnx_int8.file));
        let _ = writeln!(code, "    blob: {},", file(&e.blob.file));
        let _ = writeln!(code, "    arena_len: {},", model.arena_len());
        let _ = writeln!(code, "    macs: {},", model.macs());
        let _ = writeln!(
            code,
            "    float_io: FloatInput {{ name: {:?}, shape: &{:?}, mean: {:?}, std: {:?}, output: {:?} }},",
            io.name, io.shape, io.mean, io.std, io.output
        );
        let _ = writeln!(code, "}};");
        names.push(id);
    }
    let _ = writeln!(code, "/// Every published model, in name order.");
    let _ = writeln!(code, "pub const ALL: [ModelArtifacts; {}] = [{}];", names.len(), names.join(", "));
    std::fs::write(Path::new(&out).join("models.rs"), code).expect("writing models.rs");
}
