"""Server errors as the exceptions NumPy users expect.

Every class is a `redis.ResponseError`, so code that catches redis-py's errors keeps working; the
selection errors are also `IndexError`s, dtype and shape mismatches `ValueError`s, a missing key a
`KeyError`. The message is the server's, unchanged.
"""

from __future__ import annotations

import redis
import redis.exceptions


class NDArrayError(redis.ResponseError):
    """An error reply of an NDARRAY.* command."""


class WrongTypeError(NDArrayError):
    """WRONGTYPE: the key holds another kind of value."""


class SelectionError(NDArrayError, IndexError):
    """The selection does not fit the array (out of bounds, too many indices, ...)."""


class DTypeShapeError(NDArrayError, ValueError):
    """A dtype or shape mismatch, a cast the server refuses, data of the wrong size."""


class NoSuchKeyError(NDArrayError, KeyError):
    """The command needs an existing array."""

    def __str__(self) -> str:  # KeyError would show the repr
        return str(self.args[0]) if self.args else ""


class CrossSlotKeysError(redis.exceptions.RedisClusterException, ValueError):
    """A multi-key call whose keys hash to different cluster slots (raised before sending)."""


_SELECTION = (
    "out of bounds for axis", "too many indices", "single ellipsis", "slice step cannot be zero",
    "invalid selection",
)
_VALUE = (
    "cannot cast", "unknown dtype", "cannot stack", "cannot reshape", "does not match", "not a whole number",
    "out of range for", " needs ", "dtype", "shape", "npy", "values, expected", "cannot append",
)


def _server_text(message: str) -> str:
    # redis-py prefixes pipeline errors: "Command # 1 (...) of pipeline caused error: <reply>"
    marker = " caused error: "
    at = message.find(marker)
    return message[at + len(marker):] if at >= 0 else message


def classify(error: redis.ResponseError) -> redis.ResponseError:
    """The mapped exception for a server error (the error itself when it is not the module's)."""
    if isinstance(error, NDArrayError) or type(error) is not redis.ResponseError:
        return error  # already mapped, or redis-py's own subclass (NOPERM, READONLY, ...)
    message = str(error)
    text = _server_text(message)
    cls: type[NDArrayError]
    if text.startswith("WRONGTYPE"):
        cls = WrongTypeError
    elif any(s in text for s in _SELECTION):
        cls = SelectionError
    elif text.startswith("no such key"):
        cls = NoSuchKeyError
    elif any(s in text for s in _VALUE):
        cls = DTypeShapeError
    else:
        cls = NDArrayError
    mapped = cls(message)
    mapped.__cause__ = None
    return mapped
