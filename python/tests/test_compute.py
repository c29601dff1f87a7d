"""Arrays that compute where they live (NDARRAY.REDUCE, NDARRAY.APPLY, NDARRAY.STACK … REDUCE / MISSING
SKIP) against NumPy itself: every op and ufunc on every dtype, 0-d, empty and n-d shapes, every axis
combination, selections, NumPy's errors and messages; then through every client mode, across cluster
slots, under concurrency and on replicas.

The sweeps collect every disagreement and fail once with the list (case, server, NumPy), so one run
shows all of them. Each sweep pipelines its commands (one round trip per few thousand)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import ml_dtypes
import numpy as np
import pytest
import redis
from redis.cluster import ClusterNode

from conftest import ROOT, Server, make_nd
from redis_ndarray import (
    DTypeError, DTypeShapeError, NDArray, NDArrayError, NoSuchKeyError, SelectionError, WrongTypeError,
)

K = Callable[..., str]
BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
          "bfloat16", "float32", "float64", "complex64", "complex128"]
SHAPES = [(), (0,), (3, 0), (7,), (3, 4), (2, 3, 4)]
OPS = ["sum", "prod", "mean", "min", "max", "var", "std", "argmin", "argmax", "count_nonzero", "any", "all"]
# The ops whose float results are rounded sums (compared with a float64 reference and a tolerance: the
# server accumulates in float64, NumPy in the dtype, pairwise).
ROUNDED_OPS = {"sum", "prod", "mean", "var", "std"}
UFUNCS = ["add", "subtract", "multiply", "divide", "minimum", "maximum"]


def dt(name: Any) -> "np.dtype[Any]":
    return BF16 if name == "bfloat16" else np.dtype(name)


def random_array(rng: np.random.Generator, dtype: Any, shape: Tuple[int, ...]) -> Any:
    """Random values over the dtype's range (integers wrap in sums and products), a fifth of them zero
    (for count_nonzero, any, all)."""
    d = dt(dtype)
    if d.kind == "b":
        return np.array(rng.integers(0, 2, size=shape), dtype=bool)
    if d.kind in "iu":
        info = np.iinfo(d)
        a = np.array(rng.integers(info.min, info.max, size=shape, dtype=d, endpoint=True))
    elif d.kind == "c":
        a = np.array(rng.normal(size=shape) + 1j * rng.normal(size=shape), dtype=d)
    else:
        a = np.array(rng.normal(size=shape), dtype=d)
    a[rng.random(size=shape) < 0.2] = 0
    return a


def axis_choices(ndim: int) -> Iterator[Any]:
    """None, each axis (also negative), each pair (both orders, one negative), and all three."""
    yield None
    for i in range(ndim):
        yield i
        yield i - ndim
    for i, j in itertools.combinations(range(ndim), 2):
        yield (i, j)
        yield (j - ndim, i)
    if ndim >= 3:
        yield tuple(range(ndim))


def quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return fn()


def numpy_reduce(a: Any, op: str, axis: Any, keepdims: bool, dtype: Any = None) -> Any:
    kwargs: Dict[str, Any] = {"axis": axis, "keepdims": keepdims}
    if dtype is not None:
        kwargs["dtype"] = dt(dtype)
    return quiet(lambda: getattr(np, op)(a, **kwargs))


def eps(d: "np.dtype[Any]") -> float:
    real = np.dtype(f"f{d.itemsize // 2}") if d.kind == "c" else d
    return float(ml_dtypes.finfo(real).eps)


def tiny(d: "np.dtype[Any]") -> float:
    real = np.dtype(f"f{d.itemsize // 2}") if d.kind == "c" else d
    return float(ml_dtypes.finfo(real).smallest_subnormal)


def inexact(d: "np.dtype[Any]") -> bool:
    return d.kind in "fc" or d == BF16


def wide(d: "np.dtype[Any]") -> "np.dtype[Any]":
    return np.dtype(np.complex128) if d.kind == "c" else np.dtype(np.float64)


def close_to_reference(got: Any, a: Any, op: str, axis: Any, keepdims: bool, dtype: Any,
                       result: "np.dtype[Any]") -> bool:
    """Whether a rounded reduction is NumPy's in float64 (complex128) rounded to `result`, within a few
    units in the last place of `result` (relative to the magnitudes summed)."""
    src = a if dtype is None else quiet(lambda: a.astype(dt(dtype)))
    w = src.astype(wide(src.dtype))
    ref = np.asarray(quiet(lambda: getattr(np, op)(w, axis=axis, keepdims=keepdims)))
    mag = np.abs(w)
    scale = {
        "sum": lambda: np.sum(mag, axis=axis, keepdims=keepdims),
        "mean": lambda: np.mean(mag, axis=axis, keepdims=keepdims),
        "var": lambda: np.mean(mag ** 2, axis=axis, keepdims=keepdims),
        "std": lambda: np.sqrt(np.mean(mag ** 2, axis=axis, keepdims=keepdims)),
        "prod": lambda: np.abs(ref),
    }[op]
    s = np.nan_to_num(np.asarray(quiet(scale)), nan=0.0)
    g = np.asarray(got).astype(wide(result))
    rounded = quiet(lambda: ref.astype(result).astype(wide(result)))  # also where it overflows to inf
    diff = quiet(lambda: np.abs(g - ref))
    ok = (diff <= 4 * eps(result) * (np.abs(ref) + s) + 2 * tiny(result)) | (g == rounded)
    if result.kind == "c":  # NaN in the same components
        ok |= (np.isnan(g.real) == np.isnan(rounded.real)) & (np.isnan(g.imag) == np.isnan(rounded.imag)) & (
            np.isnan(g.real) | np.isnan(g.imag)) & ((g.real == rounded.real) | np.isnan(g.real)) & (
            (g.imag == rounded.imag) | np.isnan(g.imag))
    else:
        ok |= np.isnan(g) & np.isnan(rounded)
    return bool(np.all(ok))


def same_values(got: Any, want: Any) -> bool:
    g, w = np.asarray(got), np.asarray(want)
    if inexact(w.dtype):
        g, w = g.astype(wide(w.dtype)), w.astype(wide(w.dtype))
        return bool(np.array_equal(g, w, equal_nan=True))
    return bool(np.array_equal(g, w))


def error_matches(got: BaseException, want: BaseException) -> Optional[str]:
    """None when the client's error is the one NumPy raised (its class in our hierarchy, and its
    message where NumPy's is one the server reproduces), else why not."""
    text = str(got)
    if isinstance(want, np.exceptions.AxisError):
        if not isinstance(got, SelectionError) or text != str(want):
            return f"wants SelectionError {str(want)!r}"
        return None
    if isinstance(want, (ValueError, OverflowError)):
        if not isinstance(got, DTypeShapeError):
            return f"wants a DTypeShapeError (ValueError) like NumPy's {type(want).__name__} {str(want)!r}"
        numpy_text = str(want)
        if ("out of bounds" in numpy_text or "zero-size" in numpy_text or "empty sequence" in numpy_text
                or "duplicate value" in numpy_text) and text != numpy_text:
            return f"wants NumPy's message {numpy_text!r}"
        return None
    if isinstance(want, TypeError):
        if not isinstance(got, NDArrayError):
            return f"wants an NDArrayError like NumPy's TypeError {str(want)!r}"
        numpy_text = str(want)
        if (isinstance(want, np._core._exceptions._UFuncOutputCastingError)  # type: ignore[attr-defined]
                or numpy_text.startswith("numpy boolean subtract")):
            if not isinstance(got, DTypeError) or text != numpy_text:
                return f"wants DTypeError (a TypeError) with NumPy's message {numpy_text!r}"
        return None
    return None


