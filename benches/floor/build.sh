#!/usr/bin/env bash
# Builds benches/floor/floor.c into target/floor/libndfloor.so (printed), against the redismodule.h the
# redis-module crate ships (located through cargo metadata: the version Cargo.lock pins).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/target/floor/libndfloor.so
src=$root/benches/floor/floor.c
manifest=$(cd "$root" && ${CARGO:-cargo} metadata --format-version 1 --locked 2>/dev/null |
    python3 -c 'import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "redis-module":
        print(p["manifest_path"]); break')
include=$(dirname "$manifest")/src/include
if [[ ! -f $include/redismodule.h ]]; then
    echo "benches/floor/build.sh: no redismodule.h under $include (run cargo fetch)" >&2
    exit 1
fi
if [[ ! -f $out || $src -nt $out ]]; then
    mkdir -p "$(dirname "$out")"
    ${CC:-cc} -O2 -shared -fPIC -Wall -Werror -I"$include" -o "$out" "$src"
fi
echo "$out"
