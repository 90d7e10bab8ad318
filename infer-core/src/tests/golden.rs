//! Hand-computed goldens, one per kernel, checked on both the reference and the fast path.

use super::*;
use crate::kernels::{self, ConcatParams, ConvParams, DenseParams, PoolParams, Sections};
use crate::requant::Rounding;
use crate::{Error, Kernels, Model, RunOptions};

fn le_bias(b: &[i32]) -> alloc::vec::Vec<u8> {
    b.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn le_requant(r: &[Requant]) -> alloc::vec::Vec<u8> {
    r.iter().flat_map(|q| q.m.to_le_bytes().into_iter().chain(q.n.to_le_bytes())).collect()
}

fn bytes(v: &[i8]) -> alloc::vec::Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

fn as_i8(v: &[u8]) -> alloc::vec::Vec<i8> {
    v.iter().map(|&x| x as i8).collect()
}

fn both_conv(p: &ConvParams, n: usize) -> alloc::vec::Vec<i8> {
    let mut a = alloc::vec![0u8; n];
    let mut b = alloc::vec![0u8; n];
    kernels::conv2d::reference(p, &mut a);
    kernels::select::conv2d(p, &mut b, &mut alloc::vec![0u8; kernels::select::conv2d_scratch_len(p)]);
    assert_eq!(a, b, "fast differs from reference");
    as_i8(&a)
}

#[test]
fn conv2d_valid_then_fused_pool() {
    // Pixels 0..9 as int8 with zp −128, so x − zp = pixel value.
    let input = bytes(&[0i16, 1, 2, 3, 4, 5, 6, 7, 8].map(|p| (p - 128) as i8));
    let weights = bytes(&[1, 2, 3, 4]); // OHWI, one 2x2 filter
    let (bias, requant) = (le_bias(&[10]), le_requant(&[HALF]));
    let mut p = ConvParams {
        input: &input,
        in_shape: img(3, 3, 1),
        in_zp: -128,
        sections: Sections { weights: &weights, bias: &bias, requant: &requant },
        kernel: 2,
        stride: 1,
        pad: [0; 4],
        pool: 1,
        out_shape: img(2, 2, 1),
        out_zp: 0,
        relu: false,
        rounding: Rounding::HalfToEven,
    };
    // acc: 10+0+2+9+16 = 37, 10+1+4+12+20 = 47, 67, 77; ×0.5 ties to even: 18, 24, 34, 38.
    assert_eq!(both_conv(&p, 4), [18, 24, 34, 38]);
    p.pool = 2;
    p.out_shape = img(1, 1, 1);
    assert_eq!(both_conv(&p, 1), [38]);
}

#[test]
fn conv2d_same_padding_and_relu_clamp() {
    // 2x2 pixels 1..4, 3x3 kernel of ones, pad 1: every output sees all four pixels → 10.
    let input = bytes(&[1i16, 2, 3, 4].map(|p| (p - 128) as i8));
    let weights = bytes(&[1; 9]);
    let neg = bytes(&[-1; 9]);
    let (bias, requant) = (le_bias(&[0]), le_requant(&[ONE]));
    let mut p = ConvParams {
        input: &input,
        in_shape: img(2, 2, 1),
        in_zp: -128,
        sections: Sections { weights: &weights, bias: &bias, requant: &requant },
        kernel: 3,
        stride: 1,
        pad: [1, 1, 1, 1],
        pool: 1,
        out_shape: img(2, 2, 1),
        out_zp: -20,
        relu: true,
        rounding: Rounding::HalfToEven,
    };
    assert_eq!(both_conv(&p, 4), [-10; 4]);
    // Negative weights: −10 + zp = −30, clamped by the fused ReLU at the zero point −20.
    p.sections.weights = &neg;
    assert_eq!(both_conv(&p, 4), [-20; 4]);
    // Stride 2 on the padded 4x4: one output at (0,0).
    p.sections.weights = &weights;
    p.stride = 2;
    p.out_shape = img(1, 1, 1);
    assert_eq!(both_conv(&p, 1), [-10]);
}

#[test]
fn dense_by_hand() {
    // x − zp = [2, −1, 4]; rows [1,2,3] and [−1,0,2]; bias [5, −3]:
    // 5 + 2 − 2 + 12 = 17 → ×0.75 = 12.75 → 13 → +10 = 23
    // −3 − 2 + 0 + 8 = 3 → 2.25 → 2 → 12
    let input = bytes(&[1, -2, 3]);
    let weights = bytes(&[1, 2, 3, -1, 0, 2]);
    let q = Requant { m: 3 << 29, n: 31 };
    let (bias, requant) = (le_bias(&[5, -3]), le_requant(&[q, q]));
    let p = DenseParams {
        input: &input,
        in_zp: -1,
        sections: Sections { weights: &weights, bias: &bias, requant: &requant },
        out_zp: 10,
        relu: false,
        rounding: Rounding::HalfToEven,
    };
    let (mut a, mut b) = ([0u8; 2], [0u8; 2]);
    kernels::dense::reference(&p, &mut a);
    kernels::select::dense(&p, &mut b, &mut alloc::vec![0u8; kernels::select::dense_scratch_len(&p)]);
    assert_eq!(as_i8(&a), [23, 12]);
    assert_eq!(a, b);
}

#[test]
fn max_pool_by_hand() {
    // 4x4x1 holding 0..16 (minus 8): 2x2 windows take 5, 7, 13, 15 (minus 8).
    let input: alloc::vec::Vec<u8> = (0..16).map(|v| (v - 8) as i8 as u8).collect();
    let p = PoolParams { input: &input, in_shape: img(4, 4, 1), size: 2, out_shape: img(2, 2, 1) };
    let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
    kernels::maxpool::reference(&p, &mut a);
    kernels::select::max_pool2d(&p, &mut b);
    assert_eq!(as_i8(&a), [-3, -1, 5, 7]);
    assert_eq!(a, b);
    // Two channels interleaved, 3x3 input: floor mode drops the last row and column.
    let input: alloc::vec::Vec<u8> = (0..18).map(|v| if v % 2 == 0 { v as u8 } else { (-(v as i8)) as u8 }).collect();
    let p = PoolParams { input: &input, in_shape: img(3, 3, 2), size: 2, out_shape: img(1, 1, 2) };
    let (mut a, mut b) = ([0u8; 2], [0u8; 2]);
    kernels::maxpool::reference(&p, &mut a);
    kernels::select::max_pool2d(&p, &mut b);
    // channel 0 at (0,0),(0,1),(1,0),(1,1) holds 0, 2, 6, 8; channel 1 holds −1, −3, −7, −9.
    assert_eq!(as_i8(&a), [8, -1]);
    assert_eq!(a, b);
}

#[test]
fn concat_by_hand() {
    // a = [10, −5] (zp 0) ×0.5 → 5, −2 (−2.5 to even); b = [3] (zp 1) ×1 → 2; out zp 3.
    let (a, b) = (bytes(&[10, -5]), bytes(&[3]));
    let p = ConcatParams {
        a: &a,
        a_zp: 0,
        a_requant: HALF,
        b: &b,
        b_zp: 1,
        b_requant: ONE,
        out_zp: 3,
        rounding: Rounding::HalfToEven,
    };
    let mut out = [0u8; 3];
    kernels::concat::run(&p, &mut out);
    assert_eq!(as_i8(&out), [8, 1, 5]);
}

#[test]
fn whole_model_by_hand() {
    // 2x2 input → dense 2 (relu) → concat with the input → dense 1.
    let mut bld = BlobBuilder::new();
    let x = bld.tensor(img(2, 2, 1), -128, 1.0 / 255.0);
    let h = bld.tensor(flat(2), -128, 1.0);
    let c = bld.tensor(flat(6), 0, 1.0);
    let y = bld.tensor(flat(1), 0, 0.25);
    bld.dense(x, h, true, &[1, 1, 1, 1, -1, -1, -1, -1], &[0, 0], &[ONE, ONE]);
    bld.concat(h, x, c, ONE, HALF);
    bld.dense(c, y, false, &[1, 1, 1, 1, 1, 1], &[0], &[HALF]);
    let blob = bld.finish(x, y);
    let m = Model::parse(&blob).unwrap();
    assert_eq!(m.input_len(), 4);
    let mut arena = alloc::vec![0u8; m.arena_len()];
    // pixels 1,2,3,4 → x − zp = 1..4. h = relu([10, −10]) → q = −128 + [10, 0] = [−118, −128].
    // concat: h − (−128) = [10, 0] ×1 → [10, 0]; x − (−128) = [1,2,3,4] ×0.5 → [0 (0.5→0), 1, 2 (1.5→2), 2].
    // y acc = 10 + 0 + 0 + 1 + 2 + 2 = 15 → ×0.5 = 7.5 → 8.
    for k in [Kernels::Reference, Kernels::Baseline, Kernels::Fast] {
        let out = m.run_with(RunOptions::new().kernels(k), &[1, 2, 3, 4], &mut arena).unwrap();
        assert_eq!(out.values.as_slice(), [8]);
        assert_eq!(out.dequantize(0), 2.0);
        assert_eq!(out.argmax(), 0);
    }
    assert_eq!(m.macs(), 4 * 2 + 6);
}

#[test]
fn small_cnn_runs_and_paths_agree() {
    let blob = small_cnn();
    let m = Model::parse(&blob).unwrap();
    let mut arena = alloc::vec![0u8; m.arena_len()];
    let pixels: alloc::vec::Vec<u8> = (0..36).map(|i| (i * 37 % 256) as u8).collect();
    let a = m.run_with(RunOptions::new().kernels(Kernels::Reference), &pixels, &mut arena).unwrap();
    let b = m.run(&pixels, &mut arena).unwrap();
    assert_eq!(a, b);
    assert_eq!(m.num_outputs(), 3);
    // The arena holds the input (36), the pooled conv output (18) and the convolution's scratch
    // (the nine-byte DSP kernel's widened weights of 2 channels: 40 + 3 bytes) at once; the
    // dense layer's scratch (2 · 18 + 3) and the output fit in what the first op's leave.
    let (s0, s1) = (m.ops()[0].scratch_len as usize, m.ops()[1].scratch_len as usize);
    assert_eq!((s0, s1), (43, 39));
    assert!(m.arena_len() >= 36 + 18 + s0);
    assert!(m.arena_len() <= 36 + 18 + s0 + 4, "{:?}", m.ops());
}

#[test]
fn sized_tables_hold_exactly_the_blobs_counts() {
    let blob = small_cnn();
    let full = Model::parse(&blob).unwrap();
    let (ops, tensors) = (full.ops().len(), full.tensors().len());
    assert_eq!((ops, tensors), (2, 3));
    let sized = Model::<2, 3>::parse_sized(&blob).unwrap();
    assert_eq!((sized.ops(), sized.tensors(), sized.arena_len()), (full.ops(), full.tensors(), full.arena_len()));
    assert!(core::mem::size_of::<Model<2, 3>>() < core::mem::size_of::<Model>() / 8);
    let pixels: alloc::vec::Vec<u8> = (0..36).map(|i| (i * 37 % 256) as u8).collect();
    let mut arena = alloc::vec![0u8; full.arena_len()];
    let a = full.run(&pixels, &mut arena).unwrap();
    assert_eq!(sized.run(&pixels, &mut arena).unwrap(), a);
    // One op or one tensor more than the tables hold: the counts' errors, not a truncated model.
    assert_eq!(Model::<1, 3>::parse_sized(&blob).unwrap_err(), Error::OpCount(2));
    assert_eq!(Model::<2, 2>::parse_sized(&blob).unwrap_err(), Error::TensorCount(3));
}
