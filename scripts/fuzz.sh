#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (blob, idx, onnx) from their committed corpora
# (below; copied, so the tree is not changed).
# Fails on any crash, panic, hang (-timeout) or out-of-memory (-rss_limit_mb).
#
#   bash scripts/fuzz.sh                  # every target for 60 s (what .ci/run does)
#   bash scripts/fuzz.sh -t 600 onnx      # one target for 10 minutes
#   bash scripts/fuzz.sh -r 10000000 idx  # one target for ten million executions
#   SANITIZER=none bash scripts/fuzz.sh   # without AddressSanitizer (faster)
#   bash scripts/fuzz.sh -k /tmp/grown idx # keep the grown corpus in /tmp/grown/idx
#
# Each run starts from fuzz/corpus/<target> (the seeds scripts/fuzz_seeds.py writes) and
# fuzz/corpus-found/<target>: what long runs found, minimized. For blob, the whole minimized
# corpus of the 10-million-execution run (`SANITIZER=none bash scripts/fuzz.sh -r 10000000 -k
# /tmp/grown blob`, then `cargo +nightly fuzz cmin -O --sanitizer none blob /tmp/grown/blob`);
# for onnx, the inputs under 2 KB of the same for onnx (the rest is 12 MB).
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz --locked`); .ci/run installs both. Builds go to
# $FUZZ_TARGET_DIR (default ~/.cache/fmnist-edge/fuzz-target).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=60
runs=""
keep=""
while getopts "t:r:k:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    r) runs=$OPTARG ;;
    k) keep=$OPTARG ;;
    *) echo "usage: $0 [-t seconds | -r executions] [-k keep-dir] [target ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(blob idx onnx)
sanitizer=${SANITIZER:-address}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/fmnist-edge/fuzz-target}
for t in "${targets[@]}"; do
  cargo +nightly fuzz build -O --sanitizer "$sanitizer" "$t"
done
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  [ ! -d "corpus-found/$t" ] || cp -r "corpus-found/$t/." "$work/"
  limit=(-max_total_time="$seconds")
  [ -z "$runs" ] || limit=(-runs="$runs")
  log="$work/fuzz.log"
  if [ -n "$runs" ]; then what="$runs executions"; else what="$seconds s"; fi
  echo "== fuzz $t ($what, sanitizer $sanitizer)"
  set +e
  cargo +nightly fuzz run -O --sanitizer "$sanitizer" "$t" "$work" -- \
    "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz $t: FAILED (exit $rc); the input that failed is under fuzz/artifacts/$t/" >&2
    status=1
  fi
  if [ -n "$keep" ]; then
    mkdir -p "$keep/$t"
    find "$work" -maxdepth 1 -type f ! -name fuzz.log -exec cp {} "$keep/$t/" \;
  fi
  rm -rf "$work"
done
exit "$status"
