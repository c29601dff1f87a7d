#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS each (`make fuzz`; CI: `make fuzz FUZZ_SECONDS=30`).
# Works from a clean clone: installs cargo-fuzz if missing, builds all targets once, then fuzzes
# each one, printing libFuzzer's summary line (`#runs DONE cov: … exec/s: …`) per target and a
# final `fuzz: N targets, M crashes`. Exits 1 if any target crashed (its input is kept in
# fuzz/artifacts/<target>/), 2 if the targets do not build.
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  space-separated targets (default: every fuzz/fuzz_targets/*.rs)
#   CARGO         cargo binary (default cargo)
#
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
if [ -z "${FUZZ_TARGETS:-}" ]; then
    FUZZ_TARGETS=$(cd fuzz/fuzz_targets && ls -1 *.rs | sed 's/\.rs$//' | tr '\n' ' ')
fi
export RUSTC_BOOTSTRAP=1

if ! "$CARGO" fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    start=$SECONDS
    "$CARGO" install cargo-fuzz --locked
    echo "fuzz: cargo-fuzz installed in $((SECONDS - start)) s"
fi

mkdir -p fuzz/logs
# One build of every target up front, so that build time never eats into the fuzzing time and a
# build failure is not mistaken for a crash.
echo "fuzz: building the targets ($("$CARGO" fuzz --version))"
start=$SECONDS
: >fuzz/logs/build.log
for t in $FUZZ_TARGETS; do
    if ! "$CARGO" fuzz build "$t" >>fuzz/logs/build.log 2>&1; then
        tail -n 40 fuzz/logs/build.log
        echo "fuzz: target $t does not build (log: fuzz/logs/build.log)" >&2
        exit 2
    fi
done
echo "fuzz: built in $((SECONDS - start)) s"

total=0
crashed=()
start_all=$SECONDS
for t in $FUZZ_TARGETS; do
    total=$((total + 1))
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
    dict=()
    [ ! -f "fuzz/dicts/$t.dict" ] || dict=("-dict=fuzz/dicts/$t.dict")
    log="fuzz/logs/$t.log"
    start=$SECONDS
    if "$CARGO" fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=4096 "${dict[@]}" >"$log" 2>&1; then
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
        echo "  $t: ${done_line:-finished (no DONE line, see $log)} [$((SECONDS - start)) s]"
    else
        tail -n 40 "$log"
        echo "  $t: CRASHED after $((SECONDS - start)) s (input in fuzz/artifacts/$t/, log: $log)"
        crashed+=("$t")
    fi
done

echo "fuzz: $total targets, ${#crashed[@]} crashes ($((SECONDS - start_all)) s)"
if [ ${#crashed[@]} -gt 0 ]; then
    echo "fuzz: crashed: ${crashed[*]}; once fixed, copy each input into fuzz/regressions/<target>/" >&2
    exit 1
fi
