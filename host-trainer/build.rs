//! Records the source commit the binary is built from (`git describe --always --dirty`), so a
//! study run says which code evaluated it even when the checkout has moved on since. With the
//! `libtorch` feature, also records where the PyTorch it links lives (an rpath), so the binary
//! starts without LD_LIBRARY_PATH.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        // A new commit, a checkout or a staged change moves these.
        for f in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(d) = git(&["describe", "--always", "--dirty"]) {
        println!("cargo:rustc-env=FMNIST_EDGE_COMMIT={d}");
    }
    if std::env::var_os("CARGO_FEATURE_LIBTORCH").is_some() {
        libtorch_rpath();
    }
}

/// torch-sys links libtorch but leaves finding it at run time to the loader; the library
/// directory of the PyTorch that torch-sys built against (LIBTORCH_USE_PYTORCH=1: the `python`
/// on PATH, as torch-sys runs it) goes into the binary's rpath. LIBTORCH, the other way
/// torch-sys takes, names the directory itself.
fn libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=PATH");
    let lib = if let Some(root) = std::env::var_os("LIBTORCH") {
        Some(std::path::PathBuf::from(root).join("lib"))
    } else {
        let code = "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))";
        ["python", "python3"].iter().find_map(|py| {
            let out = Command::new(py).args(["-c", code]).output().ok()?;
            out.status.success().then(|| std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
    };
    match lib {
        Some(dir) if dir.is_dir() => println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display()),
        _ => println!(
            "cargo:warning=feature libtorch: found no libtorch (set LIBTORCH_USE_PYTORCH=1 with a python that imports torch on PATH, or LIBTORCH); the binary will need LD_LIBRARY_PATH"
        ),
    }
}
