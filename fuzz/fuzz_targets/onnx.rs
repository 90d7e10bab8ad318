//! Any byte string as an ONNX model: the compiler's reader (screening, tract's decoding,
//! typing and decluttering) and its lowering to infer-core's op set return a lowered graph or a
//! `CompileError`. Never a panic, an abort on allocation or a hang (libFuzzer's -rss_limit_mb
//! and -timeout catch the last two).
#![no_main]

use int8_compiler::Normalization;
use int8_compiler::load::{LoadOptions, load};
use int8_compiler::lower::lower;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(loaded) = load(data, &LoadOptions::default()) else { return };
    let _ = lower(&loaded.model, loaded.image, Normalization::NONE);
});
