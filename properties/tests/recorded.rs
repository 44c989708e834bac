//! Histories of the real primitives, recorded under the simulator (PCT) and on real threads,
//! checked for linearizability against mpcheck-model's specifications; and a lock that is not
//! linearizable, which the check catches.

use std::time::Duration;

use mpcheck::platform::{Atomic, Platform};
use mpcheck::sim::{self, Config, Sim};
use mpcheck::{Lock, Os, Semaphore};
use mpcheck_model::lock::{LockOp, LockRet};
use mpcheck_model::semaphore::{SemaphoreOp, SemaphoreRet};
use mpcheck_model::{ErrorKind, LockModel, Model, SemaphoreModel, Wait};
use mpcheck_properties::{check, OpId, Recorder, Verdict};

const BUDGET: Duration = Duration::from_secs(10);

/// Checks the recorded history of `recorder` against `initial`, failing with the
/// counterexample (its history, a column per task) if there is no linearization.
fn assert_linearizable<M: Model, P: Platform>(initial: &M, recorder: &Recorder<M, P>) {
    match check(initial, &recorder.history(), BUDGET) {
        Verdict::Linearizable(_) => {}
        Verdict::NotLinearizable(counterexample) => panic!("not linearizable:\n{counterexample}"),
        Verdict::Unknown => panic!("the check ran out of time"),
    }
}

/// `tasks` tasks, each running `body(task)`, then the history checked.
fn tasks<P: Platform>(tasks: u32, body: impl Fn(u32) + Clone + Send + 'static) {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let body = body.clone();
            mpcheck::thread::spawn::<P, _, _>(move || body(t))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a task returns");
    }
}

/// A try's outcome, and the model's result for it.
fn tried(took: bool) -> (bool, LockRet) {
    (
        took,
        if took {
            LockRet::Acquired
        } else {
            LockRet::TimedOut
        },
    )
}

/// The lock operations a task makes: a blocking acquire and its release, a try, a look.
fn lock_workload<P: Platform, const CLOCKS: usize>() {
    let lock = Lock::<P>::new();
    let recorder = Recorder::<LockModel, P>::with_tasks(CLOCKS);
    tasks::<P>(3, {
        let (lock, recorder) = (lock.clone(), recorder.clone());
        move |t| {
            recorder.record(t, LockOp::Acquire(Wait::Forever), || {
                lock.acquire().expect("nobody dies here");
                ((), LockRet::Acquired)
            });
            recorder.record(t, LockOp::Release, || {
                lock.release().expect("the holder releases");
                ((), LockRet::Released)
            });
            let took = recorder.record(t, LockOp::Acquire(Wait::Bounded), || {
                tried(lock.try_acquire())
            });
            recorder.record(t, LockOp::IsLocked, || {
                ((), LockRet::IsLocked(lock.is_locked()))
            });
            if took {
                recorder.record(t, LockOp::Release, || {
                    lock.release().expect("the holder releases");
                    ((), LockRet::Released)
                });
            }
        }
    });
    assert_linearizable(&LockModel::default(), &recorder);
}

/// Semaphore(2): acquires, releases and looks at the value.
fn semaphore_workload<P: Platform, const CLOCKS: usize>() {
    let semaphore = Semaphore::<P>::new(2);
    let recorder = Recorder::<SemaphoreModel, P>::with_tasks(CLOCKS);
    tasks::<P>(3, {
        let (semaphore, recorder) = (semaphore.clone(), recorder.clone());
        move |t| {
            recorder.record(t, SemaphoreOp::Acquire(Wait::Forever), || {
                semaphore.acquire().expect("nobody dies here");
                ((), SemaphoreRet::Acquired)
            });
            recorder.record(t, SemaphoreOp::GetValue, || {
                ((), SemaphoreRet::Value(semaphore.get_value()))
            });
            recorder.record(t, SemaphoreOp::Release, || {
                semaphore.release().expect("below the limit");
                ((), SemaphoreRet::Released)
            });
        }
    });
    assert_linearizable(&SemaphoreModel::new(2), &recorder);
}

