"""Every dtype both ways (bfloat16 too), every kind of NumPy basic index against NumPy itself on
random arrays, and the hand-written .npy parser against np.save."""

from __future__ import annotations

import io
from typing import Any, Callable

import ml_dtypes
import numpy as np
import pytest

from redis_ndarray import NDArray, from_npy, selection, to_npy

K = Callable[..., str]
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
          "float32", "float64", "complex64", "complex128", ml_dtypes.bfloat16]
SHAPES = [(), (0,), (7,), (3, 4), (2, 0, 3), (2, 3, 5)]


def random_array(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...]) -> "np.ndarray[Any, Any]":
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if dt.kind == "c":
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dt)
    return rng.normal(size=shape).astype(dt)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_dtype_and_shape_round_trips(sync_nd: NDArray, k: K, dtype: Any) -> None:
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        a = random_array(rng, dtype, shape)
        sync_nd.set(k("a"), a)
        b = sync_nd.get(k("a"))
        assert b is not None and b.dtype == a.dtype and b.shape == a.shape
        assert a.tobytes() == b.tobytes()
        info = sync_nd.info(k("a"))
        assert info is not None and info["dtype"] == np.dtype(dtype).name
    out = sync_nd.mget([k("a")])[0]
    assert out is not None and out.dtype == np.dtype(dtype)


def test_bfloat16_is_stored_from_float32_and_read_back_both_ways(sync_nd: NDArray, k: K) -> None:
    w = np.linspace(-1, 1, 64, dtype=np.float32)
    sync_nd.set(k("w"), w, dtype="bfloat16")
    bf = sync_nd.get(k("w"))
    assert bf is not None and bf.dtype == ml_dtypes.bfloat16 and (bf == w.astype(ml_dtypes.bfloat16)).all()
    f = sync_nd.get(k("w"), dtype=np.float32)
    assert f is not None and (f == w.astype(ml_dtypes.bfloat16).astype(np.float32)).all()
    sync_nd.setslice(k("w"), np.s_[:2], np.array([5, 6], ml_dtypes.bfloat16))
    head = sync_nd.slice(k("w"), np.s_[:3])
    assert head is not None and head.tolist()[:2] == [5.0, 6.0]


def test_big_endian_fortran_and_non_contiguous_inputs_are_stored_as_numpy_sees_them(sync_nd: NDArray, k: K) -> None:
    a = np.arange(24, dtype=">i4").reshape(4, 6)
    for variant in (a, np.asfortranarray(a), a[:, ::2], a.T):
        sync_nd.set(k("a"), variant)
        b = sync_nd.get(k("a"))
        assert b is not None and b.shape == variant.shape and (b == variant).all() and b.dtype == np.int32


def test_unsupported_dtypes_are_value_errors_before_sending(sync_nd: NDArray, k: K) -> None:
    for bad in (np.array(["text"]), np.array([1], dtype=object), np.zeros(2, dtype="datetime64[s]")):
        with pytest.raises(ValueError):
            sync_nd.set(k("a"), bad)
    with pytest.raises(ValueError):
        sync_nd.get(k("a"), dtype="float128x")


# ---- indexing ----

INDICES = [
    np.s_[0], np.s_[-1], np.s_[3], np.s_[1:4], np.s_[:], np.s_[::2], np.s_[::-1], np.s_[-3:], np.s_[:-2],
    np.s_[5:2], np.s_[7:1:-2], np.s_[-100:100], np.s_[...], np.s_[..., 0], np.s_[0, ...], np.s_[1, ..., -1],
    np.s_[:, 2], np.s_[1:5, ::3], np.s_[::-1, ::-2, 1:], np.s_[2, 3, 1], np.s_[..., ::2, 1],
    np.s_[None], np.s_[None, 0], np.s_[:, None, 2], np.s_[..., None], np.s_[None, ..., None, 1],
    np.s_[1, None, ::-1, None], np.s_[np.int64(2), np.int32(-1)],
]


@pytest.fixture(scope="module")
def stored(request: pytest.FixtureRequest) -> tuple[NDArray, str, "np.ndarray[Any, Any]"]:
    nd = request.getfixturevalue("sync_nd")
    a = np.random.default_rng(7).normal(size=(9, 8, 7)).astype(np.float32)
    nd.set("{idx}:a", a)
    return nd, "{idx}:a", a


@pytest.fixture(scope="module")
def sync_nd(request: pytest.FixtureRequest, loop: Any) -> NDArray:
    from conftest import make_nd
    return make_nd("resp3", request, loop)  # type: ignore[no-any-return]


@pytest.mark.parametrize("index", INDICES, ids=str)
def test_every_basic_index_matches_numpy(stored: Any, index: Any) -> None:
    nd, key, a = stored
    expected = a[index]
    got = nd.slice(key, index)
    assert got.shape == expected.shape and got.dtype == expected.dtype and (got == expected).all()


