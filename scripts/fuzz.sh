#!/usr/bin/env bash
# Fuzzes every parser target in fuzz/ with cargo-fuzz (libFuzzer) and fails
# on any crash, timeout or memory blow-up. See docs/SECURITY.md, "Fuzzing
# the parsers".
#
#   scripts/fuzz.sh                      every target for 15 s (CI)
#   scripts/fuzz.sh --seconds 60         every target for 60 s
#   scripts/fuzz.sh --long               every target for 600 s, one at a time
#   scripts/fuzz.sh --target scim_filter --long
#   scripts/fuzz.sh --cmin               minimise the committed corpus in place
#
# The committed corpus (fuzz/corpus/<target>/) seeds each run; new inputs go
# to a working corpus under $FUZZ_WORK (kept between runs), never into the
# repository. Crash inputs land in $FUZZ_WORK/artifacts/<target>/; add one
# to fuzz/corpus/<target>/ once fixed, so the corpus replay test
# (`cargo test -p cohort-server --lib fuzzing`) keeps it passing.
#
# The toolchain is stable Rust: cargo-fuzz's instrumentation flags need
# RUSTC_BOOTSTRAP=1 there, and the targets are built without a sanitizer
# (-s none; everything under test is safe Rust). cargo-fuzz is installed,
# at the pinned version, when missing.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=15
TIMEOUT_SECS=5
RSS_LIMIT_MB=2048
MAX_LEN=8192
CMIN=0
ONLY=()

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --long) SECONDS_PER_TARGET=600; shift ;;
    --target) ONLY+=("$2"); shift 2 ;;
    --cmin) CMIN=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ_DIR="$ROOT/fuzz"
# A target directory of its own: instrumented builds use other flags than the
# workspace's, and sharing one would rebuild both every time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
FUZZ_WORK="${FUZZ_WORK:-$CARGO_TARGET_DIR/work}"
export RUSTC_BOOTSTRAP=1

# A missing C++ compiler (libFuzzer is C++) or cargo is a failure, never a skip.
for tool in cargo c++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fuzz.sh: $tool is required and missing" >&2
    exit 1
  fi
done

installed="$(cargo fuzz --version 2>/dev/null || true)"
if [ "$installed" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (found: ${installed:-none})"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd "$FUZZ_DIR"
if [ ${#ONLY[@]} -gt 0 ]; then
  TARGETS=("${ONLY[@]}")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi
if [ ${#TARGETS[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi

echo "fuzz.sh: building ${#TARGETS[@]} targets"
cargo fuzz build -s none

if [ "$CMIN" = 1 ]; then
  for target in "${TARGETS[@]}"; do
    before="$(ls "corpus/$target" | wc -l)"
    cargo fuzz cmin -s none "$target" "corpus/$target" -- -max_len="$MAX_LEN" >/dev/null 2>&1
    echo "fuzz.sh: $target: corpus $before -> $(ls "corpus/$target" | wc -l) files"
  done
  exit 0
fi

failed=()
printf '%-20s %12s %8s %12s %10s %s\n' target execs exec/s corpus peak_rss result
for target in "${TARGETS[@]}"; do
  seeds="corpus/$target"
  if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
    echo "fuzz.sh: $seeds is missing or empty" >&2
    failed+=("$target")
    continue
  fi
  work="$FUZZ_WORK/corpus/$target"
  artifacts="$FUZZ_WORK/artifacts/$target"
  log="$FUZZ_WORK/logs/$target.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  dict=()
  if [ -f "dict/$target.dict" ]; then dict=(-dict="dict/$target.dict"); fi
  status=0
  cargo fuzz run -s none "$target" "$work" "$seeds" -- "${dict[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT_SECS" \
    -rss_limit_mb="$RSS_LIMIT_MB" -max_len="$MAX_LEN" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  stat() { grep -o "^stat::$1: *[0-9]*" "$log" | grep -o '[0-9]*$' | tail -1; }
  # libFuzzer's own count: units kept / their bytes (the directory also keeps
  # inputs it has since reduced).
  corpus="$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)"
  result=ok
  if [ "$status" != 0 ]; then
    result="FAILED (exit $status; see $log and $artifacts)"
    failed+=("$target")
  fi
  printf '%-20s %12s %8s %12s %8sMB %s\n' "$target" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "$corpus" "$(stat peak_rss_mb)" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  for target in "${failed[@]}"; do
    tail -30 "$FUZZ_WORK/logs/$target.log" >&2 2>/dev/null || true
  done
  exit 1
fi
echo "fuzz.sh: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each: no crash, timeout or memory blow-up"
