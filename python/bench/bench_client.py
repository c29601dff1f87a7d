"""The client's three targets (issue 12), each against the hand-written code it replaces, in one run
on one server that this script starts (REDIS_SERVER, NDARRAY_MODULE) and stops:

  nd.get of an 8 MiB array          <= 1.05x  execute_command("NDARRAY.GET", k, "FORMAT", "BLOB") + np.frombuffer
  nd.stack of 1,000 x 128 float32   <= 0.9x   plain MGET + np.frombuffer(b"".join(...))
  nd.set of a 512 B embedding       <= 1.1x   execute_command("NDARRAY.SET", k, "float32", 128, "BLOB", a.tobytes())

Client-visible wall time per call, median, each call of ours next to one of the baseline (order alternating).
Run by `make bench`, or: .venv/bin/python python/bench/bench_client.py
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, List

import numpy as np
import redis
from redis.client import NEVER_DECODE

from redis_ndarray import NDArray
from redis_ndarray import _commands

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.environ.get("NDARRAY_MODULE") or os.path.join(ROOT, "target/release/libredis_ndarray.so")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or "redis-server"


def start_server(*extra: str) -> tuple[subprocess.Popen[bytes], int, str]:
    """A redis-server with the module on a free port (whose cluster bus port, +10000, is free too),
    with `extra` arguments: (process, port, directory)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 55535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
                break
            except OSError:
                continue
    d = tempfile.mkdtemp(prefix="ndarray-bench-")
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", d, *extra, "--loadmodule", MODULE],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            if redis.Redis(port=port).ping():
                return proc, port, d
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    sys.exit("redis-server did not start")


def compare(ours: Callable[[], Any], base: Callable[[], Any], calls: int) -> tuple[float, float]:
    """(median seconds per call of ours, of the baseline), calls interleaved one by one, so that the
    noise of a shared machine hits both alike."""
    for _ in range(3):
        ours(), base()  # warm up
    a: List[float] = []
    b: List[float] = []
    clock = time.perf_counter
    for i in range(calls):
        first, second, fa, fb = (ours, base, a, b) if i % 2 == 0 else (base, ours, b, a)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        fa.append(t1 - t0)
        fb.append(t2 - t1)
    return statistics.median(a), statistics.median(b)


def main() -> None:
    proc, port, d = start_server()
    try:
        raw = redis.Redis(port=port)  # a client the package never touched: the hand-written baseline
        nd = NDArray(redis.Redis(port=port))
        rng = np.random.default_rng(0)
        rows = []

        big = rng.normal(size=(1024, 2048)).astype(np.float32)  # 8 MiB
        nd.set("big", big)

        def raw_get() -> Any:
            return np.frombuffer(raw.execute_command("NDARRAY.GET", "big", "FORMAT", "BLOB"), np.float32).reshape(1024, 2048)

        o, b = compare(lambda: nd.get("big"), raw_get, 60)
        rows.append(("nd.get, 8 MiB float32", o, b, "GET FORMAT BLOB + frombuffer", 1.05))

        embs = rng.normal(size=(1000, 128)).astype(np.float32)
        keys = [f"{{e}}:{i}" for i in range(1000)]
        plain = [f"{{p}}:{i}" for i in range(1000)]
        pipe = raw.pipeline(transaction=False)
        for key, pkey, e in zip(keys, plain, embs):
            pipe.execute_command("NDARRAY.SET", key, "float32", 128, "BLOB", e.tobytes())
            pipe.set(pkey, e.tobytes())
        pipe.execute()

        def raw_mget() -> Any:
            return np.frombuffer(b"".join(raw.mget(plain)), np.float32).reshape(1000, 128)

        try:
            nd.stack(keys[:1])
            stack: Callable[[], Any] = lambda: nd.stack(keys)
            label = "nd.stack, 1,000 x 128 float32"
        except KeyError:
            # Today's server has the key-only STACK: time the client's same parsing on it.
            parse = _commands._array(False)
            stack = lambda: nd.client.execute_command("NDARRAY.STACK", *keys, **{NEVER_DECODE: True, _commands.PARSE: parse})
            label = "nd.stack*, 1,000 x 128 float32"
        assert (stack() == embs).all() and (raw_mget() == embs).all()
        o, b = compare(stack, raw_mget, 400)
        rows.append((label, o, b, "plain MGET + frombuffer(join)", 0.9))

        emb = embs[0]
        o, b = compare(lambda: nd.set("emb", emb),
                       lambda: raw.execute_command("NDARRAY.SET", "emb", "float32", 128, "BLOB", emb.tobytes()),
                       20000)
        rows.append(("nd.set, 512 B embedding", o, b, "execute_command SET ... BLOB tobytes()", 1.1))

        o, b = compare(lambda: nd.get("emb"),
                       lambda: np.frombuffer(raw.execute_command("NDARRAY.GET", "emb", "FORMAT", "BLOB"), np.float32),
                       20000)
        rows.append(("nd.get, 512 B embedding", o, b, "GET FORMAT BLOB + frombuffer", 1.1))

        print("\nWhere to encode (issue 21): nd.set + nd.get of smooth float32 data, encode='client' vs "
              "'server' (client-visible, loopback, median per call)")
        print(f"{'bytes':>10} {'client':>10} {'server':>10} {'ratio':>7}")
        for n in [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 8 << 20]:
            smooth = np.cumsum(rng.normal(size=n // 4)).astype(np.float32)
            nd.set("w", smooth, encode="client")
            here = lambda: (nd.set("w", smooth, encode="client"), nd.get("w"))  # noqa: E731
            there = lambda: (nd.set("w", smooth, encode="server"), nd.get("w", dtype="float32"))  # noqa: E731
            o, b = compare(here, there, max(20, min(2000, (64 << 20) // n)))
            print(f"{n:>10} {o * 1e6:8.1f}us {b * 1e6:8.1f}us {o / b:6.2f}x")

        print(f"\nredis_ndarray client vs hand-written redis-py (client-visible, median per call, calls interleaved; "
              f"redis {raw.info('server')['redis_version']})")
        print(f"{'operation':34} {'ours':>10} {'baseline':>10} {'ratio':>7} {'target':>7}  baseline")
        failed = 0
        for name, o, b, base_name, target in rows:
            ratio = o / b
            ok = ratio <= target
            failed += not ok
            print(f"{name:34} {o * 1e6:8.1f}us {b * 1e6:8.1f}us {ratio:6.2f}x {'<=' + str(target):>7}  {base_name}"
                  f"{'' if ok else '  (over target)'}")
        if label.startswith("nd.stack*"):
            print("* this server has the key-only NDARRAY.STACK (no numkeys yet): the same client parsing, "
                  "timed on it")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
