#!/usr/bin/env bash
# Every test cohort has, in one command:
#   formatting and lints, the rule that `cohort-core` pulls in no I/O crates,
#   unit and property tests, black-box tests against real `cohort` processes,
#   fuzzing every parser for a few seconds each (cargo-fuzz),
#   the official Zulip Python client (installed from PyPI into a venv) and
#   axios (from npm) against the IMKIT face, zulip-js (npm) against Zulip's
#   events API, eventsource (npm) against the event stream, the admin page
#   in Debian's Chromium (apt) driven by playwright-core with axe-core (npm),
#   the SCIM conformance testers
#   (scim2-tester and scim-sanity, from PyPI) against the SCIM face,
#   openapi-spec-validator (PyPI) on the native API's OpenAPI document, the
#   multi-node PostgreSQL tests,
#   then the black-box suites again on PostgreSQL (a fresh database per test,
#   dropped afterwards). Without PostgreSQL (outside CI) those runs are skipped
#   and the summary at the end says so.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
[[ "$target" = /* ]] || target="$PWD/$target"
venv="$target/test-venv"
scim_venv="$target/scim-venv"
openapi_venv="$target/openapi-venv"
node_dir="$target/test-node"

# The pinned client versions; the tests that use them check they got these.
zulip_version="0.9.1"
axios_version="1.21.1"
eventsource_version="4.1.1"
zulip_js_version="2.1.0"
# The browser tests of the admin page (tests/ui_browser.rs): Playwright's
# driver without its browser downloads (Debian's Chromium is used), and axe.
playwright_version="1.65.1"
axe_version="4.14.1"
# The SCIM testers generate their checks from scim2-models, so a new release
# of any of these changes the checks: all are pinned (httpx2 is the HTTP
# backend scim2-client's `httpx2` extra pulls in).
scim_pins=(scim2-tester==0.5.2 scim2-cli==0.6.0 scim2-client==0.13.2 scim2-models==0.12.3 scim-sanity==0.7.4 httpx2==2.16.2)
# The OpenAPI validator decides what the native API's document must be, so
# it is pinned too (its latest release; it validates OpenAPI 3.1).
openapi_pins=(openapi-spec-validator==0.9.0)
skipped=()

echo "== official clients"
# Cached under the target directory, reinstalled whenever the pin changes.
installed=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('zulip'))" 2>/dev/null || true)
if [ "$installed" != "$zulip_version" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "zulip==$zulip_version"
fi
export COHORT_PYTHON="$venv/bin/python"
installed=$(node -p "['axios', 'eventsource', 'zulip-js', 'playwright-core', 'axe-core'].map(p => require('$node_dir/node_modules/' + p + '/package.json').version).join(' ')" 2>/dev/null || true)
if [ "$installed" != "$axios_version $eventsource_version $zulip_js_version $playwright_version $axe_version" ]; then
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    npm install --silent --no-save --no-audit --no-fund --prefix "$node_dir" "axios@$axios_version" "eventsource@$eventsource_version" "zulip-js@$zulip_js_version" \
        "playwright-core@$playwright_version" "axe-core@$axe_version"
fi
export COHORT_NODE_PATH="$node_dir/node_modules"
# Debian's Chromium for the browser tests (the test fails without it in CI).
chromium="${COHORT_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ] && [ "$chromium" = /usr/bin/chromium ]; then
    echo "== installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium
fi
export COHORT_CHROMIUM="$chromium"
# The SCIM testers, in their own venv (their dependencies stay apart from the
# Zulip client's), reinstalled whenever a pin changes.
installed=$("$scim_venv/bin/python" - "${scim_pins[@]}" 2>/dev/null <<'PY' || true
import importlib.metadata as m, sys
print(" ".join(f"{p.split('==')[0]}=={m.version(p.split('==')[0])}" for p in sys.argv[1:]))
PY
)
if [ "$installed" != "${scim_pins[*]}" ]; then
    rm -rf "$scim_venv"
    python3 -m venv "$scim_venv"
    "$scim_venv/bin/pip" install --quiet --disable-pip-version-check \
        "${scim_pins[@]/#scim2-client==/scim2-client[httpx2]==}"
fi
export COHORT_SCIM_VENV="$scim_venv"
# The OpenAPI validator, in its own venv too, reinstalled whenever its pin changes.
installed=$("$openapi_venv/bin/python" - "${openapi_pins[@]}" 2>/dev/null <<'PY' || true
import importlib.metadata as m, sys
print(" ".join(f"{p.split('==')[0]}=={m.version(p.split('==')[0])}" for p in sys.argv[1:]))
PY
)
if [ "$installed" != "${openapi_pins[*]}" ]; then
    rm -rf "$openapi_venv"
    python3 -m venv "$openapi_venv"
    "$openapi_venv/bin/pip" install --quiet --disable-pip-version-check "${openapi_pins[@]}"
fi
export COHORT_OPENAPI_VENV="$openapi_venv"

echo "== formatting"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== the core stays pure (no runtime, database, HTTP or JSON crates)"
# By crate family: `tokio-util`, `hyper-util`, `libsqlite3-sys`, `postgres-types`...
forbidden='^(tokio|axum|hyper|h2|tower|mio|socket2|rusqlite|libsqlite3|sqlx|postgres|tokio-postgres|deadpool|serde_json|reqwest)([-_][a-z0-9_-]+)? v'
if ! tree=$(cargo tree -p cohort-core -e normal --prefix none); then
    echo "cargo tree failed: cannot tell what cohort-core depends on" >&2
    exit 1
fi
if grep -E "$forbidden" <<<"$tree"; then
    echo "cohort-core depends on an infrastructure crate (above)" >&2
    exit 1
fi

echo "== tests (SQLite; the multi-node PostgreSQL tests are ignored here)"
cargo test --workspace

pg="${COHORT_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
if psql "$pg/postgres" -q -c "SELECT 1" >/dev/null 2>&1; then
    echo "== the multi-node PostgreSQL tests"
    cargo test -p cohort --test postgres -- --include-ignored
    echo "== the black-box suites on PostgreSQL"
    COHORT_TEST_STORE=postgres cargo test -p cohort \
        --test zulip_protocol --test zulip_groups --test zulip_permissions --test zulip_users \
        --test zulip_python_client --test zulip_js --test imkit --test imkit_axios --test durability --test cli --test store_ops --test log_secrets \
        --test scim --test scim_testers --test native --test origins --test ui --test ui_browser \
        --test rate_limits --test tls --test proxy --test connections --test cross_realm --test rotation
elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is not reachable at $pg: CI requires it" >&2
    exit 1
else
    skipped+=("the multi-node PostgreSQL tests (tests/postgres.rs)")
    skipped+=("the black-box suites on PostgreSQL")
    skipped+=("the PostgreSQL kill matrix (tests/crash_matrix.rs)")
    echo "!!! PostgreSQL is NOT reachable at $pg: the PostgreSQL runs are SKIPPED."
fi

echo "== fuzzing every parser, briefly (scripts/fuzz.sh --long for the reported runs)"
bash scripts/fuzz.sh --seconds 10

echo "== the benchmark harness in smoke mode (tiny data; timings are reported, never asserted)"
bash bench/run.sh --smoke

echo "== summary"
if [ ${#skipped[@]} -eq 0 ]; then
    echo "everything ran and passed"
else
    echo "passed, but SKIPPED (not passed):"
    for what in "${skipped[@]}"; do
        echo "  - $what"
    done
fi
