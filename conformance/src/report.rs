//! The figures of the conformance suite, as JSON and markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::{ModelRuns, accuracy, lsb_histogram, max_abs_diff, to_lsb, top1};

/// Two float engines compared.
#[derive(Debug, Clone, Serialize)]
pub struct FloatPair {
    /// First engine.
    pub a: String,
    /// Second engine.
    pub b: String,
    /// Largest |logit difference|.
    pub max_abs_diff: f32,
    /// Images with the same top-1.
    pub top1_identical: usize,
}

/// Two int8 engines compared in output units.
#[derive(Debug, Clone, Serialize)]
pub struct Int8Pair {
    /// First engine.
    pub a: String,
    /// Second engine.
    pub b: String,
    /// Share of the 100,000 logits with identical int8 values.
    pub identical_share: f64,
    /// Counts of |difference| = 0, 1, 2, >2 LSB.
    pub lsb_histogram: [usize; 4],
    /// Largest |difference| in LSB.
    pub max_lsb: u32,
    /// Share of images with the same top-1.
    pub top1_identical_share: f64,
    /// Of the differing logits (infer-core against another engine): how many lie within
    /// 0.01 LSB of a rounding boundary in infer-core's exact arithmetic (last layer).
    pub near_boundary: Option<usize>,
}

/// An image on which engines disagree on top-1.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// Test-set index.
    pub index: usize,
    /// True label.
    pub label: u8,
    /// Each engine's prediction.
    pub predictions: BTreeMap<String, usize>,
}

/// One model's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// Model name.
    pub name: String,
    /// Test accuracy per engine.
    pub accuracy: BTreeMap<String, f64>,
    /// Seconds per engine run over the 10,000 images (not a benchmark: see benches/).
    pub seconds: BTreeMap<String, f64>,
    /// Every pair of float engines.
    pub float_pairs: Vec<FloatPair>,
    /// int8 engines against each other.
    pub int8_pairs: Vec<Int8Pair>,
    /// infer-core int8 accuracy minus float (burn) accuracy, percentage points.
    pub int8_minus_float_pp: f64,
    /// Share of images where infer-core int8 and float (burn) agree on top-1.
    pub int8_float_top1_agreement: f64,
    /// infer-core fast kernels bit-identical to the reference kernels on all logits.
    pub fast_equals_reference: bool,
    /// Images where the int8 engines disagree among themselves or with the float model.
    pub disagreements: Vec<Disagreement>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// ONNX Runtime build information.
    pub onnxruntime: String,
    /// tract version.
    pub tract: String,
    /// Per model.
    pub models: Vec<ModelReport>,
    /// Wall seconds of the whole measurement.
    pub wall_seconds: f64,
}

fn int8_pair(a: &str, qa: &[i32], b: &str, qb: &[i32]) -> Int8Pair {
    let h = lsb_histogram(qa, qb);
    let total = qa.len().max(1) as f64;
    let max_lsb = qa.iter().zip(qb).map(|(x, y)| (x - y).unsigned_abs()).max().unwrap_or(0);
    let (ta, tb) = (top1(qa), top1(qb));
    let same = ta.iter().zip(&tb).filter(|(x, y)| x == y).count();
    Int8Pair {
        a: a.into(),
        b: b.into(),
        identical_share: h[0] as f64 / total,
        lsb_histogram: h,
        max_lsb,
        top1_identical_share: same as f64 / ta.len().max(1) as f64,
        near_boundary: None,
    }
}

impl ModelReport {
    /// Computes the figures from the runs.
    pub fn new(r: &ModelRuns, labels: &[u8]) -> Self {
        let mut accuracy_by = BTreeMap::new();
        let mut seconds = BTreeMap::new();
        for run in r.float.iter().chain(&r.qdq) {
            accuracy_by.insert(run.engine.clone(), accuracy(&top1(&run.logits), labels));
            seconds.insert(run.engine.clone(), run.seconds);
        }
        let ic8: Vec<i32> = r.ic8_fast.iter().map(|&v| i32::from(v)).collect();
        let ic8_ref: Vec<i32> = r.ic8_reference.iter().map(|&v| i32::from(v)).collect();
        accuracy_by.insert("infer-core-int8".into(), accuracy(&top1(&ic8), labels));

        let mut float_pairs = Vec::new();
        for (i, a) in r.float.iter().enumerate() {
            for b in &r.float[i + 1..] {
                let (ta, tb) = (top1(&a.logits), top1(&b.logits));
                float_pairs.push(FloatPair {
                    a: a.engine.clone(),
                    b: b.engine.clone(),
                    max_abs_diff: max_abs_diff(&a.logits, &b.logits),
                    top1_identical: ta.iter().zip(&tb).filter(|(x, y)| x == y).count(),
                });
            }
        }
        let qdq: Vec<(String, Vec<i32>)> =
            r.qdq.iter().map(|run| (run.engine.clone(), to_lsb(&run.logits, r.out_scale, r.out_zero_point))).collect();
        let away: Vec<i32> = r.ic8_ties_away.iter().map(|&v| i32::from(v)).collect();
        let mut int8_pairs = Vec::new();
        for (name, q) in &qdq {
            let mut p = int8_pair("infer-core-int8", &ic8, name, q);
            if r.ic8_margins.iter().all(|m| m.is_finite()) && r.ic8_margins.len() == ic8.len() {
                p.near_boundary =
                    Some(ic8.iter().zip(q).zip(&r.ic8_margins).filter(|((a, b), m)| a != b && **m < 0.01).count());
            }
            int8_pairs.push(p);
        }
        // The tie rule we did not choose, against the same engines.
        for (name, q) in &qdq {
            int8_pairs.push(int8_pair("infer-core-int8 (ties away from zero)", &away, name, q));
        }
        for (i, (a, qa)) in qdq.iter().enumerate() {
            for (b, qb) in &qdq[i + 1..] {
                int8_pairs.push(int8_pair(a, qa, b, qb));
            }
        }

        let float_pred = top1(&r.float[0].logits);
        let ic8_pred = top1(&ic8);
        let agree = float_pred.iter().zip(&ic8_pred).filter(|(a, b)| a == b).count();
        let mut preds: Vec<(String, Vec<usize>)> = vec![(r.float[0].engine.clone(), float_pred.clone())];
        preds.extend(qdq.iter().map(|(n, q)| (n.clone(), top1(q))));
        preds.push(("infer-core-int8".into(), ic8_pred.clone()));
        let disagreements = (0..labels.len())
            .filter(|&i| preds.iter().any(|(_, p)| p[i] != preds[0].1[i]))
            .map(|i| Disagreement {
                index: i,
                label: labels[i],
                predictions: preds.iter().map(|(n, p)| (n.clone(), p[i])).collect(),
            })
            .collect();
        Self {
            name: r.name.to_string(),
            int8_minus_float_pp: 100.0 * (accuracy_by["infer-core-int8"] - accuracy_by[&r.float[0].engine]),
            int8_float_top1_agreement: agree as f64 / labels.len().max(1) as f64,
            fast_equals_reference: ic8 == ic8_ref,
            accuracy: accuracy_by,
            seconds,
            float_pairs,
            int8_pairs,
            disagreements,
        }
    }
}

