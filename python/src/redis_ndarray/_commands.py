"""Every command once: a builder that turns a method call into the arguments to send, plus the
function that parses the reply. The client classes (`client.py`) only run these, so sync, async,
pipelines and clusters share all of it.

The reply is parsed in a response callback registered on the client for each NDARRAY.* command
(redis-py's convention for module commands). The callback only parses calls made through this
package, which pass their parser as an option; a plain `execute_command("NDARRAY.GET", ...)` on the
same client still gets the raw reply. Every call also passes `NEVER_DECODE`, so clients with
`decode_responses=True` get the same results (array bytes are never UTF-8-decoded).
"""

from __future__ import annotations

import datetime
import operator
from typing import (
    Any, Callable, Dict, Generic, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union,
)

import numpy as np
from redis.client import NEVER_DECODE
from redis.exceptions import DataError
from redis.typing import EncodableT, KeyT

from . import _codec, _npy
from ._npy import DTypeArg
from ._selection import insert_new_axes, selection

T = TypeVar("T")
ArrayT = np.ndarray[Any, Any]

# The option that carries a call's parser to the response callback.
PARSE = "_ndarray_parse"

COMMAND_NAMES = (
    "NDARRAY.SET", "NDARRAY.GET", "NDARRAY.SLICE", "NDARRAY.SETSLICE", "NDARRAY.APPEND", "NDARRAY.RESHAPE",
    "NDARRAY.INFO", "NDARRAY.MGET", "NDARRAY.MSET", "NDARRAY.MSETEX", "NDARRAY.STACK", "NDARRAY.ATTRSET",
    "NDARRAY.ATTRGET", "NDARRAY.ATTRDEL", "NDARRAY.PROBE", "NDARRAY.REDUCE", "NDARRAY.APPLY",
)

# The commands the module flags `readonly` (a test checks this against COMMAND INFO): on a cluster
# client that reads from replicas (`read_from_replicas`, `load_balancing_strategy`), they go where
# redis-py sends its own reads. redis-py knows only its built-in commands as reads.
READ_COMMANDS = frozenset({
    "NDARRAY.GET", "NDARRAY.SLICE", "NDARRAY.INFO", "NDARRAY.MGET", "NDARRAY.STACK", "NDARRAY.ATTRGET",
    "NDARRAY.PROBE", "NDARRAY.REDUCE",
})



class Cmd(Generic[T]):
    """One call: what to send, how to parse the reply, and the keys that route it in a cluster."""

    __slots__ = ("args", "options", "route_keys", "none_if_missing", "local", "split")

    def __init__(self, args: Tuple[EncodableT, ...], parse: Callable[[Any], T],
                 route_keys: Optional[Sequence[KeyT]] = None, none_if_missing: bool = False,
                 options: Optional[Dict[str, Any]] = None, local: Optional[Callable[[], T]] = None,
                 split: Optional["Splitter[T]"] = None) -> None:
        self.args = args
        # A call whose result is known without asking (an empty batch): run returns it; a pipeline
        # queues a PING in its place, to keep the results in order.
        self.local = local
        # (shared dicts are safe: redis-py receives them as **options, a copy)
        self.options: Dict[str, Any] = options if options is not None else {NEVER_DECODE: True, PARSE: parse}
        # Multi-key commands route themselves (by the first key's slot, after checking that every
        # key has it): no COMMAND GETKEYS round trip for numkeys commands.
        self.route_keys = route_keys
        # INFO of a missing key is an error reply; the client returns None for it.
        self.none_if_missing = none_if_missing
        # A batch whose keys may span cluster slots: how to cut it into one call per slot and put
        # the results back together (None: it must be sent whole).
        self.split = split


class Split(Generic[T]):
    """A batch cut into one call per cluster slot: the calls, and how their results (in the same
    order) become the batch's result."""

    __slots__ = ("parts", "merge", "slots")

    def __init__(self, parts: List["Cmd[Any]"], merge: Callable[[List[Any]], T]) -> None:
        self.parts = parts
        self.merge = merge
        # Each part's slot, known when the batch was cut (set by the client).
        self.slots: List[int] = []


# Given the positions of a batch's keys grouped by slot (each group in the caller's order), the
# batch cut along them.
Splitter = Callable[[List[List[int]]], Split[T]]


def _known(value: T) -> Cmd[T]:
    """A call answered without the server (an empty batch)."""
    return Cmd(("PING",), lambda _reply: value, options={}, local=lambda: value)


def name_of(cmd: "Cmd[Any]") -> str:
    return _text(cmd.args[0])


def callback(previous: Optional[Callable[..., Any]]) -> Callable[..., Any]:
    """The response callback registered for each NDARRAY.* command (keeping any earlier one for
    calls that are not this package's)."""

    def parse_reply(response: Any, **options: Any) -> Any:
        parse = options.get(PARSE)
        if isinstance(response, Exception):  # redis-py's cluster pipeline passes errors through callbacks
            return response
        if parse is not None:
            return parse(response)
        return previous(response, **options) if previous is not None else response

    return parse_reply