def check_reduce(case: str, got: Any, a: Any, op: str, axis: Any, keepdims: bool, dtype: Any,
                 failures: List[str]) -> None:
    try:
        want = numpy_reduce(a, op, axis, keepdims, dtype)
    except Exception as e:
        if not isinstance(got, Exception):
            failures.append(f"{case}: NumPy raises {type(e).__name__}({str(e)!r}), the server replied {got!r}")
            return
        why = error_matches(got, e)
        if why:
            failures.append(f"{case}: server {type(got).__name__}({str(got)!r}); {why}")
        return
    if isinstance(got, Exception):
        failures.append(f"{case}: server {type(got).__name__}({str(got)!r}), NumPy {want!r}")
        return
    w = np.asarray(want)
    g = np.asarray(got)
    if isinstance(want, np.generic) != isinstance(got, np.generic):
        failures.append(f"{case}: got a {type(got).__name__}, NumPy returns a {type(want).__name__}")
        return
    if g.dtype != w.dtype or g.shape != w.shape:
        failures.append(f"{case}: got {g.dtype}{g.shape}, NumPy {w.dtype}{w.shape}")
        return
    if op in ROUNDED_OPS and inexact(w.dtype):
        if not close_to_reference(g, a, op, axis, keepdims, dtype, w.dtype):
            failures.append(f"{case}: got {got!r}, NumPy {want!r} (not within rounding of the float64 reference)")
    elif not same_values(g, w):
        failures.append(f"{case}: got {got!r}, NumPy {want!r}")


def pipelined(nd: NDArray, calls: Sequence[Tuple[str, Tuple[Any, ...], Dict[str, Any]]],
              chunk: int = 3000) -> List[Any]:
    """Each call (method, args, kwargs) through non-transactional pipelines; errors in place."""
    out: List[Any] = []
    for start in range(0, len(calls), chunk):
        p = nd.pipeline(transaction=False)
        for name, args, kwargs in calls[start:start + chunk]:
            getattr(p, name)(*args, **kwargs)
        out += p.execute(raise_on_error=False)
    return out


def report(failures: List[str], total: int) -> None:
    assert not failures, f"{len(failures)} of {total} cases disagree with NumPy:\n" + "\n".join(failures[:int(os.environ.get("COMPUTE_SHOW", "60"))])


