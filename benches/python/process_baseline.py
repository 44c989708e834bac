#!/usr/bin/env python3
"""CPython baseline for benches/process.rs: the same programs between real processes.

Every row is the program of the same name in benches/process.rs (its //! header has the
details), written with Python's multiprocessing and the 'fork' context unless said otherwise:

- queue_1to1: a child process puts N+1 small ints into a multiprocessing.Queue(); the parent
  gets the first (untimed: the child is running), then times N gets. Items per second.
- pipe_pingpong: Pipe() (duplex); the parent sends an int and waits for the child to send it
  back, N times. Round trips per second.
- pipe_oneway64: Pipe(duplex=False); a child sends N+1 messages of 64 bytes (send_bytes), the
  parent receives the first untimed, then times N recv_bytes. Messages per second.
- lock_2proc: 2 child processes, lined up at a Barrier, each acquire + release one Lock N
  times; time from the first start to the last end (time.monotonic_ns, system-wide).
  Acquire+release pairs per second, both processes together.
- value_2proc: the same with `with v.get_lock(): v.value += 1` on a Value('q'); the final
  value is checked. Increments per second.
- start_fork / start_spawn: Process(target=noop).start(); .join(), N times in a row, in the
  'fork' and 'spawn' contexts. Processes per second.

Each figure is the median of REPS repetitions. `--json` prints one JSON object (what the Rust
bench reads); without it, a table. `--quick` runs tiny counts (a smoke test).
Run: python3 benches/python/process_baseline.py    Runtime: about 30-40 s.
"""

import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time

REPS = 7
N = {
    "queue_1to1": 100_000,
    "pipe_pingpong": 20_000,
    "pipe_oneway64": 200_000,
    "lock_2proc": 300_000,
    "value_2proc": 150_000,
    "start_fork": 300,
    "start_spawn": 12,
}
PAYLOAD = bytes(range(64))


def noop():
    pass


def queue_producer(q, n):
    for i in range(n + 1):
        q.put(i)


def queue_1to1(ctx, n):
    q = ctx.Queue()
    p = ctx.Process(target=queue_producer, args=(q, n))
    p.start()
    total = q.get()
    get = q.get
    t0 = time.perf_counter_ns()
    for _ in range(n):
        total += get()
    elapsed = time.perf_counter_ns() - t0
    p.join()
    assert p.exitcode == 0 and total == n * (n + 1) // 2
    return n / (elapsed / 1e9)


def echo(conn):
    # Until the parent sends None (it cannot close the pipe for us: this child holds a copy of
    # the parent's end too, inherited by the fork).
    while (item := conn.recv()) is not None:
        conn.send(item)


def pipe_pingpong(ctx, n):
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=echo, args=(theirs,))
    p.start()
    theirs.close()
    send, recv = ours.send, ours.recv
    t0 = time.perf_counter_ns()
    for i in range(n):
        send(i)
        assert recv() == i
    elapsed = time.perf_counter_ns() - t0
    send(None)
    p.join()
    assert p.exitcode == 0
    return n / (elapsed / 1e9)


def writer64(conn, n):
    for _ in range(n + 1):
        conn.send_bytes(PAYLOAD)
    conn.close()


def pipe_oneway64(ctx, n):
    rx, tx = ctx.Pipe(duplex=False)
    p = ctx.Process(target=writer64, args=(tx, n))
    p.start()
    tx.close()
    recv = rx.recv_bytes
    assert recv() == PAYLOAD
    t0 = time.perf_counter_ns()
    for _ in range(n):
        recv()
    elapsed = time.perf_counter_ns() - t0
    rx.close()
    p.join()
    assert p.exitcode == 0
    return n / (elapsed / 1e9)


def lock_worker(lock, start_line, n, spans):
    acquire, release = lock.acquire, lock.release
    start_line.wait()
    t0 = time.monotonic_ns()
    for _ in range(n):
        acquire()
        release()
    spans.put((t0, time.monotonic_ns()))


def value_worker(value, start_line, n, spans):
    lock = value.get_lock()
    start_line.wait()
    t0 = time.monotonic_ns()
    for _ in range(n):
        with lock:
            value.value += 1
    spans.put((t0, time.monotonic_ns()))


def two_workers(ctx, target, shared, n):
    start_line = ctx.Barrier(2)
    spans = ctx.SimpleQueue()
    ps = [ctx.Process(target=target, args=(shared, start_line, n, spans)) for _ in range(2)]
    for p in ps:
        p.start()
    got = [spans.get() for _ in ps]
    for p in ps:
        p.join()
        assert p.exitcode == 0
    elapsed = max(e for _, e in got) - min(s for s, _ in got)
    return 2 * n / (elapsed / 1e9)


def lock_2proc(ctx, n):
    return two_workers(ctx, lock_worker, ctx.Lock(), n)


def value_2proc(ctx, n):
    value = ctx.Value("q", 0)
    rate = two_workers(ctx, value_worker, value, n)
    assert value.value == 2 * n
    return rate


def start_join(ctx, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        assert p.exitcode == 0
    return n / ((time.perf_counter_ns() - t0) / 1e9)


def main():
    as_json = "--json" in sys.argv
    reps = REPS
    counts = dict(N)
    if "--quick" in sys.argv:
        reps = 1
        counts = {k: max(2, v // 100) for k, v in counts.items()}
    fork = mp.get_context("fork")
    spawn = mp.get_context("spawn")
    programs = {
        "queue_1to1": lambda n: queue_1to1(fork, n),
        "pipe_pingpong": lambda n: pipe_pingpong(fork, n),
        "pipe_oneway64": lambda n: pipe_oneway64(fork, n),
        "lock_2proc": lambda n: lock_2proc(fork, n),
        "value_2proc": lambda n: value_2proc(fork, n),
        "start_fork": lambda n: start_join(fork, n),
        "start_spawn": lambda n: start_join(spawn, n),
    }
    started = time.monotonic()
    results = {}
    for key, program in programs.items():
        results[key] = statistics.median(program(counts[key]) for _ in range(reps))
    info = {
        "python": platform.python_version(),
        "reps": reps,
        "counts": counts,
        "seconds": round(time.monotonic() - started, 1),
    }
    if as_json:
        print(json.dumps({"info": info, "results": results}))
        return
    print(f"# CPython {info['python']}, {os.cpu_count()} CPUs, median of {reps} repetitions")
    for key, rate in results.items():
        print(f"{key:<16} {rate:>14,.0f} /s")
    print(f"# total {info['seconds']} s")


if __name__ == "__main__":
    main()
