//! End-to-end training tests on the real dataset (FASHION_MNIST_DIR or ../shared).

use host_trainer::config::TrainConfig;
use host_trainer::data::FashionMnist;
use host_trainer::evaluation::Checkpoint;
use host_trainer::job;
use host_trainer::model::Preset;
use host_trainer::training::{self, TrainOptions};

fn data() -> FashionMnist {
    FashionMnist::load(None).expect("tests need the dataset: set FASHION_MNIST_DIR=../shared/data/fashion-mnist")
}

fn small(preset: Preset, epochs: usize) -> TrainConfig {
    TrainConfig { epochs, train_limit: Some(2_000), val_size: 1_000, ..TrainConfig::for_preset(preset) }
}

const QUIET: TrainOptions = TrainOptions { resume: false, quiet: true, stop_after: None };

#[test]
fn short_real_training_beats_70_percent() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig { batch_size: 16, ..small(Preset::Mlp128x64, 1) };
    let out = job::train_and_report(&data, &config, dir.path(), QUIET, Checkpoint::Last).unwrap();
    let val = out.state.history[0].val_acc;
    assert!(val > 0.70, "validation accuracy {val}");
    assert!(out.test.accuracy > 0.70, "test accuracy {}", out.test.accuracy);
    for f in [
        "report.md",
        "report.json",
        "history.csv",
        "history.json",
        "config.json",
        "checkpoints/epoch-0001-model.bpk",
        "checkpoints/epoch-0001-optim.bpk",
        "checkpoints/state.json",
        "plots/training_curves.png",
        "plots/confusion_matrix.png",
        "plots/test_samples.png",
        "plots/class_distribution.png",
        "plots/mean_pixels.png",
    ] {
        let p = dir.path().join(f);
        assert!(p.is_file() && std::fs::metadata(&p).unwrap().len() > 0, "{f} missing");
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for needle in ["Classification report", "macro avg", "weighted avg", "Shirt -> T-shirt/top", "Confusion matrix"] {
        assert!(md.contains(needle), "report.md lacks {needle}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["test"]["params"], 109_386);
    assert_eq!(json["config"]["seed"], 42);
    let conf_total: u64 = json["test"]["confusion"]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(conf_total, 10_000);
}

#[test]
fn interrupted_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let data = data();
    let config = small(Preset::Mlp128x64, 3);
    let (train, val) = config.splits(&data).unwrap();

    let whole = tempfile::tempdir().unwrap();
    let a = training::train(&config, &train, &val, whole.path(), QUIET).unwrap();

    let parts = tempfile::tempdir().unwrap();
    let stop1 = TrainOptions { stop_after: Some(1), ..QUIET };
    let first = training::train(&config, &train, &val, parts.path(), stop1).unwrap();
    assert_eq!(first.history.len(), 1);
    // Without --resume an existing run is never overwritten.
    let e = training::train(&config, &train, &val, parts.path(), QUIET).unwrap_err();
    assert!(e.to_string().contains("pass --resume"), "{e}");
    // Resuming with other settings is refused.
    let other = TrainConfig { lr: 0.5, ..config.clone() };
    let e = training::train(&other, &train, &val, parts.path(), TrainOptions { resume: true, ..QUIET }).unwrap_err();
    assert!(e.to_string().contains("another configuration"), "{e}");

    let b = training::train(&config, &train, &val, parts.path(), TrainOptions { resume: true, ..QUIET }).unwrap();
    assert_eq!(b.history.len(), 3);
    for (x, y) in a.history.iter().zip(&b.history) {
        assert_eq!((x.train_loss, x.val_loss, x.val_acc), (y.train_loss, y.val_loss, y.val_acc), "epoch {}", x.epoch);
    }
    assert_eq!(a.best_epoch, b.best_epoch);
}

#[test]
fn a_run_keeps_its_layers_when_its_preset_changes() {
    use host_trainer::run_dir::{RunPaths, RunState};
    let data = data();
    let config = TrainConfig { train_limit: Some(1_000), ..small(Preset::Mlp128, 2) };
    let (train, val) = config.splits(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = RunPaths::new(dir.path());
    training::train(&config, &train, &val, dir.path(), TrainOptions { stop_after: Some(1), ..QUIET }).unwrap();
    let before = job::eval_existing(&data, dir.path(), Checkpoint::Best).unwrap();
    assert_eq!(before.test.params, 784 * 128 + 128 + 1_290);

    // Pretend the preset's layers changed after the run: its state now names a preset with
    // other layers, but records the layers it was built with.
    let write = |s: &RunState| std::fs::write(paths.state(), serde_json::to_string(s).unwrap()).unwrap();
    let mut state = host_trainer::run_dir::read_state(&paths).unwrap();
    assert_eq!(state.layers.as_deref(), Some(&Preset::Mlp128.layers()[..]));
    state.config.preset = Preset::Mlp128x64;
    write(&state);
    let after = job::eval_existing(&data, dir.path(), Checkpoint::Best).unwrap();
    assert_eq!(after.test.params, before.test.params);
    assert_eq!(after.test.accuracy, before.test.accuracy);
    // Resuming trains the recorded layers too.
    let changed = TrainConfig { preset: Preset::Mlp128x64, ..config.clone() };
    let resumed = training::train(&changed, &train, &val, dir.path(), TrainOptions { resume: true, ..QUIET }).unwrap();
    assert_eq!(resumed.history.len(), 2);

    // A run from before layers were recorded is read with its preset's current layers, and
    // weights that do not fit them are a clear error, not a wrong model.
    let mut old = host_trainer::run_dir::read_state(&paths).unwrap();
    old.layers = None;
    write(&old);
    let e = job::eval_existing(&data, dir.path(), Checkpoint::Best).err().expect("the weights no longer fit");
    assert!(format!("{e:#}").contains("another layer list"), "{e:#}");
}

/// A truncated checkpoint is reported as what it is, without the layer-list explanation.
#[test]
fn a_truncated_checkpoint_is_reported_without_a_guess() {
    use host_trainer::run_dir::{RunPaths, read_state};
    let data = data();
    let config = TrainConfig { train_limit: Some(500), ..small(Preset::Mlp128, 1) };
    let (train, val) = config.splits(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    training::train(&config, &train, &val, dir.path(), QUIET).unwrap();
    let paths = RunPaths::new(dir.path());
    let best = read_state(&paths).unwrap().best_model(&paths);
    let bytes = std::fs::read(&best).unwrap();
    std::fs::write(&best, &bytes[..bytes.len() / 3]).unwrap();
    let e = format!("{:#}", job::eval_existing(&data, dir.path(), Checkpoint::Best).err().expect("truncated"));
    assert!(e.contains("truncated") && !e.contains("layer list"), "{e}");
}

/// Two trainings into one run directory: the second is refused while the first holds it.
#[test]
fn a_run_directory_takes_one_training_at_a_time() {
    let data = data();
    let config = TrainConfig { train_limit: Some(300), ..small(Preset::Mlp128, 1) };
    let (train, val) = config.splits(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let held = host_trainer::run_dir::lock(dir.path()).unwrap();
    let e = training::train(&config, &train, &val, dir.path(), QUIET).expect_err("locked");
    assert!(format!("{e:#}").contains("another process is training into"), "{e:#}");
    assert!(!dir.path().join("checkpoints/state.json").exists(), "nothing written");
    drop(held);
    training::train(&config, &train, &val, dir.path(), QUIET).unwrap();
}

/// The same losses epoch by epoch, bit for bit (the resumed epochs come back from
/// `state.json`: serde_json's `float_roundtrip` keeps every f64 exact).
fn assert_same_history(a: &host_trainer::run_dir::RunState, b: &host_trainer::run_dir::RunState) {
    assert_eq!(a.history.len(), b.history.len());
    for (x, y) in a.history.iter().zip(&b.history) {
        for (p, q) in [(x.train_loss, y.train_loss), (x.val_loss, y.val_loss), (x.val_acc, y.val_acc)] {
            assert_eq!(p.to_bits(), q.to_bits(), "epoch {}: {p} vs {q}", x.epoch);
        }
    }
}

/// A checkpoint write that fails leaves the previous epoch's state and files, says so, and the
/// run resumes from there to what an uninterrupted run computes.
#[test]
fn a_failed_checkpoint_write_keeps_the_last_good_one() {
    use host_trainer::run_dir::{RunPaths, read_state};
    let data = data();
    let config = TrainConfig { train_limit: Some(800), ..small(Preset::Mlp128, 3) };
    let (train, val) = config.splits(&data).unwrap();
    let whole = tempfile::tempdir().unwrap();
    let reference = training::train(&config, &train, &val, whole.path(), QUIET).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let paths = RunPaths::new(dir.path());
    std::fs::create_dir_all(paths.ckpt()).unwrap();
    // Epoch 2's weights cannot be written: a folder stands where their temporary file goes.
    std::fs::create_dir_all(paths.ckpt().join("epoch-0002-model.bpk.tmp")).unwrap();
    let e = format!("{:#}", training::train(&config, &train, &val, dir.path(), QUIET).expect_err("write fails"));
    assert!(e.contains("saving epoch 2") && e.contains("last good checkpoint (epoch 1) is unchanged"), "{e}");
    let state = read_state(&paths).unwrap();
    assert_eq!(state.history.len(), 1);
    assert!(state.last_model(&paths).is_file() && state.last_optim(&paths).is_file());
    std::fs::remove_dir(paths.ckpt().join("epoch-0002-model.bpk.tmp")).unwrap();
    let resumed = training::train(&config, &train, &val, dir.path(), TrainOptions { resume: true, ..QUIET }).unwrap();
    assert_same_history(&resumed, &reference);
    // Only the files the final state names are left.
    let mut left: Vec<String> = std::fs::read_dir(paths.ckpt())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bpk"))
        .collect();
    left.sort();
    let f = resumed.files.clone().unwrap();
    let mut want = vec![f.last_model, f.last_optim, f.best_model];
    want.sort();
    want.dedup();
    assert_eq!(left, want);
}

/// A run written before checkpoints were named per epoch (fixed names, no files in its state)
/// evaluates and resumes, and moves to the per-epoch names.
#[test]
fn a_run_with_the_old_checkpoint_names_resumes() {
    use host_trainer::run_dir::{RunPaths, read_state};
    let data = data();
    let config = TrainConfig { train_limit: Some(600), ..small(Preset::Mlp128, 2) };
    let (train, val) = config.splits(&data).unwrap();
    let whole = tempfile::tempdir().unwrap();
    let reference = training::train(&config, &train, &val, whole.path(), QUIET).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let paths = RunPaths::new(dir.path());
    let one =
        training::train(&config, &train, &val, dir.path(), TrainOptions { stop_after: Some(1), ..QUIET }).unwrap();
    // Rewrite it as the old layout had it.
    let c = paths.ckpt();
    std::fs::rename(one.last_model(&paths), c.join("last-model.bpk")).unwrap();
    std::fs::rename(one.last_optim(&paths), c.join("last-optim.bpk")).unwrap();
    std::fs::copy(c.join("last-model.bpk"), c.join("best-model.bpk")).unwrap();
    let mut old = one.clone();
    old.files = None;
    std::fs::write(paths.state(), serde_json::to_string(&old).unwrap()).unwrap();
    assert!(job::eval_existing(&data, dir.path(), Checkpoint::Best).is_ok());

    let resumed = training::train(&config, &train, &val, dir.path(), TrainOptions { resume: true, ..QUIET }).unwrap();
    assert_same_history(&resumed, &reference);
    assert!(read_state(&paths).unwrap().files.is_some());
    assert!(!c.join("last-model.bpk").exists() && !c.join("best-model.bpk").exists());
    assert!(job::eval_existing(&data, dir.path(), Checkpoint::Best).is_ok());
}

#[test]
fn same_seed_same_metrics_other_seed_other_metrics() {
    let data = data();
    let config = TrainConfig { train_limit: Some(500), ..small(Preset::CnnBaseline, 1) };
    let (train, val) = config.splits(&data).unwrap();
    let run = |c: &TrainConfig| {
        let dir = tempfile::tempdir().unwrap();
        training::train(c, &train, &val, dir.path(), QUIET).unwrap().history[0].clone()
    };
    let a = run(&config);
    let b = run(&config);
    assert_eq!((a.train_loss, a.val_loss, a.val_acc), (b.train_loss, b.val_loss, b.val_acc));
    let c = run(&TrainConfig { seed: 7, ..config.clone() });
    assert_ne!(a.val_loss, c.val_loss);
}

#[test]
fn cli_trains_evaluates_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let bin = env!("CARGO_BIN_EXE_host-trainer");
    let status = std::process::Command::new(bin)
        .args([
            "--runs-dir",
            runs.to_str().unwrap(),
            "train",
            "--preset",
            "mlp-128-64",
            "--epochs",
            "1",
            "--train-limit",
            "1000",
        ])
        .args(["--erase", "0.5"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("mlp-128-64: test accuracy"), "{stdout}");
    let report = std::fs::read_to_string(runs.join("mlp-128-64/report.md")).unwrap();
    assert!(report.contains("shift ±0 px, erase p 0.5 |"), "{report}");
    for (flag, value, message) in [
        ("--erase", "1.5", "1.5 is not a probability"),
        ("--dropout", "1.5", "1.5 is not a probability"),
        ("--dropout", "1", "dropout 1 would drop every unit"),
    ] {
        let out = std::process::Command::new(bin)
            .args(["--runs-dir", runs.to_str().unwrap(), "train", "--preset", "mlp-128", flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let out = std::process::Command::new(bin).args(["--runs-dir", runs.to_str().unwrap(), "report"]).output().unwrap();
    assert!(out.status.success());
    let summary = std::fs::read_to_string(runs.join("summary.md")).unwrap();
    assert!(summary.contains("| mlp-128-64 | mlp-128-64 | 109386 | 1 |"), "{summary}");
    assert!(std::fs::metadata(runs.join("comparison.png")).unwrap().len() > 1000);

    // Grid search from the command line: 2 x 2 one-epoch trials on a small subset.
    let out = std::process::Command::new(bin)
        .args(["--runs-dir", runs.to_str().unwrap(), "grid", "--preset", "mlp-128", "--lr", "0.01,0.001"])
        .args(["--batch-size", "32,64", "--epochs", "1", "--train-limit", "600"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = std::fs::read_to_string(runs.join("grid/mlp-128/grid.md")).unwrap();
    assert_eq!(table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| rank")).count(), 4, "{table}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("train --preset mlp-128 --lr"), "{table}");
    let trials: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(runs.join("grid/mlp-128/grid.json")).unwrap()).unwrap();
    let accs: Vec<f64> = trials.iter().map(|t| t["val_acc"].as_f64().unwrap()).collect();
    assert!(accs.windows(2).all(|w| w[0] >= w[1]) && accs[3] > 0.3, "{accs:?}");

    // A data dir without the files is a clear error, not a panic.
    let out =
        std::process::Command::new(bin).args(["--data-dir", dir.path().to_str().unwrap(), "data"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data-dir points at") && err.contains("train-images-idx3-ubyte"), "{err}");
}

#[test]
fn augmented_training_is_seeded_and_draws_its_picture() {
    use host_trainer::data::augment::Augment;
    let data = data();
    let config = TrainConfig { train_limit: Some(600), augment: Augment::STUDIES, ..small(Preset::Mlp128x64, 2) };
    let (train, val) = config.splits(&data).unwrap();
    let run = |c: &TrainConfig| {
        let dir = tempfile::tempdir().unwrap();
        training::train(c, &train, &val, dir.path(), QUIET).unwrap().history
    };
    let a = run(&config);
    assert_eq!(
        a,
        run(&config)
            .into_iter()
            .map(|mut r| {
                r.seconds = a[r.epoch - 1].seconds;
                r
            })
            .collect::<Vec<_>>()
    );
    let plain = run(&TrainConfig { augment: Augment::default(), ..config.clone() });
    assert_ne!(a[1].val_loss, plain[1].val_loss, "augmentation changes what the model sees");
    // The run's report shows the augmentation and draws original vs augmented samples.
    let dir = tempfile::tempdir().unwrap();
    job::train_and_report(&data, &TrainConfig { epochs: 1, ..config }, dir.path(), QUIET, Checkpoint::Best).unwrap();
    assert!(dir.path().join("plots/augmentation.png").is_file());
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("| augmentation | flip true, rotate ±10°"), "{md}");
}

#[test]
fn schedules_optimizers_and_early_stopping_resume_exactly() {
    use host_trainer::optimizer::{OptimizerKind, Schedule};
    let data = data();
    for (optimizer, schedule) in [
        (OptimizerKind::Sgd, Schedule::Plateau { factor: 0.5, patience: 1, min_lr: 1e-4 }),
        (OptimizerKind::AdamW, Schedule::Cosine { min_lr: 0.0 }),
        (OptimizerKind::RmsProp, Schedule::Constant),
    ] {
        let config = TrainConfig {
            train_limit: Some(500),
            optimizer,
            schedule,
            weight_decay: 1e-4,
            label_smoothing: 0.1,
            early_stopping: Some(2),
            lr: if optimizer == OptimizerKind::Sgd { 0.05 } else { 1e-3 },
            ..small(Preset::Mlp128x64, 5)
        };
        let (train, val) = config.splits(&data).unwrap();
        let whole = tempfile::tempdir().unwrap();
        let a = training::train(&config, &train, &val, whole.path(), QUIET).unwrap();
        let parts = tempfile::tempdir().unwrap();
        training::train(&config, &train, &val, parts.path(), TrainOptions { stop_after: Some(1), ..QUIET }).unwrap();
        let b = training::train(&config, &train, &val, parts.path(), TrainOptions { resume: true, ..QUIET }).unwrap();
        let key = |h: &[host_trainer::run_dir::EpochRecord]| {
            h.iter().map(|r| (r.epoch, r.train_loss, r.val_loss, r.lr)).collect::<Vec<_>>()
        };
        assert_eq!(key(&a.history), key(&b.history), "{optimizer:?}");
        // Replay the schedule from the history: every recorded rate follows the rule.
        let (mut current, mut best, mut best_loss) = (config.lr, 0usize, f64::INFINITY);
        for (e, r) in a.history.iter().enumerate() {
            let since_best = if best == 0 { 0 } else { e - best };
            let want = schedule.lr(config.lr, e, config.epochs, current, since_best);
            assert_eq!(r.lr, want, "{optimizer:?} epoch {}", r.epoch);
            current = want;
            if r.val_loss < best_loss {
                best_loss = r.val_loss;
                best = r.epoch;
            }
        }
        // Early stopping: a run that ended before its last epoch had 2 epochs without a better
        // validation loss.
        if a.history.len() < config.epochs {
            assert!(a.history.len() - a.best_epoch >= 2, "{optimizer:?}");
        }
    }
}

#[test]
fn committee_of_one_is_its_member_and_two_members_report() {
    use host_trainer::committee::{Weighting, combine, predictions, softmax_rows};
    let data = data();
    let dirs: Vec<_> = [1u64, 2].iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let mut accs = Vec::new();
    for (dir, seed) in dirs.iter().zip([1u64, 2]) {
        let config = TrainConfig { seed, train_limit: Some(1000), ..small(Preset::Mlp128x64, 1) };
        let out = job::train_and_report(&data, &config, dir.path(), QUIET, Checkpoint::Best).unwrap();
        accs.push(out.test.accuracy);
    }
    let out = tempfile::tempdir().unwrap();
    let one =
        host_trainer::committee::committee(&data, &[dirs[0].path().to_path_buf()], Weighting::Mean, false, out.path())
            .unwrap();
    assert_eq!(one.accuracy, accs[0], "a committee of one predicts what its member predicts");
    let paths: Vec<_> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let two = host_trainer::committee::committee(&data, &paths, Weighting::ValAccuracy, false, out.path()).unwrap();
    assert_eq!(two.member_accuracy, accs);
    assert!(two.weights.iter().all(|&w| w > 0.5 && w <= 1.0), "{:?}", two.weights);
    assert_eq!(two.confusion.total(), 10_000);
    assert!(out.path().join("committee.md").is_file() && out.path().join("committee.json").is_file());
    assert!(host_trainer::committee::committee(&data, &[], Weighting::Mean, false, out.path()).is_err());

    // Mirror TTA, recomputed by hand from the member's logits on both views.
    let tta = host_trainer::committee::committee(&data, &paths, Weighting::Mean, true, out.path()).unwrap();
    assert!(tta.mirror_tta);
    let mirrored = data.test.mirrored();
    let mut members = Vec::new();
    for d in &dirs {
        let state = host_trainer::run_dir::read_state(&host_trainer::run_dir::RunPaths::new(d.path())).unwrap();
        let views = [&data.test, &mirrored].map(|s| {
            let r = host_trainer::evaluation::evaluate_run(d.path(), &state, Checkpoint::Best, s).unwrap();
            softmax_rows(&r.logits)
        });
        members.push(combine(&views, &[1.0, 1.0]));
    }
    let by_hand =
        |p: &[f64]| predictions(p).iter().zip(&data.test.labels).filter(|(a, b)| a == b).count() as f64 / 10_000.0;
    assert_eq!(tta.member_accuracy, members.iter().map(|m| by_hand(m)).collect::<Vec<_>>());
    assert_eq!(tta.accuracy, by_hand(&combine(&members, &[1.0, 1.0])));
    assert!(std::fs::read_to_string(out.path().join("committee.md")).unwrap().contains("mirrored"));
}
