#!/usr/bin/env bash
# Every test cohort has, in one command:
#   formatting and lints, the rule that `cohort-core` pulls in no I/O crates,
#   unit and property tests, black-box tests against real `cohort` processes,
#   the official Zulip Python client (installed from PyPI into a venv) and
#   axios (from npm) against the IMKIT face, then the black-box suites again on
#   PostgreSQL (a fresh database per test, dropped afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
[[ "$target" = /* ]] || target="$PWD/$target"
venv="$target/test-venv"
node_dir="$target/test-node"

echo "== official clients"
if ! "$venv/bin/python" -c "import zulip" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "zulip==0.9.1"
fi
export COHORT_PYTHON="$venv/bin/python"
if [ ! -d "$node_dir/node_modules/axios" ]; then
    mkdir -p "$node_dir"
    npm install --silent --no-save --no-audit --no-fund --prefix "$node_dir" "axios@1"
fi
export COHORT_NODE_PATH="$node_dir/node_modules"

echo "== formatting"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== the core stays pure (no runtime, database, HTTP or JSON crates)"
forbidden='^(tokio|axum|hyper|rusqlite|tokio-postgres|serde_json|reqwest) '
if cargo tree -p cohort-core -e normal --prefix none | grep -E "$forbidden"; then
    echo "cohort-core depends on an infrastructure crate (above)" >&2
    exit 1
fi

echo "== tests (SQLite, and the multi-node PostgreSQL tests)"
cargo test --workspace

echo "== the black-box suites on PostgreSQL"
pg="${COHORT_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
if psql "$pg/postgres" -q -c "SELECT 1" >/dev/null 2>&1; then
    COHORT_TEST_STORE=postgres cargo test -p cohort \
        --test zulip_protocol --test zulip_groups --test zulip_permissions --test zulip_users \
        --test zulip_python_client --test imkit --test imkit_axios --test durability --test cli --test store_ops
elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is not reachable at $pg: CI requires it" >&2
    exit 1
else
    echo "!!!"
    echo "!!! PostgreSQL is NOT reachable at $pg: the PostgreSQL runs were SKIPPED."
    echo "!!!"
fi

echo "== the benchmark harness in smoke mode (tiny data; timings are reported, never asserted)"
bash bench/run.sh --smoke
