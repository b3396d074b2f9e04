#!/usr/bin/env bash
# The benchmark suite in one command: installs the load tools it needs (wrk and
# nginx from Debian, oha from crates.io), builds cohort in release mode, runs
# every scenario against a real `cohort serve` with its floors measured in the
# same run, and writes BENCHMARKS.md.
#
#   bash bench/run.sh             # the full plan (about 15 minutes, several GB of disk)
#   bash bench/run.sh --smoke     # tiny data, one short round each (what CI runs)
#   bash bench/run.sh --skip-huge # leave out the 1,000,000-user data set
#
# Extra arguments go to `cohort-bench run` (see `cohort-bench run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

smoke=false
rest=()
for arg in "$@"; do
    if [ "$arg" = "--smoke" ]; then smoke=true; else rest+=("$arg"); fi
done

if $smoke; then
    # No installs, no release build: exercise the harness with what is there.
    cargo build --quiet -p cohort -p cohort-bench
    exec "$target/debug/cohort-bench" run --smoke --cohort "$target/debug/cohort" \
        --work "$target/bench-smoke" --out "$target/bench-smoke/BENCHMARKS.md" "${rest[@]}"
fi

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    apt-get update -qq && apt-get install -y -qq wrk nginx-light
fi
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet -p cohort -p cohort-bench
"$target/release/cohort-bench" run --cohort "$target/release/cohort" --work "$target/bench" --out BENCHMARKS.md "${rest[@]}"
