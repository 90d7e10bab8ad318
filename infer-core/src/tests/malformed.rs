//! Every validation rule has a blob that breaks it; random mutations never panic.

use proptest::prelude::*;

use super::*;
use crate::Model;
use crate::builder::reseal;
use crate::error::{Error, OpProblem};

fn op_problem(blob: &[u8]) -> OpProblem {
    match Model::parse(blob) {
        Err(Error::BadOp { problem, .. }) => problem,
        other => panic!("expected BadOp, got {other:?}"),
    }
}

/// Offset of op record `i` in [`small_cnn`] (3 tensors).
fn op_at(i: usize) -> usize {
    32 + 3 * 16 + i * 32
}

fn patched(f: impl FnOnce(&mut [u8])) -> alloc::vec::Vec<u8> {
    let mut b = small_cnn();
    f(&mut b);
    reseal(&mut b);
    b
}

#[test]
fn header_errors() {
    let good = small_cnn();
    assert!(Model::parse(&good).is_ok());
    assert_eq!(Model::parse(&good[..10]).unwrap_err(), Error::TooShort { len: 10 });
    assert_eq!(Model::parse(&patched(|b| b[0] = b'X')).unwrap_err(), Error::BadMagic);
    assert_eq!(Model::parse(&patched(|b| b[4] = 2)).unwrap_err(), Error::UnsupportedVersion(2));
    assert_eq!(Model::parse(&patched(|b| b[6] = 31)).unwrap_err(), Error::BadHeader);
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(Model::parse(&long).unwrap_err(), Error::LengthMismatch { .. }));
    let mut flipped = good.clone();
    flipped[100] ^= 1;
    let e = Model::parse(&flipped).unwrap_err();
    assert!(matches!(e, Error::CrcMismatch { .. }));
    assert!(alloc::format!("{e}").starts_with("CRC mismatch"));
    assert_eq!(Model::parse(&patched(|b| b[12] = 0)).unwrap_err(), Error::TensorCount(0));
    assert_eq!(Model::parse(&patched(|b| b[14] = 40)).unwrap_err(), Error::OpCount(40));
    assert_eq!(Model::parse(&patched(|b| b[24] += 4)).unwrap_err(), Error::BadTable);
}

#[test]
fn tensor_input_output_errors() {
    // Zero height.
    let e = Model::parse(&patched(|b| b[32 + 16] = 0)).unwrap_err();
    assert_eq!(e, Error::BadTensor { index: 1 });
    // Negative scale.
    let e = Model::parse(&patched(|b| b[32 + 16 + 11] = 0xBF)).unwrap_err();
    assert_eq!(e, Error::BadTensor { index: 1 });
    // Input zero point not −128.
    assert_eq!(Model::parse(&patched(|b| b[32 + 6] = 0)).unwrap_err(), Error::BadInput);
    // Output id pointing at the (non-flat) hidden tensor.
    assert_eq!(Model::parse(&patched(|b| b[18] = 1)).unwrap_err(), Error::BadOutput);
}

#[test]
fn op_errors() {
    assert_eq!(op_problem(&patched(|b| b[op_at(0)] = 9)), OpProblem::UnknownKind(9));
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 1] = 2)), OpProblem::BadFields);
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 12] = 7)), OpProblem::BadTensorId);
    // Dense reads the model output before it exists.
    assert_eq!(op_problem(&patched(|b| b[op_at(1) + 8] = 2)), OpProblem::InputNotReady);
    // Conv writes the model input.
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 12] = 0)), OpProblem::OutputTwice);
    // Padding as large as the kernel; stride 3; pool 1 (must be 0 or 2..=4).
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 4] = 3)), OpProblem::BadGeometry);
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 3] = 3)), OpProblem::BadGeometry);
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 14] = 1)), OpProblem::BadGeometry);
    // No fused pool: the 3x3 output tensor no longer matches the 6x6 conv output.
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 14] = 0)), OpProblem::ShapeMismatch);
    // Weights offset misaligned, and past the end.
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 16] += 1)), OpProblem::BadSection);
    assert_eq!(op_problem(&patched(|b| b[op_at(0) + 18] = 0x10)), OpProblem::BadSection);
}

