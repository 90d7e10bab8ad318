//! The published models: their bytes and their manifest, nothing else.
//!
//! `artifacts/manifest.json` is the one list of published models ([`manifest::Manifest`]);
//! the build script generates a [`ModelArtifacts`] constant per entry and [`ALL`], so the
//! conformance suite, the benchmarks and the firmware iterate over what is published.
//! `host-trainer publish` writes the artifacts and the manifest.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

pub mod manifest;

/// How a float model is fed (see [`manifest::FloatIo`]).
#[derive(Debug, Clone, Copy)]
pub struct FloatInput {
    /// Input name.
    pub name: &'static str,
    /// Input shape without the batch axis.
    pub shape: &'static [usize],
    /// Subtracted from `pixel / 255`.
    pub mean: f32,
    /// Then divided by.
    pub std: f32,
    /// Output name.
    pub output: &'static str,
}

/// The files of one published model.
#[derive(Debug, Clone, Copy)]
pub struct ModelArtifacts {
    /// Its name, e.g. `cnn-baseline`.
    pub name: &'static str,
    /// The preset it was trained from (`None`: made elsewhere).
    pub preset: Option<&'static str>,
    /// Float ONNX.
    pub onnx: &'static [u8],
    /// int8 QDQ ONNX (input `image` `[N,1,28,28]` f32 in [0,1], output `logits` `[N,10]`).
    pub onnx_int8: &'static [u8],
    /// infer-core blob.
    pub blob: &'static [u8],
    /// Arena bytes infer-core needs for the blob.
    pub arena_len: usize,
    /// Multiply-accumulates per inference.
    pub macs: usize,
    /// How the float ONNX is fed.
    pub float_io: FloatInput,
}

/// Which file of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<name>.onnx`.
    Onnx,
    /// `<name>.int8.onnx`.
    OnnxInt8,
    /// `<name>.ic8`.
    Blob,
}

impl ModelArtifacts {
    /// Path of one of its files.
    pub fn path(&self, kind: Kind) -> PathBuf {
        let file = match kind {
            Kind::Onnx => format!("{}.onnx", self.name),
            Kind::OnnxInt8 => format!("{}.int8.onnx", self.name),
            Kind::Blob => format!("{}.ic8", self.name),
        };
        artifacts_dir().join(file)
    }
}

/// The published model called `name`.
pub fn by_name(name: &str) -> Option<&'static ModelArtifacts> {
    ALL.iter().find(|m| m.name == name)
}

/// The folder holding the artifacts and `manifest.json`.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts")
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));
