//! The engine on small programs written directly against its API.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

#[path = "support/scratch.rs"]
mod scratch;

use scratch::Scratch;

use mpcheck_sim::{
    explore, futex_wait, futex_wake, now, sleep, spawn, AtomicU32, Choice, Config, FailureKind,
    WaitOutcome,
};

fn racy_increment() {
    racy_increment_reading_twice(false)
}

/// The racy increment; with `twice`, the main task reads the counter once more before it
/// checks it (the same bug, one step more).
fn racy_increment_reading_twice(twice: bool) {
    let n = Arc::new(AtomicU32::new(0));
    let m = n.clone();
    let t = spawn(move || {
        let v = m.load(SeqCst);
        m.store(v + 1, SeqCst);
    });
    let v = n.load(SeqCst);
    n.store(v + 1, SeqCst);
    t.join();
    if twice {
        n.load(SeqCst);
    }
    assert_eq!(n.load(SeqCst), 2, "lost update");
}

fn atomic_increment() {
    let n = Arc::new(AtomicU32::new(0));
    let m = n.clone();
    let t = spawn(move || {
        m.fetch_add(1, SeqCst);
    });
    n.fetch_add(1, SeqCst);
    t.join();
    assert_eq!(n.load(SeqCst), 2);
}

#[test]
fn dfs_finds_the_lost_update_and_shows_it() {
    let failure = explore(Config::dfs().no_files(), racy_increment).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(failure.preemptions(), 1);
    let text = failure.to_string();
    println!("{text}");
    assert!(text.contains("lost update"));
    assert!(text.contains("task 1"));
    assert!(text.contains("switch to task"));
}

#[test]
fn dfs_covers_a_correct_program_completely() {
    let report = explore(Config::dfs(), atomic_increment).unwrap();
    assert!(report.complete(), "{report}");
    assert!(report.executions() > 1);
}

/// A time limit stops the search between executions: with none left, not one runs, and the
/// report says the search stopped there rather than that it was bounded or complete.
#[test]
fn a_search_past_its_time_limit_stops_and_says_so() {
    let report = explore(
        Config::dfs().ignore_env().time_limit(Duration::ZERO),
        atomic_increment,
    )
    .unwrap();
    assert_eq!(report.executions(), 0, "{report}");
    assert!(!report.complete() && report.timed_out(), "{report}");
    assert!(
        report.to_string().ends_with("stopped at the time limit"),
        "{report}"
    );
    let report = explore(
        Config::dfs()
            .ignore_env()
            .time_limit(Duration::from_secs(3600)),
        atomic_increment,
    )
    .unwrap();
    assert!(report.complete() && !report.timed_out(), "{report}");
}

#[test]
fn random_and_pct_find_the_lost_update() {
    for config in [Config::random(1000), Config::pct(2, 1000)] {
        let failure = explore(config.no_files(), racy_increment).unwrap_err();
        assert_eq!(failure.kind(), FailureKind::Panic);
        assert!(failure.execution() <= 1000);
    }
}

/// The racy increment fixed by doing both increments in one task.
fn single_task_increment() {
    let n = AtomicU32::new(0);
    n.fetch_add(1, SeqCst);
    n.fetch_add(1, SeqCst);
    assert_eq!(n.load(SeqCst), 2);
}

/// The replay file of the racy increment's failure, in `scratch`.
fn racy_increment_file(scratch: &Scratch) -> std::path::PathBuf {
    let config = Config::dfs().failure_dir(&scratch.0).ignore_env();
    let failure = explore(config, racy_increment).unwrap_err();
    failure.file().expect("a replay file").to_owned()
}

#[test]
fn a_replay_file_passes_once_the_bug_is_fixed() {
    let scratch = Scratch::new("fixed");
    let file = racy_increment_file(&scratch);
    let report = mpcheck_sim::replay(&file, atomic_increment).expect("the fix passes");
    assert!(report.replayed().is_some(), "{report}");
    // One task only: the recorded switches to task 1 no longer fit.
    let report = mpcheck_sim::replay(&file, single_task_increment).expect("the fix passes");
    let replayed = report.replayed().expect("a replay");
    assert!(replayed.left, "{report}");
    assert!(replayed.followed < replayed.recorded, "{report}");
    assert!(
        report
            .to_string()
            .contains("left the recorded schedule at choice"),
        "{report}"
    );
}

