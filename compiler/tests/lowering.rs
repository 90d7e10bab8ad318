//! What the lowering accepts, what it folds, and the one error that lists every node it cannot
//! lower.

mod common;

use common::*;
use int8_compiler::graph::FloatOp;
use int8_compiler::{CompileData, CompileError, CompileOptions, Normalization, compile};

fn input_8x8() -> Vec<tract_onnx::pb::ValueInfoProto> {
    vec![value_info("x", FLOAT, &[D::Sym("N"), D::N(1), D::N(8), D::N(8)])]
}

fn output(name: &str, n: i64) -> Vec<tract_onnx::pb::ValueInfoProto> {
    vec![value_info(name, FLOAT, &[D::Sym("N"), D::N(n)])]
}

fn compile_8x8(onnx: &[u8], opts: &CompileOptions) -> Result<int8_compiler::Compiled, CompileError> {
    let cal = pixels(64, 64, 5);
    let sel = pixels(32, 64, 6);
    let data = CompileData { calibration: images(&cal, 64), selection: images(&sel, 64), test: None };
    compile(onnx, &data, opts)
}

#[test]
fn a_small_cnn_compiles_with_its_pool_and_relu_fused() {
    let (nodes, inits) = small_cnn();
    let onnx = model(nodes, inits, input_8x8(), output("y", 3));
    let c = compile_8x8(&onnx, &CompileOptions::new("small")).unwrap();
    let ops: Vec<&FloatOp> = c.quant.graph.nodes.iter().map(|n| &n.op).collect();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(matches!(ops[0], FloatOp::Conv { k: 3, pad: [1, 1, 1, 1], relu: true, pool: 2, .. }), "{ops:?}");
    assert!(matches!(ops[1], FloatOp::Dense { relu: false, .. }));
    assert_eq!(c.report.criterion, "agreement", "unlabelled held-back images are scored by agreement");
    assert!(infer_core::Model::parse(&c.blob).is_ok());
}

/// A normalization before a padded convolution cannot fold into its weights (padding is 0
/// after the normalization): the compiler normalizes in a 1x1 layer of its own, exactly.
/// Before a Dense layer it folds.
#[test]
fn input_normalization_folds_or_gets_its_own_layer() {
    let (mut nodes, mut inits) = small_cnn();
    nodes.insert(0, node("Sub", "center", &["x", "mean"], &["xc"], vec![]));
    nodes.insert(1, node("Div", "scale", &["xc", "std"], &["xn"], vec![]));
    nodes[2].input[0] = "xn".into();
    inits.push(values("mean", &[1], &[0.3]));
    inits.push(values("std", &[1], &[0.4]));
    let onnx = model(nodes, inits, input_8x8(), output("y", 3));
    let c = compile_8x8(&onnx, &CompileOptions::new("norm")).unwrap();
    let ops: Vec<&FloatOp> = c.quant.graph.nodes.iter().map(|n| &n.op).collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    match ops[0] {
        FloatOp::Conv { k: 1, w, b, .. } => {
            assert!((w[0] - 2.5).abs() < 1e-6 && (b[0] + 0.75).abs() < 1e-6, "{w:?} {b:?}");
        }
        other => panic!("expected the normalization layer, got {other:?}"),
    }
    // The same normalization given as options (a model trained on normalized pixels) and a
    // Dense first layer: folded, no extra layer.
    let nodes = vec![
        node("Flatten", "flatten", &["x"], &["f"], vec![int("axis", 1)]),
        node("Gemm", "fc", &["f", "w", "b"], &["y"], vec![int("transB", 1)]),
    ];
    let onnx =
        model(nodes, vec![weights("w", &[3, 64], 7, 0.2), weights("b", &[3], 8, 0.1)], input_8x8(), output("y", 3));
    let mut opts = CompileOptions::new("mlp");
    opts.normalization = Normalization { mean: 0.3, std: 0.4 };
    let c = compile_8x8(&onnx, &opts).unwrap();
    assert_eq!(c.quant.graph.nodes.len(), 1);
}