#[test]
fn lock_histories_are_linearizable_under_the_simulator() {
    sim::check(Config::pct(3, 500).ignore_env(), lock_workload::<Sim, 1>);
    sim::check(Config::random(500).ignore_env(), lock_workload::<Sim, 1>);
    // A clock per task: an explicit order.
    sim::check(Config::pct(3, 500).ignore_env(), lock_workload::<Sim, 3>);
    sim::check(Config::random(500).ignore_env(), lock_workload::<Sim, 3>);
}

#[test]
fn semaphore_histories_are_linearizable_under_the_simulator() {
    sim::check(
        Config::pct(3, 500).ignore_env(),
        semaphore_workload::<Sim, 1>,
    );
    sim::check(
        Config::pct(3, 500).ignore_env(),
        semaphore_workload::<Sim, 3>,
    );
}

#[test]
fn histories_on_real_threads_are_linearizable() {
    for _ in 0..20 {
        lock_workload::<Os, 1>();
        semaphore_workload::<Os, 1>();
        lock_workload::<Os, 3>();
        semaphore_workload::<Os, 3>();
        // Two clocks for three tasks: tasks 0 and 2 share one.
        lock_workload::<Os, 2>();
    }
}

/// A lock whose try-acquire reads, then writes (two steps, not one), and whose release
/// always succeeds: two tasks can both take it.
struct LoadStoreLock<P: Platform> {
    held: P::Shared<P::AtomicU32>,
}

impl<P: Platform> LoadStoreLock<P> {
    fn try_acquire(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if self.held.load(SeqCst) == 0 {
            self.held.store(1, SeqCst);
            true
        } else {
            false
        }
    }

