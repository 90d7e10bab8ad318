//! WGAN-GP training: n_critic critic steps per generator step, Adam (lr 1e-4, β = (0, 0.9)),
//! everything random drawn from seeded streams so a run is reproducible and resumes exactly.
//!
//! An epoch is one pass of the critic over the (shuffled) training images, one batch per
//! critic step. After each epoch the run saves both networks and both optimizers, then the
//! state that points at them (`checkpoints/`), a sample grid from fixed noise
//! (`samples/epoch-NNN.png`: one row per class), and the loss curves (`losses.png`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::model::{Critic, Generator, NOISE, Widths, label_tensor, one_hot};
use super::penalty::critic_loss;
use crate::backend::Backend;
use crate::data::idx::{CLASSES, PIXELS};
use crate::data::{Split, batch};
use crate::rng::rng_guard;
use crate::run_dir::{save_module, save_optim, write_atomic};
use crate::training::progress_bar;

/// What a GAN run is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    /// Epochs (critic passes over the training images).
    pub epochs: usize,
    /// Images per critic step and per generator step.
    pub batch_size: usize,
    /// Critic steps per generator step.
    pub n_critic: usize,
    /// Adam learning rate of both networks.
    pub lr: f64,
    /// Seed of initialisation, shuffling, noise and interpolation.
    pub seed: u64,
    /// Network widths.
    pub widths: Widths,
    /// Train on only the first N training images.
    pub train_limit: Option<usize>,
    /// Backend.
    pub backend: Backend,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            n_critic: 5,
            lr: 1e-4,
            seed: 7,
            widths: Widths::default(),
            train_limit: None,
            backend: Backend::Flex,
        }
    }
}

/// Means over one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanEpoch {
    /// 1-based.
    pub epoch: usize,
    /// Critic loss `D(fake) − D(real) + penalty`.
    pub critic_loss: f64,
    /// `D(real) − D(fake)`: the critic's Wasserstein estimate.
    pub wasserstein: f64,
    /// The gradient penalty (λ included).
    pub penalty: f64,
    /// Generator loss `−D(fake)`.
    pub generator_loss: f64,
    /// Generator steps taken in the epoch.
    pub generator_steps: usize,
    /// Wall time.
    pub seconds: f64,
}

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanState {
    /// The run's configuration.
    pub config: GanConfig,
    /// Completed epochs.
    pub history: Vec<GanEpoch>,
}

/// File layout of a GAN run.
#[derive(Debug, Clone)]
pub struct GanPaths {
    /// The run directory.
    pub dir: PathBuf,
}

impl GanPaths {
    fn ckpt(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }
    /// Generator weights.
    pub fn generator(&self) -> PathBuf {
        self.ckpt().join("generator.bpk")
    }
    fn critic(&self) -> PathBuf {
        self.ckpt().join("critic.bpk")
    }
    fn generator_optim(&self) -> PathBuf {
        self.ckpt().join("generator-optim.bpk")
    }
    fn critic_optim(&self) -> PathBuf {
        self.ckpt().join("critic-optim.bpk")
    }
    /// Resume state.
    pub fn state(&self) -> PathBuf {
        self.ckpt().join("state.json")
    }
    /// Sample grid after an epoch.
    pub fn samples(&self, epoch: usize) -> PathBuf {
        self.dir.join("samples").join(format!("epoch-{epoch:03}.png"))
    }
}

/// Reads a run's state.
pub fn read_state(paths: &GanPaths) -> Result<GanState> {
    crate::run_dir::read_json_state(&paths.dir, &paths.state(), "trained GAN", "host-trainer gan")
}

/// Loads a run's generator (holding [`crate::rng::RNG_LOCK`] while it is built, as
/// [`crate::run_dir::load_model`] does).
pub fn load_generator(paths: &GanPaths, widths: Widths, device: &Device) -> Result<Generator> {
    let _rng = rng_guard();
    load_generator_holding_rng(paths, widths, device)
}

