//! The training loop: seeded epochs, live progress, per-epoch history, best and last
//! checkpoints written atomically (see `run_dir.rs`), and resume from the last checkpoint.
//!
//! Determinism: the model is initialised after seeding the device with the run's seed, and
//! epoch `e` shuffles with a ChaCha8 stream seeded by `(seed, e)` and reseeds the device (for
//! dropout) with `seed + e`, so a resumed run replays exactly what an uninterrupted one would.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::TrainConfig;
use crate::data::augment::{Augment, transform};
use crate::data::batcher::images_batch;
use crate::data::idx::PIXELS;
use crate::data::{Batch, Split, batch};
use crate::model::Net;
use crate::optimizer;
use crate::rng::rng_guard;
use crate::run_dir::{
    EpochRecord, RunPaths, RunState, load_model_holding_rng, read_state, save_checkpoint, write_atomic, write_history,
};

/// Loss and accuracy of `model` (in evaluation mode) on a split, plus its logits
/// (`len * 10`, row-major).
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Logits, 10 per image.
    pub logits: Vec<f32>,
}

/// Runs `model` over `split` in batches of `batch_size` on `device` (no autodiff).
pub fn evaluate(model: &Net, split: &Split, batch_size: usize, device: &Device) -> Result<Evaluation> {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let order: Vec<usize> = (0..split.len()).collect();
    let mut loss_sum = 0.0;
    let mut correct = 0usize;
    let mut logits = Vec::with_capacity(split.len() * 10);
    for idx in order.chunks(batch_size.max(1)) {
        let b = batch(split, idx, device);
        let out = model.forward(b.images);
        let loss: f32 = loss_fn.forward(out.clone(), b.targets.clone()).into_scalar();
        loss_sum += f64::from(loss) * idx.len() as f64;
        let v: Vec<f32> =
            out.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
        for (row, &i) in v.chunks(10).zip(idx) {
            if crate::metrics::argmax(row) == split.labels[i] as usize {
                correct += 1;
            }
        }
        logits.extend(v);
    }
    let n = split.len().max(1) as f64;
    Ok(Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n, logits })
}

fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    order.shuffle(&mut rng);
    order
}

/// Options that affect how a run reports, not what it computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Continue from the last checkpoint if the run directory has one.
    pub resume: bool,
    /// Print nothing (tests).
    pub quiet: bool,
    /// Stop after this many epochs of this invocation (simulates an interruption in tests).
    pub stop_after: Option<usize>,
}

