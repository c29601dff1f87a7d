"""Interop with the real NumPy (and ml_dtypes): what NDARRAY.SET/GET store and return must be what
NumPy itself writes and reads. Run by `make test` as `.venv/bin/python tests/interop/numpy_interop.py`.

Starts its own redis-server (REDIS_SERVER, default `redis-server`) with the module (NDARRAY_MODULE,
default <repo>/target/release/libredis_ndarray.so) on a free loopback port, plus a second one loaded
with `chunk-bytes 4096` (so that slices cross many chunks), and always stops them.
Prints one line per test, then `N passed, M failed`; exits 1 when a test failed.
"""

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import ml_dtypes
import numpy as np
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.environ.get("NDARRAY_MODULE", os.path.join(ROOT, "target/release/libredis_ndarray.so"))
REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")

DTYPES = [name for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                            "uint64", "float16", "float32", "float64", "complex64", "complex128")
          if hasattr(np, name)]
SHAPES = [(), (0,), (5,), (3, 4), (2, 0, 3), (2, 3, 4)]
CODECS = ["none", "lz4", "zlib"]

r = None  # the redis.Redis client, set by main()
rc = None  # a client of the second server, whose module runs with `chunk-bytes 4096`
SMALL_CHUNKS = ["chunk-bytes", "4096"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp, module_args=()):
    """Starts redis-server with the module (given `module_args`); returns (process, port). Raises with
    the log on failure."""
    if not os.path.isfile(MODULE):
        raise RuntimeError(f"module not found at {MODULE}: run `make build` first")
    port = free_port()
    out = open(os.path.join(tmp, "stdio.log"), "wb")
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tmp, "--logfile", "redis.log", "--loadmodule", MODULE, *module_args],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {proc.returncode}")
        try:
            if redis.Redis(port=port, socket_timeout=1).ping():
                return proc, port
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING within 10 s")


def server_log(tmp):
    text = []
    for name in ("stdio.log", "redis.log"):
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                text.append(f"--- {name} ---\n" + "".join(f.readlines()[-80:]))
    return "\n".join(text)


