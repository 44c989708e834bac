//! Every operation and every error case of every sync primitive, on real threads (`Os`).
//!
//! Cross-thread tests order their steps with the primitives themselves or by polling a
//! primitive's observable state (`n_waiting`, `is_locked`), never with `sleep`.

use std::time::Duration;

use mpcheck::{
    thread, Barrier, BoundedSemaphore, Condition, Error, Event, Lock, Os, RLock, Semaphore,
};

type T<R> = mpcheck::thread::JoinHandle<R, Os>;

fn spawn<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> T<R> {
    thread::spawn::<Os, _, _>(f)
}

/// Polls until `cond` holds (the state of a primitive another thread is changing).
fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        std::thread::yield_now();
    }
}

const SHORT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------- Lock

#[test]
fn lock_starts_unlocked() {
    assert!(!Lock::<Os>::new().is_locked());
}

#[test]
fn lock_acquire_then_release() {
    let lock = Lock::<Os>::new();
    lock.acquire().unwrap();
    assert!(lock.is_locked());
    assert_eq!(lock.release(), Ok(()));
    assert!(!lock.is_locked());
}

#[test]
fn lock_try_acquire_succeeds_when_free_and_fails_when_held() {
    let lock = Lock::<Os>::new();
    assert!(lock.try_acquire());
    assert!(!lock.try_acquire());
}

#[test]
fn lock_acquire_timeout_true_when_free() {
    assert!(Lock::<Os>::new().acquire_timeout(SHORT));
}

#[test]
fn lock_acquire_timeout_false_when_held() {
    let lock = Lock::<Os>::new();
    lock.acquire().unwrap();
    assert!(!lock.acquire_timeout(SHORT));
    assert!(lock.is_locked());
}

#[test]
fn lock_acquire_timeout_zero_is_a_try() {
    let lock = Lock::<Os>::new();
    assert!(lock.acquire_timeout(Duration::ZERO));
    assert!(!lock.acquire_timeout(Duration::ZERO));
}

#[test]
fn lock_huge_timeout_means_no_deadline() {
    let lock = Lock::<Os>::new();
    assert!(lock.acquire_timeout(Duration::MAX));
}

#[test]
fn lock_release_when_unlocked_is_an_error() {
    let err = Lock::<Os>::new().release().unwrap_err();
    assert_eq!(err, Error::ReleasedTooManyTimes { primitive: "Lock" });
    assert_eq!(err.to_string(), "Lock released too many times");
}

#[test]
fn lock_may_be_released_by_another_task() {
    let lock = Lock::<Os>::new();
    lock.acquire().unwrap();
    let l = lock.clone();
    assert_eq!(spawn(move || l.release()).join(), Ok(Ok(())));
    assert!(!lock.is_locked());
}

#[test]
fn lock_acquire_waits_for_release() {
    let lock = Lock::<Os>::new();
    lock.acquire().unwrap();
    let l = lock.clone();
    let waiter = spawn(move || {
        l.acquire().unwrap();
        l.release()
    });
    lock.release().unwrap();
    assert_eq!(waiter.join(), Ok(Ok(())));
    assert!(!lock.is_locked());
}

#[test]
fn lock_guard_releases_on_drop() {
    let lock = Lock::<Os>::new();
    {
        let _guard = lock.lock();
        assert!(lock.is_locked());
    }
    assert!(!lock.is_locked());
}

#[test]
fn lock_try_lock_is_none_when_held() {
    let lock = Lock::<Os>::new();
    let guard = lock.try_lock();
    assert!(guard.is_some());
    assert!(lock.try_lock().is_none());
    drop(guard);
    assert!(!lock.is_locked());
}

#[test]
fn lock_clones_are_the_same_lock() {
    let a = Lock::<Os>::new();
    let b = a.clone();
    a.acquire().unwrap();
    assert!(b.is_locked());
    b.release().unwrap();
    assert!(!a.is_locked());
}

#[test]
fn lock_debug_shows_state() {
    let lock = Lock::<Os>::new();
    assert_eq!(format!("{lock:?}"), "Lock { locked: false }");
}

