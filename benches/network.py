"""Arrays across a network link: store and read back real arrays with the redis_ndarray client,
with blosc2 in the client + plain SET/GET, and as raw bytes (issue 21, item 6); and computing
where the array lives, NDARRAY.REDUCE, against nd.get + NumPy in the client (issue 24, item 6).

Run by `make bench`, or by hand (as root for the shaped links):
    .venv/bin/python benches/network.py [--links loopback,1gbit,10gbit] [--rounds 15] [--quick]
                                        [--compute-calls 11] [--compute-only]

Links (each gets its own redis-server with the module, `--save "" --appendonly no`, in a temp dir):
  loopback  server and client on 127.0.0.1, no namespaces;
  1gbit     two network namespaces joined by a veth pair (MTU 1500), both ends shaped with
            `tc qdisc ... root tbf rate 1gbit burst 128kb latency 5ms` (both directions): the
            server in one namespace, the client (this script again, `--client`) in the other
            through `ip netns exec`;
  10gbit    the same at `rate 10gbit burst 1mb`.
The shaped links need root and `ip netns`; without them they are skipped with one message and the
loopback link still runs. Everything this script creates (namespaces named ndnet<PID>..., their veth
pair, servers, temp dirs) is removed at the end, also on an error or Ctrl-C; the servers are stopped
by PID. This kernel has no netem: the links add bandwidth limits, no latency (a veth's RTT is a few
microseconds).

Ways to store + read back each array (one SET then one GET, timed together, client-visible):
  ours          NDArray(r).set(k, a) + .get(k): the client encodes with the module's own codecs
                (zstd-1 + bit shuffle) and sends NDARRAY.SET k ENCODED <payload>; get asks
                NDARRAY.GET k FORMAT ENCODED and decodes in the client;
  ours-srv      nd.set(k, a, encode="server") (raw bytes sent, the server encodes) +
                redis_ndarray.from_npy(NDARRAY.GET k) (the server decodes, replies .npy): the path
                before the client encoded;
  blosc2-1t     blosc2.compress2 (zstd clevel 1 + BITSHUFFLE, typesize = itemsize, nthreads=1) +
                plain SET of its bytes (as a memoryview, like raw), plain GET + blosc2.decompress2
                into a new array;
  blosc2-Nt     the same with nthreads = all cores;
  raw           plain SET of a memoryview of the array's bytes, GET + np.frombuffer.
Rounds are interleaved: each round runs every method once per data set, in an order that rotates
from round to round; one untimed round first checks every result and records the payload sizes.
Figures are medians. Server figures: `INFO commandstats` (usec per call: the command's own
main-thread wall time, excluding reading the request and writing the reply), and the server's CPU
time, all threads (the process CPU clock of its PID, read between commands).
On the loopback link (or the first one run) two small tables follow: the main-thread time of
`NDARRAY.SET … ENCODED` / `NDARRAY.GET … FORMAT ENCODED` of 8 MiB arrays against plain SET / GET of
the same payload bytes, and the client's pieces timed apart (encode / decode, ours and blosc2's, and
a SET of our payload passed as bytes and as a memoryview). The 1-minute load average before and after
each link is printed: the figures assume an otherwise idle machine. Nothing here asserts a timing.

Last on each link (issue 24; `--compute-only` runs just this): REDUCE sum and mean of two 64 MiB
float32 arrays (normal noise, a smooth field) stored by NDARRAY.SET with no options (the server's
default codec), against nd.get + np.sum / np.mean in the client, client-visible, calls paired and
interleaved (targets: REDUCE <= 0.3x the baseline on loopback, <= 0.05x at 1 Gbit/s), with the
baseline's nd.get and NumPy parts and the server-side figures beside. Each result is checked
against NumPy in float64 first. python/bench/bench_compute.py runs the same table on loopback with
the other compute measures; the section is skipped on a server without NDARRAY.REDUCE.
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.environ.get("NDARRAY_MODULE") or os.path.join(ROOT, "target/release/libredis_ndarray.so")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or "redis-server"

# name -> (tbf rate, tbf burst); None: loopback. A burst of about 1 ms at the rate: raw TCP between
# the namespaces then reaches 0.95 Gbit/s on 1gbit and 9.1-9.5 on 10gbit (the unshaped veth:
# 9.4, CPU-bound on the 2 cores), where a smaller burst loses throughput (10gbit/256kb: 8.0).
LINKS = {"loopback": None, "1gbit": ("1gbit", "128kb"), "10gbit": ("10gbit", "1mb")}
TBF_LATENCY = "5ms"

METHODS = ["ours", "ours-srv", "blosc2-1t", "blosc2-Nt", "raw"]
FULL_DATA = ["photos uint8", "photos float32", "digits float64", "embeddings float32", "field float32",
             "field float64"]
QUICK_DATA = ["photos uint8", "photos float32", "embeddings float32"]


# ---------------------------------------------------------------- the client (one link)

class ServerCpu:
    """The server's CPU time in ns, all its threads: the process CPU clock of its PID (the namespaces
    share this machine's PIDs), or None where the kernel refuses it. The kernel brings a thread's
    count up to date when it sleeps or at a tick (HZ 250 here): read while the server is idle
    (between commands) it is exact. A single thread's count from /proc (sched) is not used: it lags
    by up to a tick whenever that thread is running, too coarse for commands of a few ms."""

    def __init__(self, pid):
        self.clock = ((~pid) << 3) | 2  # the process CPU clock of `pid` (Linux: CPUCLOCK_SCHED)
        try:
            time.clock_gettime_ns(self.clock)
        except OSError:
            self.clock = None

    def read(self):
        return time.clock_gettime_ns(self.clock) if self.clock is not None else None


def diff(after, before):
    return None if after is None or before is None else after - before


def cmdstats(r):
    return {name[len("cmdstat_"):]: (st["calls"], st["usec"]) for name, st in r.info("commandstats").items()}


def usec_per_call(before, after, command):
    calls0, usec0 = before.get(command, (0, 0))
    calls1, usec1 = after.get(command, (0, 0))
    return (usec1 - usec0) / (calls1 - calls0) if calls1 > calls0 else None


def client_main(args):
    if args.compute_only:
        return compute_main(args)
    import blosc2
    import numpy as np
    import redis
    import redis_ndarray

    sys.path.insert(0, os.path.join(ROOT, "benches"))
    from compression import datasets

    r, nd = connect(args)
    cpu = ServerCpu(args.server_pid)
    ncores = os.cpu_count() or 1
    zstd, bit = blosc2.Codec.ZSTD, blosc2.Filter.BITSHUFFLE

    def blosc_set(n):
        def store(k, a):
            packed = blosc2.compress2(a, codec=zstd, clevel=1, filters=[bit], typesize=a.itemsize, nthreads=n)
            r.set(k, memoryview(packed))  # as raw: a memoryview is sent as it is
        return store

    def blosc_get(n):
        def load(k, a):
            out = np.empty(a.shape, a.dtype)  # a new writable array, as nd.get returns
            blosc2.decompress2(r.get(k), dst=out, nthreads=n)
            return out
        return load

    def blosc_size(a):
        return len(blosc2.compress2(a, codec=zstd, clevel=1, filters=[bit], typesize=a.itemsize, nthreads=1))

    def srv_get(k, a):
        return redis_ndarray.from_npy(r.execute_command("NDARRAY.GET", k))

    def raw_set(k, a):
        r.set(k, memoryview(a).cast("B"))  # a memoryview: redis-py (hiredis) copies a bytes argument

    def raw_get(k, a):
        return np.frombuffer(r.get(k), a.dtype).reshape(a.shape)

    def ours_sizes(k, a):
        return len(redis_ndarray.encode(a)), len(r.execute_command("NDARRAY.GET", k, "FORMAT", "ENCODED"))

    def srv_sizes(k, a):
        return a.nbytes, len(r.execute_command("NDARRAY.GET", k))

    # label -> (set, get, (SET command, GET command) in commandstats, (bytes sent, bytes received))
    methods = {
        "ours": (lambda k, a: nd.set(k, a), lambda k, a: nd.get(k), ("ndarray.set", "ndarray.get"), ours_sizes),
        "ours-srv": (lambda k, a: nd.set(k, a, encode="server"), srv_get, ("ndarray.set", "ndarray.get"),
                     srv_sizes),
        "blosc2-1t": (blosc_set(1), blosc_get(1), ("set", "get"), lambda k, a: (blosc_size(a),) * 2),
        "blosc2-Nt": (blosc_set(ncores), blosc_get(ncores), ("set", "get"), lambda k, a: (blosc_size(a),) * 2),
        "raw": (raw_set, raw_get, ("set", "get"), lambda k, a: (a.nbytes, a.nbytes)),
    }
    data = [(name, a) for name, a in datasets() if name in args.data.split(",")]

    def once(label, a):
        store, load, (set_cmd, get_cmd), _ = methods[label]
        key = f"net:{label}"
        s0, c0, p0 = cmdstats(r), cpu.read(), time.process_time_ns()
        t0 = time.perf_counter()
        store(key, a)
        t1 = time.perf_counter()
        c1, p1 = cpu.read(), time.process_time_ns()
        t2 = time.perf_counter()
        out = load(key, a)
        t3 = time.perf_counter()
        c2, p2, s1 = cpu.read(), time.process_time_ns(), cmdstats(r)
        return out, {
            "set_ms": (t1 - t0) * 1e3, "get_ms": (t3 - t2) * 1e3, "ms": (t1 - t0 + t3 - t2) * 1e3,
            "client_cpu_set_ms": (p1 - p0) / 1e6, "client_cpu_get_ms": (p2 - p1) / 1e6,
            "srv_cpu_set_ns": diff(c1, c0), "srv_cpu_get_ns": diff(c2, c1),
            "cmd_set_us": usec_per_call(s0, s1, set_cmd), "cmd_get_us": usec_per_call(s0, s1, get_cmd),
        }

    info = r.info("server")
    result = {
        "redis_version": info.get("redis_version"), "blosc2": blosc2.__version__, "redis_py": redis.__version__,
        "hiredis": redis.utils.HIREDIS_AVAILABLE, "cores": ncores, "rounds": args.rounds,
        "server_cpu": cpu.clock is not None, "datasets": [],
    }
    rows = {name: {"shape": list(a.shape), "dtype": a.dtype.name, "nbytes": a.nbytes,
                   "methods": {m: {"runs": []} for m in METHODS}} for name, a in data}
    for rnd in range(args.rounds + 1):  # round 0: warm-up, checks and sizes
        for di, (name, a) in enumerate(data):
            start = (rnd + di) % len(METHODS)
            for label in METHODS[start:] + METHODS[:start]:
                out, run = once(label, a)
                cell = rows[name]["methods"][label]
                if rnd == 0:
                    if out.dtype != a.dtype or not np.array_equal(out, a):
                        sys.exit(f"network bench: {label} read back a different array for {name}")
                    cell["sent"], cell["received"] = methods[label][3](f"net:{label}", a)
                else:
                    cell["runs"].append(run)
                del out
        print(f"  [{args.link}] round {rnd}/{args.rounds} done", file=sys.stderr, flush=True)
    result["datasets"] = [{"name": name, **rows[name]} for name, _ in data]
    if args.payload_calls:
        result["payload"] = payload_table(r, cpu, args.payload_calls, dict(data))
        result["codec"] = codec_table(r, args.payload_calls, data, ncores)
    if args.compute_calls:
        result["compute"] = compute_section(r, nd, cpu, args.compute_calls)
    with open(args.out, "w") as f:
        json.dump(result, f)


def payload_table(r, cpu, calls, data):
    """Main-thread time of SET … ENCODED / GET … FORMAT ENCODED of an 8 MiB array against plain
    SET / GET of the same payload bytes (and the server-encoded SET BLOB / GET NPY for scale)."""
    import numpy as np
    import redis_ndarray

    field = data.get("field float32")
    if field is None:
        from compression import datasets
        field = dict(datasets())["field float32"]
    arrays = [
        ("field float32 (2048, 1024)", np.ascontiguousarray(np.concatenate([field] * 3)[:2048])),
        ("random float32 (16384, 128)",
         np.random.default_rng(1).standard_normal((16384, 128)).astype(np.float32)),
    ]
    rows = []
    for name, a in arrays:
        payload = redis_ndarray.encode(a)
        view = memoryview(payload)
        ops = [
            ("NDARRAY.SET k ENCODED <payload>", "ndarray.set", ("NDARRAY.SET", "p:nd", "ENCODED", view)),
            ("SET k2 <payload>", "set", ("SET", "p:str", view)),
            ("NDARRAY.GET k FORMAT ENCODED", "ndarray.get", ("NDARRAY.GET", "p:nd", "FORMAT", "ENCODED")),
            ("GET k2", "get", ("GET", "p:str")),
            ("NDARRAY.SET k float32 ... BLOB <raw> (server encodes)", "ndarray.set",
             ("NDARRAY.SET", "p:nd2", "float32", *a.shape, "BLOB", memoryview(a).cast("B"))),
            ("NDARRAY.GET k (.npy, server decodes)", "ndarray.get", ("NDARRAY.GET", "p:nd2")),
        ]
        stats = {label: {"ms": [], "cpu_ns": [], "us": []} for label, _, _ in ops}
        for i in range(calls + 1):
            for label, command, cmd in ops:
                s0, c0 = cmdstats(r), cpu.read()
                t0 = time.perf_counter()
                reply = r.execute_command(*cmd)
                t1 = time.perf_counter()
                c1, s1 = cpu.read(), cmdstats(r)
                del reply
                if i == 0:
                    continue  # warm-up
                st = stats[label]
                st["ms"].append((t1 - t0) * 1e3)
                st["us"].append(usec_per_call(s0, s1, command))
                st["cpu_ns"].append(diff(c1, c0))
        rows.append({"name": name, "nbytes": a.nbytes, "payload": len(payload),
                     "ops": [{"label": label, **stats[label]} for label, _, _ in ops]})
    return rows


def codec_table(r, calls, data, ncores):
    """The client's own pieces, apart: encode / decode with the module's codecs (redis_ndarray) and
    with blosc2 (1 thread, all cores), and one plain SET of our payload passed as bytes (which
    redis-py with hiredis copies into the packed command) and as a memoryview (sent as it is)."""
    import blosc2
    import numpy as np
    import redis_ndarray

    zstd, bit = blosc2.Codec.ZSTD, blosc2.Filter.BITSHUFFLE
    rows = []
    for name, a in data:
        payload = redis_ndarray.encode(a)
        packed = blosc2.compress2(a, codec=zstd, clevel=1, filters=[bit], typesize=a.itemsize, nthreads=1)
        out = np.empty(a.shape, a.dtype)
        ops = {
            "ours encode": lambda: redis_ndarray.encode(a),
            "blosc2-1t compress": lambda: blosc2.compress2(a, codec=zstd, clevel=1, filters=[bit],
                                                           typesize=a.itemsize, nthreads=1),
            "blosc2-Nt compress": lambda: blosc2.compress2(a, codec=zstd, clevel=1, filters=[bit],
                                                           typesize=a.itemsize, nthreads=ncores),
            "ours decode": lambda: redis_ndarray.decode(payload),
            "blosc2-1t decompress": lambda: blosc2.decompress2(packed, dst=out, nthreads=1),
            "blosc2-Nt decompress": lambda: blosc2.decompress2(packed, dst=out, nthreads=ncores),
            "SET payload as bytes": lambda: r.set("c:bytes", payload),
            "SET payload as memoryview": lambda: r.set("c:view", memoryview(payload)),
        }
        times = {label: [] for label in ops}
        for i in range(calls + 1):
            for label, fn in ops.items():
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                if i:
                    times[label].append((t1 - t0) * 1e3)
        rows.append({"name": name, "payload": len(payload), "ms": {k: statistics.median(v) for k, v in times.items()}})
    r.delete("c:bytes", "c:view")
    return rows


# ---------------------------------------------------------------- compute where the array lives (issue 24)

COMPUTE_SHAPE = (4096, 4096)  # 64 MiB of float32
COMPUTE_OPS = ("sum", "mean")
COMPUTE_TARGETS = {"loopback": 0.3, "1gbit": 0.05}  # REDUCE / (nd.get + NumPy), client-visible


def connect(args):
    """`r`, a plain client for plain commands and INFO, and `nd`, the NDArray front end on a
    connection of its own (it registers reply callbacks for the NDARRAY.* commands on its client),
    once the server answers."""
    import redis
    from redis_ndarray import NDArray

    r = redis.Redis(host=args.host, port=args.port, socket_timeout=120)
    nd = NDArray(redis.Redis(host=args.host, port=args.port, socket_timeout=120))
    for _ in range(200):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return r, nd


def has_command(r, name):
    """Whether the server knows `name` (called without arguments: an arity error, not an unknown
    command; redis-py's COMMAND INFO reply parser fails on an unknown name)."""
    import redis

    try:
        r.execute_command(name)
    except redis.ResponseError as e:
        return "unknown command" not in str(e).lower()
    return True


def compute_arrays():
    """Two 64 MiB float32 arrays: standard normal noise (barely compresses, so nd.get moves nearly all
    of it) and a smooth field (compresses better: a cheaper nd.get, the harder case for REDUCE)."""
    import numpy as np

    noise = np.random.default_rng(24).standard_normal(COMPUTE_SHAPE, dtype=np.float32)
    y, x = np.ogrid[:COMPUTE_SHAPE[0], :COMPUTE_SHAPE[1]]
    smooth = (10 * np.sin(x / 200.0) * np.cos(y / 300.0) + 3).astype(np.float32)
    return [("normal noise", noise), ("smooth field", smooth)]


def reducer(r, nd):
    """(how, fn(key, op) -> float): nd.reduce once the client has it, else the raw command with its
    `.npy` reply parsed by redis_ndarray.from_npy."""
    import numpy as np
    import redis_ndarray

    if hasattr(nd, "reduce"):
        return "nd.reduce(k, op)", lambda k, op: float(np.asarray(nd.reduce(k, op)))
    return ("NDARRAY.REDUCE k op + from_npy",
            lambda k, op: float(redis_ndarray.from_npy(r.execute_command("NDARRAY.REDUCE", k, op))))


def compute_section(r, nd, cpu, calls, arrays=None):
    """REDUCE sum / mean of each 64 MiB float32 array, stored by `NDARRAY.SET k float32 4096 4096 BLOB`
    with no options (the server's default codec), against nd.get + np.sum / np.mean in the client.
    Per op: one checked warm-up pair, then `calls` pairs, interleaved with the order alternating.
    Each call: client-visible ms (the baseline also split into nd.get and the NumPy reduction), INFO
    commandstats usec per call of NDARRAY.REDUCE / NDARRAY.GET (main-thread time) and the server's
    CPU ms, all threads. None when the server has no NDARRAY.REDUCE."""
    import numpy as np

    if not has_command(r, "NDARRAY.REDUCE"):
        return None
    how, reduce = reducer(r, nd)
    numpy_ops = {"sum": np.sum, "mean": np.mean}
    key = "compute:64m"
    rows = []
    for name, a in arrays or compute_arrays():
        r.execute_command("NDARRAY.SET", key, "float32", *a.shape, "BLOB", memoryview(a).cast("B"))
        info = nd.info(key) or {}
        wire = len(r.execute_command("NDARRAY.GET", key, "FORMAT", "ENCODED"))  # what nd.get moves
        row = {"name": name, "nbytes": a.nbytes, "wire": wire, "codec": str(info.get("compression", "?")),
               "ops": {}}
        magnitude = float(np.abs(a).sum(dtype=np.float64))
        for op in COMPUTE_OPS:
            fn = numpy_ops[op]
            exact = float(fn(a, dtype=np.float64))
            tol = 1e-5 * magnitude / (a.size if op == "mean" else 1)  # NumPy's float32 pairwise sum is off by ~1e-6

            def ours():
                s0, c0 = cmdstats(r), cpu.read()
                t0 = time.perf_counter()
                value = reduce(key, op)
                t1 = time.perf_counter()
                c1, s1 = cpu.read(), cmdstats(r)
                return value, {"ms": (t1 - t0) * 1e3, "cmd_us": usec_per_call(s0, s1, "ndarray.reduce"),
                               "cpu_ns": diff(c1, c0)}

            def base():
                s0, c0 = cmdstats(r), cpu.read()
                t0 = time.perf_counter()
                got = nd.get(key)
                t1 = time.perf_counter()
                value = fn(got)
                t2 = time.perf_counter()
                c1, s1 = cpu.read(), cmdstats(r)
                del got
                return float(value), {"ms": (t2 - t0) * 1e3, "get_ms": (t1 - t0) * 1e3, "np_ms": (t2 - t1) * 1e3,
                                      "cmd_us": usec_per_call(s0, s1, "ndarray.get"), "cpu_ns": diff(c1, c0)}

            for side, run in (("REDUCE", ours), ("nd.get + NumPy", base)):  # warm-up and check
                value, _ = run()
                if not abs(value - exact) <= tol:
                    sys.exit(f"compute bench: {side} {op} of {name} gave {value!r}, NumPy in float64 {exact!r}")
            pairs = []
            for i in range(calls):
                first, second = (ours, base) if i % 2 == 0 else (base, ours)
                x, y = first()[1], second()[1]
                pairs.append((x, y) if i % 2 == 0 else (y, x))
            row["ops"][op] = {"exact": exact, "ours": [p[0] for p in pairs], "base": [p[1] for p in pairs]}
        rows.append(row)
    r.delete(key)
    return {"how": how, "calls": calls, "rows": rows}


def print_compute(section, link):
    if section is None:
        print(f"\n### REDUCE vs nd.get + NumPy ({link}): skipped, this server has no NDARRAY.REDUCE")
        return
    target = COMPUTE_TARGETS.get(link)
    print(f"\n### REDUCE where the array lives vs nd.get + NumPy in the client (issue 24; {link}): 64 MiB float32"
          f" (4096, 4096) stored by NDARRAY.SET with no options")
    print(f"    ours: {section['how']}; baseline: nd.get(k) (FORMAT ENCODED, decoded in the client) then np.sum /"
          f" np.mean. Client-visible ms, medians of {section['calls']} interleaved pairs [min-max];")
    print("    ratio = median REDUCE / median baseline, [min-max] of the paired ratios. Server side: INFO commandstats"
          " usec per call (main-thread time) and server CPU ms, all threads.")
    print(f"{'array':14}{'codec':>8}{'wire MB':>8} {'op':5}{'REDUCE ms':>21}{'nd.get+np ms':>21}"
          f"{'get':>8}{'np':>7}{'ratio':>7}{'[paired]':>14}{'target':>8}"
          f"  {'REDUCE us':>9}{'CPU ms':>7}  {'GET us':>7}{'CPU ms':>7}")

    def span(values):
        return f"{med(values):8.2f} [{min(values):.1f}-{max(values):.1f}]"

    for row in section["rows"]:
        for op, cell in row["ops"].items():
            ours, base = cell["ours"], cell["base"]
            t_ours, t_base = [run["ms"] for run in ours], [run["ms"] for run in base]
            paired = [o / b for o, b in zip(t_ours, t_base)]
            ratio = med(t_ours) / med(t_base)
            verdict = "" if target is None else ("  ok" if ratio <= target else "  OVER")
            cpu_o = med([run["cpu_ns"] for run in ours])
            cpu_b = med([run["cpu_ns"] for run in base])
            print(f"{row['name']:14}{row['codec']:>8}{row['wire'] / 1e6:8.2f} {op:5}{span(t_ours):>21}{span(t_base):>21}"
                  f"{med([run['get_ms'] for run in base]):8.2f}{med([run['np_ms'] for run in base]):7.2f}"
                  f"{ratio:7.3f}{f'[{min(paired):.3f}-{max(paired):.3f}]':>14}"
                  f"{'<= ' + str(target) if target else '-':>8}{verdict}"
                  f"  {fmt(med([run['cmd_us'] for run in ours]), '9.0f')}{fmt(cpu_o and cpu_o / 1e6, '7.1f')}"
                  f"  {fmt(med([run['cmd_us'] for run in base]), '7.0f')}{fmt(cpu_b and cpu_b / 1e6, '7.1f')}")


def compute_main(args):
    """--compute-only: the client side of the compute section alone."""
    import redis

    r, nd = connect(args)
    cpu = ServerCpu(args.server_pid)
    result = {"redis_version": r.info("server").get("redis_version"), "redis_py": redis.__version__,
              "hiredis": redis.utils.HIREDIS_AVAILABLE, "cores": os.cpu_count() or 1, "datasets": [],
              "compute": compute_section(r, nd, cpu, args.compute_calls)}
    with open(args.out, "w") as f:
        json.dump(result, f)


# ---------------------------------------------------------------- the orchestrator

class Cleanup:
    """What this run created, undone in reverse order, once: at the end, on an error, on Ctrl-C
    (KeyboardInterrupt), on SIGTERM/SIGHUP (turned into SystemExit) and at interpreter exit."""

    def __init__(self):
        self.undo = []
        atexit.register(self.run)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))

    def add(self, fn):
        self.undo.append(fn)

    def run(self):
        while self.undo:
            fn = self.undo.pop()
            try:
                fn()
            except Exception as e:  # keep undoing the rest
                print(f"network bench: cleanup: {e}", file=sys.stderr)


