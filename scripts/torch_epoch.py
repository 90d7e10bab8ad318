#!/usr/bin/env python3
"""PyTorch's seconds per epoch for our presets' architectures: the side-by-side measure for
host-trainer's training speed (docs/TRAINING.md).

    torch_epoch.py --preset cnn-baseline [--epochs 1] [--threads 2] [--limit N]
                   [--flip] [--shift PX] [--optimizer adam|adamw] [--weight-decay W]
                   [--label-smoothing S]

Trains what `host-trainer train --preset P` trains, the way it trains it: the same layers
(model/preset.rs: 3x3 convolutions, valid for the seed CNN and same with batch norm for the
others, 2x2 max pools, dense layers, dropout), 54,000 training and 6,000 validation images
(a seeded split of the 60,000), pixels scaled to [0, 1], batch 128, Adam at 1e-3 unless told
otherwise, on `--threads` intra-op threads (torch.set_num_threads), and validates after each
epoch. Augmentation (`--flip`, `--shift`) is drawn per image in numpy on the main thread, as
host-trainer draws it on its main thread. Prints per epoch the seconds of the training steps,
of the validation and of both (host-trainer's "s per epoch" is the last), and the accuracies.

Needs torch (the PyPI wheel; CPU is used) and numpy; FASHION_MNIST_DIR or ../shared/data/fashion-mnist.
Not part of CI: the wheel pulls about 4 GB of CUDA libraries.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = ("mlp-128-64", "cnn-baseline", "cnn-improved", "cnn-edge")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=PRESETS, required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limit", type=int, help="train on only the first N training images")
    ap.add_argument("--flip", action="store_true", help="horizontal flip with probability 0.5")
    ap.add_argument("--shift", type=int, default=0, help="random shift of up to PX pixels per axis")
    ap.add_argument("--optimizer", choices=("adam", "adamw"), default="adam")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    a = ap.parse_args()
    if a.epochs < 1 or a.threads < 1 or a.batch_size < 1 or a.shift < 0:
        ap.error("--epochs, --threads and --batch-size must be at least 1, --shift at least 0")
    return a


def data_dir():
    d = os.environ.get("FASHION_MNIST_DIR") or os.path.join(HERE, "..", "..", "shared", "data", "fashion-mnist")
    if not os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz")):
        sys.exit(f"torch_epoch: no Fashion-MNIST in {d} (set FASHION_MNIST_DIR)")
    return d


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 2051:
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 28, 28)
    return np.frombuffer(raw, np.uint8, offset=8)


def model(torch, preset):
    nn = torch.nn
    if preset == "mlp-128-64":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    if preset == "cnn-baseline":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    front = block(1, 32) + block(32, 32) + [nn.MaxPool2d(2)] + block(32, 64) + block(64, 64) + [nn.MaxPool2d(2)]
    if preset == "cnn-improved":
        head = [nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10)]
        return nn.Sequential(*front, *head)
    head = block(64, 128) + [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128 * 3 * 3, 96), nn.BatchNorm1d(96), nn.ReLU(),
                             nn.Dropout(0.3), nn.Linear(96, 10)]  # fmt: skip
    return nn.Sequential(*front, *head)


def augment(images, rng, flip, shift):
    out = images.copy()
    for i in range(len(out)):
        img = out[i]
        if flip and rng.random() < 0.5:
            img = img[:, ::-1]
        if shift:
            dy, dx = rng.integers(-shift, shift + 1, size=2)
            img = np.roll(img, (dy, dx), axis=(0, 1))
            if dy > 0:
                img[:dy] = 0
            elif dy < 0:
                img[dy:] = 0
            if dx > 0:
                img[:, :dx] = 0
            elif dx < 0:
                img[:, dx:] = 0
        out[i] = img
    return out


def main():
    a = parse_args()
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = data_dir()
    images = idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    labels = idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(images))
    val, train = order[:6000], order[6000:]
    if a.limit:
        train = train[: a.limit]
    net = model(torch, a.preset)
    opt_cls = torch.optim.AdamW if a.optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    val_x = torch.from_numpy(images[val].astype(np.float32) / 255.0).unsqueeze(1)
    val_y = torch.from_numpy(labels[val])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.preset}, {len(train)} images, batch {a.batch_size}")
    for epoch in range(a.epochs):
        net.train()
        started = time.perf_counter()
        perm = rng.permutation(train)
        loss_sum, correct = 0.0, 0
        for s in range(0, len(perm), a.batch_size):
            idx_b = perm[s : s + a.batch_size]
            x = images[idx_b]
            if a.flip or a.shift:
                x = augment(x, rng, a.flip, a.shift)
            xb = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
            yb = torch.from_numpy(labels[idx_b])
            logits = net(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx_b)
            correct += int((logits.argmax(1) == yb).sum())
        trained = time.perf_counter()
        net.eval()
        with torch.no_grad():
            hits = sum(int((net(val_x[s : s + 512]).argmax(1) == val_y[s : s + 512]).sum()) for s in range(0, 6000, 512))
        done = time.perf_counter()
        print(
            f"{a.preset} epoch {epoch + 1}/{a.epochs}: train loss {loss_sum / len(perm):.4f} acc {correct / len(perm):.4f} | "
            f"val acc {hits / 6000:.4f} | train {trained - started:.1f}s + validation {done - trained:.1f}s = {done - started:.1f}s"
        )


if __name__ == "__main__":
    main()
