"""Fixtures: a real redis-server with the module (and a three-node cluster) on free loopback ports,
started once per session and stopped by PID; the ways a test can talk to it (`nd`); and the skips
for commands the running server does not have yet.

Environment: REDIS_SERVER (default `redis-server`), NDARRAY_MODULE (default
<repo>/target/release/libredis_ndarray.so).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import redis
import redis.asyncio
from redis.cluster import ClusterNode

from redis_ndarray import AsyncNDArray, NDArray

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.environ.get("NDARRAY_MODULE") or os.path.join(ROOT, "target/release/libredis_ndarray.so")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (so at most 55535)."""
    for _ in range(200):
        port = free_port()
        if port <= 55535 and _free(port + 10000):
            return port
    for port in range(30000 + os.getpid() % 20000, 55536):
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class Server:
    """One redis-server with the module, in its own directory; stopped (by its PID) in stop()."""

    def __init__(self, *extra: str) -> None:
        if not os.path.isfile(MODULE):
            raise RuntimeError(f"module not found at {MODULE}: run `make build` first")
        self.dir = tempfile.mkdtemp(prefix="ndarray-pytest-")
        self.port = free_cluster_port() if "--cluster-enabled" in extra else free_port()
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", self.log, *extra,
             "--loadmodule", MODULE],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def wait(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer:\n{self.tail()}")

    def tail(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-40:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server()
    try:
        s.wait()
        yield s
    finally:
        s.stop()


def _join_cluster(nodes: List[Server], replicas: List[Server]) -> None:
    """Gives the primaries a third of the slots each, meets every node, makes each replica follow
    its primary, and waits until the cluster is ok and every replica is in sync."""
    for n in nodes + replicas:
        n.wait()
    bounds = [(0, 5460), (5461, 10922), (10923, 16383)]
    for n, (lo, hi) in zip(nodes, bounds):
        redis.Redis(port=n.port).execute_command("CLUSTER ADDSLOTSRANGE", lo, hi)
    first = redis.Redis(port=nodes[0].port)
    for n in nodes[1:] + replicas:
        first.execute_command("CLUSTER MEET", "127.0.0.1", n.port)
    deadline = time.monotonic() + 30
    ids = [redis.Redis(port=n.port).execute_command("CLUSTER MYID") for n in nodes]
    pending = list(zip(replicas, ids))
    while True:
        states = [redis.Redis(port=n.port).cluster("INFO") for n in nodes + replicas]
        if pending:
            try:
                replica, primary_id = pending[0]
                redis.Redis(port=replica.port).execute_command("CLUSTER REPLICATE", primary_id)
                pending.pop(0)
            except redis.ResponseError:
                pass  # the replica does not know the primary yet
        synced = all(redis.Redis(port=n.port).info("replication").get("master_link_status") == "up"
                     for n in replicas)
        # Every node's CLUSTER SLOTS lists each range's replica (what clients route reads by).
        listed = not replicas or all(
            len(entry) >= 4
            for n in nodes + replicas
            for entry in redis.Redis(port=n.port).execute_command("CLUSTER SLOTS")
        ) if synced else False
        if not pending and synced and listed and all(str(s.get("cluster_state")) == "ok" for s in states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("cluster did not reach cluster_state:ok with its replicas in 30 s")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def cluster_with_replicas() -> Iterator[List[Server]]:
    """Three primaries with a replica each: the primaries first, then their replicas."""
    nodes = [Server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf") for _ in range(6)]
    try:
        _join_cluster(nodes[:3], nodes[3:])
        yield nodes
    finally:
        for n in nodes:
            n.stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[List[Server]]:
    """Three primaries, slots split in three, joined with CLUSTER MEET (no redis-cli needed)."""
    nodes = [Server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf") for _ in range(3)]
    try:
        _join_cluster(nodes, [])
        yield nodes
    finally:
        for n in nodes:
            n.stop()


# ---- what the server has: skips that name the missing command ----

def _probe_error(r: redis.Redis, *args: Any) -> Optional[str]:
    try:
        r.execute_command(*args)
        return None
    except redis.ResponseError as e:
        return str(e)


def server_features(r: redis.Redis) -> Dict[str, bool]:
    """Which of the newer commands and options the server has. Asked once."""
    have: Dict[str, bool] = {}
    # COMMAND LIST (7.0+) rather than COMMAND INFO, whose redis-py callback fails on an unknown name.
    names = {n.decode().lower() for n in r.execute_command("COMMAND LIST", "FILTERBY", "PATTERN", "ndarray.*")}
    for name in ("NDARRAY.MSETEX", "NDARRAY.ATTRSET", "NDARRAY.ATTRGET", "NDARRAY.ATTRDEL", "NDARRAY.PROBE"):
        have[name] = name.lower() in names
    probe = "__redis_ndarray_probe__"
    err = _probe_error(r, "NDARRAY.STACK", 1, probe)
    have["NDARRAY.STACK numkeys"] = err is not None and probe in err
    have["NDARRAY.SET ATTR"] = _probe_error(r, "NDARRAY.SET", probe, "float32", 1, "ATTR", "a", "b", "VALUES", 0) is None
    have["COMPRESS zstd"] = _probe_error(r, "NDARRAY.SET", probe, "float32", 1, "COMPRESS", "zstd", "VALUES", 0) is None
    have["COMPRESS auto"] = _probe_error(r, "NDARRAY.SET", probe, "float32", 1, "COMPRESS", "auto", "VALUES", 0) is None
    have["SHUFFLE bit"] = _probe_error(r, "NDARRAY.SET", probe, "float32", 1, "SHUFFLE", "bit", "VALUES", 0) is None
    r.execute_command("NDARRAY.SET", probe, "float32", 1, "VALUES", 0)
    info = r.execute_command("NDARRAY.INFO", probe)
    fields = info.keys() if isinstance(info, dict) else info[::2]
    have["NDARRAY.INFO updated_at"] = b"updated_at" in fields
    r.delete(probe)
    return have


_features: Dict[str, bool] = {}


@pytest.fixture(scope="session")
def features(server: Server) -> Dict[str, bool]:
    if not _features:
        _features.update(server_features(redis.Redis(port=server.port)))
    return _features


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(feature, ...): fail unless the server has these commands/options")


@pytest.fixture(autouse=True)
def _skip_missing_features(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("needs")
    if marker is None:
        return
    have = request.getfixturevalue("features")
    missing = [f for f in marker.args if not have.get(f, False)]
    if missing:
        # The suite runs against the module built from the same commit: every command it wraps
        # must be there, so a missing one is a failure, not a skip.
        pytest.fail(f"server lacks {', '.join(missing)}: is NDARRAY_MODULE an older build?")


def needs(*features: str) -> pytest.MarkDecorator:
    return pytest.mark.needs(*features)


# ---- the ways to talk to the server: every test runs through each ----

class AsyncAsSync:
    """Calls an AsyncNDArray's coroutines on one event loop, so a test body runs unchanged."""

    def __init__(self, nd: AsyncNDArray, loop: asyncio.AbstractEventLoop) -> None:
        self.nd, self.loop = nd, loop
        self.client = nd.client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.nd, name)
        return lambda *a, **k: self.loop.run_until_complete(method(*a, **k))


class EachInPipeline:
    """Runs each call as a one-command pipeline (plus a PING before it), so every method's reply
    also goes through the pipeline's parsing and error mapping."""

    def __init__(self, nd: Any, transaction: Optional[bool], loop: Optional[asyncio.AbstractEventLoop] = None):
        self.nd, self.transaction, self.loop = nd, transaction, loop
        self.client = nd.client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*a: Any, **k: Any) -> Any:
            p = self.nd.pipeline(transaction=self.transaction)
            p.execute_command("PING")
            getattr(p, name)(*a, **k)
            if self.loop is not None:
                return self.loop.run_until_complete(p.execute())[1]
            return p.execute()[1]
        return call


MODES = ["resp2", "resp3", "decode", "decode-pipeline", "decode-multi", "async", "async-resp2", "pipeline", "multi", "async-pipeline",
         "cluster", "cluster-async", "cluster-pipeline"]


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


_clients: Dict[str, Any] = {}


def make_nd(mode: str, request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> Any:
    if mode in _clients:
        return _clients[mode]
    if mode.startswith("cluster"):
        nodes = request.getfixturevalue("cluster")
        startup = [ClusterNode("127.0.0.1", n.port) for n in nodes]
        if mode == "cluster-async":
            ac = redis.asyncio.RedisCluster(startup_nodes=startup)  # type: ignore[arg-type]
            nd: Any = AsyncAsSync(AsyncNDArray(ac), loop)
        else:
            c = NDArray(redis.RedisCluster(startup_nodes=startup))
            nd = c if mode == "cluster" else EachInPipeline(c, None)
    else:
        port = request.getfixturevalue("server").port
        if mode in ("async", "async-resp2", "async-pipeline"):
            a = AsyncNDArray(redis.asyncio.Redis(port=port, protocol=2 if mode == "async-resp2" else 3))
            nd = EachInPipeline(a, True, loop) if mode == "async-pipeline" else AsyncAsSync(a, loop)
        else:
            protocol = 2 if mode == "resp2" else 3
            s = NDArray(redis.Redis(port=port, protocol=protocol, decode_responses=mode.startswith("decode")))
            nd = {"pipeline": EachInPipeline(s, False), "multi": EachInPipeline(s, True),
                  "decode-pipeline": EachInPipeline(s, False), "decode-multi": EachInPipeline(s, True)}.get(mode, s)
    nd.raw = raw_client(mode, request)
    _clients[mode] = nd
    return nd


def raw_client(mode: str, request: pytest.FixtureRequest) -> Any:
    """A plain sync redis-py client of the same deployment, for checks (TTL, TYPE, ...)."""
    if mode.startswith("cluster"):
        nodes = request.getfixturevalue("cluster")
        return redis.RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in nodes])
    return redis.Redis(port=request.getfixturevalue("server").port)


@pytest.fixture(params=MODES)
def nd(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> Any:
    """An NDArray-like: sync (RESP2, RESP3, decode_responses), async, pipelined, on the cluster."""
    return make_nd(request.param, request, loop)


@pytest.fixture
def sync_nd(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> NDArray:
    """A plain sync client (RESP3) for tests that need only one mode."""
    return make_nd("resp3", request, loop)  # type: ignore[no-any-return]


@pytest.fixture
def r(server: Server) -> redis.Redis:
    return redis.Redis(port=server.port)


@pytest.fixture
def k() -> Callable[[str], str]:
    """Key names for one test: one hash tag, so multi-key calls work on the cluster too."""
    tag = uuid.uuid4().hex[:10]
    return lambda name="": f"{{{tag}}}:{name}"
