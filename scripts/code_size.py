#!/usr/bin/env python3
"""Which source file each byte of a firmware's code comes from, inlining included.

Every instruction of the ELF's .text (llvm-objdump from rustup's llvm-tools) is looked up with
`addr2line -i` (binutils), which lists the chain of functions inlined at that address. A byte
counts for infer-core when any frame of its chain is in infer-core's sources, and then for the
outermost kernel file of the chain (kernels/<op>.rs, kernels/arm/<kernel>.rs; the chooser
select.rs only when no kernel frame is there), else for the outermost infer-core file (parse.rs,
interpreter.rs, ...). So core-library code inlined into a kernel (iterators, slice indexing)
counts for the kernel, as it would not exist without it. Bytes with no infer-core frame count as
the firmware's (firmware-example's own sources) or the rest's (runtime, formatting, builtins).

Usage: python3 scripts/code_size.py ELF  (prints bytes per file; device_report.py imports it)
"""

import collections
import glob
import os
import re
import subprocess
import sys


def llvm_tool(name):
    """The path of one of rustup's llvm-tools (llvm-objdump, llvm-size, ...)."""
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True).stdout.strip()
    found = glob.glob(os.path.join(sysroot, "lib", "rustlib", "*", "bin", name))
    if not found:
        raise SystemExit(f"{name} not found: rustup component add llvm-tools")
    return found[0]


def _instruction_sizes(elf):
    """Address -> size in bytes of every instruction in .text (Thumb: 2 or 4)."""
    out = subprocess.run(
        [llvm_tool("llvm-objdump"), "-d", "--no-show-raw-insn", "-j", ".text", elf], capture_output=True, text=True, check=True
    ).stdout
    addrs = [int(m.group(1), 16) for m in re.finditer(r"^\s+([0-9a-f]+):\s", out, re.M)]
    # The last instruction of each function is followed by the next function's first (sizes up
    # to 8 cover every Thumb-2 instruction and the odd literal word).
    return {a: b - a for a, b in zip(addrs, addrs[1:]) if 0 < b - a <= 8}


def _key(files):
    engine = [f.split("/infer-core/src/")[1].rsplit(":", 1)[0] for f in files if "/infer-core/src/" in f]
    if engine:
        kernels = [f for f in engine if f.startswith("kernels/") and f != "kernels/select.rs"]
        # addr2line lists the innermost frame first: the last match is the outermost.
        return "infer-core/" + (kernels[-1] if kernels else engine[-1])
    if any("/firmware-example/" in f for f in files):
        return "firmware"
    return "rest"


def attribute(elf):
    """Bytes of .text per key: `infer-core/<file>`, `firmware` or `rest`."""
    sizes = _instruction_sizes(elf)
    query = "".join(f"{a:#x}\n" for a in sizes)
    out = subprocess.run(
        ["addr2line", "-e", elf, "-i", "-f", "-a"], input=query, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    totals = collections.Counter()
    addr, frames = None, []
    # Per address: the address line, then (function, file:line) pairs, innermost first.
    for line in out + ["0x0"]:
        if re.fullmatch(r"0x[0-9a-f]+", line):
            if addr is not None:
                totals[_key(frames[1::2])] += sizes.get(addr, 0)
            addr, frames = int(line, 16), []
        else:
            frames.append(line)
    return totals


def engine_bytes(totals):
    return sum(v for k, v in totals.items() if k.startswith("infer-core/"))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    totals = attribute(sys.argv[1])
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{v:8,} {k}")
    print(f"{engine_bytes(totals):8,} infer-core in all, of {sum(totals.values()):,} bytes of code")


if __name__ == "__main__":
    main()
