//! Exploration engines side by side (issue 3): our simulator `mpcheck-sim` (the `Sim`
//! platform), loom 0.7 and shuttle 0.9, on the same two small programs.
//!
//! Run with `cargo bench --bench explore` (at most about 5 minutes); results and how to read them
//! are in `docs/PERFORMANCE.md`. The quantities are executions per second and executions to
//! exhaust a program, so this is a plain `fn main` that prints tables, not a criterion bench.
//!
//! Programs, written once per engine with that engine's own primitives:
//!
//! - `lock3x2`: the main thread spawns 3 threads, each of which 2 × locks a mutex, increments a
//!   shared counter and unlocks; the main thread joins them, locks and checks the count (6).
//!   loom and shuttle use their `sync::Mutex<u64>` (the data inside is not a scheduling point
//!   for either). `Sim` runs two variants: `sim-Lock`, mpcheck's real `Lock<Sim>` guarding an
//!   `mpcheck_sim::Cell<u64>` (every access of which is a step), and `sim-futex`, a minimal
//!   futex mutex written here on `mpcheck_sim::AtomicU32` + `futex_wait`/`futex_wake`, guarding a
//!   plain `std::cell::Cell<u64>` (not a step: loom's model of `Mutex<u64>` as closely as atomics
//!   allow).
//! - `sem2x4`: a semaphore with 2 permits; 4 threads each acquire, check with an atomic of the
//!   engine that at most 2 are inside, and release. `Sim` uses mpcheck's `Semaphore<Sim>`; loom
//!   and shuttle have no semaphore, so it is built here from their `Mutex<u32>` + `Condvar`.
//! - `tickets3`: the seeds' ticket office: 3 sellers share 2 tickets; each, under one lock,
//!   looks whether a ticket is left and takes it; the main thread joins them and checks that 2
//!   were sold. `Sim` uses mpcheck's `Lock<Sim>` and a `Value<i64, Sim>`; loom and shuttle a
//!   `Mutex<i64>`.
//! - `slots3x2`: as `lock3x2`, but each thread increments a counter of its own (an atomic of
//!   the engine, loaded and stored) under the one lock: critical sections that touch different
//!   data. `Sim` uses mpcheck's `Lock<Sim>`; loom and shuttle a `Mutex<()>`.
//!
//! `Sim` runs mpcheck's primitives at both granularities (`mpcheck_sim::Granularity`): the
//! engines named `sim-Lock`, `sim-Semaphore`, `sim-tickets` run at operation granularity (the
//! default: each operation of a primitive one step, as loom's and shuttle's `Mutex` is), those
//! ending in `-step` at step granularity (every atomic and futex call of the primitive's
//! algorithm a step: what mpcheck's property suite proves).
//!
//! Executions are counted by a plain `std` atomic, bumped at the start of every execution,
//! outside the engines (and cross-checked with what `Sim` and shuttle report).
//!
//! Measurements:
//!
//! - `random`: executions per second of a random walk, `Sim` `Config::random(n)` and shuttle
//!   `check_random(f, n)`, `n` calibrated to take about [`RANDOM_SECONDS`]. loom has no random
//!   mode; its rate is taken from its exhaustive runs.
//! - `pct`: the same for PCT at depth 3, `Sim` `Config::pct(3, n)` and shuttle
//!   `check_pct(f, n, 3)` (executions to the first bug are `benches/pct.rs`'s subject).
//! - `dfs`: exhaustive search until complete or until a cap: loom `model::Builder` (loom's
//!   defaults, no preemption bound, `max_duration` as the cap), shuttle's `DfsScheduler` under a
//!   `Runner` with `max_time` as the cap (wrapped to learn whether it was exhausted), `Sim`
//!   `Config::dfs()` capped by `iterations` (calibrated from a short run to take about the cap).
//!   `dfs-pb2`: the same with a preemption bound of 2 (loom and `Sim`, `sem2x4` only).
//!   `dfs-1round`: `Sim` in one unbounded round (`Config::rounds(false)`), the proof without
//!   the bounded rounds (each complete within its bound) that find bugs needing few
//!   preemptions first. `dfs-commute`: `Sim` with critical sections that commute
//!   (`Config::sections_commute(true)`).
//! - `loom-Lock` against `sim-Lock`, `dfs-pb2/3/4`: mpcheck's real `Lock` run by both engines (the
//!   `Loom` platform and the `Sim` platform), at equal preemption bounds: the same algorithm, so
//!   the executions each engine needs compare like for like.
//!
//! Arguments: words filter the measurements (each word must occur in the workload, the engine or
//! the mode: `cargo bench --bench explore -- lock3x2 sim`); `--cap=SECONDS` replaces every cap;
//! `--random-seconds=SECONDS` sets the length of the random and PCT runs; `--list` lists the
//! measurements. Without `--bench` (as `cargo test --benches` runs it) every cap is 1 s and
//! every random run 0.1 s: a smoke test.

use mpcheck_properties::suite::thousands;
use mpcheck_sim::Granularity;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

/// Executions started, by every engine: bumped first thing in every execution.
static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

