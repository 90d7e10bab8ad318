#!/usr/bin/env bash
# Runs a firmware ELF on QEMU's mps2-an386 (Cortex-M4F). Instruction counting: with
# `-icount shift=0` every instruction takes 1 ns of virtual time, so timer readings are
# deterministic. The firmware's exit code comes back through semihosting.
# QEMU_TIMEOUT: wall-clock seconds before QEMU is stopped (exit 124); the default covers
# cnn-edge on all 10,000 test images (about 290 s on an idle core) several times over.
set -euo pipefail
exec timeout "${QEMU_TIMEOUT:-1800}" qemu-system-arm \
  -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native \
  -icount shift=0,align=off,sleep=off \
  -kernel "$1"
