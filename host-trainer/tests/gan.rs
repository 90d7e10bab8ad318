//! WGAN-GP end to end on a small real subset: the critic learns, sampling and the quality
//! report work, and the report puts real images far closer to the test set than noise.

use host_trainer::config::TrainConfig;
use host_trainer::data::FashionMnist;
use host_trainer::evaluation::Checkpoint;
use host_trainer::gan::{model::Widths, report, training};
use host_trainer::job;
use host_trainer::model::Preset;
use host_trainer::training::TrainOptions;

#[test]
fn short_real_gan_run_learns_and_is_scored() {
    let data =
        FashionMnist::load(None).expect("tests need the dataset: set FASHION_MNIST_DIR=../shared/data/fashion-mnist");
    let dir = tempfile::tempdir().unwrap();
    let gan_dir = dir.path().join("gan");
    let config = training::GanConfig {
        epochs: 3,
        batch_size: 32,
        n_critic: 5,
        widths: Widths { base: 16 },
        train_limit: Some(960),
        ..training::GanConfig::default()
    };
    let quiet = training::GanOptions { quiet: true, ..Default::default() };
    let state = training::train(&config, &data.train.take(960), &gan_dir, quiet).unwrap();
    let h = &state.history;
    assert_eq!(h.len(), 3);
    assert!(h.iter().all(|e| e.critic_loss.is_finite() && e.generator_loss.is_finite()));
    // The critic learns to tell real from generated: its loss falls and its Wasserstein
    // estimate grows.
    assert!(h[2].critic_loss < h[0].critic_loss - 0.1, "{h:?}");
    assert!(h[2].wasserstein > h[0].wasserstein, "{h:?}");
    assert_eq!(h[0].generator_steps, 960 / 32 / 5);

    let png = dir.path().join("s.png");
    let labels = report::sample(&gan_dir, 16, Some(7), 3, &png).unwrap();
    assert_eq!(labels, vec![7; 16]);
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);

    // A quick classifier to look through.
    let cls_dir = dir.path().join("mlp");
    let cls = TrainConfig {
        epochs: 1,
        train_limit: Some(2000),
        val_size: 1000,
        ..TrainConfig::for_preset(Preset::Mlp128x64)
    };
    let opts = TrainOptions { quiet: true, ..Default::default() };
    job::train_and_report(&data, &cls, &cls_dir, opts, Checkpoint::Last).unwrap();
    let q = report::quality(&data, &gan_dir, &cls_dir, 30, 2).unwrap();
    assert_eq!(q.sets.len(), 3);
    assert_eq!(q.feature_dim, 64);
    let (noise, real) = (&q.sets[0], &q.sets[2]);
    assert!(noise.frechet_distance > 5.0 * real.frechet_distance, "{q:?}");
    assert!(real.class_match.unwrap() > 0.6, "{q:?}");
    assert!(gan_dir.join("quality.md").exists() && gan_dir.join("samples.png").exists());
}
