//! The original model, run by tract: the reference the lowering is checked against, and the
//! float accuracy the int8 model is compared with.

use tract_onnx::prelude::*;

use crate::error::CompileError;
use crate::graph::FloatGraph;
use crate::images::Images;
use crate::load::Loaded;
use crate::lower::Normalization;

/// A runnable plan of the loaded model (batch 1), fed the way the model expects its input.
pub struct Reference {
    plan: Arc<TypedSimplePlan>,
    shape: Vec<usize>,
    norm: Normalization,
}

fn tract(e: TractError) -> CompileError {
    CompileError::Load(format!("{e:#}"))
}

impl Reference {
    /// The loaded model, computing `outlet` (its output, or the logits before a Softmax).
    pub fn new(loaded: &Loaded, outlet: OutletId, norm: Normalization) -> Result<Self, CompileError> {
        let mut model = loaded.model.clone();
        model.select_output_outlets(&[outlet]).map_err(tract)?;
        let plan = model.into_optimized().map_err(tract)?.into_runnable().map_err(tract)?;
        Ok(Self { plan, shape: loaded.input_shape.clone(), norm })
    }

    /// The model's output for one image of raw pixels.
    pub fn run(&self, pixels: &[u8]) -> Result<Vec<f32>, CompileError> {
        let x: Vec<f32> = pixels.iter().map(|&p| (f32::from(p) / 255.0 - self.norm.mean) / self.norm.std).collect();
        let input = Tensor::from_shape(&self.shape, &x).map_err(tract)?;
        let out = self.plan.run(tvec!(input.into())).map_err(tract)?;
        let view = out[0].to_plain_array_view::<f32>().map_err(tract)?;
        Ok(view.iter().copied().collect())
    }

    /// The predicted class of every image.
    pub fn predictions(&self, images: &Images) -> Result<Vec<u8>, CompileError> {
        (0..images.len()).map(|i| Ok(argmax(&self.run(images.image(i))?) as u8)).collect()
    }

    /// Checks that `graph` computes this plan's output on the first `n` images (to f32
    /// rounding: 1e-3 of the largest logit).
    pub fn check(&self, graph: &FloatGraph, images: &Images, n: usize) -> Result<(), CompileError> {
        for i in 0..n.min(images.len()) {
            let theirs = self.run(images.image(i))?;
            let ours = graph.logits(images.image(i));
            if ours.len() != theirs.len() {
                return Err(CompileError::Internal(format!("{} logits, tract has {}", ours.len(), theirs.len())));
            }
            let scale = theirs.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (index, (&o, &t)) in ours.iter().zip(&theirs).enumerate() {
                // A NaN on either side compares as `None`: it fails too.
                let close = (o - t).abs().partial_cmp(&(1e-3 * scale)).is_some_and(|c| c.is_le());
                if !close {
                    return Err(CompileError::Mismatch { image: i, index, ours: o, theirs: t });
                }
            }
        }
        Ok(())
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