/// Clip(0, 6) after a convolution is ReLU6: a ReLU and an upper clamp, and the output range
/// ends at 6 when the calibration reaches it (int8 saturation is then the clamp).
#[test]
fn clip_is_a_relu_and_an_upper_clamp() {
    let (mut nodes, mut inits) = small_cnn();
    nodes[1] = node("Clip", "relu6", &["c", "lo", "hi"], &["r"], vec![]);
    inits.push(values("lo", &[], &[0.0]));
    inits.push(values("hi", &[], &[0.05]));
    let onnx = model(nodes, inits, input_8x8(), output("y", 3));
    let c = compile_8x8(&onnx, &CompileOptions::new("relu6")).unwrap();
    let FloatOp::Conv { relu: true, max: Some(m), .. } = &c.quant.graph.nodes[0].op else {
        panic!("{:?}", c.quant.graph.nodes[0].op)
    };
    assert!((m - 0.05).abs() < 1e-7);
    let q = c.quant.act[0];
    assert_eq!(q.zero_point, -128);
    assert!((q.dequantize(127) - 0.05).abs() < 1e-6, "the top of the range is the clamp: {q:?}");
}

/// Every node the lowering cannot take is reported at once, by name and op.
#[test]
fn unsupported_nodes_are_listed_together() {
    let nodes = vec![
        node(
            "Conv",
            "conv",
            &["x", "w1", "b1"],
            &["c"],
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
        ),
        node("LeakyRelu", "leaky", &["c"], &["l"], vec![float("alpha", 0.1)]),
        node("AveragePool", "avg", &["l"], &["p"], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]),
        node("Conv", "grouped", &["p", "wg"], &["g"], vec![ints("kernel_shape", &[1, 1]), int("group", 2)]),
        node("Flatten", "flatten", &["g"], &["f"], vec![int("axis", 1)]),
        node("Gemm", "fc", &["f", "w2", "b2"], &["y"], vec![int("transB", 1)]),
    ];
    let inits = vec![
        weights("w1", &[4, 1, 3, 3], 1, 0.5),
        weights("b1", &[4], 2, 0.1),
        weights("wg", &[4, 2, 1, 1], 9, 0.5),
        weights("w2", &[3, 64], 3, 0.2),
        weights("b2", &[3], 4, 0.1),
    ];
    let onnx = model(nodes, inits, input_8x8(), output("y", 3));
    let e = compile_8x8(&onnx, &CompileOptions::new("bad")).unwrap_err();
    let CompileError::Unsupported { nodes } = &e else { panic!("{e}") };
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("leaky")), "{e}");
    assert!(names.iter().any(|n| n.starts_with("avg")), "{e}");
    assert!(names.iter().any(|n| n.starts_with("grouped")), "{e}");
    let text = e.to_string();
    assert!(text.contains("grouped convolution"), "{text}");
    println!("{text}");
}

/// A residual connection (one tensor feeding two nodes, and the Add of two activations).
#[test]
fn a_residual_connection_is_a_clear_error() {
    let nodes = vec![
        node(
            "Conv",
            "conv1",
            &["x", "w1", "b1"],
            &["c1"],
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
        ),
        node("Relu", "relu1", &["c1"], &["r1"], vec![]),
        node(
            "Conv",
            "conv2",
            &["r1", "w2", "b2"],
            &["c2"],
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
        ),
        node("Add", "skip", &["c2", "r1"], &["s"], vec![]),
        node("Flatten", "flatten", &["s"], &["f"], vec![int("axis", 1)]),
        node("Gemm", "fc", &["f", "w3", "b3"], &["y"], vec![int("transB", 1)]),
    ];
    let inits = vec![
        weights("w1", &[4, 1, 3, 3], 1, 0.5),
        weights("b1", &[4], 2, 0.1),
        weights("w2", &[4, 4, 3, 3], 5, 0.3),
        weights("b2", &[4], 6, 0.1),
        weights("w3", &[3, 256], 3, 0.2),
        weights("b3", &[3], 4, 0.1),
    ];
    let onnx = model(nodes, inits, input_8x8(), output("y", 3));
    let e = compile_8x8(&onnx, &CompileOptions::new("res")).unwrap_err().to_string();
    assert!(e.contains("relu1") && e.contains("feeds 2 nodes"), "{e}");
    assert!(e.contains("skip") && e.contains("residual"), "{e}");
}

