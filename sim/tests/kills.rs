//! Kills of simulated processes (`Config::kills`): what a kill does, that every strategy makes
//! them, that a replay repeats them, and that deadlocks are still deadlocks.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{
    current_process, explore, explore_observed, futex_wait, futex_wait_watching_deaths, futex_wake,
    operation, process_alive, ready_when, ready_when_held, replay, spawn, spawn_process, AtomicU32,
    Config, FailureKind, Granularity, Op, WaitOutcome,
};

/// Sets the word to 1 when dropped: a destructor that must not run in a killed task.
struct Flag(Arc<AtomicU32>);

impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(1, SeqCst);
    }
}

/// A child process takes a "lock" (a word it sets to its process number, released by a
/// guard's destructor) and releases it; the main task waits for the word to be free, looking
/// at the holder's liveness before every sleep, as a robust lock does.
fn robust_handoff() -> (bool, bool, u32) {
    let word = Arc::new(AtomicU32::new(0));
    let dropped = Arc::new(AtomicU32::new(0));
    let (w, d) = (word.clone(), dropped.clone());
    let child = spawn_process(move || {
        let me = mpcheck_sim::current_process().expect("in an execution");
        if w.compare_exchange(0, me, SeqCst, SeqCst).is_ok() {
            let _guard = Flag(d);
            w.store(0, SeqCst);
            futex_wake(&w, 1);
        }
    });
    let p = child.process();
    let mut took_over = false;
    loop {
        let holder = word.load(SeqCst);
        if holder == 0 {
            break;
        }
        if !process_alive(holder) {
            took_over = true;
            break;
        }
        futex_wait_watching_deaths(&word, holder, None);
    }
    let killed = child.try_join().is_none();
    assert_eq!(killed, !process_alive(p));
    if took_over {
        assert!(killed, "a live holder is never taken over");
        assert_eq!(dropped.load(SeqCst), 0, "a killed task runs no destructor");
    }
    (killed, took_over, dropped.load(SeqCst))
}

