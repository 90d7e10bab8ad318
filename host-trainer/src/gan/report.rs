//! `gan quality` and `gan sample`: load a trained generator, draw images, and score them with
//! a trained classifier against the test set, next to the two ends of the scale (uniform
//! noise and real training images).

use std::path::Path;

use anyhow::{Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::quality::{Gaussian, SetQuality, assess, look};
use super::training::{GanPaths, generate, load_generator, read_state};
use crate::data::idx::{CLASSES, PIXELS};
use crate::data::{CLASS_NAMES, FashionMnist};
use crate::model::Preset;
use crate::run_dir::{RunPaths, load_model, write_atomic};

/// Parses a class given by index (`7`) or by name, case-insensitively, in full or as the part
/// before a `/` (`sneaker`, `t-shirt`, `ankle boot`).
pub fn parse_class(s: &str) -> Result<u8> {
    if let Ok(i) = s.parse::<u8>()
        && usize::from(i) < CLASSES
    {
        return Ok(i);
    }
    let want = s.trim().to_lowercase();
    CLASS_NAMES
        .iter()
        .position(|n| {
            let n = n.to_lowercase();
            n == want || n.split('/').next() == Some(want.as_str())
        })
        .map(|i| i as u8)
        .ok_or_else(|| anyhow::anyhow!("unknown class {s:?}: use 0-9 or one of {}", CLASS_NAMES.join(", ")))
}

/// Draws `n` images from a trained generator (all of `class`, or cycling through the classes)
/// and writes them as a PNG grid, 8 per row. Returns the classes drawn.
pub fn sample(run_dir: &Path, n: usize, class: Option<u8>, seed: u64, out: &Path) -> Result<Vec<u8>> {
    let paths = GanPaths { dir: run_dir.to_path_buf() };
    let state = read_state(&paths)?;
    let device = state.config.backend.device()?;
    let generator = load_generator(&paths, state.config.widths, &device)?;
    let labels: Vec<u8> = (0..n).map(|i| class.unwrap_or((i % CLASSES) as u8)).collect();
    let pixels = generate(&generator, &labels, seed, &device)?;
    let title = match class {
        Some(c) => format!("WGAN-GP samples: {} (seed {seed})", CLASS_NAMES[usize::from(c)]),
        None => format!("WGAN-GP samples, classes in label order (seed {seed})"),
    };
    crate::plots::image_grid(&pixels, 8, &title, out)?;
    Ok(labels)
}

/// A trained classifier from a run directory (its best checkpoint) or from a weights file
/// named after its preset, such as the committed `onnx-models/artifacts/cnn-baseline.bpk`.
pub fn load_classifier(path: &Path, device: &burn::prelude::Device) -> Result<(Preset, crate::model::Net)> {
    if path.is_file() {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let preset = Preset::from_name(stem)
            .ok_or_else(|| anyhow::anyhow!("{}: a weights file must be named <preset>.bpk", path.display()))?;
        return Ok((preset, load_model(&preset.layers(), path, device)?));
    }
    let state = crate::run_dir::read_state(&RunPaths::new(path))?;
    let preset = state.config.preset;
    Ok((preset, load_model(&state.layers(), &state.best_model(&RunPaths::new(path)), device)?))
}

/// The quality figures of a GAN run.
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// The classifier run whose features are used.
    pub classifier: String,
    /// Its test accuracy is not needed here; its feature length is.
    pub feature_dim: usize,
    /// Reference set.
    pub reference: String,
    /// Generated samples, uniform noise, real training images.
    pub sets: Vec<SetQuality>,
}

/// Scores `per_class` generated images of every class against the test set in the feature
/// space of the classifier at `classifier_dir` (see [`load_classifier`]); writes `quality.md`/`quality.json`
/// into the GAN run.
pub fn quality(
    data: &FashionMnist,
    gan_dir: &Path,
    classifier_dir: &Path,
    per_class: usize,
    seed: u64,
) -> Result<QualityReport> {
    if per_class == 0 {
        bail!("--per-class must be at least 1");
    }
    let paths = GanPaths { dir: gan_dir.to_path_buf() };
    let state = read_state(&paths)?;
    let device = state.config.backend.device()?;
    let generator = load_generator(&paths, state.config.widths, &device)?;
    let (preset, classifier) = load_classifier(classifier_dir, &device)?;

    let n = per_class * CLASSES;
    let test = data.test.take(n);
    let reference_seen = look(&classifier, &test.pixels, &device)?;
    let reference = Gaussian::fit(&reference_seen.features, reference_seen.dim)?;

    let labels: Vec<u8> = (0..CLASSES as u8).flat_map(|c| std::iter::repeat_n(c, per_class)).collect();
    let generated = generate(&generator, &labels, seed, &device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise: Vec<u8> = (0..n * PIXELS).map(|_| rng.random()).collect();
    let real = data.train.take(n);

    let sets = vec![
        assess("uniform noise", &look(&classifier, &noise, &device)?, &reference, None)?,
        assess(
            &format!("WGAN-GP ({} epochs)", state.history.len()),
            &look(&classifier, &generated, &device)?,
            &reference,
            Some(&labels),
        )?,
        assess("real training images", &look(&classifier, &real.pixels, &device)?, &reference, Some(&real.labels))?,
    ];
    let report = QualityReport {
        classifier: format!("{} ({preset})", classifier_dir.display()),
        feature_dim: reference_seen.dim,
        reference: format!("{} test images", test.len()),
        sets,
    };
    write_atomic(&gan_dir.join("quality.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&gan_dir.join("quality.md"), markdown(&report).as_bytes())?;
    // Ten of each class, one class per row.
    let shown = per_class.min(10);
    let grid: Vec<u8> =
        (0..CLASSES).flat_map(|c| generated[c * per_class * PIXELS..][..shown * PIXELS].iter().copied()).collect();
    crate::plots::image_grid(&grid, shown, "WGAN-GP samples, one class per row", &gan_dir.join("samples.png"))?;
    Ok(report)
}

/// The report as a markdown table.
pub fn markdown(r: &QualityReport) -> String {
    let mut s = format!(
        "# WGAN-GP sample quality\n\nFeatures: penultimate layer ({} values) of {}; reference: {}.\n\n\
         | set | images | Fréchet distance | confident (p ≥ 0.9) | classifier agrees with class |\n|---|---:|---:|---:|---:|\n",
        r.feature_dim, r.classifier, r.reference
    );
    for q in &r.sets {
        s += &format!(
            "| {} | {} | {:.2} | {:.1}% | {} |\n",
            q.name,
            q.images,
            q.frechet_distance,
            100.0 * q.confident_share,
            q.class_match.map_or("-".to_string(), |m| format!("{:.1}%", 100.0 * m))
        );
    }
    s += "\nConfident images per predicted class:\n\n| set |";
    for c in CLASS_NAMES {
        s += &format!(" {c} |");
    }
    s += "\n|---|";
    s += &"---:|".repeat(CLASSES);
    s += "\n";
    for q in &r.sets {
        s += &format!("| {} |", q.name);
        for h in q.confident_histogram {
            s += &format!(" {h} |");
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_name_or_index() {
        assert_eq!(parse_class("7").unwrap(), 7);
        assert_eq!(parse_class("Sneaker").unwrap(), 7);
        assert_eq!(parse_class("sneaker").unwrap(), 7);
        assert_eq!(parse_class("t-shirt").unwrap(), 0);
        assert_eq!(parse_class("ankle boot").unwrap(), 9);
        assert!(parse_class("10").is_err());
        assert!(parse_class("sock").unwrap_err().to_string().contains("Sneaker"));
    }
}
