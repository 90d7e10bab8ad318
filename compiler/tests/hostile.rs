//! Hostile ONNX files: each one ends in one clear error, in bounded time and memory, before
//! tract allocates what the file declares. (CI runs these with the rest of the suite; a model
//! that made tract allocate its declared terabytes would abort the test binary.)

mod common;

use common::*;
use int8_compiler::{CompileData, CompileError, CompileOptions, compile};
use prost::Message;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, OperatorSetIdProto, TensorProto, attribute_proto};

fn input() -> Vec<tract_onnx::pb::ValueInfoProto> {
    vec![value_info("x", FLOAT, &[D::N(1), D::N(64)])]
}

fn output() -> Vec<tract_onnx::pb::ValueInfoProto> {
    vec![value_info("y", FLOAT, &[D::N(1), D::N(3)])]
}

/// x [1,64] → Gemm → y [1,3], with `extra` nodes feeding a second addend `extra_out`, when given.
fn dense_plus(extra: Vec<tract_onnx::pb::NodeProto>, extra_out: Option<&str>, mut inits: Vec<TensorProto>) -> Vec<u8> {
    let mut nodes = extra;
    inits.push(weights("w", &[3, 64], 3, 0.2));
    inits.push(weights("b", &[3], 4, 0.1));
    match extra_out {
        Some(e) => {
            nodes.push(node("Gemm", "fc", &["x", "w", "b"], &["g"], vec![int("transB", 1)]));
            nodes.push(node("Add", "plus", &["g", e], &["y"], vec![]));
        }
        None => nodes.push(node("Gemm", "fc", &["x", "w", "b"], &["y"], vec![int("transB", 1)])),
    }
    model(nodes, inits, input(), output())
}

fn compile_it(onnx: &[u8]) -> CompileError {
    let cal = pixels(16, 64, 5);
    let sel = pixels(8, 64, 6);
    let data = CompileData { calibration: images(&cal, 64), selection: images(&sel, 64), test: None };
    match compile(onnx, &data, &CompileOptions::new("hostile")) {
        Ok(_) => panic!("a hostile model compiled"),
        Err(e) => e,
    }
}

fn assert_says(e: &CompileError, words: &[&str]) {
    let text = e.to_string();
    for w in words {
        assert!(text.contains(w), "`{w}` not in: {text}");
    }
}

fn raw(name: &str, data_type: i32, dims: &[i64], bytes: usize) -> TensorProto {
    TensorProto { name: name.into(), data_type, dims: dims.to_vec(), raw_data: vec![0; bytes], ..Default::default() }
}

#[test]
fn a_declared_tensor_of_terabytes_is_refused() {
    // 2^40 floats declared, 4 bytes given.
    let onnx = dense_plus(vec![], Some("huge"), vec![raw("huge", 1, &[1 << 20, 1 << 20], 4)]);
    assert_says(&compile_it(&onnx), &["huge", "1099511627776 elements"]);
    // The same with no data at all, and with typed (not raw) data of the wrong length.
    let mut none = raw("huge", 1, &[1 << 20, 1 << 20], 0);
    let onnx = dense_plus(vec![], Some("huge"), vec![none.clone()]);
    assert_says(&compile_it(&onnx), &["huge"]);
    none.dims = vec![1, 3];
    none.float_data = vec![1.0, 2.0];
    let onnx = dense_plus(vec![], Some("huge"), vec![none]);
    assert_says(&compile_it(&onnx), &["huge", "3 elements", "holds 2"]);
    // Dimensions whose product overflows, and negative ones.
    let onnx = dense_plus(vec![], Some("huge"), vec![raw("huge", 1, &[i64::MAX, i64::MAX], 4)]);
    assert_says(&compile_it(&onnx), &["huge"]);
    let onnx = dense_plus(vec![], Some("huge"), vec![raw("huge", 1, &[-1, 3], 12)]);
    assert_says(&compile_it(&onnx), &["huge", "negative"]);
}

#[test]
fn element_types_tract_cannot_read_are_refused() {
    // complex64 (14), bfloat16 (16), a string given as raw bytes (8).
    for dt in [14, 16, 8, 999] {
        let onnx = dense_plus(vec![], Some("odd"), vec![raw("odd", dt, &[1, 3], 24)]);
        assert_says(&compile_it(&onnx), &["odd", "element type"]);
    }
}

#[test]
fn constants_that_fold_into_terabytes_are_refused() {
    // [100000,1] + [1,100000]: two 400 kB constants whose sum tract would fold into 40 GB.
    let inits = vec![weights("a", &[100_000, 1], 1, 1.0), weights("c", &[1, 100_000], 2, 1.0)];
    let onnx = dense_plus(vec![node("Add", "bomb", &["a", "c"], &["big"], vec![])], Some("big"), inits);
    assert_says(&compile_it(&onnx), &["bomb", "elements"]);
    // ConstantOfShape of [2^20, 2^20].
    let shape = TensorProto {
        name: "s".into(),
        data_type: 7,
        dims: vec![2],
        int64_data: vec![1 << 20, 1 << 20],
        ..Default::default()
    };
    let onnx = dense_plus(vec![node("ConstantOfShape", "fill", &["s"], &["big"], vec![])], Some("big"), vec![shape]);
    assert_says(&compile_it(&onnx), &["fill", "ConstantOfShape"]);
    // A convolution of constants, padded by a million on each side.
    let inits = vec![weights("k", &[1, 1, 1, 1], 1, 1.0), weights("i", &[1, 1, 1, 1], 2, 1.0)];
    let conv = node("Conv", "padded", &["i", "k"], &["big"], vec![ints("pads", &[1 << 20, 1 << 20, 1 << 20, 1 << 20])]);
    let onnx = dense_plus(vec![conv], Some("big"), inits);
    assert_says(&compile_it(&onnx), &["padded", "Conv"]);
}

