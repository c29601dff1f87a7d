"""Compression on real data: redis-ndarray's codecs and filters against blosc2 (single-threaded).

Run by `make bench` (which installs blosc2, scikit-learn and pillow into .venv), or by hand:
    .venv/bin/python benches/compression.py [--module target/release/libredis_ndarray.so]

It starts its own redis-server with the module on a free loopback port, stops it by PID at the
end, and prints three tables, each measured in this one run:
  1. ratio (nbytes / stored bytes) per data set and codec + filter, ours and blosc2's, and ours/blosc2
     (target: >= 1.00 everywhere);
  2. client-visible time to store and read back an array: NDARRAY.SET + NDARRAY.GET (FORMAT BLOB)
     against what users do today, blosc2 in the client + plain SET/GET of the compressed bytes
     (target: ours / theirs <= 1.00);
  3. server-side encode speed of NDARRAY.SET (INFO commandstats usec_per_call, which includes
     parsing; so a lower bound of the codec's speed) for zstd-1 + bit on float32 photographs
     (target: >= 400 MB/s).
The data: scikit-learn's sample photographs (uint8, and as float32 in [0, 1]) and handwritten
digits (float64), plus embeddings (normal float32, 10,000 x 128) and a smooth simulated field
(float32 and float64, a sum of Gaussian bumps with a little noise). Nothing here asserts a timing.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import redis

try:
    import blosc2
    from sklearn.datasets import load_digits, load_sample_images
except ImportError as e:  # pragma: no cover - make bench installs them
    sys.exit(f"compression bench: {e}; install blosc2 scikit-learn pillow into the venv")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, our COMPRESS/LEVEL/SHUFFLE options, blosc2 codec, clevel, filter)
COMBOS = [
    ("lz4", ["COMPRESS", "lz4", "SHUFFLE", "none"], blosc2.Codec.LZ4, 5, blosc2.Filter.NOFILTER),
    ("lz4+byte", ["COMPRESS", "lz4", "SHUFFLE", "byte"], blosc2.Codec.LZ4, 5, blosc2.Filter.SHUFFLE),
    ("lz4+bit", ["COMPRESS", "lz4", "SHUFFLE", "bit"], blosc2.Codec.LZ4, 5, blosc2.Filter.BITSHUFFLE),
    ("zlib1+byte", ["COMPRESS", "zlib", "LEVEL", "1", "SHUFFLE", "byte"], blosc2.Codec.ZLIB, 1, blosc2.Filter.SHUFFLE),
    ("zstd1", ["COMPRESS", "zstd", "LEVEL", "1", "SHUFFLE", "none"], blosc2.Codec.ZSTD, 1, blosc2.Filter.NOFILTER),
    ("zstd1+byte", ["COMPRESS", "zstd", "LEVEL", "1", "SHUFFLE", "byte"], blosc2.Codec.ZSTD, 1, blosc2.Filter.SHUFFLE),
    ("zstd1+bit", ["COMPRESS", "zstd", "LEVEL", "1", "SHUFFLE", "bit"], blosc2.Codec.ZSTD, 1, blosc2.Filter.BITSHUFFLE),
    # blosc2 runs zstd at level 2 * clevel - 1 (below clevel 8): its clevel 3 is zstd level 5.
    ("zstd5+bit", ["COMPRESS", "zstd", "LEVEL", "5", "SHUFFLE", "bit"], blosc2.Codec.ZSTD, 3, blosc2.Filter.BITSHUFFLE),
]


def datasets():
    photos = np.stack(load_sample_images().images)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:768, 0:1024] / 256.0
    field = np.zeros_like(x)
    for cx, cy, w in rng.uniform(0.5, 3.5, size=(12, 3)):
        field += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.1 + w / 4))
    field += rng.normal(0, 1e-4, field.shape)
    return [
        ("photos uint8", photos),
        ("photos float32", (photos / 255).astype(np.float32)),
        ("digits float64", load_digits().images.astype(np.float64)),
        ("embeddings float32", rng.standard_normal((10_000, 128)).astype(np.float32)),
        ("field float32", field.astype(np.float32)),
        ("field float64", field),
    ]


def blosc_compress(a, codec, clevel, flt):
    return blosc2.compress2(
        np.ascontiguousarray(a), codec=codec, clevel=clevel, filters=[flt],
        typesize=a.itemsize, nthreads=1,
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(module, *settings):
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="ndarray-bench-")
    proc = subprocess.Popen(
        [os.environ.get("REDIS_SERVER", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", workdir, "--loadmodule", module, *settings],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            r.ping()
            return proc, r
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("compression bench: redis-server did not start")


def ndset(r, key, a, opts):
    r.execute_command("NDARRAY.SET", key, a.dtype.name, *a.shape, *opts, "BLOB", a.tobytes())


def info(r, key):
    fields = r.execute_command("NDARRAY.INFO", key)
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2]))
    return fields


def best_of(n, fn):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--module", default=os.path.join(ROOT, "target/release/libredis_ndarray.so"))
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--ratios-only", action="store_true", help="only table 1 (no timings)")
    args = p.parse_args()
    proc, r = start_server(args.module)
    try:
        data = datasets()
        print(f"## compression on real data (blosc2 {blosc2.__version__}, 1 thread; ours: chunk-bytes default)")
        print("### 1. ratio (nbytes / stored bytes): ours | blosc2 | ours/blosc2")
        print(f"{'data':20} " + " ".join(f"{c[0]:>22}" for c in COMBOS))
        worst = (9.0, "")
        for name, a in data:
            cells = []
            for label, opts, codec, clevel, flt in COMBOS:
                ndset(r, "k", a, opts)
                ours = a.nbytes / info(r, "k")[b"stored_bytes"]
                theirs = a.nbytes / len(blosc_compress(a, codec, clevel, flt))
                worst = min(worst, (ours / theirs, f"{name} {label}"))
                cells.append(f"{ours:6.2f} |{theirs:6.2f} |{ours / theirs:5.2f}")
            print(f"{name:20} " + " ".join(f"{c:>22}" for c in cells))
        print(f"lowest ours/blosc2: {worst[0]:.2f} ({worst[1]})")
        if args.ratios_only:
            return

        print("\n### 2. store + read back, client-visible, best of", args.runs,
              "(ours: NDARRAY.SET + NDARRAY.GET FORMAT BLOB; theirs: blosc2 in the client + SET + GET)")
        for name, a in data:
            if name.startswith("embeddings"):
                continue
            for label, opts, codec, clevel, flt in COMBOS:
                if label not in ("lz4+bit", "zstd1+bit"):
                    continue
                raw = a.tobytes()

                def ours():
                    ndset(r, "o", a, opts)
                    out = r.execute_command("NDARRAY.GET", "o", "FORMAT", "BLOB")
                    np.frombuffer(out, dtype=a.dtype)

                def theirs():
                    r.set("t", blosc_compress(a, codec, clevel, flt))
                    np.frombuffer(blosc2.decompress2(r.get("t")), dtype=a.dtype)

                t_ours, t_theirs = best_of(args.runs, ours), best_of(args.runs, theirs)
                print(f"{name:20} {label:10} ours {t_ours * 1e3:7.2f} ms  blosc2+plain {t_theirs * 1e3:7.2f} ms"
                      f"  ours/theirs {t_ours / t_theirs:5.2f}  ({len(raw) / 1e6:.1f} MB)")

        print("\n### 3. NDARRAY.SET speed on one core (a server with threads 0: the codec runs inline on")
        print("    one thread; INFO commandstats usec_per_call, which includes parsing: a lower bound)")
        photos = dict(data)["photos float32"]
        proc1, r1 = start_server(args.module, "threads", "0")
        try:
            for label, opts, *_ in COMBOS:
                if label not in ("zstd1+bit", "zstd1+byte", "lz4+bit", "lz4+byte"):
                    continue
                r1.config_resetstat()
                for _ in range(args.runs):
                    ndset(r1, "s", photos, opts)
                usec = r1.info("commandstats")["cmdstat_ndarray.set"]["usec_per_call"]
                print(f"photos float32 {label:10} {usec / 1e3:7.2f} ms per SET = {photos.nbytes / usec:6.0f} MB/s"
                      + ("  (target >= 400)" if label == "zstd1+bit" else ""))
        finally:
            proc1.terminate()
            proc1.wait()
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
