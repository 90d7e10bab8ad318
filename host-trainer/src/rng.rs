//! burn's device RNG is process-global: the lock that keeps seeded work reproducible while
//! other threads build models.

/// burn's device seed is process-global (the flex backend keeps one RNG), and parameters are
/// initialised lazily on first use. Two trainings in one process would interleave their draws,
/// so each training holds this lock from seeding to its last step.
pub static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds [`RNG_LOCK`]: for code (and tests) that seed or draw from burn's device RNG outside
/// a training.
pub fn rng_guard() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
