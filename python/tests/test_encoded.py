"""The encoded form in the client (redis_ndarray.encode / decode, from the module's own core) and
the client's writes and reads through it: bytes equal to what the server stores, every dtype and
encoding, hostile payloads refused, and every client mode of the `nd` fixture."""

from __future__ import annotations

import struct
from typing import Any, Callable

import numpy as np
import pytest
import redis

import redis_ndarray
from redis_ndarray import _codec

K = Callable[..., str]
rng = np.random.default_rng(21)

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
          "float32", "float64", "complex64", "complex128"]


def sample(dtype: str, shape: Any) -> np.ndarray[Any, Any]:
    """Smooth data (compresses) of `dtype`."""
    n = int(np.prod(shape))
    base = np.cumsum(rng.integers(-2, 3, size=n)).reshape(shape)
    if dtype == "bool":
        return base % 3 == 0
    if dtype.startswith("complex"):
        return (base + 0.5j * base).astype(dtype)  # type: ignore[no-any-return]
    return base.astype(dtype)  # type: ignore[no-any-return]


def without_write_time(payload: bytes) -> bytes:
    """A stored payload with its updated_at (the field after the chunks) zeroed, to compare it with
    a client's encoding (which records no write time). Its tail: updated_at, attribute count, end
    marker, for an array without attributes."""
    assert payload[-8:] == b"ndarray!"[::-1] and payload[-16:-8] == bytes(8)
    return payload[:-24] + bytes(8) + payload[-16:]


@pytest.mark.parametrize("dtype", DTYPES)
def test_encode_then_decode_returns_the_array_for_every_dtype_and_shape(dtype: str) -> None:
    for shape in [(), (0,), (7,), (3, 0, 2), (300, 257), (1 << 20,)]:
        a = sample(dtype, shape)
        for compress in [None, "none", "lz4", "zlib", "auto"]:
            b = redis_ndarray.decode(redis_ndarray.encode(a, compress=compress))
            assert b.dtype == a.dtype and b.shape == a.shape and (a == b).all(), (shape, compress)
            assert b.flags.writeable and b.flags.c_contiguous


def test_bfloat16_round_trips() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = np.linspace(-3, 3, 5000).astype(ml_dtypes.bfloat16)
    b = redis_ndarray.decode(redis_ndarray.encode(a, shuffle="byte"))
    assert b.dtype == a.dtype and (a == b).all()


def test_encode_takes_any_array_like_and_byte_order() -> None:
    a = np.arange(12, dtype=">i4").reshape(3, 4)
    assert (redis_ndarray.decode(redis_ndarray.encode(a)) == a).all()
    assert (redis_ndarray.decode(redis_ndarray.encode(a.T)) == a.T).all()  # not C-contiguous
    assert (redis_ndarray.decode(redis_ndarray.encode([[1.5, 2], [3, 4]])) == [[1.5, 2], [3, 4]]).all()


