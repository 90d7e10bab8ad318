//! Export of trained runs: the float ONNX model (burn-onnx), which the int8 compiler takes.

pub mod float_onnx;