/// [`load_generator`] for a caller that already holds the RNG lock.
fn load_generator_holding_rng(paths: &GanPaths, widths: Widths, device: &Device) -> Result<Generator> {
    Generator::new(widths, device)
        .try_load_file(paths.generator())
        .map_err(|e| anyhow::anyhow!("loading {}: {e}", paths.generator().display()))
}

fn optimizer() -> ModuleOptimizer {
    AdamConfig::new().with_beta_1(0.0).with_beta_2(0.9).init()
}

/// Standard normal draws (Box–Muller) from `rng`.
pub fn normal(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n + 1);
    while v.len() < n {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        v.push((r * t.cos()) as f32);
        v.push((r * t.sin()) as f32);
    }
    v.truncate(n);
    v
}

/// A stream for one (epoch, step, purpose) of a run: resuming never replays or skips draws.
fn stream(seed: u64, epoch: usize, step: usize, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6a4e_0000_0000_0000 ^ (purpose << 40));
    rng.set_stream(((epoch as u64) << 32) | step as u64);
    rng
}

/// `n` noise vectors as a tensor.
pub fn noise(rng: &mut impl Rng, n: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(normal(rng, n * NOISE), [n, NOISE]), device)
}

/// Images `[N, 1, 28, 28]` in [0, 1] to bytes (×255, rounded).
pub fn to_pixels(images: Tensor<4>) -> Result<Vec<u8>> {
    let v: Vec<f32> = images.into_data().try_into_vec_as().map_err(|e| anyhow::anyhow!("reading images: {e:?}"))?;
    Ok(v.iter().map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8).collect())
}

/// Draws `labels.len()` images of the requested classes with the generator in evaluation
/// mode, in batches, from a seeded stream.
pub fn generate(generator: &Generator, labels: &[u8], seed: u64, device: &Device) -> Result<Vec<u8>> {
    let mut rng = stream(seed, 0, 0, 3);
    let mut out = Vec::with_capacity(labels.len() * PIXELS);
    for chunk in labels.chunks(500) {
        let z = noise(&mut rng, chunk.len(), device);
        out.extend(to_pixels(generator.forward(z, one_hot(chunk, device)))?);
    }
    Ok(out)
}

/// The fixed grid labels: ten of each class, one class per row.
pub fn grid_labels() -> Vec<u8> {
    (0..CLASSES as u8).flat_map(|c| std::iter::repeat_n(c, 10)).collect()
}

/// Options that do not change results.
#[derive(Debug, Clone, Copy, Default)]
pub struct GanOptions {
    /// Continue from the last checkpoint.
    pub resume: bool,
    /// No progress output.
    pub quiet: bool,
    /// Stop after this many epochs of this call (simulates an interruption).
    pub stop_after: Option<usize>,
}