def sh(*cmd):
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ShapedLink:
    """Two namespaces ndnet<PID>-<n>s (server) and ...c (client) joined by a veth pair whose ends are
    created directly inside them (nothing in the root namespace), each end shaped by tbf."""

    def __init__(self, index, rate, burst, cleanup):
        pid = os.getpid()
        self.ns_srv, self.ns_cli = f"ndnet{pid}-{index}s", f"ndnet{pid}-{index}c"
        self.dev_srv, self.dev_cli = f"ndv{pid}{index}s", f"ndv{pid}{index}c"  # <= 15 characters
        self.addr_srv, self.addr_cli = f"10.213.{index}.1", f"10.213.{index}.2"
        existing = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True).stdout
        names = {line.split()[0] for line in existing.splitlines() if line.strip()}
        if {self.ns_srv, self.ns_cli} & names:
            raise RuntimeError(f"namespace {self.ns_srv} or {self.ns_cli} already exists (not ours): not touching it")
        for ns in (self.ns_srv, self.ns_cli):
            sh("ip", "netns", "add", ns)
            cleanup.add(lambda ns=ns: sh("ip", "netns", "del", ns))  # deletes its veth end too
        sh("ip", "link", "add", self.dev_srv, "netns", self.ns_srv, "type", "veth",
           "peer", "name", self.dev_cli, "netns", self.ns_cli)
        for ns, dev, addr in ((self.ns_srv, self.dev_srv, self.addr_srv), (self.ns_cli, self.dev_cli, self.addr_cli)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", burst,
               "latency", TBF_LATENCY)