@pytest.fixture(scope="module")
def snd(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> NDArray:
    return make_nd("resp3", request, loop)  # type: ignore[no-any-return]


# ---- NDARRAY.REDUCE against NumPy ----

@pytest.mark.parametrize("dtype", DTYPES)
def test_reduce_every_op_shape_axis_and_keepdims_matches_numpy(snd: NDArray, k: K, dtype: str) -> None:
    rng = np.random.default_rng(DTYPES.index(dtype))
    arrays = {shape: random_array(rng, dtype, shape) for shape in SHAPES}
    calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = []
    cases: List[Tuple[str, Any, str, Any, bool]] = []
    for shape, a in arrays.items():
        calls.append(("set", (k(str(shape)), a), {}))
        cases.append(("", None, "", None, False))
        for op in OPS:
            for axis in axis_choices(a.ndim):
                if op in ("argmin", "argmax") and isinstance(axis, tuple):
                    continue  # NumPy takes one axis (the errors test checks the server refuses more)
                for keepdims in (False, True):
                    calls.append(("reduce", (k(str(shape)), op), {"axis": axis, "keepdims": keepdims}))
                    cases.append((f"{dtype}{shape} {op} axis={axis} keepdims={keepdims}", a, op, axis, keepdims))
    failures: List[str] = []
    for (case, a, op, axis, keepdims), got in zip(cases, pipelined(snd, calls)):
        if case:
            check_reduce(case, got, a, op, axis, keepdims, None, failures)
    report(failures, len(cases))


SELECTIONS = [np.s_[1:5:2], np.s_[::-1, 2], np.s_[..., ::-2], np.s_[[3, 0, 3], :, 1:4], np.s_[-1],
              np.s_[:, [4, 1]], np.s_[4:0:-2, ..., 3], np.s_[2, 3], np.s_[2, 3, 1], np.s_[0:0], np.s_[...]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_reduce_of_a_selection_matches_numpy_on_the_slice(snd: NDArray, k: K, dtype: str) -> None:
    rng = np.random.default_rng(100 + DTYPES.index(dtype))
    a = random_array(rng, dtype, (6, 5, 4))
    calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = [("set", (k("a"), a), {})]
    cases: List[Tuple[str, Any, str, Any, bool]] = [("", None, "", None, False)]
    for sel in SELECTIONS:
        part = a[sel]
        axes = [None] + ([0, -1] if part.ndim >= 1 else []) + ([(0, -1)] if part.ndim >= 2 else [])
        for op in OPS:
            for axis in axes:
                if op in ("argmin", "argmax") and isinstance(axis, tuple):
                    continue
                for keepdims in (False, True):
                    calls.append(("reduce", (k("a"), op), {"axis": axis, "keepdims": keepdims, "select": sel}))
                    cases.append((f"{dtype} a[{sel}] {op} axis={axis} keepdims={keepdims}", part, op, axis, keepdims))
    failures: List[str] = []
    for (case, part, op, axis, keepdims), got in zip(cases, pipelined(snd, calls)):
        if case:
            check_reduce(case, got, part, op, axis, keepdims, None, failures)
    report(failures, len(cases))


# (array dtype, AS dtypes that are same_kind casts of it)
AS_CASES = [
    ("bool", ["bool", "int8", "uint8", "int64", "float16", "float32"]),
    ("int8", ["int8", "int16", "int64", "float16", "bfloat16", "float32", "float64", "complex64"]),
    ("int32", ["int16", "int64", "float32", "float64"]),
    ("uint16", ["uint8", "uint32", "uint64", "int32", "float64"]),
    ("uint64", ["uint32", "float32", "float64"]),
    ("int64", ["int32", "float32", "complex128"]),
    ("float16", ["float32", "float64", "bfloat16"]),
    ("bfloat16", ["float32", "float64", "float16"]),
    ("float32", ["float64", "float16", "complex64", "bfloat16"]),
    ("float64", ["float32", "complex128"]),
    ("complex64", ["complex128"]),
    ("complex128", ["complex64"]),
]


def as_dtype_cases(snd: NDArray, k: K, integer_means: bool) -> None:
    """Every AS_CASES pair through sum, prod, mean, var, std; `integer_means`: only mean, var and std
    AS a bool or integer dtype (NumPy sums in it and truncates), else everything but those."""
    rng = np.random.default_rng(5)
    calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = []
    cases: List[Tuple[str, Any, str, Any, Any]] = []
    for dtype, targets in AS_CASES:
        for shape in ((), (0,), (5,), (3, 4)):
            key = k(f"{dtype}{shape}")
            a = random_array(rng, dtype, shape)
            if dt(dtype).kind in "iu":  # keep sums of products meaningful in narrow targets too
                a = (a % 7).astype(dtype)
            calls.append(("set", (key, a), {}))
            cases.append(("", None, "", None, None))
            for target in targets:
                for op in ("sum", "prod", "mean", "var", "std"):
                    if integer_means != (op in ("mean", "var", "std") and dt(target).kind in "biu"):
                        continue
                    for axis in [None] + ([0, -1] if a.ndim else []):
                        calls.append(("reduce", (key, op), {"axis": axis, "dtype": target}))
                        cases.append((f"{dtype}{shape} {op} axis={axis} AS {target}", a, op, axis, target))
    failures: List[str] = []
    for (case, a, op, axis, target), got in zip(cases, pipelined(snd, calls)):
        if case:
            check_reduce(case, got, a, op, axis, False, target, failures)
    report(failures, len(cases))


def test_reduce_as_dtype_matches_numpys_dtype_argument(snd: NDArray, k: K) -> None:
    as_dtype_cases(snd, k, integer_means=False)


def test_reduce_mean_var_std_as_an_integer_dtype_are_refused(snd: NDArray, k: K) -> None:
    # A deliberate difference: NumPy's np.mean(a, dtype=np.int8) sums in int8 (wrapping) and
    # truncates the quotient (np.mean of an empty int array with dtype=int64 is -2**63); the server
    # refuses an integer or bool dtype= for mean, var and std, naming the rule.
    snd.set(k("i"), np.array([1, 2], np.int8))
    snd.set(k("b"), np.array([True, False]))
    for key, op, target in ((k("i"), "mean", "int8"), (k("i"), "var", "int64"), (k("b"), "std", "bool"),
                            (k("b"), "mean", "uint8")):
        with pytest.raises(DTypeError, match="mean, var and std take a float or complex dtype"):
            snd.reduce(key, op, dtype=target)


def test_reduce_as_dtype_that_is_not_a_same_kind_cast_is_refused(snd: NDArray, k: K) -> None:
    # The spec's rule (NumPy itself casts `dtype=` of a reduction unsafely: np.sum(floats, dtype=int32)).
    snd.set(k("f"), np.array([1.5, 2.5]))
    snd.set(k("i"), np.array([-1, 2], np.int8))
    snd.set(k("c"), np.array([1 + 2j]))
    for key, target in ((k("f"), "int32"), (k("i"), "uint8"), (k("c"), "float64"), (k("f"), "bool")):
        with pytest.raises(DTypeShapeError):
            snd.reduce(key, "sum", dtype=target)


def test_reduce_propagates_nan_as_numpys_plain_functions(snd: NDArray, k: K) -> None:
    failures: List[str] = []
    calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = []
    cases: List[Tuple[str, Any, str, Any, bool]] = []
    for dtype in ("float16", "bfloat16", "float32", "float64", "complex64", "complex128"):
        a = np.arange(1, 25, dtype=np.float64).reshape(2, 3, 4).astype(dt(dtype))
        a[0, 1, 2] = np.nan
        a[1, 2, 0] = np.nan
        a[1, 0, 3] = np.inf
        if dt(dtype).kind == "c":
            a[1, 1, 1] = complex(1, np.nan)
        key = k(dtype)
        calls.append(("set", (key, a), {}))
        cases.append(("", None, "", None, False))
        for op in OPS:
            for axis in (None, 0, 1, 2, (0, 2)):
                if op in ("argmin", "argmax") and isinstance(axis, tuple):
                    continue
                calls.append(("reduce", (key, op), {"axis": axis}))
                cases.append((f"{dtype} with NaN {op} axis={axis}", a, op, axis, False))
    for (case, a, op, axis, keepdims), got in zip(cases, pipelined(snd, calls)):
        if case:
            check_reduce(case, got, a, op, axis, keepdims, None, failures)
    report(failures, len(cases))


def test_reduce_of_empty_extents_is_numpys_identity_or_its_error(snd: NDArray, k: K) -> None:
    snd.set(k("e"), np.zeros((3, 0), np.float32))
    assert snd.reduce(k("e"), "sum") == np.float32(0) and snd.reduce(k("e"), "prod") == np.float32(1)
    assert np.isnan(snd.reduce(k("e"), "mean")) and np.isnan(snd.reduce(k("e"), "std"))
    assert snd.reduce(k("e"), "any") == np.False_ and snd.reduce(k("e"), "all") == np.True_
    assert snd.reduce(k("e"), "count_nonzero") == 0
    assert snd.reduce(k("e"), "max", axis=0).shape == (0,)  # reduces 3 rows of nothing: no error
    for op, numpy_name in (("min", "minimum"), ("max", "maximum")):
        with pytest.raises(DTypeShapeError, match=f"^zero-size array to reduction operation {numpy_name} which has no identity$"):
            snd.reduce(k("e"), op, axis=1)
    for op in ("argmin", "argmax"):
        with pytest.raises(DTypeShapeError, match=f"^attempt to get {op} of an empty sequence$"):
            snd.reduce(k("e"), op)
    assert snd.reduce(k("e"), "argmax", axis=0).shape == (0,)


def test_reduce_errors_are_numpys(snd: NDArray, k: K) -> None:
    snd.set(k("a"), np.zeros((2, 3), np.float32))
    snd.set(k("z"), np.array(1.5))
    with pytest.raises(SelectionError, match=r"^axis 2 is out of bounds for array of dimension 2$"):
        snd.reduce(k("a"), "sum", axis=2)
    with pytest.raises(SelectionError, match=r"^axis -3 is out of bounds for array of dimension 2$"):
        snd.reduce(k("a"), "sum", axis=(0, -3))
    with pytest.raises(SelectionError, match=r"^axis 0 is out of bounds for array of dimension 0$"):
        snd.reduce(k("z"), "sum", axis=0)
    with pytest.raises(NDArrayError):
        snd.reduce(k("a"), "argmin", axis=(0, 1))  # NumPy: argmin takes one axis
    with pytest.raises(NDArrayError, match="unknown op"):
        snd.reduce(k("a"), "median")
    with pytest.raises(NDArrayError):
        snd.reduce(k("a"), "max", dtype="float64")  # AS only for sum, prod, mean, var, std
    with pytest.raises(SelectionError):
        snd.reduce(k("a"), "sum", select=np.s_[5])
    snd.client.set(k("s"), "text")
    with pytest.raises(WrongTypeError):
        snd.reduce(k("s"), "sum")
    assert snd.reduce(k("missing"), "sum") is None
    with pytest.raises(IndexError):
        snd.reduce(k("a"), "sum", select=np.s_[None, 0])  # np.newaxis: refused before sending
    with pytest.raises(ValueError):
        snd.reduce(k("a"), "sum", axis=())


def test_reduce_with_a_repeated_axis_is_numpys_value_error(snd: NDArray, k: K) -> None:
    snd.set(k("a"), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^duplicate value in 'axis'$"):
        snd.reduce(k("a"), "sum", axis=(1, -1))


def test_reduce_results_are_numpy_scalars_or_arrays_viewing_the_reply(snd: NDArray, k: K) -> None:
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    snd.set(k("a"), a)
    total = snd.reduce(k("a"), np.sum)  # a NumPy function names the op
    assert type(total) is np.int64 and total == 66
    assert type(snd.reduce(k("a"), "mean")) is np.float64
    assert type(snd.reduce(k("a"), "argmax")) is np.int64
    kept = snd.reduce(k("a"), "sum", keepdims=True)
    assert isinstance(kept, np.ndarray) and kept.shape == (1, 1)
    rows = snd.reduce(k("a"), "max", axis=1)
    assert not rows.flags.writeable and (rows == a.max(axis=1)).all()
    assert snd.reduce(k("a"), "max", axis=1, copy=True).flags.writeable
    assert snd.reduce(k("a"), "min", select="1:, ::2") == 4  # a selection string, as slice() takes
    big = np.random.default_rng(3).normal(size=(300, 1000)).astype(np.float32)  # several chunks
    snd.set(k("big"), big)
    got = snd.reduce(k("big"), "sum", axis=0)
    np.testing.assert_allclose(got, big.astype(np.float64).sum(axis=0), rtol=1e-6, atol=1e-4)
    assert np.isclose(snd.reduce(k("big"), "mean", dtype="float64"), big.astype(np.float64).mean(), rtol=1e-12)


# ---- NDARRAY.APPLY against NumPy ----

def numpy_apply(a: Any, ufunc: str, x: Any, sel: Any) -> Any:
    """`a[sel] = ufunc(a[sel], x)` with NumPy's `out=` and same_kind casting: the new array, or the error
    NumPy raises."""
    out = a.copy()
    index = Ellipsis if sel is None else sel
    part = np.array(out[index], copy=True)
    # Into a separate buffer: NumPy's in-place complex multiply of ONE element takes a scalar loop
    # without FMA (`np.multiply(a, x, out=a)` and `np.multiply(a, x)` differ in the last bit there);
    # the server computes every element as NumPy's vector loops do.
    result = np.empty_like(part)
    quiet(lambda: getattr(np, ufunc)(part, x, out=result, casting="same_kind"))
    out[index] = result
    return out


def operands(d: "np.dtype[Any]", tail: Tuple[int, ...]) -> List[Tuple[str, Any]]:
    """Every kind of operand: weak Python scalars, NumPy scalars (strong), arrays of several dtypes
    broadcast onto `tail`, a list, a 0-d array, and shapes that do not broadcast."""
    rng = np.random.default_rng(9)
    last = tail[-1:] if tail else ()
    out: List[Tuple[str, Any]] = [
        ("int 3", 3), ("int -1", -1), ("int 300", 300), ("int 0", 0), ("float 2.5", 2.5), ("float -0.0", -0.0),
        ("float 0.1", 0.1), ("float nan", float("nan")), ("float 1e300", 1e300), ("bool True", True),
        ("complex 1.5-2j", 1.5 - 2j), ("complex 0.1+0.2j", 0.1 + 0.2j), ("complex nan", complex(-0.0, float("nan"))),
        ("np.int8(-3)", np.int8(-3)), ("np.uint8(200)", np.uint8(200)), ("np.int64(7)", np.int64(7)),
        ("np.uint64(2**63)", np.uint64(2 ** 63)), ("np.float16(0.5)", np.float16(0.5)),
        ("np.float32(0.1)", np.float32(0.1)), ("np.float64(0.1)", np.float64(0.1)),
        ("np.complex64(1-1j)", np.complex64(1 - 1j)), ("np.bool_(True)", np.bool_(True)),
        ("bfloat16(1.5)", ml_dtypes.bfloat16(1.5)), ("0-d int64 array", np.array(2)),
    ]
    for name in ("bool", "int8", "uint16", "int64", "float16", "bfloat16", "float32", "float64", "complex64"):
        arr = random_array(rng, name, last)
        if dt(name).kind in "iu":
            arr = (arr % 5).astype(dt(name))  # no wrap of the operand itself
        out.append((f"{name} array {last}", arr))
    out.append((f"list {last}", list(range(1, (last[0] if last else 1) + 1)) if last else [2]))
    if len(tail) >= 2:
        out.append((f"float64 column {(tail[0], 1)}", rng.normal(size=(tail[0], 1))))
        out.append((f"int32 full {tail}", rng.integers(-3, 4, size=tail).astype(np.int32)))
        out.append(("float32 shape (3,) (does not broadcast)", np.ones(3, np.float32)))
    out.append((f"float64 {(1, *tail)} (more dims)", np.ones((1, *tail))))
    return out


def apply_values(d: "np.dtype[Any]", shape: Tuple[int, ...], rng: np.random.Generator) -> Any:
    a = random_array(rng, d.name if d != BF16 else "bfloat16", shape)
    if inexact(d) and a.size:
        flat = a.reshape(-1)
        flat[:3] = [0, -0.0, np.inf][: flat.size] if d.kind != "c" else [0, complex(-0.0, 0), complex(np.inf, 1)][: flat.size]
    return a


def check_apply(case: str, got: Any, a: Any, ufunc: str, x: Any, sel: Any, after_error: Any,
                failures: List[str]) -> None:
    try:
        want = numpy_apply(a, ufunc, x, sel)
    except Exception as e:
        if not isinstance(got, Exception):
            failures.append(f"{case}: NumPy raises {type(e).__name__}({str(e)!r}), the server applied it")
            return
        why = error_matches(got, e)
        if why:
            failures.append(f"{case}: server {type(got).__name__}({str(got)!r}); {why}")
        if after_error is not None and after_error.tobytes() != a.tobytes():
            failures.append(f"{case}: the failed APPLY changed the array")
        return
    if isinstance(got, Exception):
        failures.append(f"{case}: server {type(got).__name__}({str(got)!r}); NumPy gives {want!r}")
        return
    if got.dtype != want.dtype or got.shape != want.shape:
        failures.append(f"{case}: got {got.dtype}{got.shape}, NumPy {want.dtype}{want.shape}")
    elif not same_values(got, want):
        failures.append(f"{case}: got {got!r}, NumPy {want!r}")
    elif got.tobytes() != want.tobytes():
        diff = [i for i, (g, w) in enumerate(zip(got.reshape(-1), want.reshape(-1))) if g.tobytes() != w.tobytes()]
        failures.append(f"{case}: equal values but different bits (NaN payload or -0.0) at flat "
                        f"{diff[:5]}: got {[got.reshape(-1)[i].tobytes().hex() for i in diff[:5]]}, NumPy "
                        f"{[want.reshape(-1)[i].tobytes().hex() for i in diff[:5]]} (a={[a.reshape(-1)[i] for i in diff[:5]]})")


def run_apply_cases(snd: NDArray, key: str, a: Any,
                    cases: Iterable[Tuple[str, str, Any, Any]], failures: List[str]) -> int:
    """Each (case, ufunc, operand, selection) on a fresh copy of `a`, with RETURN; after a case NumPy
    refuses, the array is read back to check it is unchanged."""
    calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = []
    meta: List[Tuple[str, str, Any, Any, bool]] = []
    for case, ufunc, x, sel in cases:
        calls.append(("set", (key, a), {}))
        calls.append(("apply", (key, ufunc, x), {"select": sel, "return_array": True}))
        try:
            numpy_apply(a, ufunc, x, sel)
            numpy_fails = False
        except Exception:
            numpy_fails = True
        if numpy_fails:
            calls.append(("get", (key,), {}))
        meta.append((case, ufunc, x, sel, numpy_fails))
    results = iter(pipelined(snd, calls))
    for case, ufunc, x, sel, numpy_fails in meta:
        next(results)
        got = next(results)
        after = next(results) if numpy_fails else None
        check_apply(case, got, a, ufunc, x, sel, after, failures)
    return len(meta)


@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_every_ufunc_and_operand_matches_numpy_bit_for_bit(snd: NDArray, k: K, dtype: str) -> None:
    d = dt(dtype)
    rng = np.random.default_rng(200 + DTYPES.index(dtype))
    a = apply_values(d, (4, 5), rng)
    cases = [(f"{dtype}(4, 5) {ufunc} {name}", ufunc, x, None)
             for ufunc in UFUNCS for name, x in operands(d, (4, 5))]
    failures: List[str] = []
    total = run_apply_cases(snd, k("a"), a, cases, failures)
    # 0-d and empty arrays: the same rules (a cast that fails, fails on no elements too).
    for shape in ((), (0,), (3, 0)):
        b = apply_values(d, shape, rng)
        small = [(f"{dtype}{shape} {ufunc} {name}", ufunc, x, None) for ufunc in UFUNCS
                 for name, x in operands(d, shape) if np.ndim(x) == 0]
        total += run_apply_cases(snd, k(str(shape)), b, small, failures)
    report(failures, total)


APPLY_SELECTIONS = [np.s_[1:3, ::-2], np.s_[-1], np.s_[[2, 0, 3], 1:4], np.s_[..., 3], np.s_[::2, 4:0:-3],
                    np.s_[1, 2], np.s_[2:2], np.s_[[2, 0, 2], 1:4]]  # the last: a repeated row, written last-wins


@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_to_a_selection_matches_numpy(snd: NDArray, k: K, dtype: str) -> None:
    d = dt(dtype)
    rng = np.random.default_rng(300 + DTYPES.index(dtype))
    a = apply_values(d, (4, 5), rng)
    cases = []
    for sel in APPLY_SELECTIONS:
        tail = a[sel].shape
        for ufunc in UFUNCS:
            for name, x in operands(d, tail):
                if name.startswith(("np.", "bfloat16(", "0-d", "int 300", "float nan", "float 1e300")):
                    continue  # covered on the whole array
                cases.append((f"{dtype} a[{sel}] {ufunc} {name}", ufunc, x, sel))
    failures: List[str] = []
    total = run_apply_cases(snd, k("a"), a, cases, failures)
    report(failures, total)


def test_apply_errors_are_numpys(snd: NDArray, k: K) -> None:
    snd.set(k("i8"), np.array([1, 2, 3], np.int8))
    with pytest.raises(DTypeShapeError, match=r"^Python integer 300 out of bounds for int8$"):
        snd.apply(k("i8"), "add", 300)
    with pytest.raises(DTypeError, match=re_escape(
            "Cannot cast ufunc 'add' output from dtype('float64') to dtype('int8') with casting rule 'same_kind'")):
        snd.apply(k("i8"), "add", 0.5)
    with pytest.raises(DTypeError, match=re_escape(
            "Cannot cast ufunc 'divide' output from dtype('float64') to dtype('int8') with casting rule 'same_kind'")):
        snd.apply(k("i8"), "divide", 2)
    with pytest.raises(DTypeError, match=re_escape(
            "Cannot cast ufunc 'add' output from dtype('complex128') to dtype('int8') with casting rule 'same_kind'")):
        snd.apply(k("i8"), "add", 1 + 2j)  # a weak complex: complex128 on an int array, as NumPy
    assert snd.get(k("i8")).tolist() == [1, 2, 3]
    snd.set(k("b"), np.array([True, False]))
    with pytest.raises(DTypeError, match=r"^numpy boolean subtract, the `-` operator, is not supported"):
        snd.apply(k("b"), "subtract", np.array([True, True]))
    with pytest.raises(DTypeShapeError):
        snd.apply(k("i8"), "add", np.ones((2, 3)))  # does not broadcast onto (3,)
    with pytest.raises(NoSuchKeyError):
        snd.apply(k("missing"), "add", 1)
    with pytest.raises(NDArrayError):
        snd.apply(k("i8"), "power", 2)
    with pytest.raises(SelectionError):
        snd.apply(k("i8"), "add", 1, select=np.s_[7])
    with pytest.raises(IndexError):
        snd.apply(k("i8"), "add", 1, select=np.s_[None, 0])
    snd.client.set(k("s"), "text")
    with pytest.raises(WrongTypeError):
        snd.apply(k("s"), "add", 1)
    with pytest.raises(ValueError):
        snd.apply(k("i8"), "add", np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]))
    assert snd.get(k("i8")).tolist() == [1, 2, 3]


def re_escape(text: str) -> str:
    import re
    return "^" + re.escape(text) + "$"


def test_apply_returns_true_or_the_new_array(snd: NDArray, k: K) -> None:
    snd.set(k("a"), np.arange(6, dtype=np.float32).reshape(2, 3))
    assert snd.apply(k("a"), np.add, 1) is True  # a ufunc names the operation
    got = snd.apply(k("a"), "multiply", np.float32(2), select=np.s_[:, ::2], return_array=True)
    want = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    want[:, ::2] *= 2
    assert got.dtype == np.float32 and (got == want).all() and not got.flags.writeable
    assert snd.apply(k("a"), "maximum", 0, return_array=True, copy=True).flags.writeable
    big = np.ones((500, 600), np.float32)  # an operand sent as a memoryview
    snd.set(k("big"), np.zeros((500, 600), np.float32))
    assert snd.apply(k("big"), "add", big) and snd.reduce(k("big"), "sum") == 300_000


def test_concurrent_applies_never_lose_an_update(server: Server, k: K) -> None:
    key_i, key_f = k("counts"), k("sums")
    NDArray(redis.Redis(port=server.port)).set(key_i, np.zeros(512, np.int64))
    NDArray(redis.Redis(port=server.port)).set(key_f, np.zeros((8, 64), np.float32))
    threads, rounds = 8, 150
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        nd = NDArray(redis.Redis(port=server.port))
        try:
            for i in range(rounds):
                nd.apply(key_i, "add", 1)
                nd.apply(key_f, "add", np.ones(64, np.float32) if i % 2 else 1.0, select=np.s_[n % 8])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    nd = NDArray(redis.Redis(port=server.port))
    assert (nd.get(key_i) == threads * rounds).all()
    assert (nd.get(key_f) == rounds).all()  # each thread its own row


# ---- NDARRAY.STACK … REDUCE / MISSING SKIP against NumPy ----

def stack_reference(arrays: List[Any], op: Optional[str], dtype: Any) -> Any:
    stacked = np.stack(arrays)
    if dtype is not None:
        stacked = quiet(lambda: stacked.astype(dt(dtype)))
    return stacked if op is None else quiet(lambda: getattr(stacked, op)(axis=0))


def check_stack(case: str, got: Any, want: Any, arrays: List[Any], op: Optional[str], dtype: Any,
                failures: List[str]) -> None:
    if isinstance(got, Exception):
        failures.append(f"{case}: server {type(got).__name__}({str(got)!r}), NumPy {want!r}")
        return
    w, g = np.asarray(want), np.asarray(got)
    if isinstance(want, np.generic) != isinstance(got, np.generic):
        failures.append(f"{case}: got a {type(got).__name__}, NumPy returns a {type(want).__name__}")
    elif g.dtype != w.dtype or g.shape != w.shape:
        failures.append(f"{case}: got {g.dtype}{g.shape}, NumPy {w.dtype}{w.shape}")
    elif op in ("sum", "mean") and inexact(w.dtype):
        stacked = np.stack(arrays) if dtype is None else quiet(lambda: np.stack(arrays).astype(dt(dtype)))
        if not close_to_reference(g, stacked, op, 0, False, None, w.dtype):
            failures.append(f"{case}: got {got!r}, NumPy {want!r}")
    elif not same_values(g, w):
        failures.append(f"{case}: got {got!r}, NumPy {want!r}")


STACK_DTYPES = ["bool", "int8", "uint8", "int64", "uint64", "float16", "bfloat16", "float32", "float64",
                "complex64", "complex128"]


def stack_cases(keys: List[str], rows: Dict[str, Any], missing_key: str) -> Iterator[Tuple[str, List[str], Dict[str, Any], Any]]:
    """(case, keys, stack kwargs, (expected result, expected positions) or expected result)."""
    present = [rows[key] for key in keys]
    with_gaps = [keys[0], missing_key, *keys[1:], missing_key + "2"]
    wider = "complex128" if present[0].dtype.kind == "c" else "float64"
    for op in (None, "sum", "mean", "min", "max"):
        for dtype in (None, wider):
            kw: Dict[str, Any] = {"reduce": op, "dtype": dtype}
            yield f"reduce={op} dtype={dtype}", keys, kw, stack_reference(present, op, dtype)
            want_skip = (stack_reference(present, op, dtype), [1, len(with_gaps) - 1])
            yield f"reduce={op} dtype={dtype} missing=skip", with_gaps, {**kw, "missing": "skip"}, want_skip
            d = dt(dtype) if dtype is not None else present[0].dtype
            fill = np.full(present[0].shape, 1, d)
            filled = [present[0].astype(d), fill, *[p.astype(d) for p in present[1:]], fill]
            want_fill = (stack_reference(filled, op, None), [1, len(with_gaps) - 1])
            yield f"reduce={op} dtype={dtype} missing=1", with_gaps, {**kw, "missing": 1}, want_fill


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3)])
def test_stack_reduce_and_skip_match_numpy_on_every_dtype(snd: NDArray, k: K, shape: Tuple[int, ...]) -> None:
    rng = np.random.default_rng(400 + len(shape))
    failures: List[str] = []
    calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = []
    meta: List[Tuple[str, Any, List[Any], Any, Any]] = []
    for dtype in STACK_DTYPES:
        keys = [k(f"{dtype}:{i}") for i in range(4)]
        rows = {key: random_array(rng, dtype, shape) for key in keys}
        for key in keys:
            calls.append(("set", (key, rows[key]), {}))
            meta.append(("", None, [], None, None))
        for case, ks, kw, want in stack_cases(keys, rows, k("nope")):
            calls.append(("stack", (ks,), kw))
            meta.append((f"{dtype}{shape} {case}", want, [rows[key] for key in keys], kw["reduce"], kw["dtype"]))
    for (case, want, arrays, op, dtype), got in zip(meta, pipelined(snd, calls)):
        if not case:
            continue
        if isinstance(want, tuple):
            if isinstance(got, Exception) or not isinstance(got, tuple):
                failures.append(f"{case}: got {got!r}, wants (result, positions)")
                continue
            if got[1] != want[1]:
                failures.append(f"{case}: positions {got[1]}, want {want[1]}")
            got, want = got[0], want[0]
            if "missing=1" in case:
                d = dt(dtype) if dtype is not None else arrays[0].dtype
                fill = np.full(arrays[0].shape, 1, d)
                arrays = [arrays[0].astype(d), fill, *[x.astype(d) for x in arrays[1:]], fill]
                dtype = None
        check_stack(case, got, want, arrays, op, dtype, failures)
    report(failures, len(meta))


