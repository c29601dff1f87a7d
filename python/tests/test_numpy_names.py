"""NumPy's names and rules are the module's: every spelling `np.dtype()` reads as a supported dtype
means the same type in commands (`float` is float64, `f` float32, `?` bool) and as a `.npy` descr
(`'float64'`, `'d'`, `'?'` in a header written by hand), a spelling of a type the server does not
store is refused naming the ones it does, and writes into an existing array follow NumPy's
`same_kind` casting with NumPy's message. The spellings are generated from NumPy itself."""

from __future__ import annotations

import io
import re
import warnings
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import pytest
import redis

from redis_ndarray import DTypeShapeError, NDArray

K = Callable[..., str]

# NumPy's names of the server's dtypes (bfloat16, ml_dtypes' own, is tested on its own).
SUPPORTED = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float16", "float32", "float64", "complex64", "complex128")
# What the server's errors list, in its order.
SUPPORTED_LIST = ("bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, "
                  "float32, float64, complex64, complex128")


def _numpy_dtype(spelling: str) -> Optional["np.dtype[Any]"]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 'a' (bytes) is deprecated
        try:
            return np.dtype(spelling)
        except TypeError:
            return None


def _candidates() -> List[str]:
    """`np.sctypeDict`'s names, and the type codes and kind+size strings, bare and after each byte
    order character."""
    found = {name for name in np.sctypeDict if isinstance(name, str)}
    for order in ("", "<", "=", "|", ">"):
        found.update(order + code for code in np.typecodes["All"] + "?")
        found.update(f"{order}{kind}{size}" for kind in "biufc?" for size in (1, 2, 4, 8, 16))
    return sorted(found)


def _spellings() -> List[str]:
    return [s for s in _candidates() if (dt := _numpy_dtype(s)) is not None and dt.name in SUPPORTED]


def _unsupported() -> List[str]:
    names = ["float128", "longdouble", "complex256", "clongdouble", "object", "object_", "str", "str_",
             "unicode", "bytes", "bytes_", "void", "datetime64", "timedelta64", "M8[ns]", "<m8[s]", "U5",
             "<U2", "S5", "V2", "T", "c", "f16", "c32"]
    codes = [order + code for order in ("", "<", ">") for code in np.typecodes["All"]]
    return [s for s in dict.fromkeys(names + codes)
            if (dt := _numpy_dtype(s)) is not None and dt.name not in SUPPORTED]


SPELLINGS = _spellings()
UNSUPPORTED = _unsupported()


def npy_file(descr: str, shape: Tuple[int, ...], data: bytes, fortran: bool = False) -> bytes:
    """A version 1.0 `.npy` file with `descr` as written, as a header made by hand would be."""
    dims = f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(map(str, shape))})"
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {dims}, }}".encode()
    pad = -(10 + len(text) + 1) % 64
    header = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def stored_dtype(nd: NDArray, key: str) -> Any:
    info = nd.info(key)
    assert info is not None
    return info["dtype"]


def two_values(dt: "np.dtype[Any]") -> List[int]:
    """`VALUES` for the elements [1, 0]: real and imaginary parts for a complex dtype."""
    return [1, 0, 0, 0] if dt.kind == "c" else [1, 0]


def test_the_spellings_are_numpy_s_own() -> None:
    # A guard on the generation: the well-known ones are there, with NumPy's meaning.
    for spelling, name in [("float", "float64"), ("f", "float32"), ("single", "float32"), ("d", "float64"),
                           ("?", "bool"), ("b1", "bool"), ("<f4", "float32"), ("=f4", "float32"),
                           ("F", "complex64"), ("B", "uint8"), ("b", "int8"), ("e", "float16")]:
        assert spelling in SPELLINGS
        assert np.dtype(spelling).name == name
    assert len(SPELLINGS) > 150
    assert {"g", "O", "U", "S", "V", "M", "float128"} <= set(UNSUPPORTED)


# ---- (a) a spelling in a command means NumPy's dtype ----

@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_numpy_spelling_names_the_dtype_numpy_names(r: redis.Redis, sync_nd: NDArray, k: K,
                                                         spelling: str) -> None:
    dt = np.dtype(spelling)
    key = k("a")
    if dt.byteorder == ">":  # big-endian data only arrives in .npy files
        with pytest.raises(redis.ResponseError, match="DTYPE dtype .* is big-endian"):
            r.execute_command("NDARRAY.SET", key, spelling, 2, "VALUES", *two_values(dt))
        r.execute_command("NDARRAY.SET", key, dt.name, 2, "VALUES", *two_values(dt))
        with pytest.raises(redis.ResponseError, match="is big-endian"):
            r.execute_command("NDARRAY.GET", key, "AS", spelling)
        return
    assert r.execute_command("NDARRAY.SET", key, spelling, 2, "VALUES", *two_values(dt))
    assert stored_dtype(sync_nd, key) == dt.name
    back = np.load(io.BytesIO(r.execute_command("NDARRAY.GET", key, "AS", spelling)))
    assert back.dtype.name == dt.name
    assert back.tolist() == [1, 0]


