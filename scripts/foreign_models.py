#!/usr/bin/env python3
"""Float ONNX classifiers written the way other tools write them, for the int8 compiler's tests.

    foreign_models.py OUT_DIR [--mnist DIR]

Writes into OUT_DIR:
  torch-mlp.onnx    PyTorch style, trained on normalized pixels (the normalization is the data
                    loader's, outside the graph: the compiler takes --input-mean/--input-std):
                    Flatten, Gemm(transB=1) + Relu, Dropout, Softmax at the end; the weights of
                    onnx-models' mlp-128-64.
  torch-cnn.onnx    PyTorch style: normalization, Conv + BatchNormalization + Relu, MaxPool,
                    Flatten, Gemm(transB=1), Softmax; the weights of cnn-baseline (the batch norm
                    carries part of the first convolution's scale and bias, so the function is
                    the same).
  tf2onnx-cnn.onnx  tf2onnx style: NHWC input [N,28,28,1], Mul/Add normalization, Transpose to
                    NCHW around Conv, Clip(0, 6) (ReLU6) on the first layer, a NHWC Reshape, and
                    MatMul + Add; the weights of cnn-baseline.
  sklearn-mlp.onnx  scikit-learn: an MLPClassifier (784-64-10, ReLU) trained on 20,000
                    training images (pixels / 255), exported by skl2onnx (zipmap off); outputs
                    `label` and `probabilities`.
  manifest.json     per model: input name and shape (without the batch axis), the normalization its
                    caller applies outside the graph (mean, std in units of pixel/255: the model
                    takes (pixel/255 - mean)/std), and its output name.

Deterministic (fixed seeds). Needs numpy, onnx, and for sklearn-mlp scikit-learn + skl2onnx.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(HERE, "..", "onnx-models", "artifacts")
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's pixel mean and deviation (in pixel/255 units)


def initializers(name):
    m = onnx.load(os.path.join(ARTIFACTS, name + ".onnx"))
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def param(inits, suffix):
    (k,) = [k for k in inits if k.endswith(suffix)]
    return inits[k].astype(np.float32)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def save(graph, path, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="foreign_models.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def normalization(x, out, nodes, inits):
    """(x - MEAN) / STD, as PyTorch's transforms.Normalize exports it."""
    inits += [const("norm_mean", [MEAN]), const("norm_std", [STD])]
    nodes += [helper.make_node("Sub", [x, "norm_mean"], ["x_centered"]), helper.make_node("Div", ["x_centered", "norm_std"], [out])]


def torch_mlp(path):
    p = initializers("mlp-128-64")
    ws = [param(p, f"layers.{i}.Dense.weight") for i in (1, 3, 5)]  # [in, out]
    bs = [param(p, f"layers.{i}.Dense.bias") for i in (1, 3, 5)]
    # A network on normalized input computing the same function: W' = W * STD,
    # b' = b + MEAN * sum_in W.
    ws[0], bs[0] = ws[0] * STD, bs[0] + MEAN * ws[0].sum(axis=0)
    nodes, inits = [], []
    nodes.append(helper.make_node("Flatten", ["image"], ["flat"], axis=1))
    x = "flat"
    for i, (w, b) in enumerate(zip(ws, bs)):
        inits += [const(f"fc{i}.weight", w.T), const(f"fc{i}.bias", b)]  # PyTorch: [out, in]
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"fc{i}"], alpha=1.0, beta=1.0, transB=1))
        x = f"fc{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [x], [f"relu{i}"]))
            nodes.append(helper.make_node("Dropout", [f"relu{i}"], [f"drop{i}"]))
            x = f"drop{i}"
    nodes.append(helper.make_node("Softmax", [x], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes, "torch-mlp", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])], inits)
    save(graph, path)


def cnn_params():
    p = initializers("cnn-baseline")
    return (param(p, "layers.0.Conv.weight"), param(p, "layers.0.Conv.bias"), param(p, "layers.3.Conv.weight"),
            param(p, "layers.3.Conv.bias"), param(p, "layers.7.Dense.weight"), param(p, "layers.7.Dense.bias"),
            param(p, "layers.9.Dense.weight"), param(p, "layers.9.Dense.bias"))


