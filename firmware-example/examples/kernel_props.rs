//! On-target kernel contract (QEMU): infer-core's shared case families (`infer_core::contract`:
//! random layers — shapes, strides, paddings, pools, zero points, requantization constants and
//! biases at their extremes, and small values where an accumulator off by one shows) run
//! through each fast kernel as compiled for the Cortex-M4 (the `cortex-m-dsp` paths that
//! `kernels::select` picks) and through its plain scalar reference; every output byte must
//! agree. The host runs the same families against its own kernel sets. Deterministic.
//!
//! `cargo run --release --example kernel_props`; exit code 0 when every case agrees, 1 on the
//! first disagreement (printed), 2 on a panic, 3 on a HardFault.

#![no_std]
#![no_main]

#[path = "../src/exit.rs"]
mod exit;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use infer_core::contract::{self, Buffers, KernelSet, Rng};
use infer_core::kernels::{ConvParams, DenseParams, PoolParams, select};

use exit::exit;

/// The kernels `kernels::select` picks on this build (the Cortex-M DSP paths).
struct OnTarget;

impl KernelSet for OnTarget {
    fn conv2d(&self, p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
        select::conv2d(p, out, scratch);
    }
    fn dense(&self, p: &DenseParams, out: &mut [u8], scratch: &mut [u8]) {
        select::dense(p, out, scratch);
    }
    fn max_pool2d(&self, p: &PoolParams, out: &mut [u8]) {
        select::max_pool2d(p, out);
    }
}

#[entry]
fn main() -> ! {
    let b = cortex_m::singleton!(: Buffers = Buffers::new()).unwrap_or_else(|| exit(2));
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let result = contract::check_all(&OnTarget, 1, &mut rng, b, |name, cases| {
        hprintln!("{}: {} cases, fast == reference", name, cases);
    });
    match result {
        Ok(()) => {
            hprintln!("all kernels agree with their references");
            exit(0)
        }
        Err(m) => {
            hprintln!("MISMATCH {}", m);
            exit(1)
        }
    }
}