def test_float_is_float64_as_in_numpy(r: redis.Redis, sync_nd: NDArray, k: K) -> None:
    r.execute_command("NDARRAY.SET", k("a"), "float", 2, "VALUES", 1.5, 2)
    assert stored_dtype(sync_nd, k("a")) == "float64"
    r.execute_command("NDARRAY.SET", k("b"), "float32", 2, "VALUES", 1.5, 2)
    back = np.load(io.BytesIO(r.execute_command("NDARRAY.GET", k("b"), "AS", "float")))
    assert back.dtype == np.float64 and back.tolist() == [1.5, 2.0]


@pytest.mark.parametrize("spelling, name", [("FLOAT32", "float32"), ("Float", "float64"), ("DOUBLE", "float64"),
                                            ("Single", "float32"), ("BOOL", "bool"), ("bfloat16", "bfloat16"),
                                            ("BFLOAT16", "bfloat16"), ("UINT", "uint64")])
def test_names_are_case_insensitive_and_bfloat16_is_ml_dtypes(r: redis.Redis, sync_nd: NDArray, k: K,
                                                              spelling: str, name: str) -> None:
    r.execute_command("NDARRAY.SET", k("a"), spelling, 2, "VALUES", 1, 0)
    assert stored_dtype(sync_nd, k("a")) == name


@pytest.mark.parametrize("spelling", ["F4", "B1", "I4", "E", "?1", "float_", "cfloat", "complex_", "bool8",
                                      "<float32", " f4", "f4 "])
def test_what_numpy_refuses_is_refused(r: redis.Redis, k: K, spelling: str) -> None:
    assert _numpy_dtype(spelling) is None
    with pytest.raises(redis.ResponseError, match="DTYPE unknown dtype"):
        r.execute_command("NDARRAY.SET", k("a"), spelling, 2, "VALUES", 1, 0)


def test_the_client_s_dtype_names_are_numpy_s(sync_nd: NDArray, k: K) -> None:
    sync_nd.set(k("a"), np.array([1.5, 2.0], np.float32))
    for spelling, dtype in [("float", np.float64), ("d", np.float64), ("f", np.float32), ("single", np.float32),
                            ("e", np.float16), ("half", np.float16), (float, np.float64)]:
        got = sync_nd.get(k("a"), dtype=spelling)
        assert got is not None and got.dtype == dtype, spelling
        assert got.tolist() == [1.5, 2.0]
    sync_nd.set(k("b"), np.array([1, 2]), dtype="half")
    assert stored_dtype(sync_nd, k("b")) == "float16"


# ---- (b) a .npy descr means NumPy's dtype ----

@pytest.mark.parametrize("descr", SPELLINGS)
def test_a_hand_made_npy_header_with_any_numpy_descr_round_trips(r: redis.Redis, k: K, descr: str) -> None:
    a = np.array([1, 0], dtype=np.dtype(descr))
    file = npy_file(descr, a.shape, a.tobytes())
    assert np.array_equal(np.load(io.BytesIO(file)), a)  # np.load reads it: a case of NumPy's own
    assert r.execute_command("NDARRAY.SET", k("a"), "NPY", file)
    back = np.load(io.BytesIO(r.execute_command("NDARRAY.GET", k("a"))))
    assert back.dtype.name == a.dtype.name and back.dtype.byteorder in "=|"
    assert back.tolist() == a.tolist()


def _format_suite_arrays() -> List["np.ndarray[Any, Any]"]:
    """numpy/lib/tests/test_format.py's `basic_arrays`, object aside."""
    out = []
    for scalar in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64,
                   np.float32, np.float64, np.complex64, np.complex128):
        for endian in "<>":
            dtype = np.dtype(scalar).newbyteorder(endian)
            basic = np.arange(1500).astype(dtype)
            out += [np.array([], dtype=dtype), np.array(10, dtype=dtype), basic, basic.reshape((30, 50)),
                    basic.reshape((30, 50)).T, basic.reshape((30, 50))[::-1, ::2]]
    return out


def test_numpy_format_suite_s_basic_arrays_round_trip(r: redis.Redis, k: K) -> None:
    for arr in _format_suite_arrays():
        f = io.BytesIO()
        np.lib.format.write_array(f, arr)
        assert r.execute_command("NDARRAY.SET", k("a"), "NPY", f.getvalue())
        back = np.load(io.BytesIO(r.execute_command("NDARRAY.GET", k("a"))))
        assert back.dtype.name == arr.dtype.name and back.shape == arr.shape
        assert np.array_equal(back, arr), (arr.dtype.str, arr.shape)


