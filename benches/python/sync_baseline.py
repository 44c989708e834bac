#!/usr/bin/env python3
"""CPython baseline for benches/sync.rs: the same operations in Python's multiprocessing.

Measures, in one process unless said otherwise:

- uncontended multiprocessing.Lock acquire + release
- uncontended threading.Lock acquire + release
- uncontended multiprocessing.Semaphore(1) acquire + release
- an Event ping-pong between 2 processes with two multiprocessing.Event objects (A sets ping
  and waits for pong, then clears it; B waits for ping, clears it and sets pong), the protocol
  of the `event_ping_pong` group of benches/sync.rs
- for reference, the same ping-pong between 2 threads with threading.Event, and the cost of the
  bare Python loop with two no-op C method calls (the interpreter's share of every uncontended number)

Each figure is the median of REPS repetitions, in nanoseconds per operation (one acquire +
release pair, or one round trip). Run: python3 benches/python/sync_baseline.py
Runtime: about 10-20 s.
"""

import multiprocessing as mp
import os
import platform
import statistics
import threading
import time

REPS = 9
UNCONTENDED_OPS = 500_000
PROCESS_ROUND_TRIPS = 2_000
THREAD_ROUND_TRIPS = 2_000


def time_pairs(acquire, release, n):
    """ns per acquire+release pair, timed over n pairs."""
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    return (time.perf_counter_ns() - t0) / n


def uncontended(make):
    results = []
    for _ in range(REPS):
        lock = make()
        time_pairs(lock.acquire, lock.release, 1_000)  # warm-up
        results.append(time_pairs(lock.acquire, lock.release, UNCONTENDED_OPS))
    return statistics.median(results)


def empty_loop():
    # Two calls of a C method that does nothing (clearing an empty list): the loop and call
    # overhead included in every uncontended figure above.
    nothing = [].clear
    return statistics.median(time_pairs(nothing, nothing, UNCONTENDED_OPS) for _ in range(REPS))


def partner(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def round_trips(ping, pong, n):
    """ns per round trip, timed over n round trips after one untimed warm-up round trip."""

    def round_trip():
        ping.set()
        pong.wait()
        pong.clear()

    round_trip()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        round_trip()
    return (time.perf_counter_ns() - t0) / n


def ping_pong_processes(ctx):
    results = []
    for _ in range(REPS):
        ping, pong = ctx.Event(), ctx.Event()
        child = ctx.Process(target=partner, args=(ping, pong, PROCESS_ROUND_TRIPS + 1))
        child.start()
        results.append(round_trips(ping, pong, PROCESS_ROUND_TRIPS))
        child.join()
        assert child.exitcode == 0, child.exitcode
    return statistics.median(results)


def ping_pong_threads():
    results = []
    for _ in range(REPS):
        ping, pong = threading.Event(), threading.Event()
        t = threading.Thread(target=partner, args=(ping, pong, THREAD_ROUND_TRIPS + 1))
        t.start()
        results.append(round_trips(ping, pong, THREAD_ROUND_TRIPS))
        t.join()
    return statistics.median(results)


def main():
    ctx = mp.get_context()
    print(
        f"# CPython {platform.python_version()} on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs, start method {ctx.get_start_method()}, "
        f"median of {REPS} repetitions"
    )
    started = time.monotonic()
    rows = [
        ("multiprocessing.Lock acquire+release", uncontended(ctx.Lock)),
        ("threading.Lock acquire+release", uncontended(threading.Lock)),
        ("multiprocessing.Semaphore acquire+release", uncontended(lambda: ctx.Semaphore(1))),
        ("(bare loop, two no-op C method calls)", empty_loop()),
        ("multiprocessing.Event ping-pong, 2 processes", ping_pong_processes(ctx)),
        ("threading.Event ping-pong, 2 threads", ping_pong_threads()),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  {'ns/op':>10}  {'ops/s':>12}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 12}")
    for name, ns in rows:
        print(f"{name:<{width}}  {ns:>10.1f}  {1e9 / ns:>12,.0f}")
    print(f"# total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
