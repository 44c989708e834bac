//! The caller's code is no part of any operation. Several APIs run a closure of the caller's in
//! the middle of a primitive's work: `Condvar::wait_while` and `wait_timeout_while`, the
//! atomics' `fetch_update`, `Condition::wait_for` and `wait_for_timeout`, `Value::update` and a
//! `Barrier`'s action. At the simulator's operation granularity an operation runs as one step
//! up to where it blocks, so a closure run inside it would be atomic with it: its reads could not
//! see another task's writes in between, and bugs that need them went unreported (found by a
//! review: a `wait_while` whose condition reads a flag set without the mutex lost the wake-up on
//! the real OS and hung, while the search said "complete" with no failure).
//!
//! Each program below has a failure that only an interleaving inside the caller's closure can
//! reach; the search must find it at both granularities, with and without reduction.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mpcheck::facade::sim::sync::atomic::{AtomicU32, AtomicU64};
use mpcheck::facade::sim::sync::{Condvar, Mutex};
use mpcheck::facade::sim::thread;
use mpcheck::sim::{explore, Config, FailureKind, Granularity, Sim};
use mpcheck::{Barrier, Condition, Value};

/// `program` fails (as `kind`) under exhaustive search at both granularities, with and
/// without reduction, and the reduced search at operation granularity says nothing else.
fn fails_everywhere(name: &str, kind: FailureKind, program: fn()) {
    for granularity in [Granularity::Operation, Granularity::Step] {
        for reduction in [true, false] {
            let config = Config::dfs()
                .granularity(granularity)
                .reduction(reduction)
                .ignore_env()
                .no_files();
            match explore(config, program) {
                Ok(report) => panic!(
                    "{name}, {granularity:?}, reduction {reduction}: no failure found ({report})"
                ),
                Err(failure) => assert_eq!(
                    failure.kind(),
                    kind,
                    "{name}, {granularity:?}, reduction {reduction}: {failure}"
                ),
            }
        }
    }
}

/// Two reads of `x` inside a closure, with a writer of `x` beside it: the reads differ only if
/// the writer runs between them.
fn reads_differ(x: &AtomicU32) -> bool {
    let first = x.load(SeqCst);
    first != x.load(SeqCst)
}

/// The missed wake-up of the review: the condition reads a flag that the notifier sets
/// without the mutex; the set and the notification can fall between the condition's read and
/// the wait's read of the condition variable, and the waiter sleeps for ever.
fn condvar_wait_while_misses_a_wake_up() {
    let shared = Arc::new((Mutex::new(()), Condvar::new(), AtomicU32::new(0)));
    let other = shared.clone();
    let notifier = thread::spawn(move || {
        other.2.store(1, SeqCst);
        other.1.notify_one();
    });
    let guard = shared.0.lock().unwrap();
    let guard = shared
        .1
        .wait_while(guard, |_| shared.2.load(SeqCst) == 0)
        .unwrap();
    drop(guard);
    notifier.join().unwrap();
}

#[test]
fn a_condvar_condition_is_not_atomic_with_the_wait() {
    fails_everywhere(
        "wait_while",
        FailureKind::Deadlock,
        condvar_wait_while_misses_a_wake_up,
    );
}

fn condvar_wait_timeout_while_condition_interleaves() {
    let shared = Arc::new((Mutex::new(()), Condvar::new(), AtomicU32::new(0)));
    let other = shared.clone();
    let writer = thread::spawn(move || other.2.store(1, SeqCst));
    let guard = shared.0.lock().unwrap();
    let (_guard, _) = shared
        .1
        .wait_timeout_while(guard, Duration::from_secs(1), |_| {
            assert!(!reads_differ(&shared.2), "the condition saw a write");
            false
        })
        .unwrap();
    writer.join().unwrap();
}

#[test]
fn a_timed_condvar_condition_is_not_atomic_with_the_wait() {
    fails_everywhere(
        "wait_timeout_while",
        FailureKind::Panic,
        condvar_wait_timeout_while_condition_interleaves,
    );
}

