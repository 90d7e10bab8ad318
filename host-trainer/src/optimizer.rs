//! Optimizer choice (burn-optim's, and our [`Nadam`](crate::nadam::Nadam)) and the
//! learning-rate schedules.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};
use serde::{Deserialize, Serialize};

/// Which optimizer trains the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999).
    #[default]
    Adam,
    /// AdamW (decoupled weight decay; `--weight-decay`, default 1e-4 when 0 is given).
    #[value(name = "adamw")]
    #[serde(rename = "adamw")]
    AdamW,
    /// SGD with momentum 0.9 (no dampening).
    Sgd,
    /// RMSprop (α = 0.99, momentum 0.9).
    #[value(name = "rmsprop")]
    #[serde(rename = "rmsprop")]
    RmsProp,
    /// Nadam (Adam with Nesterov momentum; ours, burn has none).
    Nadam,
}

/// The RMSprop settings used (α = 0.99, momentum 0.9, ε = 1e-5, not centered).
pub fn rmsprop(weight_decay: f64) -> RmsPropConfig {
    let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
    RmsPropConfig::new().with_weight_decay(l2)
}

/// Builds the optimizer; `weight_decay` is an L2 penalty (decoupled for AdamW).
pub fn build(kind: OptimizerKind, weight_decay: f64) -> ModuleOptimizer {
    let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
    match kind {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(l2).init(),
        OptimizerKind::AdamW => {
            let wd = if weight_decay > 0.0 { weight_decay as f32 } else { 1e-4 };
            AdamWConfig::new().with_weight_decay(wd).init()
        }
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
            .with_weight_decay(l2)
            .init(),
        OptimizerKind::RmsProp => rmsprop(weight_decay).init(),
        OptimizerKind::Nadam => {
            crate::nadam::Nadam { weight_decay: weight_decay.max(0.0), ..Default::default() }.init()
        }
    }
}

/// How the learning rate changes over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Schedule {
    /// The same learning rate every epoch.
    #[default]
    Constant,
    /// Cosine decay from the base rate to `min_lr` over the run's epochs.
    Cosine {
        /// Final learning rate.
        min_lr: f64,
    },
    /// Multiply by `factor` when the validation loss has not improved for `patience` epochs,
    /// never below `min_lr` (Keras' ReduceLROnPlateau).
    Plateau {
        /// Multiplier (< 1).
        factor: f64,
        /// Epochs without improvement before reducing.
        patience: usize,
        /// Floor.
        min_lr: f64,
    },
}

impl Schedule {
    /// The learning rate of epoch `epoch` (0-based) of `epochs`, given the base rate and, for
    /// the plateau rule, the rate in force and the number of epochs since the best validation
    /// loss.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize, current: f64, since_best: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine { min_lr } => {
                let t = epoch as f64 / epochs.max(1) as f64;
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Plateau { factor, patience, min_lr } => {
                if since_best > 0 && since_best.is_multiple_of(patience.max(1)) {
                    (current * factor).max(min_lr)
                } else {
                    current
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_plateau_by_hand() {
        let c = Schedule::Cosine { min_lr: 0.0 };
        assert_eq!(c.lr(1.0, 0, 10, 1.0, 0), 1.0);
        assert!((c.lr(1.0, 5, 10, 1.0, 0) - 0.5).abs() < 1e-12);
        assert!(c.lr(1.0, 9, 10, 1.0, 0) < 0.03);
        let p = Schedule::Plateau { factor: 0.5, patience: 2, min_lr: 0.1 };
        // Improving (since_best = 0) or within patience: unchanged.
        assert_eq!(p.lr(1.0, 3, 10, 0.8, 0), 0.8);
        assert_eq!(p.lr(1.0, 3, 10, 0.8, 1), 0.8);
        // Two epochs without improvement (patience 2): halve; again after two more; floor 0.1.
        assert_eq!(p.lr(1.0, 3, 10, 0.8, 2), 0.4);
        assert_eq!(p.lr(1.0, 3, 10, 0.4, 3), 0.4);
        assert_eq!(p.lr(1.0, 3, 10, 0.4, 4), 0.2);
        assert_eq!(p.lr(1.0, 3, 10, 0.15, 2), 0.1);
        assert_eq!(Schedule::Constant.lr(0.3, 7, 10, 0.1, 5), 0.3);
    }

    #[test]
    fn every_optimizer_builds_and_steps() {
        let _rng = crate::rng::rng_guard();
        use burn::optim::GradientsParams;
        use burn::prelude::*;
        let device = Device::flex().autodiff();
        for kind in [
            OptimizerKind::Adam,
            OptimizerKind::AdamW,
            OptimizerKind::Sgd,
            OptimizerKind::RmsProp,
            OptimizerKind::Nadam,
        ] {
            let mut net = crate::model::Net::new(&crate::model::Preset::Mlp128.layers(), &device).unwrap();
            let mut opt = build(kind, 1e-4);
            let x = Tensor::<4>::ones([2, 1, 28, 28], &device);
            let before: Vec<f32> = net.forward(x.clone()).into_data().try_into_vec_as().unwrap();
            let loss = net.forward(x.clone()).powf_scalar(2.0).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(1e-2, net, grads);
            let after: Vec<f32> = net.forward(x).into_data().try_into_vec_as().unwrap();
            assert_ne!(before, after, "{kind:?} did not move the weights");
        }
    }

    /// burn's RMSprop with our settings, two steps on θ = 1 (gradients 0.5, then −0.2, lr 0.01),
    /// by hand: s₁ = 0.01·0.25 = 0.0025, b₁ = 0.5/(√s₁ + 1e-5) = 0.5/0.05001 = 9.998000,
    /// θ₁ = 1 − 0.01·9.998000 = 0.9000200; s₂ = 0.99·0.0025 + 0.01·0.04 = 0.002875,
    /// b₂ = 0.9·9.998000 + (−0.2)/(√s₂ + 1e-5) = 8.998200 − 3.729324 = 5.268877,
    /// θ₂ = 0.9000200 − 0.01·5.268877 = 0.8473312.
    #[test]
    fn rmsprop_two_steps_by_hand() {
        use burn::optim::Optimizer;
        use burn::prelude::*;
        let device = Device::flex();
        let opt = rmsprop(0.0).build();
        let value = |t: &Tensor<1>| f64::from(t.clone().into_scalar::<f32>());
        let theta = Tensor::<1>::from_floats([1.0], &device);
        let (theta, state) = opt.step(0.01, theta, Tensor::from_floats([0.5], &device), None);
        assert!((value(&theta) - 0.900_020_0).abs() < 1e-6, "{}", value(&theta));
        let (theta, _) = opt.step(0.01, theta, Tensor::from_floats([-0.2], &device), state);
        assert!((value(&theta) - 0.847_331_2).abs() < 1e-6, "{}", value(&theta));
    }
}
