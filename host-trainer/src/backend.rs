//! Run-time choice of the burn backend. The flex CPU backend is always built; the others are
//! cargo features (`wgpu`, `cuda`, and `libtorch` for PyTorch's CPU kernels).

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
    /// PyTorch's libtorch on the CPU (burn-tch); needs `--features libtorch`.
    #[value(name = "libtorch")]
    LibTorch,
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
            Self::LibTorch => "libtorch",
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
            #[cfg(feature = "libtorch")]
            // burn 0.22 marks burn-tch deprecated; it is the opt-in path to PyTorch's CPU kernels.
            #[allow(deprecated)]
            Self::LibTorch => Ok(Device::libtorch()),
            #[cfg(not(feature = "libtorch"))]
            Self::LibTorch => Err(NotCompiled("libtorch")),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_there_and_a_missing_backend_names_its_feature() {
        assert!(Backend::Flex.device().is_ok());
        for (b, built) in [
            (Backend::Wgpu, cfg!(feature = "wgpu")),
            (Backend::Cuda, cfg!(feature = "cuda")),
            (Backend::LibTorch, cfg!(feature = "libtorch")),
        ] {
            if built {
                continue;
            }
            let e = b.device().expect_err("not compiled in").to_string();
            assert!(e.contains(&format!("--features {}", b.name())), "{e}");
            assert!(e.contains(&format!("`{}`", b.name())), "{e}");
        }
    }
}
