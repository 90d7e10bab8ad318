//! The command line's arguments (clap) and the training configuration they ask for.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::arg_values;
use crate::backend::Backend;
use crate::committee::Weighting;
use crate::config::TrainConfig;
use crate::data::augment::Augment;
use crate::evaluation::Checkpoint;
use crate::model::Preset;
use crate::optimizer::{OptimizerKind, Schedule};
#[cfg(test)]
use crate::run_dir::RunPaths;
use crate::study::plan::Shard;
use int8_compiler::Method;

/// Train, evaluate and report Fashion-MNIST classifiers.
///
/// With no subcommand: train `mlp-128-64` (12 epochs) and `cnn-baseline` (10 epochs), evaluate
/// both on the 10,000 test images and write reports and pictures under `--runs-dir`. Runs that
/// are already complete are only re-evaluated; interrupted ones resume.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
pub struct Cli {
    /// Folder with the four IDX files (else FASHION_MNIST_DIR, ../shared/data/fashion-mnist,
    /// the cache, or a download into the cache).
    #[arg(long, global = true)]
    pub(super) data_dir: Option<PathBuf>,
    /// Where run directories go.
    #[arg(long, global = true, default_value = "runs")]
    pub(super) runs_dir: PathBuf,
    /// Backend to train and evaluate on.
    #[arg(long, global = true, value_enum, default_value_t = Backend::Flex)]
    pub(super) device: Backend,
    #[command(subcommand)]
    pub(super) command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Train one preset, then evaluate and report it.
    Train(TrainArgs),
    /// Evaluate an existing run on the test set and rewrite its report and pictures.
    Eval {
        /// The run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Which checkpoint to evaluate.
        #[arg(long, value_enum, default_value_t = Checkpoint::Best)]
        checkpoint: Checkpoint,
    },
    /// Quantize a trained run to int8: calibrate, write the infer-core blob and a per-layer
    /// report, and measure int8 accuracy with infer-core.
    Quantize {
        /// The run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Calibration method (default: try all, keep the best on validation).
        #[arg(long, value_enum)]
        method: Option<Method>,
        /// Training images used for calibration.
        #[arg(long, default_value_t = 2000, value_parser = arg_values::count)]
        calibration_images: usize,
        /// Where to write the blob and the report (default: <run-dir>/int8).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export the trained default runs (float ONNX, int8 QDQ ONNX, infer-core blob) into the
    /// committed `onnx-models/artifacts` with their manifest.
    Publish {
        /// Trained run directories to publish (each under its preset's name unless --name
        /// says otherwise); without them and without --onnx, the default job's two runs.
        #[arg(long = "run-dir")]
        run_dirs: Vec<PathBuf>,
        /// Publish nothing new: recompile every published model's committed float ONNX and
        /// rewrite only its compiler report (NAME.quant.json and .quant.md) and the manifest's
        /// arena bytes, e.g. after infer-core's arena plan changed. Fails, writing nothing, if
        /// a blob or QDQ model would change (that needs a real publish).
        #[arg(long, conflicts_with_all = ["run_dirs", "onnx", "name", "without_burn_weights"])]
        refresh_reports: bool,
        /// A float ONNX classifier made elsewhere, compiled and published with the rest
        /// (needs --name and --train-command).
        #[arg(long, conflicts_with = "run_dirs")]
        onnx: Option<PathBuf>,
        /// The published name (one run, or --onnx).
        #[arg(long)]
        name: Option<String>,
        /// Leave the runs' burn weights (.bpk) out (for large models: the float ONNX carries the
        /// same weights, and burn-onnx's re-import checks it in burn).
        #[arg(long, conflicts_with = "onnx")]
        without_burn_weights: bool,
        /// For --onnx: the command that made the model (recorded in the manifest).
        #[arg(long, requires = "onnx")]
        train_command: Option<String>,
        /// For --onnx: the model takes (pixel/255 − MEAN) / STD.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, requires = "onnx", value_parser = arg_values::finite_f32)]
        input_mean: f32,
        /// For --onnx: the standard deviation of that normalization.
        #[arg(long, default_value_t = 1.0, requires = "onnx", value_parser = arg_values::positive_f32)]
        input_std: f32,
        /// Destination folder.
        #[arg(long, default_value = "onnx-models/artifacts")]
        out: PathBuf,
    },
    /// Classify images with an int8 model (infer-core), the float model's answer beside it.
    Predict {
        /// A published model's name (e.g. cnn-edge) or an infer-core blob (.ic8).
        #[arg(long)]
        model: String,
        /// The float ONNX model of a blob given as a file (its input is pixel/255).
        #[arg(long)]
        onnx: Option<PathBuf>,
        /// Test-set images by index (0..9999).
        #[arg(long = "test-index")]
        test_index: Vec<usize>,
        /// PNG images (28x28 grayscale, white on black; other sizes are resized).
        images: Vec<PathBuf>,
    },
    /// Write the test images the firmware example embeds: the first N test images of each
    /// class, in test-set order, as raw pixels (`images.bin`), labels (`labels.bin`) and their
    /// test-set indices (`indices.txt`).
    FirmwareData {
        /// Destination folder.
        #[arg(long, default_value = "firmware-example/data")]
        out: PathBuf,
        /// Images per class.
        #[arg(long, default_value_t = 26, value_parser = arg_values::count)]
        per_class: usize,
    },
    /// Combine trained runs into a committee (averaged class probabilities) and evaluate it.
    Committee {
        /// Member run directories.
        #[arg(long = "run-dir", required = true)]
        run_dirs: Vec<PathBuf>,
        /// Equal weights, or weights proportional to validation accuracy.
        #[arg(long, value_enum, default_value_t = Weighting::Mean)]
        weighting: Weighting,
        /// Flip test-time augmentation: each member also classifies the mirrored test images
        /// and its two views' probabilities are averaged (a committee of one run gives that
        /// run's TTA accuracy).
        #[arg(long)]
        tta: bool,
        /// Where committee.md / committee.json go.
        #[arg(long, default_value = "runs/committee")]
        out: PathBuf,
    },
    /// The studies' comparison set over several seeds: the baseline and improved MLP and CNN and
    /// cnn-edge, each with its README recipe, trained (resuming where it stopped), evaluated,
    /// quantized, and merged into study.md / study.json / accuracy.png: accuracies with their
    /// spread, the studies' claims with paired bootstrap intervals, seed committees.
    Study {
        /// Seeds per model (42, 43, …; the seed also drives the train/validation split).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1000))]
        seeds: u16,
        /// The reduced version (1 epoch on 1,000 training images, 1,000 test images) that CI runs
        /// so the command cannot rot; its figures mean nothing.
        #[arg(long)]
        quick: bool,
        /// Train only share K of N (1-based): runs K, K+N, K+2N, … of the plan. Several machines
        /// or a scheduler's array jobs can each take one; `--merge` then builds the tables.
        #[arg(long, value_parser = parse_shard, conflicts_with = "merge")]
        shard: Option<Shard>,
        /// Only merge finished runs into the tables (train nothing).
        #[arg(long)]
        merge: bool,
        /// With --merge: merge the runs that are finished and list the missing ones, instead of
        /// refusing.
        #[arg(long, requires = "merge")]
        partial: bool,
        /// The study's folder: `<out>/<model>/seed-<seed>` per run (default: <runs-dir>/study).
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --merge: more study folders to look for runs in (shards trained elsewhere).
        #[arg(long, requires = "merge")]
        from: Vec<PathBuf>,
        /// Where study.md, study.json and accuracy.png go (default: the study's folder).
        #[arg(long)]
        report_dir: Option<PathBuf>,
    },
    /// Summarise every reported run under --runs-dir into summary.md / summary.json and a bar
    /// chart of test accuracy (comparison.png).
    Report,
    /// Grid search over learning rate × batch size (× dropout) with short trials, ranked by
    /// validation accuracy (grid.md / grid.json); prints the best as a ready train command.
    Grid {
        /// Architecture.
        #[arg(long, value_enum)]
        preset: Preset,
        /// Learning rates, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "0.003,0.001,0.0003", value_parser = arg_values::positive)]
        lr: Vec<f64>,
        /// Batch sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "64,128,256", value_parser = arg_values::count)]
        batch_size: Vec<usize>,
        /// Dropout probabilities, comma-separated (default: the preset's own only).
        #[arg(long, value_delimiter = ',', value_parser = arg_values::dropout_probability)]
        dropout: Vec<f64>,
        /// Epochs per trial.
        #[arg(long, default_value_t = 3, value_parser = arg_values::count)]
        epochs: usize,
        /// Train each trial on only the first N training images.
        #[arg(long, value_parser = arg_values::count)]
        train_limit: Option<usize>,
        /// Seed (the same for every trial).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where the trials go (default: <runs-dir>/grid/<preset>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train a class-conditional WGAN-GP that draws new images (no action: train or resume),
    /// then draw samples from it or measure their quality.
    Gan(GanArgs),
    /// Show where the dataset is, its checksums and class counts.
    Data,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct GanArgs {
    #[command(subcommand)]
    pub(super) action: Option<GanAction>,
    #[command(flatten)]
    pub(super) train: GanTrainArgs,
}

#[derive(clap::Args, Debug)]
pub(super) struct GanTrainArgs {
    /// Epochs (critic passes over the training images).
    #[arg(long, default_value_t = 10, value_parser = arg_values::count)]
    pub(super) epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64, value_parser = arg_values::count)]
    pub(super) batch_size: usize,
    /// Critic steps per generator step.
    #[arg(long, default_value_t = 5, value_parser = arg_values::count)]
    pub(super) n_critic: usize,
    /// Adam learning rate (β = 0, 0.9).
    #[arg(long, default_value_t = 1e-4, value_parser = arg_values::positive)]
    pub(super) lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub(super) seed: u64,
    /// Channels of the 7x7 feature maps (the 14x14 ones have half).
    #[arg(long, default_value_t = 64, value_parser = arg_values::count)]
    pub(super) width: usize,
    /// Train on only the first N training images.
    #[arg(long, value_parser = arg_values::count)]
    pub(super) train_limit: Option<usize>,
    /// Run directory.
    #[arg(long, default_value = "runs/gan")]
    pub(super) run_dir: PathBuf,
    /// Continue an interrupted run.
    #[arg(long)]
    pub(super) resume: bool,
}

#[derive(Subcommand, Debug)]
pub(super) enum GanAction {
    /// Draw new images from a trained generator into a PNG grid.
    Sample {
        /// The GAN run.
        #[arg(long, default_value = "runs/gan")]
        run_dir: PathBuf,
        /// How many images.
        #[arg(long, default_value_t = 64, value_parser = arg_values::count)]
        n: usize,
        /// Only this class (0-9 or a name such as "sneaker"); default: all classes in turn.
        #[arg(long)]
        class: Option<String>,
        /// Noise seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output PNG (default: <run-dir>/sample.png).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Score generated images with a trained classifier: Fréchet distance to the test set in
    /// its penultimate-layer features, share classified confidently, class histogram; next to
    /// uniform noise and real training images.
    Quality {
        /// The GAN run.
        #[arg(long, default_value = "runs/gan")]
        run_dir: PathBuf,
        /// The classifier whose features are used: a run directory, or a `<preset>.bpk`
        /// weights file (default: the committed CNN).
        #[arg(long, default_value = "onnx-models/artifacts/cnn-baseline.bpk")]
        classifier: PathBuf,
        /// Images per class (10x this many in each set).
        #[arg(long, default_value_t = 1000, value_parser = arg_values::count)]
        per_class: usize,
        /// Seed of the noise and of the uniform-noise images.
        #[arg(long, default_value_t = 2)]
        seed: u64,
    },
}

#[derive(clap::Args, Debug)]
pub(super) struct TrainArgs {
    /// Architecture.
    #[arg(long, value_enum)]
    pub(super) preset: Preset,
    /// Epochs (default: the preset's).
    #[arg(long, value_parser = arg_values::count)]
    pub(super) epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 128, value_parser = arg_values::count)]
    pub(super) batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = arg_values::positive)]
    pub(super) lr: f64,
    /// Seed for initialisation, shuffling, dropout and the split.
    #[arg(long, default_value_t = 42)]
    pub(super) seed: u64,
    /// Validation images held out of the training set.
    #[arg(long, default_value_t = 6000, value_parser = arg_values::count)]
    pub(super) val_size: usize,
    /// Train on only the first N training images.
    #[arg(long, value_parser = arg_values::count)]
    pub(super) train_limit: Option<usize>,
    /// Run directory (default: <runs-dir>/<preset>).
    #[arg(long)]
    pub(super) run_dir: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub(super) resume: bool,
    /// Which checkpoint to evaluate at the end.
    #[arg(long, value_enum, default_value_t = Checkpoint::Best)]
    pub(super) checkpoint: Checkpoint,
    /// Augment training images as the studies did (flip, ±10°, ±10% zoom, ±2 px shift); the
    /// flags below override single settings.
    #[arg(long)]
    pub(super) augment: bool,
    /// Random horizontal flips.
    #[arg(long)]
    pub(super) flip: bool,
    /// Random rotation range, degrees.
    #[arg(long, value_parser = arg_values::degrees)]
    pub(super) rotate: Option<f32>,
    /// Random zoom range (0.1 = ±10%).
    #[arg(long, value_parser = arg_values::zoom)]
    pub(super) zoom: Option<f32>,
    /// Random shift range, pixels.
    #[arg(long, value_parser = arg_values::shift)]
    pub(super) shift: Option<i32>,
    /// Random erasing: the probability (0 to 1) of setting one random rectangle (2-40% of the
    /// image) of a training image to the background.
    #[arg(long, default_value_t = 0.0, value_parser = arg_values::probability)]
    pub(super) erase: f64,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub(super) optimizer: OptimizerKind,
    /// L2 weight decay (decoupled for AdamW).
    #[arg(long, default_value_t = 0.0, value_parser = arg_values::non_negative)]
    pub(super) weight_decay: f64,
    /// Label smoothing (e.g. 0.1).
    #[arg(long, default_value_t = 0.0, value_parser = arg_values::smoothing)]
    pub(super) label_smoothing: f64,
    /// Learning-rate schedule: constant, cosine, or plateau.
    #[arg(long, default_value = "constant", value_parser = ["constant", "cosine", "plateau"])]
    pub(super) schedule: String,
    /// Smallest learning rate of the cosine and plateau schedules.
    #[arg(long, default_value_t = 1e-5, value_parser = arg_values::non_negative)]
    pub(super) min_lr: f64,
    /// Plateau schedule: multiply the rate by this factor...
    #[arg(long, default_value_t = 0.5, value_parser = arg_values::fraction)]
    pub(super) plateau_factor: f64,
    /// ...after this many epochs without a better validation loss.
    #[arg(long, default_value_t = 2, value_parser = arg_values::count)]
    pub(super) plateau_patience: usize,
    /// Stop after this many epochs without a better validation loss.
    #[arg(long, value_parser = arg_values::count)]
    pub(super) early_stopping: Option<usize>,
    /// Replace the preset's dropout probabilities with this one (0 to below 1).
    #[arg(long, value_parser = arg_values::dropout_probability)]
    pub(super) dropout: Option<f64>,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string().trim_start_matches(&format!("--shard {s}: ")).to_string())
}