/// Renders the report as markdown.
pub fn markdown(r: &Report) -> String {
    let mut s = String::from("# Conformance on the 10,000-image test set\n\n");
    let _ = writeln!(
        s,
        "Generated by `cargo run -p conformance --release` (checked by `cargo test -p conformance --release`).\n\nONNX Runtime: {}  \ntract: {}  \nwall time of the whole measurement: {:.1} s\n",
        r.onnxruntime.lines().next().unwrap_or(""),
        r.tract,
        r.wall_seconds
    );
    for m in &r.models {
        let _ = writeln!(s, "## {}\n", m.name);
        let _ = writeln!(s, "| engine | test accuracy | seconds (10k images) |\n|---|---:|---:|");
        for (e, a) in &m.accuracy {
            let secs = m.seconds.get(e).map_or("-".to_string(), |v| format!("{v:.2}"));
            let _ = writeln!(s, "| {e} | {:.2}% | {secs} |", 100.0 * a);
        }
        let _ = writeln!(
            s,
            "\ninfer-core int8 vs float (burn): {:+.2} pp accuracy, top-1 agreement {:.2}%. Fast kernels identical to the reference kernels on all logits: **{}**.\n",
            m.int8_minus_float_pp,
            100.0 * m.int8_float_top1_agreement,
            m.fast_equals_reference
        );
        let _ =
            writeln!(s, "### Float engines\n\n| a | b | max abs logit diff | identical top-1 |\n|---|---|---:|---:|");
        for p in &m.float_pairs {
            let _ = writeln!(s, "| {} | {} | {:.2e} | {} / 10000 |", p.a, p.b, p.max_abs_diff, p.top1_identical);
        }
        let _ = writeln!(
            s,
            "\n### int8 engines (output units)\n\nDifferences are counted in output LSB. *Near a boundary*: of the logits where infer-core differs, those whose exact value before the last rounding (infer-core's integer accumulator times its 31-bit multiplier) lies within 0.01 LSB of a rounding boundary, where an engine that computes in f32 (ONNX Runtime's QLinear kernels requantize in f32; tract and unoptimized ORT run the dequantized float op) can land on either side.\n\n| a | b | identical logits | Δ=0 | Δ=1 | Δ=2 | Δ>2 | max Δ | identical top-1 | near a boundary |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for p in &m.int8_pairs {
            let h = p.lsb_histogram;
            let _ = writeln!(
                s,
                "| {} | {} | {:.3}% | {} | {} | {} | {} | {} | {:.2}% | {} |",
                p.a,
                p.b,
                100.0 * p.identical_share,
                h[0],
                h[1],
                h[2],
                h[3],
                p.max_lsb,
                100.0 * p.top1_identical_share,
                p.near_boundary.map_or("-".to_string(), |n| format!("{n} of {}", h[1] + h[2] + h[3]))
            );
        }
        let _ = writeln!(s, "\n### Images with differing top-1 ({})\n", m.disagreements.len());
        if let Some(first) = m.disagreements.first() {
            let engines: Vec<&String> = first.predictions.keys().collect();
            let _ = write!(s, "| index | label |");
            for e in &engines {
                let _ = write!(s, " {e} |");
            }
            let _ = write!(s, "\n|---:|---:|");
            s.push_str(&"---:|".repeat(engines.len()));
            s.push('\n');
            for d in &m.disagreements {
                let _ = write!(s, "| {} | {} |", d.index, d.label);
                for e in &engines {
                    let _ = write!(s, " {} |", d.predictions[*e]);
                }
                s.push('\n');
            }
        }
        s.push('\n');
    }
    s
}
