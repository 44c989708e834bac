//! The `Sim` platform's contract where it differs from `Os`: virtual time (what a sleep lasts
//! under each `Timeouts` mode, as `Platform::sleep` documents it), and the specifications of
//! blocking operations (`Platform::ready_when`), which must keep the primitives' meaning.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpcheck::sim::{self, explore, replay, Config, FailureKind, Granularity, Sim, Timeouts};
use mpcheck::{Platform, Queue};

const HOUR: Duration = Duration::from_secs(3600);

/// Every duration, in hours of virtual time, that a 1-hour sleep lasted while another task
/// slept 2 hours, over a complete search with `timeouts`.
fn one_hour_sleeps(timeouts: Timeouts) -> BTreeSet<u64> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let record = seen.clone();
    let report = sim::explore(
        Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .ignore_env()
            .timeouts(timeouts),
        move || {
            let other = mpcheck::thread::spawn::<Sim, _, _>(|| Sim::sleep(2 * HOUR));
            let start = Sim::now();
            Sim::sleep(HOUR);
            let slept = Sim::now().saturating_duration_since(start);
            record.lock().unwrap().insert(slept.as_secs() / 3600);
            other.join().unwrap();
        },
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete());
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn a_sleep_lasts_exactly_its_duration_when_timeouts_fire_only_when_idle() {
    assert_eq!(one_hour_sleeps(Timeouts::WhenIdle), BTreeSet::from([1]));
}

#[test]
fn a_sleep_lasts_at_least_its_duration_when_timeouts_race() {
    // The other task's 2-hour sleep may end first: the clock is then past this one's deadline.
    let seen = one_hour_sleeps(Timeouts::Race);
    assert_eq!(seen.first(), Some(&1), "{seen:?}");
    assert!(seen.len() > 1, "never longer than 1 hour: {seen:?}");
}

/// An `Event` set and cleared at once while a task waits releases the waiter, as documented,
/// at both granularities. At operation granularity the wait's guard passed (the generation
/// moved since the wait began), but the algorithm then took the generation it found after the
/// guard as its start, missed the pulse and slept for good: a false deadlock with
/// `Timeouts::WhenIdle`, and a timed wait that said `false`.
#[test]
fn an_event_pulse_releases_a_waiter_at_both_granularities() {
    use mpcheck::sim::Granularity;
    use mpcheck::Event;
    const MS: Duration = Duration::from_millis(1);
    for granularity in [Granularity::Operation, Granularity::Step] {
        for timed in [false, true] {
            let seen = Arc::new(Mutex::new(BTreeSet::new()));
            let record = seen.clone();
            let config = Config::dfs()
                .granularity(granularity)
                .timeouts(Timeouts::WhenIdle)
                .ignore_env()
                .no_files();
            let report = sim::explore(config, move || {
                let event = Event::<Sim>::new();
                let theirs = event.clone();
                let record = record.clone();
                let waiter = mpcheck::thread::spawn::<Sim, _, _>(move || {
                    let released = if timed {
                        theirs.wait_timeout(5 * MS)
                    } else {
                        theirs.wait();
                        true
                    };
                    record.lock().unwrap().insert(released);
                });
                // Ends only once the waiter waits (timeouts fire when every task waits).
                Sim::sleep(MS);
                event.set();
                event.clear();
                waiter.join().unwrap();
            })
            .unwrap_or_else(|f| panic!("{granularity:?}, timed {timed}:\n{f}"));
            assert!(report.complete(), "{report}");
            let seen = seen.lock().unwrap();
            assert_eq!(
                *seen,
                BTreeSet::from([true]),
                "{granularity:?}, timed {timed}"
            );
        }
    }
}

/// A `get` that no `put` will ever satisfy is a deadlock at both granularities: held by its
/// check (`Platform::ready_if`) at operation granularity, asleep in the ring's futex wait at
/// step granularity. The report names the queue.
#[test]
fn a_get_that_nothing_will_satisfy_is_a_deadlock_at_both_granularities() {
    for granularity in [Granularity::Operation, Granularity::Step] {
        let failure = explore(
            Config::dfs()
                .granularity(granularity)
                .no_files()
                .ignore_env(),
            || {
                let queue = Queue::<u32, Sim>::new();
                let _ = queue.get();
            },
        )
        .expect_err("a deadlock");
        assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
        assert!(failure.to_string().contains("Queue"), "{failure}");
    }
}

/// A failure of a program built on a queue, found at operation granularity (where a blocked
/// `get` waits for its check), replays exactly from its file: the checks run again, without
/// steps, as they ran.
#[test]
fn a_failure_with_a_waiting_get_replays_exactly() {
    let dir = std::env::temp_dir().join(format!("mpcheck-queue-replay-{}", std::process::id()));
    let program = || {
        let queue = Queue::<u32, Sim>::with_capacity(Some(1), 8).expect("a valid queue");
        let producers: Vec<_> = [1, 2]
            .map(|item| {
                let queue = queue.clone();
                mpcheck::thread::spawn::<Sim, _, _>(move || queue.put(item).expect("open"))
            })
            .into_iter()
            .collect();
        let first = queue.get().expect("open");
        assert_eq!(first, 1, "the first producer's item came second");
        queue.get().expect("open");
        for p in producers {
            p.join().expect("the producer finishes");
        }
    };
    let config = Config::dfs()
        .granularity(Granularity::Operation)
        .failure_dir(&dir)
        .ignore_env();
    let failure = explore(config, program).expect_err("the order is found");
    assert_eq!(failure.kind(), FailureKind::Panic, "{failure}");
    let file = failure.file().expect("a replay file").to_owned();
    let again = replay(&file, program).expect_err("the same failure");
    assert_eq!(again.trace_text(), failure.trace_text());
    let _ = std::fs::remove_dir_all(dir);
}

/// `Platform::operations_are_events`: inside an execution at operation granularity only (and
/// never on `Os`).
#[test]
fn operations_are_events_at_operation_granularity_only() {
    for (granularity, expected) in [(Granularity::Operation, true), (Granularity::Step, false)] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let config = Config::dfs().ignore_env().granularity(granularity);
        explore(config, {
            let seen = Arc::clone(&seen);
            move || seen.lock().unwrap().push(Sim::operations_are_events())
        })
        .expect("nothing fails");
        assert_eq!(*seen.lock().unwrap(), [expected], "{granularity:?}");
    }
    assert!(!Sim::operations_are_events(), "outside an execution");
    assert!(!mpcheck::Os::operations_are_events());
}
