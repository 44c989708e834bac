//! Cost of mpcheck's primitives on the real OS ([`mpcheck::Os`]), side by side with
//! `std::sync` and `parking_lot`.
//!
//! Run with `cargo bench --bench sync`; results and how to read them are in
//! `docs/PERFORMANCE.md`, and `benches/python/sync_baseline.py` measures the same operations in
//! CPython's `multiprocessing` for comparison.
//!
//! Groups:
//!
//! - `uncontended`: one acquire + release of a free lock, one thread. mpcheck `Lock` by
//!   `acquire`/`release`, by the `lock()` guard and by `try_acquire`/`release`;
//!   `std::sync::Mutex<()>`, the std-shaped facade's `Mutex<()>` on `Os`
//!   (`mpcheck::facade::os::sync::Mutex`) and `parking_lot::Mutex<()>` lock + drop of the guard.
//! - `contended_2_threads`: two threads each run [`OPS_PER_THREAD`] critical sections on one
//!   lock (the same read-modify-write of a shared counter in each: a Relaxed load and store of
//!   an `AtomicU64`, which is correct only because the lock excludes the other thread). One
//!   iteration is one such batch; throughput is in critical sections per second. Threads are
//!   started and lined up at a barrier before the clock starts.
//! - `semaphore`: one acquire + release of a `Semaphore` (and a `BoundedSemaphore`) with a free
//!   unit, one thread.
//! - `event_ping_pong`: one iteration is one round trip between two threads using two events,
//!   `ping` and `pong`: A sets `ping` and waits for `pong`, then clears it; B waits for `ping`,
//!   clears it and sets `pong`. Compared with the same protocol on an event made of
//!   `std::sync::{Mutex<bool>, Condvar}`. The partner thread is started outside the timing.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mpcheck::{BoundedSemaphore, Event, Lock, Os, Semaphore};

/// Critical sections each thread runs per iteration of `contended_2_threads`.
const OPS_PER_THREAD: u64 = 10_000;
/// Threads in `contended_2_threads`.
const THREADS: u64 = 2;

/// Keeps a value on a cache line of its own (128 bytes: adjacent-line prefetch on x86), so the
/// lock word and the counter it protects do not share a line in one variant and not in another.
#[repr(align(128))]
struct Padded<T>(T);

/// A lock that can run a critical section: the one thing `contended_2_threads` needs.
trait CriticalSection: Sync {
    fn critical<R>(&self, f: impl FnOnce() -> R) -> R;
}

impl CriticalSection for Lock<Os> {
    #[inline]
    fn critical<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = self.lock();
        f()
    }
}

impl CriticalSection for Mutex<()> {
    #[inline]
    fn critical<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = self.lock().unwrap();
        f()
    }
}

impl CriticalSection for parking_lot::Mutex<()> {
    #[inline]
    fn critical<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = self.lock();
        f()
    }
}

/// The bench's configuration: the machine has 2 cores and is noisy, so few, short samples.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");

    let lock = Lock::<Os>::new();
    group.bench_function("mpcheck_Lock/acquire_release", |b| {
        b.iter(|| {
            let lock = black_box(&lock);
            lock.acquire().unwrap();
            lock.release().unwrap();
        })
    });
    group.bench_function("mpcheck_Lock/guard", |b| {
        b.iter(|| {
            let guard = black_box(&lock).lock();
            black_box(&guard);
            drop(guard);
        })
    });
    group.bench_function("mpcheck_Lock/try_acquire_release", |b| {
        b.iter(|| {
            let lock = black_box(&lock);
            assert!(lock.try_acquire());
            lock.release().unwrap();
        })
    });

    let std_mutex = Mutex::new(());
    group.bench_function("std_Mutex/lock_drop", |b| {
        b.iter(|| {
            let guard = black_box(&std_mutex).lock().unwrap();
            black_box(&guard);
            drop(guard);
        })
    });

    // The std-shaped facade's `Mutex<()>` on `Os`: what a program ported from std pays.
    let facade_mutex = mpcheck::facade::os::sync::Mutex::new(());
    group.bench_function("facade_Mutex/lock_drop", |b| {
        b.iter(|| {
            let guard = black_box(&facade_mutex).lock().unwrap();
            black_box(&guard);
            drop(guard);
        })
    });

    let pl_mutex = parking_lot::Mutex::new(());
    group.bench_function("parking_lot_Mutex/lock_drop", |b| {
        b.iter(|| {
            let guard = black_box(&pl_mutex).lock();
            black_box(&guard);
            drop(guard);
        })
    });

    group.finish();
}