// ---------------------------------------------------------------- RLock

#[test]
fn rlock_owner_reenters_and_releases_each_level() {
    let lock = RLock::<Os>::new();
    lock.acquire().unwrap();
    lock.acquire().unwrap();
    assert!(lock.try_acquire());
    assert!(lock.acquire_timeout(SHORT));
    for _ in 0..4 {
        assert!(lock.is_locked());
        lock.release().unwrap();
    }
    assert!(!lock.is_locked());
}

#[test]
fn rlock_release_by_non_owner_is_an_error() {
    let lock = RLock::<Os>::new();
    lock.acquire().unwrap();
    let l = lock.clone();
    let err = spawn(move || l.release()).join().unwrap().unwrap_err();
    assert_eq!(
        err,
        Error::NotOwner {
            operation: "RLock::release"
        }
    );
    assert_eq!(
        err.to_string(),
        "RLock::release called by a task that does not hold the lock"
    );
    assert!(lock.is_owned());
}

#[test]
fn rlock_release_when_free_is_an_error() {
    let err = RLock::<Os>::new().release().unwrap_err();
    assert_eq!(
        err,
        Error::NotOwner {
            operation: "RLock::release"
        }
    );
}

#[test]
fn rlock_excludes_other_tasks() {
    let lock = RLock::<Os>::new();
    lock.acquire().unwrap();
    let l = lock.clone();
    let other = spawn(move || (l.try_acquire(), l.acquire_timeout(SHORT), l.is_owned()));
    assert_eq!(other.join(), Ok((false, false, false)));
    assert!(lock.is_owned());
}

#[test]
fn rlock_acquire_waits_for_full_release() {
    let lock = RLock::<Os>::new();
    lock.acquire().unwrap();
    lock.acquire().unwrap();
    let l = lock.clone();
    let waiter = spawn(move || {
        l.acquire().unwrap();
        let owned = l.is_owned();
        l.release().map(|()| owned)
    });
    lock.release().unwrap();
    assert!(lock.is_owned(), "one level still held");
    lock.release().unwrap();
    assert_eq!(waiter.join(), Ok(Ok(true)));
}

#[test]
fn rlock_guards_nest() {
    let lock = RLock::<Os>::new();
    let outer = lock.lock();
    let inner = lock.try_lock().expect("owner re-enters");
    drop(inner);
    assert!(lock.is_owned());
    drop(outer);
    assert!(!lock.is_locked());
}

