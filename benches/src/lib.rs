//! Shared setup of the benchmarks: the images every engine sees, and the summary the latency
//! benchmark writes when it is done ([`summary`]).

pub mod summary;

/// The first `n` test images (raw pixels, 784 bytes each).
pub fn images(n: usize) -> anyhow::Result<Vec<u8>> {
    let test = conformance::test_set()?;
    Ok(test.pixels[..n.min(test.len()) * 784].to_vec())
}
