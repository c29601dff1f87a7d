"""Server errors as the exceptions NumPy users expect.

Every class is a `redis.ResponseError`, so code that catches redis-py's errors keeps working; the
class comes from the reply's code (its first word, one per class: see the README), never from the
message. Selection errors are also `IndexError`s, dtype, shape and value errors `ValueError`s, a
missing key a `KeyError`. The message is the server's, after the code.
"""

from __future__ import annotations

import redis
import redis.exceptions


class NDArrayError(redis.ResponseError):
    """An error reply of an NDARRAY.* command; `code` is its first word (`"ERR"` when redis-py
    already stripped it), the message is the rest (`WRONGTYPE`'s keeps it, as redis-py's do)."""

    code = "ERR"


class WrongTypeError(NDArrayError):
    """WRONGTYPE: the key holds another kind of value."""

    code = "WRONGTYPE"


class SelectionError(NDArrayError, IndexError):
    """BOUNDS or SELECTION: the selection does not fit the array, or is not a selection."""


class DTypeShapeError(NDArrayError, ValueError):
    """DTYPE, SHAPE, BADNPY, BADPAYLOAD or VALUE: an unsupported dtype or refused cast, data of the
    wrong size or shape, a malformed .npy file or encoded array, an element value that does not
    fit."""


class DTypeError(DTypeShapeError, TypeError):
    """DTYPE: an unsupported dtype, or a cast NumPy's rules refuse (NumPy raises TypeError there:
    `Cannot cast ufunc 'add' output from dtype('float64') to dtype('int32') ...`)."""


class NoSuchKeyError(NDArrayError, KeyError):
    """NOKEY: the command needs an existing array."""

    code = "NOKEY"

    def __str__(self) -> str:  # KeyError would show the repr
        return str(self.args[0]) if self.args else ""


class LimitError(NDArrayError, ValueError):
    """LIMIT: a size limit of the server (max-array-bytes, max-reply-bytes, attributes)."""

    code = "LIMIT"


class CorruptDataError(NDArrayError):
    """CORRUPT: stored bytes failed to decode on the server (not the caller's input)."""

    code = "CORRUPT"


class CrossSlotKeysError(redis.exceptions.RedisClusterException, ValueError):
    """A multi-key call whose keys hash to different cluster slots (raised before sending)."""


# The server's error codes (README, "Commands"), one class each. redis-py strips a leading "ERR "
# itself; no message the module sends after ERR starts with one of these words.
CODES: dict[str, type[NDArrayError]] = {
    "WRONGTYPE": WrongTypeError,
    "NOKEY": NoSuchKeyError,
    "BOUNDS": SelectionError,
    "SELECTION": SelectionError,
    "DTYPE": DTypeError,
    "SHAPE": DTypeShapeError,
    "BADNPY": DTypeShapeError,
    "BADPAYLOAD": DTypeShapeError,
    "VALUE": DTypeShapeError,
    "LIMIT": LimitError,
    "CORRUPT": CorruptDataError,
}

_PIPELINE_MARKER = " caused error: "


def _split(message: str) -> tuple[str, str, str]:
    """(prefix redis-py added, code, message after the code) of an error's text."""
    # redis-py prefixes pipeline errors: "Command # 1 (...) of pipeline caused error: <reply>"
    at = message.find(_PIPELINE_MARKER)
    prefix, text = (message[: at + len(_PIPELINE_MARKER)], message[at + len(_PIPELINE_MARKER):]) if at >= 0 else ("", message)
    code, _, rest = text.partition(" ")
    if code == "WRONGTYPE":
        return prefix, code, text  # Redis' own reply, whole, as redis-py shows it
    if code in CODES:
        return prefix, code, rest
    return prefix, "ERR", text


def code_of(error: redis.ResponseError) -> str:
    """The server's code of an error reply (`"ERR"` when it has none of the module's)."""
    if isinstance(error, NDArrayError):
        return error.code
    return _split(str(error))[1]


def classify(error: redis.ResponseError) -> redis.ResponseError:
    """The mapped exception for a server error (the error itself when it is not the module's):
    its class from the reply's code, its message the reply after the code."""
    if isinstance(error, NDArrayError) or type(error) is not redis.ResponseError:
        return error  # already mapped, or redis-py's own subclass (NOPERM, READONLY, ...)
    prefix, code, rest = _split(str(error))
    cls = CODES.get(code, NDArrayError)
    mapped = cls(prefix + rest)
    mapped.code = code
    mapped.__cause__ = None
    return mapped
