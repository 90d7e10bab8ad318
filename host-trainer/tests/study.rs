//! `host-trainer study --quick`: two shards of a tiny study trained into two folders, merged
//! into one report; the merge's figures recomputed here from the runs' own files.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host-trainer"))
}

fn run(args: &[&str], dirs: &[&Path]) -> (bool, String, String) {
    let mut c = bin();
    c.args(args);
    for d in dirs {
        c.arg(d);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn logits(run: &Path) -> Vec<f32> {
    let b = std::fs::read(run.join("study/f32-logits.bin")).unwrap();
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b })
}

#[test]
fn two_shards_of_a_quick_study_merge_into_one_report() {
    let data = host_trainer::data::FashionMnist::load(None).expect("dataset (FASHION_MNIST_DIR)");
    let labels = &data.test.labels[..1000];
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, rep) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("report"));
    let quick = ["study", "--quick", "--seeds", "2"];
    fn with<'a>(quick: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        quick.iter().chain(extra).copied().collect()
    }

    let (ok, _, err) = run(&with(&quick, &["--shard", "1/2", "--out"]), &[&a]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&with(&quick, &["--shard", "2/2", "--out"]), &[&b]);
    assert!(ok, "{err}");
    // Each shard trained its half: seed-major plan order, odd runs in a, even in b.
    assert!(a.join("mlp-128-64/seed-42/study/record.json").is_file());
    assert!(b.join("mlp-improved/seed-42/study/record.json").is_file());
    assert!(!a.join("mlp-improved/seed-42").exists() && !b.join("mlp-128-64/seed-42").exists());

    // One shard alone does not make a study: the missing runs are named.
    let (ok, _, err) = run(&with(&quick, &["--merge", "--out"]), &[&a]);
    assert!(!ok && err.contains("5 of 10 runs are not finished") && err.contains("mlp-improved/seed-42"), "{err}");
    assert!(!err.contains("Stack backtrace"), "{err}");
    let (ok, _, err) = run(
        &with(&quick, &["--merge", "--partial", "--out"]),
        &[&a, Path::new("--report-dir"), &tmp.path().join("partial")],
    );
    assert!(ok, "{err}");
    let partial = std::fs::read_to_string(tmp.path().join("partial/study.md")).unwrap();
    assert!(partial.contains("5 of 10 runs merged") && partial.contains("Missing (partial merge)"), "{partial}");

    // Both shards merge.
    let (ok, stdout, err) =
        run(&with(&quick, &["--merge", "--out"]), &[&a, Path::new("--from"), &b, Path::new("--report-dir"), &rep]);
    assert!(ok, "{err}");
    assert!(stdout.contains("cnn-edge") && stdout.contains("(2 seeds)"), "{stdout}");
    let md = std::fs::read_to_string(rep.join("study.md")).unwrap();
    assert!(md.contains("10 of 10 runs merged") && md.contains("A CNN beats an MLP"), "{md}");
    assert!(rep.join("accuracy.png").metadata().unwrap().len() > 1000);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rep.join("study.json")).unwrap()).unwrap();
    assert_eq!(json["runs_merged"], 10);
    assert_eq!(json["models"].as_array().unwrap().len(), 5);

    // The MLP's figures recomputed from its two runs' files (seed 42 in a, seed 43 in b).
    let runs = [a.join("mlp-128-64/seed-42"), b.join("mlp-128-64/seed-43")];
    let accs: Vec<f64> = runs
        .iter()
        .map(|r| {
            let l = logits(r);
            l.chunks(10).zip(labels).filter(|(row, y)| argmax(row) == **y as usize).count() as f64 / 1000.0
        })
        .collect();
    let mlp = &json["models"][0];
    assert_eq!(mlp["model"], "mlp-128-64");
    let mean = (accs[0] + accs[1]) / 2.0;
    assert!((mlp["test_acc"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12, "{mlp}");
    let std = (accs[0] - accs[1]).abs() / 2f64.sqrt();
    assert!((mlp["test_acc"]["std"].as_f64().unwrap() - std).abs() < 1e-12, "{mlp}");
    // Its committee: the two runs' softmax probabilities averaged.
    let (l0, l1) = (logits(&runs[0]), logits(&runs[1]));
    let soft = |r: &[f32]| -> Vec<f64> {
        let m = r.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let e: Vec<f64> = r.iter().map(|&v| f64::from(v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    };
    let hits = (0..1000)
        .filter(|&i| {
            let (p, q) = (soft(&l0[i * 10..i * 10 + 10]), soft(&l1[i * 10..i * 10 + 10]));
            let avg: Vec<f32> = p.iter().zip(&q).map(|(x, y)| ((x + y) / 2.0) as f32).collect();
            argmax(&avg) == labels[i] as usize
        })
        .count();
    let committee =
        json["committees"].as_array().unwrap().iter().find(|c| c["name"] == "mlp-128-64 × 2 seeds").unwrap();
    assert!((committee["accuracy"].as_f64().unwrap() - hits as f64 / 1000.0).abs() < 1e-12, "{committee}");
    // The CNN-vs-MLP claim's difference is that of the seed means.
    let cnn = &json["models"][2];
    assert_eq!(cnn["model"], "cnn-baseline");
    let claim = &json["claims"][0];
    let d = cnn["test_acc"]["mean"].as_f64().unwrap() - mlp["test_acc"]["mean"].as_f64().unwrap();
    assert!((claim["difference"].as_f64().unwrap() - d).abs() < 1e-9, "{claim}");
    let (lo, hi) = (claim["interval"][0].as_f64().unwrap(), claim["interval"][1].as_f64().unwrap());
    assert!(lo <= d && d <= hi && hi - lo > 0.0, "{claim}");

    // Training again finds every run finished and changes nothing.
    let record = a.join("cnn-edge/seed-42/study/record.json");
    let before = std::fs::read(&record).unwrap();
    let stamp = record.metadata().unwrap().modified().unwrap();
    let (ok, _, err) = run(&with(&quick, &["--shard", "1/2", "--out"]), &[&a]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&record).unwrap(), before);
    assert_eq!(record.metadata().unwrap().modified().unwrap(), stamp);

    // A study folder of another shape is refused, not silently retrained or mixed.
    let (ok, _, err) = run(&["study", "--seeds", "2", "--merge", "--out"], &[&a]);
    assert!(!ok && err.contains("records another study's run"), "{err}");
}

#[test]
fn bad_study_arguments_are_clear_errors() {
    for (args, message) in [
        (vec!["study", "--shard", "3/2"], "K must be from 1 to N"),
        (vec!["study", "--shard", "x"], "expected K/N"),
        (vec!["study", "--seeds", "0"], "0 is not in 1..=1000"),
        (vec!["study", "--merge", "--shard", "1/2"], "cannot be used with"),
        (vec!["study", "--partial"], "--merge"),
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}
