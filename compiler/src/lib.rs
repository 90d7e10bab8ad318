//! # int8-compiler
//!
//! Any float ONNX image classifier in — ours (burn-onnx), PyTorch's, tf2onnx's (Keras),
//! scikit-learn's (skl2onnx) — and out: a calibrated int8 [infer-core] blob, the same integer
//! model as QDQ ONNX (so ONNX Runtime and tract can check it), and a per-layer report (scales,
//! zero points, SNR against the float graph, arena bytes).
//!
//! ```text
//! ONNX bytes ─ screen.rs: sizes, element types, wiring and constant folding bounded first
//!            ─ load.rs ─► tract typed model (batch 1, decluttered)
//!            ─ lower/ ──► FloatGraph (graph.rs): Conv / Dense / MaxPool, HWC, with batch norm,
//!                          biases, the input normalization, ReLU / clamps and pools folded in
//!            ─ reference.rs: the graph checked against tract's run of the original model
//!            ─ calibration.rs ─► activation ranges (min-max | percentile | MSE)
//!            ─ int8.rs ─► scales, zero points, int8 weights, int32 biases, requantization
//!                         → blob (infer_core::builder); qdq.rs → QDQ ONNX
//!            ─ compile.rs: every method tried, the best on held-back images kept
//! ```
//!
//! The ONNX reader is tract-onnx (see `load.rs` for why): its typed, decluttered model is one
//! normalized form of what the exporters write. No burn in this crate's tree.
//!
//! What cannot be lowered is one [`CompileError::Unsupported`] listing every node that cannot
//! (name, op, reason); a lowering that would change what the model computes is an error, never
//! a silently different model.
//!
//! [infer-core]: ../infer_core/index.html

#![deny(missing_docs)]

pub mod calibration;
pub mod compile;
pub mod data;
pub mod error;
pub mod graph;
pub mod images;
pub mod int8;
pub mod int8_run;
pub mod load;
pub mod lower;
pub mod qdq;
pub mod reference;
pub mod report;
pub mod screen;

pub use calibration::Method;
pub use compile::{CompileData, CompileOptions, Compiled, compile};
pub use error::{CompileError, UnsupportedNode};
pub use images::Images;
pub use lower::Normalization;