#[test]
fn rlock_debug_names_the_owner() {
    let lock = RLock::<Os>::new();
    assert_eq!(format!("{lock:?}"), "RLock { owner: None }");
    let _held = lock.lock();
    let me = <Os as mpcheck::Platform>::current_task();
    assert_eq!(
        format!("{lock:?}"),
        format!("RLock {{ owner: Some({me:?}) }}")
    );
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_counts() {
    let sem = Semaphore::<Os>::new(2);
    assert_eq!(sem.get_value(), 2);
    sem.acquire().unwrap();
    assert_eq!(sem.get_value(), 1);
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(
        sem.get_value(),
        3,
        "a plain Semaphore may go above its initial value"
    );
}

#[test]
fn semaphore_try_acquire_fails_at_zero() {
    let sem = Semaphore::<Os>::new(1);
    assert!(sem.try_acquire());
    assert!(!sem.try_acquire());
    assert_eq!(sem.get_value(), 0);
}

#[test]
fn semaphore_acquire_timeout_false_at_zero() {
    let sem = Semaphore::<Os>::new(0);
    assert!(!sem.acquire_timeout(SHORT));
    assert_eq!(sem.get_value(), 0);
}

#[test]
fn semaphore_acquire_timeout_true_when_released() {
    let sem = Semaphore::<Os>::new(0);
    let s = sem.clone();
    let waiter = spawn(move || s.acquire_timeout(LONG));
    sem.release().unwrap();
    assert_eq!(waiter.join(), Ok(true));
    assert_eq!(sem.get_value(), 0);
}

#[test]
fn semaphore_acquire_waits_for_release() {
    let sem = Semaphore::<Os>::new(0);
    let s = sem.clone();
    let waiter = spawn(move || s.acquire());
    sem.release().unwrap();
    waiter.join().unwrap().unwrap();
    assert_eq!(sem.get_value(), 0);
}

#[test]
fn semaphore_release_past_its_max_is_overflow() {
    // A larger initial value is clamped to the largest count (bit 31 is the holder table's).
    let sem = Semaphore::<Os>::new(u32::MAX);
    assert_eq!(sem.get_value(), Semaphore::<Os>::MAX);
    assert_eq!(Semaphore::<Os>::MAX, (1 << 31) - 1);
    let err = sem.release().unwrap_err();
    assert_eq!(
        err,
        Error::Overflow {
            what: "Semaphore value"
        }
    );
    assert_eq!(err.to_string(), "Semaphore value would overflow");
    assert_eq!(sem.get_value(), Semaphore::<Os>::MAX);
}

#[test]
fn semaphore_guard_gives_back_its_unit() {
    let sem = Semaphore::<Os>::new(1);
    {
        let _unit = sem.guard();
        assert_eq!(sem.get_value(), 0);
    }
    assert_eq!(sem.get_value(), 1);
}

#[test]
fn semaphore_zero_blocks_until_released() {
    let sem = Semaphore::<Os>::new(0);
    let s = sem.clone();
    let waiter = spawn(move || {
        let _unit = s.guard();
    });
    sem.release().unwrap();
    waiter.join().unwrap();
    assert_eq!(sem.get_value(), 1);
}

// ---------------------------------------------------------------- BoundedSemaphore

#[test]
fn bounded_semaphore_acquire_release() {
    let sem = BoundedSemaphore::<Os>::new(2);
    sem.acquire().unwrap();
    assert!(sem.try_acquire());
    assert!(!sem.acquire_timeout(SHORT));
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 2);
}

#[test]
fn bounded_semaphore_release_above_initial_is_an_error() {
    let sem = BoundedSemaphore::<Os>::new(2);
    let err = sem.release().unwrap_err();
    assert_eq!(
        err,
        Error::ReleasedTooManyTimes {
            primitive: "BoundedSemaphore"
        }
    );
    assert_eq!(err.to_string(), "BoundedSemaphore released too many times");
    assert_eq!(sem.get_value(), 2);
}

#[test]
fn bounded_semaphore_of_zero_never_releases() {
    let sem = BoundedSemaphore::<Os>::new(0);
    assert!(!sem.try_acquire());
    assert!(sem.release().is_err());
}

#[test]
fn bounded_semaphore_guard() {
    let sem = BoundedSemaphore::<Os>::new(1);
    {
        let _unit = sem.guard();
        assert_eq!(sem.get_value(), 0);
    }
    assert_eq!(sem.get_value(), 1);
}

// ---------------------------------------------------------------- Event

#[test]
fn event_set_clear_is_set() {
    let event = Event::<Os>::new();
    assert!(!event.is_set());
    event.set();
    event.set();
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    event.clear();
    assert!(!event.is_set());
}

#[test]
fn event_wait_returns_at_once_when_set() {
    let event = Event::<Os>::new();
    event.set();
    event.wait();
    assert!(event.wait_timeout(Duration::ZERO));
}

#[test]
fn event_wait_timeout_false_when_never_set() {
    assert!(!Event::<Os>::new().wait_timeout(SHORT));
}

#[test]
fn event_set_wakes_a_waiter() {
    let event = Event::<Os>::new();
    let e = event.clone();
    let waiter = spawn(move || e.wait_timeout(LONG));
    event.set();
    assert_eq!(waiter.join(), Ok(true));
}

#[test]
fn event_set_wakes_every_waiter() {
    let event = Event::<Os>::new();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let e = event.clone();
            spawn(move || e.wait())
        })
        .collect();
    event.set();
    for w in waiters {
        w.join().unwrap();
    }
}

// ---------------------------------------------------------------- Condition

