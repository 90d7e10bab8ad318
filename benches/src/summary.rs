//! Reads criterion's results (`$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion` or
//! `target/criterion`) and writes `benches/RESULTS.md`: median latency per engine, infer-core's
//! ratio to ONNX Runtime f32 and tract f32, MACs per model and infer-core's share of this CPU's
//! int8 roofline. The latency benchmark calls [`write`] when it is done, in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// int8 multiply-accumulates per second of one core on the AVX2 path (vpmaddubsw + vpmaddwd:
/// 32 MAC per cycle on two 256-bit pipes) at 3.5 GHz, the machine class's figure.
const INT8_PEAK_AVX2: f64 = 112e9;

/// The same with AVX-512 VNNI (vpdpbusd), the machine class's figure.
const INT8_PEAK_VNNI: f64 = 229e9;

/// The roofline of the path `Model::run` takes on this CPU, and its name.
fn int8_peak() -> (f64, &'static str) {
    match infer_core::Isa::detect() {
        infer_core::Isa::X86Avx512Vnni => (INT8_PEAK_VNNI, "AVX-512 VNNI"),
        _ => (INT8_PEAK_AVX2, "AVX2"),
    }
}

/// The latency group's functions, in the order of the tables.
const ENGINES: [&str; 6] =
    ["infer-core-int8", "infer-core-int8 portable", "onnxruntime-f32", "onnxruntime-int8", "tract-f32", "tract-int8"];

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    target.join("criterion")
}

/// (group, function) → median nanoseconds, from every `new/benchmark.json` + `new/estimates.json`.
fn medians(dir: &Path) -> Result<BTreeMap<(String, String), f64>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("new/benchmark.json") {
                let b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p)?)?;
                let est: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p.with_file_name("estimates.json"))?)?;
                let median = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
                out.insert(
                    (
                        b["group_id"].as_str().unwrap_or("").to_string(),
                        b["function_id"].as_str().unwrap_or("").to_string(),
                    ),
                    median,
                );
            }
        }
    }
    Ok(out)
}

/// Writes `benches/RESULTS.md` from criterion's results and returns it.
pub fn write() -> Result<String> {
    let dir = criterion_dir();
    let m = medians(&dir)
        .with_context(|| format!("no criterion results in {}: run `cargo bench -p benches` first", dir.display()))?;
    let mut s = String::from("# Latency: infer-core vs ONNX Runtime vs tract\n\n");
    // The same medians, machine-readable (scripts/readme_table.py reads them): model → engine → µs.
    let mut json = serde_json::Map::new();
    let _ = writeln!(
        s,
        "`cargo bench -p benches` (one criterion run, same images, one thread; it writes this file when it is done). Medians. CPU: {}.\n",
        cpu_name()
    );
    for model in onnx_models::ALL {
        let group = format!("latency/{}", model.name);
        let get = |f: &str| m.get(&(group.clone(), f.to_string())).copied();
        // The engines this benchmark runs (criterion keeps results of functions since renamed).
        let engines: serde_json::Map<String, serde_json::Value> =
            ENGINES.iter().filter_map(|f| get(f).map(|ns| (f.to_string(), serde_json::json!(ns / 1e3)))).collect();
        json.insert(model.name.to_string(), serde_json::Value::Object(engines));
        let _ = writeln!(s, "## {} ({} MACs)\n", model.name, model.macs);
        let _ = writeln!(
            s,
            "| engine | batch-1 latency | per image over {} images |\n|---|---:|---:|",
            crate::THROUGHPUT_IMAGES
        );
        for f in ENGINES {
            let tp_name = if f.starts_with("infer-core") { f.to_string() } else { format!("{f} b256") };
            let tp =
                m.get(&(format!("throughput/{}", model.name), tp_name)).map(|ns| ns / crate::THROUGHPUT_IMAGES as f64);
            let _ = writeln!(
                s,
                "| {f} | {} | {} |",
                get(f).map_or("-".into(), |ns| format!("{:.1} µs", ns / 1e3)),
                tp.map_or("-".into(), |ns| format!("{:.1} µs", ns / 1e3))
            );
        }
        // infer-core's figure: `Model::run` (what a host user calls).
        let ic = get("infer-core-int8");
        if let (Some(ic), Some(ort), Some(tract)) = (ic, get("onnxruntime-f32"), get("tract-f32")) {
            let (peak, path) = int8_peak();
            let share = model.macs as f64 / (ic * 1e-9) / peak;
            let _ = writeln!(
                s,
                "\ninfer-core / ONNX Runtime f32: **{:.2}x**; infer-core / tract f32: **{:.2}x**; infer-core reaches {:.1}% of the int8 roofline ({} MACs in {:.1} µs against {:.0} GMAC/s, the {path} peak).\n",
                ic / ort,
                ic / tract,
                100.0 * share,
                model.macs,
                ic / 1e3,
                peak / 1e9
            );
        }
    }
    let path = match infer_core::Isa::detect() {
        infer_core::Isa::X86Avx512Vnni => "AVX2 and AVX-512 VNNI kernels taken on this CPU",
        infer_core::Isa::X86Avx2 => "AVX2 kernels taken on this CPU; no AVX-512 VNNI",
        _ => "not available on this CPU: portable kernels",
    };
    let _ = writeln!(
        s,
        "`infer-core-int8` is `Model::run` with feature `x86-dispatch`, which chooses its path at run time ({path}): the interpreter compiled for x86-64-v3, AVX2 intrinsic kernels for pooled convolutions (`vpmaddwd`, the four positions of a pool window sharing each weight load) and dense layers, and an AVX-512 VNNI kernel (`vpdpbusd` on activations shifted to unsigned, with a per-channel weight-sum correction) for pooled convolutions whose patches are whole 32-byte chunks. `infer-core-int8 portable` is the same model with `Kernels::Baseline`: the kernels of Rust's default x86-64 target (SSE2 only), no run-time dispatch. Bit-identical (the kernel contract; the conformance suite compares all 10,000 test images). The ratios use `Model::run`. ONNX Runtime dispatches to AVX2/AVX-512 at run time too.\n",
    );
    s.push_str("Roofline: one core's int8 multiply-accumulate peak at 3.5 GHz, the figures for this machine class: 112 GMAC/s on the AVX2 path (vpmaddubsw + vpmaddwd, 32 MACs per cycle), 229 GMAC/s with AVX-512 VNNI. The share is taken against the peak of the path `Model::run` takes here. MACs count every convolution position, also those a floor-mode pool drops (cnn-baseline's conv2 computes 1,843,200 of its 2,230,272).\n");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(dir.join("RESULTS.md"), &s)?;
    let json = serde_json::json!({ "cpu": cpu_name(), "batch1_latency_us": json });
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(s)
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
