//! Training on burn's wgpu backend for real (feature `wgpu`; `.ci/run` runs this test on Mesa's
//! lavapipe, which runs Vulkan on the CPU, so it needs no GPU): `cnn-baseline` on 2,000 images
//! for two epochs on wgpu and on flex with the same seed. The loss falls on wgpu, its accuracy
//! is within a few points of flex's, and evaluation and the int8 export work from the
//! wgpu-trained run.
//!
//! `cargo test --release --locked -p host-trainer --features wgpu --test wgpu`

mod backend_check;

use host_trainer::backend::Backend;

#[test]
fn wgpu_trains_like_flex_and_its_run_exports() {
    backend_check::trains_like_flex_and_exports(Backend::Wgpu, "Mesa's lavapipe: Debian's mesa-vulkan-drivers");
}
