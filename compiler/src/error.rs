//! Every way a model, its calibration data or the options can be refused, each with what was
//! found and, where it is known, what would be accepted.

use std::fmt;

/// A node the compiler cannot lower, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedNode {
    /// The node's name in the model.
    pub name: String,
    /// Its operation (ONNX op type, or tract's name for it after typing).
    pub op: String,
    /// Why it cannot be lowered.
    pub reason: String,
}

impl fmt::Display for UnsupportedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.op, self.reason)
    }
}

/// Why compiling failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The model file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (protobuf decoding failed: not ONNX, or truncated).
    #[error("not an ONNX model: {0}")]
    NotOnnx(String),
    /// The file asks for more than the compiler takes from an untrusted model (a tensor or a
    /// folded constant too large, an unreadable element type, external data, a cycle, a value
    /// defined twice; see `screen.rs`), checked before tract allocates or evaluates anything.
    #[error("model refused: {0}")]
    Refused(String),
    /// tract could not load, type or simplify the model.
    #[error("cannot load the model with tract-onnx: {0}")]
    Load(String),
    /// The model's input is not an image the device can give it.
    #[error("unsupported model input: {0}")]
    Input(String),
    /// The model's output cannot be chosen or is not class scores.
    #[error("unsupported model output: {0}")]
    Output(String),
    /// Nodes infer-core's op set cannot express (all of them, in model order).
    #[error("{} node(s) cannot be lowered to infer-core's op set:\n{}", nodes.len(), list(nodes))]
    Unsupported {
        /// Every node that cannot be lowered.
        nodes: Vec<UnsupportedNode>,
    },
    /// The lowered float graph does not compute what the model computes (a compiler bug).
    #[error("the lowered graph differs from the model on image {image}: logit {index} is {ours}, tract says {theirs}")]
    Mismatch {
        /// Image index in the calibration set.
        image: usize,
        /// Which logit.
        index: usize,
        /// The lowered graph's value.
        ours: f32,
        /// tract's value on the original model.
        theirs: f32,
    },
    /// The calibration or evaluation images are unusable.
    #[error("bad images: {0}")]
    BadImages(String),
    /// A value of the options is out of range.
    #[error("bad option: {0}")]
    Option(String),
    /// The model cannot be quantized (e.g. a requantization factor out of range).
    #[error("cannot quantize: {0}")]
    Quantize(String),
    /// An invariant the compiler relies on did not hold (a compiler bug).
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(nodes: &[UnsupportedNode]) -> String {
    nodes.iter().map(|n| format!("  - {n}")).collect::<Vec<_>>().join("\n")
}
