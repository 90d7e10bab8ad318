//! What each command of the command line runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use super::args::{Cli, Command, GanAction, GanArgs, train_config};
use crate::config::TrainConfig;
use crate::data::FashionMnist;
use crate::evaluation::Checkpoint;
use crate::job;
use crate::model::Preset;
use crate::quantize::{QuantReport, QuantizeOptions};
use crate::study::plan::{Shard, StudySpec};
use crate::training::TrainOptions;

/// Parses the command line and runs it.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    let started = Instant::now();
    // A backend this binary lacks is an error before the dataset is read or anything runs.
    cli.device.device()?;
    match cli.command {
        None => default_job(&cli)?,
        Some(Command::Train(ref a)) => {
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let config = train_config(a, cli.device);
            let dir = a.run_dir.clone().unwrap_or_else(|| cli.runs_dir.join(a.preset.name()));
            let opts = TrainOptions { resume: a.resume, ..Default::default() };
            let out = job::train_and_report(&data, &config, &dir, opts, a.checkpoint)?;
            print_outcome(&out);
        }
        Some(Command::Eval { ref run_dir, checkpoint }) => {
            runs_exist([run_dir])?;
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let out = job::eval_existing(&data, run_dir, checkpoint)?;
            print_outcome(&out);
        }
        Some(Command::Quantize { ref run_dir, method, calibration_images, ref out }) => {
            runs_exist([run_dir])?;
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let outcome = job::eval_existing(&data, run_dir, Checkpoint::Best)?;
            let opts = QuantizeOptions { method, calibration_images, ..Default::default() };
            let out = out.clone().unwrap_or_else(|| run_dir.join("int8"));
            let q = job::quantize(&data, &outcome, &opts, &out)?;
            print_quant(&q);
        }
        Some(Command::Publish {
            ref run_dirs,
            refresh_reports,
            ref onnx,
            ref name,
            without_burn_weights,
            ref train_command,
            input_mean,
            input_std,
            ref out,
        }) => {
            match onnx {
                Some(file) if !file.is_file() => anyhow::bail!("--onnx {}: no such file", file.display()),
                Some(_) => {}
                None if refresh_reports => {}
                None => runs_exist(run_dirs)?,
            }
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let m = match onnx {
                None if refresh_reports => crate::publish::refresh_reports(&data, out)?,
                Some(file) => {
                    let (Some(name), Some(train_command)) = (name, train_command) else {
                        anyhow::bail!("--onnx needs --name and --train-command");
                    };
                    let norm = int8_compiler::Normalization { mean: input_mean, std: input_std };
                    crate::publish::publish_onnx(&data, file, name, train_command, norm, out)?
                }
                None => {
                    let dirs: Vec<PathBuf> = if run_dirs.is_empty() {
                        [Preset::Mlp128x64, Preset::CnnBaseline].iter().map(|p| cli.runs_dir.join(p.name())).collect()
                    } else {
                        run_dirs.clone()
                    };
                    crate::publish::publish_runs(&data, &dirs, name.as_deref(), !without_burn_weights, out)?
                }
            };
            println!("{}", m.markdown());
        }
        Some(Command::Predict { ref model, ref onnx, ref test_index, ref images }) => {
            use crate::predict::{ModelRef, predict, read_png};
            if test_index.is_empty() && images.is_empty() {
                anyhow::bail!("nothing to classify: give PNG files or --test-index N");
            }
            let model = if model.ends_with(".ic8") || std::path::Path::new(model).is_file() {
                ModelRef::Blob { blob: PathBuf::from(model), onnx: onnx.clone() }
            } else {
                if onnx.is_some() {
                    anyhow::bail!("--onnx goes with a blob file; a published model has its own");
                }
                ModelRef::Published(model.clone())
            };
            let mut inputs = Vec::new();
            if !test_index.is_empty() {
                let data = FashionMnist::load(cli.data_dir.as_deref())?;
                for &i in test_index {
                    if i >= data.test.len() {
                        anyhow::bail!("--test-index {i}: the test set has {} images", data.test.len());
                    }
                    inputs.push((format!("test image {i}"), data.test.image(i).to_vec(), Some(data.test.labels[i])));
                }
            }
            for p in images {
                inputs.push((p.display().to_string(), read_png(p)?, None));
            }
            for p in predict(&model, &inputs)? {
                let names = crate::data::CLASS_NAMES;
                let (c, probs) = &p.int8;
                let mut top: Vec<usize> = (0..probs.len()).collect();
                top.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
                let others: Vec<String> = top
                    .iter()
                    .skip(1)
                    .take(2)
                    .map(|&k| format!("{} {:.1}%", names.get(k).unwrap_or(&"?"), 100.0 * probs[k]))
                    .collect();
                let float = p.float.map_or(String::new(), |(f, pf)| {
                    format!("; float: {} ({:.1}%)", names.get(f).unwrap_or(&"?"), 100.0 * pf)
                });
                let label = p.label.map_or(String::new(), |l| format!(" [label {}]", names[l as usize]));
                println!(
                    "{}{label}: int8: {} ({:.1}%; then {}){float}",
                    p.source,
                    names.get(*c).unwrap_or(&"?"),
                    100.0 * probs[*c],
                    others.join(", ")
                );
            }
        }
        Some(Command::FirmwareData { ref out, per_class }) => {
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let picked = job::firmware_data(&data.test, per_class, out)?;
            println!("wrote {} test images ({per_class} per class) to {}", picked.len(), out.display());
        }
        Some(Command::Committee { ref run_dirs, weighting, tta, ref out }) => {
            runs_exist(run_dirs)?;
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let r = crate::committee::committee(&data, run_dirs, weighting, tta, out)?;
            println!(
                "committee of {} ({:?}{}): test accuracy {:.2}% (members {:?}) -> {}",
                r.members.len(),
                weighting,
                if tta { ", mirror TTA" } else { "" },
                100.0 * r.accuracy,
                r.member_accuracy.iter().map(|a| format!("{:.2}%", 100.0 * a)).collect::<Vec<_>>(),
                out.join("committee.md").display()
            );
        }
        Some(Command::Study { seeds, quick, shard, merge, partial, ref out, ref from, ref report_dir }) => {
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let spec = StudySpec { seeds: usize::from(seeds), quick };
            let out = out.clone().unwrap_or_else(|| cli.runs_dir.join("study"));
            let report_dir = report_dir.clone().unwrap_or_else(|| out.clone());
            let mut command = format!("cargo run -p host-trainer --release -- study --seeds {seeds}");
            if quick {
                command.push_str(" --quick");
            }
            command.push_str(&format!(" --out {}", out.display()));
            if report_dir != out {
                command.push_str(&format!(" --report-dir {}", report_dir.display()));
            }
            if !merge {
                let shard = shard.unwrap_or(Shard::ALL);
                let done = crate::study::train_shard(&data, spec, shard, &out, false)?;
                println!("study shard {}/{}: {} runs finished under {}", shard.k, shard.n, done.len(), out.display());
                if shard != Shard::ALL {
                    println!("merge the shards with: {command} --merge [--from <another shard's folder>]");
                    return Ok(());
                }
            }
            let mut roots = vec![out.clone()];
            roots.extend(from.iter().cloned());
            let s = crate::study::merge(&data, spec, &roots, partial, &command)?;
            crate::study::write(&s, &report_dir)?;
            for m in &s.models {
                let seeds = if m.seeds.len() == 1 { "1 seed".to_string() } else { format!("{} seeds", m.seeds.len()) };
                println!("{:14} f32 {}%  int8 {}%  ({seeds})", m.model, m.test_acc.pct(), m.int8_acc.pct());
            }
            println!("written: {}", report_dir.join("study.md").display());
        }
        Some(Command::Report) => {
            println!("{}", job::summarize(&cli.runs_dir)?);
            println!("written: {}", cli.runs_dir.join("summary.md").display());
        }
        Some(Command::Gan(ref g)) => gan(&cli, g)?,
        Some(Command::Grid { preset, ref lr, ref batch_size, ref dropout, epochs, train_limit, seed, ref out }) => {
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let spec = crate::grid::GridSpec {
                base: TrainConfig { epochs, train_limit, seed, backend: cli.device, ..TrainConfig::for_preset(preset) },
                lrs: lr.clone(),
                batch_sizes: batch_size.clone(),
                dropouts: if dropout.is_empty() { vec![None] } else { dropout.iter().map(|&d| Some(d)).collect() },
            };
            let out = out.clone().unwrap_or_else(|| cli.runs_dir.join("grid").join(preset.name()));
            let trials = crate::grid::run(&data, &spec, &out, false)?;
            println!("{}", crate::grid::markdown(&trials, &spec.base));
            println!("written: {}", out.join("grid.md").display());
        }
        Some(Command::Data) => {
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            println!("dataset: {} (found via {})", data.located.dir.display(), data.located.origin);
            for f in &data.files {
                println!("  {:32} sha256 {} ({})", f.name, f.sha256, f.variant);
            }
            println!("train: {} images, per class {:?}", data.train.len(), data.train.class_counts());
            println!("test:  {} images, per class {:?}", data.test.len(), data.test.class_counts());
        }
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn gan(cli: &Cli, g: &GanArgs) -> Result<()> {
    use crate::gan::{model::Widths, report, training};
    match &g.action {
        None => {
            let a = &g.train;
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let config = training::GanConfig {
                epochs: a.epochs,
                batch_size: a.batch_size,
                n_critic: a.n_critic,
                lr: a.lr,
                seed: a.seed,
                widths: Widths { base: a.width },
                train_limit: a.train_limit,
                backend: cli.device,
            };
            let train = a.train_limit.map_or_else(|| data.train.clone(), |n| data.train.take(n));
            let opts = training::GanOptions { resume: a.resume, ..Default::default() };
            let state = training::train(&config, &train, &a.run_dir, opts)?;
            println!(
                "WGAN-GP: {} epochs in {:.0} s -> {}",
                state.history.len(),
                state.history.iter().map(|e| e.seconds).sum::<f64>(),
                a.run_dir.join("samples").display()
            );
        }
        Some(GanAction::Sample { run_dir, n, class, seed, out }) => {
            let class = class.as_deref().map(report::parse_class).transpose()?;
            let out = out.clone().unwrap_or_else(|| run_dir.join("sample.png"));
            report::sample(run_dir, *n, class, *seed, &out)?;
            println!("wrote {n} samples to {}", out.display());
        }
        Some(GanAction::Quality { run_dir, classifier, per_class, seed }) => {
            let data = FashionMnist::load(cli.data_dir.as_deref())?;
            let r = report::quality(&data, run_dir, classifier, *per_class, *seed)?;
            println!("{}", report::markdown(&r));
        }
    }
    Ok(())
}

fn default_job(cli: &Cli) -> Result<()> {
    let data = FashionMnist::load(cli.data_dir.as_deref())?;
    eprintln!("dataset: {} (found via {})", data.located.dir.display(), data.located.origin);
    for preset in [Preset::Mlp128x64, Preset::CnnBaseline] {
        let config = TrainConfig { backend: cli.device, ..TrainConfig::for_preset(preset) };
        let dir = cli.runs_dir.join(preset.name());
        let opts = TrainOptions { resume: true, ..Default::default() };
        let out = job::train_and_report(&data, &config, &dir, opts, Checkpoint::Best)?;
        print_outcome(&out);
        let q = job::quantize(&data, &out, &QuantizeOptions::default(), &dir.join("int8"))?;
        print_quant(&q);
    }
    println!("\n{}", job::summarize(&cli.runs_dir)?);
    println!("summary: {}", cli.runs_dir.join("summary.md").display());
    Ok(())
}

fn print_quant(q: &QuantReport) {
    println!(
        "{} int8: test accuracy {:.2}% (f32 {:.2}%, {:+.2} pp), top-1 agreement {:.2}%, {:?} calibration, blob {} B, arena {} B -> {}",
        q.preset,
        100.0 * q.int8_accuracy(),
        100.0 * q.f32_accuracy(),
        100.0 * (q.int8_accuracy() - q.f32_accuracy()),
        100.0 * q.top1_agreement(),
        q.compile.method,
        q.compile.blob_bytes,
        q.compile.arena_bytes,
        q.blob_path.display()
    );
}

fn print_outcome(out: &job::RunOutcome) {
    let dir: &Path = &out.dir;
    println!(
        "{}: test accuracy {:.2}%, loss {:.4}, macro F1 {:.4} ({} epochs, {:.1} s) -> {}",
        out.state.config.preset,
        100.0 * out.test.accuracy,
        out.test.loss,
        out.test.report.macro_avg.f1,
        out.state.history.len(),
        out.state.train_seconds(),
        dir.join("report.md").display()
    );
}
/// Every run directory a command reads holds a trained run: checked before the dataset is read.
fn runs_exist<P: AsRef<std::path::Path>>(dirs: impl IntoIterator<Item = P>) -> Result<()> {
    for d in dirs {
        crate::run_dir::read_state(&crate::run_dir::RunPaths::new(d.as_ref()))?;
    }
    Ok(())
}