def test_bad_options_and_bad_payloads_raise_value_errors() -> None:
    a = np.zeros(10, np.float32)
    for kwargs in [dict(compress="brotli"), dict(shuffle="sideways"), dict(compress="lz4", level=3),
                   dict(compress="zstd", level=99), dict(compress="auto", level=1), dict(chunk_bytes=1)]:
        with pytest.raises(ValueError):
            redis_ndarray.encode(a, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not supported|unknown dtype"):
        redis_ndarray.encode(np.array(["text"]))
    for payload in [b"", b"NDAE", b"NPY", b"NDAE" + bytes(200)]:
        with pytest.raises(ValueError, match="BADPAYLOAD"):
            redis_ndarray.decode(payload)


def test_mutated_payloads_are_refused_or_decode_to_the_declared_shape() -> None:
    """Every byte of a payload mutated: decode never crashes the interpreter and either raises
    ValueError or returns an array of the shape and dtype the payload declares."""
    a = sample("float32", (64, 1000))
    payload = bytearray(redis_ndarray.encode(a, chunk_bytes=16384))
    gen = np.random.default_rng(5)
    for _ in range(3000):
        bad = bytearray(payload)
        for _ in range(int(gen.integers(1, 4))):
            bad[int(gen.integers(0, len(bad)))] = int(gen.integers(0, 256))
        if gen.random() < 0.2:
            bad = bad[: int(gen.integers(0, len(bad)))]
        try:
            out = redis_ndarray.decode(bytes(bad))
        except ValueError:
            continue
        assert out.nbytes == out.size * out.itemsize


@pytest.mark.parametrize("options", [
    {}, {"compress": "lz4"}, {"compress": "zlib", "level": 6, "shuffle": "byte"}, {"compress": "zstd", "level": 3},
    {"compress": "none"}, {"compress": "auto"},
])
def test_the_clients_bytes_equal_the_servers_for_the_same_array_and_options(sync_nd: Any, k: K,
                                                                           options: Any) -> None:
    for dtype, shape in [("float32", (500, 300)), ("uint8", (4096,)), ("int64", (3,)), ("float64", (70000,))]:
        a = sample(dtype, shape)
        sync_nd.set(k("a"), a, encode="server", **options)
        stored = sync_nd.raw.execute_command("NDARRAY.GET", k("a"), "FORMAT", "ENCODED")
        assert without_write_time(stored) == redis_ndarray.encode(a, **options), (dtype, options)


def test_set_encoded_in_the_client_keeps_options_ttl_and_attributes(nd: Any, k: K) -> None:
    a = sample("float32", (256, 256))
    assert nd.set(k("a"), a, encode="client", compress="lz4", ex=100, attrs={"model": "v2"}) is True
    b = nd.get(k("a"))
    assert b.dtype == a.dtype and (a == b).all()
    info = nd.info(k("a"))
    assert info["compression"].startswith("lz4") or "lz4" in str(info), info
    assert nd.attr_values(k("a"), "model") == [b"v2"]
    assert 0 < nd.raw.ttl(k("a")) <= 100
    assert nd.set(k("a"), a, encode="client", nx=True) is False
    assert nd.set(k("a"), a + 1, encode="client", xx=True) is True
    assert (nd.get(k("a")) == a + 1).all()


def test_auto_encodes_big_compressing_writes_in_the_client(sync_nd: Any, k: K, server: Any) -> None:
    """Seen from the server: an auto write of a big array arrives as ENCODED (the command's stats
    show no compression done by the server), a small one as raw bytes."""
    r = sync_nd.raw
    a = sample("float32", (512, 512))
    before = _chunks_encoded(r)
    sync_nd.set(k("big"), a)
    assert _chunks_encoded(r) == before, "the server compressed a client-encoded write"
    assert (sync_nd.get(k("big")) == a).all()
    sync_nd.set(k("big"), a, encode="server")
    assert _chunks_encoded(r) > before
    assert (sync_nd.get(k("big")) == a).all()


def _chunks_encoded(r: redis.Redis) -> int:
    info = r.info("ndarray")
    for name, value in info.items():
        if name.endswith("chunks_encoded"):
            return int(value)
    raise AssertionError(f"no chunks_encoded in INFO ndarray: {info}")


def test_mset_encodes_each_value_where_it_pays_and_all_round_trip(nd: Any, k: K) -> None:
    arrays = {k("small"): np.arange(10, dtype=np.int32), k("big"): sample("float64", (200, 100)),
              k("raw"): rng.random(20000).astype(np.float32)}
    assert nd.mset(arrays, ex=60) is True
    for key, a in arrays.items():
        assert (nd.get(key) == a).all()
    assert nd.mset(arrays, compress="lz4", encode="client") is True
    assert nd.mset(arrays, compress="lz4") is True  # big ones here, small ones too (no options sent)
    assert nd.mset(arrays, encode="server", compress="zlib") is True
    for key, a in arrays.items():
        assert (nd.get(key) == a).all()


def test_encode_modes_are_checked(nd: Any, k: K) -> None:
    with pytest.raises(ValueError, match="encode must be"):
        nd.set(k("a"), np.zeros(3), encode="sometimes")
    with pytest.raises(ValueError, match="converts on the server"):
        nd.set(k("a"), np.zeros(3), encode="client", dtype="float32")
    assert nd.set(k("a"), np.zeros(100000), dtype="float32") is True  # auto: the server converts
    assert nd.get(k("a")).dtype == np.float32


def test_struct_of_the_tail_is_as_documented() -> None:
    payload = redis_ndarray.encode(np.zeros(3, np.int8))
    updated_at, nattrs, marker = struct.unpack("<QQQ", payload[-24:])
    assert (updated_at, nattrs, marker) == (0, 0, int.from_bytes(b"ndarray!", "big"))
    assert payload[:4] == b"NDAE" and _codec.ENCODE_MIN_BYTES == 64 << 10
