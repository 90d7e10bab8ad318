//! Run-time choice of the burn backend. The flex CPU backend is always built; GPU backends are
//! cargo features (`wgpu`, `cuda`).

use burn::prelude::*;

/// A backend the user can pick with `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (SIMD + rayon).
    #[default]
    Flex,
    /// wgpu (Vulkan/Metal/DX12); needs `--features wgpu`.
    Wgpu,
    /// CUDA; needs `--features cuda`.
    Cuda,
}

/// A backend that this binary was not built with.
#[derive(Debug, thiserror::Error)]
#[error("backend `{0}` is not compiled in: rebuild with `cargo run -p host-trainer --release --features {0}`")]
pub struct NotCompiled(pub &'static str);

impl Backend {
    /// The backend's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        }
    }

    /// The inference device (no autodiff) for this backend.
    pub fn device(self) -> Result<Device, NotCompiled> {
        match self {
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(Default::default())),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu => Err(NotCompiled("wgpu")),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda => Err(NotCompiled("cuda")),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