def start_server(host, netns, workdir, cleanup):
    port = free_port()  # any port is free in a new namespace; on loopback this one is
    log = os.path.join(workdir, f"redis-{port}.log")
    cmd = [REDIS_SERVER, "--port", str(port), "--bind", host, "--protected-mode", "no", "--save", "",
           "--appendonly", "no", "--dir", workdir, "--logfile", log, "--loadmodule", MODULE]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]  # ip execs the command: the PID is redis-server's
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    cleanup.add(stop)
    for _ in range(200):
        if proc.poll() is not None:
            break
        if os.path.exists(log) and "Ready to accept connections" in open(log, errors="replace").read():
            with open(f"/proc/{proc.pid}/comm") as f:
                comm = f.read().strip()
            if not comm.startswith(("redis-server", "valkey-server")):
                raise RuntimeError(f"PID {proc.pid} is {comm!r}, not the server")
            return proc, port, log
        time.sleep(0.05)
    tail = open(log, errors="replace").read()[-2000:] if os.path.exists(log) else ""
    raise RuntimeError(f"redis-server did not start ({' '.join(cmd)}):\n{tail}")


def run_link(link, index, args, cleanup, payload):
    workdir = tempfile.mkdtemp(prefix=f"ndarray-net-{link}-")
    cleanup.add(lambda: shutil.rmtree(workdir, ignore_errors=True))
    prefix = []
    host = "127.0.0.1"
    netns = None
    if LINKS[link] is not None:
        rate, burst = LINKS[link]
        shaped = ShapedLink(index, rate, burst, cleanup)
        host, netns, prefix = shaped.addr_srv, shaped.ns_srv, ["ip", "netns", "exec", shaped.ns_cli]
    proc, port, log = start_server(host, netns, workdir, cleanup)
    out = os.path.join(workdir, "result.json")
    cmd = [*prefix, sys.executable, os.path.abspath(__file__), "--client", "--link", link, "--host", host,
           "--port", str(port), "--server-pid", str(proc.pid), "--rounds", str(args.rounds),
           "--data", ",".join(args.data), "--out", out, "--payload-calls", str(args.payload_calls if payload else 0),
           "--compute-calls", str(args.compute_calls), *(["--compute-only"] if args.compute_only else [])]
    load = os.getloadavg()[0]
    rc = subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode
    if rc != 0 or not os.path.exists(out):
        tail = open(log, errors="replace").read()[-2000:] if os.path.exists(log) else ""
        raise RuntimeError(f"the client on {link} failed (exit {rc}); server log:\n{tail}")
    with open(out) as f:
        res = json.load(f)
    res["load"] = (load, os.getloadavg()[0])
    return res


