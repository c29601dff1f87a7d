"""NumPy basic indices (`np.s_[...]`) as the server's selection strings.

The server takes one comma-separated argument: integers, `start:stop:step` slices (any part may be
omitted) and at most one `...`. `np.newaxis` (None) is basic indexing too, but the server has no
syntax for it: it is left out of the request and the axis inserted into the reply (a view, no copy).
Anything else (lists, arrays, booleans: NumPy's advanced indexing) is an IndexError, as the server
only does basic indexing.
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
    return ", ".join(parts), ((items, sum(1 for i in items if isinstance(i, slice))) if has_newaxis else None)


def _item(item: Any) -> str:
    if item is Ellipsis:
        return "..."
    if isinstance(item, slice):
        start, stop, step = ("" if p is None else str(_integer(p)) for p in (item.start, item.stop, item.step))
        return f"{start}:{stop}" if item.step is None else f"{start}:{stop}:{step}"
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("boolean indices are advanced indexing: the server does basic indexing only "
                         "(integers, slices, Ellipsis, np.newaxis)")
    return str(_integer(item))


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
        elif isinstance(item, slice):
            out.append(shape[pos])
            pos += 1
    out.extend(shape[pos:])
    return arr.reshape(out)