#[test]
fn a_replay_that_still_fails_after_a_change_is_that_failure() {
    let scratch = Scratch::new("changed");
    let file = racy_increment_file(&scratch);
    // The same bug, one more step before the check: the recorded choices all fit, the trace
    // differs, the failure is the same kind.
    let changed = || racy_increment_reading_twice(true);
    let again = mpcheck_sim::replay(&file, changed).unwrap_err();
    assert_eq!(again.kind(), FailureKind::Panic, "{again}");
    assert!(again.message().contains("lost update"), "{again}");
    assert!(
        again
            .message()
            .contains("failed differently from the recorded execution"),
        "{again}"
    );
    assert!(again.message().contains("the trace differs"), "{again}");
}

#[test]
fn a_replay_whose_two_runs_differ_is_nondeterminism() {
    use std::sync::atomic::AtomicBool as StdBool;
    let scratch = Scratch::new("nondeterministic");
    let file = racy_increment_file(&scratch);
    // Racy on one run, atomic on the next: the same schedule gives two different traces.
    static FLIP: StdBool = StdBool::new(false);
    let flipping = || {
        if FLIP.fetch_xor(true, SeqCst) {
            atomic_increment()
        } else {
            racy_increment()
        }
    };
    let failure = mpcheck_sim::replay(&file, flipping).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Nondeterminism, "{failure}");
}

