//! The kernel contract ([`crate::contract`]) instantiated for every kernel set this host runs:
//! the portable fast kernels, and with `x86-dispatch` the AVX2 kernels and the AVX-512 VNNI
//! kernel. The Cortex-M4 instance is `firmware-example/examples/kernel_props.rs` (QEMU).

use crate::contract::{self, Buffers, CONV_FAMILIES, DENSE_FAMILIES, KernelSet, POOL_CASES, Rng};
use crate::kernels::params::{ConvParams, DenseParams, PoolParams};
use crate::kernels::select::{self, Choice, Cpu};

/// Host cases per family: this multiple of the Cortex-M4 count.
const SCALE: usize = 4;

/// The fast kernels [`select`] picks for a CPU.
pub(crate) struct Fast(pub Cpu);

impl KernelSet for Fast {
    fn conv2d(&self, p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
        select::conv2d_with(p, out, scratch, Choice::Fast(self.0));
    }
    fn dense(&self, p: &DenseParams, out: &mut [u8], scratch: &mut [u8]) {
        select::dense_with(p, out, scratch, Choice::Fast(self.0));
    }
    fn max_pool2d(&self, p: &PoolParams, out: &mut [u8]) {
        select::max_pool2d_with(p, out, Choice::Fast(self.0));
    }
}

/// Every family of `op` on `set`, one seed per family; panics with the first mismatch.
pub(crate) fn check(set: &impl KernelSet, op: &str) {
    let mut b = alloc::boxed::Box::new(Buffers::new());
    let result = match op {
        "conv" => CONV_FAMILIES.iter().enumerate().try_for_each(|(i, f)| {
            contract::check_conv(set, f, f.cases * SCALE, &mut Rng::new(0xC0 + i as u64), &mut b)
        }),
        "dense" => DENSE_FAMILIES.iter().enumerate().try_for_each(|(i, f)| {
            contract::check_dense(set, f, f.cases * SCALE, &mut Rng::new(0xDE + i as u64), &mut b)
        }),
        _ => contract::check_max_pool(set, POOL_CASES * SCALE, &mut Rng::new(0x9001), &mut b),
    };
    if let Err(m) = result {
        panic!("{m}");
    }
}

/// The contract's tests for one kernel set (as tract instantiates its `frame` tests per ISA).
macro_rules! kernel_contract {
    ($name:ident, $set:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn convolutions_equal_the_reference() {
                check(&$set, "conv");
            }

            #[test]
            fn dense_layers_equal_the_reference() {
                check(&$set, "dense");
            }

            #[test]
            fn max_pools_equal_the_reference() {
                check(&$set, "pool");
            }
        }
    };
}

kernel_contract!(portable, Fast(Cpu::BASELINE));

/// The fast kernels given less scratch than they ask for (none, or one byte short): they must
/// fall back to kernels that need less, with the same bytes.
pub(crate) struct Starved(pub Cpu);

impl KernelSet for Starved {
    fn conv2d(&self, p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
        let short = if p.out_shape.c % 2 == 0 { 0 } else { scratch.len().saturating_sub(1) };
        select::conv2d_with(p, out, &mut scratch[..short], Choice::Fast(self.0));
    }
    fn dense(&self, p: &DenseParams, out: &mut [u8], scratch: &mut [u8]) {
        let short = if p.input.len() % 2 == 0 { 0 } else { scratch.len().saturating_sub(1) };
        select::dense_with(p, out, &mut scratch[..short], Choice::Fast(self.0));
    }
    fn max_pool2d(&self, p: &PoolParams, out: &mut [u8]) {
        select::max_pool2d_with(p, out, Choice::Fast(self.0));
    }
}

kernel_contract!(starved, Starved(Cpu::BASELINE));

/// The x86-64-v3 token; these tests need such a CPU (CI's has one) and fail loudly without.
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
fn x86() -> crate::kernels::x86::X86 {
    crate::kernels::x86::X86::detect().expect("the x86 kernel tests need a CPU with x86-64-v3 (AVX2)")
}

/// The token with VNNI; these tests need AVX-512 VNNI and VL (CI's CPU has them).
#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
fn x86_vnni() -> crate::kernels::x86::X86 {
    let t = x86();
    assert!(t.vnni(), "the VNNI kernel tests need a CPU with AVX-512 VNNI and VL");
    t
}

#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
kernel_contract!(avx2, Fast(Cpu { x86: Some(x86().without_vnni()) }));

#[cfg(all(feature = "x86-dispatch", target_arch = "x86_64"))]
kernel_contract!(avx512_vnni, Fast(Cpu { x86: Some(x86_vnni()) }));

/// A kernel set with one wrong output byte on layers with more than one output channel.
struct Broken;

impl KernelSet for Broken {
    fn conv2d(&self, p: &ConvParams, out: &mut [u8], scratch: &mut [u8]) {
        select::conv2d(p, out, scratch);
        if p.out_shape.c > 1 {
            out[1] ^= 1;
        }
    }
    fn dense(&self, p: &DenseParams, out: &mut [u8], scratch: &mut [u8]) {
        select::dense(p, out, scratch);
        if let Some(b) = out.get_mut(1) {
            *b ^= 1;
        }
    }
    fn max_pool2d(&self, p: &PoolParams, out: &mut [u8]) {
        select::max_pool2d(p, out);
        if p.in_shape.c > 1 {
            out[1] ^= 1;
        }
    }
}

#[test]
fn the_contract_catches_a_wrong_kernel() {
    let mut b = alloc::boxed::Box::new(Buffers::new());
    let mut rng = Rng::new(7);
    let m = contract::check_all(&Broken, 1, &mut rng, &mut b, |_, _| {}).unwrap_err();
    assert_eq!(m.family, "conv small");
    assert!(m.outputs > 1, "{m}");
    assert!(contract::check_dense(&Broken, &DENSE_FAMILIES[0], 50, &mut rng, &mut b).is_err());
    assert!(contract::check_max_pool(&Broken, 50, &mut rng, &mut b).is_err());
}
