//! Any byte string as a Fashion-MNIST file, raw or gzip-compressed: the IDX reader returns the
//! images or labels the header announces, or a named problem. Never a panic, and never more
//! memory than the input's inflated size (itself capped at 64 MiB).
#![no_main]

use fashion_mnist::idx::{PIXELS, inflate_maybe_gzip, parse_images, parse_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = inflate_maybe_gzip(data.to_vec()) else { return };
    if let Ok((n, pixels)) = parse_images(&bytes) {
        assert_eq!(pixels.len(), n * PIXELS);
        assert_eq!(bytes.len(), 16 + n * PIXELS);
    }
    if let Ok(labels) = parse_labels(&bytes) {
        assert_eq!(labels.len() + 8, bytes.len());
        assert!(labels.iter().all(|&l| l < 10));
    }
});