# ---- (c) a type the server does not store is refused, naming the ones it does ----

@pytest.mark.parametrize("spelling", UNSUPPORTED)
def test_a_numpy_spelling_of_an_unsupported_type_is_refused_naming_the_supported(r: redis.Redis, k: K,
                                                                                spelling: str) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("NDARRAY.SET", k("a"), spelling, 2, "VALUES", 1, 0)
    assert str(e.value).startswith(f"DTYPE unknown dtype '{spelling}'")
    assert f"expected one of: {SUPPORTED_LIST})" in str(e.value)

    dt = np.dtype(spelling)
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("NDARRAY.SET", k("a"), "NPY", npy_file(spelling, (2,), bytes(2 * dt.itemsize)))
    message = str(e.value)
    assert message.startswith("DTYPE npy descr"), message
    assert f"supported: {SUPPORTED_LIST})" in message or "object arrays are not supported" in message


def test_the_unsupported_type_s_numpy_name_is_in_the_message(r: redis.Redis, k: K) -> None:
    with pytest.raises(redis.ResponseError, match="unknown dtype 'g' \\(NumPy's longdouble is not supported; "):
        r.execute_command("NDARRAY.SET", k("a"), "g", 2, "VALUES", 1, 0)
    with pytest.raises(redis.ResponseError, match="npy descr '<U2' is not a supported dtype \\(it is NumPy's str; "):
        r.execute_command("NDARRAY.SET", k("a"), "NPY", npy_file("<U2", (1,), bytes(8)))


# ---- writes into an existing array: NumPy's same_kind casting ----

def numpy_refusal(src: "np.dtype[Any]", dst: "np.dtype[Any]") -> Optional[str]:
    """NumPy's TypeError text for `np.copyto(dst_array, src_array)` (casting='same_kind'), or None."""
    try:
        np.copyto(np.zeros(3, dst), np.ones(3, src))
        return None
    except TypeError as e:
        return str(e)


@pytest.mark.parametrize("src", SUPPORTED)
def test_append_and_setslice_cast_as_numpy_s_same_kind(sync_nd: NDArray, k: K, src: str) -> None:
    for dst in SUPPORTED:
        refusal = numpy_refusal(np.dtype(src), np.dtype(dst))
        assert (refusal is None) == np.can_cast(src, dst, "same_kind")
        key = k(dst)
        sync_nd.set(key, np.zeros((2, 3), dst))
        rows = np.ones((1, 3), src)
        expect = np.zeros((2, 3), dst)
        if refusal is None:
            assert sync_nd.append(key, rows) == 3
            sync_nd.setslice(key, np.s_[0:1], rows)
            expect = np.concatenate([np.ones((1, 3), dst), np.zeros((1, 3), dst), np.ones((1, 3), dst)])
        else:
            with pytest.raises(DTypeShapeError, match=re.escape(refusal)):
                sync_nd.append(key, rows)
            with pytest.raises(DTypeShapeError, match=re.escape(refusal)):
                sync_nd.setslice(key, np.s_[0:1], rows)
        got = sync_nd.get(key)
        assert got is not None and got.dtype == np.dtype(dst) and np.array_equal(got, expect), (src, dst)


def test_the_issue_s_two_cases(sync_nd: NDArray, k: K) -> None:
    # A Python int list (int64) into int32: same_kind, so accepted, as np.copyto does.
    sync_nd.set(k("i"), np.zeros((1, 2), np.int32))
    assert sync_nd.append(k("i"), [[1, 2]]) == 2
    # float64 into float32 is same_kind too: 1e300 overflows to inf, as in NumPy.
    sync_nd.set(k("f"), np.zeros((1, 2), np.float32))
    assert sync_nd.append(k("f"), np.array([[1e300, 2.0]])) == 2
    expect = np.zeros((2, 2), np.float32)
    with np.errstate(over="ignore"):
        np.copyto(expect[1:], np.array([[1e300, 2.0]]))
    got = sync_nd.get(k("f"))
    assert got is not None and np.array_equal(got, expect)
    # A float list into an int array is not.
    with pytest.raises(DTypeShapeError, match="Cannot cast array data from dtype\\('float64'\\) to "
                                              "dtype\\('int32'\\) according to the rule 'same_kind'"):
        sync_nd.append(k("i"), [[1.5, 2]])


def test_a_python_float_into_an_int_array_is_refused_as_numpy_refuses_it(sync_nd: NDArray, k: K) -> None:
    sync_nd.set(k("i"), np.zeros(3, np.int32))
    with pytest.raises(TypeError) as numpy_error:
        np.copyto(np.zeros(3, np.int32), 1.5)
    with pytest.raises(DTypeShapeError, match=re.escape(str(numpy_error.value))):
        sync_nd.setslice(k("i"), np.s_[0:2], 1.5)