#[test]
fn failure_file_replays_to_the_identical_trace() {
    let dir = std::env::temp_dir().join(format!("mpcheck-sim-test-{}", std::process::id()));
    let failure = explore(Config::random(1000).failure_dir(&dir), racy_increment).unwrap_err();
    let file = failure.file().expect("a replay file").to_owned();
    let again = mpcheck_sim::replay(&file, racy_increment).unwrap_err();
    assert_eq!(again.kind(), FailureKind::Panic);
    assert_eq!(again.trace_text(), failure.trace_text());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deadlock_is_reported_with_the_waiter() {
    let failure = explore(Config::dfs().no_files(), || {
        let w = AtomicU32::new(0);
        w.label("Gate");
        futex_wait(&w, 0, None);
    })
    .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(
        failure.message().contains("Gate#1"),
        "{}",
        failure.message()
    );
}

#[test]
fn virtual_time_is_exact_and_instant() {
    let report = explore(Config::dfs(), || {
        let t0 = now();
        sleep(Duration::from_secs(3600));
        assert_eq!(now() - t0, 3_600_000_000_000);
    })
    .unwrap();
    assert!(report.complete());
    assert!(report.elapsed() < Duration::from_secs(60));
}

/// A sleep that would end past the clock's range never ends (as `Duration::MAX` does not on a
/// real machine): it neither moves the clock to its end, where no later deadline fits (a
/// 1 ms wait after it never timed out, and the search reported a deadlock), nor hides a
/// program that waits for it.
#[test]
fn a_sleep_past_the_end_of_the_clock_never_ends() {
    // A watchdog that sleeps forever and is never joined: the main task's timed wait times
    // out as it would on a real machine, whichever runs first.
    for config in [
        Config::dfs(),
        Config::dfs().reduction(false),
        Config::random(200),
    ] {
        let report = explore(config.no_files(), || {
            let _watchdog = spawn(|| sleep(Duration::MAX));
            let w = AtomicU32::new(0);
            let deadline = now() + 1_000_000;
            assert_eq!(futex_wait(&w, 0, Some(deadline)), WaitOutcome::TimedOut);
            assert_eq!(now(), deadline);
        })
        .unwrap();
        assert!(report.executions() > 0);
    }
    // The main task itself sleeping forever hangs: a deadlock that says why.
    let failure = explore(Config::dfs().no_files(), || sleep(Duration::MAX))
        .expect_err("a sleep that never ends hangs the program");
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(
        failure.message().contains("a sleep that never ends"),
        "{failure}"
    );
    // A long sleep that fits still ends, and moves the clock by exactly its length.
    explore(Config::dfs().no_files(), || {
        sleep(Duration::from_nanos(u64::MAX / 2));
        assert_eq!(now(), u64::MAX / 2);
        // One that would end exactly at the clock's end never does: a watchdog's.
        let _watchdog = spawn(|| sleep(Duration::from_nanos(u64::MAX / 2 + 1)));
        let w = AtomicU32::new(0);
        let deadline = now() + 1_000;
        assert_eq!(futex_wait(&w, 0, Some(deadline)), WaitOutcome::TimedOut);
    })
    .unwrap();
}

#[test]
fn a_timed_wait_is_explored_both_woken_and_timed_out() {
    let outcomes = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let seen = outcomes.clone();
    let report = explore(Config::dfs(), move || {
        let w = Arc::new(AtomicU32::new(0));
        let v = w.clone();
        let t = spawn(move || {
            v.store(1, SeqCst);
            futex_wake(&v, 1);
        });
        let deadline = now() + 1_000_000;
        let outcome = futex_wait(&w, 0, Some(deadline));
        seen.lock().unwrap().insert(format!("{outcome:?}"));
        if outcome == WaitOutcome::TimedOut {
            assert!(now() >= deadline);
        }
        t.join();
    })
    .unwrap();
    assert!(report.complete());
    let outcomes = outcomes.lock().unwrap();
    for o in ["Mismatch", "Woken", "TimedOut"] {
        assert!(outcomes.contains(o), "{o} never happened: {outcomes:?}");
    }
}

#[test]
fn spurious_wakeups_happen_only_when_enabled() {
    let body = || {
        let w = Arc::new(AtomicU32::new(0));
        let v = w.clone();
        let t = spawn(move || {
            v.store(1, SeqCst);
            futex_wake(&v, 1);
        });
        if futex_wait(&w, 0, None) == WaitOutcome::Woken {
            assert_eq!(w.load(SeqCst), 1, "woken spuriously");
        }
        t.join();
    };
    assert!(explore(Config::dfs(), body).is_ok());
    let failure = explore(Config::dfs().spurious_wakeups(1).no_files(), body).unwrap_err();
    assert!(failure.message().contains("woken spuriously"));
    assert!(failure
        .schedule()
        .iter()
        .any(|c| matches!(c, Choice::Spurious(_))));
}

#[test]
fn many_tasks() {
    let report = explore(Config::random(3), || {
        let n = Arc::new(AtomicU32::new(0));
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let n = n.clone();
                spawn(move || {
                    n.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.join();
        }
        assert_eq!(n.load(SeqCst), 200);
    })
    .unwrap();
    assert_eq!(report.executions(), 3);
}

#[test]
fn step_bound_catches_a_livelock() {
    let spin_at = |bound: usize| {
        let failure = explore(Config::random(1).max_steps(bound).no_files(), || {
            let w = AtomicU32::new(0);
            while w.load(SeqCst) == 0 {}
        })
        .unwrap_err();
        assert_eq!(failure.kind(), FailureKind::StepBound, "{failure}");
        failure
    };
    let failure = spin_at(1000);
    assert!(
        failure.message().contains(
            "took more than 1000 steps (a livelock, or a program longer than the bound: \
             `Config::max_steps` sets it)"
        ),
        "{failure}"
    );
    // A bound of 0 is one of 1, and the message says "step".
    let failure = spin_at(0);
    assert!(
        failure.message().contains("more than 1 step ("),
        "{failure}"
    );
}

#[test]
fn same_seed_same_executions() {
    let run = |seed| {
        explore(
            Config::random(200).seed(seed).no_files().no_shrink(),
            racy_increment,
        )
        .unwrap_err()
        .trace_text()
    };
    assert_eq!(run(11), run(11));
}

#[test]
fn dfs_explores_how_a_lone_timed_wait_can_end() {
    // Nothing races with the wait; its ends (timeout, spurious wake-up) must still both be tried.
    let failure = explore(Config::dfs().spurious_wakeups(1).no_files(), || {
        let w = AtomicU32::new(0);
        assert_eq!(futex_wait(&w, 0, Some(1_000)), WaitOutcome::TimedOut);
    })
    .unwrap_err();
    assert!(failure.trace_text().contains("woken spuriously"));
}

#[test]
fn a_sleeping_waiter_is_not_reported_as_the_holder() {
    let failure = explore(Config::dfs().no_files(), || {
        let w = AtomicU32::new(0);
        w.label("Gate");
        futex_wait(&w, 0, None);
    })
    .unwrap_err();
    assert!(
        !failure.message().contains("held by"),
        "{}",
        failure.message()
    );
}

#[test]
fn shrinking_brings_a_random_failure_down_to_one_preemption() {
    for seed in 0..20 {
        let failure =
            explore(Config::random(1000).seed(seed).no_files(), racy_increment).unwrap_err();
        assert_eq!(failure.preemptions(), 1, "seed {seed}:\n{failure}");
    }
}

#[test]
fn a_one_preemption_bug_in_a_huge_space_is_found_early() {
    // Eight tasks doing 4 atomic increments each, each on a counter of its own (an enormous
    // space of interleavings, all of them one trace), and one pair racing on a lost update:
    // the rounds of growing preemption bound find it in round 1. (Were the eight counters one,
    // every order of the eight tasks would be a trace of its own, and round 0, complete within
    // its bound, would explore each of the 8! orders first.)
    let failure = explore(Config::dfs().no_files(), || {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let busy = Arc::new(AtomicU32::new(0));
                spawn(move || {
                    for _ in 0..4 {
                        busy.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        racy_increment();
        for w in workers {
            w.join();
        }
    })
    .unwrap_err();
    assert!(failure.message().contains("lost update"));
    assert_eq!(failure.preemptions(), 1, "{failure}");
    assert!(
        failure.execution() <= 30,
        "found after {} executions",
        failure.execution()
    );
}

/// Three tasks that each append their number to a log, run whole (no preemption): the last
/// task to run fails if the order was 2, 1, 0 — one of the six orders of the tasks.
fn reversed_order_fails() {
    let log = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..3u32)
        .map(|t| {
            let log = log.clone();
            spawn(move || {
                // Base-4 digits, the first task to run in the lowest.
                let seen = log.load(SeqCst);
                let digits = (0..3).filter(|d| seen >> (2 * d) & 3 != 0).count() as u32;
                log.store(seen | (t + 1) << (2 * digits), SeqCst);
                assert_ne!(
                    seen | (t + 1) << (2 * digits),
                    3 | 2 << 2 | 1 << 4,
                    "2, 1, 0"
                );
            })
        })
        .collect();
    for t in tasks {
        t.join();
    }
}

#[test]
fn a_bug_that_needs_no_preemption_is_found_within_bound_0() {
    // Round 0 covers every order of whole tasks (it used to run one execution).
    let failure = explore(
        Config::dfs().preemption_bound(0).no_files().ignore_env(),
        reversed_order_fails,
    )
    .unwrap_err();
    assert!(failure.message().contains("2, 1, 0"), "{failure}");
    assert_eq!(failure.preemptions(), 0, "{failure}");
    // Without reduction too: the plain search within the bound finds it as well.
    let failure = explore(
        Config::dfs()
            .preemption_bound(0)
            .reduction(false)
            .no_files()
            .ignore_env(),
        reversed_order_fails,
    )
    .unwrap_err();
    assert!(failure.message().contains("2, 1, 0"), "{failure}");
}

/// Three tasks (the main one and two spawned) that each add one to a counter: 6 orders.
fn three_increments() {
    let n = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let m = n.clone();
            spawn(move || {
                m.fetch_add(1, SeqCst);
            })
        })
        .collect();
    n.fetch_add(1, SeqCst);
    for w in workers {
        w.join();
    }
    assert_eq!(n.load(SeqCst), 3);
}

#[test]
fn the_trial_covers_a_small_space_in_as_few_executions_as_one_round() {
    let quiet = || Config::dfs().no_files().ignore_env();
    let default = explore(quiet(), three_increments).unwrap();
    let one = explore(quiet().rounds(false), three_increments).unwrap();
    let rounds = explore(quiet().trial(0), three_increments).unwrap();
    assert!(
        default.complete() && one.complete() && rounds.complete(),
        "{default}\n{one}\n{rounds}"
    );
    // The rounds alone explore the orders of few preemptions in each round again.
    assert_eq!(default.executions(), one.executions());
    assert!(
        one.executions() < rounds.executions() && one.executions() > 2,
        "{} vs {}",
        one.executions(),
        rounds.executions()
    );
    // A space bigger than the trial: the rounds begin after it, from the start, while the
    // trial's round goes on in every other execution; the search ends when either covers it,
    // in at most twice the executions of one round (and here fewer than the rounds alone).
    let short = explore(quiet().trial(2), three_increments).unwrap();
    assert!(short.complete(), "{short}");
    assert!(short.executions() <= 2 * one.executions(), "{short}");
    assert!(short.executions() < 2 + rounds.executions(), "{short}");
    assert!(quiet().rounds(false).to_string().contains("one round"));
    assert!(quiet().trial(2).to_string().contains("trial of 2 runs"));
    assert!(!quiet().to_string().contains("trial"));
    assert!(quiet()
        .sections_commute(true)
        .to_string()
        .contains("sections commute"));
    assert!(!Config::pct(3, 10)
        .sections_commute(true)
        .to_string()
        .contains("commute"));
    // And one round finds what the rounds find.
    let failure = explore(quiet().rounds(false), racy_increment).unwrap_err();
    assert!(failure.message().contains("lost update"));
}

#[test]
fn a_bug_the_trial_finds_is_reported_with_its_fewest_preemptions() {
    // Found in the trial, before the round of bound 1 would: reported as the rounds report
    // theirs (shrunk to the fewest preemptions it needs, here the one it was found with).
    let failure = explore(Config::dfs().no_files().ignore_env(), || {
        racy_increment_reading_twice(true)
    })
    .unwrap_err();
    assert!(failure.message().contains("lost update"));
    assert_eq!(failure.preemptions(), 1, "{failure}");
    // Found in the trial (1,000 executions by default).
    assert!(failure.execution() <= 1_000, "{failure}");
}

/// A destructor that waits until the task it started is gone (as a scope joins its threads)
/// ends when an execution is torn down early: teardown unwinds the newest tasks first, so the
/// started task's destructors have run by then (during teardown nobody can block). With the
/// oldest first, this execution never ended.
#[test]
fn teardown_unwinds_the_newest_task_first() {
    struct WaitsForChild(Arc<AtomicU32>);
    impl Drop for WaitsForChild {
        fn drop(&mut self) {
            while self.0.load(SeqCst) == 0 {
                futex_wait(&self.0, 0, None);
            }
        }
    }
    struct Gone(Arc<AtomicU32>);
    impl Drop for Gone {
        fn drop(&mut self) {
            self.0.store(1, SeqCst);
            futex_wake(&self.0, u32::MAX);
        }
    }
    let failure = explore(Config::dfs().no_files().ignore_env(), || {
        let gone = Arc::new(AtomicU32::new(0));
        let _waits = WaitsForChild(gone.clone());
        let never = Arc::new(AtomicU32::new(0));
        let child = spawn(move || {
            let _gone = Gone(gone);
            futex_wait(&never, 0, None);
        });
        let failing = spawn(|| panic!("another task fails"));
        failing.join();
        child.join();
    })
    .unwrap_err();
    assert!(
        failure.message().contains("another task fails"),
        "{failure}"
    );
}

/// The largest settings are answers, not allocations that abort the process: a preemption
/// bound of `u32::MAX` (one round per bound took 32 GiB), PCT of depth `u32::MAX` (four billion
/// change points per execution), and a choice among `u32::MAX` values (listed as options).
#[test]
fn the_largest_bound_depth_and_choice_end_with_an_answer() {
    let config = Config::dfs().preemption_bound(u32::MAX).ignore_env();
    let failure = explore(config, racy_increment).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Panic, "{failure}");
    let config = Config::dfs().preemption_bound(u32::MAX).ignore_env();
    assert!(explore(config, atomic_increment).unwrap().complete());
    let report = explore(Config::pct(u32::MAX, 10).ignore_env(), atomic_increment).unwrap();
    assert_eq!(report.executions(), 10);
    for config in [Config::dfs(), Config::random(3), Config::pct(3, 3)] {
        let refused = explore(config.no_files().ignore_env(), || {
            mpcheck_sim::choose(u32::MAX);
        })
        .unwrap_err();
        assert_eq!(refused.kind(), FailureKind::InvalidInput, "{refused}");
        assert!(
            refused
                .message()
                .contains("choose(4294967295): a choice is among at most 65536 values"),
            "{refused}"
        );
    }
    let report = explore(Config::random(2).ignore_env(), || {
        assert!(mpcheck_sim::choose(1 << 16) < 1 << 16);
    })
    .unwrap();
    assert_eq!(report.executions(), 2);
}

/// An exploration or a replay called from inside an execution is an `InvalidInput` error for
/// that call; the outer exploration goes on (it used to run the inner one and then panic with
/// an internal message).
#[test]
fn an_exploration_inside_an_execution_is_invalid_input() {
    let report = explore(Config::dfs().ignore_env(), || {
        let inner = explore(Config::dfs().ignore_env(), atomic_increment).unwrap_err();
        assert_eq!(inner.kind(), FailureKind::InvalidInput, "{inner}");
        assert!(
            inner
                .message()
                .contains("sim::explore was called inside an execution"),
            "{inner}"
        );
        let replayed = mpcheck_sim::replay("no-such-file.json", atomic_increment).unwrap_err();
        assert!(
            replayed
                .message()
                .contains("sim::replay was called inside an execution"),
            "{replayed}"
        );
        atomic_increment();
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
}

/// Objects are numbered where they are made (for the search), but traces and reports show
/// them in the order of their first use: a thousand words made and never touched before the
/// gate leave it `Gate#1`, as does a gate made after another word it is used before.
#[test]
fn traces_number_objects_in_the_order_of_their_first_use() {
    let failure = explore(Config::dfs().no_files(), || {
        let unused: Vec<AtomicU32> = (0..1000).map(AtomicU32::new).collect();
        let late = AtomicU32::new(0);
        let w = AtomicU32::new(0);
        w.label("Gate");
        late.label("Late");
        futex_wake(&w, 1);
        futex_wake(&late, 1);
        drop(unused);
        futex_wait(&w, 0, None);
    })
    .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(failure.message().contains("Gate#1"), "{failure}");
    assert!(failure.trace_text().contains("Late#2"), "{failure}");
}

/// A `static` word (`const_new`) outlives every execution: it is numbered at its first use
/// in each, and the search explores the program as it does with a word made in the
/// execution.
#[test]
fn a_static_word_is_numbered_in_each_execution_it_is_used_in() {
    static SHARED: AtomicU32 = AtomicU32::const_new(0);
    fn program<W: std::ops::Deref<Target = AtomicU32> + Clone + 'static>(word: W) {
        word.store(0, SeqCst);
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let word = word.clone();
                spawn(move || {
                    word.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.join();
        }
        assert_eq!(word.load(SeqCst), 2);
    }
    let with_static = explore(Config::dfs().no_files(), || program(&SHARED)).unwrap();
    let with_made = explore(Config::dfs().no_files(), || {
        program(Arc::new(AtomicU32::new(0)))
    })
    .unwrap();
    assert!(with_static.complete() && with_made.complete());
    assert_eq!(with_static.executions(), with_made.executions());
}
