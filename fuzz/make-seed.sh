#!/usr/bin/env bash
# Regenerates fuzz/seeds/bundle-current: a small current-format evidence bundle for the
# `bundle_current` fuzz target, exported by the real CLI from `gavel demo` data.
#
# The demo runs 3 simulated days ending now; the bundle is the period [yesterday, today), UTC.
# The demo creates its users and agents on its first day (always before yesterday), so the
# bundle has a context.jsonl (their identity events, with inclusion proofs) besides the
# period's events: the checks bundle format gavel-evidence/5 adds are all exercised.
#
# Deterministic enough: the same seed and calls per day give the same kinds of activity; the
# times (and so the hashes and keys) differ from run to run. The fuzz target reads whatever
# files are in the directory, so a regenerated seed needs no code change; its committed corpus
# still helps (the inputs pick files and JSON nodes by index) but may want a fresh `cmin`.
#
# Regenerate when a format or renderer change makes the seed stop verifying (the target checks
# it verifies before fuzzing and says so).
#
# Usage: fuzz/make-seed.sh [gavel binary; default: target/debug/gavel, built first]
set -euo pipefail
cd "$(dirname "$0")/.."

gavel=${1:-}
if [ -z "$gavel" ]; then
  CARGO_INCREMENTAL=0 cargo build -q -p gavel-cli --bin gavel
  gavel=target/debug/gavel
fi

out=fuzz/seeds/bundle-current
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

# 3 days, 6 tool calls a day: tens of events in the exported day, ~190 KB of files in all.
"$gavel" demo --data-dir "$data/d" --days 3 --calls-per-day 6 --seed 7 --org fuzz >/dev/null
from=$(date -u -d yesterday +%F)
to=$(date -u +%F)
"$gavel" evidence export --data-dir "$data/d" --from "$from" --to "$to" --out "$data/bundle" >/dev/null
"$gavel" evidence verify "$data/bundle" >/dev/null
# Replaced only once the new bundle verifies.
rm -rf "$out"
cp -r "$data/bundle" "$out"
echo "wrote $out: $(wc -l <"$out/events.jsonl") event(s), $(wc -l <"$out/context.jsonl") context event(s)"
