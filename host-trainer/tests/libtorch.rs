//! Training on PyTorch's CPU kernels through burn-tch (feature `libtorch`; not in CI, which does
//! not install PyTorch): the same check as `wgpu.rs`. Needs the PyTorch that burn-tch 0.22 was
//! written for (torch 2.9.0; see docs/TRAINING.md):
//!
//! `LIBTORCH_USE_PYTORCH=1 PATH=<venv with torch==2.9.0>/bin:$PATH cargo test --release -p host-trainer --features libtorch --test libtorch`

mod backend_check;

use host_trainer::backend::Backend;

#[test]
fn libtorch_trains_like_flex_and_its_run_exports() {
    backend_check::trains_like_flex_and_exports(
        Backend::LibTorch,
        "PyTorch 2.9's libtorch, found through the binary's rpath",
    );
}