/// Trains per `config` into `run_dir`, on `train`, validating on `val` after every epoch.
/// Returns the final resume state (history included).
pub fn train(config: &TrainConfig, train: &Split, val: &Split, run_dir: &Path, opts: TrainOptions) -> Result<RunState> {
    config.check()?;
    // A poisoned lock only means another training panicked; the RNG is reseeded below anyway.
    let _rng = rng_guard();
    let _lock = crate::run_dir::lock(run_dir)?;
    let paths = RunPaths::new(run_dir);
    std::fs::create_dir_all(paths.ckpt()).with_context(|| format!("creating {}", paths.ckpt().display()))?;
    let base = config.backend.device()?;
    let device = base.clone().autodiff();

    let mut optim = optimizer::build(config.optimizer, config.weight_decay);
    let (mut model, mut state) = if opts.resume && paths.state().exists() {
        let state = read_state(&paths)?;
        if state.config != *config {
            bail!(
                "{} was started with another configuration ({:?}); resume it with the same settings or use a new run directory",
                run_dir.display(),
                state.config
            );
        }
        let model = load_model_holding_rng(&state.layers(), &state.last_model(&paths), &device)?;
        let o = state.last_optim(&paths);
        optim = optim.load(&o).map_err(|e| anyhow::anyhow!("loading {}: {e}", o.display()))?;
        if !opts.quiet {
            eprintln!("resuming {} after epoch {}", run_dir.display(), state.history.len());
        }
        (model, state)
    } else {
        if paths.state().exists() && !opts.resume {
            bail!(
                "{} already holds a run; pass --resume to continue it, or choose another --run-dir",
                run_dir.display()
            );
        }
        device.seed(config.seed);
        let model = Net::new(&config.layers(), &device)?;
        let state = RunState {
            config: config.clone(),
            history: Vec::new(),
            best_epoch: 0,
            lr: None,
            layers: Some(config.layers()),
            files: None,
        };
        (model, state)
    };
    write_atomic(&paths.config(), serde_json::to_string_pretty(config)?.as_bytes())?;

    let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing as f32);
    let loss_fn = CrossEntropyLossConfig::new().with_smoothing(smoothing).init(&device);
    let n = train.len();
    let steps = n.div_ceil(config.batch_size.max(1));
    for (ran, epoch) in (state.history.len()..config.epochs).enumerate() {
        if opts.stop_after.is_some_and(|s| ran >= s) {
            break;
        }
        let since_best = if state.best_epoch == 0 { 0 } else { state.history.len() - state.best_epoch };
        if let Some(patience) = config.early_stopping
            && state.best_epoch > 0
            && since_best >= patience
        {
            if !opts.quiet {
                eprintln!(
                    "early stopping: no better validation loss for {since_best} epochs (best: epoch {})",
                    state.best_epoch
                );
            }
            break;
        }
        let lr = config.schedule.lr(config.lr, epoch, config.epochs, state.lr.unwrap_or(config.lr), since_best);
        state.lr = Some(lr);
        let started = Instant::now();
        device.seed(config.seed.wrapping_add(epoch as u64 + 1));
        let order = epoch_order(n, config.seed, epoch);
        let bar = progress_bar(steps as u64, opts.quiet);
        bar.set_prefix(format!("{} {}/{}", config.preset, epoch + 1, config.epochs));
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let mut seen = 0usize;
        for (bi, idx) in order.chunks(config.batch_size.max(1)).enumerate() {
            let b = if config.augment.is_active() {
                augmented_batch(train, idx, &config.augment, config.seed, epoch, bi, &device)
            } else {
                batch(train, idx, &device)
            };
            let (next, loss_value, hits) = step(model, &mut optim, &loss_fn, b, lr);
            model = next;
            loss_sum += f64::from(loss_value) * idx.len() as f64;
            correct += hits;
            seen += idx.len();
            bar.inc(1);
            bar.set_message(format!("loss {:.4} acc {:.4}", loss_sum / seen as f64, correct as f64 / seen as f64));
        }
        let eval = evaluate(&model.valid(), val, 512, &base)?;
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_loss: eval.loss,
            val_acc: eval.accuracy,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        bar.finish_and_clear();
        if !opts.quiet {
            eprintln!(
                "{} epoch {:>2}/{}: train loss {:.4} acc {:.4} | val loss {:.4} acc {:.4} | {:.1}s",
                config.preset,
                record.epoch,
                config.epochs,
                record.train_loss,
                record.train_acc,
                record.val_loss,
                record.val_acc,
                record.seconds
            );
        }
        let improved = state.best().is_none_or(|b| record.val_loss < b.val_loss);
        state.history.push(record);
        if improved {
            state.best_epoch = epoch + 1;
        }
        // The epoch's files, then the state that names them (run_dir.rs): a failure or a crash
        // anywhere leaves the previous state and its files.
        save_checkpoint(&paths, &mut state, &model, &optim, improved)?;
        write_history(&paths, &state.history)?;
    }
    Ok(state)
}

/// One optimisation step on `batch` (a device with autodiff): forward, loss, backward, and the
/// optimizer's update at learning rate `lr`. Returns the updated model, the batch's mean loss and
/// how many of its images the model (before the update) classified correctly. The training loop
/// and the training-step benchmark (`benches/train_step.rs`) both run this.
pub fn step(
    model: Net,
    optim: &mut ModuleOptimizer,
    loss_fn: &CrossEntropyLoss,
    batch: Batch,
    lr: f64,
) -> (Net, f32, usize) {
    let logits = model.forward(batch.images);
    let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
    let pred = logits.argmax(1).squeeze_dim::<1>(1);
    let hits: i64 = pred.equal(batch.targets).int().sum().into_scalar();
    let loss_value: f32 = loss.clone().into_scalar();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(lr, model, grads);
    (model, loss_value, hits.max(0) as usize)
}

/// The batch of `indices`, each image augmented with draws from a stream that depends only on
/// (seed, epoch, batch), so that a resumed run sees the same images.
fn augmented_batch(
    train: &Split,
    idx: &[usize],
    aug: &Augment,
    seed: u64,
    epoch: usize,
    bi: usize,
    device: &Device,
) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_a09e_0000_0000);
    rng.set_stream(((epoch as u64) << 32) | bi as u64);
    let mut pixels = vec![0u8; idx.len() * PIXELS];
    for (out, &i) in pixels.chunks_exact_mut(PIXELS).zip(idx) {
        transform(train.image(i), aug.draw(&mut rng), out);
    }
    images_batch(&pixels, idx.iter().map(|&i| i64::from(train.labels[i])).collect(), device)
}

pub(crate) fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed}<{eta} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
