//! What a primitive costs the exhaustive search at operation granularity: two tasks that each
//! take and give back a lock twice explore the orders of their four critical sections, the same
//! number of executions whichever lock-like primitive they use. (An `RLock` whose re-entry check
//! was an event of its own before the guarded wait took 34 executions here against `Lock`'s 8:
//! see `Platform::holds_own_id`.)

use mpcheck::sim::{explore, Config, Granularity, Report, Sim};
use mpcheck::{Array, Lock, Process, Queue, RLock, Value};

/// The complete search (one round) at operation granularity.
fn config() -> Config {
    Config::dfs()
        .rounds(false)
        .granularity(Granularity::Operation)
        .no_files()
        .ignore_env()
}

/// Executions of the complete search (one round) of two tasks that each run `body` twice on
/// one object `make` built.
fn executions<T: Clone + Send + 'static>(make: fn() -> T, body: fn(&T)) -> u64 {
    search(make, body).executions()
}

/// The report of that search.
fn search<T: Clone + Send + 'static>(make: fn() -> T, body: fn(&T)) -> Report {
    let report = explore(config(), move || {
        let shared = make();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    for _ in 0..2 {
                        body(&shared)
                    }
                })
            })
            .collect();
        for task in tasks {
            task.join().expect("the task finishes");
        }
    })
    .expect("no failure");
    assert!(report.complete(), "{report}");
    report
}

/// The executions of a search that ran to their end: those the reduction did not abandon as
/// equivalent to one explored before (one per Mazurkiewicz trace of events).
fn ended(report: &Report) -> u64 {
    report.executions() - report.abandoned()
}

/// As [`search`] with a `Lock`, the two parties being child processes that the main task
/// joins (and then asks for their exit codes), under `config`: the report and whether some
/// child was killed in one of its executions.
fn process_search(config: Config) -> (Report, bool) {
    let killed = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = killed.clone();
    let report = explore(config, move || {
        let lock = Lock::<Sim>::new();
        let children: Vec<Process<Sim>> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                Process::new(move || {
                    for _ in 0..2 {
                        // A takeover from a dead holder is as good as a free lock here.
                        let _ = lock.acquire();
                        lock.release().expect("held");
                    }
                })
            })
            .collect();
        for child in &children {
            child.start().expect("a process starts");
        }
        for child in &children {
            let code = child.join().expect("started");
            assert!(code == 0 || code == -9, "exit code {code}");
            assert_eq!(child.exitcode(), Some(code));
            assert!(!child.is_alive());
            if code == -9 {
                seen.set(true);
            }
        }
    })
    .expect("no failure");
    assert!(report.complete(), "{report}");
    (report, killed.get())
}

#[test]
fn every_lock_like_primitive_costs_what_a_lock_does() {
    let lock = executions(Lock::<Sim>::new, |l| {
        l.acquire().expect("no owner died");
        l.release().expect("held");
    });
    let rlock = executions(RLock::<Sim>::new, |l| {
        l.acquire().expect("no owner died");
        l.release().expect("held");
    });
    let rlock_reentered = executions(RLock::<Sim>::new, |l| {
        l.acquire().expect("no owner died");
        l.acquire().expect("re-entered");
        l.release().expect("held");
        l.release().expect("held");
    });
    let rlock_guard = executions(RLock::<Sim>::new, |l| drop(l.lock()));
    let array = executions(
        || Array::<u32, Sim>::from_slice(&[0, 0]).expect("two elements"),
        |a| drop(a.locked().expect("an Array from_slice has a lock")),
    );
    let value = executions(
        || Value::<u32, Sim>::new(0),
        |v| v.update(|n| *n += 1).expect("a Value from new has a lock"),
    );
    // Four critical sections of two tasks have 6 orders, and the search runs 6 executions. (It
    // ran 8: an acquire that passed once the lock was released was also tried before the
    // release, where it blocks, and that execution was abandoned; such a race now goes to the
    // acquire that took the lock before, `Execution::enablings`.)
    assert_eq!(lock, 6);
    for (name, cost) in [
        ("RLock", rlock),
        ("RLock re-entered", rlock_reentered),
        ("RLock::lock", rlock_guard),
        ("Array::locked", array),
    ] {
        assert_eq!(cost, lock, "{name}");
    }
    // One operation holding the lock inside: only the 6 orders.
    assert_eq!(value, 6);
}

/// A child process costs what a task does: joining one is one event, taken once the child has
/// ended or died (`Platform::ready_when_or_dead` on its exit word), and its end is one event,
/// so the search runs one execution to its end per order of the critical sections, as with
/// tasks. (Before, the join's look at the word, its futex wait, and the child's store and wake
/// were events of their own, racing in three orders per child: 96 executions ran to their end
/// here, against 6.)
#[test]
fn a_process_costs_what_a_task_does() {
    let tasks = search(Lock::<Sim>::new, |l| {
        l.acquire().expect("no owner died");
        l.release().expect("held");
    });
    let (processes, killed) = process_search(config());
    assert!(!killed);
    assert_eq!(ended(&processes), ended(&tasks), "{processes}");
    // With a kill: the join of a child killed before it ended returns (-9) rather than wait
    // for an exit word the child will never write.
    let (with_kill, killed) = process_search(config().kills(1));
    assert!(killed, "{with_kill}");
    assert!(ended(&with_kill) > ended(&processes), "{with_kill}");
}

