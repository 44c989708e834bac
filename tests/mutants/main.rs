//! Mutants: deliberately broken primitives, written as user code against the public
//! [`Platform`] API, each of which the simulator must catch.
//!
//! Every module holds one mutant, the generic scenario that states the property it breaks, and
//! one test that
//! (a) explores the mutant under `Sim` and expects a failure of a given kind,
//! (b) replays the failure's file and expects the identical trace and kind, then replays it
//!     against the correct version and expects it to pass (a replay file is a regression
//!     test), and
//! (c) runs the same scenario, under the same configuration, with the correct primitive (the
//!     real one from `mpcheck::sync`, or a correct version of the same hand-written structure)
//!     and expects it to pass.
//!
//! [`kill`] does all three. The explorations ignore the `MPCHECK_*` environment variables: the
//! outcome of a mutant test must not depend on how CI is configured.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use mpcheck::platform::{Atomic, AtomicInt};
use mpcheck::sim::{
    explore, replay, Config, Failure, FailureKind, Granularity, Report, Sim, Timeouts,
};
use mpcheck::{Lock, Platform};
use mpcheck_properties::{Lincheck, SimEngine, Subject};

mod barrier_without_generation;
mod condition_if_not_while;
mod determinism;
mod engines;
mod event_clear_races_set;
mod lock_forgets_wake;
mod lock_load_store;
mod lock_never_takes_over;
mod lock_order_inversion;
mod lock_relaxed;
mod queue_forgets_putter;
mod queue_reads_before_count;
mod queue_stale_qsize;
mod queue_swaps_items;
mod reduction;
mod self_deadlock;
mod semaphore_check_then_decrement;
mod semaphore_value_never_existed;
mod slot_queue;
mod task_done_unchecked;
mod timed_wait_restarts_timeout;

/// A mutant's scenario, or its correct counterpart's: a monomorphized generic scenario.
pub type Scenario = fn();

/// A directory of its own under the system's temp directory, removed when dropped (also when
/// the test fails).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mpcheck-mutants-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Explores `mutant` under `config` and returns its failure, after checking that the replay
/// file it wrote reproduces the same kind of failure with the identical trace.
#[track_caller]
pub fn caught(name: &str, config: Config, mutant: Scenario) -> Failure {
    caught_and_fixed(name, config, mutant, None)
}

/// As [`caught`]; and with `fixed` (the correct version), that the replay file run against the
/// fixed code passes: a replay file is a regression test that turns green once the bug is
/// fixed.
#[track_caller]
fn caught_and_fixed(
    name: &str,
    config: Config,
    mutant: Scenario,
    fixed: Option<Scenario>,
) -> Failure {
    let dir = ScratchDir::new(name);
    // A mutant is a bug inside a primitive's operation: only the step granularity sees it.
    let config = config
        .granularity(Granularity::Step)
        .ignore_env()
        .name(name)
        .failure_dir(&dir.0);
    let failure = match explore(config, mutant) {
        Ok(report) => panic!("the mutant `{name}` survived: {report}"),
        Err(failure) => failure,
    };
    let file = failure
        .file()
        .unwrap_or_else(|| panic!("no replay file was written for `{name}`:\n{failure}"))
        .to_owned();
    assert!(
        file.starts_with(&dir.0),
        "{} is not in {}",
        file.display(),
        dir.0.display()
    );
    let again = match replay(&file, mutant) {
        Ok(report) => panic!("the replay of `{name}` passed: {report}\n{failure}"),
        Err(again) => again,
    };
    assert_eq!(again.kind(), failure.kind(), "{again}");
    assert_eq!(again.trace_text(), failure.trace_text(), "{again}");
    if let Some(fixed) = fixed {
        let report = replay(&file, fixed).unwrap_or_else(|again| {
            panic!("the replay of `{name}` against the fixed code failed:\n{again}")
        });
        let replayed = report
            .replayed()
            .expect("a replay says how it followed the file");
        println!("{name}, replayed against the fixed code: {replayed}");
    }
    // Shown with `--nocapture`: the headline (kind, execution, strategy, seed, schedule,
    // preemptions), the message and the trace.
    println!("{name} ({} steps): {failure}", failure.steps().len());
    failure
}

/// Explores `correct` under `config` and expects every execution to pass.
#[track_caller]
pub fn passes(name: &str, config: Config, correct: Scenario) -> Report {
    let config = config.granularity(Granularity::Step);
    let report = match explore(config.ignore_env().no_files(), correct) {
        Ok(report) => report,
        Err(failure) => panic!("the correct version of `{name}` failed:\n{failure}"),
    };
    println!("{name}, correct version: {report}");
    report
}