def test_random_indices_match_numpy(stored: Any) -> None:
    nd, key, a = stored
    rng = np.random.default_rng(3)

    def item(n: int) -> Any:
        kind = rng.integers(0, 3)
        if kind == 0:
            return int(rng.integers(-n, n))
        parts = [None if rng.random() < 0.3 else int(rng.integers(-n - 2, n + 2)) for _ in range(2)]
        step = None if rng.random() < 0.3 else int(rng.choice([-3, -2, -1, 1, 2, 3]))
        return slice(parts[0], parts[1], step)

    for _ in range(60):
        index = tuple(item(n) for n in a.shape[: rng.integers(1, 4)])
        if rng.random() < 0.3:
            index = (Ellipsis,) + index[1:]
        got = nd.slice(key, index)
        assert got.shape == a[index].shape and (got == a[index]).all(), index


def test_setslice_matches_numpy_assignment(stored: Any) -> None:
    nd, _, _ = stored
    a = np.zeros((6, 5), np.int32)
    nd.set("{idx}:w", a)
    for index, value in ((np.s_[1:4, ::2], np.arange(9, dtype=np.int32).reshape(3, 3)), (np.s_[..., -1], 5),
                         (np.s_[::-2], np.full((3, 5), 8, np.int32)), (np.s_[2, 1], 9)):
        nd.setslice("{idx}:w", index, value)
        a[index] = value
        assert (nd.get("{idx}:w") == a).all()


GATHERS = [
    [3, 0, 8], np.array([-1, 2, 2]), np.s_[[1, 1], ::2], np.s_[:, [7, 0, 3]], np.s_[..., [6, 0]],
    np.s_[2, [1, 5], :], np.s_[:, 1, [0, 6, 6]], np.s_[[4], None, 1:3], np.array([], np.int64), np.s_[::-1, [2]],
]


@pytest.mark.parametrize("index", GATHERS, ids=str)
def test_integer_lists_gather_as_numpy(stored: Any, index: Any) -> None:
    nd, key, a = stored
    expected = a[index]
    got = nd.slice(key, index)
    assert got.shape == expected.shape and (got == expected).all()


def test_setslice_with_an_integer_list_matches_numpy_last_write_wins(stored: Any) -> None:
    nd, _, _ = stored
    a = np.zeros((6, 5), np.int32)
    nd.set("{idx}:g", a)
    for index, value in ((np.s_[[4, 0, 4]], np.arange(15, dtype=np.int32).reshape(3, 5)),
                         (np.s_[:, [3, 1]], 7), (np.s_[[2, 5], 1:3], np.full((2, 2), 9, np.int32))):
        nd.setslice("{idx}:g", index, value)
        a[index] = value
        assert (nd.get("{idx}:g") == a).all(), index


def test_indices_the_server_does_not_take_are_index_errors_before_sending(stored: Any) -> None:
    nd, key, _ = stored
    for bad in (True, np.array([True, False] * 4 + [True]), np.zeros((2, 2), np.int64), [0.5, 1],
                1.5, "x"[:0] or object()):
        with pytest.raises(IndexError):
            nd.slice(key, bad)
    with pytest.raises(IndexError):  # two lists: NumPy would broadcast them together
        nd.slice(key, np.s_[[0, 1], [1, 2]])
    with pytest.raises(IndexError):  # an int apart from the list: NumPy would move the list's axis first
        nd.slice(key, np.s_[[0, 1], :, 2])


def test_selection_strings() -> None:
    assert selection(np.s_[1:9:2, -1, ::3])[0] == "1:9:2, -1, ::3"
    assert selection(np.s_[..., 0])[0] == "..., 0"
    assert selection(np.s_[:])[0] == ":"
    assert selection("4000:4010")[0] == "4000:4010"
    assert selection(np.s_[[3, -1], 2:])[0] == "[3,-1], 2:"
    assert selection(np.array([7, 8]))[0] == "[7,8]"


# ---- the .npy parser ----

def np_save(a: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d is not ml_dtypes.bfloat16], ids=str)
def test_the_header_is_what_np_save_writes_and_parses_back(dtype: Any) -> None:
    rng = np.random.default_rng(0)
    for shape in SHAPES + [(70000, 0)]:
        a = random_array(rng, dtype, shape)
        assert to_npy(a) == np_save(a)
        b = from_npy(np_save(a))
        assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()


def test_a_32_dim_header_and_a_foreign_header_parse() -> None:
    a = np.zeros((1,) * 32 + (0,) * 0, np.int8)
    long_shape = np.zeros((0,) + (1,) * 31, np.uint8)
    for arr in (a, long_shape):
        assert from_npy(to_npy(arr)).shape == arr.shape
    fortran = np_save(np.asfortranarray(np.arange(6).reshape(2, 3)))  # 'fortran_order': True: np.load path
    assert (from_npy(fortran) == np.arange(6).reshape(2, 3)).all()
    with pytest.raises(ValueError):
        from_npy(b"not npy")
