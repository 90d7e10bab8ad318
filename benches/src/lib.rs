//! Shared setup of the benchmarks: the images every engine sees, and the summary the latency
//! benchmark writes when it is done ([`summary`]).

pub mod summary;

/// Images per iteration of the throughput group: four batches of 256 for the batched engines,
/// few enough that the slowest engine on the largest model (tract int8 on cnn-edge) keeps one
/// criterion run of every published model under a quarter of an hour.
pub const THROUGHPUT_IMAGES: usize = 1024;

/// The first `n` test images (raw pixels, 784 bytes each).
pub fn images(n: usize) -> anyhow::Result<Vec<u8>> {
    let test = conformance::test_set()?;
    Ok(test.pixels[..n.min(test.len()) * 784].to_vec())
}