#[test]
fn requant_and_accumulator_errors() {
    let mut b = BlobBuilder::new();
    let x = b.tensor(img(1, 4, 1), -128, 1.0);
    let y = b.tensor(flat(1), 0, 1.0);
    b.dense(x, y, false, &[1; 4], &[0], &[Requant { m: 5, n: 31 }]);
    assert_eq!(op_problem(&b.finish(x, y)), OpProblem::BadRequant);
    let mut b = BlobBuilder::new();
    let x = b.tensor(img(1, 4, 1), -128, 1.0);
    let y = b.tensor(flat(1), 0, 1.0);
    b.dense(x, y, false, &[1; 4], &[0], &[Requant { m: 1 << 30, n: 63 }]);
    assert_eq!(op_problem(&b.finish(x, y)), OpProblem::BadRequant);
    // Bias at the limit for fan-in 4 is accepted; one more is rejected.
    let limit = (i32::MAX as i64 - 4 * crate::PRODUCT_BOUND) as i32;
    for (bias, ok) in [(limit, true), (limit + 1, false), (-limit - 1, false)] {
        let mut b = BlobBuilder::new();
        let x = b.tensor(img(1, 4, 1), -128, 1.0);
        let y = b.tensor(flat(1), 0, 1.0);
        b.dense(x, y, false, &[-128; 4], &[bias], &[ONE]);
        let blob = b.finish(x, y);
        match Model::parse(&blob) {
            Ok(m) => {
                assert!(ok);
                // The extreme input cannot overflow: all pixels 255 → x − zp = 255, w = −128.
                let mut arena = alloc::vec![0u8; m.arena_len()];
                let out = m.run(&[255; 4], &mut arena).unwrap();
                let r = m
                    .run_with(crate::RunOptions::new().kernels(crate::Kernels::Reference), &[0; 4], &mut arena)
                    .unwrap();
                assert_eq!(out.values.as_slice(), [127]);
                assert_eq!(r.values.as_slice(), [127]);
            }
            Err(e) => {
                assert!(!ok);
                assert_eq!(e, Error::BadOp { index: 0, problem: OpProblem::AccumulatorOverflow });
            }
        }
    }
}

#[test]
fn run_errors() {
    let blob = small_cnn();
    let m = Model::parse(&blob).unwrap();
    let mut small = alloc::vec![0u8; m.arena_len() - 1];
    assert_eq!(
        m.run(&[0; 36], &mut small).unwrap_err(),
        Error::ArenaTooSmall { needed: m.arena_len(), given: m.arena_len() - 1 }
    );
    let mut arena = alloc::vec![0u8; m.arena_len()];
    assert_eq!(m.run(&[0; 35], &mut arena).unwrap_err(), Error::InputLength { expected: 36, given: 35 });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any mutation of a valid blob parses to an error or to a model that runs; never a panic.
    #[test]
    fn mutated_blobs_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
        seal in any::<bool>(),
    ) {
        let mut b = small_cnn();
        for (at, v) in &edits {
            let i = at.index(b.len());
            b[i] = *v;
        }
        if let Some(t) = truncate {
            let n = t.index(b.len());
            b.truncate(n);
        }
        if seal {
            reseal(&mut b);
        }
        if let Ok(m) = Model::parse(&b) {
            let mut arena = alloc::vec![0u8; m.arena_len()];
            let pixels = alloc::vec![200u8; m.input_len()];
            let a = m.run_with(crate::RunOptions::new().kernels(crate::Kernels::Reference), &pixels, &mut arena).unwrap();
            let f = m.run(&pixels, &mut arena).unwrap();
            prop_assert_eq!(a, f);
        }
    }
}
