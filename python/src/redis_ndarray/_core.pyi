# The compiled part of redis_ndarray (crates/ndarray-python): see _codec.py for the public API.
from typing import Any, Optional, Sequence, Tuple

import numpy as np

DEFAULT_CHUNK_BYTES: int
DEFAULT_BLOCK_BYTES: int
ENCODING_VERSION: int

def encode(data: Any, dtype: str, shape: Sequence[int], compress: Optional[str] = None,
           level: Optional[int] = None, shuffle: Optional[str] = None,
           chunk_bytes: Optional[int] = None, block_bytes: Optional[int] = None) -> bytes: ...
def decode(payload: Any) -> Tuple[str, list[int], np.ndarray[Any, np.dtype[np.uint8]]]: ...