# ---- reply parsers ----

def _ok(reply: Any) -> bool:
    return reply is not None and reply != 0


# Replies that are OK/nil or an integer need no NEVER_DECODE (a decoded "OK" parses the same).
_OK_OPTIONS: Dict[str, Any] = {PARSE: _ok}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _scalar(value: Any) -> Any:
    """A reply item as Python: text as str, numbers as numbers, arrays as lists."""
    if isinstance(value, (bytes, bytearray)):
        text = value.decode("utf-8", "replace")
        for conv in (int, float):
            try:
                return conv(text)
            except ValueError:
                pass
        return text
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, dict):
        return {_text(k): _scalar(v) for k, v in value.items()}
    return value


def _pairs(reply: Any) -> Iterable[Tuple[Any, Any]]:
    """A map reply: a dict in RESP3, a flat field/value list in RESP2."""
    if isinstance(reply, dict):
        return reply.items()
    return zip(reply[::2], reply[1::2])


def _array(copy: bool) -> Callable[[Any], Optional[ArrayT]]:
    def parse(reply: Any) -> Optional[ArrayT]:
        return None if reply is None else _npy.from_npy(reply, copy)
    return parse


def _reduced(copy: bool) -> Callable[[Any], Any]:
    """A reduction's reply as NumPy returns it: a 0-d result as a NumPy scalar (as `np.sum(a)`,
    also with keepdims on a 0-d array), anything else an array (viewing the reply unless `copy`)."""
    as_array = _array(copy)

    def parse(reply: Any) -> Any:
        arr = as_array(reply)
        return arr[()] if arr is not None and arr.ndim == 0 else arr
    return parse


def _decoded(reply: Any) -> Optional[ArrayT]:
    return None if reply is None else _codec.decode(reply)


