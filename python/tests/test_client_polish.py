"""What a newcomer runs into: MULTI/EXEC on a decode_responses client, help(), the exception classes
of refusals, TTL types, empty batches, scanning for arrays, masked arrays."""

from __future__ import annotations

import datetime
import inspect
from typing import Any, Callable

import numpy as np
import pytest
import redis

from redis_ndarray import AsyncNDArray, DTypeShapeError, NDArray
from redis_ndarray.client import Pipeline

K = Callable[..., str]


def test_multi_exec_on_a_decode_responses_client_reads_arrays_and_decodes_the_rest(server: Any, k: K) -> None:
    nd = NDArray(redis.Redis(port=server.port, decode_responses=True))
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    with nd.pipeline() as p:
        p.set(k("a"), a).execute_command("SET", k("s"), "text").get(k("a")).execute_command("GET", k("s"))
        p.execute_command("HSET", k("h"), "f", "v").execute_command("HGETALL", k("h")).info(k("a"))
        ok, _, b, text, _, fields, info = p.execute()
    assert ok is True and (b == a).all()
    assert text == "text" and fields == {"f": "v"}, "raw commands decode as the client does"
    assert info["shape"] == (3, 4)


def test_help_shows_the_call_and_its_result_type() -> None:
    for method, result in [(NDArray.get, "Optional[ArrayT]"), (NDArray.set, "bool"),
                           (AsyncNDArray.mget, "Awaitable[List[Optional[ArrayT]]]")]:
        signature = inspect.signature(method)
        assert str(signature.return_annotation) == result, signature
        assert "Cmd" not in str(signature) and list(signature.parameters)[0] == "self"
    assert "Pipeline" in str(inspect.signature(Pipeline.get).return_annotation)


def test_refusals_raise_the_documented_classes(nd: Any, k: K) -> None:
    nd.set(k("a"), np.arange(6, dtype=np.int32))
    with pytest.raises(DTypeShapeError):  # a ValueError: 1.5 is not an int32
        nd.setslice(k("a"), np.s_[0], 1.5)
    with pytest.raises(ValueError):
        nd.set(k("a"), np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]))
    with pytest.raises(ValueError):
        nd.reshape(k("a"), (4, -1))
    with pytest.raises(ValueError):
        nd.reshape(k("a"), (-1, -1))


def test_reshape_infers_one_minus_one_dimension_as_numpy(nd: Any, k: K) -> None:
    nd.set(k("a"), np.arange(6, dtype=np.int32).reshape(2, 3))
    assert nd.reshape(k("a"), -1) is True
    assert nd.get(k("a")).shape == (6,)
    nd.reshape(k("a"), (3, -1))
    assert (nd.get(k("a")) == np.arange(6).reshape(3, 2)).all()


def test_ttls_take_int_or_timedelta_and_refuse_floats(nd: Any, k: K) -> None:
    a = np.zeros(3)
    assert nd.set(k("a"), a, ex=100) and nd.set(k("b"), a, px=datetime.timedelta(seconds=100))
    assert 0 < nd.raw.ttl(k("b")) <= 100
    for kwargs in [{"ex": 1.5}, {"px": 2.0}, {"exat": 1e12}, {"ex": "10"}]:
        with pytest.raises(redis.DataError, match="must be an int or a datetime.timedelta"):
            nd.set(k("a"), a, **kwargs)
    with pytest.raises(redis.DataError):
        nd.mset({k("a"): a}, ex=0.5)


def test_empty_batches_give_empty_results(nd: Any, k: K) -> None:
    assert nd.mget([]) == []
    assert nd.mset({}) is True
    with pytest.raises(ValueError, match="at least one key"):
        nd.stack([])


def test_scan_iter_finds_only_arrays(sync_nd: Any, k: K) -> None:
    sync_nd.set(k("x"), np.zeros(2))
    sync_nd.set(k("y"), np.zeros(2))
    sync_nd.raw.set(k("plain"), "v")
    assert sorted(sync_nd.scan_iter(match=k("*"))) == sorted([k("x").encode(), k("y").encode()])