fn execution_starts() {
    EXECUTIONS.fetch_add(1, Relaxed);
}

/// `lock3x2`: threads, and critical sections per thread.
const LOCK_THREADS: u64 = 3;
const LOCK_ROUNDS: u64 = 2;
/// `sem2x4`: permits and threads.
const SEM_PERMITS: u32 = 2;
const SEM_THREADS: u32 = 4;
/// `tickets3`: sellers and tickets.
const SELLERS: u32 = 3;
const TICKETS: i64 = 2;

/// How long each random run should take.
const RANDOM_SECONDS: f64 = 2.5;
/// The seed of `Sim`'s random runs.
const SEED: u64 = 3;
/// loom looks at its `max_duration` only every `checkpoint_interval` executions.
const LOOM_CHECK_EVERY: usize = 1000;

/// The programs on `Sim`.
mod on_sim {
    use std::rc::Rc;
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;

    use mpcheck::{Lock, Semaphore, Sim, Value};
    use mpcheck_sim::{futex_wait, futex_wake, AtomicU32, Cell};

    use super::{
        execution_starts, LOCK_ROUNDS, LOCK_THREADS, SELLERS, SEM_PERMITS, SEM_THREADS, TICKETS,
    };

    /// `tickets3` with mpcheck's `Lock<Sim>` and `Value<i64, Sim>`.
    pub fn tickets3() {
        execution_starts();
        let lock = Lock::<Sim>::new();
        let left = Value::<i64, Sim>::raw(TICKETS);
        let sellers: Vec<_> = (0..SELLERS)
            .map(|_| {
                let (lock, left) = (lock.clone(), left.clone());
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    let _held = lock.lock();
                    let n = left.get();
                    if n > 0 {
                        left.set(n - 1);
                    }
                })
            })
            .collect();
        for s in sellers {
            s.join().unwrap();
        }
        assert_eq!(left.get(), 0, "every ticket sold, none twice");
    }

    /// `slots3x2` with mpcheck's `Lock<Sim>`; the counters are simulated atomics.
    pub fn slots3x2() {
        execution_starts();
        let lock = Lock::<Sim>::new();
        let slots: Arc<Vec<AtomicU32>> =
            Arc::new((0..LOCK_THREADS).map(|_| AtomicU32::new(0)).collect());
        let threads: Vec<_> = (0..LOCK_THREADS as usize)
            .map(|t| {
                let (lock, slots) = (lock.clone(), slots.clone());
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    for _ in 0..LOCK_ROUNDS {
                        let _held = lock.lock();
                        let n = slots[t].load(SeqCst);
                        slots[t].store(n + 1, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for slot in slots.iter() {
            assert_eq!(u64::from(slot.load(SeqCst)), LOCK_ROUNDS);
        }
    }

    /// `lock3x2` with mpcheck's `Lock<Sim>`; the counter is a simulated cell.
    pub fn lock3x2_lock() {
        execution_starts();
        let lock = Lock::<Sim>::new();
        let counter = Arc::new(Cell::new(0u64));
        let threads: Vec<_> = (0..LOCK_THREADS)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    for _ in 0..LOCK_ROUNDS {
                        let _held = lock.lock();
                        // SAFETY: the lock is held.
                        unsafe { counter.with_mut(|n| *n += 1) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let _held = lock.lock();
        // SAFETY: the lock is held.
        assert_eq!(unsafe { counter.with(|n| *n) }, LOCK_THREADS * LOCK_ROUNDS);
    }

    /// A minimal futex mutex (Drepper's mutex #2 without spinning): 0 free, 1 locked, 2 locked
    /// with possible sleepers.
    struct FutexMutex {
        word: AtomicU32,
    }

    impl FutexMutex {
        fn lock(&self) {
            if self.word.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
                while self.word.swap(2, SeqCst) != 0 {
                    futex_wait(&self.word, 2, None);
                }
            }
        }

        fn unlock(&self) {
            if self.word.swap(0, SeqCst) == 2 {
                futex_wake(&self.word, 1);
            }
        }
    }

    /// `lock3x2` with [`FutexMutex`]; the counter is a plain `Cell`, not a scheduling point (as
    /// the data inside loom's and shuttle's `Mutex<u64>`).
    pub fn lock3x2_futex() {
        execution_starts();
        let shared = Rc::new((
            FutexMutex {
                word: AtomicU32::new(0),
            },
            std::cell::Cell::new(0u64),
        ));
        let threads: Vec<_> = (0..LOCK_THREADS)
            .map(|_| {
                let shared = shared.clone();
                mpcheck_sim::spawn(move || {
                    let (mutex, counter) = &*shared;
                    for _ in 0..LOCK_ROUNDS {
                        mutex.lock();
                        counter.set(counter.get() + 1);
                        mutex.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join();
        }
        let (mutex, counter) = &*shared;
        mutex.lock();
        assert_eq!(counter.get(), LOCK_THREADS * LOCK_ROUNDS);
        mutex.unlock();
    }

    /// `sem2x4` with mpcheck's `Semaphore<Sim>`.
    pub fn sem2x4() {
        execution_starts();
        let semaphore = Semaphore::<Sim>::new(SEM_PERMITS);
        let inside = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..SEM_THREADS)
            .map(|_| {
                let (semaphore, inside) = (semaphore.clone(), inside.clone());
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    semaphore.acquire().unwrap();
                    let before = inside.fetch_add(1, SeqCst);
                    assert!(before < SEM_PERMITS, "{} inside", before + 1);
                    inside.fetch_sub(1, SeqCst);
                    semaphore.release().unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// The programs loom and shuttle share, written against std-shaped names (`Arc`, `Mutex`,
/// `Condvar`, `thread`, `AtomicU32`) that each module imports from its engine.
macro_rules! std_shaped_programs {
    () => {
        pub fn slots3x2() {
            execution_starts();
            let lock = Arc::new(Mutex::new(()));
            let slots: Arc<Vec<AtomicU32>> =
                Arc::new((0..LOCK_THREADS).map(|_| AtomicU32::new(0)).collect());
            let threads: Vec<_> = (0..LOCK_THREADS as usize)
                .map(|t| {
                    let (lock, slots) = (lock.clone(), slots.clone());
                    thread::spawn(move || {
                        for _ in 0..LOCK_ROUNDS {
                            let _held = lock.lock().unwrap();
                            let n = slots[t].load(SeqCst);
                            slots[t].store(n + 1, SeqCst);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            for slot in slots.iter() {
                assert_eq!(u64::from(slot.load(SeqCst)), LOCK_ROUNDS);
            }
        }

        pub fn tickets3() {
            execution_starts();
            let left = Arc::new(Mutex::new(TICKETS));
            let sellers: Vec<_> = (0..SELLERS)
                .map(|_| {
                    let left = left.clone();
                    thread::spawn(move || {
                        let mut n = left.lock().unwrap();
                        if *n > 0 {
                            *n -= 1;
                        }
                    })
                })
                .collect();
            for s in sellers {
                s.join().unwrap();
            }
            assert_eq!(*left.lock().unwrap(), 0, "every ticket sold, none twice");
        }

        pub fn lock3x2() {
            execution_starts();
            let counter = Arc::new(Mutex::new(0u64));
            let threads: Vec<_> = (0..LOCK_THREADS)
                .map(|_| {
                    let counter = counter.clone();
                    thread::spawn(move || {
                        for _ in 0..LOCK_ROUNDS {
                            *counter.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(*counter.lock().unwrap(), LOCK_THREADS * LOCK_ROUNDS);
        }

        /// A counting semaphore from a mutex and a condition variable.
        struct Semaphore {
            permits: Mutex<u32>,
            available: Condvar,
        }

        impl Semaphore {
            fn acquire(&self) {
                let mut permits = self.permits.lock().unwrap();
                while *permits == 0 {
                    permits = self.available.wait(permits).unwrap();
                }
                *permits -= 1;
            }

            fn release(&self) {
                *self.permits.lock().unwrap() += 1;
                self.available.notify_one();
            }
        }

        pub fn sem2x4() {
            execution_starts();
            let semaphore = Arc::new(Semaphore {
                permits: Mutex::new(SEM_PERMITS),
                available: Condvar::new(),
            });
            let inside = Arc::new(AtomicU32::new(0));
            let threads: Vec<_> = (0..SEM_THREADS)
                .map(|_| {
                    let (semaphore, inside) = (semaphore.clone(), inside.clone());
                    thread::spawn(move || {
                        semaphore.acquire();
                        let before = inside.fetch_add(1, SeqCst);
                        assert!(before < SEM_PERMITS, "{} inside", before + 1);
                        inside.fetch_sub(1, SeqCst);
                        semaphore.release();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
    };
}

/// The programs on loom.
mod on_loom {
    use loom::sync::atomic::AtomicU32;
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;
    use std::sync::atomic::Ordering::SeqCst;

    use super::{
        execution_starts, LOCK_ROUNDS, LOCK_THREADS, SELLERS, SEM_PERMITS, SEM_THREADS, TICKETS,
    };

    std_shaped_programs!();

    /// `lock3x2` with mpcheck's real `Lock` on the `Loom` platform: the same code as
    /// `on_sim::lock3x2_lock` runs on `Sim`, so the two engines explore the same algorithm.
    pub fn lock3x2_lock() {
        use mpcheck::loom::Loom;
        use mpcheck::platform::SharedCell;
        use mpcheck::{Lock, Platform};
        execution_starts();
        let lock = Lock::<Loom>::new();
        let counter = Arc::new(<Loom as Platform>::Cell::<u64>::new(0));
        let threads: Vec<_> = (0..LOCK_THREADS)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                mpcheck::thread::spawn::<Loom, _, _>(move || {
                    for _ in 0..LOCK_ROUNDS {
                        let _held = lock.lock();
                        // SAFETY: the lock is held.
                        unsafe { counter.with_mut(|c| *c += 1) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let _held = lock.lock();
        // SAFETY: the lock is held.
        assert_eq!(unsafe { counter.with(|c| *c) }, LOCK_THREADS * LOCK_ROUNDS);
    }
}

/// The programs on shuttle.
mod on_shuttle {
    use shuttle::sync::atomic::AtomicU32;
    use shuttle::sync::{Arc, Condvar, Mutex};
    use shuttle::thread;
    use std::sync::atomic::Ordering::SeqCst;

    use super::{
        execution_starts, LOCK_ROUNDS, LOCK_THREADS, SELLERS, SEM_PERMITS, SEM_THREADS, TICKETS,
    };

    std_shaped_programs!();
}

/// What one measurement found.
struct Outcome {
    executions: u64,
    seconds: f64,
    /// Exhaustive modes: whether the search covered its whole space (within the preemption
    /// bound, if the mode has one) rather than being stopped by the cap.
    complete: Option<bool>,
    /// `Sim` only: scheduling points, all executions together.
    steps: Option<u64>,
    /// What stopped the run if it was not complete, for the table.
    cap: String,
    /// Peak resident memory during the run, in MiB, where Linux tells.
    peak_mib: Option<f64>,
    /// The share of the row's wall-clock time this thread spent on a CPU, in per cent, where
    /// Linux tells: well below 100 means other processes took the CPU and the rates are low.
    cpu_percent: Option<f64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.executions as f64 / self.seconds.max(1e-9)
    }
}

/// Runs `f`, timing it and counting the executions it starts.
fn measured(f: impl FnOnce()) -> (u64, f64) {
    let before = EXECUTIONS.load(SeqCst);
    let start = Instant::now();
    f();
    let seconds = start.elapsed().as_secs_f64();
    (EXECUTIONS.load(SeqCst) - before, seconds)
}

/// Runs `run(n)` with `n` growing from 1000 until a run takes at least 0.2 s (or `stop` says
/// the outcome is final), then once more with `n` chosen to take about `seconds`.
fn calibrated(
    seconds: f64,
    mut run: impl FnMut(u64) -> Outcome,
    stop: impl Fn(&Outcome) -> bool,
) -> Outcome {
    let mut n = 1000;
    loop {
        let probe = run(n);
        if stop(&probe) {
            return probe;
        }
        if probe.seconds >= 0.2 || n >= 1 << 40 {
            let wanted = (probe.rate() * seconds).max(1000.0) as u64;
            return run(wanted);
        }
        n *= 4;
    }
}

/// Resets the kernel's peak-RSS counter of this process (Linux; ignored elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Nanoseconds this thread has spent on a CPU (Linux's schedstat; every engine runs its
/// executions on the calling thread).
fn cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The peak RSS since the last [`reset_peak_rss`], in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs at most `n` executions of `program` under `config`. `bounded`: the configuration has a
/// preemption bound, so the report never says complete; the search then covered its space if it
/// ran out of executions before `n`.
fn sim_run(config: mpcheck_sim::Config, program: fn(), n: u64, bounded: bool) -> Outcome {
    let mut report = None;
    let (executions, seconds) = measured(|| {
        report = Some(
            mpcheck_sim::explore(config.iterations(n).ignore_env().no_files(), program)
                .unwrap_or_else(|failure| panic!("{failure}")),
        );
    });
    let report = report.unwrap();
    assert_eq!(
        executions,
        report.executions(),
        "Sim ran the program once per execution"
    );
    Outcome {
        executions,
        seconds,
        complete: Some(report.complete() || (bounded && executions < n)),
        steps: Some(report.steps()),
        cap: if !bounded && executions < n {
            // The search ended by itself yet is not complete: it dropped work items.
            "search ended, work-item limit hit".to_owned()
        } else {
            format!("cap {} executions", thousands(n))
        },
        peak_mib: None,
        cpu_percent: None,
    }
}

fn sim_random(program: fn(), seconds: f64) -> Outcome {
    let mut outcome = calibrated(
        seconds,
        |n| sim_run(mpcheck_sim::Config::random(n).seed(SEED), program, n, false),
        |_| false,
    );
    outcome.complete = None;
    outcome
}

/// Executions per second of PCT at depth 3 (`Config::pct(3, n)`), `n` calibrated as for the
/// random walks.
fn sim_pct(program: fn(), seconds: f64) -> Outcome {
    let mut outcome = calibrated(
        seconds,
        |n| sim_run(mpcheck_sim::Config::pct(3, n).seed(SEED), program, n, false),
        |_| false,
    );
    outcome.complete = None;
    outcome
}

/// `Sim` DFS, capped by a number of executions calibrated to take about `cap` seconds (the
/// search has no time limit of its own).
fn sim_dfs(program: fn(), bound: Option<u32>, cap: f64) -> Outcome {
    sim_dfs_at(Granularity::Operation, program, bound, cap)
}

/// [`sim_dfs`] at step granularity: every atomic and futex call of a primitive a step.
fn sim_dfs_step(program: fn(), bound: Option<u32>, cap: f64) -> Outcome {
    sim_dfs_at(Granularity::Step, program, bound, cap)
}

/// [`sim_dfs`] in one unbounded round (`Config::rounds(false)`): a proof, without the rounds
/// of growing preemption bound that find bugs needing few preemptions first.
fn sim_dfs_one_round(program: fn(), cap: f64) -> Outcome {
    let config = mpcheck_sim::Config::dfs().rounds(false);
    sim_dfs_config(config, program, None, cap)
}

/// [`sim_dfs`] in one unbounded round with critical sections that commute
/// (`Config::sections_commute(true)`).
fn sim_dfs_commute(program: fn(), cap: f64) -> Outcome {
    let config = mpcheck_sim::Config::dfs()
        .rounds(false)
        .sections_commute(true);
    sim_dfs_config(config, program, None, cap)
}

fn sim_dfs_at(granularity: Granularity, program: fn(), bound: Option<u32>, cap: f64) -> Outcome {
    let config = match bound {
        Some(b) => mpcheck_sim::Config::dfs().preemption_bound(b),
        None => mpcheck_sim::Config::dfs(),
    }
    .granularity(granularity);
    sim_dfs_config(config, program, bound, cap)
}

fn sim_dfs_config(
    config: mpcheck_sim::Config,
    program: fn(),
    bound: Option<u32>,
    cap: f64,
) -> Outcome {
    let mut outcome = calibrated(
        cap,
        |n| sim_run(config.clone(), program, n, bound.is_some()),
        |o| o.complete == Some(true),
    );
    if outcome.cap.starts_with("cap") {
        outcome.cap = format!("{} ≈ {cap:.0} s", outcome.cap);
    }
    outcome
}

fn shuttle_random(program: fn(), seconds: f64) -> Outcome {
    shuttle_sampled(program, seconds, |program, n| {
        shuttle::check_random(program, n)
    })
}

/// shuttle's PCT at depth 3, as [`sim_pct`].
fn shuttle_pct(program: fn(), seconds: f64) -> Outcome {
    shuttle_sampled(program, seconds, |program, n| {
        shuttle::check_pct(program, n, 3)
    })
}

/// A sampling run of shuttle (`check(program, n)`), `n` calibrated to take about `seconds`.
fn shuttle_sampled(program: fn(), seconds: f64, check: fn(fn(), usize)) -> Outcome {
    calibrated(
        seconds,
        |n| {
            let (executions, seconds) = measured(|| check(program, n as usize));
            assert_eq!(executions, n, "shuttle ran the program once per execution");
            Outcome {
                executions,
                seconds,
                complete: None,
                steps: None,
                cap: format!("{n} executions"),
                peak_mib: None,
                cpu_percent: None,
            }
        },
        |_| false,
    )
}

/// A scheduler that notes whether the one it wraps ran out of executions (rather than the
/// runner's time limit stopping it).
struct NoteExhaustion<S> {
    inner: S,
    exhausted: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<S: shuttle::scheduler::Scheduler> shuttle::scheduler::Scheduler for NoteExhaustion<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        let schedule = self.inner.new_execution();
        self.exhausted.set(schedule.is_none());
        schedule
    }

    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        is_yielding: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        self.inner.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

fn shuttle_dfs(program: fn(), cap: f64) -> Outcome {
    let exhausted = std::rc::Rc::new(std::cell::Cell::new(false));
    let scheduler = NoteExhaustion {
        inner: shuttle::scheduler::DfsScheduler::new(None, false),
        exhausted: exhausted.clone(),
    };
    let mut config = shuttle::Config::new();
    config.max_time = Some(Duration::from_secs_f64(cap));
    let mut ran = 0;
    let (executions, seconds) = measured(|| {
        ran = shuttle::Runner::new(scheduler, config).run(program);
    });
    assert_eq!(
        executions, ran as u64,
        "shuttle ran the program once per execution"
    );
    Outcome {
        executions,
        seconds,
        complete: Some(exhausted.get()),
        steps: None,
        cap: format!("cap {cap:.0} s"),
        peak_mib: None,
        cpu_percent: None,
    }
}

fn loom_dfs(program: fn(), bound: Option<usize>, cap: f64) -> Outcome {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = bound;
    builder.max_duration = Some(Duration::from_secs_f64(cap));
    builder.checkpoint_interval = LOOM_CHECK_EVERY;
    let (executions, seconds) = measured(|| builder.check(program));
    // loom stops for time only just before execution k · LOOM_CHECK_EVERY, and says nothing.
    let stopped = seconds >= cap && (executions + 1) % LOOM_CHECK_EVERY as u64 == 0;
    Outcome {
        executions,
        seconds,
        complete: Some(!stopped),
        steps: None,
        cap: format!("cap {cap:.0} s"),
        peak_mib: None,
        cpu_percent: None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Random,
    Pct,
    Dfs,
    DfsBound2,
    DfsBound3,
    DfsBound4,
    DfsOneRound,
    DfsCommute,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Random => "random",
            Mode::Pct => "pct",
            Mode::Dfs => "dfs",
            Mode::DfsBound2 => "dfs-pb2",
            Mode::DfsBound3 => "dfs-pb3",
            Mode::DfsBound4 => "dfs-pb4",
            Mode::DfsOneRound => "dfs-1round",
            Mode::DfsCommute => "dfs-commute",
        }
    }

    /// The preemption bound of a bounded exhaustive mode.
    fn bound(self) -> Option<u32> {
        match self {
            Mode::DfsBound2 => Some(2),
            Mode::DfsBound3 => Some(3),
            Mode::DfsBound4 => Some(4),
            _ => None,
        }
    }
}

/// One row of the tables: what runs, and its cap in seconds (0 for random runs).
struct Measurement {
    workload: &'static str,
    engine: &'static str,
    mode: Mode,
    cap: f64,
    run: fn(f64) -> Outcome,
}

fn measurements() -> Vec<Measurement> {
    use Mode::*;
    let m = |workload, engine, mode, cap, run| Measurement {
        workload,
        engine,
        mode,
        cap,
        run,
    };
    vec![
        m("lock3x2", "sim-Lock", Random, 0.0, |s| {
            sim_random(on_sim::lock3x2_lock, s)
        }),
        m("lock3x2", "sim-futex", Random, 0.0, |s| {
            sim_random(on_sim::lock3x2_futex, s)
        }),
        m("lock3x2", "shuttle", Random, 0.0, |s| {
            shuttle_random(on_shuttle::lock3x2, s)
        }),
        m("sem2x4", "sim-Semaphore", Random, 0.0, |s| {
            sim_random(on_sim::sem2x4, s)
        }),
        m("sem2x4", "shuttle", Random, 0.0, |s| {
            shuttle_random(on_shuttle::sem2x4, s)
        }),
        m("lock3x2", "sim-Lock", Pct, 0.0, |s| {
            sim_pct(on_sim::lock3x2_lock, s)
        }),
        m("lock3x2", "shuttle", Pct, 0.0, |s| {
            shuttle_pct(on_shuttle::lock3x2, s)
        }),
        m("sem2x4", "sim-Semaphore", Pct, 0.0, |s| {
            sim_pct(on_sim::sem2x4, s)
        }),
        m("sem2x4", "shuttle", Pct, 0.0, |s| {
            shuttle_pct(on_shuttle::sem2x4, s)
        }),
        m("lock3x2", "loom", Dfs, 60.0, |c| {
            loom_dfs(on_loom::lock3x2, None, c)
        }),
        m("lock3x2", "shuttle", Dfs, 60.0, |c| {
            shuttle_dfs(on_shuttle::lock3x2, c)
        }),
        m("lock3x2", "sim-Lock", Dfs, 35.0, |c| {
            sim_dfs(on_sim::lock3x2_lock, None, c)
        }),
        m("lock3x2", "sim-Lock", DfsOneRound, 35.0, |c| {
            sim_dfs_one_round(on_sim::lock3x2_lock, c)
        }),
        m("lock3x2", "sim-Lock-step", Dfs, 20.0, |c| {
            sim_dfs_step(on_sim::lock3x2_lock, None, c)
        }),
        m("lock3x2", "sim-futex", Dfs, 35.0, |c| {
            sim_dfs(on_sim::lock3x2_futex, None, c)
        }),
        m("slots3x2", "loom", Dfs, 30.0, |c| {
            loom_dfs(on_loom::slots3x2, None, c)
        }),
        m("slots3x2", "shuttle", Dfs, 30.0, |c| {
            shuttle_dfs(on_shuttle::slots3x2, c)
        }),
        m("slots3x2", "sim-Lock", DfsOneRound, 30.0, |c| {
            sim_dfs_one_round(on_sim::slots3x2, c)
        }),
        m("slots3x2", "sim-Lock", DfsCommute, 30.0, |c| {
            sim_dfs_commute(on_sim::slots3x2, c)
        }),
        m("sem2x4", "loom", Dfs, 30.0, |c| {
            loom_dfs(on_loom::sem2x4, None, c)
        }),
        m("sem2x4", "loom", DfsBound2, 30.0, |c| {
            loom_dfs(on_loom::sem2x4, Some(2), c)
        }),
        m("sem2x4", "shuttle", Dfs, 30.0, |c| {
            shuttle_dfs(on_shuttle::sem2x4, c)
        }),
        m("sem2x4", "sim-Semaphore", Dfs, 60.0, |c| {
            sim_dfs(on_sim::sem2x4, None, c)
        }),
        m("sem2x4", "sim-Semaphore", DfsOneRound, 60.0, |c| {
            sim_dfs_one_round(on_sim::sem2x4, c)
        }),
        m("sem2x4", "sim-Semaphore-step", Dfs, 30.0, |c| {
            sim_dfs_step(on_sim::sem2x4, None, c)
        }),
        m("sem2x4", "sim-Semaphore", DfsBound2, 30.0, |c| {
            sim_dfs(on_sim::sem2x4, Some(2), c)
        }),
        m("tickets3", "loom", Dfs, 30.0, |c| {
            loom_dfs(on_loom::tickets3, None, c)
        }),
        m("tickets3", "shuttle", Dfs, 30.0, |c| {
            shuttle_dfs(on_shuttle::tickets3, c)
        }),
        m("tickets3", "sim-tickets", Dfs, 30.0, |c| {
            sim_dfs(on_sim::tickets3, None, c)
        }),
        m("tickets3", "sim-tickets", DfsOneRound, 30.0, |c| {
            sim_dfs_one_round(on_sim::tickets3, c)
        }),
        m("tickets3", "sim-tickets-step", Dfs, 30.0, |c| {
            sim_dfs_step(on_sim::tickets3, None, c)
        }),
        // The same code on both engines: mpcheck's `Lock` on the `Loom` platform and on `Sim`
        // at step granularity (the same algorithm, every step of it).
        m("lock3x2", "loom-Lock", DfsBound2, 30.0, |c| {
            loom_dfs(on_loom::lock3x2_lock, Some(2), c)
        }),
        m("lock3x2", "sim-Lock-step", DfsBound2, 30.0, |c| {
            sim_dfs_step(on_sim::lock3x2_lock, Some(2), c)
        }),
        m("lock3x2", "loom-Lock", DfsBound3, 30.0, |c| {
            loom_dfs(on_loom::lock3x2_lock, Some(3), c)
        }),
        m("lock3x2", "sim-Lock-step", DfsBound3, 30.0, |c| {
            sim_dfs_step(on_sim::lock3x2_lock, Some(3), c)
        }),
        m("lock3x2", "loom-Lock", DfsBound4, 60.0, |c| {
            loom_dfs(on_loom::lock3x2_lock, Some(4), c)
        }),
        m("lock3x2", "sim-Lock-step", DfsBound4, 30.0, |c| {
            sim_dfs_step(on_sim::lock3x2_lock, Some(4), c)
        }),
    ]
}

/// The issue's reference figures, used in the goals when loom did not run here.
const ISSUE_LOOM_LOCK3X2_EXECUTIONS: u64 = 116_319;

struct Options {
    filters: Vec<String>,
    cap: Option<f64>,
    random_seconds: f64,
    list: bool,
}

fn options() -> Options {
    let mut o = Options {
        filters: Vec::new(),
        cap: None,
        random_seconds: RANDOM_SECONDS,
        list: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        // Not `cargo bench`: a smoke test (`cargo test --benches`).
        o.cap = Some(1.0);
        o.random_seconds = 0.1;
    }
    for arg in args {
        if let Some(v) = arg.strip_prefix("--cap=") {
            o.cap = Some(v.parse().expect("--cap=SECONDS"));
        } else if let Some(v) = arg.strip_prefix("--random-seconds=") {
            o.random_seconds = v.parse().expect("--random-seconds=SECONDS");
        } else if arg == "--list" {
            o.list = true;
        } else if !arg.starts_with('-') {
            o.filters.push(arg.to_lowercase());
        }
    }
    o
}

fn selected(m: &Measurement, filters: &[String]) -> bool {
    filters.iter().all(|f| {
        [m.workload, m.engine, m.mode.name()]
            .iter()
            .any(|field| field.to_lowercase().contains(f.as_str()))
    })
}

fn result_text(m: &Measurement, o: &Outcome) -> String {
    match o.complete {
        None => "-".to_owned(),
        Some(true) if m.mode.bound().is_some() => {
            format!("**covered** (bound {})", m.mode.bound().unwrap_or(0))
        }
        Some(true) => "**complete**".to_owned(),
        Some(false) => format!("not exhausted ({})", o.cap),
    }
}

fn row(m: &Measurement, o: &Outcome) -> String {
    let steps = match o.steps {
        Some(s) if o.executions > 0 => format!("{:.1}", s as f64 / o.executions as f64),
        _ => "-".to_owned(),
    };
    let peak = o
        .peak_mib
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}"));
    let cpu = o
        .cpu_percent
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}"));
    format!(
        "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} |",
        m.workload,
        m.engine,
        m.mode.name(),
        thousands(o.executions),
        o.seconds,
        thousands(o.rate().round() as u64),
        result_text(m, o),
        steps,
        peak,
        cpu
    )
}

fn find<'a>(
    results: &'a [(Measurement, Outcome)],
    workload: &str,
    engine: &str,
    mode: Mode,
) -> Option<&'a Outcome> {
    results
        .iter()
        .find(|(m, _)| m.workload == workload && m.engine == engine && m.mode == mode)
        .map(|(_, o)| o)
}

fn goals(results: &[(Measurement, Outcome)]) -> String {
    let mut out = String::new();
    let line = |out: &mut String, goal: &str, value: String, met: Option<bool>| {
        let met = match met {
            Some(true) => "**yes**",
            Some(false) => "no",
            None => "?",
        };
        let _ = writeln!(out, "| {goal} | {value} | {met} |");
    };
    out.push_str("| goal | measured | met? |\n|---|---|---|\n");
    for (workload, sim, mode) in [
        ("lock3x2", "sim-Lock", Mode::Random),
        ("lock3x2", "sim-futex", Mode::Random),
        ("sem2x4", "sim-Semaphore", Mode::Random),
        ("lock3x2", "sim-Lock", Mode::Pct),
        ("sem2x4", "sim-Semaphore", Mode::Pct),
    ] {
        if let (Some(s), Some(sh)) = (
            find(results, workload, sim, mode),
            find(results, workload, "shuttle", mode),
        ) {
            let ratio = s.rate() / sh.rate();
            let mode = mode.name();
            line(
                &mut out,
                &format!("{workload}: {sim} {mode} ≥ 2 × shuttle {mode} (exec/s)"),
                format!(
                    "{ratio:.2}× ({} vs {} exec/s)",
                    thousands(s.rate() as u64),
                    thousands(sh.rate() as u64)
                ),
                Some(ratio >= 2.0),
            );
        }
    }
    let loom = find(results, "lock3x2", "loom", Mode::Dfs)
        .filter(|o| o.complete == Some(true))
        .map(|o| (o.executions, "loom here"))
        .unwrap_or((ISSUE_LOOM_LOCK3X2_EXECUTIONS, "loom in the issue"));
    for mode in [Mode::Dfs, Mode::DfsOneRound] {
        let Some(s) = find(results, "lock3x2", "sim-Lock", mode) else {
            continue;
        };
        let complete = s.complete == Some(true);
        line(
            &mut out,
            &format!(
                "lock3x2: sim-Lock {} complete in ≤ 1,000 executions",
                mode.name()
            ),
            format!(
                "{} after {} executions ({} in {}: {})",
                if complete { "complete" } else { "not complete" },
                thousands(s.executions),
                loom.1,
                thousands(loom.0),
                format_args!("{:.3}×", s.executions as f64 / loom.0 as f64)
            ),
            Some(complete && s.executions <= 1_000),
        );
    }
    let exhausted_within =
        |out: &mut String, workload: &str, sim: &str, goal: String, ok: fn(&Outcome) -> bool| {
            for mode in [Mode::Dfs, Mode::DfsOneRound] {
                let Some(s) = find(results, workload, sim, mode) else {
                    continue;
                };
                let complete = s.complete == Some(true);
                line(
                    out,
                    &format!("{workload}: {sim} {} {goal}", mode.name()),
                    format!(
                        "{} after {} executions, {:.1} s",
                        if complete { "complete" } else { "not complete" },
                        thousands(s.executions),
                        s.seconds
                    ),
                    Some(complete && ok(s)),
                );
            }
        };
    exhausted_within(
        &mut out,
        "sem2x4",
        "sim-Semaphore",
        "complete within 10 s".to_owned(),
        |s: &Outcome| s.seconds <= 10.0,
    );
    exhausted_within(
        &mut out,
        "tickets3",
        "sim-tickets",
        "complete in ≤ 12 executions".to_owned(),
        |s: &Outcome| s.executions <= 12,
    );
    out
}

const HEADER: &str = "| workload | engine | mode | executions | seconds | exec/s | result | \
                      steps/exec | peak RSS MiB | CPU % |\n\
                      |---|---|---|---:|---:|---:|---|---:|---:|---:|";

fn main() {
    let options = options();
    let chosen: Vec<Measurement> = measurements()
        .into_iter()
        .filter(|m| selected(m, &options.filters))
        .collect();
    if options.list {
        for m in &chosen {
            println!(
                "{} {} {} (cap {:.0} s)",
                m.workload,
                m.engine,
                m.mode.name(),
                m.cap
            );
        }
        return;
    }
    println!(
        "explore: {} measurement(s); random runs ≈ {:.1} s each{}",
        chosen.len(),
        options.random_seconds,
        options
            .cap
            .map_or(String::new(), |c| format!(", every cap {c:.0} s"))
    );
    println!("{HEADER}");
    let started = Instant::now();
    let mut results = Vec::new();
    for mut m in chosen {
        if !matches!(m.mode, Mode::Random | Mode::Pct) {
            m.cap = options.cap.unwrap_or(m.cap);
        }
        let length = match m.mode {
            Mode::Random | Mode::Pct => options.random_seconds,
            _ => m.cap,
        };
        reset_peak_rss();
        let (wall, cpu) = (Instant::now(), cpu_nanos());
        let mut outcome = (m.run)(length);
        outcome.peak_mib = peak_rss_mib();
        outcome.cpu_percent = cpu
            .zip(cpu_nanos())
            .map(|(a, b)| (b - a) as f64 / wall.elapsed().as_nanos() as f64 * 100.0);
        println!("{}", row(&m, &outcome));
        results.push((m, outcome));
    }
    println!(
        "\nall measurements: {:.0} s\n\nGoals:\n\n{}",
        started.elapsed().as_secs_f64(),
        goals(&results)
    );
    println!(
        "loom has no random mode: its exec/s above is its rate during the exhaustive runs. \
         steps/exec: Sim's scheduling points per execution. Peak RSS: high-water mark of the \
         whole process during the row (reset before each row; includes the ~few MiB baseline). \
         CPU %: time on a CPU ÷ wall time during the row (calibration included); well below 100 \
         means something else was running and the row's rates are too low."
    );
}
