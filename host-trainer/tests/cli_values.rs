//! Every value rule of the command line, through the binary: refused before any work starts
//! (no dataset is read, no run directory made), with the option and the rule in the message.

use std::process::Command;

#[test]
fn bad_values_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let train = |flag: &str, v: &str| -> Vec<String> {
        // `--flag=value`, so that a negative value is read as a value, not as a flag.
        ["train", "--preset", "mlp-128", &format!("{flag}={v}")].iter().map(|s| s.to_string()).collect()
    };
    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (train("--lr", "NaN"), "'--lr <LR>': NaN is not a finite number"),
        (train("--lr", "0"), "0 must be above 0"),
        (train("--lr", "-0.1"), "must be above 0"),
        (train("--batch-size", "0"), "'--batch-size <BATCH_SIZE>': 0 is not allowed here"),
        (train("--epochs", "0"), "'--epochs <EPOCHS>': 0 is not allowed here"),
        (train("--val-size", "0"), "'--val-size <VAL_SIZE>'"),
        (train("--train-limit", "0"), "'--train-limit <TRAIN_LIMIT>'"),
        (train("--weight-decay", "-1"), "must be 0 or more"),
        (train("--weight-decay", "inf"), "is not a finite number"),
        (train("--label-smoothing", "1"), "would smooth the labels away"),
        (train("--min-lr", "-1e-5"), "must be 0 or more"),
        (train("--plateau-factor", "1"), "between 0 and 1"),
        (train("--plateau-patience", "0"), "0 is not allowed here"),
        (train("--early-stopping", "0"), "0 is not allowed here"),
        (train("--rotate", "200"), "from 0 to 180 degrees"),
        (train("--zoom", "1.5"), "from 0 to below 1"),
        (train("--shift", "30"), "from 0 to 27 pixels"),
        (train("--erase", "2"), "is not a probability"),
        (train("--dropout", "1"), "would drop every unit"),
        (
            vec!["grid".into(), "--preset".into(), "mlp-128".into(), "--lr".into(), "0.1,NaN".into()],
            "NaN is not a finite number",
        ),
        (
            vec!["grid".into(), "--preset".into(), "mlp-128".into(), "--batch-size".into(), "64,0".into()],
            "0 is not allowed here",
        ),
        (vec!["gan".into(), "--n-critic".into(), "0".into()], "0 is not allowed here"),
        (vec!["gan".into(), "--lr=-1".into()], "must be above 0"),
        (
            vec!["quantize".into(), "--run-dir".into(), "x".into(), "--calibration-images".into(), "0".into()],
            "0 is not allowed here",
        ),
        (vec!["firmware-data".into(), "--per-class".into(), "0".into()], "0 is not allowed here"),
        (vec!["publish".into(), "--onnx".into(), "m.onnx".into(), "--input-std".into(), "0".into()], "must be above 0"),
    ];
    // A backend the binary was built without: the error names the feature to rebuild with.
    if !cfg!(feature = "libtorch") {
        let args = vec!["--device".into(), "libtorch".into(), "train".into(), "--preset".into(), "mlp-128".into()];
        cases.push((args, "backend `libtorch` is not compiled in: rebuild with `cargo run -p host-trainer --release --features libtorch`"));
    }
    for (args, message) in cases {
        let err = refused(
            host_trainer()
                .arg("--runs-dir")
                .arg(&runs)
                .args(&args)
                .env("FASHION_MNIST_DIR", dir.path().join("no-dataset-here")),
            &args,
        );
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("dataset") && !runs.exists(), "{args:?}: work started: {err}");
    }
}

/// Runs `cmd`, checks that it fails, and returns what it wrote to stderr.
fn refused(cmd: &mut Command, what: &dyn std::fmt::Debug) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{what:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn host_trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
}

/// Values each fine alone that contradict each other, or the dataset, are refused before training.
#[test]
fn contradicting_values_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    for (args, message) in [
        (vec!["--lr", "1e-4", "--schedule", "cosine", "--min-lr", "1e-3"], "--min-lr 0.001 is above --lr 0.0001"),
        (
            vec!["--train-limit", "60000"],
            "--train-limit 60000 is more than the 54000 training images that --val-size 6000 leaves",
        ),
        (vec!["--val-size", "60000"], "60000"),
    ] {
        let run = dir.path().join("run");
        let err = refused(
            host_trainer().args(["train", "--preset", "mlp-128", "--epochs", "1", "--run-dir"]).arg(&run).args(&args),
            &args,
        );
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!run.join("checkpoints/state.json").exists(), "{args:?}: trained");
    }
}

/// A run directory that holds no run is named as such by every command that reads one.
#[test]
fn a_missing_run_is_named_by_every_command_that_reads_one() {
    let dir = tempfile::tempdir().unwrap();
    let nope = dir.path().join("nope");
    let nope = nope.to_str().unwrap();
    for args in [
        vec!["eval", "--run-dir", nope],
        vec!["quantize", "--run-dir", nope],
        vec!["committee", "--run-dir", nope],
        vec!["publish", "--run-dir", nope],
    ] {
        let err =
            refused(host_trainer().args(&args).env("FASHION_MNIST_DIR", dir.path().join("no-dataset-here")), &args);
        assert!(err.contains(&format!("{nope} holds no trained run")), "{args:?}: {err}");
    }
    let err = refused(host_trainer().args(["gan", "sample", "--run-dir", nope]), &"gan sample");
    assert!(err.contains("holds no trained GAN"), "{err}");
}
