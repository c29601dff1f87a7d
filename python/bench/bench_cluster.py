"""Batches across a cluster's shards (issue 23): NDARRAY.STACK of 1,000 embeddings (128 float32)
spread over a three-node cluster, through the client (one call per slot, sent together, merged),
against the same 1,000 rows under one hash tag on one node (one call), and against redis-py's
`mget_nonatomic` of plain strings holding the same bytes + np.frombuffer(b"".join(...)).

Client-visible wall time per call, median, interleaved. The script starts the three nodes
(REDIS_SERVER, NDARRAY_MODULE) and stops them. Run by `make bench`, or:
.venv/bin/python python/bench/bench_cluster.py
"""

from __future__ import annotations

import shutil
import time
from typing import Any, List

import numpy as np
import redis
from redis.cluster import ClusterNode

from bench_client import compare, start_server
from redis_ndarray import NDArray

ROWS = 1000


def main() -> None:
    nodes = [start_server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf") for _ in range(3)]
    try:
        ports = [port for _, port, _ in nodes]
        for port, (lo, hi) in zip(ports, [(0, 5460), (5461, 10922), (10923, 16383)]):
            redis.Redis(port=port).execute_command("CLUSTER ADDSLOTSRANGE", lo, hi)
        for port in ports[1:]:
            redis.Redis(port=ports[0]).execute_command("CLUSTER MEET", "127.0.0.1", port)
        deadline = time.monotonic() + 30
        while not all(redis.Redis(port=p).cluster("INFO").get("cluster_state") == "ok" for p in ports):
            if time.monotonic() > deadline:
                raise SystemExit("the cluster did not come up")
            time.sleep(0.1)
        rc = redis.RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
        nd = NDArray(rc)
        embs = np.random.default_rng(0).normal(size=(ROWS, 128)).astype(np.float32)
        spread = [f"emb:{i}" for i in range(ROWS)]
        tagged = [f"{{emb}}:{i}" for i in range(ROWS)]
        plain = [f"plain:{i}" for i in range(ROWS)]
        nd.mset(dict(zip(spread, embs)))
        nd.mset(dict(zip(tagged, embs)))
        rc.mset_nonatomic({k: e.tobytes() for k, e in zip(plain, embs)})
        slots = len({rc.keyslot(k) for k in spread})
        shards = len({rc.get_node_from_key(k).name for k in spread})

        def plain_mget() -> Any:
            return np.frombuffer(b"".join(rc.mget_nonatomic(plain)), np.float32).reshape(ROWS, 128)

        assert (nd.stack(spread) == embs).all() and (nd.stack(tagged) == embs).all()
        assert (plain_mget() == embs).all()
        calls = 200
        spread_t, tagged_t = compare(lambda: nd.stack(spread), lambda: nd.stack(tagged), calls)
        spread_t2, plain_t = compare(lambda: nd.stack(spread), plain_mget, calls)
        version = redis.Redis(port=ports[0]).info("server")["redis_version"]
        print(f"\nSTACK of {ROWS:,} x 128 float32 on a 3-node cluster (client-visible, median per call, "
              f"{calls} calls each, interleaved; redis {version})")
        print(f"the spread keys hash to {slots} slots on {shards} shards")
        rows: List[tuple[str, float]] = [
            ("nd.stack, keys over 3 shards", spread_t),
            ("nd.stack, one hash tag (one node)", tagged_t),
            ("mget_nonatomic of plain strings + frombuffer", plain_t),
        ]
        for name, t in rows:
            print(f"{name:46} {t * 1e3:8.2f} ms")
        print(f"spread vs one tag: {spread_t / tagged_t:.2f}x; spread vs mget_nonatomic: "
              f"{spread_t2 / plain_t:.2f}x (its own interleaved run: {spread_t2 * 1e3:.2f} ms)")
    finally:
        for proc, _, d in nodes:
            proc.terminate()
            proc.wait()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
