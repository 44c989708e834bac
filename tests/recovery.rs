//! Every recovery property (`mpcheck_properties::suite::recovery`: what Lock, RLock, BoundedSemaphore,
//! Condition, Pipe, Value, Queue and Barrier promise when a process using them dies) on every
//! engine, from one generic function each:
//! - the simulator kills: exhaustive search with one kill (it must say complete), PCT and
//!   random walk with one kill (and PCT with two);
//! - loom and shuttle run processes as tasks that nobody kills: the same functions as plain
//!   correctness checks;
//! - `Os` runs them on real processes (nobody kills them here; tests/owner_died_os.rs kills
//!   real lock holders);
//! - and the simulator's reduction with kills is cross-checked on each (one child process, one
//!   operation) against plain search, as tests/reduction.rs does for the other properties.

#[path = "support/reduction.rs"]
mod support;

use mpcheck::sim::{self, Config, Granularity, Sim};
use mpcheck_properties::suite::recovery;
use mpcheck_properties::suite::Size;

/// `config` with the timeouts the recovery property `name` needs.
fn timeouts_for(name: &str, config: Config) -> Config {
    recovery::find::<Sim>(name).unwrap().configure(config)
}

/// Randomized runs: the registry's sampled size (3 processes × 2 operations; a pipe: 1 × 2).
fn sampled(name: &str) -> Size {
    recovery::find::<Sim>(name).unwrap().sampled()
}

/// Cross-checks the reduction with one kill on the recovery property `name` (`run`) at
/// `granularity`, with `threads` child processes of one operation each, against plain search.
fn cross_check(name: &str, granularity: Granularity, threads: usize, run: fn(Size)) {
    if !recovery::find::<Sim>(name).unwrap().cross_checked {
        println!("{name}: too big to search without reduction");
        return;
    }
    let size = Size {
        threads,
        ops: 1,
        start_together: false,
    };
    let config = Config::dfs().granularity(granularity).kills(1);
    let compared = support::compare(name, timeouts_for(name, config), 40_000, move || run(size))
        .unwrap_or_else(|| panic!("{name} is too big to cross-check"));
    println!("{name} at {threads}x1 with a kill, {granularity:?}: {compared}");
}

macro_rules! recovery_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn sim_dfs_one_kill_complete() {
                    let size = recovery::find::<Sim>(stringify!($name)).unwrap().exhaustive;
                    let name = stringify!($name);
                    let config = timeouts_for(name, Config::dfs().granularity(mpcheck::sim::Granularity::Step).kills(1).ignore_env().name(name));
                    let report = sim::explore(config, move || recovery::$name::<Sim>(size))
                        .unwrap_or_else(|failure| panic!("{failure}"));
                    assert!(report.complete(), "{report}");
                }

                #[test]
                fn reduction_with_a_kill_keeps_every_outcome() {
                    cross_check(stringify!($name), Granularity::Step, 1, recovery::$name::<Sim>);
                }

                #[test]
                fn reduction_with_a_kill_keeps_every_outcome_of_operations() {
                    // Each operation one step taken when it can complete (its guard,
                    // `Platform::ready_when`, off once a writer of its word died), with two
                    // child processes (a pipe's property has one; a Condition's, with its timed
                    // waits, is too big to compare at two).
                    let name = stringify!($name);
                    let primitive = recovery::find::<Sim>(name).unwrap().primitive;
                    let threads = if primitive == "Condition" { 1 } else { 2 };
                    cross_check(name, Granularity::Operation, threads, recovery::$name::<Sim>);
                }

                #[test]
                fn sim_pct_and_random_with_kills() {
                    let size = sampled(stringify!($name));
                    let name = stringify!($name);
                    for config in [
                        Config::pct(3, 2_000).granularity(mpcheck::sim::Granularity::Step).kills(1),
                        Config::pct(2, 1_000).granularity(mpcheck::sim::Granularity::Step).kills(2),
                        Config::random(2_000).granularity(mpcheck::sim::Granularity::Step).kills(1),
                    ] {
                        sim::check(timeouts_for(name, config.ignore_env().name(name)), move || {
                            recovery::$name::<Sim>(size)
                        });
                    }
                }

                #[cfg(feature = "loom")]
                #[test]
                fn loom_without_kills() {
                    let size = recovery::find::<Sim>(stringify!($name)).unwrap().exhaustive;
                    mpcheck::loom::model_bounded(3, move || {
                        recovery::$name::<mpcheck::loom::Loom>(size)
                    });
                }

                #[cfg(feature = "shuttle")]
                #[test]
                fn shuttle_without_kills() {
                    use mpcheck::shuttle::{check_pct, check_random, Shuttle};
                    let size = sampled(stringify!($name));
                    check_random(move || recovery::$name::<Shuttle>(size), 300);
                    check_pct(move || recovery::$name::<Shuttle>(size), 300, 3);
                }

                #[test]
                fn os_real_processes() {
                    let size = sampled(stringify!($name));
                    for _ in 0..3 {
                        recovery::$name::<mpcheck::Os>(size);
                    }
                }
            }
        )*

        #[test]
        fn every_recovery_property_has_tests() {
            let tested = [$(stringify!($name)),*];
            let all: Vec<_> = recovery::all::<Sim>().into_iter().map(|p| p.name).collect();
            assert_eq!(tested.to_vec(), all);
        }
    };
}

