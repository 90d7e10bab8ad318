//! Any byte string as an infer-core blob: `Model::parse` returns an error or a model that runs
//! on any input, with identical results from every kernel set this CPU has (the scalar
//! references, the compile target's fast kernels, and the run-time dispatched AVX2 / AVX-512
//! VNNI ones). Never a panic.
//!
//! The input is used twice: raw (exercising the header and CRC checks), and re-sealed with a
//! correct CRC (exercising every check behind it).
#![no_main]

use infer_core::{Kernels, Model, RunOptions};
use libfuzzer_sys::fuzz_target;

fn exercise(blob: &[u8]) {
    if let Ok(m) = Model::parse(blob) {
        // Keep allocations bounded: the format caps tensors at 2^20 elements each.
        if m.arena_len() > 64 << 20 {
            return;
        }
        let mut arena = vec![0u8; m.arena_len()];
        let pixels: Vec<u8> = (0..m.input_len()).map(|i| (i * 31) as u8).collect();
        let reference =
            m.run_with(RunOptions::new().kernels(Kernels::Reference), &pixels, &mut arena).expect("valid model runs");
        let baseline =
            m.run_with(RunOptions::new().kernels(Kernels::Baseline), &pixels, &mut arena).expect("valid model runs");
        let fast = m.run(&pixels, &mut arena).expect("valid model runs");
        assert_eq!(reference, baseline);
        assert_eq!(reference, fast);
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    let mut sealed = data.to_vec();
    infer_core::builder::reseal(&mut sealed);
    exercise(&sealed);
});
