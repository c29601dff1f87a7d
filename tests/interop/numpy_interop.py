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
         "DTYPE npy descr '|O': object arrays are not supported"),
        ("structured", npy_bytes(np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")])),
         "DTYPE npy descr is a list: structured dtypes are not supported"),
        ("unicode", npy_bytes(np.array(["ab", "c"], dtype="<U2")),
         "DTYPE npy descr '<U2' is not a supported dtype"),
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


# NDARRAY.SLICE and NDARRAY.SETSLICE against NumPy's own basic indexing. A selection is generated as
# a string and, in parallel, as the Python index tuple (ints, slice objects, Ellipsis) it stands
# for; no eval. These run on the server with `chunk-bytes 4096`, so bigger arrays span many chunks.

def random_nd(rng, dtype, shape):
    """random_array as an ndarray also when 0-d (random_array then returns a NumPy scalar)."""
    return np.asarray(random_array(rng, dtype, shape))


def random_shape(rng):
    ndim = int(rng.integers(0, 5))
    return tuple(0 if rng.random() < 0.06 else int(rng.integers(1, 8)) for _ in range(ndim))


BIG_CASES = [("float32", (300, 50)), ("int16", (200, 37)), ("float64", (40, 30, 7)),
             ("complex64", (5000,)), ("uint8", (100, 100)), ("float16", (30, 20, 10, 3)),
             ("bool", (9000,)), ("complex128", (64, 33))]


def slice_arrays(rng, count):
    """`count` random small arrays (0-d to 4-d, every dtype), then the bigger ones of BIG_CASES."""
    arrays = [random_nd(rng, DTYPES[int(rng.integers(len(DTYPES)))], random_shape(rng))
              for _ in range(count)]
    return arrays + [random_nd(rng, dtype, shape) for dtype, shape in BIG_CASES]


def store(client, key, arr, rng):
    """NDARRAY.SET with a random codec (and sometimes no shuffle); checks big arrays span chunks."""
    codec = CODECS[int(rng.integers(len(CODECS)))]
    opts = ["COMPRESS", codec] + (["SHUFFLE", "none"] if rng.random() < 0.2 else [])
    client.execute_command("NDARRAY.SET", key, arr.dtype.name, *arr.shape, *opts, "BLOB", arr.tobytes())
    if arr.nbytes > 3 * 4096:
        info = client.execute_command("NDARRAY.INFO", key)
        info = info if isinstance(info, dict) else dict(zip(*[iter(info)] * 2))
        assert info[b"chunks"] > 2, f"{key}: {arr.nbytes} bytes in {info[b'chunks']} chunks"
    return f"{arr.dtype} {arr.shape} COMPRESS {codec}{' SHUFFLE none' if len(opts) > 2 else ''}"


def fmt_int(rng, v):
    return f"+{v}" if v >= 0 and rng.random() < 0.05 else str(v)


HUGE = [10**18, 2**63 - 1, 10**9 + 7]


def random_bound(rng, n):
    u = rng.random()
    if u < 0.3:
        return None
    if u < 0.94:
        return int(rng.integers(-n - 3, n + 4))
    return int(rng.choice([-1, 1])) * HUGE[int(rng.integers(len(HUGE)))]


def random_step(rng):
    u = rng.random()
    if u < 0.35:
        return None
    if u < 0.36:
        return 0
    if u < 0.39:
        return int(rng.choice([-1, 1])) * HUGE[int(rng.integers(len(HUGE)))]
    return int(rng.choice([-4, -3, -2, -1, -1, 1, 1, 2, 3, 5]))


def random_item(rng, n):
    """One item for an axis of length n: (text, python index object)."""
    if rng.random() < 0.35:
        if n > 0 and rng.random() < 0.85:
            i = int(rng.integers(-n, n))
        else:
            i = int(rng.choice([n, -n - 1, n + 3, -n - 4, 10**18, -(2**63)]))
        return fmt_int(rng, i), i
    start, stop, step = random_bound(rng, n), random_bound(rng, n), random_step(rng)
    parts = ["" if v is None else fmt_int(rng, v) for v in (start, stop)]
    if step is not None or rng.random() < 0.15:
        parts.append("" if step is None else fmt_int(rng, step))
    sep = [":", " : ", ": ", " :"][int(rng.integers(4))] if rng.random() < 0.2 else ":"
    return sep.join(parts), slice(start, stop, step)


def random_selection(rng, shape):
    """A random selection for `shape`: (text for the module, the same index as a Python tuple)."""
    ndim = len(shape)
    n = ndim + 1 if rng.random() < 0.04 else int(rng.integers(0, ndim + 1))
    at = int(rng.integers(0, n + 1)) if rng.random() < 0.3 else None  # where "..." goes
    axes = list(range(n)) if at is None else list(range(at)) + list(range(ndim - (n - at), ndim))
    texts, index = [], []
    for axis in axes:
        text, item = random_item(rng, shape[axis] if 0 <= axis < ndim else 5)
        texts.append(text)
        index.append(item)
    if at is not None:
        texts.insert(at, "...")
        index.insert(at, Ellipsis)
    sep = [",", ", ", " , ", " ,"][int(rng.integers(4))]
    text = sep.join(texts)
    if texts and rng.random() < 0.05:
        text += ","  # "3," is the tuple (3,), as in Python
    if rng.random() < 0.1:
        text = f"  {text} "
    return text, tuple(index)


def numpy_select(arr, index):
    """NumPy's arr[index] as an array, or the exception NumPy raises."""
    try:
        return np.asarray(arr[index]), None
    except (IndexError, ValueError) as e:
        return None, e


def error_keyword(err):
    """The code and words the module's error must start with and contain when NumPy raised `err`:
    NumPy's IndexError is BOUNDS, its ValueError for a zero step a malformed SELECTION."""
    if isinstance(err, ValueError):
        return "SELECTION slice step cannot be zero"
    return "BOUNDS too many indices" if "too many indices" in str(err) else "BOUNDS index"


def same_bits(got, want):
    """same(), and every non-NaN element bit for bit (so -0.0 is not 0.0)."""
    if not same(got, want):
        return False
    if want.dtype.kind not in "fc":
        return got.tobytes() == want.tobytes()
    part = want.dtype.itemsize // (2 if want.dtype.kind == "c" else 1)
    g = np.frombuffer(got.tobytes(), dtype=f"u{part}")
    w = np.frombuffer(want.tobytes(), dtype=f"u{part}")
    keep = ~np.isnan(np.frombuffer(want.tobytes(), dtype=f"<f{part}"))
    return np.array_equal(g[keep], w[keep])


def show(arr):
    return np.array2string(arr, threshold=40, edgeitems=3) + f" (dtype {arr.dtype}, shape {arr.shape})"


def as_ints(reply):
    """A FORMAT VALUES reply of an integer or bool array as nested Python ints."""
    if isinstance(reply, list):
        return [as_ints(v) for v in reply]
    return int(reply)


def test_slice_matches_numpy_on_random_selections():
    rng = np.random.default_rng(20240601)
    assert rc.execute_command("NDARRAY.SLICE", "slice:absent", "0") is None
    checked = errors = 0
    for n, arr in enumerate(slice_arrays(rng, 150)):
        key = f"slice:{n}"
        what = store(rc, key, arr, rng)
        for _ in range(25 if arr.size > 1000 else 10):
            text, index = random_selection(rng, arr.shape)
            want, err = numpy_select(arr, index)
            where = f"{what}, selection {text!r} (index {index!r})"
            try:
                got = load(rc.execute_command("NDARRAY.SLICE", key, text))
            except redis.ResponseError as e:
                assert err is not None, f"{where}: module error '{e}', NumPy gives {show(want)}"
                assert str(e).startswith(error_keyword(err)), f"{where}: module error '{e}', NumPy error '{err}'"
                errors += 1
                continue
            assert err is None, f"{where}: module gives {show(got)}, NumPy raises {err!r}"
            assert same_bits(got, want), f"{where}:\n  expected {show(want)}\n  got      {show(got)}"
            checked += 1
            if rng.random() < 0.15:
                blob = rc.execute_command("NDARRAY.SLICE", key, text, "FORMAT", "BLOB")
                assert blob == want.tobytes(), f"{where}: FORMAT BLOB differs from the NPY reply"
            if arr.dtype.kind in "biu" and arr.dtype != np.uint64 and want.size <= 2000:
                values = rc.execute_command("NDARRAY.SLICE", key, text, "FORMAT", "VALUES")
                assert as_ints(values) == want.astype(np.int64).tolist(), \
                    f"{where}: FORMAT VALUES {values!r} != {want.tolist()!r}"
    print(f"    {checked} selections matched NumPy, {errors} raised the same errors as NumPy")
    assert errors > 50 and checked > 1000


def scalar_values(rng, dtype):
    """One random element of `dtype`: (VALUES arguments, NumPy scalar it stands for)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        word = ["0", "1", "true", "false"][int(rng.integers(4))]
        return [word], np.bool_(word in ("1", "true"))
    if dt.kind in "iu":
        v = random_nd(rng, dt, ())
        return [str(int(v))], v[()]

    part_dtype = np.dtype(f"f{dt.itemsize // 2}") if dt.kind == "c" else dt

    def part():  # a float exactly representable in the (real part of the) dtype
        if rng.random() < 0.2:
            return [np.nan, np.inf, -np.inf, -0.0][int(rng.integers(4))]
        return float(part_dtype.type(rng.standard_normal() * 1000))

    if dt.kind == "f":
        x = part()
        return [repr(x)], dt.type(x)
    re, im = part(), part()
    return [repr(re), repr(im)], dt.type(complex(re, im))


def values_args(data):
    """All elements of `data` (C order) as VALUES arguments; complex parts alternate."""
    flat = data.reshape(-1)
    if data.dtype.kind in "biu":
        return [str(int(v)) for v in flat]
    if data.dtype.kind == "f":
        return [repr(float(v)) for v in flat]
    return [repr(float(p)) for v in flat for p in (v.real, v.imag)]


def test_setslice_matches_numpy_assignment():
    rng = np.random.default_rng(8675309)
    writes = errors = 0
    for n, arr in enumerate(slice_arrays(rng, 80)):
        key = f"setslice:{n}"
        what = store(rc, key, arr, rng)
        a = arr.copy()
        for _ in range(8 if arr.size > 1000 else 5):
            text, index = random_selection(rng, a.shape)
            view, err = numpy_select(a, index)
            where = f"{what}, selection {text!r} (index {index!r})"
            if err is not None:
                try:
                    rc.execute_command("NDARRAY.SETSLICE", key, text, "BLOB", a.tobytes()[:a.itemsize])
                except redis.ResponseError as e:
                    assert str(e).startswith(error_keyword(err)), f"{where}: module error '{e}', NumPy error '{err}'"
                else:
                    raise AssertionError(f"{where}: SETSLICE accepted, NumPy raises {err!r}")
                got = load(rc.execute_command("NDARRAY.GET", key))
                assert same_bits(got, a), f"{where}: a refused SETSLICE changed the array to {show(got)}"
                errors += 1
                continue
            data = random_nd(rng, a.dtype, view.shape)
            npy_data = data
            if data.ndim > 1 and rng.random() < 0.25:
                npy_data = np.asfortranarray(data)
            if data.dtype.itemsize > 1 and data.dtype.kind != "b" and rng.random() < 0.25:
                npy_data = npy_data.astype(data.dtype.newbyteorder(">"))
            args, scalar = scalar_values(rng, a.dtype)
            kinds = [("BLOB", ["BLOB", data.tobytes()], data),
                     ("NPY", ["NPY", npy_bytes(npy_data)], data),
                     ("VALUES scalar", ["VALUES", *args], scalar)]
            if 1 < data.size <= 8:
                more = random_nd(rng, a.dtype, view.shape)
                kinds.append(("VALUES all", ["VALUES", *values_args(more)], more))
            for how, cmd, value in kinds:
                assert rc.execute_command("NDARRAY.SETSLICE", key, text, *cmd) in (b"OK", "OK", True)
                a[index] = value
                got = load(rc.execute_command("NDARRAY.GET", key))
                assert same_bits(got, a), (f"{where}, {how} {show(np.asarray(value))}:\n"
                                           f"  expected {show(a)}\n  got      {show(got)}")
                writes += 1
    print(f"    {writes} writes matched NumPy assignment, {errors} raised the same errors as NumPy")
    assert errors > 20 and writes > 700


def test_slice_as_casts():
    rng = np.random.default_rng(31337)
    arrays = [random_nd(rng, "int16", (300, 50)), random_nd(rng, "float16", (120, 90))]
    arrays += [random_nd(rng, d, random_shape(rng)) for _ in range(30) for d in ("int16", "float16")]
    casts = 0
    for n, arr in enumerate(arrays):
        key = f"slice-as:{n}"
        what = store(rc, key, arr, rng)
        for _ in range(12):
            text, index = random_selection(rng, arr.shape)
            view, err = numpy_select(arr, index)
            if err is not None:
                continue
            for to in (np.float32, np.float64):
                want = view.astype(to)
                where = f"{what}, selection {text!r} AS {np.dtype(to).name}"
                got = load(rc.execute_command("NDARRAY.SLICE", key, text, "AS", np.dtype(to).name))
                assert same_bits(got, want), f"{where}:\n  expected {show(want)}\n  got      {show(got)}"
                blob = rc.execute_command("NDARRAY.SLICE", key, text, "FORMAT", "BLOB",
                                          "AS", np.dtype(to).name)
                assert blob == want.tobytes(), f"{where}: FORMAT BLOB differs"
                casts += 1
    print(f"    {casts} casting slices matched NumPy's astype")
    assert casts > 500


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
