//! Random whole models on every kernel choice, and the arena plan. (The kernels themselves are
//! checked against their references by the shared contract, `contract.rs`.)

use proptest::prelude::*;

use super::*;
use crate::requant::{M_MIN, N_MAX, N_MIN};
use crate::{Kernels, Model, PRODUCT_BOUND, RunOptions};

fn requant() -> impl Strategy<Value = Requant> {
    prop_oneof![
        (M_MIN..=i32::MAX, N_MIN..=N_MAX).prop_map(|(m, n)| Requant { m, n }),
        // Multipliers near 1 and tiny ones, and the extreme shifts.
        Just(Requant { m: i32::MAX, n: 31 }),
        Just(Requant { m: M_MIN, n: 30 }),
        Just(Requant { m: M_MIN, n: N_MAX }),
        Just(Requant { m: i32::MAX, n: N_MIN }),
        (M_MIN..=i32::MAX, 35u32..=50).prop_map(|(m, n)| Requant { m, n }),
    ]
}

/// Biases as large as the accumulator bound allows for `fan_in`, or small ones.
fn biases(n: usize, fan_in: usize) -> impl Strategy<Value = alloc::vec::Vec<i32>> {
    let max = (i32::MAX as i64 - fan_in as i64 * PRODUCT_BOUND).max(0) as i32;
    proptest::collection::vec(prop_oneof![-1000i32..1000, Just(max), Just(-max), -max..=max], n)
}

#[derive(Debug, Clone)]
struct ConvCase {
    h: usize,
    w: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: [usize; 4],
    pool: usize,
    out_zp: i8,
    relu: bool,
    input: alloc::vec::Vec<u8>,
    weights: alloc::vec::Vec<u8>,
    bias: alloc::vec::Vec<i32>,
    requant: alloc::vec::Vec<Requant>,
}

/// First-layer convolutions (one input channel): kernel 1-5, stride 1-2, any padding below the
/// kernel, 1-5 output channels, pool 1-3, sides 1-9.
fn conv_case() -> impl Strategy<Value = ConvCase> {
    (1usize..=5, 1usize..=2, 1usize..=5, 1usize..=3)
        .prop_flat_map(|(k, stride, cout, pool)| {
            let pads = proptest::array::uniform4(0..k);
            (Just((k, stride, cout, pool)), pads, 1usize..=9, 1usize..=9)
        })
        .prop_filter("output must exist", |((k, s, _, pool), pad, h, w)| {
            let oh = (h + pad[0] + pad[2]).checked_sub(*k).map(|d| d / s + 1).unwrap_or(0);
            let ow = (w + pad[1] + pad[3]).checked_sub(*k).map(|d| d / s + 1).unwrap_or(0);
            oh / pool >= 1 && ow / pool >= 1
        })
        .prop_flat_map(|((k, stride, cout, pool), pad, h, w)| {
            (
                Just((k, stride, cout, pool, pad, h, w)),
                any::<i8>(),
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), h * w),
                proptest::collection::vec(any::<u8>(), cout * k * k),
                biases(cout, k * k),
                proptest::collection::vec(requant(), cout),
            )
        })
        .prop_map(|((k, stride, cout, pool, pad, h, w), out_zp, relu, input, weights, bias, requant)| ConvCase {
            h,
            w,
            cout,
            k,
            stride,
            pad,
            pool,
            out_zp,
            relu,
            input,
            weights,
            bias,
            requant,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random models (conv, optional pool, dense) run identically with every kernel choice,
    /// and the planned arena never lets an op's output overlap a live tensor.
    #[test]
    fn random_models_agree_and_plan_is_sound(c in conv_case(), dense_out in 1usize..8, seed in any::<u64>()) {
        let blob = random_model(&c, dense_out, seed);
        let m = Model::parse(&blob).unwrap();
        // Plan: the conv output never overlaps the input.
        let t = m.tensors();
        let (ri, rh) = (t[0].offset..t[0].offset + t[0].shape.numel(), t[1].offset..t[1].offset + t[1].shape.numel());
        prop_assert!(ri.end <= rh.start || rh.end <= ri.start);
        let mut arena = alloc::vec![0u8; m.arena_len()];
        let reference = m.run_with(RunOptions::new().kernels(Kernels::Reference), &c.input, &mut arena).unwrap();
        let baseline = m.run_with(RunOptions::new().kernels(Kernels::Baseline), &c.input, &mut arena).unwrap();
        let fast = m.run(&c.input, &mut arena).unwrap();
        prop_assert_eq!(&reference, &baseline);
        prop_assert_eq!(&reference, &fast);
    }
}

/// A one-channel-input conv (from `c`) + dense model.
fn random_model(c: &ConvCase, dense_out: usize, seed: u64) -> alloc::vec::Vec<u8> {
    let oh = ((c.h + c.pad[0] + c.pad[2] - c.k) / c.stride + 1) / c.pool;
    let ow = ((c.w + c.pad[1] + c.pad[3] - c.k) / c.stride + 1) / c.pool;
    let mut b = BlobBuilder::new();
    let x = b.tensor(img(c.h, c.w, 1), -128, 1.0 / 255.0);
    let h = b.tensor(img(oh, ow, c.cout), c.out_zp, 0.1);
    let y = b.tensor(flat(dense_out), 3, 0.2);
    let wi: alloc::vec::Vec<i8> = c.weights.iter().map(|&v| v as i8).collect();
    b.conv2d(
        x,
        h,
        c.k as u8,
        c.stride as u8,
        c.pad.map(|p| p as u8),
        if c.pool == 1 { 0 } else { c.pool as u8 },
        c.relu,
        &wi,
        &c.bias,
        &c.requant,
    );
    let n = oh * ow * c.cout;
    let wd: alloc::vec::Vec<i8> = (0..n * dense_out).map(|i| ((i as u64).wrapping_mul(seed | 1) >> 7) as i8).collect();
    b.dense(h, y, false, &wd, &alloc::vec![1; dense_out], &alloc::vec![HALF; dense_out]);
    b.finish(x, y)
}