    fn release(&self) {
        self.held.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

fn mutant_workload<const CLOCKS: usize>() {
    let held = Sim::share(<Sim as Platform>::AtomicU32::new(0));
    let recorder = Recorder::<LockModel, Sim>::with_tasks(CLOCKS);
    tasks::<Sim>(2, {
        let recorder = recorder.clone();
        move |t| {
            let lock = LoadStoreLock::<Sim> { held: held.clone() };
            let took = recorder.record(t, LockOp::Acquire(Wait::Bounded), || {
                tried(lock.try_acquire())
            });
            if took {
                recorder.record(t, LockOp::Release, || {
                    lock.release();
                    ((), LockRet::Released)
                });
            }
        }
    });
    assert_linearizable(&LockModel::default(), &recorder);
}

#[test]
fn a_lock_two_tasks_can_both_take_is_not_linearizable() {
    for workload in [mutant_workload::<1>, mutant_workload::<2>] {
        let failure = sim::explore(Config::dfs().ignore_env().no_shrink().no_files(), workload)
            .expect_err("the search finds two tasks holding the lock");
        let message = failure.message();
        assert!(message.contains("not linearizable"), "{message}");
        assert!(message.contains("no linearization"), "{message}");
    }
    // The model agrees that a second release of a free lock is an error, not `Released`.
    assert!(LockModel::default()
        .step(
            &LockOp::Release,
            &LockRet::Err(ErrorKind::ReleasedTooManyTimes)
        )
        .is_some());
}

/// A consumer's `try_get`, or a swapping consumer's: one that, when it can get two items,
/// puts the first back and returns the second.
fn try_get<P: Platform>(queue: &mpcheck::Queue<u32, P>, swap: bool) -> Result<u32, mpcheck::Error> {
    let first = queue.try_get()?;
    if swap {
        if let Ok(second) = queue.try_get() {
            queue.put(first).expect("put back");
            return Ok(second);
        }
    }
    Ok(first)
}

/// Two producers put, a consumer tries to get (never waiting), and the history is checked
/// against the queue's model, each put as a reservation then a publication (see
/// mpcheck-model's queue docs: an `Empty` may come while the head's put is in flight).
fn queue_workload<P: Platform, const SWAP: bool, const CLOCKS: usize>() {
    use mpcheck::{Error, Queue};
    use mpcheck_model::queue::{QueueOp, QueueRet};
    use mpcheck_model::QueueModel;
    let queue = Queue::<u32, P>::new();
    let recorder = Recorder::<QueueModel<u32>, P>::with_tasks(CLOCKS);
    let consumer = {
        let (queue, recorder) = (queue.clone(), recorder.clone());
        mpcheck::thread::spawn::<P, _, _>(move || {
            for _ in 0..3 {
                recorder.record(2, QueueOp::Get(Wait::Bounded), || {
                    match try_get(&queue, SWAP) {
                        Ok(item) => ((), QueueRet::Got(item)),
                        Err(Error::Empty) => ((), QueueRet::Err(ErrorKind::Empty)),
                        Err(e) => panic!("try_get: {e}"),
                    }
                });
            }
        })
    };
    tasks::<P>(2, {
        let (queue, recorder) = (queue.clone(), recorder.clone());
        move |t| {
            recorder.record_with(t, || {
                queue.put(t).expect("put");
                let me = mpcheck_model::Caller::new(0, t);
                let halves = vec![
                    (QueueOp::Reserve(me, t, Wait::Forever), QueueRet::Done),
                    (QueueOp::Publish(me, t), QueueRet::Done),
                ];
                ((), halves)
            });
        }
    });
    consumer.join().expect("the consumer returns");
    assert_linearizable(&QueueModel::<u32>::new(), &recorder);
}

/// PCT found, against a model of whole puts, a `try_get` returning `Empty` while a put that
/// took its ticket first was still writing and a later put had returned. With puts as a
/// reservation and a publication the histories are linearizable.
#[test]
fn queue_histories_are_linearizable_with_puts_in_flight() {
    for workload in [
        queue_workload::<Sim, false, 1>,
        queue_workload::<Sim, false, 3>,
    ] {
        sim::check(Config::pct(3, 3_000).ignore_env(), workload);
        sim::check(Config::random(3_000).ignore_env(), workload);
    }
    for _ in 0..20 {
        queue_workload::<Os, false, 1>();
        queue_workload::<Os, false, 3>();
    }
}

/// A consumer that can swap two items is caught.
#[test]
fn a_queue_that_swaps_two_items_is_not_linearizable() {
    for workload in [
        queue_workload::<Sim, true, 1>,
        queue_workload::<Sim, true, 3>,
    ] {
        let failure = sim::explore(Config::pct(3, 3_000).ignore_env().no_files(), workload)
            .expect_err("PCT finds two items got out of order");
        let message = failure.message();
        assert!(message.contains("not linearizable"), "{message}");
    }
}

/// Event: a task waits, one sets, one clears, and each looks.
fn event_workload<P: Platform>() {
    use mpcheck::Event;
    use mpcheck_model::event::{EventOp, EventRet};
    use mpcheck_model::EventModel;
    let event = Event::<P>::new();
    let recorder = Recorder::<EventModel, P>::new();
    tasks::<P>(3, {
        let (event, recorder) = (event.clone(), recorder.clone());
        move |t| match t {
            0 => recorder.record(t, EventOp::Wait(Wait::Forever), || {
                event.wait();
                ((), EventRet::Waited(true))
            }),
            1 => {
                recorder.record(t, EventOp::Set, || (event.set(), EventRet::Done));
                recorder.record(t, EventOp::IsSet, || ((), EventRet::IsSet(event.is_set())));
            }
            _ => {
                recorder.record(t, EventOp::IsSet, || ((), EventRet::IsSet(event.is_set())));
                recorder.record(t, EventOp::Clear, || (event.clear(), EventRet::Done));
                recorder.record(t, EventOp::Set, || (event.set(), EventRet::Done));
            }
        }
    });
    assert_linearizable(&EventModel::new(), &recorder);
}

/// Value: increments under its lock (`update`), plain gets and sets.
fn value_workload<P: Platform>() {
    use mpcheck::Value;
    use mpcheck_model::shared::{ValueOp, ValueRet};
    use mpcheck_model::ValueModel;
    fn increment(n: &u32) -> u32 {
        n + 1
    }
    let value = Value::<u32, P>::new(0);
    let recorder = Recorder::<ValueModel<u32>, P>::new();
    tasks::<P>(3, {
        let (value, recorder) = (value.clone(), recorder.clone());
        move |t| {
            recorder.record(t, ValueOp::Update(increment), || {
                let old = value
                    .update(|n| {
                        let old = *n;
                        *n += 1;
                        old
                    })
                    .expect("a Value with a lock");
                ((), ValueRet::Updated(old))
            });
            recorder.record(t, ValueOp::Get, || ((), ValueRet::Value(value.get())));
            if t == 2 {
                recorder.record(t, ValueOp::Set(10), || (value.set(10), ValueRet::Done));
            }
        }
    });
    assert_linearizable(&ValueModel::new(0), &recorder);
}

/// RLock: recursion by its owner, a try by the others, a release by a task that does not own
/// it (`NotOwner`).
fn rlock_workload<P: Platform>() {
    use mpcheck::RLock;
    use mpcheck_model::lock::RLockOp;
    use mpcheck_model::{Caller, RLockModel};
    let lock = RLock::<P>::new();
    let recorder = Recorder::<RLockModel, P>::new();
    tasks::<P>(2, {
        let (lock, recorder) = (lock.clone(), recorder.clone());
        move |t| {
            let me = Caller::new(0, t);
            let release = || {
                recorder.record(t, RLockOp::Release(me), || match lock.release() {
                    Ok(()) => ((), LockRet::Released),
                    Err(mpcheck::Error::NotOwner { .. }) => ((), LockRet::Err(ErrorKind::NotOwner)),
                    Err(e) => panic!("release: {e}"),
                })
            };
            let took = recorder.record(t, RLockOp::Acquire(me, Wait::Bounded), || {
                tried(lock.try_acquire())
            });
            if took {
                recorder.record(t, RLockOp::Acquire(me, Wait::Forever), || {
                    lock.acquire().expect("its owner again");
                    ((), LockRet::Acquired)
                });
                release();
                release();
            } else {
                release();
            }
        }
    });
    assert_linearizable(&RLockModel::default(), &recorder);
}

/// BoundedSemaphore(1): a release beyond the bound is refused, exactly.
fn bounded_semaphore_workload<P: Platform>() {
    use mpcheck::BoundedSemaphore;
    let semaphore = BoundedSemaphore::<P>::new(1);
    let recorder = Recorder::<SemaphoreModel, P>::new();
    tasks::<P>(2, {
        let (semaphore, recorder) = (semaphore.clone(), recorder.clone());
        move |t| {
            recorder.record(t, SemaphoreOp::Acquire(Wait::Bounded), || {
                let ret = if semaphore.try_acquire() {
                    SemaphoreRet::Acquired
                } else {
                    SemaphoreRet::TimedOut
                };
                ((), ret)
            });
            // Every task releases once: one release too many when only one took it.
            recorder.record(t, SemaphoreOp::Release, || match semaphore.release() {
                Ok(()) => ((), SemaphoreRet::Released),
                Err(mpcheck::Error::ReleasedTooManyTimes { .. }) => {
                    ((), SemaphoreRet::Err(ErrorKind::ReleasedTooManyTimes))
                }
                Err(e) => panic!("release: {e}"),
            });
        }
    });
    assert_linearizable(&SemaphoreModel::bounded(1), &recorder);
}

#[test]
fn event_value_rlock_and_bounded_semaphore_histories_are_linearizable() {
    for config in [Config::pct(3, 1_000), Config::random(1_000)] {
        sim::check(config.clone().ignore_env(), event_workload::<Sim>);
        sim::check(config.clone().ignore_env(), value_workload::<Sim>);
        sim::check(config.clone().ignore_env(), rlock_workload::<Sim>);
        sim::check(config.ignore_env(), bounded_semaphore_workload::<Sim>);
    }
    for _ in 0..20 {
        event_workload::<Os>();
        value_workload::<Os>();
        rlock_workload::<Os>();
        bounded_semaphore_workload::<Os>();
    }
}

/// A "register" each task keeps a copy of: a write changes the writer's copy only. Its
/// histories are sequentially consistent (each task's reads agree with a sequential order of
/// its own) but not linearizable: a read called after another task's write returned misses it.
/// Only real time tells, and no memory the tasks share but the recorder's clocks orders the
/// two: with a clock per task (returns that commute) as with one, the search finds the order in
/// which the read is called after the write returned.
fn cached_register_workload<const CLOCKS: usize>() {
    use mpcheck_model::shared::{ValueOp, ValueRet};
    use mpcheck_model::ValueModel;
    let recorder = Recorder::<ValueModel<u32>, Sim>::with_tasks(CLOCKS);
    tasks::<Sim>(2, {
        let recorder = recorder.clone();
        move |t| {
            let mut copy = 0;
            if t == 0 {
                recorder.record(t, ValueOp::Set(1), || (copy = 1, ValueRet::Done));
            } else {
                recorder.record(t, ValueOp::Get, || ((), ValueRet::Value(copy)));
            }
        }
    });
    assert_linearizable(&ValueModel::new(0), &recorder);
}

#[test]
fn a_read_after_a_write_returned_elsewhere_is_ordered_by_real_time() {
    for workload in [cached_register_workload::<1>, cached_register_workload::<2>] {
        let failure = sim::explore(Config::dfs().ignore_env().no_shrink().no_files(), workload)
            .expect_err("the search calls the read after the write returned");
        let message = failure.message();
        assert!(message.contains("not linearizable"), "{message}");
    }
}

/// One call after another on real threads, the middle one with no model operation (it leaves
/// no operation in the history): the last follows the first, whether the tasks count on clocks
/// of their own, share one, or all count on one (then the stamps are times).
#[test]
fn calls_in_turn_are_ordered_with_a_call_of_no_operation_between() {
    use mpcheck_model::shared::{ValueOp, ValueRet};
    use mpcheck_model::ValueModel;
    for clocks in [1, 2, 3] {
        let recorder = Recorder::<ValueModel<u32>, Os>::with_tasks(clocks);
        for task in 0..3 {
            let recorder = recorder.clone();
            let handle = mpcheck::thread::spawn::<Os, _, _>(move || match task {
                0 => recorder.record(task, ValueOp::Set(1), || ((), ValueRet::Done)),
                1 => recorder.record_with(task, || ((), Vec::new())),
                _ => recorder.record(task, ValueOp::Get, || ((), ValueRet::Value(1))),
            });
            handle.join().expect("a task returns");
        }
        let history = recorder.history();
        assert_eq!(history.len(), 2);
        assert_eq!(history.is_explicit(), clocks > 1);
        match history.predecessors(OpId(1)) {
            Some(preds) => assert_eq!(preds, [OpId(0)], "{clocks} clocks"),
            None => {
                let (set, get) = (&history.operations()[0], &history.operations()[1]);
                assert!(set.ret_time().expect("returned") < get.call);
            }
        }
        assert_linearizable(&ValueModel::new(0), &recorder);
    }
}

/// Four tasks on two clocks (tasks 0 and 2 share one, 1 and 3 the other), one after another,
/// fifty writes each: an operation's predecessors are at most one per task (the latest of each
/// that it saw returned), however long the history, and they order it as it ran.
#[test]
fn shared_clocks_keep_one_predecessor_per_task() {
    use mpcheck_model::shared::{ValueOp, ValueRet};
    use mpcheck_model::ValueModel;
    let recorder = Recorder::<ValueModel<u32>, Os>::with_tasks(2);
    for task in 0..4u32 {
        let recorder = recorder.clone();
        mpcheck::thread::spawn::<Os, _, _>(move || {
            for k in 0..50 {
                recorder.record(task, ValueOp::Set(task * 100 + k), || ((), ValueRet::Done));
            }
        })
        .join()
        .expect("a task returns");
    }
    let history = recorder.history();
    assert_eq!(history.len(), 200);
    for i in 0..200 {
        let preds = history.predecessors(OpId(i)).expect("an explicit order");
        // The operation before it in its task, and the last of each task before.
        let (task, k) = (i / 50, i % 50);
        let mut expected: Vec<OpId> = (0..task).map(|t| OpId(t * 50 + 49)).collect();
        if k > 0 {
            expected.push(OpId(i - 1));
        }
        let mut preds = preds.to_vec();
        preds.sort_unstable();
        assert_eq!(preds, expected, "#{i}");
    }
    assert_linearizable(&ValueModel::new(0), &recorder);
}
