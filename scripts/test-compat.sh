#!/usr/bin/env bash
# Usage: scripts/test-compat.sh SERVER...   (what `make test-compat [SERVERS="..."]` runs)
#
# Runs the whole suite (`cargo test --workspace --no-fail-fast`, then the NumPy interop test) against each SERVER
# (a name scripts/fetch-servers.sh knows, fetched into .cache/SERVER), one after the other. Prints a
# header and a one-line summary per server, then a table of all of them. Every server runs even when an
# earlier one failed; exits 1 if any failed. Full output per server: target/test-compat/SERVER.log.
#
# Environment: NDARRAY_MODULE (the built module, as for `make test`), CARGO (default cargo),
# INTEROP_PYTHON (the venv's python; the interop test is skipped when unset), INTEROP_TEST,
# PYTEST_DIR (python/: the Python client's pytest suite runs with INTEROP_PYTHON when set).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo=${CARGO:-cargo}
interop_test=${INTEROP_TEST:-$root/tests/interop/numpy_interop.py}
logs=$root/target/test-compat
[ $# -gt 0 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
mkdir -p "$logs"

rows=()
failed=0

# Sums the counts of cargo's `test result:` lines in LOG: prints "PASSED FAILED IGNORED".
cargo_counts() {
    awk '/^test result:/ { for (i = 1; i < NF; i++) {
             if ($(i + 1) ~ /^passed/) p += $i; if ($(i + 1) ~ /^failed/) f += $i; if ($(i + 1) ~ /^ignored/) g += $i } }
         END { printf "%d %d %d\n", p, f, g }' "$1"
}

for name in "$@"; do
    dir=$root/.cache/$name
    log=$logs/$name.log
    start=$SECONDS
    echo
    echo "=================== compat $name ==================="
    : > "$log"
    ok=1
    cargo_summary="not run"
    interop_summary="not run"
    pytest_summary="not run"
    version="?"
    if "$root/scripts/fetch-servers.sh" "$name" "$dir" 2>&1 | tee -a "$log"; then
        version=$("$dir/redis-server" --version | tr ' ' '\n' | sed -n 's/^v=//p')
        echo "compat $name: $("$dir/redis-server" --version)" | tee -a "$log"

        (cd "$root" && REDIS_SERVER="$dir/redis-server" REDIS_CLI="$dir/redis-cli" \
            "$cargo" test --workspace --no-fail-fast) 2>&1 | tee -a "$log"
        cargo_rc=${PIPESTATUS[0]}
        read -r passed failures ignored < <(cargo_counts "$log")
        cargo_summary="$passed passed, $failures failed, $ignored ignored"
        # A build error or a crashed test binary fails without a `test result:` line.
        [ "$cargo_rc" -eq 0 ] || { ok=0; [ "$failures" -gt 0 ] || cargo_summary+=" (cargo exited $cargo_rc)"; }

        if [ -z "${INTEROP_PYTHON:-}" ]; then
            interop_summary="skipped (no INTEROP_PYTHON)"
        elif [ ! -f "$interop_test" ]; then
            interop_summary="skipped (no $interop_test)"
        else
            echo "Running $interop_test against $name" | tee -a "$log"
            REDIS_SERVER="$dir/redis-server" "$INTEROP_PYTHON" "$interop_test" 2>&1 | tee "$log.interop"
            interop_rc=${PIPESTATUS[0]}
            cat "$log.interop" >> "$log"
            counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log.interop" | tail -n 1)
            rm -f "$log.interop"
            if [ "$interop_rc" -eq 0 ]; then
                interop_summary="ok (${counts:-no count})"
            else
                interop_summary="FAILED (${counts:-exit $interop_rc})"
                ok=0
            fi
        fi
        if [ -n "${PYTEST_DIR:-}" ] && [ -n "${INTEROP_PYTHON:-}" ]; then
            echo "Running the Python client's tests ($PYTEST_DIR) against $name" | tee -a "$log"
            (cd "$PYTEST_DIR" && REDIS_SERVER="$dir/redis-server" "$INTEROP_PYTHON" -m pytest -q -rs) 2>&1 | tee "$log.pytest"
            pytest_rc=${PIPESTATUS[0]}
            cat "$log.pytest" >> "$log"
            counts=$(grep -E '[0-9]+ (passed|failed)' "$log.pytest" | tail -n 1 | sed 's/=//g; s/^ *//; s/ in [0-9.]*s.*//')
            rm -f "$log.pytest"
            if [ "$pytest_rc" -eq 0 ]; then pytest_summary="ok (${counts:-no count})"; else pytest_summary="FAILED (${counts:-exit $pytest_rc})"; ok=0; fi
        fi
    else
        cargo_summary="fetch failed"
        ok=0
    fi
    elapsed=$((SECONDS - start))
    time=$(printf '%dm%02ds' $((elapsed / 60)) $((elapsed % 60)))
    result=ok
    [ "$ok" -eq 1 ] || { result=FAILED; failed=1; }
    echo "compat $name: $cargo_summary; interop: $interop_summary; python: $pytest_summary; $time; $result (log: $log)"
    rows+=("$(printf '%-11s %-8s %-42s %-30s %-34s %7s  %s' "$name" "$version" "$cargo_summary" "$interop_summary" "$pytest_summary" "$time" "$result")")
done

echo
echo "=================== compat summary ==================="
printf '%-11s %-8s %-42s %-30s %-34s %7s  %s\n' server version "cargo test" interop "python client" time result
printf '%s\n' "${rows[@]}"
exit "$failed"