#[test]
fn condition_wait_without_the_lock_is_an_error() {
    let cond = Condition::<Os>::new();
    let err = cond.wait().unwrap_err();
    assert_eq!(
        err,
        Error::NotOwner {
            operation: "Condition::wait"
        }
    );
    assert_eq!(
        cond.wait_timeout(SHORT),
        Err(Error::NotOwner {
            operation: "Condition::wait_timeout"
        })
    );
    assert_eq!(
        cond.wait_for(|| true),
        Err(Error::NotOwner {
            operation: "Condition::wait_for"
        })
    );
    assert_eq!(
        cond.wait_for_timeout(|| true, SHORT),
        Err(Error::NotOwner {
            operation: "Condition::wait_for_timeout"
        })
    );
}

#[test]
fn condition_notify_without_the_lock_is_an_error() {
    let cond = Condition::<Os>::new();
    assert_eq!(
        cond.notify(1),
        Err(Error::NotOwner {
            operation: "Condition::notify"
        })
    );
    assert_eq!(
        cond.notify_all(),
        Err(Error::NotOwner {
            operation: "Condition::notify"
        })
    );
}

#[test]
fn condition_held_by_another_task_is_not_owned() {
    let cond = Condition::<Os>::new();
    let _held = cond.lock();
    let c = cond.clone();
    let err = spawn(move || c.notify(1)).join().unwrap().unwrap_err();
    assert_eq!(
        err,
        Error::NotOwner {
            operation: "Condition::notify"
        }
    );
}

/// The error names the Condition, not the lock under it (it used to say `RLock::release`, or
/// `Lock released too many times`; found by a probe as a new user).
#[test]
fn condition_release_without_the_lock_is_an_error() {
    let cond = Condition::<Os>::new();
    let err = cond.release().unwrap_err();
    assert_eq!(
        err,
        Error::NotOwner {
            operation: "Condition::release"
        }
    );
    assert_eq!(
        err.to_string(),
        "Condition::release called by a task that does not hold the lock"
    );
    cond.acquire().unwrap();
    assert_eq!(cond.release(), Ok(()));
    let on_a_lock = Condition::<Os>::with_lock(Lock::<Os>::new());
    assert_eq!(
        on_a_lock.release(),
        Err(Error::ReleasedTooManyTimes {
            primitive: "Condition"
        })
    );
}

#[test]
fn condition_wait_timeout_false_without_notify() {
    let cond = Condition::<Os>::new();
    let _held = cond.lock();
    assert_eq!(cond.wait_timeout(SHORT), Ok(false));
    assert!(
        cond.notify(1).is_ok(),
        "the lock is held again after the wait"
    );
}

#[test]
fn condition_notify_wakes_a_waiter() {
    let cond = Condition::<Os>::new();
    let flag = Lock::<Os>::new(); // "locked" = the condition the waiter waits for
    let (c, f) = (cond.clone(), flag.clone());
    let waiter = spawn(move || {
        let _held = c.lock();
        c.wait_for(|| f.is_locked())
    });
    {
        let _held = cond.lock();
        flag.acquire().unwrap();
        cond.notify(1).unwrap();
    }
    assert_eq!(waiter.join(), Ok(Ok(true)));
}

#[test]
fn condition_notify_all_wakes_every_waiter() {
    let cond = Condition::<Os>::new();
    let go = Event::<Os>::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (c, g) = (cond.clone(), go.clone());
            spawn(move || {
                let _held = c.lock();
                c.wait_for(|| g.is_set())
            })
        })
        .collect();
    {
        let _held = cond.lock();
        go.set();
        cond.notify_all().unwrap();
    }
    for w in waiters {
        assert_eq!(w.join(), Ok(Ok(true)));
    }
}

#[test]
fn condition_wait_restores_every_recursion_level() {
    let cond = Condition::<Os>::new();
    cond.acquire().unwrap();
    cond.acquire().unwrap();
    cond.acquire().unwrap();
    // While we wait, the lock must be completely free for another task.
    let c = cond.clone();
    let prober = spawn(move || {
        let _held = c.lock();
        c.notify(1)
    });
    let _ = cond.wait_timeout(LONG).unwrap();
    assert_eq!(prober.join(), Ok(Ok(())));
    for _ in 0..3 {
        cond.release().unwrap();
    }
    assert_eq!(
        cond.release(),
        Err(Error::NotOwner {
            operation: "Condition::release"
        })
    );
}