/// Trains a WGAN-GP into `run_dir` on `train`.
pub fn train(config: &GanConfig, train: &Split, run_dir: &Path, opts: GanOptions) -> Result<GanState> {
    if config.batch_size == 0 || config.n_critic == 0 || train.is_empty() {
        bail!("batch size, n_critic and the training set must be non-empty");
    }
    if config.widths.base < 2 || !config.widths.base.is_multiple_of(2) {
        bail!("the base width must be an even number ≥ 2, not {}", config.widths.base);
    }
    let _rng = rng_guard();
    let paths = GanPaths { dir: run_dir.to_path_buf() };
    for d in [paths.ckpt(), run_dir.join("samples")] {
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    let base = config.backend.device()?;
    let device = base.clone().autodiff();
    let (mut generator, mut critic, mut g_opt, mut c_opt, mut state);
    if opts.resume && paths.state().exists() {
        state = read_state(&paths)?;
        if state.config != *config {
            bail!("{} was started with another configuration ({:?})", run_dir.display(), state.config);
        }
        generator = load_generator_holding_rng(&paths, config.widths, &device)?;
        critic = Critic::new(config.widths, &device)
            .try_load_file(paths.critic())
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", paths.critic().display()))?;
        let load = |p: PathBuf| optimizer().load(&p).map_err(|e| anyhow::anyhow!("loading {}: {e}", p.display()));
        g_opt = load(paths.generator_optim())?;
        c_opt = load(paths.critic_optim())?;
    } else {
        if paths.state().exists() {
            bail!("{} already holds a GAN run; pass --resume or choose another --run-dir", run_dir.display());
        }
        device.seed(config.seed);
        generator = Generator::new(config.widths, &device);
        critic = Critic::new(config.widths, &device);
        g_opt = optimizer();
        c_opt = optimizer();
        state = GanState { config: config.clone(), history: Vec::new() };
    }
    write_atomic(&run_dir.join("config.json"), serde_json::to_string_pretty(config)?.as_bytes())?;

    let n = train.len();
    let per_step = config.batch_size;
    let critic_steps = n.div_ceil(per_step);
    let grid = grid_labels();
    let fixed_seed = config.seed ^ 0xf1ed;
    for (ran, epoch) in (state.history.len()..config.epochs).enumerate() {
        if opts.stop_after.is_some_and(|s| ran >= s) {
            break;
        }
        let started = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut stream(config.seed, epoch, 0, 0));
        let bar = progress_bar(critic_steps as u64, opts.quiet);
        bar.set_prefix(format!("wgan-gp {}/{}", epoch + 1, config.epochs));
        let (mut c_sum, mut w_sum, mut p_sum, mut g_sum) = (0f64, 0f64, 0f64, 0f64);
        let mut g_steps = 0usize;
        for (step, idx) in order.chunks(per_step).enumerate() {
            let mut rng = stream(config.seed, epoch, step, 1);
            let real = batch(train, idx, &device);
            let labels: Vec<u8> = idx.iter().map(|&i| train.labels[i]).collect();
            let k = labels.len();
            let fake = generator.forward(noise(&mut rng, k, &device), one_hot(&labels, &device)).detach();
            let eps: Vec<f32> = (0..k).map(|_| rng.random::<f32>()).collect();
            let eps = Tensor::<1>::from_data(TensorData::new(eps, [k]), &device);
            let parts = critic_loss(&critic, real.images, fake, label_tensor(&labels, &device), eps);
            c_sum += f64::from(parts.loss.clone().into_scalar::<f32>());
            w_sum += f64::from(parts.wasserstein.into_scalar::<f32>());
            p_sum += f64::from(parts.penalty.into_scalar::<f32>());
            let grads = GradientsParams::from_grads(parts.loss.backward(), &critic);
            critic = c_opt.step(config.lr, critic, grads);
            if (step + 1) % config.n_critic == 0 {
                // Generator step: fresh noise and classes drawn uniformly.
                let mut rng = stream(config.seed, epoch, step, 2);
                let classes: Vec<u8> = (0..per_step).map(|_| rng.random_range(0..CLASSES as u8)).collect();
                let fake = generator.forward(noise(&mut rng, per_step, &device), one_hot(&classes, &device));
                let loss = critic.forward(fake, label_tensor(&classes, &device)).mean().neg();
                g_sum += f64::from(loss.clone().into_scalar::<f32>());
                let grads = GradientsParams::from_grads(loss.backward(), &generator);
                generator = g_opt.step(config.lr, generator, grads);
                g_steps += 1;
            }
            bar.inc(1);
            bar.set_message(format!("W {:.3} gp {:.3}", w_sum / (step + 1) as f64, p_sum / (step + 1) as f64));
        }
        bar.finish_and_clear();
        let record = GanEpoch {
            epoch: epoch + 1,
            critic_loss: c_sum / critic_steps as f64,
            wasserstein: w_sum / critic_steps as f64,
            penalty: p_sum / critic_steps as f64,
            generator_loss: g_sum / g_steps.max(1) as f64,
            generator_steps: g_steps,
            seconds: started.elapsed().as_secs_f64(),
        };
        if !opts.quiet {
            eprintln!(
                "wgan-gp epoch {:>2}/{}: critic {:.4} (W {:.4}, gp {:.4}) | generator {:.4} | {:.1}s",
                record.epoch,
                config.epochs,
                record.critic_loss,
                record.wasserstein,
                record.penalty,
                record.generator_loss,
                record.seconds
            );
        }
        state.history.push(record);
        let pixels = generate(&generator.valid(), &grid, fixed_seed, &base)?;
        crate::plots::image_grid(&pixels, 10, &format!("WGAN-GP, epoch {}", epoch + 1), &paths.samples(epoch + 1))?;
        save_module(&generator, &paths.generator())?;
        save_module(&critic, &paths.critic())?;
        save_optim(&g_opt, &paths.generator_optim())?;
        save_optim(&c_opt, &paths.critic_optim())?;
        write_atomic(&paths.state(), serde_json::to_string_pretty(&state)?.as_bytes())?;
        let losses: Vec<(usize, [f64; 3])> =
            state.history.iter().map(|r| (r.epoch, [r.wasserstein, r.penalty, r.generator_loss])).collect();
        super::losses_plot::gan_losses(&losses, &run_dir.join("losses.png"))?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (GanConfig, Split) {
        let pixels: Vec<u8> = (0..96 * PIXELS).map(|i| ((i * 37 + i / 784 * 11) % 256) as u8).collect();
        let labels: Vec<u8> = (0..96).map(|i| (i % 10) as u8).collect();
        let split = Split { pixels, labels };
        let config =
            GanConfig { epochs: 2, batch_size: 16, n_critic: 2, widths: Widths { base: 8 }, ..GanConfig::default() };
        (config, split)
    }

    #[test]
    fn box_muller_is_standard_normal() {
        let v = normal(&mut ChaCha8Rng::seed_from_u64(1), 20_001);
        assert_eq!(v.len(), 20_001);
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{mean} {var}");
    }

    #[test]
    fn deterministic_per_seed_and_resumable() {
        let (config, split) = tiny();
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let quiet = GanOptions { quiet: true, ..GanOptions::default() };
        let a = train(&config, &split, dirs[0].path(), quiet).unwrap();
        let b = train(&config, &split, dirs[1].path(), quiet).unwrap();
        assert_eq!(a.history.len(), 2);
        let strip = |s: &GanState| s.history.iter().map(|e| (e.critic_loss, e.generator_loss)).collect::<Vec<_>>();
        assert_eq!(strip(&a), strip(&b));
        // Interrupted after one epoch, then resumed: the same run.
        train(&config, &split, dirs[2].path(), GanOptions { stop_after: Some(1), ..quiet }).unwrap();
        let c = train(&config, &split, dirs[2].path(), GanOptions { resume: true, ..quiet }).unwrap();
        assert_eq!(strip(&a), strip(&c));
        let device = Device::flex();
        let gen_of = |d: &tempfile::TempDir| {
            let g = load_generator(&GanPaths { dir: d.path().to_path_buf() }, config.widths, &device).unwrap();
            generate(&g, &[3, 7], 5, &device).unwrap()
        };
        assert_eq!(gen_of(&dirs[0]), gen_of(&dirs[2]));
        // A different seed trains differently.
        let other = GanConfig { seed: 8, ..config.clone() };
        let d = tempfile::tempdir().unwrap();
        assert_ne!(strip(&train(&other, &split, d.path(), quiet).unwrap()), strip(&a));
        assert!(dirs[0].path().join("samples/epoch-002.png").exists());
        assert!(dirs[0].path().join("losses.png").exists());
        // Starting over an existing run without --resume is refused.
        assert!(train(&config, &split, dirs[0].path(), quiet).is_err());
    }
}
