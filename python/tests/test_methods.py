"""Every method against the real module, through every mode of the `nd` fixture: sync RESP2/RESP3,
decode_responses, async (RESP2/RESP3), pipelines (plain, MULTI/EXEC, async), and the three-node
cluster (sync, async, pipelined)."""

from __future__ import annotations

import datetime
from typing import Any, Callable

import numpy as np
import pytest
import redis

from redis_ndarray import (
    CorruptDataError, DTypeShapeError, LimitError, NDArrayError, NoSuchKeyError, SelectionError, WrongTypeError,
)
from redis_ndarray._errors import classify
from conftest import needs

K = Callable[..., str]
rng = np.random.default_rng(12)


def test_set_then_get_returns_the_same_array(nd: Any, k: K) -> None:
    a = rng.normal(size=(40, 30)).astype(np.float32)
    assert nd.set(k("a"), a) is True
    b = nd.get(k("a"))
    assert b.dtype == np.float32 and b.shape == (40, 30) and (a == b).all()


def test_get_of_a_missing_key_is_none(nd: Any, k: K) -> None:
    assert nd.get(k("nothing")) is None


def test_get_decodes_into_a_new_writable_array_and_a_converted_one_views_the_reply(nd: Any, k: K) -> None:
    nd.set(k("a"), np.arange(6))
    a = nd.get(k("a"))
    assert a.flags.writeable and a.flags.owndata is False  # a view of the uint8 array decoded into
    a[0] = 9
    assert nd.get(k("a"))[0] == 0
    assert not nd.get(k("a"), dtype="float64").flags.writeable
    b = nd.get(k("a"), dtype="float64", copy=True)
    b[0] = 9
    assert b.flags.writeable and b[0] == 9


def test_set_with_every_option_stores_as_asked(nd: Any, k: K) -> None:
    a = np.linspace(0, 1, 5000, dtype=np.float64)
    assert nd.set(k("a"), a, compress="zlib", level=3, shuffle="byte", dtype="float32", ex=100)
    info = nd.info(k("a"))
    assert (info["dtype"], info["compression"], info["level"], info["shuffle"]) == ("float32", "zlib", 3, "byte")
    assert 0 < nd.raw.ttl(k("a")) <= 100
    assert (nd.get(k("a")) == a.astype(np.float32)).all()
    assert nd.set(k("b"), a, compress="none", shuffle="none", px=datetime.timedelta(seconds=50))
    assert 0 < nd.raw.pttl(k("b")) <= 50_000
    at = datetime.datetime.now() + datetime.timedelta(hours=1)
    assert nd.set(k("c"), a, compress="lz4", exat=at) and nd.raw.ttl(k("c")) > 3000
    assert nd.set(k("c"), a, pxat=int(at.timestamp() * 1000) + 5000) and nd.raw.ttl(k("c")) > 3000
    assert nd.set(k("c"), a, keepttl=True) and nd.raw.ttl(k("c")) > 3000


def test_set_nx_and_xx_return_false_when_they_prevent_the_write(nd: Any, k: K) -> None:
    assert nd.set(k("a"), np.zeros(3), xx=True) is False
    assert nd.set(k("a"), np.zeros(3), nx=True) is True
    assert nd.set(k("a"), np.ones(3), nx=True) is False
    assert nd.set(k("a"), np.ones(3), xx=True) is True
    assert (nd.get(k("a")) == 1).all()


def test_get_and_slice_convert_with_dtype(nd: Any, k: K) -> None:
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    nd.set(k("a"), a)
    assert nd.get(k("a"), dtype=np.float64).dtype == np.float64
    s = nd.slice(k("a"), np.s_[1:, ::2], dtype="int64")
    assert s.dtype == np.int64 and (s == a[1:, ::2]).all()


def test_slice_takes_numpy_indices_and_selection_strings(nd: Any, k: K) -> None:
    a = rng.integers(0, 100, (6, 5, 4)).astype(np.int32)
    nd.set(k("a"), a)
    for index in (np.s_[2], np.s_[-1, 1:4], np.s_[::-2, ..., 1], np.s_[None, 0, :, None], np.s_[...]):
        assert (nd.slice(k("a"), index) == a[index]).all()
        assert nd.slice(k("a"), index).shape == a[index].shape
    assert (nd.slice(k("a"), "1:3, -1") == a[1:3, -1]).all()
    assert nd.slice(k("missing"), np.s_[0]) is None