#[test]
fn condition_wait_for_returns_at_once_when_true() {
    let cond = Condition::<Os>::new();
    let _held = cond.lock();
    assert_eq!(cond.wait_for(|| true), Ok(true));
    assert_eq!(cond.wait_for_timeout(|| true, Duration::ZERO), Ok(true));
}

#[test]
fn condition_wait_for_timeout_returns_the_last_predicate_value() {
    let cond = Condition::<Os>::new();
    let _held = cond.lock();
    let mut calls = 0;
    assert_eq!(
        cond.wait_for_timeout(
            || {
                calls += 1;
                false
            },
            SHORT
        ),
        Ok(false)
    );
    assert!(calls >= 2, "checked before waiting and after the timeout");
}

#[test]
fn condition_with_a_plain_lock() {
    let lock = Lock::<Os>::new();
    let cond = Condition::<Os>::with_lock(lock.clone());
    assert_eq!(
        cond.notify(1),
        Err(Error::NotOwner {
            operation: "Condition::notify"
        })
    );
    let _held = cond.lock();
    assert!(lock.is_locked(), "the condition uses the given lock");
    assert_eq!(cond.wait_timeout(SHORT), Ok(false));
    assert!(lock.is_locked());
    assert!(matches!(
        cond.get_lock(),
        mpcheck::sync::ConditionLock::Lock(_)
    ));
}

#[test]
fn condition_with_a_shared_rlock() {
    let lock = RLock::<Os>::new();
    let cond = Condition::<Os>::with_lock(lock.clone());
    lock.acquire().unwrap();
    assert_eq!(
        cond.notify_all(),
        Ok(()),
        "holding the RLock is holding the condition"
    );
    lock.release().unwrap();
}

// ---------------------------------------------------------------- Barrier

#[test]
fn barrier_reports_parties() {
    let b = Barrier::<Os>::new(3);
    assert_eq!(b.parties(), 3);
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
}

#[test]
fn barrier_of_one_returns_zero_at_once() {
    let b = Barrier::<Os>::new(1);
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.wait(), Ok(0));
}

#[test]
fn barrier_of_zero_parties_is_invalid() {
    let err = Barrier::<Os>::new(0).wait().unwrap_err();
    assert_eq!(
        err,
        Error::InvalidArgument("a Barrier needs at least one party".into())
    );
    assert_eq!(
        err.to_string(),
        "invalid argument: a Barrier needs at least one party"
    );
}

#[test]
fn barrier_hands_out_distinct_indices() {
    let b = Barrier::<Os>::new(3);
    let others: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            spawn(move || b.wait())
        })
        .collect();
    let mut indices = vec![b.wait().unwrap()];
    for o in others {
        indices.push(o.join().unwrap().unwrap());
    }
    indices.sort();
    assert_eq!(indices, vec![0, 1, 2]);
}