# ---------------------------------------------------------------- tables

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="7.2f", none="-"):
    return format(v, spec) if v is not None else f"{none:>{len(format(0, spec))}}"


def col(ds, method, field):
    return med([run[field] for run in ds["methods"][method]["runs"]])


def print_link(link, res, first):
    desc = ("127.0.0.1, no namespaces" if LINKS[link] is None else
            f"veth between two namespaces, tbf rate {LINKS[link][0]} burst {LINKS[link][1]} latency {TBF_LATENCY}"
            " on both ends")
    nt = f"blosc2-{res['cores']}t"
    print(f"\n## link {link}: {desc}")
    print(f"   load average (1 min) before / after: {res['load'][0]:.2f} / {res['load'][1]:.2f}")
    if not res["datasets"]:  # --compute-only
        print(f"   redis {res['redis_version']}, redis-py {res['redis_py']}"
              f"{' + hiredis' if res['hiredis'] else ' (no hiredis)'}, {res['cores']} cores")
        print_compute(res["compute"], link)
        sys.stdout.flush()
        return
    print(f"   redis {res['redis_version']}, blosc2 {res['blosc2']}, redis-py {res['redis_py']}"
          f"{' + hiredis' if res['hiredis'] else ' (no hiredis)'}, {res['cores']} cores, medians of"
          f" {res['rounds']} interleaved rounds")
    labels = {"blosc2-Nt": nt}
    print("\n### store + read back (one SET + one GET), client-visible ms")
    head = "".join(f"{labels.get(m, m):>10}" for m in METHODS)
    print(f"{'data':20}{'MB':>6} {head}  {'ours/' + nt:>13}{'ours/blosc2-1t':>15}{'ours/raw':>9}")
    for ds in res["datasets"]:
        t = {m: col(ds, m, "ms") for m in METHODS}
        print(f"{ds['name']:20}{ds['nbytes'] / 1e6:6.2f} " + "".join(fmt(t[m], "10.2f") for m in METHODS)
              + f"  {t['ours'] / t['blosc2-Nt']:13.2f}{t['ours'] / t['blosc2-1t']:15.2f}{t['ours'] / t['raw']:9.2f}")

    print("\n### where the time goes (medians), each for the SET and for the GET: client-visible ms; client CPU ms")
    print("    (all its threads); server CPU ms (all its threads); INFO commandstats usec per call (the command's")
    print("    own main-thread wall time, without reading the request or writing the reply)")
    print(f"{'':30}{'client-visible':>16}{'client CPU':>16}{'server CPU':>16}{'commandstats us':>16}")
    print(f"{'data':20}{'method':>10}" + f"{'SET':>8}{'GET':>8}" * 4)

    def ms(runs, field):
        return med([None if r[field] is None else r[field] / 1e6 for r in runs])

    for ds in res["datasets"]:
        for m in METHODS:
            runs = ds["methods"][m]["runs"]
            cells = [col(ds, m, "set_ms"), col(ds, m, "get_ms"), col(ds, m, "client_cpu_set_ms"),
                     col(ds, m, "client_cpu_get_ms"), ms(runs, "srv_cpu_set_ns"), ms(runs, "srv_cpu_get_ns")]
            print(f"{ds['name']:20}{labels.get(m, m):>10}" + "".join(fmt(c, "8.2f") for c in cells)
                  + f"{fmt(col(ds, m, 'cmd_set_us'), '8.0f')}{fmt(col(ds, m, 'cmd_get_us'), '8.0f')}")

    if first:
        print("\n### bytes on the wire: payload of the SET sent / of the GET reply received, MB (the same on every"
              " link)")
        print(f"{'data':20}{'raw MB':>8}" + "".join(f"{labels.get(m, m):>16}" for m in METHODS if m != "blosc2-Nt")
              + f"{'ours/blosc2':>12}")
        for ds in res["datasets"]:
            cells = "".join(f"{ds['methods'][m]['sent'] / 1e6:7.2f} /{ds['methods'][m]['received'] / 1e6:7.2f}"
                            for m in METHODS if m != "blosc2-Nt")
            ratio = ((ds["methods"]["ours"]["sent"] + ds["methods"]["ours"]["received"])
                     / (ds["methods"]["blosc2-1t"]["sent"] + ds["methods"]["blosc2-1t"]["received"]))
            print(f"{ds['name']:20}{ds['nbytes'] / 1e6:8.2f}{cells}{ratio:12.3f}")
        print("(blosc2 with all cores writes the same bytes as with one)")

    print("\n### server CPU per stored MB of raw array, NDARRAY.SET: client-encoded (ours) vs server-encoded"
          " (ours-srv)")
    print(f"{'data':20}{'main-thread us/MB (commandstats)':>34}{'srv/client':>11}{'CPU us/MB, all threads':>28}"
          f"{'srv/client':>11}")
    print(f"{'':20}{'client-enc':>17}{'server-enc':>17}{'':11}{'client-enc':>14}{'server-enc':>14}")
    for ds in res["datasets"]:
        mb = ds["nbytes"] / 1e6
        c_us, s_us = col(ds, "ours", "cmd_set_us"), col(ds, "ours-srv", "cmd_set_us")
        c_all = med([r["srv_cpu_set_ns"] for r in ds["methods"]["ours"]["runs"]])
        s_all = med([r["srv_cpu_set_ns"] for r in ds["methods"]["ours-srv"]["runs"]])
        c_all = None if c_all is None else c_all / 1e3
        s_all = None if s_all is None else s_all / 1e3
        print(f"{ds['name']:20}{fmt(c_us and c_us / mb, '17.0f')}{fmt(s_us and s_us / mb, '17.0f')}"
              f"{fmt(c_us and s_us and s_us / c_us, '11.2f')}{fmt(c_all and c_all / mb, '14.0f')}"
              f"{fmt(s_all and s_all / mb, '14.0f')}{fmt(c_all and s_all and s_all / c_all, '11.2f')}")

    vs = [col(ds, "ours", "ms") / col(ds, "blosc2-Nt", "ms") for ds in res["datasets"]]
    vs1 = [col(ds, "ours", "ms") / col(ds, "blosc2-1t", "ms") for ds in res["datasets"]]
    print(f"\nours / {nt}: {min(vs):.2f}-{max(vs):.2f}x; ours / blosc2-1t: {min(vs1):.2f}-{max(vs1):.2f}x"
          " (time to store + read back; lower is better)")

    if res.get("payload"):
        print_payload(res["payload"], link)
    if res.get("codec"):
        print_codec(res["codec"], link, res["cores"])
    if "compute" in res:
        print_compute(res["compute"], link)
    sys.stdout.flush()


