//! The pipeline: load → lower → check the lowering against tract → calibrate → quantize with
//! each calibration method and keep the one that scores best on held-back images → blob, QDQ
//! ONNX, report.

use crate::calibration::{self, Method};
use crate::error::CompileError;
use crate::images::Images;
use crate::int8::QuantGraph;
use crate::int8_run::{agreement, run_int8};
use crate::load::{self, LoadOptions};
use crate::lower::{self, Normalization};
use crate::qdq;
use crate::reference::Reference;
use crate::report::{self, CompileReport, TestReport};

/// What to compile and how.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The model's name (report, QDQ graph).
    pub name: String,
    /// Output choice and image size, where the file does not say.
    pub load: LoadOptions,
    /// The normalization the model expects on `pixel / 255` (folded into the first layer).
    pub normalization: Normalization,
    /// Calibration method; `None` tries every one and keeps the best on the held-back images.
    pub method: Option<Method>,
    /// Calibration images used (the first ones).
    pub calibration_images: usize,
    /// Images the lowering is checked on against tract.
    pub check_images: usize,
}

impl CompileOptions {
    /// Defaults for a model called `name`: every method tried, 2,000 calibration images.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            load: LoadOptions::default(),
            normalization: Normalization::NONE,
            method: None,
            calibration_images: 2000,
            check_images: 16,
        }
    }
}

/// The images a compilation uses.
#[derive(Debug, Clone, Copy)]
pub struct CompileData<'a> {
    /// Calibration (activation ranges).
    pub calibration: Images<'a>,
    /// Held back from calibration: the method is chosen on these (accuracy when they are
    /// labelled, else agreement with the float model).
    pub selection: Images<'a>,
    /// Labelled test images for the report, if any.
    pub test: Option<Images<'a>>,
}

/// A compiled model.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The infer-core blob.
    pub blob: Vec<u8>,
    /// The same integer model as QDQ ONNX.
    pub qdq: Vec<u8>,
    /// The quantized graph (scales, zero points, integer weights).
    pub quant: QuantGraph,
    /// What happened.
    pub report: CompileReport,
}

fn check_options(opts: &CompileOptions, data: &CompileData) -> Result<(), CompileError> {
    let n = opts.normalization;
    if !(n.std.is_finite() && n.std > 0.0) {
        return Err(CompileError::Option(format!("--input-std must be finite and positive, not {}", n.std)));
    }
    if !n.mean.is_finite() {
        return Err(CompileError::Option(format!("--input-mean must be finite, not {}", n.mean)));
    }
    if opts.calibration_images == 0 {
        return Err(CompileError::Option("--calibration-images must be at least 1".into()));
    }
    if data.calibration.is_empty() {
        return Err(CompileError::BadImages("no calibration images".into()));
    }
    if data.selection.is_empty() && opts.method.is_none() {
        return Err(CompileError::BadImages("no held-back images to choose the calibration method on".into()));
    }
    if let Some(t) = data.test
        && t.labels().is_none()
    {
        return Err(CompileError::BadImages("test images without labels".into()));
    }
    Ok(())
}

/// Compiles a float ONNX model (see the crate docs).
pub fn compile(onnx: &[u8], data: &CompileData, opts: &CompileOptions) -> Result<Compiled, CompileError> {
    check_options(opts, data)?;
    let loaded = load::load(onnx, &opts.load)?;
    let pixels = loaded.image.0 * loaded.image.1;
    for (what, set) in
        [("calibration", Some(data.calibration)), ("held-back", Some(data.selection)), ("test", data.test)]
    {
        if let Some(set) = set
            && !set.is_empty()
            && set.per_image() != pixels
        {
            return Err(CompileError::BadImages(format!(
                "{what} images have {} pixels; the model takes {}x{}",
                set.per_image(),
                loaded.image.0,
                loaded.image.1
            )));
        }
    }
    let lowered = lower::lower(&loaded.model, loaded.image, opts.normalization).map_err(|e| match e {
        // Name the nodes as the file does: its node name, its ONNX op (and tract's, if another).
        CompileError::Unsupported { mut nodes } => {
            for n in &mut nodes {
                if let Some((name, op)) = loaded.onnx_node(&n.name) {
                    if *op != n.op {
                        n.op = format!("{op}, as tract's {}", n.op);
                    }
                    n.name = name.clone();
                }
            }
            CompileError::Unsupported { nodes }
        }
        e => e,
    })?;
    let reference = Reference::new(&loaded, lowered.logits, opts.normalization)?;
    reference.check(&lowered.graph, &data.calibration, opts.check_images)?;
    let graph = lowered.graph;

    let calibration = data.calibration.range(0, opts.calibration_images);
    let obs = calibration::observe(&graph, &calibration, calibration.len());
    let methods: Vec<Method> = opts.method.map_or(Method::ALL.to_vec(), |m| vec![m]);
    let (criterion, truth) = match data.selection.labels() {
        Some(l) => ("accuracy", l.to_vec()),
        None => ("agreement", reference.predictions(&data.selection)?),
    };
    let mut candidates = Vec::new();
    let mut best: Option<(f64, Method, QuantGraph, Vec<u8>)> = None;
    for m in methods {
        let ranges: Vec<(f32, f32)> = obs.values.iter().map(|v| calibration::range(v, m)).collect();
        let q = QuantGraph::new(&graph, &ranges)?;
        let blob = q.blob();
        let score =
            if data.selection.is_empty() { f64::NAN } else { agreement(&run_int8(&blob, &data.selection)?.0, &truth) };
        candidates.push((m, score));
        if best.as_ref().is_none_or(|b| score > b.0 || b.0.is_nan()) {
            best = Some((score, m, q, blob));
        }
    }
    let (_, method, quant, blob) = best.ok_or_else(|| CompileError::Internal("no calibration method".into()))?;
    let qdq = qdq::qdq_onnx(&quant, &format!("{}-int8", opts.name))?;
    let model = infer_core::Model::parse(&blob).map_err(|e| CompileError::Internal(e.to_string()))?;
    let layers = report::layers(&quant, &blob, &calibration, 256)?;
    let test = match data.test {
        Some(t) => {
            let labels = t.labels().unwrap_or_default();
            let float = reference.predictions(&t)?;
            let (int8, _) = run_int8(&blob, &t)?;
            Some(TestReport {
                images: t.len(),
                f32_accuracy: agreement(&float, labels),
                int8_accuracy: agreement(&int8, labels),
                top1_agreement: agreement(&int8, &float),
            })
        }
        None => None,
    };
    let report = CompileReport {
        model: opts.name.clone(),
        method,
        candidates,
        criterion: criterion.to_string(),
        calibration_images: calibration.len(),
        selection_images: data.selection.len(),
        test,
        blob_bytes: blob.len(),
        arena_bytes: model.arena_len(),
        weight_bytes: model.weight_bytes(),
        macs: model.macs(),
        layers,
    };
    Ok(Compiled { blob, qdq, quant, report })
}
