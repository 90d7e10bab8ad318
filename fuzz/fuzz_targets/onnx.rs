//! Any byte string as an ONNX model: the compiler's reader (screening, tract's decoding,
//! typing and decluttering) and its lowering to infer-core's op set return a lowered graph or a
//! `CompileError`. Never a panic out of the compiler, an abort on allocation or a hang
//! (libFuzzer's -rss_limit_mb and -timeout catch the last two).
//!
//! The compiler turns a panic inside tract into `CompileError::Load` (`catch_unwind` in
//! load.rs); libFuzzer's panic hook would abort on it first, so the hook is silenced here. A
//! panic anywhere else still reaches libfuzzer-sys's own `catch_unwind`, which aborts: a crash.
#![no_main]

use int8_compiler::Normalization;
use int8_compiler::load::{LoadOptions, load};
use int8_compiler::lower::lower;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: { std::panic::set_hook(Box::new(|_| {})); }, |data: &[u8]| {
    let Ok(loaded) = load(data, &LoadOptions::default()) else { return };
    let _ = lower(&loaded.model, loaded.image, Normalization::NONE);
});
