"""What the mode matrix does not show: cluster routing (no COMMAND GETKEYS, a clear cross-slot
error), pipelines mixing raw commands, raise_on_error=False, the decode_responses + MULTI refusal,
and that wrapping a client leaves its raw replies alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, List

import numpy as np
import pytest
import redis
import redis.asyncio
from redis.cluster import ClusterNode

from conftest import Server
from redis_ndarray import AsyncNDArray, CrossSlotKeysError, NDArray, SelectionError, WrongTypeError

K = Callable[..., str]


def cluster_nd(nodes: List[Server]) -> NDArray:
    return NDArray(redis.RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in nodes]))


def getkeys_calls(nodes: List[Server]) -> int:
    total = 0
    for n in nodes:
        stats = redis.Redis(port=n.port).info("commandstats")
        total += int(stats.get("cmdstat_command|getkeys", {}).get("calls", 0))
    return total


def test_atomic_multi_key_calls_across_slots_raise_with_the_hash_tag_advice(cluster: List[Server]) -> None:
    nd = cluster_nd(cluster)
    with pytest.raises(CrossSlotKeysError, match="hash tag") as e:
        nd.mget(["user:1", "user:2", "user:3"], atomic=True)
    assert isinstance(e.value, ValueError)
    with pytest.raises(CrossSlotKeysError):
        nd.mset({"a": np.zeros(1), "b": np.zeros(1)}, atomic=True)
    with pytest.raises(CrossSlotKeysError):
        nd.stack(["a", "b"], atomic=True)


@pytest.mark.parametrize("mode", ["cluster", "cluster-async", "cluster-pipeline"])
def test_batches_across_slots_are_cut_per_slot_and_put_back_in_order(
        cluster: List[Server], mode: str, request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> None:
    from conftest import make_nd
    nd = make_nd(mode, request, loop)
    run = uuid.uuid4().hex[:8]
    keys = [f"span:{run}:{i}" for i in range(40)]  # every node's slots
    nodes_hit = {cluster_nd(cluster).client.get_node_from_key(k).name for k in keys}
    assert len(nodes_hit) == 3
    rows = {k: np.arange(16, dtype=np.float32) + i for i, k in enumerate(keys)}
    before = getkeys_calls(cluster)
    assert nd.mset(rows) is True
    missing = f"span:{run}:missing"
    got = nd.mget([*keys[:20], missing, *keys[20:]])
    assert got[20] is None
    for k, a in zip(keys, got[:20] + got[21:]):
        np.testing.assert_array_equal(a, rows[k])
    np.testing.assert_array_equal(nd.stack(keys), np.stack([rows[k] for k in keys]))
    stacked, filled = nd.stack([keys[3], missing, *keys[10:30]], missing=-1)
    assert filled == [1]
    np.testing.assert_array_equal(stacked[1], np.full(16, -1, np.float32))
    np.testing.assert_array_equal(stacked[2:], np.stack([rows[k] for k in keys[10:30]]))
    with pytest.raises(KeyError):
        nd.stack([keys[0], missing, keys[1]])
    # Per slot, NX holds: the slots whose key exists refuse, the result says so.
    fresh = f"span:{run}:fresh"
    assert nd.mset({keys[0]: np.zeros(16), fresh: np.ones(16)}, nx=True) is False
    np.testing.assert_array_equal(nd.mget([keys[0]])[0], rows[keys[0]])
    assert getkeys_calls(cluster) == before


@pytest.mark.parametrize("mode", ["cluster", "cluster-async", "cluster-pipeline"])
def test_a_batch_follows_a_slot_that_moved_since_the_client_read_the_slot_map(
        cluster: List[Server], mode: str, request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> None:
    from conftest import make_nd
    nd = make_nd(mode, request, loop)
    nd.mget(["warm:a", "warm:b"])  # the client has read the slot map
    run = uuid.uuid4().hex[:8]
    keys = [f"moving:{run}:{i}" for i in range(12)]
    rows = {k: np.full(4, i, dtype=np.int32) for i, k in enumerate(keys)}
    assert nd.mset(rows) is True
    # Move the first key's slot (with its key) to another node behind the client's back.
    client = cluster_nd(cluster).client
    slot = client.keyslot(keys[0])
    source = client.get_node_from_key(keys[0])
    target = next(n for n in client.get_primaries() if n.name != source.name)
    src, dst = redis.Redis(port=source.port), redis.Redis(port=target.port)
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    for key in src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", target.port, key, 0, 5000)
    for node in client.get_primaries():
        redis.Redis(port=node.port).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    got = nd.mget(keys)
    for k, a in zip(keys, got):
        np.testing.assert_array_equal(a, rows[k])
    np.testing.assert_array_equal(nd.stack(keys), np.stack([rows[k] for k in keys]))


def test_multi_key_calls_route_by_the_first_key_without_command_getkeys(cluster: List[Server]) -> None:
    nd = cluster_nd(cluster)
    before = getkeys_calls(cluster)
    for tag in ("a", "b", "c", "d", "e", "f"):  # tags on every node
        keys = [f"{{{tag}}}:{i}" for i in range(3)]
        for key in keys:
            nd.set(key, np.arange(4))
        assert all((x == np.arange(4)).all() for x in nd.mget(keys))
    assert getkeys_calls(cluster) == before


def test_async_cluster_routes_multi_key_calls(cluster: List[Server], loop: asyncio.AbstractEventLoop) -> None:
    async def run() -> None:
        rc = redis.asyncio.RedisCluster(startup_nodes=[redis.asyncio.cluster.ClusterNode("127.0.0.1", n.port)
                                                       for n in cluster])
        nd = AsyncNDArray(rc)
        await nd.set("{z}:1", np.ones(2))
        assert (await nd.mget(["{z}:1", "{z}:2"]))[1] is None
        with pytest.raises(CrossSlotKeysError):
            await nd.mget(["x1", "x2", "x3", "x4"], atomic=True)
        assert await nd.mget(["x1", "x2", "x3", "x4"]) == [None] * 4
        await rc.aclose()
    loop.run_until_complete(run())


def test_a_pipeline_mixes_raw_commands_and_returns_everything_in_order(sync_nd: NDArray, k: K) -> None:
    with sync_nd.pipeline() as p:
        p.set(k("a"), np.arange(3)).execute_command("SET", k("s"), "v").get(k("a")).info(k("nope"))
        p.inner.get(k("s"))  # the redis-py pipeline itself
        assert len(p) == 5
        ok, raw_ok, a, info, s = p.execute()
    assert ok is True and raw_ok is True and (a == np.arange(3)).all() and info is None and s == b"v"


def test_pipeline_errors_are_mapped_and_kept_in_place_without_raise_on_error(sync_nd: NDArray, k: K) -> None:
    sync_nd.client.set(k("s"), "text")
    p = sync_nd.pipeline(transaction=False)
    p.set(k("a"), np.zeros(3)).slice(k("a"), np.s_[5]).get(k("s")).get(k("a"))
    ok, bad_index, wrong, a = p.execute(raise_on_error=False)
    assert ok is True and isinstance(bad_index, SelectionError) and isinstance(wrong, WrongTypeError)
    assert (a == 0).all()
    p.slice(k("a"), np.s_[5])
    with pytest.raises(IndexError):
        p.execute()


def test_async_pipeline_as_a_context_manager(server: Server, loop: asyncio.AbstractEventLoop, k: K) -> None:
    async def run() -> Any:
        nd = AsyncNDArray(redis.asyncio.Redis(port=server.port))
        async with nd.pipeline() as p:
            p.set(k("a"), np.ones(3)).get(k("a")).append(k("a"), np.ones(2))
            return await p.execute()
    ok, a, n = loop.run_until_complete(run())
    assert ok is True and (a == 1).all() and n == 5


def test_wrapping_a_client_leaves_its_raw_replies_alone(server: Server, k: K) -> None:
    r = redis.Redis(port=server.port)
    NDArray(r)
    NDArray(r)  # twice: registered once
    r.execute_command("NDARRAY.SET", k("a"), "float32", 2, "VALUES", 1, 2)
    assert r.execute_command("NDARRAY.GET", k("a"), "FORMAT", "BLOB") == np.float32([1, 2]).tobytes()
    assert r.execute_command("NDARRAY.GET", k("a"))[:6] == b"\x93NUMPY"


def test_read_commands_are_those_the_module_flags_readonly(server: Server) -> None:
    from redis_ndarray import _commands
    r = redis.Redis(port=server.port)
    flagged = set()
    for name in _commands.COMMAND_NAMES:
        info = r.execute_command("COMMAND", "INFO", name)  # redis-py: {name: {"flags": [...], ...}}
        flags = {f.decode() if isinstance(f, bytes) else f for f in info[name.lower()]["flags"]}
        if "readonly" in flags:
            flagged.add(name)
    assert flagged == set(_commands.READ_COMMANDS)


def _read_calls(nodes: List[Server]) -> List[int]:
    """Calls of the module's read commands on each node since its last CONFIG RESETSTAT."""
    from redis_ndarray import _commands
    reads = {f"cmdstat_{name.lower()}" for name in _commands.READ_COMMANDS}
    return [sum(int(v["calls"]) for k, v in redis.Redis(port=n.port).info("commandstats").items() if k in reads)
            for n in nodes]