def test_stack_skip_and_reduce_errors(snd: NDArray, k: K) -> None:
    snd.set(k("a"), np.zeros(3, np.float32))
    with pytest.raises(NDArrayError):
        snd.stack([k("gone1"), k("gone2")], missing="skip")
    with pytest.raises(ValueError, match="reduce"):
        snd.stack([k("a")], reduce="prod")  # STACK reduces with sum, mean, min, max
    snd.set(k("b"), np.zeros(4, np.float32))
    with pytest.raises(DTypeShapeError):
        snd.stack([k("a"), k("b")], reduce="sum")
    assert snd.stack([k("a"), k("a")], reduce=np.sum).dtype == np.float32  # a NumPy function names the op


# ---- every client mode: sync, async, pipelines, MULTI, RESP2/3, decode_responses, the cluster ----

def test_reduce_apply_and_stack_reduce_in_every_mode(nd: Any, k: K) -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert nd.set(k("a"), a) is True
    assert nd.reduce(k("a"), "sum") == a.sum() and type(nd.reduce(k("a"), "sum")) is np.float32
    np.testing.assert_array_equal(nd.reduce(k("a"), "max", axis=(0, -1), keepdims=True),
                                  a.max(axis=(0, -1), keepdims=True))
    np.testing.assert_array_equal(nd.reduce(k("a"), "argmin", axis=1, select=np.s_[:, ::-1]),
                                  a[:, ::-1].argmin(axis=1))
    assert nd.reduce(k("a"), "mean", dtype="float64", select=np.s_[1, [2, 0]]) == a[1, [2, 0]].astype(np.float64).mean()
    assert nd.reduce(k("nothing"), "sum") is None
    assert nd.apply(k("a"), "add", 1) is True
    got = nd.apply(k("a"), "multiply", np.arange(4, dtype=np.float32), select=np.s_[0], return_array=True)
    want = a + 1
    want[0] *= np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(NoSuchKeyError):
        nd.apply(k("nothing"), "add", 1)
    with pytest.raises(DTypeShapeError):
        nd.apply(k("a"), "add", 1j)
    for i in range(3):
        nd.set(k(f"r{i}"), np.full(4, i, np.int16))
    keys = [k("r0"), k("gone"), k("r1"), k("r2")]
    mean, skipped = nd.stack(keys, reduce="mean", missing="skip")
    assert skipped == [1] and mean.dtype == np.float64 and mean.tolist() == [1.0] * 4
    total, filled = nd.stack(keys, reduce="sum", missing=10)
    assert filled == [1] and total.dtype == np.int64 and total.tolist() == [13] * 4
    rows, skipped = nd.stack(keys, missing="skip")
    assert skipped == [1] and rows.tolist() == [[0] * 4, [1] * 4, [2] * 4]
    np.testing.assert_array_equal(nd.stack(keys[2:], "float32", reduce="max"), np.full(4, 2, np.float32))