def print_payload(rows, link):
    print(f"\n### 8 MiB arrays: the client-encoded payload through NDARRAY.SET/GET vs plain SET/GET of the same bytes"
          f" ({link}; medians)")
    print("    cmd us: INFO commandstats usec per call (main-thread wall time); srv CPU: server CPU ms per call,"
          " all threads")
    print(f"{'array':28}{'payload MB':>11}  {'command':52}{'cmd us':>8}{'srv CPU':>9}{'client ms':>10}")
    for row in rows:
        for op in row["ops"]:
            cpu = med(op["cpu_ns"])
            print(f"{row['name']:28}{row['payload'] / 1e6:11.2f}  {op['label']:52}{fmt(med(op['us']), '8.0f')}"
                  f"{fmt(cpu and cpu / 1e6, '9.2f')}{med(op['ms']):10.2f}")


def print_codec(rows, link, cores):
    labels = list(rows[0]["ms"])
    print(f"\n### the client's pieces apart (median ms; Nt = {cores} threads; the SETs over {link})")
    short = [label.replace("encode", "enc").replace("decompress", "dec").replace("decode", "dec")
             .replace("compress", "enc").replace("payload as memoryview", "mview").replace("payload as ", "")
             .replace("blosc2-Nt", f"blosc2-{cores}t") for label in labels]
    print(f"{'data':20}{'payload MB':>11}" + "".join(f"{label:>14}" for label in short))
    for row in rows:
        print(f"{row['name']:20}{row['payload'] / 1e6:11.2f}"
              + "".join(f"{row['ms'][label]:14.2f}" for label in labels))


