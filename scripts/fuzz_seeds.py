#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/<target>/ (small files, committed):

- onnx: tiny float classifiers in the forms the exporters write (an MLP as Gemm with transB, as
  PyTorch writes it; a CNN with Conv + BatchNormalization + Relu + MaxPool + Flatten + Gemm +
  Softmax; an NHWC MatMul + Add model behind the Transpose tf2onnx inserts), 28x28 inputs;
- blob: those models compiled by int8-compiler (calibrated on the Fashion-MNIST training images);
- idx: an images file of two images and a labels file of three labels, raw and gzip-compressed.

Usage: python3 scripts/fuzz_seeds.py   (needs the venv's `onnx`, the dataset in
FASHION_MNIST_DIR or ../shared/data/fashion-mnist, and cargo). Deterministic: same files each run.
"""

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
DATA = os.environ.get("FASHION_MNIST_DIR", os.path.join(ROOT, "..", "shared", "data", "fashion-mnist"))
rng = np.random.default_rng(7)


def init(name, shape, scale=0.1):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def save(graph, name):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(m)
    path = os.path.join(CORPUS, "onnx", name + ".onnx")
    onnx.save(m, path)
    return path


def models():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    mlp = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["f"], name="flatten", axis=1),
            helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], name="fc1", transB=1),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2", transB=1),
        ],
        "mlp",
        [x],
        [y],
        [init("w1", (6, 784), 0.05), init("b1", (6,)), init("w2", (10, 6)), init("b2", (10,))],
    )
    cnn = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "k", "kb"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["n"], name="bn"),
            helper.make_node("Relu", ["n"], ["r"], name="relu"),
            helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Conv", ["p", "k2"], ["c2"], name="conv2", kernel_shape=[3, 3], strides=[2, 2]),
            helper.make_node("Flatten", ["c2"], ["f"], name="flatten", axis=1),
            helper.make_node("Gemm", ["f", "w", "b"], ["l"], name="fc", transB=1),
            helper.make_node("Softmax", ["l"], ["y"], name="softmax", axis=1),
        ],
        "cnn",
        [x],
        [y],
        [
            init("k", (2, 1, 3, 3), 0.3),
            init("kb", (2,)),
            numpy_helper.from_array(np.array([1.0, 0.5], np.float32), "g"),
            numpy_helper.from_array(np.array([0.1, -0.1], np.float32), "be"),
            numpy_helper.from_array(np.array([0.2, 0.0], np.float32), "mu"),
            numpy_helper.from_array(np.array([1.5, 0.7], np.float32), "var"),
            init("k2", (3, 2, 3, 3), 0.3),
            init("w", (10, 3 * 6 * 6), 0.1),
            init("b", (10,)),
        ],
    )
    xh = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 28, 28, 1])
    nhwc = helper.make_graph(
        [
            helper.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["t", "k"], ["c"], name="conv", kernel_shape=[4, 4], strides=[2, 2]),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("Transpose", ["r"], ["back"], name="to_nhwc", perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", ["back", "shape"], ["f"], name="reshape"),
            helper.make_node("MatMul", ["f", "w"], ["m"], name="matmul"),
            helper.make_node("Add", ["m", "b"], ["y"], name="bias"),
        ],
        "nhwc",
        [xh],
        [y],
        [
            init("k", (2, 1, 4, 4), 0.2),
            numpy_helper.from_array(np.array([-1, 2 * 13 * 13], np.int64), "shape"),
            init("w", (2 * 13 * 13, 10), 0.1),
            init("b", (10,)),
        ],
    )
    return [save(mlp, "mlp"), save(cnn, "cnn"), save(nhwc, "nhwc")]


def idx_files():
    out = os.path.join(CORPUS, "idx")
    pixels = rng.integers(0, 256, size=2 * 784, dtype=np.uint8).tobytes()
    images = struct.pack(">IIII", 0x803, 2, 28, 28) + pixels
    labels = struct.pack(">II", 0x801, 3) + bytes([0, 9, 4])
    for name, data in [("images", images), ("labels", labels)]:
        open(os.path.join(out, name + ".idx"), "wb").write(data)
        # mtime 0: the same bytes on every run.
        open(os.path.join(out, name + ".idx.gz"), "wb").write(gzip.compress(data, mtime=0))


def main():
    for t in ["onnx", "blob", "idx"]:
        d = os.path.join(CORPUS, t)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    paths = models()
    idx_files()
    with tempfile.TemporaryDirectory() as tmp:
        for p in paths:
            name = os.path.splitext(os.path.basename(p))[0]
            subprocess.run(
                ["cargo", "run", "--quiet", "--release", "--locked", "-p", "int8-compiler", "--", p,
                 "--calibration", DATA, "--calibration-images", "200", "--held-back", "200", "--out", tmp],
                cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
            )
            shutil.copy(os.path.join(tmp, name + ".ic8"), os.path.join(CORPUS, "blob", name + ".ic8"))
    for t in ["onnx", "blob", "idx"]:
        d = os.path.join(CORPUS, t)
        print(t, sorted((f, os.path.getsize(os.path.join(d, f))) for f in os.listdir(d)))


if __name__ == "__main__":
    sys.exit(main())
