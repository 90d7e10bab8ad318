//! Nadam (Dozat, 2016: Adam with Nesterov momentum), which burn-optim lacks, written as a
//! burn [`Optimizer`] so it trains, saves and resumes like the others. The update follows
//! PyTorch's `NAdam` (momentum decay ψ = 0.004) and Keras' `Nadam`:
//!
//! ```text
//! g ← g + λ·θ                                  (L2 weight decay, if any)
//! μ_t = β₁·(1 − ½·0.96^(t·ψ)),  μ_{t+1} likewise,  Π_t = Π_{t−1}·μ_t
//! m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
//! d = √(v / (1 − β₂^t)) + ε
//! θ ← θ − lr·(1 − μ_t)/(1 − Π_t)·g/d − lr·μ_{t+1}/(1 − Π_t·μ_{t+1})·m/d
//! ```

use burn::optim::{ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::prelude::*;

/// Nadam's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nadam {
    /// First-moment decay β₁.
    pub beta_1: f64,
    /// Second-moment decay β₂.
    pub beta_2: f64,
    /// Added to the denominator.
    pub epsilon: f64,
    /// Momentum-schedule decay ψ.
    pub momentum_decay: f64,
    /// L2 penalty added to the gradient (0: none).
    pub weight_decay: f64,
}

impl Default for Nadam {
    fn default() -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, momentum_decay: 4e-3, weight_decay: 0.0 }
    }
}

impl Nadam {
    /// The optimizer for whole modules.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }

    /// μ_t.
    fn mu(&self, t: u64) -> f64 {
        self.beta_1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * self.momentum_decay))
    }
}

/// Per-parameter state: the moments, the step count and the running product of μ.
#[derive(Clone)]
pub struct NadamState<const D: usize> {
    /// First moment.
    pub m: Tensor<D>,
    /// Second moment.
    pub v: Tensor<D>,
    /// Steps taken.
    pub step: u64,
    /// Π μ over the steps taken.
    pub mu_product: f64,
}

impl<const D: usize> RecordState for NadamState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "m", self.m.clone().into_data());
        out.push_tensor(prefix, "v", self.v.clone().into_data());
        // Scalars travel as one-element tensors, in their own types, so resuming is exact.
        out.push_tensor(prefix, "step", TensorData::new(vec![self.step as i64], [1]));
        out.push_tensor(prefix, "mu_product", TensorData::new(vec![self.mu_product], [1]));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let m = Tensor::from_data(src.take_tensor(prefix, "m")?, device);
        let v = Tensor::from_data(src.take_tensor(prefix, "v")?, device);
        let step = *src.take_tensor(prefix, "step")?.try_to_vec::<i64>().ok()?.first()?;
        let mu_product = *src.take_tensor(prefix, "mu_product")?.try_to_vec::<f64>().ok()?.first()?;
        Some(Self { m, v, step: u64::try_from(step).ok()?, mu_product })
    }
}

impl Optimizer for Nadam {
    type State<const D: usize> = NadamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let grad = if self.weight_decay > 0.0 { grad + tensor.clone().mul_scalar(self.weight_decay) } else { grad };
        let (m, v, step, mu_product) = match state {
            Some(s) => (s.m, s.v, s.step, s.mu_product),
            None => (grad.zeros_like(), grad.zeros_like(), 0, 1.0),
        };
        let t = step + 1;
        let (mu, mu_next) = (self.mu(t), self.mu(t + 1));
        let mu_product = mu_product * mu;
        let m = m.mul_scalar(self.beta_1) + grad.clone().mul_scalar(1.0 - self.beta_1);
        let v = v.mul_scalar(self.beta_2) + grad.clone().square().mul_scalar(1.0 - self.beta_2);
        let bias2 = 1.0 - self.beta_2.powf(t as f64);
        let denom = v.clone().div_scalar(bias2).sqrt().add_scalar(self.epsilon);
        let update = grad.mul_scalar(lr * (1.0 - mu) / (1.0 - mu_product))
            + m.clone().mul_scalar(lr * mu_next / (1.0 - mu_product * mu_next));
        (tensor - update / denom, Some(NadamState { m, v, step: t, mu_product }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        NadamState { m: state.m.to_device(device), v: state.v.to_device(device), ..state }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(t: &Tensor<1>) -> f64 {
        f64::from(t.clone().into_scalar::<f32>())
    }

    /// Two steps on θ = 1 with gradients 0.5 then −0.2, lr 0.1, worked by hand:
    /// μ₁ = 0.9·(1 − ½·0.96^0.004) = 0.450073, μ₂ = 0.450147, μ₃ = 0.450220.
    /// Step 1: m = 0.05, v = 0.00025, d = √(0.00025/0.001) = 0.5;
    ///   θ = 1 − 0.1·1·0.5/0.5 − 0.1·(μ₂/(1 − μ₁μ₂))·0.05/0.5 = 1 − 0.1 − 0.0056452 = 0.8943548.
    /// Step 2: m = 0.045 − 0.02 = 0.025, v = 0.00024975 + 0.00004 = 0.00028975,
    ///   d = √(0.00028975/0.001999) = 0.380720;
    ///   Π₂ = μ₁μ₂ = 0.2025992; (1 − μ₂)/(1 − Π₂) = 0.689557; μ₃/(1 − Π₂μ₃) = 0.495409;
    ///   θ = 0.8943548 − 0.1·0.689557·(−0.2)/0.380720 − 0.1·0.495409·0.025/0.380720
    ///     = 0.8943548 + 0.0362236 − 0.0032531 = 0.9273253.
    #[test]
    fn two_steps_by_hand() {
        let device = Device::flex();
        let opt = Nadam::default();
        let theta = Tensor::<1>::from_floats([1.0], &device);
        let (theta, state) = opt.step(0.1, theta, Tensor::from_floats([0.5], &device), None);
        assert!((value(&theta) - 0.894_354_8).abs() < 2e-6, "{}", value(&theta));
        let s = state.clone().unwrap();
        assert_eq!(s.step, 1);
        assert!((s.mu_product - 0.450_073).abs() < 1e-6);
        let (theta, state) = opt.step(0.1, theta, Tensor::from_floats([-0.2], &device), state);
        assert!((value(&theta) - 0.927_325_3).abs() < 2e-6, "{}", value(&theta));
        assert_eq!(state.unwrap().step, 2);
    }

    #[test]
    fn state_round_trips_exactly() {
        let device = Device::flex();
        let s = NadamState::<1> {
            m: Tensor::from_floats([0.25, -1.0], &device),
            v: Tensor::from_floats([0.5, 2.0], &device),
            step: 12_345,
            mu_product: 0.123_456_789_012_345_6,
        };
        let mut sink = StateSink::default();
        s.state_flatten("p", &mut sink);
        let mut src = StateSource::default();
        for (k, d) in sink.tensors {
            src.insert_tensor(k, d);
        }
        let back = NadamState::<1>::state_unflatten("p", &mut src, &device).unwrap();
        assert_eq!(back.step, s.step);
        assert_eq!(back.mu_product, s.mu_product);
        let v: Vec<f32> = back.v.into_data().try_into_vec_as().unwrap();
        assert_eq!(v, vec![0.5, 2.0]);
    }
}
