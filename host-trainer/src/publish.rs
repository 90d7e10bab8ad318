//! Publishing into `onnx-models/artifacts`: trained runs (their burn weights, the float ONNX
//! the compiler took, the int8 blob and QDQ model, the compiler's report) or a float ONNX model
//! made elsewhere (compiled the same way), each with the manifest entry that says how it was
//! made (the exact training and publishing commands, seed, dataset checksums) and what it
//! scores. The manifest keeps the entries it already has; a published name is replaced.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use int8_compiler::{CompileData, CompileOptions, Images, Normalization};
use onnx_models::manifest::{Artifact, FloatIo, Manifest, ModelEntry};

use crate::data::FashionMnist;
use crate::data::train_val_split;
use crate::evaluation::Checkpoint;
use crate::job::{eval_existing, quantize};
use crate::quantize::QuantizeOptions;
use crate::run_dir::{RunPaths, write_atomic};

/// The seed of the train/validation split a model made elsewhere is calibrated with.
pub const FOREIGN_SPLIT_SEED: u64 = 42;

fn manifest_err(e: onnx_models::manifest::ManifestError) -> anyhow::Error {
    anyhow!("{e}")
}

fn start(data: &FashionMnist, out: &Path) -> Result<Manifest> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut m = Manifest::read(out).map_err(manifest_err)?;
    m.dataset = data.files.iter().map(|f| (f.name.clone(), f.sha256.clone())).collect();
    Ok(m)
}

/// Publishes trained runs under their presets' names (`name` for a single run), with their
/// burn weights when `burn_weights`.
pub fn publish_runs(
    data: &FashionMnist,
    dirs: &[PathBuf],
    name: Option<&str>,
    burn_weights: bool,
    out: &Path,
) -> Result<Manifest> {
    if name.is_some() && dirs.len() != 1 {
        bail!("--name names one run; publish {} runs one at a time to name them", dirs.len());
    }
    let mut m = start(data, out)?;
    let mut names = Vec::new();
    for dir in dirs {
        let paths = RunPaths::new(dir);
        let run = eval_existing(data, dir, Checkpoint::Best)?;
        let preset = run.state.config.preset;
        let model = name.unwrap_or(preset.name()).to_string();
        if names.contains(&model) {
            bail!("two runs would both be published as {model}: publish one of them with --name");
        }
        let bpk = format!("{model}.bpk");
        if burn_weights {
            write_atomic(&out.join(&bpk), &std::fs::read(run.state.best_model(&paths))?)?;
        } else if out.join(&bpk).exists() {
            std::fs::remove_file(out.join(&bpk)).with_context(|| format!("removing {bpk}"))?;
        }
        // Writes <name>.onnx (the float model the compiler took) beside the int8 files.
        let q = quantize(data, &run, &QuantizeOptions { name: Some(model.clone()), ..Default::default() }, out)?;
        let mut acc = std::collections::BTreeMap::new();
        acc.insert("burn".to_string(), run.test.accuracy);
        acc.insert("infer-core-int8".to_string(), q.int8_accuracy());
        let mut flags = if name.is_some() { format!(" --name {model}") } else { String::new() };
        if !burn_weights {
            flags.push_str(" --without-burn-weights");
        }
        m.models.insert(
            model.clone(),
            ModelEntry {
                preset: Some(preset.name().to_string()),
                params: run.test.params,
                macs: q.compile.macs,
                seed: run.state.config.seed,
                epochs: run.state.history.len(),
                epoch: run.test.epoch,
                train_command: run.state.config.command(dir),
                publish_command: format!(
                    "cargo run -p host-trainer --release -- publish --run-dir {}{flags}",
                    dir.display()
                ),
                burn: if burn_weights { Some(Artifact::of(out, &bpk).map_err(manifest_err)?) } else { None },
                onnx: Artifact::of(out, &format!("{model}.onnx")).map_err(manifest_err)?,
                float_io: FloatIo::ours(),
                onnx_int8: Artifact::of(out, &format!("{model}.int8.onnx")).map_err(manifest_err)?,
                blob: Artifact::of(out, &format!("{model}.ic8")).map_err(manifest_err)?,
                quant_report: Artifact::of(out, &format!("{model}.quant.json")).map_err(manifest_err)?,
                test_accuracy: acc,
                arena_bytes: q.compile.arena_bytes,
                calibration: format!("{:?}", q.compile.method),
            },
        );
        m.write(out).map_err(manifest_err)?;
        eprintln!("published {} as {model} -> {}", dir.display(), out.display());
        names.push(model);
    }
    Ok(m)
}

