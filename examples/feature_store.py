"""A feature store: one embedding per entity with a TTL and its freshness (`updated_at`) kept in
the array; batch serving as one (N, 128) matrix that survives expired or unknown entities.

    make run                                  # a server with the module on 127.0.0.1:6379
    .venv/bin/python examples/feature_store.py
"""

from __future__ import annotations

import numpy as np

from _common import connect, require
from redis_ndarray import NDArray

r = connect()
require(r, "NDARRAY.MSETEX", "NDARRAY.STACK numkeys", "NDARRAY.ATTRSET")
nd = NDArray(r)

rng = np.random.default_rng(0)
users = range(1000)
embeddings = {f"{{emb}}:{u}": rng.normal(size=128).astype(np.float32) for u in users}

# Write: every entity at once, expiring after a day, stored as float16 (half the memory).
nd.mset(embeddings, ex=86400, dtype="float16")
nd.set_attrs("{emb}:141", model="v2")  # a field kept with the array, not in a second key

# Freshness: the server records the time of each array's last write.
info = nd.info("{emb}:141")
print(f"emb 141: {info['dtype']} {info['shape']}, updated_at {info['updated_at']} ms, attrs {info['attrs']}")

# Serve: one round trip, one matrix; entity 5000 is unknown, so its row is filled with 0.
batch = [3, 141, 5000, 653]
X, missing = nd.stack([f"{{emb}}:{u}" for u in batch], dtype="float32", missing=0.0)
assert X.shape == (4, 128) and missing == [2] and not X[2].any()
assert np.allclose(X[1], embeddings["{emb}:141"], atol=1e-2)
print(f"served {X.shape} float32, missing entities at rows {missing}")
r.delete(*embeddings)