#[test]
fn a_kill_stops_a_process_where_it_is_and_wakes_its_waiters() {
    let seen: Rc<RefCell<BTreeSet<(bool, bool, u32)>>> = Rc::default();
    let sink = seen.clone();
    let report = explore(Config::dfs().kills(1).no_files().ignore_env(), move || {
        sink.borrow_mut().insert(robust_handoff());
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
    let seen = seen.borrow();
    // Not killed; killed before taking the word; killed holding it (taken over, no destructor).
    // (Its destructor's store is its last step: after it, nothing is left to kill.)
    let all: BTreeSet<_> = [(false, false, 1), (true, false, 0), (true, true, 0)].into();
    assert_eq!(*seen, all);
}

#[test]
fn without_kills_nothing_changes() {
    // `process_alive` is no step, and nothing else is different.
    let mut kill_steps = 0;
    let body = || {
        robust_handoff();
    };
    let report = explore_observed(Config::dfs().no_files().ignore_env(), body, |o| {
        kill_steps += o
            .steps()
            .iter()
            .filter(|s| matches!(s.op, Op::Alive | Op::Kill))
            .count();
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(kill_steps, 0);
    let with_kills = explore(Config::dfs().kills(1).no_files().ignore_env(), body)
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.executions() < with_kills.executions());
}

#[test]
fn random_walk_and_pct_kill_at_various_points() {
    for config in [Config::random(300), Config::pct(2, 300)] {
        let seen: Rc<RefCell<BTreeSet<(bool, bool, u32)>>> = Rc::default();
        let sink = seen.clone();
        explore(config.kills(1).no_files().ignore_env(), move || {
            sink.borrow_mut().insert(robust_handoff());
        })
        .unwrap_or_else(|f| panic!("{f}"));
        assert!(seen.borrow().len() >= 3, "{:?}", seen.borrow());
    }
}

#[test]
fn a_failure_after_a_kill_replays_with_the_kill() {
    let dir = std::env::temp_dir().join(format!("mpcheck-kills-{}", std::process::id()));
    let program = || {
        let child = spawn_process(|| {});
        assert!(child.try_join().is_some(), "the child was killed");
    };
    let failure = explore(
        Config::dfs().kills(1).failure_dir(&dir).ignore_env(),
        program,
    )
    .expect_err("a kill is found");
    assert_eq!(failure.kind(), FailureKind::Panic);
    let text = failure.to_string();
    assert!(text.contains("KILLED"), "{text}");
    let file = failure.file().expect("a replay file").to_owned();
    let json = std::fs::read_to_string(&file).expect("the file");
    assert!(
        json.contains("\"kills\": 1") && json.contains("k2"),
        "{json}"
    );
    let again = replay(&file, program).expect_err("the same failure");
    assert_eq!(again.trace_text(), failure.trace_text());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_deadlock_is_reported_even_where_a_kill_could_wake_it() {
    let failure = explore(Config::dfs().kills(1).no_files().ignore_env(), || {
        let word = Arc::new(AtomicU32::new(0));
        let w = word.clone();
        let _child = spawn_process(move || {
            futex_wait(&w, 0, None);
        });
        futex_wait(&word, 0, None);
    })
    .expect_err("a deadlock");
    assert_eq!(failure.kind(), FailureKind::Deadlock);
}

/// A plain futex wait is woken by no death, as on a real OS: a task that waits for a word a
/// child process was to set, and does not look at the child's liveness, sleeps for ever once
/// the child was killed first (a `Condition` waiter whose notifier died). The same wait that
/// watches deaths, with a look at the child before every sleep, ends in every execution.
#[test]
fn a_kill_wakes_no_plain_futex_waiter() {
    /// A child process sets a word and wakes its waiter; the main task waits for the word:
    /// once, in a plain wait (as a single `cond.wait()`: a kill that woke it would let it go
    /// on as if woken), or (`watching`) in a loop of waits that watch deaths, with a look at
    /// the child before every sleep.
    fn wait_for_child(watching: bool) {
        let word = Arc::new(AtomicU32::new(0));
        let w = word.clone();
        let child = spawn_process(move || {
            w.store(1, SeqCst);
            futex_wake(&w, 1);
        });
        if !watching {
            futex_wait(&word, 0, None);
            return;
        }
        while word.load(SeqCst) == 0 && process_alive(child.process()) {
            futex_wait_watching_deaths(&word, 0, None);
        }
    }
    for granularity in [Granularity::Step, Granularity::Operation] {
        let config = Config::dfs()
            .kills(1)
            .granularity(granularity)
            .no_files()
            .ignore_env();
        let failure = explore(config.clone(), || wait_for_child(false))
            .expect_err("the waiter sleeps for ever once the child was killed");
        assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
        assert!(failure.to_string().contains("KILLED"), "{failure}");
        let report = explore(config, || wait_for_child(true))
            .unwrap_or_else(|f| panic!("a look before every sleep misses no death: {f}"));
        assert!(report.complete());
    }
}

#[test]
fn the_main_process_is_never_killed() {
    let report = explore(Config::dfs().kills(2).no_files().ignore_env(), || {
        let me = mpcheck_sim::current_process().expect("in an execution");
        let child = spawn_process(|| spawn(|| {}).join());
        let task = spawn(|| {});
        let _ = child.try_join();
        task.join();
        assert!(process_alive(me));
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
}

/// What `program` returned in each execution of an exhaustive search at operation granularity
/// with one kill.
fn outcomes_at_operations<T: Ord + 'static>(program: impl Fn() -> T + 'static) -> BTreeSet<T> {
    let seen: Rc<RefCell<BTreeSet<T>>> = Rc::default();
    let sink = seen.clone();
    let config = Config::dfs()
        .kills(1)
        .granularity(Granularity::Operation)
        .no_files()
        .ignore_env();
    let report = explore(config, move || {
        let outcome = program();
        sink.borrow_mut().insert(outcome);
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
    seen.take()
}

/// At operation granularity a guard is off once a process that changed its word was killed (the
/// operation then goes on and looks for itself), and only then: a kill of a process that
/// never changed the word leaves the guard holding. Process A takes a "lock" word and releases
/// it; process B only writes a word of its own; the main task waits, guarded, for the lock to
/// be free, and then reads it.
#[test]
fn a_guard_is_off_only_once_a_process_that_changed_its_word_was_killed() {
    let seen = outcomes_at_operations(|| {
        let (lock, other) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let l = lock.clone();
        let a = spawn_process(move || {
            l.store(1, SeqCst);
            l.store(0, SeqCst);
        });
        let b = spawn_process(move || other.store(1, SeqCst));
        let seen_free = {
            let _op = operation(lock.object_number(), "Toy", "wait", Location::caller());
            ready_when(&lock, |v, _| v == 0, None);
            lock.load(SeqCst)
        };
        let a_killed = a.try_join().is_none();
        let b_killed = b.try_join().is_none();
        (seen_free, a_killed, b_killed)
    });
    // The guard let the main task see the lock taken only where A died holding it.
    assert!(seen.contains(&(1, true, false)), "{seen:?}");
    assert!(
        seen.iter().all(|&(v, a_killed, _)| v == 0 || a_killed),
        "a guard went off for a kill of a process that never changed its word: {seen:?}"
    );
    assert!(seen.contains(&(0, false, true)), "{seen:?}");
}

/// A guard on a word that names its holder (`ready_when_held`, a lock's guard) is off once
/// the holder it names was killed, and only then: the death of a past holder leaves the waiter
/// waiting for the living one (a plain `ready_when` lets it go on, its word's writer dead).
/// Processes A and B each try once to take a "lock" word (their process number in it) and
/// release it, and A then reads another word (so that it can be killed after its release); the
/// main task waits, guarded, for the lock to be free, and reads it. The outcomes: the value
/// the main task saw, A's and B's numbers, and which of them was killed.
#[test]
fn a_holder_guard_is_off_only_once_the_holder_it_names_was_killed() {
    type Seen = BTreeSet<(u32, u32, u32, bool, bool)>;
    let explore_with = |held: bool| -> Seen {
        outcomes_at_operations(move || {
            let (lock, other) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
            let take = |lock: Arc<AtomicU32>, other: Arc<AtomicU32>| {
                move || {
                    let me = current_process().unwrap();
                    if lock.compare_exchange(0, me, SeqCst, SeqCst).is_ok() {
                        lock.store(0, SeqCst);
                    }
                    other.load(SeqCst);
                }
            };
            let a = spawn_process(take(lock.clone(), other.clone()));
            let b = spawn_process(take(lock.clone(), other));
            let (pa, pb) = (a.process(), b.process());
            let seen_free = {
                let _op = operation(lock.object_number(), "Toy", "wait", Location::caller());
                if held {
                    ready_when_held(&lock, |v, _| v == 0, None, |v| v);
                } else {
                    ready_when(&lock, |v, _| v == 0, None);
                }
                lock.load(SeqCst)
            };
            let a_killed = a.try_join().is_none();
            let b_killed = b.try_join().is_none();
            (seen_free, pa, pb, a_killed, b_killed)
        })
    };
    let living_holder_seen = |seen: &Seen| {
        seen.iter()
            .any(|&(v, a, b, a_killed, b_killed)| (v == a && !a_killed) || (v == b && !b_killed))
    };
    let held = explore_with(true);
    assert!(!living_holder_seen(&held), "{held:?}");
    // Where the holder died holding it, the waiter goes on and sees it taken.
    assert!(
        held.iter()
            .any(|&(v, a, _, a_killed, _)| v == a && a_killed),
        "{held:?}"
    );
    assert!(
        held.iter()
            .any(|&(v, _, b, _, b_killed)| v == b && b_killed),
        "{held:?}"
    );
    // The plain guard goes off for the death of a past holder too.
    let plain = explore_with(false);
    assert!(living_holder_seen(&plain), "{plain:?}");
}

/// A kill wakes every sleeper in a wait that watches deaths, and a task's next such wait
/// returns at once if it begins after a kill (the task may have looked at the victim just
/// before). A sleeper the kill woke is awake
/// after the kill, so its next wait sleeps as any other: a task looks before every sleep (the
/// contract the primitives keep), and needs no second wake-up. Here the main task waits twice
/// for a word a child process sets, the second time with a deadline: when the child dies before
/// setting it and the kill woke the first wait, the second one times out.
#[test]
fn a_sleeper_woken_by_a_kill_sleeps_again_at_its_next_wait() {
    let seen: Rc<RefCell<BTreeSet<(u8, u8, bool)>>> = Rc::default();
    let sink = seen.clone();
    let report = explore(Config::dfs().kills(1).no_files().ignore_env(), move || {
        let word = Arc::new(AtomicU32::new(0));
        let w = word.clone();
        let child = spawn_process(move || {
            w.store(1, SeqCst);
            futex_wake(&w, 1);
        });
        let first = futex_wait_watching_deaths(&word, 0, None);
        let second = futex_wait_watching_deaths(&word, 0, Some(1_000));
        let killed = child.try_join().is_none();
        sink.borrow_mut()
            .insert((code(first), code(second), killed));
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
    let seen = seen.borrow();
    let (woken, timed_out, mismatch) = (
        code(WaitOutcome::Woken),
        code(WaitOutcome::TimedOut),
        code(WaitOutcome::Mismatch),
    );
    assert!(seen.contains(&(woken, timed_out, true)), "{seen:?}");
    assert!(
        !seen.contains(&(woken, woken, true)),
        "woken twice by one kill: {seen:?}"
    );
    assert!(seen.contains(&(woken, mismatch, false)), "{seen:?}");
}

/// A wait's outcome as a number: 0 woken, 1 timed out, 2 value mismatch.
fn code(outcome: WaitOutcome) -> u8 {
    match outcome {
        WaitOutcome::Woken => 0,
        WaitOutcome::TimedOut => 1,
        WaitOutcome::Mismatch => 2,
    }
}

/// Explores `program` exhaustively (no rounds) with up to `kills` kills, with partial-order
/// reduction or without: the outcomes it reached, each execution's steps shown to `each`.
fn outcomes(
    program: fn(),
    kills: u32,
    reduction: bool,
    mut each: impl FnMut(&[mpcheck_sim::Step]),
) -> BTreeSet<mpcheck_sim::Outcome> {
    let mut outcomes = BTreeSet::new();
    let config = Config::dfs()
        .rounds(false)
        .reduction(reduction)
        .kills(kills)
        .no_files()
        .ignore_env();
    let report = explore_observed(config, program, |run| {
        outcomes.insert(run.outcome());
        each(run.steps());
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
    outcomes
}

/// Counts the executions with a kill (`counts[0]`) and without one (`counts[1]`).
fn count_kills(counts: &mut [u32; 2]) -> impl FnMut(&[mpcheck_sim::Step]) + '_ {
    move |steps| counts[usize::from(steps.iter().all(|s| s.op != Op::Kill))] += 1
}

/// A kill just after steps of its victim that leave nothing behind (reads, writes that put back
/// what they found) leaves the state a kill just before them left: the search tries only the
/// earlier one (in its unbounded round), and reaches every outcome the search without reduction
/// reaches. Here a child process goes twice in and out of a section (a word 0 → 1 → 0) while
/// the main task waits for it: a kill right after the second pass is a kill right before it.
/// Before the first pass it is not: the child became a writer of the word in it, and a guard on
/// the word would be off after its death. (The main task only waits for the child, so the
/// child's steps follow each other.)
#[test]
fn a_kill_after_steps_that_leave_nothing_is_tried_before_them() {
    let program = || {
        let word = Arc::new(AtomicU32::new(0));
        let w = word.clone();
        let child = spawn_process(move || {
            for _ in 0..2 {
                w.fetch_add(1, SeqCst);
                w.fetch_sub(1, SeqCst);
            }
            // A last step, after which a kill is still possible (a task ends in its last
            // step).
            w.load(SeqCst);
        });
        let killed = child.try_join().is_none();
        let left = word.load(SeqCst);
        assert!(left == 0 || killed);
    };
    // Per execution: the child's read-modify-writes before the kill, if it was killed right
    // after one of them.
    let run = |reduction: bool| {
        let mut kills = BTreeSet::new();
        let outcomes = outcomes(program, 1, reduction, |steps| {
            if let Some(at) = steps.iter().position(|s| s.op == Op::Kill) {
                let victim = steps[at].task;
                let rmw = |s: &&mpcheck_sim::Step| s.task == victim && s.obj != 0;
                if at > 0 && rmw(&&steps[at - 1]) {
                    kills.insert(steps[..at].iter().filter(rmw).count());
                }
            }
        });
        (outcomes, kills)
    };
    let (plain, plain_kills) = run(false);
    let (reduced, reduced_kills) = run(true);
    assert_eq!(plain, reduced, "the reduction lost or invented outcomes");
    assert_eq!(plain_kills, [1, 2, 3, 4].into());
    // Right after the first pass's way in and its way out; not after the second pass's way in
    // (the word is 1 again, the child a writer of it already: as after the first way in) nor
    // after its way out (as after the first pass).
    assert_eq!(reduced_kills, [1, 2].into());
}

/// The search tries a kill before the option that goes on, so in that option's subtree the kill
/// sleeps until an event that depends on it: the process may then run to its end first, and
/// the kill after such an event must still be explored. Process A only loads a word; process B
/// waits on another, with a deadline, which nobody wakes, in a wait that watches deaths (a kill
/// wakes it). "A killed after B timed out" needs
/// A alive until after B's timeout, although nothing orders A's load against B: A's end races
/// with what the kill of A races with (B's wait), and the search tries B first. Before that
/// rule, the reduction lost this outcome (found by the generated programs of `dpor.rs`).
#[test]
fn a_kill_that_goes_first_is_still_explored_after_what_it_races_with() {
    for reduction in [true, false] {
        let seen: Rc<RefCell<BTreeSet<(u8, bool)>>> = Rc::default();
        let sink = seen.clone();
        let config = Config::dfs()
            .kills(1)
            .reduction(reduction)
            .no_files()
            .ignore_env();
        let report = explore(config, move || {
            let (a_word, b_word) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
            let a = spawn_process(move || {
                a_word.load(SeqCst);
            });
            let b = spawn_process(move || {
                let outcome = futex_wait_watching_deaths(&b_word, 0, Some(1_000));
                assert!(outcome != WaitOutcome::Mismatch);
                code(outcome)
            });
            let a_killed = a.try_join().is_none();
            if let Some(outcome) = b.try_join() {
                sink.borrow_mut().insert((outcome, a_killed));
            }
        })
        .unwrap_or_else(|f| panic!("{f}"));
        assert!(report.complete());
        let seen = seen.borrow();
        assert!(
            seen.contains(&(code(WaitOutcome::TimedOut), true)),
            "reduction {reduction}: {seen:?}"
        );
    }
}

/// A kill of a process writes only that process's liveness, and so does the end of a process
/// (which carries its kill's footprint, so that what the kill races with is tried before the
/// end): the ends of two processes that share nothing are independent, as are a kill of one
/// and the end of the other. Two child processes each write a word of their own and end; the
/// search with one kill runs one execution without a kill, as the search without kills does
/// (when kills and ends wrote objects every such event shared, the two ends raced and it ran
/// two), and reaches every outcome the search without reduction reaches.
#[test]
fn the_ends_of_two_processes_that_share_nothing_do_not_race() {
    let program = || {
        let children: Vec<_> = (0..2)
            .map(|_| {
                let word = Arc::new(AtomicU32::new(0));
                spawn_process(move || word.store(1, SeqCst))
            })
            .collect();
        for child in children {
            child.try_join();
        }
    };
    let mut counts = [0; 2];
    outcomes(program, 0, true, count_kills(&mut counts));
    assert_eq!(counts, [0, 1]);
    let mut counts = [0; 2];
    let reduced = outcomes(program, 1, true, count_kills(&mut counts));
    assert_eq!(counts[1], 1, "the ends of the two processes raced");
    let plain = outcomes(program, 1, false, |_| {});
    assert_eq!(plain, reduced, "the reduction lost or invented outcomes");
}

/// A kill left to an earlier node (see `a_kill_after_steps_that_leave_nothing_is_tried_before_them`)
/// sleeps as one explored there does, until an event that depends on it: after the victim's
/// steps that leave nothing and another process's steps independent of the kill, the kill
/// leaves the state a kill before them and then those steps leave. Here the victim reads a
/// word nobody writes, then writes a word another process writes too; the race between the
/// two writes runs the other process between the victim's read and its write. There, a kill
/// of the victim is a kill before its start followed by the other's steps: the search kills
/// the victim before its start and after its write (the word written by it last, or by the
/// other last), and the other once: 4 executions with a kill (6 without the rule: the victim
/// also right after the other's start, once after its own read and once before it).
#[test]
fn a_kill_left_to_an_earlier_node_sleeps_past_independent_steps() {
    let program = || {
        let (unseen, word) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let (u, w) = (unseen.clone(), word.clone());
        let victim = spawn_process(move || {
            u.load(SeqCst);
            w.store(1, SeqCst);
            // A last step, after which a kill is still possible.
            w.load(SeqCst);
        });
        let w = word.clone();
        let other = spawn_process(move || w.store(2, SeqCst));
        victim.try_join();
        other.try_join();
        word.load(SeqCst);
    };
    let plain = outcomes(program, 1, false, |_| {});
    let mut counts = [0; 2];
    let reduced = outcomes(program, 1, true, count_kills(&mut counts));
    assert_eq!(plain, reduced, "the reduction lost or invented outcomes");
    assert_eq!(counts[0], 4);
}

/// Process sets keep one bit per process, process 63 standing for every process from 63 on:
/// a set that lets the search leave a kill out (a kill left to an earlier node) must not
/// speak for a process it does not know about. Here processes A and B come after 61 others
/// (B is process 63, A 64): A looks at B's liveness twice while B writes a word twice. "B
/// alive, then dead" needs B's kill between A's two looks; A's kill there is left to an
/// earlier node (A only read since), and the two kills shared bit 63, so the search left
/// B's out too and said complete without that outcome.
#[test]
fn a_kill_left_out_speaks_only_for_its_own_process_from_process_63_on() {
    // What A saw of B's liveness in each execution, with and without reduction.
    let looks = |reduction: bool| {
        let seen: Rc<RefCell<BTreeSet<(bool, bool)>>> = Rc::default();
        let s = seen.clone();
        let config = Config::dfs()
            .rounds(false)
            .reduction(reduction)
            .kills(1)
            .no_files()
            .ignore_env();
        let report = explore(config, move || {
            for _ in 0..61 {
                let _ = spawn_process(|| ()).try_join();
            }
            let word = Arc::new(AtomicU32::new(0));
            let w = word.clone();
            let b = spawn_process(move || {
                w.store(1, SeqCst);
                w.store(2, SeqCst);
            });
            let pb = b.process();
            let looked = Rc::new(RefCell::new(None));
            let l = looked.clone();
            let a = spawn_process(move || {
                *l.borrow_mut() = Some((process_alive(pb), process_alive(pb)));
            });
            let pa = a.process();
            let _ = a.try_join();
            let _ = b.try_join();
            assert!(pb >= 63 && pa > pb, "B is process {pb}, A {pa}");
            if let Some(pair) = looked.take() {
                s.borrow_mut().insert(pair);
            }
        })
        .unwrap_or_else(|f| panic!("{f}"));
        assert!(report.complete());
        seen.take()
    };
    let plain = looks(false);
    assert!(
        plain.contains(&(true, false)),
        "B alive, then dead: {plain:?}"
    );
    assert_eq!(
        looks(true),
        plain,
        "the reduction lost or invented outcomes"
    );
}