#[test]
fn absurd_activation_shapes_are_refused_before_anything_runs() {
    // x [1,1,8,8] padded by 2^20 on each side: a 4 T-element activation.
    let nodes = vec![
        node("Conv", "padded", &["x", "w1"], &["c"], vec![ints("pads", &[1 << 20, 1 << 20, 1 << 20, 1 << 20])]),
        node("Flatten", "flatten", &["c"], &["y"], vec![int("axis", 1)]),
    ];
    let onnx = model(
        nodes,
        vec![weights("w1", &[1, 1, 1, 1], 1, 1.0)],
        vec![value_info("x", FLOAT, &[D::N(1), D::N(1), D::N(8), D::N(8)])],
        vec![value_info("y", FLOAT, &[D::N(1), D::Sym("K")])],
    );
    assert_says(&compile_it(&onnx), &["padded", "elements"]);
}

#[test]
fn cyclic_graphs_and_twice_defined_values_are_refused() {
    let nodes = vec![
        node("Relu", "first", &["x", "b2"], &["a"], vec![]),
        node("Relu", "second", &["a"], &["b2"], vec![]),
        node("Gemm", "fc", &["a", "w", "b"], &["y"], vec![int("transB", 1)]),
    ];
    let onnx = model(nodes, vec![weights("w", &[3, 64], 3, 0.2), weights("b", &[3], 4, 0.1)], input(), output());
    assert_says(&compile_it(&onnx), &["cycle", "first", "second"]);
    let nodes = vec![
        node("Relu", "one", &["x"], &["a"], vec![]),
        node("Relu", "two", &["x"], &["a"], vec![]),
        node("Gemm", "fc", &["a", "w", "b"], &["y"], vec![int("transB", 1)]),
    ];
    let onnx = model(nodes, vec![weights("w", &[3, 64], 3, 0.2), weights("b", &[3], 4, 0.1)], input(), output());
    assert_says(&compile_it(&onnx), &["`a`", "two"]);
}

#[test]
fn deeply_nested_graphs_are_refused() {
    // An If whose branch holds an If whose branch ... 500 deep.
    let mut inner = GraphProto { name: "leaf".into(), ..Default::default() };
    for depth in 0..500 {
        let branch = AttributeProto {
            name: "then_branch".into(),
            r#type: attribute_proto::AttributeType::Graph.into(),
            g: Some(inner),
            ..Default::default()
        };
        let n = node("If", &format!("if{depth}"), &["cond"], &["out"], vec![branch]);
        inner = GraphProto { name: format!("g{depth}"), node: vec![n], ..Default::default() };
    }
    let mut g = inner;
    g.input = input();
    g.output = output();
    let onnx = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(g),
        ..Default::default()
    }
    .encode_to_vec();
    let e = compile_it(&onnx);
    assert!(matches!(e, CompileError::NotOnnx(_) | CompileError::Refused(_)), "{e}");
    // One level of control flow is refused by name.
    let branch = AttributeProto {
        name: "then_branch".into(),
        r#type: attribute_proto::AttributeType::Graph.into(),
        g: Some(GraphProto::default()),
        ..Default::default()
    };
    let onnx = dense_plus(vec![node("If", "branch", &["x"], &["z"], vec![branch])], Some("z"), vec![]);
    assert_says(&compile_it(&onnx), &["branch", "If"]);
}

#[test]
fn external_data_is_refused() {
    let mut t = raw("w_ext", 1, &[3], 0);
    t.data_location = Some(1);
    let onnx = dense_plus(vec![], Some("w_ext"), vec![t]);
    assert_says(&compile_it(&onnx), &["w_ext", "external"]);
}

/// Found by the onnx fuzz target: a Flatten axis past the input's rank made tract-hir index out
/// of bounds (a panic); it is now a load error.
#[test]
fn a_flatten_axis_past_the_rank_is_an_error_not_a_panic() {
    let nodes = vec![
        node("Flatten", "flatten", &["x"], &["f"], vec![int("axis", 54)]),
        node("Gemm", "fc", &["f", "w", "b"], &["y"], vec![int("transB", 1)]),
    ];
    let onnx = model(nodes, vec![weights("w", &[3, 64], 3, 0.2), weights("b", &[3], 4, 0.1)], input(), output());
    let e = compile_it(&onnx);
    assert!(matches!(e, CompileError::Load(_)), "{e}");
}

/// Found by the onnx fuzz target (4 M executions in): a Transpose `perm` with a repeated axis
/// made tract-core's cycle decomposition loop, allocating until the process ran out of memory
/// (2.6 GB in a second, 8 GB in 23 s). Refused before tract sees it.
#[test]
fn a_transpose_perm_that_is_not_a_permutation_is_refused() {
    let img = vec![value_info("x", FLOAT, &[D::N(1), D::N(8), D::N(8)])];
    let nodes = vec![
        node("Transpose", "to_chw", &["x"], &["t"], vec![ints("perm", &[2, 2, 1])]),
        node("Flatten", "flatten", &["t"], &["f"], vec![int("axis", 1)]),
        node("Gemm", "fc", &["f", "w", "b"], &["y"], vec![int("transB", 1)]),
    ];
    let onnx = model(nodes, vec![weights("w", &[3, 64], 3, 0.2), weights("b", &[3], 4, 0.1)], img, output());
    let e = compile_it(&onnx);
    assert!(matches!(e, CompileError::Refused(_)), "{e}");
    assert_says(&e, &["to_chw", "Transpose", "[2, 2, 1]", "not a permutation"]);
}
