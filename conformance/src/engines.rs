//! The engines under comparison, behind one shape: images in, logits out.
//!
//! Images are raw u8 pixels (`n · 784`); the float engines see `p / 255` as f32 `[N,1,28,28]`.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Result, anyhow, bail};
use tract_onnx::prelude::*;

/// Pixels → f32 in [0,1].
pub fn scaled(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
}

/// Where the ONNX Runtime library is: `ORT_DYLIB_PATH`, or the venv `.ci/run` creates.
pub fn ort_library() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("ORT_DYLIB_PATH={} does not exist", p.display());
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let site = home.join(".cache/fmnist-edge/venv/lib");
    if let Ok(entries) = std::fs::read_dir(&site) {
        for e in entries.flatten() {
            let p = e.path().join("site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "ONNX Runtime library not found. Install it with:\n  python3 -m venv ~/.cache/fmnist-edge/venv && ~/.cache/fmnist-edge/venv/bin/pip install onnxruntime==1.31.1\nor set ORT_DYLIB_PATH to libonnxruntime.so.1.31.1"
    )
}

static ORT_ENV: OnceLock<Result<(ort::environment::Environment, String), String>> = OnceLock::new();

fn ort_env() -> Result<&'static ort::environment::Environment> {
    match ORT_ENV.get_or_init(|| {
        let path = ort_library().map_err(|e| e.to_string())?;
        let builder = ort::init_from(&path).map_err(|e| format!("loading {}: {e}", path.display()))?;
        let env = builder.with_name("conformance").build().map_err(|e| e.to_string())?;
        Ok((env, ort::info().to_string()))
    }) {
        Ok((env, _)) => Ok(env),
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// Loads ONNX Runtime once per process; returns its build information.
pub fn ort_init() -> Result<String> {
    ort_env()?;
    match ORT_ENV.get() {
        Some(Ok((_, info))) => Ok(info.clone()),
        _ => Err(anyhow!("ONNX Runtime is not initialised")),
    }
}

fn ort_session(
    env: &ort::environment::Environment,
    model: &[u8],
    level: ort::session::builder::GraphOptimizationLevel,
) -> ort::Result<ort::session::Session> {
    ort::session::Session::builder(env)?
        .with_optimization_level(level)
        .map_err(ort::Error::<()>::from)?
        .with_intra_threads(1)
        .map_err(ort::Error::<()>::from)?
        .commit_from_memory(model)
}

/// An ONNX Runtime session (one intra-op thread, all graph optimizations).
pub struct Ort(ort::session::Session);

impl Ort {
    /// Builds a session from ONNX bytes; a malformed model is an error.
    pub fn new(model: &[u8]) -> Result<Self> {
        let env = ort_env()?;
        ort_session(env, model, ort::session::builder::GraphOptimizationLevel::Level3)
            .map(Self)
            .map_err(|e| anyhow!("ONNX Runtime rejected the model: {e}"))
    }

    /// A session without graph optimizations (the graph run node by node as written).
    pub fn unoptimized(model: &[u8]) -> Result<Self> {
        let env = ort_env()?;
        ort_session(env, model, ort::session::builder::GraphOptimizationLevel::Disable)
            .map(Self)
            .map_err(|e| anyhow!("ONNX Runtime rejected the model: {e}"))
    }

    /// Runs any float model: `data` (`[n, ...shape]` row-major, in batches of `batch`) into
    /// input `input`; returns output `output`, row after row.
    pub fn run(&mut self, input: &str, shape: &[usize], data: &[f32], output: &str, batch: usize) -> Result<Vec<f32>> {
        let per: usize = shape.iter().product();
        let mut out = Vec::new();
        for chunk in data.chunks(batch * per) {
            let dims: Vec<usize> = std::iter::once(chunk.len() / per).chain(shape.iter().copied()).collect();
            let x = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), chunk.to_vec())?;
            let tensor = ort::value::TensorRef::from_array_view(x.view())?;
            let result = self.0.run(ort::inputs![input => tensor])?;
            out.extend(result[output].try_extract_array::<f32>()?.iter().copied());
        }
        Ok(out)
    }

    /// A float model's output for `pixels`, fed as `io` says, in batches of `batch`.
    pub fn float_logits(&mut self, io: &onnx_models::FloatInput, pixels: &[u8], batch: usize) -> Result<Vec<f32>> {
        let x: Vec<f32> = scaled(pixels).iter().map(|v| (v - io.mean) / io.std).collect();
        self.run(io.name, io.shape, &x, io.output, batch)
    }

    /// Logits for `pixels` in batches of `batch` (input `image` `[N,1,28,28]`, output `logits`).
    pub fn logits(&mut self, pixels: &[u8], batch: usize) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for chunk in pixels.chunks(batch * 784) {
            let n = chunk.len() / 784;
            let input = ndarray::Array4::from_shape_vec((n, 1, 28, 28), scaled(chunk))?;
            let tensor = ort::value::TensorRef::from_array_view(input.view())?;
            let result = self.0.run(ort::inputs!["image" => tensor])?;
            let logits = result["logits"].try_extract_array::<f32>()?;
            out.extend(logits.iter().copied());
        }
        Ok(out)
    }
}

/// A tract model optimized for a fixed batch.
pub struct Tract {
    plan: Arc<TypedRunnableModel>,
    batch: usize,
    shape: Vec<usize>,
    mean: f32,
    std: f32,
}

impl Tract {
    /// Loads ONNX bytes for batch `batch` (input `[N,1,28,28]` in [0,1]); a malformed model is
    /// an error.
    pub fn new(model: &[u8], batch: usize) -> Result<Self> {
        Self::load(model, batch, &[1, 28, 28], 0.0, 1.0, None)
    }

    /// A float model fed as `io` says, computing its output `io.output`.
    pub fn with_input(model: &[u8], batch: usize, io: &onnx_models::FloatInput) -> Result<Self> {
        Self::load(model, batch, io.shape, io.mean, io.std, Some(io.output))
    }

    fn load(model: &[u8], batch: usize, shape: &[usize], mean: f32, std: f32, output: Option<&str>) -> Result<Self> {
        let dims: Vec<usize> = std::iter::once(batch).chain(shape.iter().copied()).collect();
        let mut m = tract_onnx::onnx().model_for_read(&mut std::io::Cursor::new(model))?;
        if let Some(name) = output {
            m.select_outputs_by_name([name])?;
        }
        let plan = m.with_input_fact(0, f32::fact(&dims).into())?.into_optimized()?.into_runnable()?;
        Ok(Self { plan, batch, shape: dims, mean, std })
    }

    /// Logits for `pixels` (the last batch is zero-padded to the fixed batch size).
    pub fn logits(&self, pixels: &[u8]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for chunk in pixels.chunks(self.batch * 784) {
            let n = chunk.len() / 784;
            let mut x: Vec<f32> = scaled(chunk).iter().map(|v| (v - self.mean) / self.std).collect();
            x.resize(self.batch * 784, 0.0);
            let input = Tensor::from_shape(&self.shape, &x)?;
            let result = self.plan.run(tvec!(input.into()))?;
            let view = result[0].to_plain_array_view::<f32>()?;
            out.extend(view.iter().take(n * 10).copied());
        }
        Ok(out)
    }
}

/// The tract version this crate links.
pub const TRACT_VERSION: &str = "0.23.9";