/// Runs `iters` batches of [`OPS_PER_THREAD`] critical sections on each of [`THREADS`] threads
/// and returns the time from the first thread's start to the last thread's end.
fn run_contended<L: CriticalSection>(lock: &L, iters: u64) -> Duration {
    let counter = Padded(AtomicU64::new(0));
    let start_line = Barrier::new(THREADS as usize);
    let ops = iters * OPS_PER_THREAD;
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    start_line.wait();
                    let start = Instant::now();
                    for _ in 0..ops {
                        lock.critical(|| {
                            let n = counter.0.load(Relaxed);
                            counter.0.store(n + 1, Relaxed);
                        });
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Outside the timing: the lock really excluded (no increment was lost).
    assert_eq!(counter.0.into_inner(), THREADS * ops);
    let first_start = spans.iter().map(|s| s.0).min().unwrap();
    let last_end = spans.iter().map(|s| s.1).max().unwrap();
    last_end - first_start
}

fn contended_2_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("contended_2_threads");
    group.throughput(Throughput::Elements(THREADS * OPS_PER_THREAD));

    let lock = Padded(Lock::<Os>::new());
    group.bench_function("mpcheck_Lock", |b| {
        b.iter_custom(|iters| run_contended(&lock.0, iters))
    });
    let std_mutex = Padded(Mutex::new(()));
    group.bench_function("std_Mutex", |b| {
        b.iter_custom(|iters| run_contended(&std_mutex.0, iters))
    });
    let pl_mutex = Padded(parking_lot::Mutex::new(()));
    group.bench_function("parking_lot_Mutex", |b| {
        b.iter_custom(|iters| run_contended(&pl_mutex.0, iters))
    });

    group.finish();
}

fn semaphore(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore");

    let sem = Semaphore::<Os>::new(1);
    group.bench_function("mpcheck_Semaphore/acquire_release", |b| {
        b.iter(|| {
            let sem = black_box(&sem);
            sem.acquire().unwrap();
            sem.release().unwrap();
        })
    });
    group.bench_function("mpcheck_Semaphore/guard", |b| {
        b.iter(|| {
            let guard = black_box(&sem).guard();
            black_box(&guard);
            drop(guard);
        })
    });
    let bounded = BoundedSemaphore::<Os>::new(1);
    group.bench_function("mpcheck_BoundedSemaphore/acquire_release", |b| {
        b.iter(|| {
            let bounded = black_box(&bounded);
            bounded.acquire().unwrap();
            bounded.release().unwrap();
        })
    });

    group.finish();
}

/// An event as set/clear/wait, so one ping-pong serves both implementations.
trait Signal: Sync {
    fn set(&self);
    fn clear(&self);
    fn wait(&self);
}

impl Signal for Event<Os> {
    #[inline]
    fn set(&self) {
        Event::set(self)
    }
    #[inline]
    fn clear(&self) {
        Event::clear(self)
    }
    #[inline]
    fn wait(&self) {
        Event::wait(self)
    }
}

/// The textbook event on `std::sync`: a flag under a mutex and a condition variable (what
/// Python's `threading.Event` is).
#[derive(Default)]
struct CondvarEvent {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl Signal for CondvarEvent {
    fn set(&self) {
        *self.flag.lock().unwrap() = true;
        self.changed.notify_all();
    }
    fn clear(&self) {
        *self.flag.lock().unwrap() = false;
    }
    fn wait(&self) {
        let mut flag = self.flag.lock().unwrap();
        while !*flag {
            flag = self.changed.wait(flag).unwrap();
        }
    }
}

/// Times `iters` ping-pong round trips between this thread and a partner thread started (and
/// seen running, by one untimed round trip) before the clock starts.
fn run_ping_pong<S: Signal>(ping: &S, pong: &S, iters: u64) -> Duration {
    let round_trip = || {
        ping.set();
        pong.wait();
        pong.clear();
    };
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..=iters {
                ping.wait();
                ping.clear();
                pong.set();
            }
        });
        round_trip();
        let start = Instant::now();
        for _ in 0..iters {
            round_trip();
        }
        start.elapsed()
    })
}

fn bench_ping_pong<S: Signal>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    ping: S,
    pong: S,
) {
    let (ping, pong) = (Padded(ping), Padded(pong));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| run_ping_pong(&ping.0, &pong.0, iters))
    });
}

fn event_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_ping_pong");
    bench_ping_pong(
        &mut group,
        "mpcheck_Event",
        Event::<Os>::new(),
        Event::<Os>::new(),
    );
    bench_ping_pong(
        &mut group,
        "std_Mutex_Condvar",
        CondvarEvent::default(),
        CondvarEvent::default(),
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = uncontended, contended_2_threads, semaphore, event_ping_pong
}
criterion_main!(benches);