/// std's `fetch_update` may call its closure more than once (its compare-exchange fails when
/// another task wrote in between); one that counts its calls sees two.
fn fetch_update_calls_twice() {
    let shared = Arc::new((AtomicU64::new(0), AtomicU32::new(0)));
    let other = shared.clone();
    let adder = thread::spawn(move || {
        other.0.fetch_add(1, SeqCst);
    });
    shared
        .0
        .fetch_update(SeqCst, SeqCst, |v| {
            shared.1.fetch_add(1, SeqCst);
            Some(v + 10)
        })
        .unwrap();
    adder.join().unwrap();
    assert_eq!(shared.1.load(SeqCst), 1, "the closure ran twice");
}

#[test]
fn fetch_update_runs_its_closure_outside_the_operation() {
    fails_everywhere("fetch_update", FailureKind::Panic, fetch_update_calls_twice);
}

/// A `Condition`'s predicate reads twice what another task writes without the lock.
fn condition_predicate_interleaves() {
    let cond = Condition::<Sim>::new();
    let x = Arc::new(AtomicU32::new(0));
    let other = x.clone();
    let writer = thread::spawn(move || other.store(1, SeqCst));
    cond.acquire().unwrap();
    cond.wait_for(|| {
        assert!(!reads_differ(&x), "the predicate saw a write");
        true
    })
    .unwrap();
    cond.wait_for_timeout(
        || {
            assert!(!reads_differ(&x), "the timed predicate saw a write");
            true
        },
        Duration::from_secs(1),
    )
    .unwrap();
    cond.release().unwrap();
    writer.join().unwrap();
}

#[test]
fn a_condition_predicate_is_not_atomic_with_the_wait() {
    fails_everywhere(
        "Condition::wait_for",
        FailureKind::Panic,
        condition_predicate_interleaves,
    );
}

/// A `Value::update` closure reads twice what another task writes (not the value).
fn value_update_closure_interleaves() {
    let value = Value::<u32, Sim>::new(0);
    let x = Arc::new(AtomicU32::new(0));
    let other = x.clone();
    let writer = thread::spawn(move || other.store(1, SeqCst));
    value
        .update(|v| {
            assert!(!reads_differ(&x), "the update saw a write");
            *v += 1;
        })
        .unwrap();
    writer.join().unwrap();
}

#[test]
fn a_value_update_closure_is_not_atomic_with_the_update() {
    fails_everywhere(
        "Value::update",
        FailureKind::Panic,
        value_update_closure_interleaves,
    );
}

/// A one-party barrier's action reads twice what another task writes.
fn barrier_action_interleaves() {
    let x = Arc::new(AtomicU32::new(0));
    let seen = x.clone();
    let barrier = Barrier::<Sim>::with_action(1, move || {
        assert!(!reads_differ(&seen), "the action saw a write");
    });
    let other = x.clone();
    let writer = thread::spawn(move || other.store(1, SeqCst));
    barrier.wait().unwrap();
    writer.join().unwrap();
}

#[test]
fn a_barrier_action_is_not_atomic_with_the_wait() {
    fails_everywhere(
        "Barrier action",
        FailureKind::Panic,
        barrier_action_interleaves,
    );
}

/// The operations around the caller's code still run as they did: a `Value` counter updated by
/// three tasks is exact, and the search at operation granularity is complete.
#[test]
fn updates_stay_exact() {
    let config = Config::dfs()
        .granularity(Granularity::Operation)
        .ignore_env()
        .no_files();
    let report = explore(config, || {
        let value = Value::<u32, Sim>::new(0);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let value = value.clone();
                thread::spawn(move || value.update(|v| *v += 1).unwrap())
            })
            .collect();
        for task in tasks {
            task.join().unwrap();
        }
        assert_eq!(value.get(), 3);
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete());
}