def _wait_for_replicas(primaries: List[Server], replicas: List[Server]) -> None:
    import time
    deadline = time.monotonic() + 10
    for p, rep in zip(primaries, replicas):
        want = redis.Redis(port=p.port).info("replication")["master_repl_offset"]
        while redis.Redis(port=rep.port).info("replication").get("slave_repl_offset", -1) < want:
            assert time.monotonic() < deadline, "a replica did not catch up"
            time.sleep(0.01)


@pytest.mark.parametrize("mode", ["sync", "pipeline", "async"])
def test_reads_go_to_replicas_when_the_cluster_client_reads_from_replicas(
        cluster_with_replicas: List[Server], mode: str, loop: asyncio.AbstractEventLoop) -> None:
    from redis.cluster import LoadBalancingStrategy
    primaries, replicas = cluster_with_replicas[:3], cluster_with_replicas[3:]
    startup = [ClusterNode("127.0.0.1", n.port) for n in primaries]
    writer = NDArray(redis.RedisCluster(startup_nodes=startup))
    keys = [f"{{{tag}}}:{mode}" for tag in "abcdef"]  # tags on every shard
    for i, key in enumerate(keys):
        writer.set(key, np.arange(8, dtype=np.float32) + i, attrs={"i": str(i)})
    _wait_for_replicas(primaries, replicas)
    for n in cluster_with_replicas:
        redis.Redis(port=n.port).config_resetstat()
    strategy = LoadBalancingStrategy.ROUND_ROBIN_REPLICAS

    def reads(nd: Any) -> List[Any]:
        out = []
        for key in keys:
            out += [nd.get(key), nd.slice(key, np.s_[2:4]), nd.info(key), nd.attrs(key), nd.mget([key]),
                    nd.stack([key])]
        return out

    if mode == "async":
        async def run() -> List[Any]:
            rc = redis.asyncio.RedisCluster(
                startup_nodes=[redis.asyncio.cluster.ClusterNode("127.0.0.1", n.port) for n in primaries],
                load_balancing_strategy=strategy)
            nd = AsyncNDArray(rc)
            out = []
            for key in keys:
                out += [await nd.get(key), await nd.slice(key, np.s_[2:4]), await nd.info(key),
                        await nd.attrs(key), await nd.mget([key]), await nd.stack([key])]
            await rc.aclose()
            return out
        results = loop.run_until_complete(run())
    else:
        nd = NDArray(redis.RedisCluster(startup_nodes=startup, load_balancing_strategy=strategy))
        if mode == "pipeline":
            p = nd.pipeline()
            reads(p)
            results = p.execute()
        else:
            results = reads(nd)
    for i, key in enumerate(keys):
        got, part, info, attrs, batch, stacked = results[6 * i: 6 * i + 6]
        want = np.arange(8, dtype=np.float32) + i
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(part, want[2:4])
        assert info["shape"] == (8,) or list(info["shape"]) == [8]
        assert attrs == {"i": str(i).encode()}
        np.testing.assert_array_equal(batch[0], want)
        np.testing.assert_array_equal(stacked, want[None])
    assert _read_calls(primaries) == [0, 0, 0], _read_calls(replicas)
    assert sum(_read_calls(replicas)) == 6 * len(keys)
