#!/usr/bin/env bash
# Every test cohort has, in one command:
#   formatting and lints, the rule that `cohort-core` pulls in no I/O crates,
#   unit and property tests, black-box tests against real `cohort` processes,
#   and the official Zulip Python client (installed from PyPI into a venv).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
venv="$target/test-venv"

echo "== official clients"
if ! "$venv/bin/python" -c "import zulip" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "zulip==0.9.1"
fi
export COHORT_PYTHON="$PWD/$venv/bin/python"
[[ "$venv" = /* ]] && export COHORT_PYTHON="$venv/bin/python"

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

echo "== tests"
cargo test --workspace
