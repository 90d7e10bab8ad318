//! host-trainer's modules import in one direction: no cycle (read from the sources).

use std::path::Path;

#[test]
fn no_import_cycle_between_modules() {
    let graph = layout_check::assert_no_cycle(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The checker sees real edges (so that a pass means something).
    assert!(graph["training"].contains("run_dir"), "{graph:#?}");
    assert!(graph["quantize"].contains("export::float_onnx"), "{graph:#?}");
}
