#!/usr/bin/env python3
"""Writes README.md's results table (between `<!-- results:begin -->` and `<!-- results:end -->`)
from the files the measuring commands write, so that every figure in it has one source:

- docs/study/study.json       `host-trainer study --seeds 3` (accuracy mean ± std over seeds)
- onnx-models/artifacts/manifest.json   `host-trainer publish` (the published run of each model)
- docs/device.json            `python3 scripts/device_report.py` (QEMU: accuracy, instructions, flash, RAM)
- benches/results.json        `cargo bench -p benches` (host latency, batch 1, one thread)

Usage: python3 scripts/readme_table.py [--check]   (--check: fail if README.md is not up to date)
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def load(rel):
    path = os.path.join(ROOT, rel)
    return json.load(open(path)) if os.path.exists(path) else None


def pct(x):
    return f"{100 * x:.2f}%"


def kb(n):
    return f"{n / 1024:.1f} KiB"


def spread(stat, n):
    if n < 2:
        return f"{100 * stat['mean']:.2f} (1 seed)"
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f} ({n} seeds)"


def table():
    study = load("docs/study/study.json") or {"models": [], "runs_merged": 0, "runs_expected": 0}
    manifest = load("onnx-models/artifacts/manifest.json")["models"]
    device = load("docs/device.json") or {}
    bench = (load("benches/results.json") or {}).get("batch1_latency_us", {})
    by_study = {m["model"]: m for m in study["models"]}
    names = [m["model"] for m in study["models"]] + [n for n in manifest if n not in by_study]
    rows = [
        "| model | params | MACs | f32 test acc, study (%) | int8, study (%) | published run: f32 / int8 | device (QEMU Cortex-M4F): accuracy on 10,000, instructions | flash: weights + code | infer-core RAM: arena + tables + stack | host latency (x86, 1 thread) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        s = by_study.get(name)
        p = manifest.get(name)
        d = device.get(name)
        lat = bench.get(name, {}).get("infer-core-int8")
        params = (s or {}).get("params") or (p or {}).get("params")
        macs = (s or {}).get("macs") or (p or {}).get("macs")
        f32 = spread(s["test_acc"], len(s["seeds"])) if s else "–"
        int8 = spread(s["int8_acc"], len(s["seeds"])) if s else "–"
        if p:
            acc = p["test_accuracy"]
            f32_pub = acc.get("burn", acc.get("onnxruntime"))
            published = f"{pct(f32_pub)} / {pct(acc['infer-core-int8'])}"
        else:
            published = "not published"
        if d:
            dev = f"{pct(d['correct'] / d['images'])}, {d['instructions']:,}"
            flash = f"{kb(d['blob'])} + {kb(d['text'])}"
            ram = f"{d['arena']:,} + {d['model_tables']:,} + {d['infer_core_stack']:,} B"
        else:
            dev = flash = ram = "–"
        latency = f"{lat:.1f} µs" if lat is not None else "–"
        rows.append(
            f"| {name} | {params:,} | {macs:,} | {f32} | {int8} | {published} | {dev} | {flash} | {ram} | {latency} |"
        )
    return "\n".join(rows), study


def main():
    rows, study = table()
    note = (
        f"\n\nStudy: {study['runs_merged']} of {study['runs_expected']} runs merged so far"
        if study["runs_merged"] < study["runs_expected"]
        else ""
    )
    block = f"{BEGIN}\n{rows}{note}\n{END}"
    readme_path = os.path.join(ROOT, "README.md")
    readme = open(readme_path).read()
    a, b = readme.index(BEGIN), readme.index(END) + len(END)
    new = readme[:a] + block + readme[b:]
    if "--check" in sys.argv:
        if new != readme:
            sys.exit("README.md's results table is not what scripts/readme_table.py makes of the sources")
        return
    open(readme_path, "w").write(new)
    print("README.md: results table written")


if __name__ == "__main__":
    main()
