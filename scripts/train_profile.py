#!/usr/bin/env python3
"""Where a training run's CPU time goes, by burn operation: a sampling profile of host-trainer.

    train_profile.py [--freq HZ] [--top N] [--data PERF_DATA] -- BINARY train --preset cnn-baseline --epochs 1 ...

Runs the command under `perf record --call-graph dwarf` (Debian: linux-perf; a VM without
hardware counters samples cpu-clock), then attributes every sample, on every thread, to:

  - the burn-flex operation it runs in: the innermost `burn-flex/src/ops/<file>.rs` frame found
    walking from the sampled instruction towards the thread's root, inlined frames included
    (addr2line -i), so that rayon workers, whose stacks start in the thread pool, are attributed
    too; gemm's microkernels and packing count as "gemm (<caller's file>)";
  - "allocation + zeroing" (malloc/free/memset/page faults, FlexTensor::empty),
    "data + augmentation" (host-trainer's data module), "rayon idle/sync" (a worker spinning or
    parked), the kernel, or "other";

and, for the main thread, the phase: backward (a `burn_autodiff` backward frame), the optimizer
step, validation (`training::evaluate`), or forward. Prints two markdown tables: samples per
category (percent of all samples, and of CPU seconds), and the main thread's phases.

Needs the binary built with line tables (the workspace's release profile has
`debug = "line-tables-only"`). perf writes its data to a temporary directory.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--freq", type=int, default=499, help="samples per second per CPU (default 499)")
    ap.add_argument("--top", type=int, default=14, help="rows in the category table")
    ap.add_argument("--data", help="analyse this perf.data (recorded by an earlier run) instead of recording")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- the host-trainer command")
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("give the command to profile after --")
    return a, cmd


def record(cmd, freq, data):
    perf = ["perf", "record", "-q", "-F", str(freq), "--call-graph", "dwarf,16384", "-o", data, "--"]
    r = subprocess.run(perf + cmd)
    if r.returncode != 0:
        sys.exit(f"train_profile: the profiled command failed (exit {r.returncode})")


def samples(data, binary):
    """Yields (tid, [(kind, ip, symbol)]) leaf first; the binary's own frames ("bin") carry the
    address that addr2line takes (perf prints them relative to the mapping)."""
    out = subprocess.run(
        ["perf", "script", "-i", data, "--no-inline", "-F", "tid,ip,sym,dso"], capture_output=True, text=True
    ).stdout
    name = os.path.basename(binary)
    for block in out.split("\n\n"):
        lines = block.strip().split("\n")
        if not lines or not lines[0].strip():
            continue
        tid = int(lines[0].split()[0])
        frames = []
        for fr in lines[1:]:
            m = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s*\(([^()]*)\)\s*$", fr)
            if not m:
                continue
            ip, sym, dso = int(m.group(1), 16), m.group(2), m.group(3)
            kind = "bin" if os.path.basename(dso) == name else ("kernel" if "kernel" in dso else "ext")
            frames.append((kind, ip, sym))
        yield tid, frames


def inline_chains(binary, addrs):
    """addr -> [(function, file:line)] innermost first."""
    chains = {}
    addrs = sorted(addrs)
    for i in range(0, len(addrs), 20000):
        chunk = addrs[i : i + 20000]
        out = subprocess.run(
            ["addr2line", "-a", "-i", "-f", "-C", "-e", binary] + [hex(a) for a in chunk],
            capture_output=True,
            text=True,
        ).stdout
        cur = None
        pending = None
        for line in out.splitlines():
            if re.fullmatch(r"0x[0-9a-f]+", line):
                cur = int(line, 16)
                chains[cur] = []
                pending = None
            elif pending is None:
                pending = line
            else:
                chains[cur].append((pending, line))
                pending = None
    return chains


def lookup_address(depth, ip):
    """The address to look up for a frame: a caller's (depth > 0) is a return address, which
    points after its call; the call itself is one byte earlier."""
    return ip if depth == 0 else ip - 1


OPS = re.compile(r"burn-flex-[^/]*/src/ops/(\w+)\.rs")
DATA = re.compile(r"host-trainer/src/data/")
ALLOC = re.compile(r"malloc|free|memset|calloc|realloc|FlexTensor::empty|_int_|alloc::alloc")
COPY = re.compile(r"memcpy|memmove")
IDLE = re.compile(r"wait_until|sleep|futex|sched_yield|Condvar|park|steal|rayon_core::registry")


def categorize(frames, chains):
    leaf_sym = frames[0][2] if frames else ""
    kernel = bool(frames) and frames[0][0] == "kernel"
    gemm = False
    for i, (kind, ip, sym) in enumerate(frames):
        if kind != "bin":
            if i == 0 and COPY.search(sym):
                return "copies (memcpy)"
            if i == 0 and ALLOC.search(sym):
                return "allocation + zeroing"
            continue
        chain = chains.get(lookup_address(i, ip), [])
        for func, loc in chain:
            if "gemm" in loc.split("/src/")[0] or func.startswith("gemm"):
                gemm = True
                continue
            if i == 0 and ALLOC.search(func) and "burn-flex" not in loc:
                return "allocation + zeroing"
            if "FlexTensor::empty" in func or "FlexTensor>::zeros" in func:
                return "allocation + zeroing"
            m = OPS.search(loc)
            if m:
                return f"gemm ({m.group(1)}.rs)" if gemm else f"{m.group(1)}.rs"
            if DATA.search(loc):
                return "data + augmentation"
        if IDLE.search(sym) and i < 3:
            return "rayon idle/sync"
    if kernel:
        return "kernel (page faults, scheduling)"
    if IDLE.search(leaf_sym):
        return "rayon idle/sync"
    return "gemm (caller unknown)" if gemm else "other"


def phase(frames):
    syms = " ".join(s for _, _, s in frames)
    if "training::evaluate" in syms or "evaluation::" in syms:
        return "validation and test evaluation"
    if re.search(r"burn_autodiff.*(backward|Backward)|GradientsParams|Gradients::", syms):
        return "backward"
    if re.search(r"optim|Adam|Optimizer", syms):
        return "optimizer step"
    if DATA.search(syms) or "host_trainer::data" in syms:
        return "data + augmentation"
    if "host_trainer::training::train" in syms or "host_trainer::training::step" in syms:
        return "forward (and the step's bookkeeping)"
    return "outside the epoch loop"


TRAINING_PHASES = ("forward (and the step's bookkeeping)", "backward", "optimizer step", "data + augmentation")
BACKEND_OP = re.compile(r"(ModuleOps|FloatTensorOps|IntTensorOps|BoolTensorOps|ActivationOps)\b.*::(\w+)$")


def burn_op(frames):
    """The outermost burn backend operation on a main-thread stack (e.g. conv2d_weight_backward)."""
    name = None
    for _, _, sym in frames:
        m = BACKEND_OP.search(sym)
        # Skip autodiff's own step/backward wrappers: the operation they run is named inside.
        if m and m.group(2) not in ("backward", "step"):
            name = m.group(2)
    return name or "(none: host-trainer, autodiff bookkeeping)"


def main():
    a, cmd = parse_args()
    binary = os.path.realpath(cmd[0])
    if a.data:
        all_samples = list(samples(a.data, binary))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "perf.data")
            record(cmd, a.freq, data)
            all_samples = list(samples(data, binary))
    if not all_samples:
        sys.exit("train_profile: perf recorded no samples")
    addrs = set()
    for _, frames in all_samples:
        for i, (kind, ip, _) in enumerate(frames):
            if kind == "bin":
                addrs.add(lookup_address(i, ip))
    chains = inline_chains(binary, addrs)
    # The process's first sample is the loader's, on the main thread.
    main_tid = all_samples[0][0]
    cats = collections.Counter()
    phases = collections.Counter()
    ops = collections.Counter()
    for tid, frames in all_samples:
        cats[categorize(frames, chains)] += 1
        if tid == main_tid:
            ph = phase(frames)
            phases[ph] += 1
            if ph in TRAINING_PHASES:
                ops[burn_op(frames)] += 1
    n = len(all_samples)
    sec = 1.0 / a.freq
    print(f"{n} samples at {a.freq} Hz ({n * sec:.1f} CPU s), command: {' '.join(cmd)}\n")
    print("| where | samples | share | CPU s |\n|---|---:|---:|---:|")
    rest = 0
    for i, (k, v) in enumerate(cats.most_common()):
        if i < a.top:
            print(f"| {k} | {v} | {100 * v / n:.1f}% | {v * sec:.1f} |")
        else:
            rest += v
    if rest:
        print(f"| (the rest) | {rest} | {100 * rest / n:.1f}% | {rest * sec:.1f} |")
    m = sum(phases.values())
    print(f"\nThe main thread ({m} samples, {m * sec:.1f} s), by phase. While it works, rayon's pool")
    print("waits, so these seconds run on one core; the pool's samples are the parallel work.\n")
    print("| phase | samples | CPU s |\n|---|---:|---:|")
    for k, v in phases.most_common():
        print(f"| {k} | {v} | {v * sec:.1f} |")
    t = sum(ops.values())
    print(f"\nThe main thread's training steps ({t} samples, {t * sec:.1f} s), by the outermost burn")
    print("backend operation on the stack:\n")
    print("| operation | samples | CPU s |\n|---|---:|---:|")
    for k, v in ops.most_common(a.top):
        print(f"| {k} | {v} | {v * sec:.1f} |")


if __name__ == "__main__":
    main()
