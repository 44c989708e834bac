#!/usr/bin/env python3
"""CPython baseline for benches/queue.rs: the same transfers with Python's queues.

Each program moves ITEMS small ints (0..ITEMS) from producers to consumers, like the `1to1` and
`2to2` groups of benches/queue.rs:

- multiprocessing.Queue() and multiprocessing.Queue(1024) between threads of one process
  (a put hands the item to the queue's feeder thread, which pickles it and writes it to a pipe:
  three threads share the GIL for 1to1)
- multiprocessing.Queue() and multiprocessing.Queue(1024) between processes (producers and
  consumers are child processes)
- for reference, queue.Queue() and queue.Queue(1024) between threads

Every worker waits at a barrier with the others, then records its start and end on the
system-wide monotonic clock (time.monotonic_ns, comparable across processes); a repetition's
time runs from the first start to the last end, as in benches/queue.rs. Workers are started
before that and are not timed. The consumers' sum is checked: every item arrived exactly once.

Each figure is the median of REPS repetitions, in items per second.
Run: python3 benches/python/queue_baseline.py
Runtime: about 30-60 s.
"""

import multiprocessing as mp
import os
import platform
import queue
import statistics
import threading
import time

REPS = 9
ITEMS = 20_000
BOUND = 1024


def producer(q, start_line, first, count, spans):
    start_line.wait()
    start = time.monotonic_ns()
    for item in range(first, first + count):
        q.put(item)
    spans.put((start, time.monotonic_ns(), 0))


def consumer(q, start_line, count, spans):
    start_line.wait()
    start = time.monotonic_ns()
    get = q.get
    total = 0
    for _ in range(count):
        total += get()
    spans.put((start, time.monotonic_ns(), total))


def transfer(make_queue, spawn, make_barrier, make_spans, producers, consumers):
    """Items/s of one repetition: ITEMS items from `producers` to `consumers` workers."""
    q = make_queue()
    start_line = make_barrier(producers + consumers)
    spans = make_spans()
    per_producer, per_consumer = ITEMS // producers, ITEMS // consumers
    workers = [
        spawn(producer, (q, start_line, p * per_producer, per_producer, spans))
        for p in range(producers)
    ] + [spawn(consumer, (q, start_line, per_consumer, spans)) for _ in range(consumers)]
    for w in workers:
        w.start()
    results = [spans.get() for _ in workers]
    for w in workers:
        w.join()
        assert getattr(w, "exitcode", 0) == 0, w.exitcode
    assert sum(r[2] for r in results) == ITEMS * (ITEMS - 1) // 2
    elapsed_ns = max(r[1] for r in results) - min(r[0] for r in results)
    return ITEMS / (elapsed_ns / 1e9)


def median_rate(*args):
    return statistics.median(transfer(*args) for _ in range(REPS))


def main():
    ctx = mp.get_context()
    print(
        f"# CPython {platform.python_version()} on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs, start method {ctx.get_start_method()}, "
        f"{ITEMS} items per repetition, median of {REPS} repetitions"
    )
    started = time.monotonic()

    def thread(target, args):
        return threading.Thread(target=target, args=args)

    def process(target, args):
        return ctx.Process(target=target, args=args)

    in_threads = (thread, threading.Barrier, queue.SimpleQueue)
    in_processes = (process, ctx.Barrier, ctx.SimpleQueue)
    rows = []
    for group, (producers, consumers) in (("1to1", (1, 1)), ("2to2", (2, 2))):
        for name, make_queue, where in (
            ("multiprocessing.Queue(), threads", ctx.Queue, in_threads),
            ("multiprocessing.Queue(1024), threads", lambda: ctx.Queue(BOUND), in_threads),
            ("multiprocessing.Queue(), processes", ctx.Queue, in_processes),
            ("multiprocessing.Queue(1024), processes", lambda: ctx.Queue(BOUND), in_processes),
            ("queue.Queue(), threads", queue.Queue, in_threads),
            ("queue.Queue(1024), threads", lambda: queue.Queue(BOUND), in_threads),
        ):
            rate = median_rate(make_queue, *where, producers, consumers)
            rows.append((f"{group} {name}", rate))

    width = max(len(name) for name, _ in rows)
    print(f"{'transfer':<{width}}  {'items/s':>12}  {'ns/item':>10}")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 10}")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>12,.0f}  {1e9 / rate:>10.1f}")
    print(f"# total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
