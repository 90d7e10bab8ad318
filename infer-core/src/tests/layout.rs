//! The source layout's rules, checked on the files themselves: no import cycle between
//! infer-core's modules (tools/layout-check), and `unsafe` only in the audited ISA folders.

use std::path::Path;
use std::vec::Vec;

use layout_check::{code, rust_files};

#[test]
fn no_import_cycle_between_modules() {
    let graph = layout_check::assert_no_cycle(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The checker sees real edges (so that a pass means something).
    assert!(graph["kernels::conv2d"].contains("kernels::window"), "{graph:#?}");
    assert!(graph["kernels::x86::vnni"].contains("kernels::x86::support"), "{graph:#?}");
    assert!(graph["interpreter"].contains("kernels::select"), "{graph:#?}");
}

#[test]
fn unsafe_only_in_the_audited_isa_folders() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut with_unsafe = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let body = code(&text);
        let uses = body.contains("unsafe {") || body.contains("unsafe fn") || body.contains("allow(unsafe_code)");
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if uses {
            assert!(
                rel.starts_with("kernels/arm/") || rel.starts_with("kernels/x86/"),
                "{rel} uses unsafe outside kernels/arm and kernels/x86"
            );
            assert!(text.contains("# Audit of the `unsafe` in this file"), "{rel} has no audit section");
            assert!(body.contains("#![allow(unsafe_code)]"), "{rel} must opt in with #![allow(unsafe_code)]");
            with_unsafe.push(rel);
        }
    }
    assert_eq!(
        with_unsafe,
        [
            "kernels/arm/dsp.rs",
            "kernels/x86/avx2.rs",
            "kernels/x86/mod.rs",
            "kernels/x86/support.rs",
            "kernels/x86/vnni.rs"
        ]
    );
}

/// The tables' sizes the documentation states (lib.rs, graph.rs): a field added to `Op` or
/// `TensorInfo` shows here first. The Cortex-M4 figure (1,948 bytes) is what the firmware
/// prints as `model tables`.
#[test]
fn model_tables_are_the_documented_size() {
    use crate::graph::{Model, Op, TensorInfo};
    assert_eq!(core::mem::size_of::<Op>(), 36);
    if cfg!(target_pointer_width = "64") {
        assert_eq!(core::mem::size_of::<TensorInfo>(), 40);
        assert_eq!(core::mem::size_of::<Model>(), 2_488);
    }
}
