//! Fast kernels against their scalar references on random shapes, scales, zero points and
//! extremes; random whole models; the arena plan.

use proptest::prelude::*;

use super::*;
use crate::kernels::{self, ConvParams, DenseParams, PoolParams, Sections};
use crate::requant::{M_MIN, N_MAX, N_MIN, Rounding};
use crate::{Kernels, Model, PRODUCT_BOUND};

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

fn le(b: &[i32]) -> alloc::vec::Vec<u8> {
    b.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn le_rq(r: &[Requant]) -> alloc::vec::Vec<u8> {
    r.iter().flat_map(|q| q.m.to_le_bytes().into_iter().chain(q.n.to_le_bytes())).collect()
}

#[derive(Debug, Clone)]
struct ConvCase {
    h: usize,
    w: usize,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: [usize; 4],
    pool: usize,
    in_zp: i8,
    out_zp: i8,
    relu: bool,
    input: alloc::vec::Vec<u8>,
    weights: alloc::vec::Vec<u8>,
    bias: alloc::vec::Vec<i32>,
    requant: alloc::vec::Vec<Requant>,
}

fn conv_case(max_cin: usize) -> impl Strategy<Value = ConvCase> {
    conv_case_in(1..=5, 1..=max_cin, 1..=5)
}

/// Convolutions with kernel side, input and output channels drawn from the given ranges.
fn conv_case_in(
    k: core::ops::RangeInclusive<usize>,
    cin: core::ops::RangeInclusive<usize>,
    cout: core::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = ConvCase> {
    conv_case_pooled(k, cin, cout, 1..=3)
}

/// [`conv_case_in`] with the pool window drawn from `pool`.
fn conv_case_pooled(
    k: core::ops::RangeInclusive<usize>,
    cin: core::ops::RangeInclusive<usize>,
    cout: core::ops::RangeInclusive<usize>,
    pool: core::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = ConvCase> {
    (k, 1usize..=2, cin, cout, pool)
        .prop_flat_map(|(k, stride, cin, cout, pool)| {
            let pads = proptest::array::uniform4(0..k);
            (Just((k, stride, cin, cout, pool)), pads, 1usize..=9, 1usize..=9)
        })
        .prop_filter("output must exist", |((k, s, _, _, pool), pad, h, w)| {
            let oh = (h + pad[0] + pad[2]).checked_sub(*k).map(|d| d / s + 1).unwrap_or(0);
            let ow = (w + pad[1] + pad[3]).checked_sub(*k).map(|d| d / s + 1).unwrap_or(0);
            oh / pool >= 1 && ow / pool >= 1
        })
        .prop_flat_map(|((k, stride, cin, cout, pool), pad, h, w)| {
            let fan_in = k * k * cin;
            (
                Just((k, stride, cin, cout, pool, pad, h, w)),
                any::<i8>(),
                any::<i8>(),
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), h * w * cin),
                proptest::collection::vec(any::<u8>(), cout * fan_in),
                biases(cout, fan_in),
                proptest::collection::vec(requant(), cout),
            )
        })
        .prop_map(|((k, stride, cin, cout, pool, pad, h, w), in_zp, out_zp, relu, input, weights, bias, requant)| {
            ConvCase { h, w, cin, cout, k, stride, pad, pool, in_zp, out_zp, relu, input, weights, bias, requant }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_fast_equals_reference(c in conv_case(4)) {
        check_conv(&c)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// More output channels than the fast kernel keeps pool maxima for at once (64).
    #[test]
    fn wide_conv2d_fast_equals_reference(c in conv_case_in(1..=3, 1..=3, 60..=70)) {
        check_conv(&c)?;
    }

    /// Patches on both sides of PATCH_MAX (5·5·cin around 1024 bytes).
    #[test]
    fn large_patch_conv2d_fast_equals_reference(c in conv_case_in(5..=5, 38..=44, 1..=4)) {
        check_conv(&c)?;
    }
}

fn check_conv(c: &ConvCase) -> Result<(), TestCaseError> {
    check_conv_with(c, kernels::conv2d::fast)
}

/// `fast` against the reference on the layer `c` describes.
fn check_conv_with(c: &ConvCase, fast: impl Fn(&ConvParams, &mut [u8])) -> Result<(), TestCaseError> {
    let oh = ((c.h + c.pad[0] + c.pad[2] - c.k) / c.stride + 1) / c.pool;
    let ow = ((c.w + c.pad[1] + c.pad[3] - c.k) / c.stride + 1) / c.pool;
    let (bias, rq) = (le(&c.bias), le_rq(&c.requant));
    let p = ConvParams {
        input: &c.input,
        in_shape: img(c.h, c.w, c.cin),
        in_zp: c.in_zp,
        sections: Sections { weights: &c.weights, bias: &bias, requant: &rq },
        kernel: c.k,
        stride: c.stride,
        pad: c.pad,
        pool: c.pool,
        out_shape: img(oh, ow, c.cout),
        out_zp: c.out_zp,
        relu: c.relu,
        rounding: Rounding::HalfToEven,
    };
    let n = oh * ow * c.cout;
    let (mut a, mut b) = (alloc::vec![0u8; n], alloc::vec![0u8; n]);
    kernels::conv2d::reference(&p, &mut a);
    fast(&p, &mut b);
    prop_assert_eq!(a, b);
    Ok(())
}

/// Pooled convolutions for the x86 kernels: short patches (channels in lanes, up to 70
/// channels), long ones with and without whole kernel rows of 16 or 32 values, patches of
/// whole 32-byte chunks (VNNI), padding, strides, and unpooled ones (not taken).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
fn pooled_convs() -> impl Strategy<Value = ConvCase> {
    prop_oneof![
        conv_case_pooled(1..=4, 1..=4, 1..=70, 2..=2),
        conv_case_pooled(1..=3, 5..=40, 1..=70, 2..=2),
        conv_case_pooled(1..=3, 32..=32, 1..=20, 2..=2),
        conv_case_pooled(2..=2, 8..=8, 1..=20, 2..=2),
        conv_case_pooled(1..=3, 16..=16, 1..=20, 1..=3),
    ]
}

/// A dense layer: input, weights, biases, requantizations, zero points, ReLU.
#[derive(Debug, Clone)]
struct DenseCase {
    input: alloc::vec::Vec<u8>,
    weights: alloc::vec::Vec<u8>,
    bias: alloc::vec::Vec<i32>,
    requant: alloc::vec::Vec<Requant>,
    in_zp: i8,
    out_zp: i8,
    relu: bool,
}

/// Dense layers with fewer than `max_n` inputs and `max_out` outputs.
fn dense_case(max_n: usize, max_out: usize) -> impl Strategy<Value = DenseCase> {
    (1usize..max_n, 1usize..max_out)
        .prop_flat_map(|(n, out)| {
            (
                proptest::collection::vec(any::<u8>(), n),
                proptest::collection::vec(any::<u8>(), n * out),
                biases(out, n),
                proptest::collection::vec(requant(), out),
                any::<i8>(),
                any::<i8>(),
                any::<bool>(),
            )
        })
        .prop_map(|(input, weights, bias, requant, in_zp, out_zp, relu)| DenseCase {
            input,
            weights,
            bias,
            requant,
            in_zp,
            out_zp,
            relu,
        })
}

/// `fast` against the dense reference on the layer `c` describes.
fn check_dense_with(c: &DenseCase, fast: impl Fn(&DenseParams, &mut [u8])) -> Result<(), TestCaseError> {
    let (b, r) = (le(&c.bias), le_rq(&c.requant));
    let sections = Sections { weights: &c.weights, bias: &b, requant: &r };
    let p = DenseParams {
        input: &c.input,
        in_zp: c.in_zp,
        sections,
        out_zp: c.out_zp,
        relu: c.relu,
        rounding: Rounding::HalfToEven,
    };
    let (mut x, mut y) = (alloc::vec![0u8; c.bias.len()], alloc::vec![0u8; c.bias.len()]);
    kernels::dense::reference(&p, &mut x);
    fast(&p, &mut y);
    prop_assert_eq!(x, y);
    Ok(())
}

/// The x86 kernels `t` allows against the reference (the portable kernel where they decline).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
fn check_x86_conv(c: &ConvCase, t: kernels::Avx2) -> Result<(), TestCaseError> {
    check_conv_with(c, |p, out| {
        if !t.conv(p, out) {
            kernels::conv2d::fast(p, out);
        }
    })
}

/// The AVX2 token; these tests need an AVX2 CPU (CI's has one) and fail loudly without.
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
fn avx2() -> kernels::Avx2 {
    kernels::Avx2::detect().expect("the AVX2 kernel tests need a CPU with AVX2")
}

#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Pooled convolutions on the AVX2 paths: short patches (channels in lanes, up to 70
    /// channels), long ones with and without whole 16-value kernel rows, padding, strides.
    #[test]
    fn avx2_conv_equals_reference(c in pooled_convs()) {
        check_x86_conv(&c, avx2().without_vnni())?;
    }

    /// The same layers with the AVX-512 VNNI kernel taking those whose patches are whole
    /// 32-byte chunks (it needs a CPU with AVX-512 VNNI and VL, as CI's has).
    #[test]
    fn vnni_conv_equals_reference(c in pooled_convs()) {
        let t = avx2();
        assert!(t.vnni(), "the VNNI kernel tests need a CPU with AVX-512 VNNI and VL");
        check_x86_conv(&c, t)?;
    }

    #[test]
    fn avx2_dense_equals_reference(c in dense_case(1200, 80)) {
        let t = avx2();
        check_dense_with(&c, |p, out| {
            assert!(t.dense(p, out), "the AVX2 dense kernel takes every non-empty input");
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn dense_fast_equals_reference(c in dense_case(300, 12)) {
        check_dense_with(&c, kernels::dense::fast)?;
    }

    #[test]
    fn max_pool_fast_equals_reference(
        (h, w, c, k, input) in (1usize..10, 1usize..10, 1usize..6, 2usize..4)
            .prop_filter("window fits", |(h, w, _, k)| h >= k && w >= k)
            .prop_flat_map(|(h, w, c, k)| (Just(h), Just(w), Just(c), Just(k), proptest::collection::vec(any::<u8>(), h * w * c)))
    ) {
        let p = PoolParams { input: &input, in_shape: img(h, w, c), size: k, out_shape: img(h / k, w / k, c) };
        let n = (h / k) * (w / k) * c;
        let (mut a, mut b) = (alloc::vec![0u8; n], alloc::vec![0u8; n]);
        kernels::maxpool::reference(&p, &mut a);
        kernels::maxpool::fast(&p, &mut b);
        prop_assert_eq!(a, b);
    }

    /// Random models (conv, optional pool, dense) run identically on both paths, and the
    /// planned arena never lets an op's output overlap a live tensor.
    #[test]
    fn random_models_agree_and_plan_is_sound(c in conv_case(1), dense_out in 1usize..8, seed in any::<u64>()) {
        let blob = random_model(&c, dense_out, seed);
        let m = Model::parse(&blob).unwrap();
        // Plan: the conv output never overlaps the input.
        let t = m.tensors();
        let (ri, rh) = (t[0].offset..t[0].offset + t[0].shape.numel(), t[1].offset..t[1].offset + t[1].shape.numel());
        prop_assert!(ri.end <= rh.start || rh.end <= ri.start);
        let mut arena = alloc::vec![0u8; m.arena_len()];
        let out_a = m.run_with(Kernels::Reference, &c.input, &mut arena).unwrap();
        let out_b = m.run_with(Kernels::Fast, &c.input, &mut arena).unwrap();
        prop_assert_eq!(out_a, out_b);
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

#[cfg(feature = "x86-dispatch")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The AVX2-compiled path (when this CPU has it) gives the same bytes as the portable one.
    #[test]
    fn dispatched_run_equals_portable_run(c in conv_case(1), dense_out in 1usize..8, seed in any::<u64>()) {
        let blob = random_model(&c, dense_out, seed);
        let m = crate::Model::parse(&blob).unwrap();
        let mut a = alloc::vec![0u8; m.arena_len()];
        let mut b = alloc::vec![0u8; m.arena_len()];
        let x = m.run(&c.input, &mut a).unwrap();
        let y = m.run_dispatched(&c.input, &mut b).unwrap();
        prop_assert_eq!(x.values, y.values);
    }
}
