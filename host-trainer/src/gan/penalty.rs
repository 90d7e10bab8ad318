//! The WGAN-GP critic objective: `D(fake) − D(real) + λ·mean((‖∇ₓD(x̂)‖₂ − 1)²)` on random
//! interpolates `x̂ = ε·real + (1 − ε)·fake`, ε ~ U(0, 1) per sample (Gulrajani et al., 2017).

use burn::prelude::*;

use super::model::Critic;

/// The penalty weight λ.
pub const LAMBDA: f64 = 10.0;

/// `λ · mean_i (‖g_i‖₂ − 1)²` over the samples of `grad` `[N, 1, 28, 28]`; returns `[1]`.
pub fn gradient_penalty(grad: Tensor<4>, lambda: f64) -> Tensor<1> {
    let [n, c, h, w] = grad.dims();
    // A tiny epsilon keeps the square root differentiable at a zero gradient.
    let norm = grad.reshape([n, c * h * w]).powf_scalar(2.0).sum_dim(1).add_scalar(1e-12).sqrt();
    norm.sub_scalar(1.0).powf_scalar(2.0).mean().mul_scalar(lambda)
}

/// `ε·real + (1 − ε)·fake` with one ε per sample (`eps` `[N]`).
pub fn interpolate(real: Tensor<4>, fake: Tensor<4>, eps: Tensor<1>) -> Tensor<4> {
    let n = eps.dims()[0];
    let e = eps.reshape([n, 1, 1, 1]);
    real * e.clone() + fake * e.neg().add_scalar(1.0)
}

/// The critic loss and its parts (each `[1]`): Wasserstein estimate `D(real) − D(fake)` and
/// the penalty. The loss is `−wasserstein + penalty`.
pub struct CriticLoss {
    /// What the critic minimizes.
    pub loss: Tensor<1>,
    /// `mean D(real) − mean D(fake)`.
    pub wasserstein: Tensor<1>,
    /// `λ·mean((‖∇D(x̂)‖ − 1)²)`.
    pub penalty: Tensor<1>,
}

/// The critic's WGAN-GP loss on a batch (fake images must already be detached from the
/// generator).
pub fn critic_loss(
    critic: &Critic,
    real: Tensor<4>,
    fake: Tensor<4>,
    labels: Tensor<1, Int>,
    eps: Tensor<1>,
) -> CriticLoss {
    let x_hat = interpolate(real.clone(), fake.clone(), eps);
    let d_real = critic.forward(real, labels.clone()).mean();
    let d_fake = critic.forward(fake, labels.clone()).mean();
    let penalty = gradient_penalty(critic.input_grad(x_hat, labels), LAMBDA);
    let wasserstein = d_real - d_fake;
    CriticLoss { loss: penalty.clone() - wasserstein.clone(), wasserstein, penalty }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gan::model::{Widths, label_tensor};
    use burn::module::Param;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar()
    }

    #[test]
    fn penalty_by_hand() {
        let device = Device::flex();
        // Sample 1: gradient (3, 4, 0, ...) has norm 5 → (5 − 1)² = 16. Sample 2: zero → 1.
        // Sample 3: unit norm → 0. Mean 17/3, times λ = 10.
        let mut g = vec![0f32; 3 * 784];
        g[0] = 3.0;
        g[500] = 4.0;
        g[2 * 784 + 17] = -1.0;
        let t = Tensor::<4>::from_data(TensorData::new(g, [3, 1, 28, 28]), &device);
        let p = scalar(gradient_penalty(t, 10.0));
        assert!((p - 170.0 / 3.0).abs() < 1e-3, "{p}");
    }

    #[test]
    fn interpolates_per_sample() {
        let device = Device::flex();
        let real = Tensor::<4>::ones([2, 1, 28, 28], &device);
        let fake = Tensor::<4>::zeros([2, 1, 28, 28], &device);
        let eps = Tensor::<1>::from_floats([0.25, 1.0], &device);
        let v: Vec<f32> = interpolate(real, fake, eps).into_data().try_into_vec_as().unwrap();
        assert!(v[..784].iter().all(|&x| (x - 0.25).abs() < 1e-7));
        assert!(v[784..].iter().all(|&x| x == 1.0));
    }

    /// The critic with `delta` added to element `i` of its first convolution's weight or of
    /// its head's weight.
    fn nudged(c: &Critic, head: bool, i: usize, delta: f32) -> Critic {
        let mut c = c.clone();
        let bump = |w: Tensor<4>| {
            let dims = w.dims();
            let mut v: Vec<f32> = w.to_data().try_into_vec_as().unwrap();
            v[i] += delta;
            Tensor::from_data(TensorData::new(v, dims), &w.device())
        };
        if head {
            let w = c.head.weight.val();
            let [a, b] = w.dims();
            c.head.weight = Param::from_tensor(bump(w.reshape([a, b, 1, 1])).reshape([a, b]));
        } else {
            c.conv1.weight = Param::from_tensor(bump(c.conv1.weight.val()));
        }
        c
    }

    /// The penalty's gradient with respect to weights (which needs the second derivative of
    /// the critic) agrees with central finite differences. The slope masks are taken from the
    /// unperturbed critic: the penalty jumps where a LeakyReLU changes side, and between jumps
    /// (which is what a gradient describes) the masks are constant.
    #[test]
    fn penalty_weight_gradient_matches_finite_difference() {
        let _rng = crate::rng::rng_guard();
        let device = Device::flex().autodiff();
        device.seed(11);
        let critic = Critic::new(Widths { base: 16 }, &device);
        let labels = [1u8, 5, 8];
        let x = Tensor::<4>::random([3, 1, 28, 28], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
        let masks = critic.slope_masks(x.clone());
        let gp =
            |c: &Critic| gradient_penalty(c.input_grad_masked(masks.clone(), label_tensor(&labels, &device)), LAMBDA);
        // The masked form is the penalty itself at the unperturbed weights.
        let direct = scalar(gradient_penalty(critic.input_grad(x.clone(), label_tensor(&labels, &device)), LAMBDA));
        assert!((scalar(gp(&critic)) - direct).abs() <= 1e-5 * direct.abs());
        let grads = gp(&critic).backward();
        let conv: Vec<f32> = critic.conv1.weight.val().grad(&grads).unwrap().into_data().try_into_vec_as().unwrap();
        let head: Vec<f32> = critic.head.weight.val().grad(&grads).unwrap().into_data().try_into_vec_as().unwrap();
        let h = 1e-2;
        for (is_head, analytic) in [(false, &conv), (true, &head)] {
            // The element with the largest gradient, so rounding is small beside it.
            let i = (0..analytic.len()).max_by(|&a, &b| analytic[a].abs().total_cmp(&analytic[b].abs())).unwrap();
            let numeric = (scalar(gp(&nudged(&critic, is_head, i, h))) - scalar(gp(&nudged(&critic, is_head, i, -h))))
                / (2.0 * h);
            assert!(analytic[i].abs() > 1e-3, "gradient too small to test: {}", analytic[i]);
            assert!(
                (analytic[i] - numeric).abs() <= 0.02 * analytic[i].abs(),
                "head {is_head}: analytic {} vs numeric {numeric}",
                analytic[i]
            );
        }
    }
}