def test_setslice_writes_arrays_and_broadcasts_scalars(nd: Any, k: K) -> None:
    a = np.zeros((4, 5), np.float32)
    nd.set(k("a"), a)
    assert nd.setslice(k("a"), np.s_[1:3, ::2], np.ones((2, 3), np.float32)) is True
    assert nd.setslice(k("a"), np.s_[:, -1], 7.5) is True
    a[1:3, ::2] = 1
    a[:, -1] = 7.5
    assert (nd.get(k("a")) == a).all()
    nd.setslice(k("a"), np.s_[0], np.float32(2))  # NumPy scalar
    a[0] = 2
    assert (nd.get(k("a")) == a).all()


def test_append_returns_the_new_length_and_creates_a_missing_key(nd: Any, k: K) -> None:
    assert nd.append(k("log"), np.arange(6, dtype=np.int64).reshape(2, 3)) == 2
    assert nd.append(k("log"), np.array([6, 7, 8])) == 3
    assert (nd.get(k("log")) == np.arange(9).reshape(3, 3)).all()


def test_reshape_changes_the_shape(nd: Any, k: K) -> None:
    nd.set(k("a"), np.arange(12))
    assert nd.reshape(k("a"), (3, 4)) is True
    assert nd.get(k("a")).shape == (3, 4)
    assert nd.reshape(k("a"), 12) is True and nd.get(k("a")).shape == (12,)


def test_info_has_python_types_and_none_for_a_missing_key(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros((2, 3), np.float32))
    info = nd.info(k("a"))
    assert info["dtype"] == "float32" and info["shape"] == (2, 3)
    assert isinstance(info["nbytes"], int) and info["nbytes"] == 24 and info["ndim"] == 2
    assert all(isinstance(name, str) for name in info)
    assert nd.info(k("missing")) is None


@needs("NDARRAY.INFO updated_at")
def test_info_has_updated_at_and_attrs(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros(3))
    info = nd.info(k("a"))
    assert isinstance(info["updated_at"], int) and info["updated_at"] > 1_600_000_000_000
    assert info["attrs"] == {}


def test_mget_gives_none_for_missing_keys_and_other_types(nd: Any, k: K) -> None:
    nd.set(k("a"), np.arange(3))
    nd.raw.set(k("s"), "text")
    out = nd.mget([k("a"), k("missing"), k("s")])
    assert (out[0] == np.arange(3)).all() and out[1] is None and out[2] is None


@needs("NDARRAY.STACK numkeys")
def test_stack_stacks_and_converts(nd: Any, k: K) -> None:
    rows = [rng.normal(size=8).astype(np.float32) for _ in range(5)]
    for i, row in enumerate(rows):
        nd.set(k(f"r{i}"), row)
    keys = [k(f"r{i}") for i in range(5)]
    assert (nd.stack(keys) == np.stack(rows)).all()
    assert nd.stack(keys, dtype="float64").dtype == np.float64


@needs("NDARRAY.STACK numkeys")
def test_stack_with_missing_fills_and_tells_the_positions(nd: Any, k: K) -> None:
    nd.set(k("a"), np.ones(4, np.float32))
    nd.set(k("c"), np.full(4, 3, np.float32))
    arr, filled = nd.stack([k("a"), k("b"), k("c")], missing=0.0)
    assert filled == [1] and (arr == [[1] * 4, [0] * 4, [3] * 4]).all()
    with pytest.raises(KeyError):
        nd.stack([k("a"), k("b")])


@needs("NDARRAY.MSETEX")
def test_mset_sets_all_with_options_and_honours_nx_xx(nd: Any, k: K) -> None:
    batch = {k("a"): np.arange(3, dtype=np.float64), k("b"): np.eye(2)}
    assert nd.mset(batch, ex=3600, compress="lz4", dtype="float32") is True
    assert nd.get(k("a")).dtype == np.float32 and 0 < nd.raw.ttl(k("b")) <= 3600
    assert nd.mset(batch, nx=True) is False
    assert nd.mset({k("a"): np.zeros(1), k("new"): np.zeros(1)}, xx=True) is False
    assert nd.mset(batch, xx=True) is True


@needs("NDARRAY.ATTRSET", "NDARRAY.ATTRGET", "NDARRAY.ATTRDEL")
def test_attributes_set_read_and_delete(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros(3))
    assert nd.set_attrs(k("a"), source="cam1", model=b"v2") == 2
    assert nd.set_attrs(k("a"), {"odd name": "x"}, source="cam2") == 1
    assert nd.attrs(k("a")) == {"source": b"cam2", "model": b"v2", "odd name": b"x"}
    assert nd.attr_values(k("a"), "model", "nope") == [b"v2", None]
    assert nd.del_attrs(k("a"), "model", "nope") == 1
    assert nd.attrs(k("missing")) is None