# ---------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--links", default="loopback,1gbit,10gbit", help="comma-separated: " + ", ".join(LINKS))
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 15; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds, 3 data sets")
    p.add_argument("--payload-calls", type=int, default=None, help="calls per command in the 8 MiB table (0: skip)")
    p.add_argument("--json", metavar="PATH", help="also write every run's figures, per link, to PATH")
    p.add_argument("--compute-calls", type=int, default=None,
                   help="timed pairs per op in the REDUCE vs nd.get + NumPy table (default 11; 3 with --quick; 0: skip)")
    p.add_argument("--compute-only", action="store_true",
                   help="run only the REDUCE vs nd.get + NumPy table (issue 24) on each link")
    # client mode (run by the script itself, in the client namespace)
    p.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--link", help=argparse.SUPPRESS)
    p.add_argument("--host", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        return client_main(args)

    args.rounds = args.rounds or (3 if args.quick else 15)
    args.payload_calls = args.payload_calls if args.payload_calls is not None else (3 if args.quick else 11)
    args.data = [] if args.compute_only else QUICK_DATA if args.quick else FULL_DATA
    args.compute_calls = args.compute_calls if args.compute_calls is not None else (3 if args.quick else 11)
    if args.compute_only and not args.compute_calls:
        sys.exit("network bench: --compute-only with --compute-calls 0 runs nothing")
    links = [name.strip() for name in args.links.split(",") if name.strip()]
    unknown = [name for name in links if name not in LINKS]
    if unknown:
        sys.exit(f"network bench: unknown link(s) {', '.join(unknown)}; choose from {', '.join(LINKS)}")
    if not os.path.exists(MODULE):
        print(f"network bench: {MODULE} is missing: cargo build --release", flush=True)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    shaped = [name for name in links if LINKS[name] is not None]
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if shaped and (os.geteuid() != 0 or missing):
        why = "this needs root" if os.geteuid() != 0 else f"{' and '.join(missing)} not found"
        print(f"network bench: skipping the shaped links ({', '.join(shaped)}): {why} (network namespaces + tc tbf);"
              " running loopback only", flush=True)
        links = [name for name in links if LINKS[name] is None]

    cleanup = Cleanup()
    print(f"# network bench: {', '.join(links)}; {args.rounds} rounds; data: {', '.join(args.data) or '-'};"
          f" REDUCE vs nd.get + NumPy: {args.compute_calls or 'skipped'}{' pairs per op' if args.compute_calls else ''}"
          f"{' (only that)' if args.compute_only else ''}", flush=True)
    payload_link = "loopback" if "loopback" in links else links[0] if links else None
    everything = {}
    try:
        first, shaping = True, True
        for index, link in enumerate(links):
            if LINKS[link] is not None and not shaping:
                continue
            try:
                res = run_link(link, index, args, cleanup, link == payload_link)
            except subprocess.CalledProcessError as e:
                if LINKS[link] is None:
                    raise
                cleanup.run()  # what this link created so far
                msg = (e.stderr or b"").decode(errors="replace").strip()
                print(f"network bench: skipping the shaped links: `{' '.join(e.cmd)}` failed: {msg}", flush=True)
                shaping = False
                continue
            print_link(link, res, first)
            first = False
            everything[link] = res
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(everything, f)
            cleanup.run()  # stop this link's server and remove its namespaces before the next link
    except KeyboardInterrupt:
        cleanup.run()
        sys.exit("network bench: interrupted (everything it created is removed)")
    finally:
        cleanup.run()


if __name__ == "__main__":
    main()