#[test]
fn bad_files_and_inputs_are_named_errors() {
    let opts = CompileOptions::new("x");
    // Not ONNX at all, and a truncated model.
    let e = compile_8x8(b"definitely not a protobuf", &opts).unwrap_err();
    assert!(matches!(e, CompileError::NotOnnx(_)), "{e}");
    let (nodes, inits) = small_cnn();
    let good = model(nodes.clone(), inits.clone(), input_8x8(), output("y", 3));
    let e = compile_8x8(&good[..good.len() / 2], &opts).unwrap_err();
    assert!(matches!(e, CompileError::NotOnnx(_)), "{e}");
    println!("truncated: {e}");
    // A model without nodes.
    let e = compile_8x8(&model(vec![], vec![], input_8x8(), output("y", 3)), &opts).unwrap_err();
    assert!(e.to_string().contains("no nodes"), "{e}");
    // Three channels.
    let rgb = vec![value_info("x", FLOAT, &[D::Sym("N"), D::N(3), D::N(8), D::N(8)])];
    let e = compile_8x8(&model(nodes.clone(), inits.clone(), rgb, output("y", 3)), &opts).unwrap_err();
    assert!(matches!(e, CompileError::Input(_)) && e.to_string().contains("one-channel"), "{e}");
    // A fixed batch of 8.
    let batch8 = vec![value_info("x", FLOAT, &[D::N(8), D::N(1), D::N(8), D::N(8)])];
    let e = compile_8x8(&model(nodes.clone(), inits.clone(), batch8, output("y", 3)), &opts).unwrap_err();
    assert!(e.to_string().contains("fixed batch of 8"), "{e}");
    // Dynamic height and width: an error that says how to give them, and with them it compiles.
    let dynamic = vec![value_info("x", FLOAT, &[D::Sym("N"), D::N(1), D::Sym("H"), D::Sym("W")])];
    let onnx = model(nodes.clone(), inits.clone(), dynamic, output("y", 3));
    let e = compile_8x8(&onnx, &opts).unwrap_err();
    assert!(e.to_string().contains("--image"), "{e}");
    let mut with_size = opts.clone();
    with_size.load.image = Some((8, 8));
    compile_8x8(&onnx, &with_size).unwrap();
    // Two float outputs: choose one.
    let mut two = nodes.clone();
    two.push(node("Softmax", "softmax", &["y"], &["probs"], vec![int("axis", 1)]));
    let outs = vec![output("y", 3).remove(0), output("probs", 3).remove(0)];
    let onnx = model(two, inits.clone(), input_8x8(), outs);
    let e = compile_8x8(&onnx, &opts).unwrap_err();
    assert!(matches!(e, CompileError::Output(_)) && e.to_string().contains("--output"), "{e}");
    let mut pick = opts.clone();
    pick.load.output = Some("probs".into());
    let c = compile_8x8(&onnx, &pick).unwrap();
    assert_eq!(c.quant.graph.nodes.len(), 2, "the final softmax is dropped");
    // Bad options.
    let mut bad = opts.clone();
    bad.normalization = Normalization { mean: 0.0, std: 0.0 };
    assert!(matches!(compile_8x8(&good, &bad).unwrap_err(), CompileError::Option(_)));
}
