/// FNV-1a (32-bit) over bytes: the fingerprint of all int8 logits that the firmware and the
/// host compare. Shared by `build.rs` (host) and the firmware (device).
pub const FNV_OFFSET: u32 = 0x811c_9dc5;

/// Folds `bytes` into `h`.
pub fn fnv1a(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
