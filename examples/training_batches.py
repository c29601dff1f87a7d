"""Training batches: features, labels and weights under one hash tag, so a batch is stored
atomically (all or nothing), read in one round trip and deleted together, on one server or a cluster.

    make run
    .venv/bin/python examples/training_batches.py
"""

from __future__ import annotations

import numpy as np

from _common import connect, require
from redis_ndarray import NDArray

r = connect()
require(r, "NDARRAY.MSETEX")
nd = NDArray(r)
rng = np.random.default_rng(17)

for batch in range(4):
    tag = f"{{batch:{batch}}}"
    nd.mset({
        f"{tag}:features": rng.normal(size=(256, 64)).astype(np.float32),
        f"{tag}:labels": rng.integers(0, 10, 256),
        f"{tag}:weights": np.ones(256, np.float32),
    }, ex=3600, compress="lz4")

for batch in range(4):
    keys = [f"{{batch:{batch}}}:{name}" for name in ("features", "labels", "weights")]
    features, labels, weights = nd.mget(keys)
    assert features.shape == (256, 64) and labels.dtype == np.int64 and weights.dtype == np.float32
    print(f"batch {batch}: features {features.shape}, labels {labels.shape}, mean weight {weights.mean():.1f}")
    assert r.delete(*keys) == 3  # the batch is consumed: one DEL for all three
