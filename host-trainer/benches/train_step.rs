//! One training step per preset on burn's flex CPU backend: forward, loss, backward and the
//! optimizer's update (`training::step`, what the training loop runs), batch 128, Adam at 1e-3,
//! seeded random pixels (a step's cost does not depend on the pixel values, so no dataset is
//! needed). A regression in our model code, the step, or an upgrade of burn shows here; the
//! seconds per epoch of the real recipes, next to PyTorch's, are in docs/TRAINING.md.
//!
//! `cargo bench -p host-trainer --bench train_step` (about a minute and a half).

use std::hint::black_box;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use host_trainer::data::batcher::images_batch;
use host_trainer::model::{Net, Preset};
use host_trainer::optimizer::{OptimizerKind, build};
use host_trainer::training::step;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 128;

fn train_step(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let pixels: Vec<u8> = (0..BATCH * 784).map(|_| rng.random()).collect();
    let labels: Vec<i64> = (0..BATCH).map(|i| (i % 10) as i64).collect();
    let mut g = c.benchmark_group("train-step");
    g.sample_size(10);
    for preset in [Preset::Mlp128x64, Preset::CnnBaseline, Preset::CnnImproved, Preset::CnnEdge] {
        device.seed(42);
        let mut model = Some(Net::new(&preset.layers(), &device).expect("a preset's layers fit 28x28"));
        let mut optim = build(OptimizerKind::Adam, 0.0);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        g.bench_function(preset.name(), |b| {
            b.iter(|| {
                let batch = images_batch(&pixels, labels.clone(), &device);
                let (next, loss, hits) =
                    step(model.take().expect("the model is put back"), &mut optim, &loss_fn, batch, 1e-3);
                model = Some(next);
                black_box((loss, hits))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
