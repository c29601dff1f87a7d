"""The encoded form of an array (README, "The encoded form"), made and read in the client by the
module's own core (`_core`, compiled from the core crate): what `NDARRAY.SET … ENCODED` stores as it
is and `NDARRAY.GET … FORMAT ENCODED` replies. Both release the GIL and use every core.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from . import _core, _npy

ArrayT = np.ndarray[Any, Any]

# Where the client encodes a write: "client" (here, sent as ENCODED), "server" (raw bytes sent,
# the server encodes), or "auto" (the client for a compressing write of at least ENCODE_MIN_BYTES).
ENCODE_MODES = ("auto", "client", "server")

# `encode="auto"` encodes in the client from this many bytes. Below it a write is one small command
# either way, and the server's own path (a single raw chunk below 1 KiB) costs no more.
ENCODE_MIN_BYTES = 64 << 10


def check_mode(encode: str) -> str:
    if encode not in ENCODE_MODES:
        raise ValueError(f"encode must be 'auto', 'client' or 'server', got {encode!r}")
    return encode


def encode(
    array: Any, compress: Optional[str] = None, level: Optional[int] = None, shuffle: Optional[str] = None,
    *, chunk_bytes: Optional[int] = None, block_bytes: Optional[int] = None,
) -> bytes:
    """The encoded form of `array` (any array-like of a dtype the server stores): the bytes the
    server would store for it with the same options. `compress` ("none", "lz4", "zlib", "zstd" or
    "auto"), `level` and `shuffle` ("none", "byte", "bit") as NDARRAY.SET takes them; what is left
    out is the release's default (zstd level 1, bit shuffle, 256 KiB chunks in blocks of 32 KiB;
    `block_bytes=0` for chunks of one frame), not the settings of any server. Raises ValueError for
    a bad option or an unsupported dtype."""
    arr = _npy.prepare(array)
    return _core.encode(_npy.raw_bytes(arr), _npy.dtype_name(arr.dtype), arr.shape, compress, level, shuffle,
                        chunk_bytes, block_bytes)


def decode(payload: Union[bytes, bytearray, memoryview]) -> ArrayT:
    """The array an encoded form holds: a new, writable NumPy array (its bytes decoded straight into
    it). Every chunk is checked; a payload that does not decode raises ValueError (`BADPAYLOAD …`).
    A bfloat16 array needs ml_dtypes."""
    name, shape, data = _core.decode(payload)
    return data.view(_npy.dtype_of_descr(name.encode("ascii"))).reshape(shape)
