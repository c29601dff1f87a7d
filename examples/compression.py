"""Compression on real data: each codec and filter the server offers, stored and measured
(ratio = raw bytes / stored bytes), then the server's own measurement (`nd.probe`).

The data is scikit-learn's sample photographs (uint8, and as float32 in [0, 1]) and handwritten
digits (float64) when scikit-learn (and pillow) are installed; otherwise synthetic stand-ins of the
same shapes (a smooth image, a noisy field), and it says so.

    make run
    .venv/bin/python examples/compression.py
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
import redis

from _common import connect
from redis_ndarray import NDArray


def datasets() -> Dict[str, Any]:
    try:
        from sklearn.datasets import load_digits, load_sample_images
        photos = np.stack(load_sample_images().images)  # (2, 427, 640, 3) uint8
        digits = load_digits().images  # (1797, 8, 8) float64
        print("data: scikit-learn's load_sample_images() and load_digits()")
    except Exception as e:  # not installed (or no pillow)
        print(f"data: synthetic stand-ins (scikit-learn's sample data unavailable: {type(e).__name__})")
        y, x = np.mgrid[0:427, 0:640]
        base = (127 + 60 * np.sin(x / 40.0) + 60 * np.cos(y / 55.0))[None, :, :, None]
        noise = np.random.default_rng(0).normal(0, 6, (2, 427, 640, 3))
        photos = np.clip(base + noise, 0, 255).astype(np.uint8)
        digits = np.round(np.random.default_rng(1).gamma(1.0, 4.0, (1797, 8, 8)).clip(0, 16))
    return {"photos uint8": photos, "photos float32": photos.astype(np.float32) / 255, "digits float64": digits}


def accepted(nd: NDArray, key: str, **options: Any) -> bool:
    try:
        nd.set(key, np.zeros(1, np.float32), **options)
        return True
    except redis.ResponseError:
        return False


r = connect()
nd = NDArray(r)
codecs = [c for c in ("lz4", "zlib", "zstd") if accepted(nd, "probe:codec", compress=c)]
filters = [f for f in ("none", "byte", "bit") if accepted(nd, "probe:codec", shuffle=f)]
for name, data in datasets().items():
    print(f"\n{name} {data.shape}: ratio by codec x filter")
    for codec in codecs:
        ratios = []
        for shuffle in filters:
            nd.set("compression:example", data, compress=codec, shuffle=shuffle)
            info = nd.info("compression:example")
            assert info is not None
            ratios.append(f"{shuffle} {info['nbytes'] / info['stored_bytes']:5.2f}")
        print(f"  {codec:5} " + "   ".join(ratios))
    rows = nd.probe("compression:example")
    print("  the server's probe (best first):")
    for row in rows[:5]:
        print("   ", ", ".join(f"{k} {v}" for k, v in row.items()))
r.delete("compression:example", "probe:codec")