def torch_cnn(path):
    w1, b1, w2, b2, w3, b3, w4, b4 = cnn_params()
    # Normalized input: the first (valid) convolution absorbs the normalization exactly.
    b1 = b1 + MEAN * w1.sum(axis=(1, 2, 3))
    w1 = w1 * STD
    # Split the first convolution into Conv + BatchNormalization with non-trivial statistics.
    rng = np.random.default_rng(7)
    gamma = rng.uniform(0.5, 2.0, 32).astype(np.float32)
    var = rng.uniform(0.5, 2.0, 32).astype(np.float32)
    mean = rng.uniform(-0.2, 0.2, 32).astype(np.float32)
    beta = rng.uniform(-0.2, 0.2, 32).astype(np.float32)
    eps = 1e-5
    g = gamma / np.sqrt(var + eps)
    w1c = w1 / g[:, None, None, None]
    b1c = (b1 - beta) / g + mean
    nodes, inits = [], []
    normalization("image", "x", nodes, inits)
    inits += [const("conv1.weight", w1c), const("conv1.bias", b1c), const("bn.gamma", gamma), const("bn.beta", beta),
              const("bn.mean", mean), const("bn.var", var), const("conv2.weight", w2), const("conv2.bias", b2),
              const("fc1.weight", w3.T), const("fc1.bias", b3), const("fc2.weight", w4.T), const("fc2.bias", b4)]
    nodes += [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn.gamma", "bn.beta", "bn.mean", "bn.var"], ["bn1"], epsilon=eps),
        helper.make_node("Relu", ["bn1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["f1"], transB=1),
        helper.make_node("Relu", ["f1"], ["r3"]),
        helper.make_node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["f2"], transB=1),
        helper.make_node("Softmax", ["f2"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "torch-cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])], inits)
    save(graph, path)


def tf2onnx_cnn(path):
    w1, b1, w2, b2, w3, b3, w4, b4 = cnn_params()
    b1 = b1 + MEAN * w1.sum(axis=(1, 2, 3))
    w1 = w1 * STD
    # Keras flattens NHWC: put the Dense rows (burn: CHW order) into HWC order.
    c, h, w = 64, 5, 5
    w3_hwc = w3.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)
    nodes, inits = [], []
    # x * (1/STD) + (-MEAN/STD), as a Keras Rescaling/Normalization layer exports it.
    inits += [const("norm_scale", [1.0 / STD]), const("norm_offset", [-MEAN / STD])]
    nodes += [helper.make_node("Mul", ["image", "norm_scale"], ["xs"]), helper.make_node("Add", ["xs", "norm_offset"], ["x"])]
    inits += [const("conv1/kernel", w1), const("conv1/bias", b1), const("conv2/kernel", w2), const("conv2/bias", b2),
              const("dense1/kernel", w3_hwc), const("dense1/bias", b3), const("dense2/kernel", w4), const("dense2/bias", b4),
              const("relu6_min", 0.0), const("relu6_max", 6.0),
              numpy_helper.from_array(np.array([-1, c * h * w], dtype=np.int64), "flat_shape")]
    nodes += [
        helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x_nchw", "conv1/kernel", "conv1/bias"], ["c1"], kernel_shape=[3, 3], auto_pad="VALID"),
        helper.make_node("Clip", ["c1", "relu6_min", "relu6_max"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="VALID"),
        helper.make_node("Conv", ["p1", "conv2/kernel", "conv2/bias"], ["c2"], kernel_shape=[3, 3], auto_pad="VALID"),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["p2"], ["p2_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["p2_nhwc", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "dense1/kernel"], ["m1"]),
        helper.make_node("Add", ["m1", "dense1/bias"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r3"]),
        helper.make_node("MatMul", ["r3", "dense2/kernel"], ["m2"]),
        helper.make_node("Add", ["m2", "dense2/bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "tf2onnx-cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["unk__0", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["unk__1", 10])], inits)
    save(graph, path, opset=13)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def sklearn_mlp(path, mnist):
    from sklearn.neural_network import MLPClassifier
    from skl2onnx import to_onnx

    x = read_idx(os.path.join(mnist, "train-images-idx3-ubyte.gz"))[:20000].astype(np.float32) / 255.0
    y = read_idx(os.path.join(mnist, "train-labels-idx1-ubyte.gz"))[:20000]
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=15, random_state=0, batch_size=200)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached: the point is a small, quick model
        clf.fit(x, y)
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    onnx.save(onx, path)
    return [o.name for o in onx.graph.output]


def main():
    out = sys.argv[1]
    mnist = os.environ.get("FASHION_MNIST_DIR", os.path.join(HERE, "..", "..", "shared", "data", "fashion-mnist"))
    if "--mnist" in sys.argv:
        mnist = sys.argv[sys.argv.index("--mnist") + 1]
    os.makedirs(out, exist_ok=True)
    manifest = {}
    torch_mlp(os.path.join(out, "torch-mlp.onnx"))
    manifest["torch-mlp"] = {"input_name": "image", "input": [1, 28, 28], "mean": MEAN, "std": STD, "output": "probabilities"}
    torch_cnn(os.path.join(out, "torch-cnn.onnx"))
    manifest["torch-cnn"] = {"input_name": "image", "input": [1, 28, 28], "mean": 0.0, "std": 1.0, "output": "probabilities"}
    tf2onnx_cnn(os.path.join(out, "tf2onnx-cnn.onnx"))
    manifest["tf2onnx-cnn"] = {"input_name": "image", "input": [28, 28, 1], "mean": 0.0, "std": 1.0, "output": "probabilities"}
    if "--no-sklearn" not in sys.argv:
        outputs = sklearn_mlp(os.path.join(out, "sklearn-mlp.onnx"), mnist)
        manifest["sklearn-mlp"] = {"input_name": "X", "input": [784], "mean": 0.0, "std": 1.0, "output": outputs[-1]}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
