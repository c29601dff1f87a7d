#!/usr/bin/env bash
# Tests scripts/deps.sh's libclang detection against the machine states that fooled it before:
# a directory holding only LLVM's libclang-cpp.so.* (what a fresh Debian has without libclang-dev)
# or a file with the right name that is not a loadable libclang must count as missing; the real
# library, under any of the names bindgen accepts, must be found. Needs libclang installed
# (make deps) for the positive cases.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps="$root/scripts/deps.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# find_in DIR: what deps.sh finds when DIR is the only place to look.
find_in() { LIBCLANG_PATH= LIBCLANG_SEARCH_DIRS="$1" "$deps" --find-libclang; }

expect() { # expect NAME WANT GOT
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1)); echo "ok   $1"
    else
        failed=$((failed + 1)); echo "FAIL $1: expected '${2:-nothing}', found '${3:-nothing}'"
    fi
}

real=$("$deps" --find-libclang)
[ -n "$real" ] || { echo "test-deps: no libclang on this machine; run make deps first" >&2; exit 1; }
cpp=$(ls /usr/lib/llvm-*/lib/libclang-cpp.so.* /usr/lib/x86_64-linux-gnu/libclang-cpp.so.* 2>/dev/null | head -n 1 || true)

mkdir "$work/cpp-only"
if [ -n "$cpp" ]; then
    ln -s "$cpp" "$work/cpp-only/libclang-cpp.so.14"
else
    : > "$work/cpp-only/libclang-cpp.so.14"
fi
expect "libclang-cpp alone is not libclang" "" "$(find_in "$work/cpp-only")"

mkdir "$work/not-a-library"
echo "not a library" > "$work/not-a-library/libclang.so.1"
expect "a file named libclang.so.1 that does not load is not libclang" "" "$(find_in "$work/not-a-library")"

mkdir "$work/empty"
expect "an empty directory has no libclang" "" "$(find_in "$work/empty")"

for name in libclang.so libclang-14.so libclang.so.1 libclang-14.so.1; do
    mkdir "$work/$name.d"
    ln -s "$real" "$work/$name.d/$name"
    [ -z "$cpp" ] || ln -s "$cpp" "$work/$name.d/libclang-cpp.so.14"
    expect "the real library named $name is found" "$work/$name.d/$name" "$(find_in "$work/$name.d")"
done

# The C compiler: cargo links with it and the zstd crate builds libzstd with it (cc-rs runs $CC).
missing=$(CC=/nonexistent/cc "$deps" --check 2>&1 | sed -n 's/^deps: missing: //p' || true)
expect "a missing C compiler is reported as the gcc package" "gcc" "$(echo "$missing" | tr ' ' '\n' | grep -x gcc || true)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
