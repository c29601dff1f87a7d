"""NumPy indices (`np.s_[...]`) as the server's selection strings.

The server takes one comma-separated argument: integers, `start:stop:step` slices (any part may be
omitted), at most one `...`, and at most one integer list (a gather, `[3, 17, 42]`, from a list or
a 1-d integer array: NumPy's `a[[3, 17, 42]]`). `np.newaxis` (None) is basic indexing too, but the
server has no syntax for it: it is left out of the request and the axis inserted into the reply (a
view, no copy). Boolean masks and multi-dimensional index arrays are an IndexError.
"""

from __future__ import annotations

import operator
from typing import Any, List, Optional, Tuple

import numpy as np

# Where the reply needs new axes: the positions of the `None` items among the request's items,
# or None when there is none (the common case).
NewAxes = Optional[Tuple[Tuple[Any, ...], int]]


def selection(index: Any) -> Tuple[str, NewAxes]:
    """(the selection string, what to know to insert new axes into the reply)."""
    if isinstance(index, (str, bytes)):
        return (index.decode() if isinstance(index, bytes) else index), None
    items = index if isinstance(index, tuple) else (index,)
    parts: List[str] = []
    has_newaxis = False
    for item in items:
        if item is None:
            has_newaxis = True
            continue
        parts.append(_item(item))
    kept = sum(1 for i in items if isinstance(i, slice) or _is_list(i))
    return ", ".join(parts), ((items, kept) if has_newaxis else None)


def _is_list(item: Any) -> bool:
    return isinstance(item, (list, np.ndarray)) and np.ndim(item) == 1


def _item(item: Any) -> str:
    if item is Ellipsis:
        return "..."
    if isinstance(item, slice):
        start, stop, step = ("" if p is None else str(_integer(p)) for p in (item.start, item.stop, item.step))
        return f"{start}:{stop}" if item.step is None else f"{start}:{stop}:{step}"
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("boolean indices are not supported: the server takes integers, slices, Ellipsis, "
                         "np.newaxis and one integer list")
    if isinstance(item, (list, tuple, np.ndarray)):
        return _integer_list(item)
    return str(_integer(item))


def _integer_list(item: Any) -> str:
    arr = np.asarray(item)
    if arr.ndim == 0:
        return str(_integer(arr.item()))
    if arr.ndim != 1:
        raise IndexError(f"only a 1-d integer list is supported as an index (got {arr.ndim} dimensions)")
    if arr.size == 0:
        return "[]"
    if arr.dtype == np.bool_:
        raise IndexError("boolean masks are not supported: pass np.flatnonzero(mask) as an integer list")
    if arr.dtype.kind not in "iu":
        raise IndexError(f"an index list must hold integers, got {arr.dtype}")
    return "[" + ",".join(map(str, arr.tolist())) + "]"


def _integer(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise IndexError("boolean indices are not supported")
    try:
        return operator.index(value)
    except TypeError:
        raise IndexError(
            f"only integers, slices (`:`), ellipsis (`...`) and numpy.newaxis (`None`) are valid indices "
            f"for the server's basic indexing; got {value!r}"
        ) from None


def insert_new_axes(arr: "np.ndarray[Any, Any]", new_axes: NewAxes) -> "np.ndarray[Any, Any]":
    """Inserts the reply's `np.newaxis` axes (a view)."""
    if new_axes is None:
        return arr
    items, n_slices = new_axes
    ellipsis_axes = arr.ndim - n_slices  # axes the Ellipsis (or the unmentioned tail) kept
    shape = list(arr.shape)
    out: List[int] = []
    pos = 0
    for item in items:
        if item is None:
            out.append(1)
        elif item is Ellipsis:
            out.extend(shape[pos:pos + ellipsis_axes])
            pos += ellipsis_axes
            ellipsis_axes = 0
        elif isinstance(item, slice) or _is_list(item):
            out.append(shape[pos])
            pos += 1
    out.extend(shape[pos:])
    return arr.reshape(out)