/// Three child processes and a task of the main process meet at a `Barrier`, and the main task
/// joins the children, with timeouts that fire only when every task waits: a `join_timeout`
/// costs what a `join` does, the orders of the barrier's arrivals (4! = 24: the parties leave a
/// released round without its lock, so their departures commute; 4! × 3! = 144 while each
/// departure was a critical section of its own). Its clock reading for the deadline began the
/// join's event, so the look at the child's exit word was part of an event that could run
/// before the child's end, and both orders of every join and its child's end were explored
/// (1,272 executions for the timed joins until 2026-12-07).
#[test]
fn a_timed_join_costs_what_a_join_does() {
    let search = |timed: bool| {
        let config = config().timeouts(mpcheck::sim::Timeouts::WhenIdle);
        explore(config, move || {
            let barrier = mpcheck::Barrier::<Sim>::new(4);
            let children: Vec<_> = (0..3)
                .map(|_| {
                    let barrier = barrier.clone();
                    let child = Process::<Sim>::new(move || {
                        barrier.wait().expect("nobody breaks it");
                    });
                    child.start().expect("it starts");
                    child
                })
                .collect();
            barrier.wait().expect("nobody breaks it");
            for child in &children {
                if timed {
                    let hour = std::time::Duration::from_secs(3600);
                    while !child.join_timeout(hour).expect("started") {}
                } else {
                    child.join().expect("started");
                }
            }
        })
        .expect("no failure")
    };
    let (untimed, timed) = (search(false), search(true));
    assert!(untimed.complete() && timed.complete(), "{untimed} {timed}");
    assert_eq!(untimed.executions(), 24, "{untimed}");
    assert_eq!(timed.executions(), untimed.executions(), "{timed}");
}

/// Three tasks that each increment a counter under a lock twice (the issue's `lock3x2`): the
/// search runs one execution per order of the six critical sections, 6! / (2! · 2! · 2!) = 90,
/// and abandons none. An acquire that passed only once the lock was released used to be tried
/// before that release too, where it blocks: 18 more executions, each abandoned asleep.
/// Sections that only read their data are no cheaper: the orders of a lock's sections are what
/// the search explores (Mazurkiewicz traces, with the lock's word).
#[test]
fn critical_sections_cost_one_execution_per_order() {
    let report = explore(config(), || {
        let lock = Lock::<Sim>::new();
        let counter = Value::<u32, Sim>::raw(0);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    for _ in 0..2 {
                        let _held = lock.lock();
                        counter.set(counter.get() + 1);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.join().expect("the task finishes");
        }
        assert_eq!(counter.get(), 6);
    })
    .expect("no failure");
    assert!(report.complete(), "{report}");
    assert_eq!(report.executions(), 90, "{report}");
    assert_eq!(report.abandoned(), 0, "{report}");
}

/// Runs `producers` tasks that each put `items` items and one task that gets them all, on a
/// queue of `capacity`, under `config`.
fn queue_search(config: Config, producers: u32, items: u32, capacity: Option<usize>) -> Report {
    let report = explore(config, move || {
        let queue = Queue::<u32, Sim>::with_capacity(capacity, 32).expect("a valid queue");
        let putters: Vec<_> = (0..producers)
            .map(|p| {
                let queue = queue.clone();
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    for i in 0..items {
                        queue.put(p * 10 + i).expect("open");
                    }
                })
            })
            .collect();
        let getter = {
            let queue = queue.clone();
            mpcheck::thread::spawn::<Sim, _, _>(move || {
                for _ in 0..producers * items {
                    queue.get().expect("open");
                }
            })
        };
        for task in putters {
            task.join().expect("the task finishes");
        }
        getter.join().expect("the task finishes");
    })
    .expect("no failure");
    assert!(report.complete(), "{report}");
    report
}

/// A queue's `get` that waits for a `put`, and a `put` that waits for room, is one event taken
/// once it can complete (`Platform::ready_if`, a check over the ring's words): a getter is
/// never woken to look at a ring that is still empty. One producer and one getter of two items
/// have one order up to equivalence (a put and a get of different slots commute), and the
/// search runs one execution to its end; two producers of one item each, two (the orders of
/// the puts). Before the check, a blocked getter slept in the ring's futex wait and woke at
/// every change, a look that raced with every put.
#[test]
fn a_get_that_waits_for_a_put_is_one_event() {
    for (producers, items, capacity, orders) in
        [(1, 2, None, 1), (1, 2, Some(1), 1), (2, 1, None, 2)]
    {
        let report = queue_search(config(), producers, items, capacity);
        assert_eq!(
            ended(&report),
            orders,
            "{producers} x {items}, {capacity:?}: {report}"
        );
    }
}

/// An operation that touches a dozen words is not *wide* (dependent on every event): a `put`
/// of a 24-byte item takes four slots (their stamps and data words), the cursors and the
/// counts. Two producers and two getters of one such item each, on a ring of four slots (one
/// item at a time): the orders of the puts and of the gets, four, each run once to its end.
/// (With footprints of up to 8 objects, until 2026-12-06, every put and get was wide, ordered
/// with every task's start and end: 2,144 executions.)
#[test]
fn an_operation_on_a_dozen_words_is_not_dependent_on_everything() {
    let report = explore(config(), || {
        let queue = Queue::<Vec<u8>, Sim>::with_capacity(Some(2), 32).expect("a valid queue");
        let mut tasks = Vec::new();
        for p in 0..2u8 {
            let queue = queue.clone();
            tasks.push(mpcheck::thread::spawn::<Sim, _, _>(move || {
                queue.put(vec![p; 24]).expect("open")
            }));
        }
        for _ in 0..2 {
            let queue = queue.clone();
            tasks.push(mpcheck::thread::spawn::<Sim, _, _>(move || {
                assert_eq!(queue.get().expect("open").len(), 24);
            }));
        }
        for task in tasks {
            task.join().expect("the task finishes");
        }
    })
    .expect("no failure");
    assert!(report.complete(), "{report}");
    assert_eq!(ended(&report), 4, "{report}");
}
