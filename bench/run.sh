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
# The hostile load (a million malformed, oversized, slow and pipelined
# requests with valid writes in between; fails unless cohort comes through):
#   target/release/cohort-bench hostile --cohort target/release/cohort --work /tmp/hostile
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

# The peer of the `scim` scenario: scim2-server from PyPI, pinned, in a venv
# in the target directory (like the test venvs of scripts/test.sh). Without
# python3 -m venv or the network, the scenario measures cohort alone.
scim_version=0.8.3
venv="$target/scim-peer-venv"
installed=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('scim2-server'))" 2>/dev/null || true)
if [ "$installed" != "$scim_version" ]; then
    rm -rf "$venv"
    if python3 -m venv "$venv" 2>/dev/null; then
        "$venv/bin/pip" install --quiet --disable-pip-version-check "scim2-server==$scim_version" ||
            echo "bench/run.sh: could not install scim2-server; the scim scenario runs without its peer" >&2
    fi
fi
export COHORT_BENCH_SCIM_PEER="$venv/bin/scim2-server"

if $smoke; then
    # No installs, no release build: exercise the harness with what is there.
    cargo build --quiet -p cohort -p cohort-bench
    # Hostile load, briefly: fails unless cohort comes through whole (the
    # reported run sends 1,000,000: see BENCHMARKS.md).
    "$target/debug/cohort-bench" hostile --cohort "$target/debug/cohort" \
        --work "$target/bench-smoke/hostile" --requests 20000 --slow 16 --idle 300 \
        --serve-arg=--header-timeout-secs=2 \
        --rss-tolerance 0.25
    exec "$target/debug/cohort-bench" run --smoke --cohort "$target/debug/cohort" \
        --work "$target/bench-smoke" --out "$target/bench-smoke/BENCHMARKS.md" "${rest[@]}"
fi

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    apt-get update -qq && apt-get install -y -qq wrk nginx-light
fi
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet -p cohort -p cohort-bench
"$target/release/cohort-bench" run --cohort "$target/release/cohort" --work "$target/bench" --out BENCHMARKS.md "${rest[@]}"