/// The configuration `train` asks for: its arguments, and the global `--device`.
pub(super) fn train_config(a: &TrainArgs, device: Backend) -> TrainConfig {
    TrainConfig {
        preset: a.preset,
        epochs: a.epochs.unwrap_or(a.preset.default_epochs()),
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        val_size: a.val_size,
        train_limit: a.train_limit,
        backend: device,
        augment: {
            let base = if a.augment { Augment::STUDIES } else { Augment::default() };
            Augment {
                flip: base.flip || a.flip,
                rotate_deg: a.rotate.unwrap_or(base.rotate_deg),
                zoom: a.zoom.unwrap_or(base.zoom),
                shift: a.shift.unwrap_or(base.shift),
                erase: a.erase as f32,
            }
        },
        optimizer: a.optimizer,
        weight_decay: a.weight_decay,
        label_smoothing: a.label_smoothing,
        schedule: match a.schedule.as_str() {
            "cosine" => Schedule::Cosine { min_lr: a.min_lr },
            "plateau" => Schedule::Plateau { factor: a.plateau_factor, patience: a.plateau_patience, min_lr: a.min_lr },
            _ => Schedule::Constant,
        },
        early_stopping: a.early_stopping,
        dropout: a.dropout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration's rendered `train` command parses back into the same configuration.
    #[test]
    fn train_commands_round_trip() {
        let mut edge = TrainConfig::for_preset(Preset::CnnEdge);
        edge.epochs = 22;
        edge.seed = 47;
        edge.augment = Augment { flip: true, shift: 2, erase: 0.4, ..Augment::default() };
        edge.optimizer = OptimizerKind::AdamW;
        edge.weight_decay = 0.01;
        edge.label_smoothing = 0.1;
        edge.schedule = Schedule::Cosine { min_lr: 1e-5 };
        let mut grid = TrainConfig::for_preset(Preset::Mlp128x64);
        grid.batch_size = 64;
        grid.lr = 3e-4;
        grid.dropout = Some(0.2);
        grid.schedule = Schedule::Plateau { factor: 0.5, patience: 3, min_lr: 1e-6 };
        grid.early_stopping = Some(4);
        grid.train_limit = Some(5000);
        grid.val_size = 1000;
        grid.augment = Augment::STUDIES;
        for config in [TrainConfig::for_preset(Preset::CnnBaseline), edge, grid] {
            let line = config.command(&RunPaths::new("runs/x").dir);
            let args: Vec<&str> = line.split(" -- ").nth(1).unwrap().split_whitespace().collect();
            let cli = Cli::try_parse_from(std::iter::once("host-trainer").chain(args.iter().copied())).unwrap();
            let Some(Command::Train(a)) = &cli.command else { panic!("{line}") };
            assert_eq!(train_config(a, cli.device), config, "{line}");
            assert_eq!(a.run_dir.as_deref(), Some(std::path::Path::new("runs/x")));
        }
    }
}
