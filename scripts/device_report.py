#!/usr/bin/env python3
"""Every published model on the emulated Cortex-M4F, measured: builds the firmware for each model
of onnx-models/artifacts/manifest.json, classifies all 10,000 test images under QEMU
(mps2-an386, -icount shift=0; the firmware exits 0 only when its accuracy and the hash of all its
int8 logits equal the host's), and reads the ELF's sections. Writes docs/DEVICE.md and
docs/device.json: device accuracy, instructions per inference and per op, flash (blob, code, the
rest), the RAM infer-core takes (arena with kernel scratch, Model tables, the stack of its calls;
per op the arena it needs) and the whole RAM (statics, stack high-water mark) per model; with
--size-build, the same firmware built with opt-level "s" too (code size and instructions).

Usage: python3 scripts/device_report.py [--models a,b] [--images all|N] [--full-macs M] [--size-build]
       python3 scripts/device_report.py --render
--render rewrites docs/DEVICE.md from docs/device.json without running anything.
Models of at most M MACs (default 25,000,000, as in CI: every published model) classify all
10,000 images, larger ones the first 50 of each class unless --images says otherwise (QEMU runs
about 10^8 to 10^9 instructions a second here; cnn-edge's 10,000 images take about 5 minutes).
Needs what .ci/run installs: qemu-system-arm, the thumbv7em-none-eabihf target, llvm-tools.
The firmware builds go to $FIRMWARE_TARGET_DIR (default ~/.cache/fmnist-edge/firmware-target).
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import code_size  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FW = os.path.join(ROOT, "firmware-example")
TARGET = os.environ.get("FIRMWARE_TARGET_DIR", os.path.expanduser("~/.cache/fmnist-edge/firmware-target"))
ELF = os.path.join(TARGET, "thumbv7em-none-eabihf", "release", "firmware-example")
# Flash a 1 MiB part leaves for the blob (boards/qemu-memory.x; the code takes the rest).
ONE_MIB_BLOB_MAX = 900 * 1024


def arg(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def sections(size_tool):
    out = subprocess.run([size_tool, "-A", ELF], capture_output=True, text=True, check=True).stdout
    s = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            s[parts[0]] = int(parts[1])
    return s


def run(model, images, blob_bytes, opt_level=None):
    env = dict(os.environ, MODEL=model, IMAGES=images, CARGO_TARGET_DIR=TARGET, QEMU_TIMEOUT="7200")
    if opt_level:
        env["CARGO_PROFILE_RELEASE_OPT_LEVEL"] = opt_level
    env.pop("CORRUPT", None)
    env["PART"] = "qemu-full" if blob_bytes > ONE_MIB_BLOB_MAX else "1m"
    started = time.time()
    p = subprocess.run(["cargo", "run", "--release", "--locked"], cwd=FW, env=env, capture_output=True, text=True)
    wall = time.time() - started
    text = p.stdout
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"{model}: the firmware exited {p.returncode} (1: device and host differ, 2: infer-core error)")

    def grab(pattern):
        m = re.search(pattern, text)
        if not m:
            raise SystemExit(f"{model}: no line matching {pattern!r} in the firmware's output:\n{text}")
        return m

    acc = grab(rf"{re.escape(model)}: accuracy (\d+)/(\d+) \(host (\d+)/(\d+)\)")
    instr = int(grab(rf"{re.escape(model)}: (\d+) instructions per inference").group(1))
    stack = int(grab(r"stack high-water mark: (\d+) B").group(1))
    arena = int(grab(r"infer-core firmware: \d+ images, arena (\d+) B").group(1))
    grab(r"logits hash 0x[0-9a-f]+, host 0x[0-9a-f]+: MATCH")
    ops = [int(n) for n in re.findall(rf"{re.escape(model)}:   op \d+ ~(\d+) instructions", text)]
    op_ram = [(int(a), int(s)) for a, s in re.findall(rf"{re.escape(model)}:   op \d+ needs (\d+) B of arena \((\d+) B", text)]
    ram = grab(rf"{re.escape(model)}: infer-core RAM (\d+) B = arena (\d+) \+ model tables (\d+) \+ stack (\d+) "
               rf"\(build-time bound (\d+) B: within\)")
    return {
        "op_instructions": ops,
        "op_arena": [a for a, _ in op_ram],
        "op_scratch": [s for _, s in op_ram],
        "infer_core_ram": int(ram.group(1)),
        "model_tables": int(ram.group(3)),
        "infer_core_stack": int(ram.group(4)),
        "ram_bound": int(ram.group(5)),
        "correct": int(acc.group(1)),
        "images": int(acc.group(2)),
        "host_correct": int(acc.group(3)),
        "instructions": instr,
        "stack_high_water": stack,
        "arena": arena,
        "part": env["PART"],
        "wall_seconds": round(wall, 1),
    }


def thousands(n):
    return f"{n:,}"


def main():
    if "--render" in sys.argv:
        # Rewrite docs/DEVICE.md from docs/device.json (no QEMU run).
        write(json.load(open(os.path.join(ROOT, "docs", "device.json"))))
        return
    manifest = json.load(open(os.path.join(ROOT, "onnx-models", "artifacts", "manifest.json")))
    names = arg("--models", ",".join(manifest["models"])).split(",")
    images_arg = arg("--images", None)
    full_macs = int(arg("--full-macs", "25000000"))
    size_tool = code_size.llvm_tool("llvm-size")
    size_build = "--size-build" in sys.argv
    rows = {}
    for name in names:
        m = manifest["models"][name]
        images = images_arg or ("all" if m["macs"] <= full_macs else "50")
        print(f"{name}: building and running on QEMU ({images} images) ...", flush=True)
        r = run(name, images, m["blob"]["bytes"])
        s = sections(size_tool)
        code = code_size.attribute(ELF)
        engine = code_size.engine_bytes(code)
        flash = s.get(".vector_table", 0) + s.get(".text", 0) + s.get(".rodata", 0) + s.get(".data", 0)
        statics = s.get(".data", 0) + s.get(".bss", 0) + s.get(".uninit", 0)
        r.update(
            {
                "macs": m["macs"],
                "params": m.get("params"),
                "blob": m["blob"]["bytes"],
                "text": s.get(".text", 0),
                "flash": flash,
                "flash_other": flash - m["blob"]["bytes"] - s.get(".text", 0),
                "engine_code": engine,
                "engine_code_by_file": {k.split("/", 1)[1]: v for k, v in sorted(code.items()) if k.startswith("infer-core/")},
                "statics": statics,
                "statics_other": statics - r["arena"],
                "ram": statics + r["stack_high_water"],
            }
        )
        if size_build:
            print(f"{name}: the size build (opt-level s) ...", flush=True)
            z = run(name, images, m["blob"]["bytes"], opt_level="s")
            r["size_build"] = {
                "instructions": z["instructions"],
                "text": sections(size_tool).get(".text", 0),
                "engine_code": code_size.engine_bytes(code_size.attribute(ELF)),
                "infer_core_stack": z["infer_core_stack"],
            }
        rows[name] = r
        print(f"  {r['correct']}/{r['images']} correct (host {r['host_correct']}), {thousands(r['instructions'])} instructions, "
              f"flash {thousands(flash)} B, RAM {thousands(r['ram'])} B, {r['wall_seconds']} s", flush=True)

    write(rows)


def write(rows):
    """docs/DEVICE.md and docs/device.json from the measured rows."""
    md = [
        "# The published models on the device",
        "",
        "Generated by `python3 scripts/device_report.py` (QEMU 7.2 mps2-an386, Cortex-M4F, `-icount shift=0`;",
        "firmware-example built with `MODEL=<name> IMAGES=all cargo run --release` (`IMAGES=50`, the first 50 test images of each class, where the row says 500), infer-core's",
        "`cortex-m-dsp` kernels, release + LTO). The firmware reads the test images from the host",
        "through semihosting and exits 0 only when its accuracy and the hash of all its int8 logits",
        "equal the host's; every row below did. Flash and RAM are the ELF's sections (`llvm-size -A`):",
        "flash = vector table + .text + .rodata + .data, of which the blob is the model and .text the code",
        "(infer-core, the firmware, the runtime); RAM = .data + .bss + .uninit (the arena is one static",
        "buffer there) + the stack high-water mark (painted stack). infer-core's share of the code is",
        "measured per instruction from the ELF's debug information (`scripts/code_size.py`: a byte is",
        "infer-core's when a function of infer-core is inlined at its address).",
        "",
        "infer-core's RAM is what the firmware prints and checks: the arena (activations and the",
        "kernels' scratch, planned together), the `Model` tables, and the stack its calls take below",
        "the firmware's frame (painted again before `Model::parse`), against the bound known at build",
        "time (arena + tables + 2.25 KiB); the whole RAM adds the firmware's own frame and statics.",
        "",
        "| model | MACs | device accuracy | instructions / inference | per MAC | flash: blob + code + rest | of the code, infer-core | infer-core RAM: arena + tables + stack | whole RAM: statics + stack | part |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in rows.items():
        md.append(
            f"| {name} | {thousands(r['macs'])} | {r['correct'] / r['images']:.2%} ({r['correct']}/{r['images']}; host {r['host_correct']}) "
            f"| {thousands(r['instructions'])} | {r['instructions'] / r['macs']:.2f} "
            f"| {thousands(r['flash'])} B = {thousands(r['blob'])} + {thousands(r['text'])} + {thousands(r['flash_other'])} "
            f"| {thousands(r['engine_code'])} B "
            f"| {thousands(r['infer_core_ram'])} B = {thousands(r['arena'])} + {thousands(r['model_tables'])} + {thousands(r['infer_core_stack'])} "
            f"| {thousands(r['ram'])} B = {thousands(r['statics'])} + {thousands(r['stack_high_water'])} "
            f"| {'QEMU 4 MiB' if r['part'] == 'qemu-full' else '1 MiB'} |"
        )
    md += [
        "",
        "Instructions per op (SysTick ticks of 40 instructions, so the last digits are rounded; ops in",
        "blob order, each a fused layer: convolution or dense with its bias, requantization, ReLU and",
        "pool):",
        "",
    ]
    for name, r in rows.items():
        md.append(f"- {name}: " + ", ".join(f"op {i} {thousands(n)}" for i, n in enumerate(r["op_instructions"])))
    md += [
        "",
        "Arena bytes each op needs (the tensors live while it runs, and its kernel scratch in",
        "parentheses); the arena is the largest of them, up to alignment:",
        "",
    ]
    for name, r in rows.items():
        md.append(f"- {name}: " + ", ".join(
            f"op {i} {thousands(a)} ({thousands(s)})" for i, (a, s) in enumerate(zip(r["op_arena"], r["op_scratch"]))))
    sized = {n: r["size_build"] for n, r in rows.items() if "size_build" in r}
    if sized:
        md += [
            "",
            "The size build (`opt-level = \"s\"`, `python3 scripts/device_report.py --size-build`; the same",
            "images): code and instructions against the speed build above.",
            "",
            "| model | .text | of it, infer-core | instructions / inference | vs speed build | infer-core stack |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, z in sized.items():
            r = rows[name]
            md.append(
                f"| {name} | {thousands(z['text'])} B | {thousands(z['engine_code'])} B | {thousands(z['instructions'])} "
                f"| {z['instructions'] / r['instructions'] - 1:+.1%} | {thousands(z['infer_core_stack'])} B |"
            )
    # The engine is the same for every model (its kernels are chosen at run time, by shape): the
    # per-file split of the first model's firmware.
    first_name, first = next(iter(rows.items()))
    md += [
        "",
        f"infer-core's code by source file (bytes, in {first_name}'s firmware; the same engine is "
        f"{thousands(min(r['engine_code'] for r in rows.values()))} to {thousands(max(r['engine_code'] for r in rows.values()))} B "
        "in the others, as LLVM inlines it a little differently around each blob):",
        "",
        "| file | bytes |",
        "|---|---:|",
    ]
    for f, n in sorted(first["engine_code_by_file"].items(), key=lambda kv: -kv[1]):
        md.append(f"| `{f}` | {thousands(n)} |")
    md.append(f"| all | {thousands(first['engine_code'])} |")
    md.append("")
    os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
    with open(os.path.join(ROOT, "docs", "DEVICE.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(ROOT, "docs", "device.json"), "w") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    print("wrote docs/DEVICE.md and docs/device.json")


if __name__ == "__main__":
    main()
