"""What the examples share: the server to talk to (REDIS_HOST, REDIS_PORT; `make run` serves
127.0.0.1:6379) and the check that it has the commands an example needs."""

from __future__ import annotations

import os
import sys

import redis


def connect() -> redis.Redis:
    return redis.Redis(host=os.environ.get("REDIS_HOST", "127.0.0.1"), port=int(os.environ.get("REDIS_PORT", "6379")))


def require(r: redis.Redis, *commands: str) -> None:
    """Exits 1 with the reason when the server lacks one of `commands` (an older module build)."""
    have = {n.decode().lower() for n in r.execute_command("COMMAND LIST", "FILTERBY", "PATTERN", "ndarray.*")}
    missing = [c for c in commands if " " not in c and c.lower() not in have]
    if "NDARRAY.STACK numkeys" in commands:  # the key-only STACK takes the '1' for a key
        probe = "__example_probe__"
        try:
            r.execute_command("NDARRAY.STACK", 1, probe)
        except redis.ResponseError as e:
            if probe not in str(e):
                missing.append("NDARRAY.STACK numkeys")
    if missing:
        print(f"this example needs redis-ndarray 0.2 or later: the server lacks {', '.join(missing)}",
              file=sys.stderr)
        sys.exit(1)