def random_array(rng, dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if dt.kind == "f":
        arr = (rng.standard_normal(shape) * 1000).astype(dt)
    else:
        arr = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    flat = arr.reshape(-1)
    for i, special in enumerate([np.nan, -np.inf, np.inf, -0.0][: max(flat.size - 1, 0)]):
        flat[i] = special
    return arr


def all_arrays(seed=1234):
    rng = np.random.default_rng(seed)
    return [random_array(rng, d, s) for d in DTYPES for s in SHAPES]


def npy_bytes(arr, **kw):
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


def load(reply):
    return np.load(io.BytesIO(reply))


def same(got, want):
    """Same dtype, shape and values (NaN equal to NaN)."""
    nan = want.dtype.kind in "fc"
    return (got.dtype == want.dtype and got.shape == want.shape
            and np.array_equal(got, want, equal_nan=nan))


def bits(arr):
    return arr.view(np.dtype(f"u{arr.dtype.itemsize}"))


def test_blob_round_trips_every_dtype_shape_and_codec():
    for arr in all_arrays():
        for codec in CODECS:
            key = f"blob:{arr.dtype}:{arr.shape}:{codec}"
            r.execute_command("NDARRAY.SET", key, arr.dtype.name, *arr.shape, "COMPRESS", codec,
                              "BLOB", arr.tobytes())
            got = load(r.execute_command("NDARRAY.GET", key))
            assert same(got, arr), f"{key}: got {got!r}, want {arr!r}"
            assert got.tobytes() == arr.tobytes(), f"{key}: element bytes differ"


def test_np_save_files_are_accepted_and_get_is_byte_identical_to_np_save():
    for arr in all_arrays(seed=99):
        key = f"npy:{arr.dtype}:{arr.shape}"
        r.execute_command("NDARRAY.SET", key, "NPY", npy_bytes(arr))
        blob = r.execute_command("NDARRAY.GET", key, "FORMAT", "BLOB")
        assert blob == arr.tobytes(), f"{key}: BLOB differs from arr.tobytes()"
        got = r.execute_command("NDARRAY.GET", key)
        assert got == npy_bytes(arr), f"{key}: GET {got[:128]!r} != np.save {npy_bytes(arr)[:128]!r}"


def test_fortran_order_and_big_endian_files_load_as_the_same_values():
    rng = np.random.default_rng(7)
    base = [rng.standard_normal((3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((5,)),
            rng.standard_normal(()), rng.standard_normal((2, 0, 3))]
    cases = []
    for a in base:
        c = a + 1j * np.cos(a)
        for variant in (a.astype("<f8"), a.astype(">f4"), (a * 1e6).astype(">i8"), c.astype(">c16"),
                        (a * 100).astype(">i2"), c.astype(">c8")):
            cases += [variant, np.asfortranarray(variant)]
    for i, arr in enumerate(cases):
        data = npy_bytes(arr)
        if arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
            assert b"'fortran_order': True" in data, "np.save did not write a Fortran-order file"
        key = f"order:{i}"
        r.execute_command("NDARRAY.SET", key, "NPY", data)
        want = arr.astype(arr.dtype.newbyteorder("<"), order="C")
        got = load(r.execute_command("NDARRAY.GET", key))
        assert same(got, want), f"{arr.dtype.str} {arr.shape} fortran={arr.flags.f_contiguous}: got {got!r}"
        assert r.execute_command("NDARRAY.GET", key, "FORMAT", "BLOB") == want.tobytes()
        assert r.execute_command("NDARRAY.GET", key) == npy_bytes(want), f"{key}: header differs"


def test_bfloat16_matches_ml_dtypes():
    rng = np.random.default_rng(3)
    special = np.array([0.0, -0.0, 1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, 3.0e38, 3.4e38,
                        -3.4e38, 1e-38, 1e-40, 2**-133, np.inf, -np.inf, np.nan, -np.nan], dtype=np.float32)
    for arr in (special, rng.standard_normal((4, 5)).astype(np.float32) * 1e3, special[:0]):
        want = arr.astype(ml_dtypes.bfloat16)
        r.execute_command("NDARRAY.SET", "bf16", "float32", *arr.shape, "AS", "bfloat16",
                          "BLOB", arr.tobytes())
        got = load(r.execute_command("NDARRAY.GET", "bf16"))
        assert got.dtype == ml_dtypes.bfloat16 and got.shape == arr.shape, f"got {got.dtype} {got.shape}"
        assert np.array_equal(bits(got), bits(want)), \
            f"bfloat16 bits of {arr!r}: got {bits(got)!r}, want {bits(want)!r}"
        back = load(r.execute_command("NDARRAY.GET", "bf16", "AS", "float32"))
        assert np.array_equal(bits(back), bits(want.astype(np.float32))), f"AS float32: got {back!r}"
        # Our own bfloat16 .npy goes back in unchanged.
        r.execute_command("NDARRAY.SET", "bf16:copy", "NPY", r.execute_command("NDARRAY.GET", "bf16"))
        assert r.execute_command("NDARRAY.GET", "bf16:copy", "FORMAT", "BLOB") == want.tobytes()


def check_cast(src, to, where):
    """Casts `src` to `to` with SET ... AS and with GET ... AS; both must match NumPy's astype bit for bit."""
    with np.errstate(over="ignore"):
        want = src.astype(to)
    dims = src.shape
    r.execute_command("NDARRAY.SET", "cast:src", src.dtype.name, *dims, "BLOB", src.tobytes())
    r.execute_command("NDARRAY.SET", "cast:set", src.dtype.name, *dims, "AS", np.dtype(to).name,
                      "BLOB", src.tobytes())
    for how, reply in (("GET AS", r.execute_command("NDARRAY.GET", "cast:src", "AS", np.dtype(to).name)),
                       ("SET AS", r.execute_command("NDARRAY.GET", "cast:set"))):
        got = load(reply)
        assert got.dtype == want.dtype and got.shape == want.shape, f"{how}: {got.dtype} {got.shape}"
        bad = np.flatnonzero(bits(got).reshape(-1) != bits(want).reshape(-1))
        assert bad.size == 0, (f"{where} {how} {src.dtype}->{np.dtype(to)}: input {src.reshape(-1)[bad[:5]]!r} "
                               f"got {got.reshape(-1)[bad[:5]]!r} want {want.reshape(-1)[bad[:5]]!r}")


def test_float16_casts_match_numpy_rounding():
    ties_and_edges = [1 + 2**-11, 1 + 3 * 2**-11, 2049, 2051, -2049, 1 + 2**-11 + 2**-40, 0.1, 1 / 3,
                      2**-24, 2**-25, 2**-25 + 2**-40, 3 * 2**-26, 1.5 * 2**-24, 2**-14 - 2**-25,
                      2**-26, 65504, 65519.99, 65520, -65520, 1e6, -1e300, 5e-324, 0.0, -0.0,
                      np.inf, -np.inf, np.nan]
    rng = np.random.default_rng(11)
    src = np.concatenate([ties_and_edges, rng.standard_normal(200) * 10.0 ** rng.integers(-9, 6, 200)])
    check_cast(src, np.float16, "float16 edges")
    check_cast(src.reshape(-1)[:24].reshape(2, 3, 4), np.float16, "float16 3-d")


def test_int_casts_match_numpy():
    big = [2**60 + 2**36 + 1, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 2**24 + 1, -(2**24) - 1,
           2**62 + 2**38 + 2**37, 0, -1, 1]
    rng = np.random.default_rng(5)
    src = np.concatenate([np.array(big, dtype=np.int64),
                          rng.integers(-(2**63), 2**63 - 1, size=200, dtype=np.int64, endpoint=True)])
    check_cast(src, np.float32, "int64")
    check_cast(src, np.float64, "int64")
    check_cast(np.arange(-128, 128, dtype=np.int8).reshape(16, 16), np.int64, "int8 widening")


def test_values_parse_like_numpy():
    r.execute_command("NDARRAY.SET", "values", "float64", 2, 2, "VALUES", 1, 2, "nan", "-inf")
    reply = r.execute_command("NDARRAY.GET", "values", "FORMAT", "NPY")
    want = np.array([[1, 2], [np.nan, -np.inf]])
    assert same(load(reply), want), f"got {load(reply)!r}"
    assert reply == npy_bytes(want), f"GET {reply!r} != np.save {npy_bytes(want)!r}"


def test_unsupported_npy_files_are_refused_and_leave_the_key_unchanged():
    cases = [
        ("object", npy_bytes(np.array([1, "a"], dtype=object), allow_pickle=True),
         "npy descr '|O': object arrays are not supported"),
        ("structured", npy_bytes(np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")])),
         "npy descr is a list: structured dtypes are not supported"),
        ("unicode", npy_bytes(np.array(["ab", "c"], dtype="<U2")),
         "npy descr '<U2' is not a supported dtype"),
    ]
    original = np.arange(6, dtype=np.int32).reshape(2, 3)
    for name, data, expected in cases:
        r.execute_command("NDARRAY.SET", "err:kept", "NPY", npy_bytes(original))
        r.delete("err:absent")
        for key in ("err:kept", "err:absent"):
            try:
                r.execute_command("NDARRAY.SET", key, "NPY", data)
            except redis.ResponseError as e:
                print(f"    {name}: {e}")
                assert str(e).startswith(expected), f"{name}: '{e}' does not start with '{expected}'"
            else:
                raise AssertionError(f"{name}: NDARRAY.SET NPY was accepted")
        assert same(load(r.execute_command("NDARRAY.GET", "err:kept")), original), f"{name}: key changed"
        assert r.exists("err:absent") == 0, f"{name}: a refused SET created the key"


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    global r, rc
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    passed = failed = 0
    procs = []
    tmp = tempfile.TemporaryDirectory(prefix="ndarray-interop-")
    dirs = {"default": os.path.join(tmp.name, "default"), "chunk-bytes 4096": os.path.join(tmp.name, "small")}
    for d in dirs.values():
        os.mkdir(d)

    def logs():
        return "\n".join(f"=== server with {what} ===\n{server_log(d)}" for what, d in dirs.items())

    try:
        try:
            proc, port = start_server(dirs["default"])
            procs.append(proc)
            proc, small_port = start_server(dirs["chunk-bytes 4096"], SMALL_CHUNKS)
            procs.append(proc)
        except Exception as e:  # a server or the module did not start: every test fails
            print(f"cannot start redis-server: {e}\n{logs()}")
            print(f"0 passed, {len(tests)} failed")
            return 1
        r = redis.Redis(port=port, socket_timeout=60)
        rc = redis.Redis(port=small_port, socket_timeout=60)
        for name, fn in tests:
            try:
                fn()
                passed += 1
                print(f"ok   {name}")
            except Exception:
                failed += 1
                print(f"FAIL {name}\n{traceback.format_exc()}")
        if failed or any(p.poll() is not None for p in procs):
            print(logs())
    finally:
        for proc in procs:
            stop_server(proc)
        tmp.cleanup()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
