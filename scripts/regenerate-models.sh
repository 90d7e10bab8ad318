#!/usr/bin/env bash
# Regenerates every committed artifact under onnx-models/ from scratch, each model by the
# training and publishing commands its manifest entry records:
#   1. trains the models (seed 42; `--resume` continues an interrupted run; a finished one has no epochs left): the default
#      job (mlp-128-64, cnn-baseline), mlp-improved and cnn-edge with their study recipes, and
#      the scikit-learn MLP (scripts/foreign_models.py, in the venv .ci/run creates),
#   2. publishes them (burn weights, float ONNX, int8 QDQ ONNX, infer-core blob, quantization
#      reports, manifest.json, MODELS.md) into onnx-models/artifacts,
#   3. runs the conformance measurement, which writes onnx-models/CONFORMANCE.{md,json} and
#      records the tract and ONNX Runtime accuracies in the manifest.
# Needs the dataset (FASHION_MNIST_DIR or ../shared/data/fashion-mnist) and ONNX Runtime
# (ORT_DYLIB_PATH, or the venv that .ci/run creates). Several hours on 2 cores (cnn-edge: ~1 h).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$HOME/.cache/fmnist-edge/venv"
ht() { cargo run -p host-trainer --release -- "$@"; }
recipe=(--flip --optimizer adamw --weight-decay 0.01 --label-smoothing 0.1 --schedule cosine)
cargo run -p host-trainer --release
ht train --resume --preset mlp-improved --epochs 50 --seed 42 --shift 1 "${recipe[@]}" --run-dir runs/study/mlp-improved/seed-42
ht train --resume --preset cnn-edge --seed 42 --shift 2 "${recipe[@]}" --run-dir runs/study/cnn-edge/seed-42
"$venv/bin/python" scripts/foreign_models.py runs/foreign
ht publish
ht publish --run-dir runs/study/mlp-improved/seed-42 --without-burn-weights
ht publish --run-dir runs/study/cnn-edge/seed-42
ht publish --onnx runs/foreign/sklearn-mlp.onnx --name sklearn-mlp --input-mean 0 --input-std 1 \
  --train-command 'python3 scripts/foreign_models.py runs/foreign   # writes runs/foreign/sklearn-mlp.onnx: scikit-learn 1.9.1 MLPClassifier(64) on 20,000 training images, skl2onnx 1.20.0 (the CI venv)'
cargo run -p conformance --release
