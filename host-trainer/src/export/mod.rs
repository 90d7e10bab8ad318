//! Export of trained runs: float ONNX (burn-onnx), int8 QDQ ONNX and the infer-core blob, and
//! the `onnx-models` manifest that records how each artifact was made and what it scores.

pub mod float_onnx;
pub mod manifest;