/// (a), (b) and (c) for one mutant: `mutant` fails under `config` and its replay file
/// reproduces the failure, and passes when run against `correct`; `correct` passes under the
/// same `config`.
#[track_caller]
pub fn kill(name: &str, config: Config, mutant: Scenario, correct: Scenario) -> Failure {
    let failure = caught_and_fixed(name, config.clone(), mutant, Some(correct));
    passes(name, config, correct);
    failure
}

/// Checks that `failure` is of `kind` and that its message contains `says`.
#[track_caller]
pub fn assert_failure(failure: &Failure, kind: FailureKind, says: &str) {
    assert_eq!(failure.kind(), kind, "{failure}");
    assert!(failure.message().contains(says), "{failure}");
}

/// The linearizability check that catches the mutants whose histories are wrong but whose
/// scenarios pass (`queue_stale_qsize`, `semaphore_value_never_existed`, `queue_swaps_items`;
/// also used by `engines.rs`): 30 workloads of 2 or 3 tasks, 1 to 3 calls each.
pub fn lincheck() -> Lincheck {
    Lincheck::new().cases(30).tasks(2..=3).ops(1..=3)
}

/// The simulator's configuration for [`lincheck`]: PCT, timed waits giving up only when idle.
pub fn lincheck_sim() -> Config {
    Config::pct(3, 200)
        .timeouts(Timeouts::WhenIdle)
        .granularity(Granularity::Step)
        .ignore_env()
}

/// [`lincheck`] under [`lincheck_sim`]: `Mutant`'s histories are not linearizable, and a
/// returned value its report names (`says`) shows it; `Correct` (the real primitive) passes the
/// same check.
#[track_caller]
pub fn not_linearizable<Mutant: Subject<Sim>, Correct: Subject<Sim>>(says: &str) {
    let found = lincheck()
        .check::<Mutant, _>(&SimEngine(lincheck_sim().no_files()))
        .expect_err("the mutant's histories are not linearizable");
    println!("{found}");
    let message = &found.failed.message;
    assert!(message.contains("not linearizable"), "{found}");
    assert!(message.contains(says), "{found}");
    lincheck().assert::<Correct, _>(&SimEngine(lincheck_sim()));
}

/// Spawns a task on `P` (its start shows the caller's line).
#[track_caller]
pub fn spawn<P: Platform, T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> mpcheck::thread::JoinHandle<T, P> {
    mpcheck::thread::spawn::<P, _, _>(f)
}

/// What the lock scenarios need of a lock: `acquire` and `release`, nothing else.
pub trait TestLock<P: Platform>: Send + Sync + 'static {
    fn new() -> Self;
    fn acquire(&self);
    fn release(&self);
}

impl<P: Platform> TestLock<P> for Lock<P> {
    fn new() -> Self {
        Lock::new()
    }
    fn acquire(&self) {
        Lock::acquire(self).expect("no process dies in these scenarios")
    }
    fn release(&self) {
        Lock::release(self).expect("released by the task that acquired it");
    }
}

/// Counts the tasks inside a critical section and panics when more than `allowed` are.
pub struct Inside<P: Platform> {
    count: P::AtomicU32,
    allowed: u32,
}

impl<P: Platform> Inside<P> {
    pub fn new(allowed: u32) -> Arc<Self> {
        let inside = Self {
            count: P::AtomicU32::new(0),
            allowed,
        };
        inside.count.label("inside");
        Arc::new(inside)
    }

    /// One pass through the critical section.
    pub fn pass(&self) {
        let now = self.count.fetch_add(1, SeqCst) + 1;
        assert!(
            now <= self.allowed,
            "{now} tasks inside a critical section that admits {}",
            self.allowed
        );
        self.count.fetch_sub(1, SeqCst);
    }
}

/// Mutual exclusion: two tasks each pass once through a critical section guarded by `L`; never
/// more than one is inside.
pub fn mutual_exclusion<P: Platform, L: TestLock<P>>() {
    let lock = Arc::new(L::new());
    let inside = Inside::<P>::new(1);
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            spawn::<P, _>(move || {
                lock.acquire();
                inside.pass();
                lock.release();
            })
        })
        .collect();
    for task in tasks {
        task.join().expect("a task of the scenario");
    }
}
