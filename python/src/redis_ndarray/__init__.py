"""redis_ndarray: NumPy arrays in Redis with the redis-ndarray module, on redis-py.

    import numpy as np, redis
    from redis_ndarray import NDArray

    nd = NDArray(redis.Redis())
    nd.set("img", np.zeros((480, 640, 3), np.uint8), compress="lz4", ex=3600)
    rows = nd.slice("img", np.s_[100:110, ::2])
"""

from ._errors import (
    CorruptDataError, CrossSlotKeysError, DTypeError, DTypeShapeError, LimitError, NDArrayError, NoSuchKeyError,
    SelectionError, WrongTypeError,
)
from ._codec import decode, encode
from ._npy import from_npy, to_npy
from ._selection import selection
from .client import AsyncNDArray, AsyncPipeline, NDArray, Pipeline

__all__ = [
    "NDArray", "AsyncNDArray", "Pipeline", "AsyncPipeline",
    "NDArrayError", "WrongTypeError", "SelectionError", "DTypeShapeError", "DTypeError", "NoSuchKeyError",
    "LimitError", "CorruptDataError", "CrossSlotKeysError", "from_npy", "to_npy", "selection", "encode", "decode",
]
__version__ = "0.1.0"