/// Recompiles every model of `out`'s manifest from its committed float ONNX (calibration and
/// method from its seeded split, the report from the test set, as publishing did) and rewrites
/// what depends only on the compiler's report: NAME.quant.json, NAME.quant.md, the manifest's
/// arena bytes and report checksum (and MODELS.md). Checks first that every blob and QDQ model
/// comes out byte for byte as committed, and writes nothing otherwise.
pub fn refresh_reports(data: &FashionMnist, out: &Path) -> Result<Manifest> {
    let mut m = start(data, out)?;
    if m.models.is_empty() {
        bail!("{}: no published models to refresh", out.display());
    }
    let mut reports = Vec::new();
    for (name, e) in &m.models {
        let onnx = std::fs::read(out.join(&e.onnx.file)).with_context(|| format!("reading {}", e.onnx.file))?;
        let (train, val) = train_val_split(&data.train, 6000, e.seed)?;
        let images = CompileData {
            calibration: Images::from_split(&train),
            selection: Images::from_split(&val),
            test: Some(Images::from_split(&data.test)),
        };
        let mut opts = CompileOptions::new(name);
        opts.normalization = Normalization { mean: e.float_io.mean, std: e.float_io.std };
        let c = int8_compiler::compile(&onnx, &images, &opts).map_err(|err| anyhow!("compiling {name}: {err}"))?;
        for (what, bytes, artifact) in [("blob", &c.blob, &e.blob), ("QDQ model", &c.qdq, &e.onnx_int8)] {
            let committed =
                std::fs::read(out.join(&artifact.file)).with_context(|| format!("reading {}", artifact.file))?;
            if *bytes != committed {
                bail!("{name}: the {what} would change ({}): publish the model again instead", artifact.file);
            }
        }
        reports.push((name.clone(), c.report));
    }
    for (name, report) in reports {
        write_atomic(&out.join(format!("{name}.quant.json")), &serde_json::to_vec_pretty(&report)?)?;
        write_atomic(&out.join(format!("{name}.quant.md")), int8_compiler::report::markdown(&report).as_bytes())?;
        if let Some(e) = m.models.get_mut(&name) {
            e.arena_bytes = report.arena_bytes;
            e.quant_report = Artifact::of(out, &format!("{name}.quant.json")).map_err(manifest_err)?;
        }
    }
    m.write(out).map_err(manifest_err)?;
    Ok(m)
}

/// Publishes a float ONNX model made elsewhere as `name`: compiled with the seeded split's
/// training images for calibration and its validation images for the method, evaluated on the
/// test set; `train_command` is what made it.
pub fn publish_onnx(
    data: &FashionMnist,
    file: &Path,
    name: &str,
    train_command: &str,
    norm: Normalization,
    out: &Path,
) -> Result<Manifest> {
    let mut m = start(data, out)?;
    let onnx = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (train, val) = train_val_split(&data.train, 6000, FOREIGN_SPLIT_SEED)?;
    let images = CompileData {
        calibration: Images::from_split(&train),
        selection: Images::from_split(&val),
        test: Some(Images::from_split(&data.test)),
    };
    let mut opts = CompileOptions::new(name);
    opts.normalization = norm;
    let c = int8_compiler::compile(&onnx, &images, &opts).map_err(|e| anyhow!("compiling {}: {e}", file.display()))?;
    let loaded = int8_compiler::load::load(&onnx, &opts.load).map_err(|e| anyhow!("{e}"))?;
    let test = c.report.test.ok_or_else(|| anyhow!("no test report"))?;
    for (ext, bytes) in [
        ("onnx", onnx.clone()),
        ("ic8", c.blob.clone()),
        ("int8.onnx", c.qdq.clone()),
        ("quant.json", serde_json::to_vec_pretty(&c.report)?),
        ("quant.md", int8_compiler::report::markdown(&c.report).into_bytes()),
    ] {
        write_atomic(&out.join(format!("{name}.{ext}")), &bytes)?;
    }
    let mut acc = std::collections::BTreeMap::new();
    acc.insert("tract".to_string(), test.f32_accuracy);
    acc.insert("infer-core-int8".to_string(), test.int8_accuracy);
    let params: usize = c.quant.weights.iter().flatten().map(|w| w.w.len() + w.bias.len()).sum();
    let shape = loaded.input_shape[1..].to_vec();
    m.models.insert(
        name.to_string(),
        ModelEntry {
            preset: None,
            params,
            macs: c.report.macs,
            seed: FOREIGN_SPLIT_SEED,
            epochs: 0,
            epoch: 0,
            train_command: train_command.to_string(),
            publish_command: format!(
                "cargo run -p host-trainer --release -- publish --onnx {} --name {name} --train-command '{train_command}' --input-mean {} --input-std {}",
                file.display(),
                norm.mean,
                norm.std
            ),
            burn: None,
            onnx: Artifact::of(out, &format!("{name}.onnx")).map_err(manifest_err)?,
            float_io: FloatIo { name: loaded.io.0.clone(), shape, mean: norm.mean, std: norm.std, output: loaded.io.1 },
            onnx_int8: Artifact::of(out, &format!("{name}.int8.onnx")).map_err(manifest_err)?,
            blob: Artifact::of(out, &format!("{name}.ic8")).map_err(manifest_err)?,
            quant_report: Artifact::of(out, &format!("{name}.quant.json")).map_err(manifest_err)?,
            test_accuracy: acc,
            arena_bytes: c.report.arena_bytes,
            calibration: format!("{:?}", c.report.method),
        },
    );
    m.write(out).map_err(manifest_err)?;
    eprintln!("published {} as {name} -> {}", file.display(), out.display());
    Ok(m)
}
