#!/usr/bin/env bash
# Runs one fuzz target for SECONDS with one job (libFuzzer through
# cargo-fuzz; the stable toolchain with RUSTC_BOOTSTRAP=1, no sanitizer,
# debug assertions on), then prints the executions and coverage.
#
#   scripts/fuzz.sh TARGET SECONDS     (targets: fuzz/fuzz_targets/*.rs)
#
# The committed seeds in fuzz/corpus/TARGET are read, not written: new
# inputs go to target/fuzz/corpus/TARGET; a crash is saved under
# fuzz/artifacts/TARGET/ and the script fails. CI does not fuzz; it replays
# fuzz/corpus/ through the same functions (tests/fuzz_corpus.rs).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 TARGET SECONDS" >&2
    echo "targets: $(cd "$(dirname "$0")/../fuzz/fuzz_targets" && ls | sed 's/\.rs$//' | tr '\n' ' ')" >&2
    exit 2
fi
target=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$root/fuzz/fuzz_targets/$target.rs" ]; then
    echo "$0: no fuzz target \`$target\` (fuzz/fuzz_targets/$target.rs)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

work="$root/target/fuzz/corpus/$target"
log="$root/target/fuzz/$target.log"
mkdir -p "$work" "$root/fuzz/corpus/$target" "$root/fuzz/artifacts/$target"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --debug-assertions --release)
cargo fuzz build "${flags[@]}" "$target"
echo "fuzzing $target for ${seconds}s (log: $log)" >&2
status=0
cargo fuzz run "${flags[@]}" "$target" "$work" "$root/fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?

# the last status line (`#N DONE cov: C ft: F corp: ...`) and the final stats
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
echo "target: $target"
echo "seconds: $seconds"
echo "executions: ${execs:-?}"
echo "exec/s: ${rate:-?}"
echo "coverage: cov ${cov:-?} ft ${ft:-?}"
echo "corpus: ${corp:-?}"
echo "peak RSS MB: ${rss:-?}"
if [ "$status" -ne 0 ]; then
    echo "FAILED (exit $status): crash, hang or out-of-memory; see $log and fuzz/artifacts/$target/" >&2
    grep -E '^(==[0-9]+==|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" >&2 || true
    exit "$status"
fi