@needs("NDARRAY.SET ATTR", "NDARRAY.ATTRGET")
def test_set_stores_attributes(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros(3), attrs={"source": "cam1"})
    assert nd.attrs(k("a")) == {"source": b"cam1"}


@needs("NDARRAY.PROBE")
def test_probe_returns_rows_of_measurements(nd: Any, k: K) -> None:
    nd.set(k("a"), np.sin(np.linspace(0, 50, 100_000)).astype(np.float32))
    rows = nd.probe(k("a"))
    assert rows and all(isinstance(row, dict) for row in rows)
    assert all(isinstance(name, str) for name in rows[0])
    assert nd.probe(k("a"), sample=65536)


@needs("COMPRESS zstd", "SHUFFLE bit")
def test_set_with_zstd_and_bit_shuffle(nd: Any, k: K) -> None:
    a = np.sin(np.linspace(0, 50, 100_000)).astype(np.float32)
    assert nd.set(k("a"), a, compress="zstd", level=-3, shuffle="bit")
    assert (nd.get(k("a")) == a).all()
    assert nd.info(k("a"))["compression"] == "zstd"


# ---- errors ----

def test_wrongtype_is_a_response_error_subclass(nd: Any, k: K) -> None:
    nd.raw.set(k("s"), "text")
    with pytest.raises(WrongTypeError) as e:
        nd.get(k("s"))
    assert isinstance(e.value, redis.ResponseError) and "WRONGTYPE" in str(e.value)


def test_selection_errors_are_index_errors(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros((3, 4)))
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 3"):
        nd.slice(k("a"), np.s_[3])
    with pytest.raises(SelectionError, match="too many indices"):
        nd.slice(k("a"), np.s_[0, 0, 0])
    with pytest.raises(IndexError, match="step cannot be zero"):
        nd.setslice(k("a"), np.s_[::0], 1)


def test_dtype_and_shape_mismatches_are_value_errors(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="cannot reshape"):
        nd.reshape(k("a"), (5,))
    with pytest.raises(DTypeShapeError, match="does not match"):
        nd.setslice(k("a"), np.s_[0], np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="cannot cast"):
        nd.get(k("a"), dtype="int32")
    with pytest.raises(ValueError):
        nd.append(k("a"), np.zeros(5, np.float32))


def test_a_missing_key_where_one_is_needed_is_a_key_error(nd: Any, k: K) -> None:
    with pytest.raises(NoSuchKeyError) as e:
        nd.reshape(k("missing"), 3)
    assert isinstance(e.value, KeyError) and isinstance(e.value, NDArrayError)
    assert str(e.value) == "no such key"


def test_errors_are_mapped_by_their_code_never_by_their_text(nd: Any, k: K) -> None:
    nd.set(k("a"), np.zeros((3, 4), np.float32))
    cases = [
        (lambda: nd.slice(k("a"), np.s_[3]), SelectionError, "BOUNDS"),
        (lambda: nd.reshape(k("a"), (5,)), DTypeShapeError, "SHAPE"),
        (lambda: nd.get(k("a"), dtype="int32"), DTypeShapeError, "DTYPE"),
        (lambda: nd.reshape(k("missing"), 3), NoSuchKeyError, "NOKEY"),
    ]
    for call, cls, code in cases:
        with pytest.raises(cls) as e:
            call()
        assert e.value.code == code, (code, str(e.value))
        assert not str(e.value).startswith(code), "the message follows the code"
    # Straight from redis-py, then mapped: a malformed .npy, and an ERR whose message starts
    # with a capitalised keyword (not mistaken for a code).
    with pytest.raises(redis.ResponseError) as raw:
        nd.raw.execute_command("NDARRAY.SET", k("b"), "NPY", b"\x93NUMPY")
    mapped = classify(raw.value)
    assert isinstance(mapped, DTypeShapeError) and mapped.code == "BADNPY", str(mapped)
    assert str(mapped).startswith("npy ")
    with pytest.raises(redis.ResponseError) as raw:
        nd.raw.execute_command("NDARRAY.SET", k("b"), "float32", 1, "NPY", b"\x93NUMPY")
    mapped = classify(raw.value)
    assert type(mapped) is NDArrayError and mapped.code == "ERR", str(mapped)
    assert str(mapped).startswith("NPY data carries its own dtype")
    limit = classify(redis.ResponseError("LIMIT float64 with shape (9,) needs 72 bytes"))
    corrupt = classify(redis.ResponseError("CORRUPT stored data is corrupt: chunk 0"))
    assert isinstance(limit, LimitError) and isinstance(limit, ValueError)
    assert isinstance(corrupt, CorruptDataError) and corrupt.code == "CORRUPT"