#[test]
fn barrier_n_waiting_counts_arrivals() {
    let b = Barrier::<Os>::new(2);
    let c = b.clone();
    let early = spawn(move || c.wait());
    until(|| b.n_waiting() == 1);
    b.wait().unwrap();
    early.join().unwrap().unwrap();
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn barrier_action_runs_once_by_the_last_arrival() {
    let runs = Semaphore::<Os>::new(0);
    let r = runs.clone();
    let b = Barrier::<Os>::with_action(2, move || r.release().unwrap());
    let c = b.clone();
    let early = spawn(move || c.wait());
    until(|| b.n_waiting() == 1);
    // The action has not run while one party is missing.
    assert_eq!(runs.get_value(), 0);
    b.wait().unwrap();
    early.join().unwrap().unwrap();
    assert_eq!(runs.get_value(), 1);
}

#[test]
fn barrier_wait_timeout_breaks_the_barrier() {
    let b = Barrier::<Os>::new(2);
    assert_eq!(b.wait_timeout(SHORT), Err(Error::BrokenBarrier));
    assert!(b.broken());
    assert_eq!(b.wait(), Err(Error::BrokenBarrier), "stays broken");
    assert_eq!(
        Error::BrokenBarrier.to_string(),
        "the barrier is broken (a wait timed out, or it was aborted or reset)"
    );
}

#[test]
fn barrier_abort_breaks_waiting_tasks() {
    let b = Barrier::<Os>::new(3);
    let c = b.clone();
    let waiter = spawn(move || c.wait());
    until(|| b.n_waiting() == 1);
    b.abort();
    assert_eq!(waiter.join(), Ok(Err(Error::BrokenBarrier)));
    assert!(b.broken());
}

#[test]
fn barrier_reset_breaks_waiters_then_works_again() {
    let b = Barrier::<Os>::new(2);
    let c = b.clone();
    let waiter = spawn(move || c.wait());
    until(|| b.n_waiting() == 1);
    b.reset();
    assert_eq!(waiter.join(), Ok(Err(Error::BrokenBarrier)));
    assert!(!b.broken());
    let c = b.clone();
    let partner = spawn(move || c.wait());
    let mine = b.wait().unwrap();
    assert_eq!(mine + partner.join().unwrap().unwrap(), 1);
}

#[test]
fn barrier_reset_repairs_a_broken_barrier() {
    let b = Barrier::<Os>::new(1);
    b.abort();
    assert_eq!(b.wait(), Err(Error::BrokenBarrier));
    b.reset();
    assert_eq!(b.wait(), Ok(0));
}

#[test]
fn barrier_action_panic_breaks_the_barrier() {
    let b = Barrier::<Os>::with_action(2, || panic!("the action failed"));
    let c = b.clone();
    let early = spawn(move || c.wait());
    until(|| b.n_waiting() == 1);
    assert_eq!(
        b.wait(),
        Err(Error::Panicked {
            message: "the action failed".into()
        })
    );
    assert_eq!(early.join(), Ok(Err(Error::BrokenBarrier)));
    assert!(b.broken());
}

#[test]
fn barrier_action_may_abort_the_barrier() {
    let cell = std::sync::Arc::new(std::sync::OnceLock::<Barrier<Os>>::new());
    let c = cell.clone();
    let b = Barrier::<Os>::with_action(1, move || c.get().unwrap().abort());
    cell.set(b.clone()).unwrap();
    assert_eq!(b.wait(), Err(Error::BrokenBarrier));
    assert!(b.broken());
}

// ---------------------------------------------------------------- thread

#[test]
fn thread_join_returns_the_value() {
    assert_eq!(spawn(|| 6 * 7).join(), Ok(42));
}

#[test]
fn thread_panic_is_an_error_on_join() {
    let err = spawn(|| -> () { panic!("boom {}", 7) }).join().unwrap_err();
    assert_eq!(
        err,
        Error::Panicked {
            message: "boom 7".into()
        }
    );
    assert_eq!(err.to_string(), "the task panicked: boom 7");
}

#[test]
fn thread_non_string_panic_payload() {
    let err = spawn(|| std::panic::panic_any(17u8)).join().unwrap_err();
    assert_eq!(
        err,
        Error::Panicked {
            message: "<non-string panic payload>".into()
        }
    );
}

/// `true` once the thread `tid` of this process is asleep in the kernel (state `S`), which for
/// the threads below can only be inside the futex wait of the primitive they call.
fn asleep(tid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
}

#[test]
fn event_set_then_clear_still_releases_a_sleeping_waiter() {
    let event = Event::<Os>::new();
    let tid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (e, t) = (event.clone(), tid.clone());
    let waiter = spawn(move || {
        t.store(
            <Os as mpcheck::Platform>::current_task().thread,
            std::sync::atomic::Ordering::SeqCst,
        );
        e.wait_timeout(LONG)
    });
    until(|| {
        let t = tid.load(std::sync::atomic::Ordering::SeqCst);
        t != 0 && asleep(t)
    });
    event.set();
    event.clear();
    assert_eq!(waiter.join(), Ok(true), "the pulse reached the waiter");
    assert!(!event.is_set());
}
