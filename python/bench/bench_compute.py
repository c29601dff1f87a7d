"""Computing where the array lives (issue 24, item 6): the server's REDUCE, STACK ... REDUCE and APPLY
against the client-side code they replace, in one run on one loopback server that this script starts
(REDIS_SERVER, NDARRAY_MODULE) and stops by its PID. Every figure is a same-run ratio.

  1. REDUCE sum / mean of a 64 MiB float32 array        client-visible    <= 0.3x   nd.get + np.sum / np.mean
     (NDARRAY.SET's default codec)
  2. the same REDUCE sum, main-thread time               server-side       <= 0.05x  plain GET of the same 64 MiB
                                                         (commandstats)               stored as a string
  3. NDARRAY.STACK 1000 k1..k1000 REDUCE mean            client-visible    <= 0.5x   nd.stack(keys) + .mean(axis=0)
     of 512-float32 embeddings
  4. 8 clients x 1,000 NDARRAY.APPLY key add NPY <512    throughput        >= 5x     WATCH / GET / MULTI SET / EXEC
     float32> on one key                                  (updates/s)                 of a plain string, retried on
                                                                                      WatchError; no lost update in
                                                                                      either (asserted)

Measure 1 is benches/network.py's compute section (the same code, imported), which also runs it over
shaped 1 and 10 Gbit/s links. Measure 4's headline uses client processes (see --clients; threads
are run too, for comparison). Figures are medians; ranges ([min-max]) say how far runs disagreed.
The summary says, per measure, how many cores other processes used meanwhile (about 0 on an idle
machine; a build next door halves REDUCE's speed on 2 cores).
Run by `make bench`, or: .venv/bin/python python/bench/bench_compute.py [--quick] [--only 1,2,3,4]
[--clients process|thread|both]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import shutil
import statistics
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import redis
from redis.client import NEVER_DECODE

import redis_ndarray
from redis_ndarray import NDArray

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "benches"))
from bench_client import MODULE, compare, start_server  # noqa: E402
from network import ServerCpu, cmdstats, compute_section, diff, has_command, print_compute, usec_per_call  # noqa: E402

EMBEDDINGS, DIM = 1000, 512
CLIENTS, UPDATES = 8, 1000
PLURAL = {"process": "processes", "thread": "threads"}


def med(values: List[float]) -> float:
    return statistics.median(values)


def span(values: List[float], spec: str = ".2f") -> str:
    return f"{format(med(values), spec)} [{format(min(values), spec)}-{format(max(values), spec)}]"


class Others:
    """CPU used by other processes while a measure runs, in cores on average: the machine's busy time
    (/proc/stat) minus this bench's (this process and its joined children, and the server, all
    threads). A busy neighbour (a build, a test run) skews every figure here; this says when."""

    def __init__(self, cpu: ServerCpu) -> None:
        self.cpu = cpu
        self.tick = os.sysconf("SC_CLK_TCK")
        self.t0 = self.busy0 = self.own0 = 0.0

    def _busy(self) -> float:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        return (sum(fields) - fields[3] - fields[4]) / self.tick  # all but idle and iowait

    def _own(self) -> float:
        t = os.times()
        server = self.cpu.read()
        return t.user + t.system + t.children_user + t.children_system + (server or 0) / 1e9

    def start(self) -> None:
        self.t0, self.busy0, self.own0 = time.monotonic(), self._busy(), self._own()

    def stop(self) -> float:
        wall = time.monotonic() - self.t0
        return max(0.0, (self._busy() - self.busy0) - (self._own() - self.own0)) / wall


# ---------------------------------------------------------------- 2. main-thread time

def main_thread(r: redis.Redis, cpu: ServerCpu, reps: int, calls: int) -> Dict[str, Any]:
    """Per repetition: CONFIG RESETSTAT, `calls` REDUCE sum and `calls` plain GET interleaved, then
    INFO commandstats: usec_per_call of each (the command's main-thread time; a command that
    blocks its client and runs on workers shows the time of its call and of its reply callback,
    not the workers'). Server CPU (all threads) and client-visible ms per call beside."""
    a = np.random.default_rng(2).standard_normal((4096, 4096), dtype=np.float32)
    r.execute_command("NDARRAY.SET", "mt:nd", "float32", *a.shape, "BLOB", memoryview(a).cast("B"))
    r.set("mt:str", memoryview(a).cast("B"))
    assert len(r.get("mt:str")) == a.nbytes
    ops = {"reduce": ("NDARRAY.REDUCE", "mt:nd", "sum"), "get": ("GET", "mt:str")}
    names = {"reduce": "ndarray.reduce", "get": "get"}
    out: Dict[str, Dict[str, List[float]]] = {k: {"us": [], "cpu_ms": [], "ms": []} for k in ops}
    ratios = []
    for rep in range(reps + 1):  # rep 0: warm-up
        r.config_resetstat()
        cpu_ms: Dict[str, List[float]] = {k: [] for k in ops}
        ms: Dict[str, List[float]] = {k: [] for k in ops}
        for i in range(calls):
            for k in (("reduce", "get") if i % 2 == 0 else ("get", "reduce")):
                c0 = cpu.read()
                t0 = time.perf_counter()
                reply = r.execute_command(*ops[k])
                t1 = time.perf_counter()
                c1 = cpu.read()
                del reply
                ms[k].append((t1 - t0) * 1e3)
                d = diff(c1, c0)
                if d is not None:
                    cpu_ms[k].append(d / 1e6)
        stats = cmdstats(r)
        if rep == 0:
            continue
        us = {k: usec_per_call({}, stats, names[k]) for k in ops}
        for k in ops:
            out[k]["us"].append(us[k])
            out[k]["ms"].append(med(ms[k]))
            if cpu_ms[k]:
                out[k]["cpu_ms"].append(med(cpu_ms[k]))
        ratios.append(us["reduce"] / us["get"])
    r.delete("mt:nd", "mt:str")
    return {"ops": out, "ratios": ratios, "reps": reps, "calls": calls}


def print_main_thread(res: Dict[str, Any]) -> float:
    o = res["ops"]
    ratio = med(res["ratios"])
    print(f"\n### 2. main-thread time: NDARRAY.REDUCE k sum vs plain GET of the same 64 MiB stored as a string"
          f" (server-side)")
    print(f"    INFO commandstats usec_per_call after CONFIG RESETSTAT, {res['calls']} calls of each interleaved per"
          f" repetition; medians of {res['reps']} repetitions [min-max]")
    print(f"{'command':32}{'main thread us':>24}{'server CPU ms, all threads':>30}{'client-visible ms':>28}")
    for label, k in (("NDARRAY.REDUCE k sum", "reduce"), ("GET k (64 MiB string)", "get")):
        cpu = span(o[k]["cpu_ms"]) if o[k]["cpu_ms"] else "-"
        print(f"{label:32}{span(o[k]['us'], '.0f'):>24}{cpu:>30}{span(o[k]['ms']):>28}")
    print(f"ratio REDUCE / GET, main thread: {span(res['ratios'], '.4f')}  (target <= 0.05)"
          f"{'' if ratio <= 0.05 else '  OVER'}")
    return ratio


# ---------------------------------------------------------------- 3. STACK ... REDUCE mean

def stack_reduce(r: redis.Redis, nd: NDArray, reps: int, calls: int) -> Dict[str, Any]:
    """1,000 float32 embeddings of 512 stored by NDARRAY.SET with no options; ours: the mean over the
    stacked axis computed by the server (nd.stack(keys, reduce="mean") once the client has it, else
    the raw command with its .npy reply parsed by from_npy); baseline: nd.stack(keys).mean(axis=0)."""
    rng = np.random.default_rng(3)
    embs = rng.standard_normal((EMBEDDINGS, DIM), dtype=np.float32)
    keys = [f"emb:{i}" for i in range(EMBEDDINGS)]
    pipe = r.pipeline(transaction=False)
    for key, e in zip(keys, embs):
        pipe.execute_command("NDARRAY.SET", key, "float32", DIM, "BLOB", e.tobytes())
    pipe.execute()

    try:
        nd.stack(keys[:2], reduce="mean")
        how = 'nd.stack(keys, reduce="mean")'
        ours: Callable[[], Any] = lambda: nd.stack(keys, reduce="mean")
    except TypeError:  # the client has no reduce= yet
        how = "NDARRAY.STACK 1000 k.. REDUCE mean + from_npy"
        args = ("NDARRAY.STACK", len(keys), *keys, "REDUCE", "mean")
        ours = lambda: redis_ndarray.from_npy(r.execute_command(*args, **{NEVER_DECODE: True}))
    base: Callable[[], Any] = lambda: nd.stack(keys).mean(axis=0)

    exact = embs.astype(np.float64).mean(axis=0)
    for label, fn in (("STACK ... REDUCE mean", ours), ("nd.stack + mean", base)):
        got = fn()
        if got.shape != (DIM,) or got.dtype != np.float32 or not np.allclose(got, exact, rtol=0, atol=1e-5):
            sys.exit(f"compute bench: {label} gave {got.dtype} {got.shape}, max |diff| from NumPy float64 "
                     f"{np.abs(got - exact).max() if got.shape == exact.shape else '?'}")
    per_rep = [compare(ours, base, calls) for _ in range(reps)]
    # Server side apart (both sides are NDARRAY.STACK, so one side at a time): usec_per_call of
    # `calls` calls after CONFIG RESETSTAT, per repetition.
    server: Dict[str, List[float]] = {"ours": [], "base": []}
    for _ in range(reps):
        for side, fn in (("ours", ours), ("base", base)):
            r.config_resetstat()
            for _ in range(calls):
                fn()
            server[side].append(usec_per_call({}, cmdstats(r), "ndarray.stack"))
    r.delete(*keys)
    return {"how": how, "ours": [o * 1e3 for o, _ in per_rep], "base": [b * 1e3 for _, b in per_rep],
            "server": server, "reps": reps, "calls": calls}


def print_stack(res: Dict[str, Any]) -> float:
    ratios = [o / b for o, b in zip(res["ours"], res["base"])]
    ratio = med(ratios)
    print(f"\n### 3. mean of {EMBEDDINGS:,} embeddings of {DIM} float32 (client-visible ms; per repetition the median of"
          f" {res['calls']} interleaved pairs; medians of {res['reps']} repetitions [min-max])")
    print(f"{'':48}{'client-visible ms':>24}{'NDARRAY.STACK main-thread us':>32}")
    print(f"{'ours: ' + res['how']:48}{span(res['ours'], '.3f'):>24}{span(res['server']['ours'], '.0f'):>32}")
    print(f"{'baseline: nd.stack(keys) + .mean(axis=0)':48}{span(res['base'], '.3f'):>24}"
          f"{span(res['server']['base'], '.0f'):>32}")
    print(f"ratio: {span(ratios, '.3f')}  (target <= 0.5){'' if ratio <= 0.5 else '  OVER'}")
    return ratio


# ---------------------------------------------------------------- 4. concurrent updates of one key

def updater(mode: str, port: int, n: int, operand: np.ndarray, start: Any, done: Any) -> None:
    """One client: `n` updates of the key "acc" by `operand`, after every client is connected.
    Puts (retries, error text or None) on `done`."""
    try:
        r = redis.Redis(port=port, socket_timeout=120)
        r.ping()
        retries = 0
        if mode == "apply":
            npy = redis_ndarray.to_npy(operand)
            start.wait()
            for _ in range(n):
                r.execute_command("NDARRAY.APPLY", "acc", "add", "NPY", npy)
        else:
            start.wait()
            with r.pipeline() as pipe:
                for _ in range(n):
                    while True:
                        try:
                            pipe.watch("acc")
                            current = np.frombuffer(pipe.get("acc"), np.float32)
                            pipe.multi()
                            pipe.set("acc", (current + operand).tobytes())
                            pipe.execute()
                            break
                        except redis.WatchError:
                            retries += 1
        done.put((retries, None))
    except Exception as e:  # report, do not hang the parent
        done.put((0, f"{type(e).__name__}: {e}"))


def updates_run(mode: str, kind: str, r: redis.Redis, nd: NDArray, port: int, operand: np.ndarray) -> Dict[str, Any]:
    """One run: the key reset to zeros, CLIENTS clients of `kind` (thread or process) started and
    connected, released together; wall time from the release until every update is acknowledged;
    then the final array is read back and must be CLIENTS * UPDATES * operand exactly."""
    zeros = np.zeros(DIM, np.float32)
    if mode == "apply":
        r.execute_command("NDARRAY.SET", "acc", "float32", DIM, "BLOB", zeros.tobytes())
    else:
        r.set("acc", zeros.tobytes())
    if kind == "process":
        ctx = multiprocessing.get_context("fork")
        start: Any = ctx.Barrier(CLIENTS + 1)
        done: Any = ctx.Queue()
        workers: List[Any] = [ctx.Process(target=updater, args=(mode, port, UPDATES, operand, start, done))
                              for _ in range(CLIENTS)]
    else:
        start, done = threading.Barrier(CLIENTS + 1), queue.Queue()
        workers = [threading.Thread(target=updater, args=(mode, port, UPDATES, operand, start, done))
                   for _ in range(CLIENTS)]
    for w in workers:
        w.start()
    start.wait(timeout=60)
    t0 = time.perf_counter()
    results = [done.get(timeout=600) for _ in workers]
    t1 = time.perf_counter()
    for w in workers:
        w.join()
    errors = [e for _, e in results if e]
    if errors:
        sys.exit(f"compute bench: a {mode} client failed: {errors[0]}")
    final = nd.get("acc") if mode == "apply" else np.frombuffer(r.get("acc"), np.float32)
    expected = operand * np.float32(CLIENTS * UPDATES)
    assert final is not None and final.dtype == np.float32 and final.shape == (DIM,)
    equal = bool(np.array_equal(final, expected))
    if not equal:
        lost = np.abs(final - expected).max() / np.abs(operand).max()
        sys.exit(f"compute bench: {mode} ({kind}s) LOST UPDATES: the final array is not {CLIENTS * UPDATES} x the "
                 f"operand (about {lost:.0f} updates missing)")
    return {"seconds": t1 - t0, "rate": CLIENTS * UPDATES / (t1 - t0), "retries": sum(n for n, _ in results),
            "equal": equal, "first": float(final[1]), "want": float(expected[1])}


def updates(r: redis.Redis, nd: NDArray, port: int, reps: int, kinds: List[str]) -> Dict[str, Any]:
    """Exact sums: the operand is multiples of 1/4 in [-12.5, 12.5), so 8,000 of them add up without
    rounding in float32 (|sum| <= 100,000 with 2 fractional bits fits its 24-bit significand) and the
    final array must equal 8000 x operand bit for bit."""
    operand = (np.random.default_rng(4).integers(-50, 50, DIM) / 4).astype(np.float32)
    out: Dict[str, Any] = {}
    for kind in kinds:
        runs: Dict[str, List[Dict[str, Any]]] = {"apply": [], "watch": []}
        for rep in range(reps):
            for mode in (("apply", "watch") if rep % 2 == 0 else ("watch", "apply")):
                runs[mode].append(updates_run(mode, kind, r, nd, port, operand))
            print(f"  [updates, {kind} clients] repetition {rep + 1}/{reps} done", file=sys.stderr, flush=True)
        out[kind] = runs
    r.delete("acc")
    return out


def print_updates(res: Dict[str, Any], headline: str) -> float:
    print(f"\n### 4. {CLIENTS} clients x {UPDATES:,} updates of ONE 512-float32 key (throughput, updates/s; "
          f"medians of the repetitions [min-max])")
    print("    apply: NDARRAY.APPLY acc add NPY <operand> (one round trip each); watch: WATCH acc, GET, np.frombuffer"
          " + add, MULTI SET EXEC (3 round trips), retried on WatchError")
    print(f"{'clients':11}{'method':8}{'updates/s':>22}{'wall s':>20}{'WatchError retries':>26}  final array")
    ratios = {}
    for kind, runs in res.items():
        for mode in ("apply", "watch"):
            rs = runs[mode]
            print(f"{PLURAL[kind]:11}{mode:8}{span([x['rate'] for x in rs], '.0f'):>22}"
                  f"{span([x['seconds'] for x in rs], '.2f'):>20}{span([float(x['retries']) for x in rs], '.0f'):>26}"
                  f"  == {CLIENTS * UPDATES} x operand in {sum(x['equal'] for x in rs)}/{len(rs)} runs"
                  f" (e.g. [1]: {rs[0]['first']:g} = {rs[0]['want']:g})")
        paired = [a["rate"] / w["rate"] for a, w in zip(runs["apply"], runs["watch"])]
        ratios[kind] = med([x["rate"] for x in runs["apply"]]) / med([x["rate"] for x in runs["watch"]])
        print(f"{'':11}ratio apply / watch ({PLURAL[kind]}): {ratios[kind]:.2f}x [paired {min(paired):.2f}-{max(paired):.2f}]"
              f"  (target >= 5){'' if ratios[kind] >= 5 else '  UNDER'}")
    print(f"    The headline is {headline} clients. Processes give the baseline its best figure: each client runs its"
          " GET-add-SET in its own interpreter, as separate workers would; threads share one interpreter lock,"
          " which serializes the baseline's Python work and lengthens its WATCH window (more retries), while"
          " APPLY, one round trip with no client work, barely notices.")
    return ratios.get(headline, next(iter(ratios.values())))


# ---------------------------------------------------------------- main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: fewer calls and repetitions")
    p.add_argument("--only", default="1,2,3,4", help="which measures to run (comma-separated numbers)")
    p.add_argument("--clients", choices=("process", "thread", "both"), default="both",
                   help="measure 4's clients: processes (the headline: each has its own interpreter, as separate"
                        " workers would), threads (one interpreter, its lock serializes the clients' Python), or both")
    args = p.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    calls1, reps, calls2, calls3 = (3, 3, 3, 20) if args.quick else (11, 5, 5, 60)

    proc, port, d = start_server()
    try:
        r = redis.Redis(port=port, socket_timeout=120)
        nd = NDArray(redis.Redis(port=port, socket_timeout=120))
        if not has_command(r, "NDARRAY.REDUCE"):
            sys.exit(f"compute bench: {MODULE} has no NDARRAY.REDUCE")
        cpu = ServerCpu(proc.pid)
        load = os.getloadavg()[0]
        print(f"# compute bench (issue 24): redis {r.info('server')['redis_version']}, module {MODULE}, "
              f"redis-py {redis.__version__}{' + hiredis' if redis.utils.HIREDIS_AVAILABLE else ' (no hiredis)'}, "
              f"numpy {np.__version__}, {os.cpu_count()} cores, load average (1 min) {os.getloadavg()[0]:.2f}; "
              f"server on 127.0.0.1:{port}, PID {proc.pid}", flush=True)
        summary: List[Tuple[str, str, Optional[float], str, float]] = []
        others = Others(cpu)
        if 1 in only:
            others.start()
            section = compute_section(r, nd, cpu, calls1)
            print_compute(section, "loopback")
            busy = others.stop()
            for row in section["rows"] if section else []:
                for op, cell in row["ops"].items():
                    ratio = med([x["ms"] for x in cell["ours"]]) / med([x["ms"] for x in cell["base"]])
                    summary.append((f"1. REDUCE {op}, {row['name']} vs nd.get + np.{op}", "client-visible", ratio,
                                    "<= 0.3", busy))
        if 2 in only:
            others.start()
            ratio = print_main_thread(main_thread(r, cpu, reps, calls2))
            summary.append(("2. REDUCE sum vs plain GET, main thread", "server-side", ratio, "<= 0.05", others.stop()))
        if 3 in only:
            others.start()
            ratio = print_stack(stack_reduce(r, nd, reps, calls3))
            summary.append(("3. STACK ... REDUCE mean vs STACK + mean", "client-visible", ratio, "<= 0.5",
                            others.stop()))
        if 4 in only:
            kinds = ["process", "thread"] if args.clients == "both" else [args.clients]
            others.start()
            ratio = print_updates(updates(r, nd, port, 3 if args.quick else reps, kinds), kinds[0])
            summary.append((f"4. APPLY add vs WATCH/MULTI, {kinds[0]} clients", "throughput", ratio, ">= 5",
                            others.stop()))
        print(f"\n### summary (same-run ratios, medians; 1 Gbit/s figures: benches/network.py as root; load average"
              f" (1 min) before / after: {load:.2f} / {os.getloadavg()[0]:.2f})")
        print("    others: cores used by other processes while the measure ran (the machine's busy time minus this"
              " bench's client and server); the figures assume about 0")
        print(f"{'measure':52}{'kind':>16}{'ratio':>9}{'target':>8}{'others':>8}")
        for name, kind, ratio, target, busy in summary:
            ok = ratio is not None and (ratio <= float(target[3:]) if target.startswith("<=") else
                                        ratio >= float(target[3:]))
            print(f"{name:52}{kind:>16}{fmt_ratio(ratio):>9}{target:>8}{busy:8.2f}{'' if ok else '  MISSED'}")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def fmt_ratio(ratio: Optional[float]) -> str:
    return "-" if ratio is None else f"{ratio:.4f}" if ratio < 0.01 else f"{ratio:.3f}"


if __name__ == "__main__":
    main()
