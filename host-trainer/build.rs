//! Records the source commit the binary is built from (`git describe --always --dirty`), so a
//! study run says which code evaluated it even when the checkout has moved on since.

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
}