def _info(reply: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for field, value in _pairs(reply):
        name = _text(field)
        if name == "shape":
            out[name] = tuple(int(d) for d in value)
        elif name == "attrs":
            out[name] = {_text(k): bytes(v) for k, v in _pairs(value)}
        elif isinstance(value, (bytes, bytearray)):
            out[name] = _text(value)
        else:
            out[name] = _scalar(value)
    return out


def _attrs(reply: Any) -> Optional[Dict[str, bytes]]:
    if reply is None:
        return None
    return {_text(k): bytes(v) for k, v in _pairs(reply)}


def _probe(reply: Any) -> List[Dict[str, Any]]:
    """NDARRAY.PROBE's table: a list of rows, each a map or a flat field/value list (also a header
    row of names followed by rows of values). Field names as the server gives them."""
    if isinstance(reply, dict):  # {"rows": [...]} or similar: take the one list in it
        lists = [v for v in reply.values() if isinstance(v, list)]
        reply = lists[0] if len(lists) == 1 else [reply]
    rows = list(reply or [])
    if (len(rows) > 1 and all(isinstance(r, list) for r in rows)
            and all(isinstance(_scalar(c), str) for c in rows[0])
            and not all(isinstance(_scalar(c), str) for c in rows[0][::2] + rows[1][::2])):
        names = [_text(c) for c in rows[0]]
        return [{n: _scalar(v) for n, v in zip(names, row)} for row in rows[1:]]
    return [{_text(k): _scalar(v) for k, v in _pairs(row)} for row in rows]


# ---- argument pieces ----

def _dims(shape: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def _whole(t: Any, what: str) -> int:
    """An int argument (a TTL): a float or anything else is refused, never truncated (as redis-py)."""
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        return int(t)
    raise DataError(f"{what} must be an int or a datetime.timedelta, got {type(t).__name__} {t!r}")


def _seconds(t: Union[int, datetime.timedelta]) -> int:
    return int(t.total_seconds()) if isinstance(t, datetime.timedelta) else _whole(t, "ex")


def _millis(t: Union[int, datetime.timedelta]) -> int:
    return int(t.total_seconds() * 1000) if isinstance(t, datetime.timedelta) else _whole(t, "px")


def _unix(t: Union[int, datetime.datetime], scale: int) -> int:
    if isinstance(t, datetime.datetime):
        return int(t.timestamp() * scale)
    return _whole(t, "exat" if scale == 1 else "pxat")


def _write_options(
    compress: Optional[str], level: Optional[int], shuffle: Optional[str], dtype: Optional[DTypeArg],
    ex: Union[int, datetime.timedelta, None], px: Union[int, datetime.timedelta, None],
    exat: Union[int, datetime.datetime, None], pxat: Union[int, datetime.datetime, None],
    keepttl: bool, nx: bool, xx: bool,
) -> List[EncodableT]:
    opts: List[EncodableT] = []
    if compress is not None:
        opts += ["COMPRESS", compress]
    if level is not None:
        opts += ["LEVEL", int(level)]
    if shuffle is not None:
        opts += ["SHUFFLE", shuffle]
    if dtype is not None:
        opts += ["AS", _npy.dtype_name(dtype)]
    if ex is not None:
        opts += ["EX", _seconds(ex)]
    if px is not None:
        opts += ["PX", _millis(px)]
    if exat is not None:
        opts += ["EXAT", _unix(exat, 1)]
    if pxat is not None:
        opts += ["PXAT", _unix(pxat, 1000)]
    if keepttl:
        opts.append("KEEPTTL")
    if nx:
        opts.append("NX")
    if xx:
        opts.append("XX")
    return opts


def _scalar_values(value: Any) -> List[EncodableT]:
    """A single value for `VALUES` (which the server broadcasts to the whole selection)."""
    item = np.asarray(value).reshape(()).item()
    if isinstance(item, bool):
        return [int(item)]
    if isinstance(item, complex):
        return [repr(item.real), repr(item.imag)]
    if isinstance(item, float):
        return [repr(item)]
    if isinstance(item, int):
        return [item]
    return [repr(float(item))]  # bfloat16 and other extension scalars


def _sendable(payload: bytes) -> EncodableT:
    """A payload as an argument: from 64 KiB a memoryview, which redis-py (with hiredis) sends with a
    send of its own instead of copying it into the packed command (a 5 MB SET: 2.8 -> 1.6 ms)."""
    return memoryview(payload) if len(payload) >= 65536 else payload


def _encodes_in_client(arr: ArrayT, encode: str, compress: Optional[str], dtype: Optional[DTypeArg]) -> bool:
    """Whether a write of `arr` is encoded here (see `set`'s `encode`)."""
    if _codec.check_mode(encode) == "server":
        return False
    if dtype is not None:
        if encode == "client":
            raise ValueError("dtype= converts on the server: pass encode='server', or convert with astype() first")
        return False
    if encode == "client":
        return True
    return arr.nbytes >= _codec.ENCODE_MIN_BYTES and (compress is None or compress.lower() != "none")


# ---- the commands ----

def set_(
    key: KeyT, a: Any, *, compress: Optional[str] = None, level: Optional[int] = None,
    shuffle: Optional[str] = None, dtype: Optional[DTypeArg] = None,
    ex: Union[int, datetime.timedelta, None] = None, px: Union[int, datetime.timedelta, None] = None,
    exat: Union[int, datetime.datetime, None] = None, pxat: Union[int, datetime.datetime, None] = None,
    keepttl: bool = False, nx: bool = False, xx: bool = False,
    attrs: Optional[Mapping[str, EncodableT]] = None, encode: str = "auto",
) -> Cmd[bool]:
    """Stores `a` (any array-like) under `key`, replacing any value; True, or False when `nx`/`xx`
    prevented the write. `dtype` stores it converted (e.g. float16); `compress`, `level` and
    `shuffle` choose the encoding; `ex`/`px`/`exat`/`pxat`/`keepttl` set the TTL; `attrs` the
    array's attributes. `encode` says where it is compressed: "client" (here, with the module's own
    code, and sent compressed), "server", or "auto" (the client for a compressing write of 64 KiB or
    more). Client-side encoding uses `compress`/`level`/`shuffle` or the release's defaults (zstd-1,
    bit shuffle), not the server's settings."""
    if (attrs is None and compress is None and level is None and shuffle is None and dtype is None
            and ex is None and px is None and exat is None and pxat is None and not (keepttl or nx or xx)
            and type(a) is np.ndarray and a.nbytes < _codec.ENCODE_MIN_BYTES and a.flags.c_contiguous
            and encode == "auto"):
        name = _npy.FAST_NAMES.get(a.dtype)
        if name is not None:  # the common small write: no options, a native little-endian array
            return Cmd(("NDARRAY.SET", key, name, *a.shape, "BLOB", a.tobytes()), _ok, options=_OK_OPTIONS)
    arr = _npy.prepare(a)
    if _encodes_in_client(arr, encode, compress, dtype):
        args: List[EncodableT] = ["NDARRAY.SET", key]
        args += _write_options(None, None, None, None, ex, px, exat, pxat, keepttl, nx, xx)
        for field, value in (attrs or {}).items():
            args += ["ATTR", field, value]
        args += ["ENCODED", _sendable(_codec.encode(arr, compress, level, shuffle))]
        return Cmd(tuple(args), _ok, options=_OK_OPTIONS)
    args = ["NDARRAY.SET", key, _npy.dtype_name(arr.dtype), *arr.shape]
    if (compress or level is not None or shuffle or dtype is not None or ex is not None or px is not None
            or exat is not None or pxat is not None or keepttl or nx or xx):
        args += _write_options(compress, level, shuffle, dtype, ex, px, exat, pxat, keepttl, nx, xx)
    if attrs:
        for field, value in attrs.items():
            args += ["ATTR", field, value]
    # Small arrays as bytes (one copy, one send: redis-py writes a memoryview argument with a send of
    # its own); from 64 KiB a memoryview over the array's buffer (no copy).
    args += ["BLOB", arr.tobytes() if arr.nbytes < 65536 else _npy.raw_bytes(arr)]
    return Cmd(tuple(args), _ok, options=_OK_OPTIONS)


def get(key: KeyT, dtype: Optional[DTypeArg] = None, *, copy: bool = False) -> Cmd[Optional[ArrayT]]:
    """The array under `key` (None when the key does not exist), converted to `dtype` by the server
    if given. Without `dtype` the server replies the array as stored (compressed) and the client
    decodes it into a new, writable array; with it, the result views the reply's bytes and is
    read-only unless `copy=True`."""
    if dtype is None:
        return Cmd(("NDARRAY.GET", key, "FORMAT", "ENCODED"), _decoded)
    return Cmd(("NDARRAY.GET", key, "AS", _npy.dtype_name(dtype)), _array(copy))


def slice_(
    key: KeyT, index: Any, dtype: Optional[DTypeArg] = None, *, copy: bool = False,
) -> Cmd[Optional[ArrayT]]:
    """`a[index]` of the stored array, decoding only the chunks it touches: any NumPy basic index
    (an int, a slice, Ellipsis, np.newaxis, or a tuple of them, as `np.s_[...]` builds) or a
    selection string ("4000:4010, ::2"). None when the key does not exist. Read-only unless `copy`."""
    sel, new_axes = selection(index)
    args: Tuple[EncodableT, ...] = ("NDARRAY.SLICE", key, sel)
    if dtype is not None:
        args += ("AS", _npy.dtype_name(dtype))
    as_array = _array(copy)

    def parse(reply: Any) -> Optional[ArrayT]:
        arr = as_array(reply)
        return None if arr is None else insert_new_axes(arr, new_axes)

    return Cmd(args, parse if new_axes is not None else as_array)


def setslice(key: KeyT, index: Any, values: Any) -> Cmd[bool]:
    """`a[index] = values` in the stored array: `values` of the selection's shape, or a single value,
    which fills the selection. Cast as `np.copyto` casts (`same_kind`: int64 into int32 and float64
    into float32 are written; float values into an int array are refused, a DTypeShapeError)."""
    sel, new_axes = selection(index)
    if new_axes is not None:
        raise IndexError("setslice does not take np.newaxis (None) indices")
    _npy.refuse_masked(values)
    arr = np.asarray(values)
    if arr.size == 1 and arr.ndim <= 1:
        data: List[EncodableT] = ["VALUES", *_scalar_values(arr)]
    else:
        data = ["NPY", _npy.to_npy(arr)]
    return Cmd(("NDARRAY.SETSLICE", key, sel, *data), _ok)


def append(key: KeyT, rows: Any) -> Cmd[int]:
    """Appends `rows` along axis 0 (rows of shape `a.shape[1:]`, or one such row); the new length
    of axis 0. Creates a missing key. Rows of another dtype are cast as `np.copyto` casts
    (`same_kind`), else a DTypeShapeError with NumPy's message."""
    return Cmd(("NDARRAY.APPEND", key, "NPY", _npy.to_npy(rows)), int)


def reshape(key: KeyT, shape: Union[int, Sequence[int]]) -> Cmd[bool]:
    """Gives the stored array a new shape with the same number of elements (no data moves)."""
    return Cmd(("NDARRAY.RESHAPE", key, *_dims(shape)), _ok)


def info(key: KeyT) -> Cmd[Optional[Dict[str, Any]]]:
    """What the server knows of the array: dtype, shape (a tuple), sizes, compression, chunks (and
    `updated_at`, `attrs` on servers that have them), or None when the key does not exist."""
    return Cmd(("NDARRAY.INFO", key), _info, none_if_missing=True)


def mget(keys: Sequence[KeyT], *, copy: bool = False, atomic: bool = False) -> Cmd[List[Optional[ArrayT]]]:
    """One array per key, None where a key is missing or holds another type. The server replies each
    array as stored (compressed); the client decodes each into a new, writable array (`copy` is
    accepted for symmetry with `get`). On a cluster, keys of several slots are read with one call
    per slot, sent to their nodes together (each call reads its slot at one moment, not the whole
    batch); `atomic=True` sends one call and refuses keys of several slots (CrossSlotKeysError)."""
    def parse(reply: Any) -> List[Optional[ArrayT]]:
        return [_decoded(item) for item in reply]

    keys = list(keys)
    if not keys:
        return _known([])

    def split(groups: List[List[int]]) -> Split[List[Optional[ArrayT]]]:
        def merge(results: List[Any]) -> List[Optional[ArrayT]]:
            out: List[Optional[ArrayT]] = [None] * len(keys)
            for group, arrays in zip(groups, results):
                for i, array in zip(group, arrays):
                    out[i] = array
            return out
        return Split([mget([keys[i] for i in group], atomic=True) for group in groups], merge)

    return Cmd(("NDARRAY.MGET", *keys, "FORMAT", "ENCODED"), parse, route_keys=keys,
               split=None if atomic else split)


def mset(
    mapping: Mapping[KeyT, Any], *, compress: Optional[str] = None, level: Optional[int] = None,
    shuffle: Optional[str] = None, dtype: Optional[DTypeArg] = None,
    ex: Union[int, datetime.timedelta, None] = None, px: Union[int, datetime.timedelta, None] = None,
    exat: Union[int, datetime.datetime, None] = None, pxat: Union[int, datetime.datetime, None] = None,
    keepttl: bool = False, nx: bool = False, xx: bool = False, encode: str = "auto", atomic: bool = False,
) -> Cmd[bool]:
    """Stores every array of `mapping`, all or nothing, with the same options for all (NDARRAY.MSETEX);
    False when `nx` (none may exist) or `xx` (all must exist) prevented it. `encode` as for `set`
    (each array decides for itself under "auto"). On a cluster, keys of several slots are written
    with one call per slot, sent together: all or nothing (and `nx`/`xx`) hold per slot, and the
    result is False if any slot's write was prevented; `atomic=True` sends one call and refuses keys
    of several slots (CrossSlotKeysError)."""
    _codec.check_mode(encode)
    if not mapping:
        return _known(True)
    arrays = [(key, _npy.prepare(a)) for key, a in mapping.items()]
    in_client = [_encodes_in_client(arr, encode, compress, dtype) for _, arr in arrays]
    # Encoded values take no storage options: when any value is encoded here and options were
    # given, every value is (so that none needs them from the server).
    storage_options = compress is not None or level is not None or shuffle is not None
    if any(in_client) and storage_options:
        in_client = [True] * len(arrays)
    args: List[EncodableT] = ["NDARRAY.MSETEX", len(arrays)]
    for (key, arr), here in zip(arrays, in_client):
        args += [key, _sendable(_codec.encode(arr, compress, level, shuffle)) if here else _npy.to_npy(arr)]
    if any(in_client):
        args += _write_options(None, None, None, None, ex, px, exat, pxat, keepttl, nx, xx)
    else:
        args += _write_options(compress, level, shuffle, dtype, ex, px, exat, pxat, keepttl, nx, xx)

    def split(groups: List[List[int]]) -> Split[bool]:
        items = list(mapping.items())
        parts = [mset({items[i][0]: items[i][1] for i in group}, compress=compress, level=level,
                      shuffle=shuffle, dtype=dtype, ex=ex, px=px, exat=exat, pxat=pxat, keepttl=keepttl,
                      nx=nx, xx=xx, encode=encode, atomic=True) for group in groups]
        return Split(parts, all)

    return Cmd(tuple(args), _ok, route_keys=list(mapping), split=None if atomic else split)


def stack(
    keys: Sequence[KeyT], dtype: Optional[DTypeArg] = None, *, missing: Any = None,
    reduce: Optional[str] = None, copy: bool = False, atomic: bool = False,
) -> Cmd[Any]:
    """The arrays of `keys` stacked into one of shape (len(keys), *shape), like np.stack, built by
    the server into one reply. Without `missing` a missing key is a KeyError. `missing` may be a
    fill value: missing keys become rows of it and the result is (array, positions filled); or
    "skip": missing keys are left out and the result is (array of the present keys, positions
    skipped). `reduce` ("sum", "mean", "min" or "max") replies
    `np.stack(arrays).astype(dtype).<reduce>(axis=0)` instead of the stack (a NumPy scalar for 0-d
    arrays), with the same (result, positions) pair when `missing` is given; fill rows count as
    rows. On a cluster, keys of several slots are stacked (or reduced) by one call per slot, sent
    together, and the parts put back in the caller's order, or combined (each part reads its slot at
    one moment; a reduction's parts are combined in float64/complex128 for floats, so a sum or mean
    may differ from one server-side pass in the last bits); `atomic=True` sends one call and
    refuses keys of several slots (CrossSlotKeysError)."""
    keys = list(keys)
    if not keys:
        raise ValueError("stack needs at least one key (as np.stack needs at least one array)")
    skip = _is_skip(missing)
    op = None if reduce is None else _stack_op(reduce)
    args: List[EncodableT] = ["NDARRAY.STACK", len(keys), *keys]
    if dtype is not None:
        args += ["AS", _npy.dtype_name(dtype)]

    def split(groups: List[List[int]]) -> Split[Any]:
        parts = [stack([keys[i] for i in group], dtype, missing=missing, reduce=op, atomic=True)
                 for group in groups]
        for part in parts:
            # A slot whose keys are all missing has no array to take a shape from: its part is None
            # and its rows are filled (or skipped) once another slot's part gives the dtype and shape.
            part.none_if_missing = missing is not None
        if op is not None:
            return Split(parts, _merge_reduced(op, groups, missing, skip))
        if skip:
            return Split(parts, _merge_skipped(groups))

        def merge(results: List[Any]) -> Any:
            arrays = [r if missing is None or r is None else r[0] for r in results]
            present = [a for a in arrays if a is not None]
            if not present:
                raise KeyError("stack: every key is missing: filling needs at least one existing "
                               "array to take the dtype and shape from")
            first = present[0]
            if any(a.shape[1:] != first.shape[1:] or a.dtype != first.dtype for a in present):
                shapes = sorted({(str(a.dtype), a.shape[1:]) for a in present})
                raise ValueError(f"stack: the arrays differ in dtype or shape across slots: {shapes}")
            out = np.empty((len(keys), *first.shape[1:]), dtype=first.dtype)
            filled: List[int] = []
            for group, array, result in zip(groups, arrays, results):
                if array is None:
                    out[group] = missing
                    filled += group
                else:
                    out[group] = array
                    if missing is not None:
                        filled += [group[j] for j in result[1]]
            return out if missing is None else (out, sorted(filled))
        return Split(parts, merge)

    splitter = None if atomic else split
    if skip:
        args += ["MISSING", "SKIP"]
    elif missing is not None:
        args += ["MISSING", "FILL", *_scalar_values(missing)]
    if op is not None:
        args += ["REDUCE", op]
    as_result: Callable[[Any], Any] = _array(copy) if op is None else _reduced(copy)
    if missing is None:
        return Cmd(tuple(args), as_result, route_keys=keys, split=splitter)

    def parse(reply: Any) -> Tuple[Any, List[int]]:
        data, positions = reply
        return as_result(data), [int(i) for i in positions]

    return Cmd(tuple(args), parse, route_keys=keys, split=splitter)


# The reductions NDARRAY.STACK … REDUCE takes (over the stacked axis).
STACK_REDUCE_OPS = ("sum", "mean", "min", "max")


def _is_skip(missing: Any) -> bool:
    """Whether `missing=` asks to skip missing keys (a fill value is a number, never "skip")."""
    if not isinstance(missing, (str, bytes)):
        return False
    text = missing.decode("utf-8", "replace") if isinstance(missing, bytes) else missing
    return text.lower() == "skip"


def _stack_op(op: Any) -> str:
    name = _op_name(op)
    if name not in STACK_REDUCE_OPS:
        raise ValueError(f"stack's reduce= takes one of {', '.join(STACK_REDUCE_OPS)}, got {op!r}")
    return name


def _op_name(op: Any) -> str:
    """An operation's name as the server takes it: a string, or a NumPy function or ufunc
    (`np.add`, `np.sum`: its `__name__`)."""
    name = op if isinstance(op, str) else getattr(op, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"expected an operation name (a string) or a NumPy function, got {op!r}")
    return _OP_ALIASES.get(name.lower(), name.lower())


def _merge_skipped(groups: List[List[int]]) -> Callable[[List[Any]], Tuple[ArrayT, List[int]]]:
    """A `missing="skip"` stack's per-slot parts put back together: the present keys' rows in the
    caller's order, and every slot's skipped positions."""
    def merge(results: List[Any]) -> Tuple[ArrayT, List[int]]:
        skipped: List[int] = []
        blocks: List[Tuple[List[int], ArrayT]] = []
        for group, result in zip(groups, results):
            if result is None:  # every key of this slot is missing
                skipped += group
                continue
            array, gone = result
            left_out = set(gone)
            skipped += [group[j] for j in gone]
            blocks.append(([group[j] for j in range(len(group)) if j not in left_out], array))
        if not blocks:
            raise KeyError("stack: every key is missing: nothing to stack")
        first = blocks[0][1]
        if any(a.shape[1:] != first.shape[1:] or a.dtype != first.dtype for _, a in blocks):
            shapes = sorted({(str(a.dtype), a.shape[1:]) for _, a in blocks})
            raise ValueError(f"stack: the arrays differ in dtype or shape across slots: {shapes}")
        rank = {p: r for r, p in enumerate(sorted(p for kept, _ in blocks for p in kept))}
        out = np.empty((len(rank), *first.shape[1:]), dtype=first.dtype)
        for kept, array in blocks:
            out[[rank[p] for p in kept]] = array
        return out, sorted(skipped)
    return merge


def _wide(dtype: "np.dtype[Any]") -> "np.dtype[Any]":
    """Where a reduction's per-slot results are combined: integers as themselves (their sums wrap as
    NumPy's), floats in float64, complex in complex128."""
    if dtype.kind in "biu":
        return dtype
    return np.dtype(np.complex128) if dtype.kind == "c" else np.dtype(np.float64)


def _merge_reduced(op: str, groups: List[List[int]], missing: Any, skip: bool) -> Callable[[List[Any]], Any]:
    """A `reduce=` stack's per-slot results combined into the whole's: min/max of the parts' mins
    and maxes (NaN propagates, as np.minimum/np.maximum), sums added, means weighted by their row
    counts. A slot whose keys are all missing adds its fill rows (with a fill value) or nothing
    (with "skip")."""
    def merge(results: List[Any]) -> Any:
        parts: List[Tuple[ArrayT, int]] = []
        positions: List[int] = []
        fill_rows = 0
        for group, result in zip(groups, results):
            if result is None:  # every key of this slot is missing
                positions += group
                fill_rows += 0 if skip else len(group)
                continue
            value, gone = result if missing is not None else (result, [])
            positions += [group[j] for j in gone]
            parts.append((np.asarray(value), len(group) - len(gone) if skip else len(group)))
        if not parts:
            raise KeyError("stack: every key is missing: reducing needs at least one existing array")
        first = parts[0][0]
        if any(a.shape != first.shape or a.dtype != first.dtype for a, _ in parts):
            shapes = sorted({(str(a.dtype), a.shape) for a, _ in parts})
            raise ValueError(f"stack: the slots' reductions differ in dtype or shape: {shapes}")
        dtype = first.dtype
        fill: Optional[ArrayT] = None
        if fill_rows:
            value = np.asarray(missing)
            if value.dtype.kind == "c" and dtype.kind != "c":
                value = value.real
            fill = np.broadcast_to(value.astype(dtype), first.shape)
        if op in ("min", "max"):
            extreme = np.minimum if op == "min" else np.maximum
            out = first.copy()
            for a, _ in parts[1:]:
                extreme(out, a, out=out)
            if fill is not None:
                extreme(out, fill, out=out)
        else:
            wide = _wide(dtype)
            total = np.zeros(first.shape, wide)
            rows = 0
            terms = [(a, n) for a, n in parts] + ([(fill, fill_rows)] if fill is not None else [])
            for a, n in terms:
                term = a.astype(wide)
                if op == "mean" or a is fill:  # a mean times its rows; a fill value times its rows
                    term = np.multiply(term, np.asarray(n, wide))
                np.add(total, term, out=total)
                rows += n
            out = (total / rows if op == "mean" else total).astype(dtype)
        result = out[()] if out.ndim == 0 else out
        return result if missing is None else (result, sorted(positions))
    return merge


def attrs(key: KeyT) -> Cmd[Optional[Dict[str, bytes]]]:
    """Every attribute of the array (field name -> bytes), None when the key does not exist."""
    return Cmd(("NDARRAY.ATTRGET", key), _attrs)


def attr_values(key: KeyT, *fields: str) -> Cmd[List[Optional[bytes]]]:
    """The values of `fields` (None where absent), like HMGET."""
    def parse(reply: Any) -> List[Optional[bytes]]:
        if reply is None:
            return [None] * len(fields)
        return [None if v is None else bytes(v) for v in reply]

    return Cmd(("NDARRAY.ATTRGET", key, *fields), parse)


def set_attrs(key: KeyT, mapping: Optional[Mapping[str, EncodableT]] = None, **fields: EncodableT) -> Cmd[int]:
    """Sets attributes (from `mapping` and keyword arguments); the number of fields newly created."""
    items = {**(mapping or {}), **fields}
    if not items:
        raise ValueError("set_attrs needs at least one field")
    args: List[EncodableT] = ["NDARRAY.ATTRSET", key]
    for field, value in items.items():
        args += [field, value]
    return Cmd(tuple(args), int)


def del_attrs(key: KeyT, *names: str) -> Cmd[int]:
    """Removes attributes; the number removed."""
    if not names:
        raise ValueError("del_attrs needs at least one field name")
    return Cmd(("NDARRAY.ATTRDEL", key, *names), int)


def probe(key: KeyT, *, sample: Optional[int] = None) -> Cmd[List[Dict[str, Any]]]:
    """The server's measurement of each codec x filter (and a few levels) on a sample of the array:
    one dict per row (codec, level, filter, ratio, encode and decode MB/s, named as the server names
    them), best ratio first."""
    args: Tuple[EncodableT, ...] = ("NDARRAY.PROBE", key)
    if sample is not None:
        args += ("SAMPLE", int(sample))
    return Cmd(args, _probe)


# ---- computing where the array lives ----

# NumPy's aliases, by the names the server takes.
_OP_ALIASES = {"amin": "min", "amax": "max", "true_divide": "divide"}


def _axes(axis: Union[None, int, Sequence[int]]) -> List[int]:
    """`axis=` as the server's AXIS numbers (none: every axis). Negative axes are the server's to
    resolve, as NumPy's."""
    if axis is None:
        return []
    items: List[Any] = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    if not items:
        raise ValueError("axis=() (reduce over no axis) is not supported: read the array with get() or slice()")
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"an axis must be an integer, got {item!r}")
        try:
            out.append(operator.index(item))
        except TypeError:
            raise TypeError(f"an axis must be an integer, got {item!r}") from None
    return out


def _select(args: List[EncodableT], select: Any, what: str) -> None:
    """Adds `SELECT selection` for `select=` (anything slice() takes); nothing for the whole array."""
    if select is None:
        return
    sel, new_axes = selection(select)
    if new_axes is not None:
        raise IndexError(f"{what} does not take np.newaxis (None) in select=")
    if sel:
        args += ["SELECT", sel]


def reduce(
    key: KeyT, op: Any, axis: Union[None, int, Sequence[int]] = None, keepdims: bool = False,
    select: Any = None, dtype: Optional[DTypeArg] = None, *, copy: bool = False,
) -> Cmd[Any]:
    """`np.<op>(a[select], axis=axis, keepdims=keepdims, dtype=dtype)` of the stored array, computed
    by the server (only the result crosses the network). `op`: "sum", "prod", "mean", "min",
    "max", "var", "std", "argmin", "argmax", "count_nonzero", "any", "all" (or the NumPy function,
    `np.sum`). `axis`: None (every axis), an int or a tuple of ints, negative from the end; argmin
    and argmax take one axis at most. `select`: anything slice() takes (`np.s_[::2, 0]`, an integer
    list), reduced without reading the rest; `axis` counts the selection's axes. `dtype` (sum, prod,
    mean, var, std): NumPy's `dtype=`, the accumulation and result dtype. Result dtypes, NaN
    propagation and empty reductions as NumPy's (ddof 0). A 0-d result is a NumPy scalar (as
    np.sum returns), anything else an array viewing the reply (read-only unless `copy`); None when
    the key does not exist."""
    args: List[EncodableT] = ["NDARRAY.REDUCE", key, _op_name(op)]
    axes = _axes(axis)
    if axes:
        args += ["AXIS", *axes]
    if keepdims:
        args.append("KEEPDIMS")
    _select(args, select, "reduce")
    if dtype is not None:
        args += ["AS", _npy.dtype_name(dtype)]
    return Cmd(tuple(args), _reduced(copy))


def _operand(x: Any) -> List[EncodableT]:
    """APPLY's operand, typed as NumPy 2 types it (NEP 50): a Python bool, int, float or complex is
    weak (one `VALUES` literal, taking the array's dtype as `a += 1` does: `true`, `3`, `2.5`,
    `1.5-2.0j`); a NumPy scalar keeps its dtype and an array-like is `np.asarray(x)` (`NPY`)."""
    if isinstance(x, np.generic) or not isinstance(x, (bool, int, float, complex)):
        _npy.refuse_masked(x)
        return ["NPY", _sendable(_npy.to_npy(x))]
    if isinstance(x, bool):
        return ["VALUES", "true" if x else "false"]
    if isinstance(x, int):
        return ["VALUES", int(x)]
    if isinstance(x, float):
        return ["VALUES", repr(float(x))]  # always has '.', 'e', 'inf' or 'nan': a float literal
    value = complex(x)
    re, im = repr(value.real), repr(value.imag)
    return ["VALUES", f"{re}{'' if im.startswith('-') else '+'}{im}j"]


def apply(
    key: KeyT, ufunc: Any, x: Any, select: Any = None, *, return_array: bool = False, copy: bool = False,
) -> Cmd[Any]:
    """`a[select] = ufunc(a[select], x)` done atomically in the server (`a[select] += x` for "add"):
    concurrent applies never lose an update. `ufunc`: "add", "subtract", "multiply", "divide",
    "minimum", "maximum" (or the ufunc, `np.add`). `x` follows NumPy 2's rules (NEP 50): a Python
    bool, int, float or complex is weak and takes the array's dtype (an int must fit it:
    `apply(k, "add", 300)` on int8 raises a ValueError, as NumPy's OverflowError); a NumPy scalar
    (`np.float64(0.5)`) keeps its dtype; a list or array is broadcast onto the selection. The result
    is cast back to the array's dtype under `same_kind`, else a DTypeError (a TypeError) with NumPy's
    message (`divide` of an integer array, a float added to an integer array). True; with
    `return_array=True`, the whole new array (read-only unless `copy`). A missing key is a
    NoSuchKeyError (a KeyError)."""
    args: List[EncodableT] = ["NDARRAY.APPLY", key, _op_name(ufunc)]
    _select(args, select, "apply")
    if return_array:
        args.append("RETURN")
    args += _operand(x)
    if return_array:
        return Cmd(tuple(args), _array(copy))
    return Cmd(tuple(args), _ok, options=_OK_OPTIONS)
