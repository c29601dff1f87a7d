#!/usr/bin/env bash
# Checks the build and test prerequisites by what really gets used, and installs the missing ones
# with apt-get when run as root (otherwise prints the exact command and fails).
#
#   scripts/deps.sh                 check, install what is missing
#   scripts/deps.sh --check         check only (exit 1 and list what is missing)
#   scripts/deps.sh --find-libclang print the libclang bindgen would load, or nothing
#
# libclang is checked the way bindgen (clang-sys) finds it: a file named libclang.so,
# libclang-<version>.so or libclang.so.<n> / libclang-<version>.so.<n> in LIBCLANG_PATH,
# `llvm-config --libdir` or the usual library directories, that loads and exports the C API.
# LLVM's libclang-cpp.so.* (present on a fresh Debian without libclang-dev) is the C++ library:
# bindgen cannot use it, and a glob like libclang*.so* wrongly accepts it.
# LIBCLANG_SEARCH_DIRS (space-separated) replaces the usual directories (for scripts/test-deps.sh).
set -euo pipefail

REDIS_SERVER=${REDIS_SERVER:-redis-server}
PYTHON=${PYTHON:-python3}

libclang_dirs() {
    [ -z "${LIBCLANG_PATH:-}" ] || echo "$LIBCLANG_PATH"
    if [ -n "${LIBCLANG_SEARCH_DIRS:-}" ]; then
        printf '%s\n' $LIBCLANG_SEARCH_DIRS
        return
    fi
    command -v llvm-config >/dev/null 2>&1 && llvm-config --libdir 2>/dev/null || true
    printf '%s\n' /usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib
}

# True when $1 loads as a shared library exporting libclang's C API (what bindgen calls).
exports_libclang_c_api() {
    "$PYTHON" - "$1" >/dev/null 2>&1 <<'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.clang_createIndex  # AttributeError (exit 1) when the C API is not there
PY
}

find_libclang() {
    local dir file
    while read -r dir; do
        [ -d "$dir" ] || continue
        # The names clang-sys accepts; `-[0-9]` keeps libclang-cpp.so.* out.
        for file in "$dir"/libclang.so "$dir"/libclang.so.* "$dir"/libclang-[0-9]*.so \
                    "$dir"/libclang-[0-9]*.so.*; do
            if [ -e "$file" ] && exports_libclang_c_api "$file"; then
                echo "$file"
                return 0
            fi
        done
    done < <(libclang_dirs)
    return 1
}

missing_packages() {
    local missing=()
    command -v "$REDIS_SERVER" >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
    find_libclang >/dev/null || missing+=(libclang-dev)
    # The C compiler cargo links with, and that the zstd crate builds libzstd with (cc-rs runs
    # $CC or `cc`).
    command -v "${CC:-cc}" >/dev/null 2>&1 || missing+=(gcc)
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    # Unique, in order.
    [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}" | awk '!seen[$0]++' | tr '\n' ' '
}

case "${1:-}" in
    --find-libclang) find_libclang || true; exit 0 ;;
    --check | "") ;;
    *) echo "usage: $0 [--check | --find-libclang]" >&2; exit 2 ;;
esac

command -v cargo >/dev/null 2>&1 || {
    echo "deps: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
}
# The Python client's extension is built for the stable ABI of 3.11 (its buffer protocol).
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
    echo "deps: $PYTHON is $("$PYTHON" -V 2>&1); the Python client needs Python 3.11 or later" \
         "(make ... PYTHON=python3.11)" >&2
    exit 1
}
missing=$(missing_packages)
if [ -z "$missing" ]; then
    echo "deps: ok (redis-server $("$REDIS_SERVER" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')," \
         "libclang $(find_libclang), python3-venv)"
    exit 0
fi
if [ "${1:-}" = --check ]; then
    echo "deps: missing: $missing" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing: $missing; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 1
fi
echo "deps: installing $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $missing
missing=$(missing_packages)
if [ -n "$missing" ]; then
    echo "deps: still missing after apt-get install: $missing" >&2
    exit 1
fi
echo "deps: ok (libclang $(find_libclang))"
