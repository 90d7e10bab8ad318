//! Tests: hand-computed goldens per kernel, the kernel contract per kernel set, random
//! models, blob validation, and the source layout (imports, `unsafe`).

mod contract;
mod golden;
mod layout;
mod malformed;
mod props;

use crate::builder::BlobBuilder;
use crate::graph::Shape;
use crate::requant::Requant;

/// ×0.5.
pub const HALF: Requant = Requant { m: 1 << 30, n: 31 };
/// ×1.
pub const ONE: Requant = Requant { m: 1 << 30, n: 30 };

pub fn flat(n: usize) -> Shape {
    Shape { h: 1, w: 1, c: n }
}

pub fn img(h: usize, w: usize, c: usize) -> Shape {
    Shape { h, w, c }
}

/// A small valid CNN: 6x6 input, conv 3x3 same (2 ch, relu, pool 2), dense 3.
pub fn small_cnn() -> alloc::vec::Vec<u8> {
    let mut b = BlobBuilder::new();
    let x = b.tensor(img(6, 6, 1), -128, 1.0 / 255.0);
    let h = b.tensor(img(3, 3, 2), -128, 0.05);
    let y = b.tensor(flat(3), 5, 0.1);
    let w1: alloc::vec::Vec<i8> = (0..18).map(|i| (i * 7 % 23) as i8 - 11).collect();
    b.conv2d(x, h, 3, 1, [1, 1, 1, 1], 2, true, &w1, &[100, -50], &[HALF, Requant { m: 3 << 29, n: 33 }]);
    let w2: alloc::vec::Vec<i8> = (0..54).map(|i| (i * 5 % 19) as i8 - 9).collect();
    b.dense(h, y, false, &w2, &[7, -7, 0], &[HALF, ONE, HALF]);
    b.finish(x, y)
}
