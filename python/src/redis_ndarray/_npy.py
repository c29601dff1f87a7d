"""The `.npy` pieces the client needs, without `np.load`/`np.save`.

The server writes one fixed header layout (`src/array/npy.rs`: `write_npy_header`), byte-identical to
what `np.save` writes for a C-order little-endian array::

    \\x93NUMPY <major> <minor> <header length: u16 LE (1.0) or u32 LE (2.0)>
    {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }<spaces>\\n

so a reply is parsed with two `bytes.index` calls and `np.frombuffer` over the reply itself: no copy
of the data. Anything else (a header written by another tool) falls back to `np.load`.
"""

from __future__ import annotations

import io
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

MAGIC = b"\x93NUMPY"
_DESCR_OPEN = b"{'descr': '"
_SHAPE_OPEN = b"', 'fortran_order': False, 'shape': ("

# The dtypes the server stores, by NumPy name (what NDARRAY.SET takes after the key).
DTYPE_NAMES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
)

DTypeArg = Union[str, "np.dtype[Any]", type]

# Little-endian dtypes by name, for the fast path of small writes (bfloat16 goes the general way).
FAST_NAMES: Dict["np.dtype[Any]", str] = {
    np.dtype(n).newbyteorder("<"): n for n in DTYPE_NAMES if n != "bfloat16"
}

_descr_cache: Dict[bytes, "np.dtype[Any]"] = {}


def bfloat16() -> "np.dtype[Any]":
    """ml_dtypes' bfloat16, or a ValueError saying how to get it."""
    try:
        import ml_dtypes
    except ImportError:
        raise ValueError(
            "the array is bfloat16: install ml_dtypes (pip install ml_dtypes) to read it, "
            "or read it converted with dtype='float32'"
        ) from None
    dt: "np.dtype[Any]" = np.dtype(ml_dtypes.bfloat16)
    return dt


def dtype_of_descr(descr: bytes) -> "np.dtype[Any]":
    dt = _descr_cache.get(descr)
    if dt is None:
        dt = bfloat16() if descr == b"bfloat16" else np.dtype(descr.decode("ascii"))
        _descr_cache[descr] = dt
    return dt


_name_cache: Dict[Any, str] = {}


def dtype_name(dtype: DTypeArg) -> str:
    """The server's name for `dtype` (a NumPy dtype, a type, or a name such as 'float16'). Cached:
    `np.dtype(x).name` costs microseconds, as much as the rest of a small write."""
    try:
        return _name_cache[dtype]
    except (KeyError, TypeError):
        pass
    name = _dtype_name(dtype)
    try:
        _name_cache[dtype] = name
    except TypeError:
        pass
    return name


def _dtype_name(dtype: DTypeArg) -> str:
    if isinstance(dtype, str) and dtype.lower() == "bfloat16":
        return "bfloat16"  # also without ml_dtypes: the server converts, the client only names it
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise ValueError(f"unknown dtype {dtype!r} (the server stores {', '.join(DTYPE_NAMES)})") from None
    if name not in DTYPE_NAMES:
        raise ValueError(f"dtype {name} is not supported by the server (it stores {', '.join(DTYPE_NAMES)})")
    return name


def descr_of(dtype: "np.dtype[Any]") -> str:
    """The `.npy` descr the server reads for a little-endian `dtype`."""
    return "bfloat16" if dtype.name == "bfloat16" else dtype.str


def refuse_masked(a: Any) -> None:
    """A masked array would lose its mask (np.asarray drops it): refused, never silently unmasked."""
    if isinstance(a, np.ma.MaskedArray):
        raise ValueError(
            "masked arrays are not stored: the server keeps no mask. Store a.filled(value), and the mask "
            "(np.ma.getmaskarray(a)) as an array of its own if it matters"
        )


def prepare(a: Any) -> "np.ndarray[Any, Any]":
    """`a` as a C-contiguous little-endian array of a dtype the server stores."""
    refuse_masked(a)
    arr = np.asarray(a)
    dtype_name(arr.dtype)  # raises ValueError for an unsupported dtype
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # (not np.ascontiguousarray: it turns a 0-d array into a 1-d one)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def raw_bytes(arr: "np.ndarray[Any, Any]") -> memoryview:
    """The C-order bytes of a prepared array, as a byte memoryview over its buffer (no copy)."""
    return arr.reshape(-1).view(np.uint8).data


def npy_header(dtype: "np.dtype[Any]", shape: Tuple[int, ...]) -> bytes:
    """The header `np.save` (and the server) writes for a C-order little-endian array."""
    if len(shape) == 1:
        dims = f"{shape[0]},"
    else:
        dims = ", ".join(str(d) for d in shape)
    text = f"{{'descr': '{descr_of(dtype)}', 'fortran_order': False, 'shape': ({dims}), }}"
    body = text.encode("latin-1")
    total = len(body) + 1 + 10
    if total + (-total % 64) - 10 <= 0xFFFF:
        pad = -total % 64
        return MAGIC + b"\x01\x00" + (len(body) + pad + 1).to_bytes(2, "little") + body + b" " * pad + b"\n"
    total = len(body) + 1 + 12
    pad = -total % 64
    return MAGIC + b"\x02\x00" + (len(body) + pad + 1).to_bytes(4, "little") + body + b" " * pad + b"\n"


def to_npy(a: Any) -> bytes:
    """A `.npy` file of `a` (one copy of the data, into the joined bytes)."""
    arr = prepare(a)
    return b"".join((npy_header(arr.dtype, arr.shape), raw_bytes(arr)))


def from_npy(buf: Union[bytes, bytearray, memoryview], copy: bool = False) -> "np.ndarray[Any, Any]":
    """The array in a `.npy` reply, viewing the reply's bytes (read-only) unless `copy`."""
    if buf[:6] != MAGIC:
        raise ValueError(f"the reply is not a .npy file (it starts {bytes(buf[:16])!r})")
    if buf[6] == 1:
        start = 10
        hlen = buf[8] | (buf[9] << 8)
    else:
        start = 12
        hlen = int.from_bytes(buf[8:12], "little")
    header = bytes(buf[start:start + hlen])
    parsed = _parse_header(header)
    if parsed is None:
        return _np_load(buf, copy)
    descr, shape = parsed
    dt = dtype_of_descr(descr)
    count = 1
    for d in shape:
        count *= d
    arr = np.frombuffer(buf, dt, count=count, offset=start + hlen).reshape(shape)
    return arr.copy() if copy else arr


def _parse_header(header: bytes) -> Optional[Tuple[bytes, Tuple[int, ...]]]:
    if not header.startswith(_DESCR_OPEN):
        return None
    end = header.find(b"'", len(_DESCR_OPEN))
    if end < 0 or not header.startswith(_SHAPE_OPEN, end):
        return None
    descr = header[len(_DESCR_OPEN):end]
    open_at = end + len(_SHAPE_OPEN)
    close = header.find(b")", open_at)
    if close < 0:
        return None
    dims = header[open_at:close]
    shape = tuple(int(d) for d in dims.split(b",") if d.strip()) if dims else ()
    return descr, shape


def _np_load(buf: Union[bytes, bytearray, memoryview], copy: bool) -> "np.ndarray[Any, Any]":
    if b"bfloat16" in bytes(buf[:256]):
        bfloat16()  # registers the descr with NumPy
    arr: npt.NDArray[Any] = np.load(io.BytesIO(buf), allow_pickle=False)
    return arr  # np.load copies: writable either way