@pytest.mark.parametrize("mode", ["cluster", "cluster-async", "cluster-pipeline"])
def test_stack_reduce_across_cluster_slots_combines_the_slots_parts(
        mode: str, request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> None:
    nd = make_nd(mode, request, loop)
    run = uuid.uuid4().hex[:8]
    rng = np.random.default_rng(11)
    failures: List[str] = []
    total = 0
    for dtype, shape in itertools.product(
            ("bool", "int8", "uint64", "int64", "float16", "bfloat16", "float32", "float64", "complex64"),
            ((3, 2), ())):
        keys = [f"xs:{run}:{dtype}{shape}:{i}" for i in range(12)]  # one slot each: every node, every part
        rows = {key: random_array(rng, dtype, shape) for key in keys}
        assert nd.mset(rows) is True
        for case, ks, kw, want in stack_cases(keys, rows, f"xs:{run}:gone"):
            total += 1
            case = f"{mode} {dtype} {case}"
            try:
                got = nd.stack(ks, **kw)
            except Exception as e:  # noqa: BLE001 - listed below
                got = e
            arrays = [rows[key] for key in keys]
            dtype_as = kw["dtype"]
            if isinstance(want, tuple):
                if isinstance(got, Exception) or not isinstance(got, tuple):
                    failures.append(f"{case}: got {got!r}, wants (result, positions)")
                    continue
                if got[1] != want[1]:
                    failures.append(f"{case}: positions {got[1]}, want {want[1]}")
                got, want = got[0], want[0]
                if kw.get("missing") == 1:
                    d = dt(dtype_as) if dtype_as is not None else arrays[0].dtype
                    fill = np.full(shape, 1, d)
                    arrays = [arrays[0].astype(d), fill, *[x.astype(d) for x in arrays[1:]], fill]
                    dtype_as = None
            check_stack(case, got, want, arrays, kw["reduce"], dtype_as, failures)
    # a slot whose keys are all missing (each missing key is alone in its slot): nothing, or fill rows
    keys = [f"xs:{run}:m:{i}" for i in range(6)]
    for i, key in enumerate(keys[:3]):
        nd.set(key, np.full(2, i, np.float32))
    mean, skipped = nd.stack(keys, reduce="mean", missing="skip")
    assert skipped == [3, 4, 5] and mean.tolist() == [1.0, 1.0]
    low, filled = nd.stack(keys, reduce="min", missing=-5)
    assert filled == [3, 4, 5] and low.tolist() == [-5.0, -5.0]
    mean, filled = nd.stack(keys, reduce="mean", missing=2)
    assert filled == [3, 4, 5] and mean.tolist() == [1.5, 1.5]
    with pytest.raises(KeyError):
        nd.stack(keys[3:], reduce="sum", missing="skip")
    report(failures, total)


# ---- replicas ----

def _wait_for_replicas(primaries: List[Server], replicas: List[Server]) -> None:
    deadline = time.monotonic() + 10
    for p, rep in zip(primaries, replicas):
        want = redis.Redis(port=p.port).info("replication")["master_repl_offset"]
        while redis.Redis(port=rep.port).info("replication").get("slave_repl_offset", -1) < want:
            assert time.monotonic() < deadline, "a replica did not catch up"
            time.sleep(0.01)


def test_replicas_hold_bit_identical_applied_arrays_and_serve_reduce(cluster_with_replicas: List[Server]) -> None:
    from redis.cluster import LoadBalancingStrategy
    primaries, replicas = cluster_with_replicas[:3], cluster_with_replicas[3:]
    startup = [ClusterNode("127.0.0.1", n.port) for n in primaries]
    writer = NDArray(redis.RedisCluster(startup_nodes=startup))
    run = uuid.uuid4().hex[:6]
    keys = [f"{{{tag}}}:apply:{run}" for tag in "abcdef"]  # tags on every shard
    rng = np.random.default_rng(21)
    for i, key in enumerate(keys):
        dtype = ["float16", "bfloat16", "float32", "complex64", "int8", "float64"][i]
        writer.set(key, random_array(rng, dtype, (50, 40)))
        writer.apply(key, "add", 0.1 if dt(dtype).kind != "i" else 3)
        writer.apply(key, "multiply", np.linspace(-2, 2, 40).astype(np.float32) if dt(dtype).kind != "i" else 7,
                     select=np.s_[::3])
        writer.apply(key, "maximum", 0.5 if dt(dtype).kind != "i" else -100, select=np.s_[:, 5:9])
        if dt(dtype).kind in "fc":
            writer.apply(key, "divide", np.zeros(40, np.float32), select=np.s_[7])  # inf and NaN
    _wait_for_replicas(primaries, replicas)
    nonzero = {}
    for key in keys:
        node = writer.client.get_node_from_key(key)
        primary = next(p for p in primaries if p.port == node.port)
        replica = replicas[primaries.index(primary)]
        on_primary = redis.Redis(port=primary.port).execute_command("NDARRAY.GET", key, "FORMAT", "BLOB")
        r = redis.Redis(port=replica.port, single_connection_client=True)
        r.execute_command("READONLY")
        assert r.execute_command("NDARRAY.GET", key, "FORMAT", "BLOB") == on_primary, key
        nonzero[key] = np.count_nonzero(writer.get(key))  # from the primary, before the counts are reset
    for n in cluster_with_replicas:
        redis.Redis(port=n.port).config_resetstat()
    reader = NDArray(redis.RedisCluster(startup_nodes=startup,
                                        load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS))
    for key in keys:
        assert reader.reduce(key, "count_nonzero") == nonzero[key], key
    calls = [int(redis.Redis(port=n.port).info("commandstats").get("cmdstat_ndarray.reduce", {}).get("calls", 0))
             for n in cluster_with_replicas]
    assert sum(calls[:3]) == 0 and sum(calls[3:]) == len(keys), calls


# ---- the README's examples ----

def python_readme_blocks() -> List[Tuple[int, str]]:
    with open(os.path.join(ROOT, "python", "README.md")) as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i] == "```python":
            j = lines.index("```", i + 1)
            blocks.append((i + 2, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return blocks


def test_python_readme_compute_examples_run(server: Server, tmp_path: Any) -> None:
    from test_readme import PRELUDE
    blocks = python_readme_blocks()
    assert blocks, "python/README.md has no ```python block"
    for line, text in blocks:
        snippet = os.path.join(tmp_path, f"block{line}.py")
        with open(snippet, "w") as f:
            f.write(text)
        env = {**os.environ, "README_PORT": str(server.port), "README_SNIPPET": snippet, "README_LINE": str(line)}
        out = subprocess.run([sys.executable, "-c", PRELUDE], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"python/README.md:{line} failed:\n{out.stderr[-3000:]}"
