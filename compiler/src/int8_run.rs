//! Running a compiled blob with infer-core over a set of images, on all cores.

use infer_core::Model;

use crate::error::CompileError;
use crate::images::Images;

/// Predictions and int8 logits.
type Outputs = (Vec<u8>, Vec<i8>);

/// The int8 predictions and logits (`len · classes`) of `blob` over `images`.
pub fn run_int8(blob: &[u8], images: &Images) -> Result<Outputs, CompileError> {
    let model =
        Model::parse(blob).map_err(|e| CompileError::Internal(format!("the compiler wrote an invalid blob: {e}")))?;
    if model.input_len() != images.per_image() {
        return Err(CompileError::BadImages(format!(
            "images of {} pixels for a model that takes {}",
            images.per_image(),
            model.input_len()
        )));
    }
    let n = images.len();
    let threads = std::thread::available_parallelism().map_or(1, |v| v.get()).clamp(1, 8);
    let per = n.div_ceil(threads).max(1);
    let parts: Vec<Result<Outputs, CompileError>> = std::thread::scope(|s| {
        let model = &model;
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                s.spawn(move || {
                    let mut arena = vec![0u8; model.arena_len()];
                    let (mut preds, mut logits) = (Vec::new(), Vec::new());
                    for i in start..(start + per).min(n) {
                        let out = model
                            .run(images.image(i), &mut arena)
                            .map_err(|e| CompileError::Internal(e.to_string()))?;
                        preds.push(out.argmax() as u8);
                        logits.extend_from_slice(&out.values);
                    }
                    Ok((preds, logits))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(CompileError::Internal("an inference thread panicked".into()))))
            .collect()
    });
    let (mut preds, mut logits) = (Vec::with_capacity(n), Vec::with_capacity(n * model.num_outputs()));
    for p in parts {
        let (a, b) = p?;
        preds.extend(a);
        logits.extend(b);
    }
    Ok((preds, logits))
}

/// Share of positions where `a` and `b` agree.
pub fn agreement(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64
}
