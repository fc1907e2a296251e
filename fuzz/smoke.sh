#!/usr/bin/env bash
# Fuzz smoke for CI: builds every cargo-fuzz target and runs each for a short time over its
# committed corpus (fuzz/corpus/<target>), failing on any crash, panic, timeout or leak report.
# Every target is `cargo fuzz list`'s (policy, decide, note, merkle, canonical, bundle,
# bundle_current, strict_json): a new [[bin]] in Cargo.toml is smoked with no change here, and
# needs its corpus/<target> committed.
#
# Runs on the stable toolchain: `--sanitizer none` keeps cargo-fuzz from passing
# `-Zsanitizer=address`, the only nightly-only flag it adds; coverage instrumentation
# (`-Cpasses=sancov-module`, `-Cllvm-args=...`) is stable. With a sanitizer, prefix
# RUSTC_BOOTSTRAP=1 (ASan then needs the nightly-only -Z flag; not used here).
#
# Usage: fuzz/smoke.sh [seconds per target, default 20] [target ...]
# Longer runs of one target: see docs/development.md ("Fuzzing").
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=${1:-20}
shift || true
export CARGO_INCREMENTAL=0

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

FLAGS=(--sanitizer none)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

started=$(date +%s)
echo "== cargo fuzz build ${FLAGS[*]}"
cargo fuzz build "${FLAGS[@]}"
echo "   built in $(( $(date +%s) - started )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "artifacts/$t"
  # New inputs go to the scratch directory (first); the committed corpus is only read.
  # -timeout: one input running longer than 10 s is a hang and a failure.
  if cargo fuzz run "${FLAGS[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$scratch/$t.log" 2>&1; then
    echo "ok   $t: $(grep -E '^stat::number_of_executed_units' "$scratch/$t.log" | awk '{print $2}') runs, $(grep -oE 'cov: [0-9]+' "$scratch/$t.log" | tail -1)"
  else
    failed=1
    echo "FAIL $t"
    tail -n 60 "$scratch/$t.log"
    ls -l "artifacts/$t"
  fi
done
echo "== fuzz smoke: $(( $(date +%s) - started )) s"
exit $failed