mpcheck_properties::for_each_recovery_property!(recovery_tests);

/// Producers that wait for room while a consumer gets (`queue_producer_killed_alongside`: one
/// item, one slot): too big for exhaustive search with a kill, so PCT and random walk with one
/// kill, and PCT with two. (PCT with one kill found a dead producer's claim holding the last
/// ticket, which a putter's check before sleeping did not look at.)
#[test]
fn queue_producer_killed_alongside_under_pct_and_random_with_kills() {
    let size = mpcheck_properties::suite::Size {
        threads: 2,
        ops: 2,
        start_together: false,
    };
    for config in [
        Config::pct(3, 3_000)
            .granularity(mpcheck::sim::Granularity::Step)
            .kills(1),
        Config::pct(2, 1_000)
            .granularity(mpcheck::sim::Granularity::Step)
            .kills(2),
        Config::random(3_000)
            .granularity(mpcheck::sim::Granularity::Step)
            .kills(1),
    ] {
        sim::check(
            config.ignore_env().name("queue_producer_killed_alongside"),
            move || recovery::queue_producer_killed_alongside::<Sim>(size),
        );
    }
    for _ in 0..3 {
        recovery::queue_producer_killed_alongside::<mpcheck::Os>(size);
    }
}

/// The Python program of a notifier that dies: the main task takes the Condition's lock,
/// starts a child process that notifies under the lock, and waits once. On a real machine a
/// death wakes no futex waiter: if the child is killed before it notifies, the wait never
/// ends. The simulator says so, a deadlock, at both granularities (where a kill woke every
/// sleeper, it said "no failure, complete": the waiter went on as if notified), and its file
/// replays the deadlock exactly.
#[test]
fn a_condition_whose_notifier_died_leaves_its_waiter_asleep() {
    use mpcheck::{Condition, Process};
    fn program() {
        let cond = Condition::<Sim>::new();
        cond.acquire().expect("a fresh lock");
        let theirs = cond.clone();
        let child = Process::<Sim>::new(move || {
            theirs
                .acquire()
                .expect("the main task waits, lock released");
            theirs.notify(1).expect("held");
            theirs.release().expect("held");
        });
        child.start().expect("a process starts");
        cond.wait().expect("held");
        cond.release().expect("held");
        child.join().expect("a started process can be joined");
    }
    for granularity in [Granularity::Step, Granularity::Operation] {
        let dir = std::env::temp_dir().join(format!(
            "mpcheck-notifier-died-{}-{granularity:?}",
            std::process::id()
        ));
        let config = Config::dfs()
            .granularity(granularity)
            .kills(1)
            .failure_dir(&dir)
            .ignore_env();
        let failure = sim::explore(config, program)
            .expect_err("the waiter sleeps for ever once the notifier was killed");
        assert_eq!(failure.kind(), sim::FailureKind::Deadlock, "{failure}");
        assert!(failure.to_string().contains("KILLED"), "{failure}");
        let file = failure.file().expect("a replay file").to_owned();
        let again = sim::replay(&file, program).expect_err("the same deadlock");
        assert_eq!(again.trace_text(), failure.trace_text());
        let _ = std::fs::remove_dir_all(dir);
    }
}
