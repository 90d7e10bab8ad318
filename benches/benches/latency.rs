//! Batch-1 latency per image of every engine on the committed MLP and CNN, same images, one
//! criterion run: infer-core int8 (`Model::run`, which with `x86-dispatch` takes the AVX2 /
//! AVX-512 VNNI path the CPU has, and `Kernels::Baseline`: the portable build's kernels); ONNX Runtime f32 and int8 QDQ (one intra-op thread, all graph
//! optimizations); tract f32 and int8 QDQ (batch fixed to 1, optimized). Then throughput over
//! [`benches::THROUGHPUT_IMAGES`] test images (infer-core's default path, the batched engines at
//! batch 256). When criterion is done, it writes the summary, `benches/RESULTS.md`.

use std::hint::black_box;

use conformance::engines::{Ort, Tract};
use criterion::{Criterion, criterion_group};
use infer_core::{Kernels, Model, RunOptions};

const LATENCY_IMAGES: usize = 256;

fn latency(c: &mut Criterion) {
    let images = benches::images(LATENCY_IMAGES).expect("dataset (FASHION_MNIST_DIR)");
    for m in onnx_models::ALL {
        let mut g = c.benchmark_group(format!("latency/{}", m.name));
        let model = Model::parse(m.blob).expect("committed blob");
        let mut arena = vec![0u8; model.arena_len()];
        let mut i = 0;
        let baseline = RunOptions::new().kernels(Kernels::Baseline);
        g.bench_function("infer-core-int8 portable", |b| {
            b.iter(|| {
                let img = &images[i * 784..(i + 1) * 784];
                i = (i + 1) % LATENCY_IMAGES;
                black_box(model.run_with(baseline, black_box(img), &mut arena).expect("run"))
            })
        });
        g.bench_function("infer-core-int8", |b| {
            b.iter(|| {
                let img = &images[i * 784..(i + 1) * 784];
                i = (i + 1) % LATENCY_IMAGES;
                black_box(model.run(black_box(img), &mut arena).expect("run"))
            })
        });
        for (name, bytes, float) in [("onnxruntime-f32", m.onnx, true), ("onnxruntime-int8", m.onnx_int8, false)] {
            let mut ort = Ort::new(bytes).expect("ONNX Runtime (ORT_DYLIB_PATH or the venv from .ci/run)");
            let mut i = 0;
            g.bench_function(name, |b| {
                b.iter(|| {
                    let img = &images[i * 784..(i + 1) * 784];
                    i = (i + 1) % LATENCY_IMAGES;
                    if float {
                        black_box(ort.float_logits(&m.float_io, black_box(img), 1).expect("run"))
                    } else {
                        black_box(ort.logits(black_box(img), 1).expect("run"))
                    }
                })
            });
        }
        for (name, bytes, float) in [("tract-f32", m.onnx, true), ("tract-int8", m.onnx_int8, false)] {
            let tract =
                if float { Tract::with_input(bytes, 1, &m.float_io) } else { Tract::new(bytes, 1) }.expect("tract");
            let mut i = 0;
            g.bench_function(name, |b| {
                b.iter(|| {
                    let img = &images[i * 784..(i + 1) * 784];
                    i = (i + 1) % LATENCY_IMAGES;
                    black_box(tract.logits(black_box(img)).expect("run"))
                })
            });
        }
        g.finish();
    }
}

fn throughput(c: &mut Criterion) {
    let images = benches::images(benches::THROUGHPUT_IMAGES).expect("dataset (FASHION_MNIST_DIR)");
    for m in onnx_models::ALL {
        let mut g = c.benchmark_group(format!("throughput/{}", m.name));
        g.sample_size(10);
        let model = Model::parse(m.blob).expect("committed blob");
        let mut arena = vec![0u8; model.arena_len()];
        g.bench_function("infer-core-int8", |b| {
            b.iter(|| {
                for img in images.chunks_exact(784) {
                    black_box(model.run(img, &mut arena).expect("run"));
                }
            })
        });
        let mut ort = Ort::new(m.onnx).expect("ONNX Runtime");
        g.bench_function("onnxruntime-f32 b256", |b| {
            b.iter(|| black_box(ort.float_logits(&m.float_io, &images, 256).expect("run")))
        });
        let mut ort8 = Ort::new(m.onnx_int8).expect("ONNX Runtime");
        g.bench_function("onnxruntime-int8 b256", |b| b.iter(|| black_box(ort8.logits(&images, 256).expect("run"))));
        let tract = Tract::with_input(m.onnx, 256, &m.float_io).expect("tract");
        g.bench_function("tract-f32 b256", |b| b.iter(|| black_box(tract.logits(&images).expect("run"))));
        let tract8 = Tract::new(m.onnx_int8, 256).expect("tract");
        g.bench_function("tract-int8 b256", |b| b.iter(|| black_box(tract8.logits(&images).expect("run"))));
        g.finish();
    }
}

criterion_group!(benches, latency, throughput);

/// criterion's main, then the summary (`benches/RESULTS.md`) in the same run, unless a filter
/// chose some benchmarks only (a partial run does not overwrite the results of a full one).
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().skip(1).any(|a| !a.starts_with('-')) {
        println!("a filtered run: benches/RESULTS.md not written");
        return;
    }
    match benches::summary::write() {
        Ok(s) => println!("{s}\nwritten: benches/RESULTS.md"),
        Err(e) => eprintln!("no summary: {e:#}"),
    }
}
