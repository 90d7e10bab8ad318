#!/usr/bin/env bash
# Regenerates every committed artifact under onnx-models/ from scratch:
#   1. trains the default models (seed 42) into runs/ (resumes or skips finished runs),
#   2. exports them (burn weights, float ONNX, int8 QDQ ONNX, infer-core blob, quantization
#      reports, manifest.json, MODELS.md) into onnx-models/artifacts,
#   3. runs the conformance measurement, which writes onnx-models/CONFORMANCE.{md,json} and
#      records the tract and ONNX Runtime accuracies in the manifest.
# Needs the dataset (FASHION_MNIST_DIR or ../shared/data/fashion-mnist) and ONNX Runtime
# (ORT_DYLIB_PATH, or the venv that .ci/run creates).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -p host-trainer --release
cargo run -p host-trainer --release -- publish
cargo run -p conformance --release
