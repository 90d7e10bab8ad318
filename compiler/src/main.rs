//! `int8-compiler MODEL.onnx --calibration <Fashion-MNIST folder | images.npy> --out DIR`:
//! compiles a float ONNX image classifier into an infer-core int8 blob (`NAME.ic8`), the same
//! model as QDQ ONNX (`NAME.int8.onnx`) and a report (`NAME.quant.json`, `NAME.quant.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use int8_compiler::data;
use int8_compiler::{CompileData, CompileOptions, Method, Normalization, compile};

/// Compile a float ONNX image classifier to an int8 infer-core blob.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// The float ONNX model: input [N,1,H,W], [N,H,W,1], [N,H,W] or [N,H·W] (f32, one channel),
    /// output the class scores (logits, or probabilities after a final Softmax).
    model: PathBuf,
    /// Calibration images: a Fashion-MNIST folder (its IDX files: training images for
    /// calibration and choosing the method, test images for the report) or a .npy array of raw
    /// uint8 pixels ([N,H,W], [N,H·W], [N,1,H,W] or [N,H,W,1]).
    #[arg(long)]
    calibration: PathBuf,
    /// Labels for a .npy calibration set (a .npy uint8 array [N]): the method is then chosen by
    /// accuracy instead of by agreement with the float model.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Where to write NAME.ic8, NAME.int8.onnx, NAME.quant.json and NAME.quant.md.
    #[arg(long)]
    out: PathBuf,
    /// The model's name in the output files and the report (default: the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Calibration method; without it, every method is tried and the one that scores best on
    /// the held-back images is kept.
    #[arg(long, value_enum)]
    method: Option<Method>,
    /// Calibration images (the first ones of the set).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    calibration_images: u32,
    /// Images held back from the end of the set to choose the method on (a .npy set holds back
    /// at most a tenth of its images).
    #[arg(long, default_value_t = 6000)]
    held_back: usize,
    /// The model was trained on (pixel/255 − MEAN) / STD: the mean (folded into its first layer,
    /// so the device still takes raw pixels).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    input_mean: f32,
    /// The model was trained on (pixel/255 − MEAN) / STD: the standard deviation.
    #[arg(long, default_value_t = 1.0)]
    input_std: f32,
    /// The output to compile, by ONNX name (default: the model's one f32 output).
    #[arg(long)]
    output: Option<String>,
    /// Image height and width (e.g. 28x28), for a flat or dynamic input.
    #[arg(long, value_parser = parse_image)]
    image: Option<(usize, usize)>,
}

fn parse_image(s: &str) -> Result<(usize, usize), String> {
    let (h, w) = s.split_once(['x', 'X']).ok_or_else(|| format!("`{s}` is not HxW (e.g. 28x28)"))?;
    let side = |v: &str| {
        v.trim().parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("`{s}` is not HxW (e.g. 28x28)"))
    };
    Ok((side(h)?, side(w)?))
}

/// Writes `bytes` to `path` through a temporary file in the same folder.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn run(args: Args) -> Result<(), String> {
    let bytes = std::fs::read(&args.model).map_err(|e| format!("cannot read {}: {e}", args.model.display()))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| args.model.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned()));
    let set = data::read(&args.calibration, args.labels.as_deref(), args.held_back).map_err(|e| e.to_string())?;
    let calibration = set.calibration.images().map_err(|e| e.to_string())?;
    let selection = set.selection.images().map_err(|e| e.to_string())?;
    let test = set.test.as_ref().map(|t| t.images()).transpose().map_err(|e| e.to_string())?;
    let mut opts = CompileOptions::new(&name);
    opts.method = args.method;
    opts.calibration_images = args.calibration_images as usize;
    opts.normalization = Normalization { mean: args.input_mean, std: args.input_std };
    opts.load.output = args.output.clone();
    opts.load.image = args.image;
    let c = compile(&bytes, &CompileData { calibration, selection, test }, &opts).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let files = [
        (format!("{name}.ic8"), c.blob.clone()),
        (format!("{name}.int8.onnx"), c.qdq.clone()),
        (format!("{name}.quant.json"), serde_json::to_vec_pretty(&c.report).map_err(|e| e.to_string())?),
        (format!("{name}.quant.md"), int8_compiler::report::markdown(&c.report).into_bytes()),
    ];
    for (file, bytes) in &files {
        let path = args.out.join(file);
        write_atomic(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let r = &c.report;
    println!(
        "{name}: {} layers, {} MACs, blob {} B, arena {} B; calibration {:?} on {} images ({} {:.2}% on {} held back)",
        r.layers.len(),
        r.macs,
        r.blob_bytes,
        r.arena_bytes,
        r.method,
        r.calibration_images,
        r.criterion,
        100.0 * r.candidates.iter().find(|(m, _)| *m == r.method).map_or(f64::NAN, |(_, s)| *s),
        r.selection_images
    );
    if let Some(t) = &r.test {
        println!(
            "test ({} images): f32 {:.2}%, int8 {:.2}% ({:+.2} pp), top-1 agreement {:.2}%",
            t.images,
            100.0 * t.f32_accuracy,
            100.0 * t.int8_accuracy,
            100.0 * (t.int8_accuracy - t.f32_accuracy),
            100.0 * t.top1_agreement
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
