//! The std-shaped facade (`mpcheck::facade`): one generic function per property, run by every
//! engine — `Os` on real threads (repeated), our simulator (exhaustive DFS at operation
//! granularity, which must be complete, and a random walk at step granularity, which
//! interleaves the facade's own algorithms), loom (bounded) and shuttle (random and PCT). Then
//! programs with real bugs, which the simulator must find and report; and the facade's
//! `lock3x2` against the `Lock` version at operation granularity.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::Arc;
use std::sync::TryLockError;
use std::time::Duration;

use mpcheck::facade::thread::{scope, spawn};
use mpcheck::facade::{
    AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicPtr, AtomicU16,
    AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Barrier, Condvar, Mutex, Once, RwLock,
};
use mpcheck::sim::{explore, Config, FailureKind, Granularity, Sim};
use mpcheck::Platform;

/// A panic that the panic hook does not print (the tests' own panics are expected).
fn quiet_panic() -> ! {
    resume_unwind(Box::new("expected panic"))
}

// ---------------------------------------------------------------------------------------------
// Properties, each generic over the platform.

/// 3 threads × 2 lock-protected increments: the count is exact.
fn mutex_counter<P: Platform>() {
    let counter = Arc::new(Mutex::<u64, P>::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let counter = counter.clone();
            spawn::<P, _, _>(move || {
                for _ in 0..2 {
                    *counter.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 6);
    let counter = Arc::into_inner(counter).unwrap();
    assert_eq!(counter.into_inner().unwrap(), 6);
}

/// A guard dropped by a panic poisons the mutex: later locks get `Err` with the guard, and
/// `clear_poison` ends it. The panicking thread runs alone (the main thread waits in `join`).
fn mutex_poisoning<P: Platform>() {
    let mutex = Arc::new(Mutex::<Vec<u32>, P>::new(vec![1]));
    let theirs = mutex.clone();
    spawn::<P, _, _>(move || {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let mut data = theirs.lock().unwrap();
            data.push(2);
            quiet_panic();
        }));
        assert!(caught.is_err());
    })
    .join()
    .unwrap();
    assert!(mutex.is_poisoned());
    let data = mutex.lock().expect_err("poisoned");
    assert_eq!(
        *data.into_inner(),
        vec![1, 2],
        "the guard still reaches the data"
    );
    match mutex.try_lock() {
        Err(TryLockError::Poisoned(guard)) => assert_eq!(guard.into_inner().len(), 2),
        other => panic!("try_lock of a free, poisoned mutex: {:?}", other.is_ok()),
    }
    mutex.clear_poison();
    assert!(!mutex.is_poisoned());
    mutex.lock().unwrap().push(3);
    // A guard taken while panicking (in a drop during unwinding) does not poison.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        struct LockOnDrop<'a, P: Platform>(&'a Mutex<Vec<u32>, P>);
        impl<P: Platform> Drop for LockOnDrop<'_, P> {
            fn drop(&mut self) {
                self.0.lock().unwrap().push(4);
            }
        }
        let _on_drop = LockOnDrop(&mutex);
        quiet_panic();
    }));
    assert!(caught.is_err());
    assert!(!mutex.is_poisoned());
    let mut mutex = Arc::into_inner(mutex).unwrap();
    assert_eq!(*mutex.get_mut().unwrap(), vec![1, 2, 3, 4]);
}

/// `try_lock` fails while another task holds the mutex, and succeeds once it is free.
fn mutex_try_lock<P: Platform>() {
    let mutex = Arc::new(Mutex::<u32, P>::new(0));
    let held = mutex.lock().unwrap();
    let theirs = mutex.clone();
    let tried =
        spawn::<P, _, _>(move || matches!(theirs.try_lock(), Err(TryLockError::WouldBlock)))
            .join()
            .unwrap();
    assert!(tried, "try_lock of a held mutex would block");
    drop(held);
    let theirs = mutex.clone();
    let got = spawn::<P, _, _>(move || theirs.try_lock().map(|mut g| *g += 1).is_ok())
        .join()
        .unwrap();
    assert!(got);
    assert_eq!(*mutex.lock().unwrap(), 1);
}

/// Read guards coexist (a reader joins another that holds a read guard: were readers
/// exclusive, that would deadlock); `try_write` fails while one is out, `try_read` while the
/// write guard is; writers exclude everyone: readers never see a half-made update.
fn rwlock_readers_and_writers<P: Platform>() {
    let lock = Arc::new(RwLock::<(u32, u32), P>::new((0, 0)));
    {
        let mine = lock.read().unwrap();
        let theirs = lock.clone();
        let (sum, blocked) = spawn::<P, _, _>(move || {
            let guard = theirs.read().unwrap();
            (guard.0 + guard.1, theirs.try_write().is_err())
        })
        .join()
        .unwrap();
        assert_eq!((sum, blocked), (0, true));
        assert_eq!(*mine, (0, 0));
    }
    {
        let _writing = lock.write().unwrap();
        let theirs = lock.clone();
        let blocked = spawn::<P, _, _>(move || {
            matches!(theirs.try_read(), Err(TryLockError::WouldBlock))
                && matches!(theirs.try_write(), Err(TryLockError::WouldBlock))
        })
        .join()
        .unwrap();
        assert!(blocked);
    }
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let lock = lock.clone();
            spawn::<P, _, _>(move || {
                let mut pair = lock.write().unwrap();
                pair.0 += 1;
                pair.1 += 1;
            })
        })
        .collect();
    // The main thread reads while they write (loom allows 4 threads besides the main one).
    let seen = {
        let pair = lock.read().unwrap();
        assert_eq!(pair.0, pair.1, "a reader saw half an update");
        pair.0
    };
    for writer in writers {
        writer.join().unwrap();
    }
    assert!(seen <= 2);
    assert_eq!(*lock.read().unwrap(), (2, 2));
    let lock = Arc::into_inner(lock).unwrap();
    assert_eq!(lock.into_inner().unwrap(), (2, 2));
}

/// A write guard dropped by a panic poisons the lock; a read guard does not.
fn rwlock_poisoning<P: Platform>() {
    let lock = RwLock::<u32, P>::new(1);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _reading = lock.read().unwrap();
        quiet_panic();
    }));
    assert!(caught.is_err() && !lock.is_poisoned());
    let caught = catch_unwind(AssertUnwindSafe(|| {
        *lock.write().unwrap() = 2;
        let _writing = lock.write();
        quiet_panic();
    }));
    assert!(caught.is_err() && lock.is_poisoned());
    assert_eq!(*lock.read().expect_err("poisoned").into_inner(), 2);
    lock.clear_poison();
    assert_eq!(*lock.write().unwrap(), 2);
}

/// A producer sends 3 items through a `Mutex<VecDeque>` and a `Condvar`, notifying each; the
/// consumer waits in a loop, then with `wait_while`: it gets them all, in order.
fn condvar_producer_consumer<P: Platform>() {
    let shared = Arc::new((
        Mutex::<VecDeque<u32>, P>::new(VecDeque::new()),
        Condvar::<P>::new(),
    ));
    let producer = {
        let shared = shared.clone();
        spawn::<P, _, _>(move || {
            let (queue, ready) = &*shared;
            for item in 1..=3 {
                queue.lock().unwrap().push_back(item);
                ready.notify_one();
            }
        })
    };
    let (queue, ready) = &*shared;
    let mut got = Vec::new();
    let mut items = queue.lock().unwrap();
    while got.len() < 2 {
        match items.pop_front() {
            Some(item) => got.push(item),
            None => items = ready.wait(items).unwrap(),
        }
    }
    let mut items = ready.wait_while(items, |items| items.is_empty()).unwrap();
    got.push(items.pop_front().unwrap());
    drop(items);
    producer.join().unwrap();
    assert_eq!(got, [1, 2, 3]);
}

/// `notify_all` releases every waiter of a `wait_while`; a timed wait whose condition never
/// changes times out, one whose condition is met does not.
fn condvar_notify_all_and_timeouts<P: Platform>() {
    let shared = Arc::new((Mutex::<bool, P>::new(false), Condvar::<P>::new()));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let shared = shared.clone();
            spawn::<P, _, _>(move || {
                let (go, cvar) = &*shared;
                let go = cvar.wait_while(go.lock().unwrap(), |go| !*go).unwrap();
                assert!(*go);
            })
        })
        .collect();
    let (go, cvar) = &*shared;
    *go.lock().unwrap() = true;
    cvar.notify_all();
    for waiter in waiters {
        waiter.join().unwrap();
    }
    let guard = go.lock().unwrap();
    let (guard, result) = cvar
        .wait_timeout_while(guard, Duration::from_millis(1), |go| *go)
        .unwrap();
    assert!(result.timed_out());
    let (guard, result) = cvar
        .wait_timeout_while(guard, Duration::from_millis(1), |go| !*go)
        .unwrap();
    assert!(!result.timed_out());
    let (_guard, _maybe) = cvar.wait_timeout(guard, Duration::from_millis(1)).unwrap();
}

/// 3 threads through 2 generations of a barrier: exactly one leader per generation, and nobody
/// leaves a generation before everyone arrived in it.
fn barrier_one_leader_per_generation<P: Platform>() {
    let barrier = Arc::new(Barrier::<P>::new(3));
    let arrived = Arc::new(AtomicUsize::<P>::new(0));
    let leaders = Arc::new(AtomicUsize::<P>::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (barrier, arrived, leaders) = (barrier.clone(), arrived.clone(), leaders.clone());
            spawn::<P, _, _>(move || {
                for generation in 1..=2 {
                    arrived.fetch_add(1, SeqCst);
                    if barrier.wait().is_leader() {
                        leaders.fetch_add(1, SeqCst);
                    }
                    assert!(arrived.load(SeqCst) >= 3 * generation, "left too early");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(leaders.load(SeqCst), 2);
    assert!(Barrier::<P>::new(1).wait().is_leader());
}

/// 3 threads `call_once`: the closure runs once, and every call returns after it did.
fn once_runs_once<P: Platform>() {
    let once = Arc::new(Once::<P>::new());
    let runs = Arc::new(AtomicU32::<P>::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (once, runs) = (once.clone(), runs.clone());
            spawn::<P, _, _>(move || {
                once.call_once(|| {
                    runs.fetch_add(1, Relaxed);
                });
                assert_eq!(runs.load(Relaxed), 1, "returned before the closure did");
                assert!(once.is_completed());
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(runs.load(Relaxed), 1);
}

/// A closure that panics poisons the `Once`: `call_once` panics, `call_once_force` runs.
fn once_poisoning<P: Platform>() {
    let once = Once::<P>::new();
    let caught = catch_unwind(AssertUnwindSafe(|| once.call_once(|| quiet_panic())));
    assert!(caught.is_err() && !once.is_completed());
    let again = catch_unwind(AssertUnwindSafe(|| once.call_once(|| {})));
    assert!(again.is_err(), "a poisoned Once panics");
    let mut saw_poison = false;
    once.call_once_force(|state| saw_poison = state.is_poisoned());
    assert!(saw_poison && once.is_completed());
    once.call_once_force(|_| unreachable!("completed"));
}

/// `ours.method(args)` and `theirs.method(args)` agree, and so do the values after.
macro_rules! same {
    ($ours:ident, $theirs:ident, $what:expr, $method:ident $(, $arg:expr)*) => {
        assert_eq!(
            $ours.$method($($arg),*),
            $theirs.$method($($arg),*),
            "{} {}",
            $what,
            stringify!($method)
        );
        assert_eq!($ours.load(SeqCst), $theirs.load(SeqCst), "{} {}", $what, stringify!($method));
    };
}

/// Every method of an integer atomic, on one thread, against std's atomic of the same type.
macro_rules! check_int {
    ($facade:ident, $std:ident, $t:ty, [$($v:expr),*]) => {{
        let values: &[$t] = &[$($v),*];
        for &a in values {
            for &b in values {
                let what = format!("{}({a}, {b})", stringify!($facade));
                let ours = $facade::<P>::new(a);
                let theirs = std::sync::atomic::$std::new(a);
                same!(ours, theirs, what, fetch_add, b, SeqCst);
                same!(ours, theirs, what, fetch_sub, b, AcqRel);
                same!(ours, theirs, what, fetch_max, b, SeqCst);
                same!(ours, theirs, what, fetch_min, b, Release);
                same!(ours, theirs, what, fetch_xor, b, SeqCst);
                same!(ours, theirs, what, fetch_and, b, Acquire);
                same!(ours, theirs, what, fetch_or, b, SeqCst);
                same!(ours, theirs, what, fetch_nand, b, Relaxed);
                same!(ours, theirs, what, swap, a, SeqCst);
                same!(ours, theirs, what, compare_exchange, a, b, SeqCst, SeqCst);
                same!(ours, theirs, what, compare_exchange, a, b, SeqCst, Relaxed);
                let f = |v: $t| (v != b).then(|| v.wrapping_mul(3));
                same!(ours, theirs, what, fetch_update, SeqCst, SeqCst, f);
                ours.store(b, Release);
                theirs.store(b, Release);
                same!(ours, theirs, what, load, Acquire);
                let mut ours = ours;
                *ours.get_mut() = a;
                assert_eq!(*ours.get_mut(), a);
                assert_eq!(ours.into_inner(), a);
            }
        }
    }};
}

/// Every atomic type's read-modify-writes, as std's (wrapping of `u8` and `i16`, `max`/`min`
/// signed), then concurrent read-modify-writes: none lost, wrapping at the type's width.
fn atomics_as_std<P: Platform>() {
    check_int!(AtomicU8, AtomicU8, u8, [0, 1, 200, u8::MAX]);
    check_int!(AtomicI8, AtomicI8, i8, [0, -1, 100, i8::MIN, i8::MAX]);
    check_int!(AtomicU16, AtomicU16, u16, [0, 7, u16::MAX]);
    check_int!(AtomicI16, AtomicI16, i16, [0, -300, i16::MIN, i16::MAX]);
    check_int!(AtomicU32, AtomicU32, u32, [0, 5, u32::MAX]);
    check_int!(AtomicI32, AtomicI32, i32, [0, -5, i32::MIN, i32::MAX]);
    check_int!(AtomicU64, AtomicU64, u64, [0, 1 << 40, u64::MAX]);
    check_int!(
        AtomicI64,
        AtomicI64,
        i64,
        [0, -(1 << 40), i64::MIN, i64::MAX]
    );
    check_int!(AtomicUsize, AtomicUsize, usize, [0, 3, usize::MAX]);
    check_int!(
        AtomicIsize,
        AtomicIsize,
        isize,
        [0, -3, isize::MIN, isize::MAX]
    );
    for a in [false, true] {
        for b in [false, true] {
            let ours = AtomicBool::<P>::new(a);
            let theirs = std::sync::atomic::AtomicBool::new(a);
            assert_eq!(ours.fetch_and(b, SeqCst), theirs.fetch_and(b, SeqCst));
            assert_eq!(ours.fetch_or(b, SeqCst), theirs.fetch_or(b, SeqCst));
            assert_eq!(ours.fetch_xor(b, SeqCst), theirs.fetch_xor(b, SeqCst));
            assert_eq!(ours.fetch_nand(b, SeqCst), theirs.fetch_nand(b, SeqCst));
            assert_eq!(ours.swap(a, SeqCst), theirs.swap(a, SeqCst));
            let cas = ours.compare_exchange(a, b, SeqCst, SeqCst);
            assert_eq!(cas, theirs.compare_exchange(a, b, SeqCst, SeqCst));
            assert_eq!(ours.fetch_not(SeqCst), !ours.load(SeqCst));
            assert_eq!(ours.into_inner(), !theirs.load(SeqCst));
        }
    }
    // Concurrently: 2 threads add 200 to a u8 (wraps to 144), one adds 1 to an i16 at
    // i16::MIN while the other subtracts 1, and both race signed fetch_max and fetch_min on
    // i8s.
    let byte = Arc::new(AtomicU8::<P>::new(0));
    let short = Arc::new(AtomicI16::<P>::new(i16::MIN));
    let high = Arc::new(AtomicI8::<P>::new(-5));
    let low = Arc::new(AtomicI8::<P>::new(5));
    let handles: Vec<_> = [1i16, -1]
        .into_iter()
        .map(|delta| {
            let (byte, short) = (byte.clone(), short.clone());
            let (high, low) = (high.clone(), low.clone());
            spawn::<P, _, _>(move || {
                byte.fetch_add(200, Relaxed);
                short.fetch_add(delta, Relaxed);
                high.fetch_max(if delta > 0 { -3 } else { -4 }, Relaxed);
                low.fetch_min(if delta > 0 { -100 } else { -7 }, Relaxed);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(byte.load(Relaxed), 144);
    assert_eq!(short.load(Relaxed), i16::MIN);
    assert_eq!(high.load(Relaxed), -3);
    assert_eq!(low.load(Relaxed), -100);
}

/// `AtomicPtr`: two threads race to install their box with a compare-exchange from null;
/// exactly one wins, and the pointer loaded is the winner's, still pointing at its value.
fn atomic_ptr<P: Platform>() {
    let slot = Arc::new(AtomicPtr::<u64, P>::default());
    assert!(slot.load(SeqCst).is_null());
    let handles: Vec<_> = [10u64, 20]
        .into_iter()
        .map(|value| {
            let slot = slot.clone();
            spawn::<P, _, _>(move || {
                let mine = Box::into_raw(Box::new(value));
                match slot.compare_exchange(std::ptr::null_mut(), mine, AcqRel, Acquire) {
                    Ok(_) => true,
                    Err(theirs) => {
                        assert!(!theirs.is_null());
                        // SAFETY: ours, never published.
                        drop(unsafe { Box::from_raw(mine) });
                        false
                    }
                }
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&won| won)
        .count();
    assert_eq!(wins, 1);
    let mut slot = Arc::into_inner(slot).unwrap();
    let winner = *slot.get_mut();
    // SAFETY: the winner's box, published by the compare-exchange, owned here now.
    let value = unsafe { *Box::from_raw(winner) };
    assert!(value == 10 || value == 20);
    let other = Box::into_raw(Box::new(30u64));
    *slot.get_mut() = other;
    assert_eq!(slot.swap(std::ptr::null_mut(), SeqCst), other);
    // SAFETY: ours, taken back out of the slot.
    drop(unsafe { Box::from_raw(other) });
    assert!(slot.into_inner().is_null());
}

/// Scoped threads borrow the caller's locals (one mutably), and `scope` returns after every
/// one finished; a scoped handle's `join` returns its result.
fn scope_borrows_and_joins<P: Platform>() {
    let words = ["a", "bb"];
    let letters = AtomicUsize::<P>::new(0);
    let mut log = Vec::new();
    let longest = scope::<P, _, _>(|s| {
        let handles: Vec<_> = words
            .iter()
            .map(|word| {
                let letters = &letters;
                s.spawn(move || {
                    letters.fetch_add(word.len(), Relaxed);
                    word.len()
                })
            })
            .collect();
        s.spawn(|| log.push("written in a scoped thread"));
        handles.into_iter().map(|h| h.join().unwrap()).max()
    });
    assert_eq!(longest, Some(2));
    assert_eq!(letters.load(Relaxed), 3, "every thread finished");
    assert_eq!(log, ["written in a scoped thread"]);
}

/// The scope's closure panics after starting threads: the panic goes on only once every
/// thread finished (their borrows end with the scope).
fn scope_closure_panics<P: Platform>() {
    let done = AtomicUsize::<P>::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        scope::<P, _, ()>(|s| {
            for _ in 0..2 {
                s.spawn(|| done.fetch_add(1, Relaxed));
            }
            quiet_panic();
        })
    }));
    assert!(caught.is_err());
    assert_eq!(
        done.load(Relaxed),
        2,
        "the scope unwound before its threads finished"
    );
}

/// On `Os` only (under the engines a thread's panic fails the execution): a scoped thread that
/// panics is joined with the others, and the scope then panics; a panic taken by `join` is not
/// reported again.
fn scope_thread_panics_os() {
    type P = mpcheck::Os;
    let done = AtomicUsize::<P>::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        scope::<P, _, _>(|s| {
            s.spawn(|| quiet_panic());
            for _ in 0..3 {
                s.spawn(|| done.fetch_add(1, Relaxed));
            }
        })
    }));
    let payload = caught.expect_err("the scope panics");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a scoped thread panicked")
    );
    assert_eq!(done.load(Relaxed), 3);
    let joined = scope::<P, _, _>(|s| s.spawn(|| quiet_panic()).join().is_err());
    assert!(joined);
}

// ---------------------------------------------------------------------------------------------
// Every engine runs every property.

/// Runs of each property on `Os` (real threads, so each run is one schedule the OS chose).
const OS_RUNS: usize = 50;

macro_rules! on_every_engine {
    ($($property:ident $(+ $pct:ident)? $(! $hangs:literal)?),* $(,)?) => {
        mod os {
            $(
                #[test]
                fn $property() {
                    for _ in 0..super::OS_RUNS {
                        super::$property::<mpcheck::Os>();
                    }
                }
            )*
        }

        mod sim {
            use super::*;
            $(
                mod $property {
                    use super::*;

                    /// Exhaustive at operation granularity (the facade's operations as their
                    /// specifications say): must complete.
                    #[test]
                    $(#[ignore = $hangs])?
                    fn dfs_operation() {
                        let config = Config::dfs().ignore_env().no_files();
                        let report = explore(config, super::super::$property::<Sim>)
                            .unwrap_or_else(|failure| panic!("{failure}"));
                        assert!(report.complete(), "{report}");
                    }

                    /// Exhaustive at step granularity (every atomic and futex call of the
                    /// facade's algorithms), up to 3 preemptions.
                    #[test]
                    $(#[ignore = $hangs])?
                    fn dfs_step_bounded() {
                        let config = Config::dfs()
                            .granularity(Granularity::Step)
                            .preemption_bound(3)
                            .ignore_env()
                            .no_files();
                        let report = explore(config, super::super::$property::<Sim>)
                            .unwrap_or_else(|failure| panic!("{failure}"));
                        eprintln!("{}: {report}", stringify!($property));
                    }

                    /// A random walk at step granularity: the facade's own atomics and futex
                    /// calls interleaved.
                    #[test]
                    fn random_step() {
                        let config = Config::random(500)
                            .granularity(Granularity::Step)
                            .spurious_wakeups(2)
                            .ignore_env()
                            .no_files();
                        mpcheck::sim::check(config, super::super::$property::<Sim>);
                    }
                }
            )*
        }

        mod loom {
            $(
                /// Bounded (2 preemptions), with room for the sequential checks' many steps.
                #[test]
                fn $property() {
                    let mut builder = ::loom::model::Builder::new();
                    builder.preemption_bound = Some(2);
                    builder.max_branches = 100_000;
                    builder.check(super::$property::<mpcheck::loom::Loom>);
                }
            )*
        }

        mod shuttle {
            $(
                mod $property {
                    use mpcheck::shuttle::{check_random, Shuttle};

                    #[test]
                    fn random() {
                        check_random(super::super::$property::<Shuttle>, 300);
                    }

                    // PCT refuses a program in which two tasks are never runnable at once.
                    $(
                        #[test]
                        fn $pct() {
                            mpcheck::shuttle::check_pct(super::super::$property::<Shuttle>, 300, 3);
                        }
                    )?
                }
            )*
        }
    };
}

on_every_engine!(
    mutex_counter + pct,
    mutex_poisoning,
    mutex_try_lock,
    rwlock_readers_and_writers + pct,
    rwlock_poisoning,
    condvar_producer_consumer + pct,
    condvar_notify_all_and_timeouts + pct,
    barrier_one_leader_per_generation + pct,
    once_runs_once + pct,
    once_poisoning,
    atomics_as_std + pct,
    atomic_ptr + pct,
    scope_borrows_and_joins + pct,
    scope_closure_panics + pct,
);

#[test]
fn os_scope_thread_panics() {
    for _ in 0..OS_RUNS {
        scope_thread_panics_os();
    }
}

// ---------------------------------------------------------------------------------------------
// Programs with real bugs: the simulator finds them, and says where.

/// A counter bumped with a load and a store instead of `fetch_add`: an update is lost in some
/// interleaving, and the simulator's exhaustive search finds it.
#[test]
fn a_lost_update_is_found() {
    use mpcheck::facade::sim::sync::atomic::{AtomicUsize, Ordering};
    use mpcheck::facade::sim::sync::Arc;
    use mpcheck::facade::sim::thread;

    fn program() {
        let hits = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let hits = hits.clone();
                thread::spawn(move || {
                    let seen = hits.load(Ordering::SeqCst);
                    hits.store(seen + 1, Ordering::SeqCst);
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2, "an update was lost");
    }
    let failure = explore(Config::dfs().ignore_env().no_files(), program)
        .expect_err("the lost update is found");
    assert_eq!(failure.kind(), FailureKind::Panic, "{failure}");
    assert!(
        failure.message().contains("an update was lost"),
        "{failure}"
    );
    // The trace names the facade's atomic and the lines of this file.
    let trace = failure.trace_text();
    assert!(trace.contains("AtomicUsize#"), "{trace}");
    assert!(trace.contains("facade.rs:"), "{trace}");
}

/// Two threads take two mutexes in opposite orders: the simulator reports the deadlock, naming
/// for each blocked thread the facade operation it waits in (`Mutex#1.lock`) and the line of
/// this file that called it, and the same of the holder — at both granularities.
#[test]
fn a_lock_order_deadlock_is_found_and_named() {
    use mpcheck::facade::sim::sync::{Arc, Mutex};
    use mpcheck::facade::sim::thread;

    fn program() {
        let a = Arc::new(Mutex::new(0));
        let b = Arc::new(Mutex::new(0));
        let (a1, b1) = (a.clone(), b.clone());
        let task = thread::spawn(move || {
            let _a = a1.lock().unwrap();
            let _b = b1.lock().unwrap();
        });
        let _b = b.lock().unwrap();
        let _a = a.lock().unwrap();
        drop((_a, _b));
        task.join().unwrap();
    }
    const TASK_A: u32 = line!() - 8;
    const MAIN_B: u32 = TASK_A + 3;
    for granularity in [Granularity::Operation, Granularity::Step] {
        let config = Config::dfs()
            .granularity(granularity)
            .ignore_env()
            .no_files();
        let failure = explore(config, program).expect_err("the deadlock is found");
        assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
        let here = |line: u32| format!("{}:{line}:", file!());
        let mut blocked = failure.blocked().to_vec();
        blocked.sort_by_key(|b| b.task);
        let [main, task] = &blocked[..] else {
            panic!("two blocked tasks:\n{failure}");
        };
        for (blocked, waits_at, holder, taken_at) in
            [(main, MAIN_B + 1, 1, TASK_A), (task, TASK_A + 1, 0, MAIN_B)]
        {
            let mutex = &blocked.waits_for;
            assert!(mutex.starts_with("Mutex#"), "{failure}");
            assert_eq!(
                blocked.at.operation,
                Some(format!("{mutex}.lock")),
                "{failure}"
            );
            assert!(blocked.at.line.starts_with(&here(waits_at)), "{failure}");
            let (by, site) = blocked.holder.as_ref().expect("a holder");
            assert_eq!(*by, holder, "{failure}");
            assert_eq!(site.operation, Some(format!("{mutex}.lock")), "{failure}");
            assert!(site.line.starts_with(&here(taken_at)), "{failure}");
        }
        assert!(!failure.message().contains("src/facade/"), "{failure}");
        assert!(!failure.trace_text().contains("src/facade/"), "{failure}");
    }
}

// ---------------------------------------------------------------------------------------------
// The facade at operation granularity explores as mpcheck's own `Lock` does.

/// `lock3x2` (the explore bench's program): 3 threads × 2 critical sections incrementing a
/// counter, then the main thread checks it. With mpcheck's `Lock` and a simulated cell (as
/// `benches/explore.rs` writes it), and with the facade's `Mutex<u64>`; the number of
/// executions `Config::dfs()` needs to exhaust it at operation granularity.
fn lock3x2_executions(facade: bool, commute: bool) -> u64 {
    fn with_lock() {
        let lock = mpcheck::Lock::<Sim>::new();
        let counter = Arc::new(mpcheck_sim::Cell::new(0u64));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                mpcheck::thread::spawn::<Sim, _, _>(move || {
                    for _ in 0..2 {
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
        assert_eq!(unsafe { counter.with(|n| *n) }, 6);
    }

    fn with_facade() {
        use mpcheck::facade::sim::sync::{Arc, Mutex};
        use mpcheck::facade::sim::thread;

        let counter = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let counter = counter.clone();
                thread::spawn(move || {
                    for _ in 0..2 {
                        *counter.lock().unwrap() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*counter.lock().unwrap(), 6);
    }

    let config = Config::dfs()
        .sections_commute(commute)
        .ignore_env()
        .no_files();
    let report = if facade {
        explore(config, with_facade)
    } else {
        explore(config, with_lock)
    }
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete(), "{report}");
    report.executions()
}

#[test]
fn facade_lock3x2_explores_as_the_lock_version() {
    let lock = lock3x2_executions(false, false);
    let facade = lock3x2_executions(true, false);
    eprintln!("lock3x2 at operation granularity: Lock {lock}, facade Mutex {facade} executions");
    assert_eq!(facade, lock);
}

/// With critical sections that commute (`Config::sections_commute`), the facade's `Mutex`
/// keeps every two sections ordered: its data lives in plain memory the simulator does not
/// see, and a lock stands for it with a write of its poison flag. So does a `Lock` whose
/// sections share a simulator `Cell`, which the simulator sees.
#[test]
fn facade_mutex_sections_never_commute() {
    for facade in [true, false] {
        let ordered = lock3x2_executions(facade, false);
        let commuting = lock3x2_executions(facade, true);
        assert!(
            commuting >= 90,
            "{commuting} executions for 90 orders of the sections"
        );
        assert!(
            commuting <= ordered + ordered / 10,
            "{commuting} vs {ordered}"
        );
    }
}

/// Three tasks that each add 1 twice, under one `Lock`, to a `Value` of their own: with
/// critical sections that commute, one execution for raw values (whose get and set are plain
/// accesses of simulator atomics), where the 90 orders of the six sections took 95; values
/// with a lock of their own keep the order (a section that takes another lock could deadlock
/// in the other order).
#[test]
fn sections_on_values_of_their_own_commute_when_the_values_are_raw() {
    fn slots(raw: bool) -> impl Fn() {
        move || {
            let lock = mpcheck::Lock::<Sim>::new();
            let make = |_| {
                if raw {
                    mpcheck::Value::<u32, Sim>::raw(0)
                } else {
                    mpcheck::Value::<u32, Sim>::new(0)
                }
            };
            let values: Vec<_> = (0..3).map(make).collect();
            let tasks: Vec<_> = values
                .iter()
                .map(|value| {
                    let (lock, value) = (lock.clone(), value.clone());
                    mpcheck::thread::spawn::<Sim, _, _>(move || {
                        for _ in 0..2 {
                            let _held = lock.lock();
                            value.set(value.get() + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.join().unwrap();
            }
            assert!(values.iter().all(|v| v.get() == 2));
        }
    }
    let executions = |raw: bool, commute: bool| {
        let config = Config::dfs()
            .rounds(false)
            .sections_commute(commute)
            .ignore_env()
            .no_files();
        let report = explore(config, slots(raw)).unwrap_or_else(|f| panic!("{f}"));
        assert!(report.complete());
        report.executions()
    };
    let ordered = executions(true, false);
    assert!(ordered >= 90, "{ordered}");
    assert_eq!(executions(true, true), 1);
    let locked = executions(false, true);
    assert!(locked >= 90, "{locked}");
}

// ---------------------------------------------------------------------------------------------
// The new futex algorithms (RwLock, Once, the scope's count), exhaustively at step granularity.

/// 2 writers and a reader of an `RwLock`, then 3 callers of a `Once`, each searched without a
/// bound at step granularity: complete, every assertion holding.
#[test]
fn rwlock_and_once_exhaustively_at_step_granularity() {
    fn rwlock() {
        let lock = Arc::new(RwLock::<(u32, u32), Sim>::new((0, 0)));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                spawn::<Sim, _, _>(move || {
                    let mut pair = lock.write().unwrap();
                    pair.0 += 1;
                    pair.1 += 1;
                })
            })
            .collect();
        let pair = *lock.read().unwrap();
        assert_eq!(pair.0, pair.1);
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(*lock.read().unwrap(), (2, 2));
    }
    fn readers() {
        let lock = Arc::new(RwLock::<u32, Sim>::new(0));
        let others: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                spawn::<Sim, _, _>(move || *lock.read().unwrap())
            })
            .collect();
        *lock.write().unwrap() += 1;
        for other in others {
            assert!(other.join().unwrap() <= 1);
        }
    }
    // Spurious wake-ups (one per execution) where the search stays small with them.
    for (name, program, spurious) in [
        ("rwlock", rwlock as fn(), 0),
        ("readers", readers, 0),
        ("once", once_runs_once::<Sim>, 1),
        ("scope", scope_closure_panics::<Sim>, 1),
    ] {
        let config = Config::dfs()
            .granularity(Granularity::Step)
            .spurious_wakeups(spurious)
            .ignore_env()
            .no_files();
        let report = explore(config, program).unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete(), "{name}: {report}");
        eprintln!("{name}: {report}");
    }
}

/// Writer preference, as the algorithm has it and as its specification says at operation
/// granularity too: a thread that holds a read guard and reads again while a writer waits
/// deadlocks (std warns that it may), at both granularities.
#[test]
fn a_second_read_behind_a_waiting_writer_deadlocks_at_both_granularities() {
    fn program() {
        let lock = Arc::new(RwLock::<u32, Sim>::new(0));
        let first = lock.read().unwrap();
        let writer = {
            let lock = lock.clone();
            spawn::<Sim, _, _>(move || *lock.write().unwrap() += 1)
        };
        let second = lock.read().unwrap();
        drop((first, second));
        writer.join().unwrap();
    }
    for granularity in [Granularity::Operation, Granularity::Step] {
        let config = Config::dfs()
            .granularity(granularity)
            .ignore_env()
            .no_files();
        let failure = explore(config, program).expect_err("the deadlock is found");
        assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
        assert!(failure.message().contains("RwLock#1.read"), "{failure}");
        assert!(failure.message().contains("RwLock#1.write"), "{failure}");
    }
}

/// The guide's port with a bug: the workers' condition forgets that the queue closes, so the
/// last worker waits forever once it is empty. The simulator reports the deadlock, naming the
/// `wait_while` it waits in and its line.
#[test]
fn a_worker_waiting_forever_is_reported() {
    use mpcheck::facade::sim::sync::{Arc, Condvar, Mutex};
    use mpcheck::facade::sim::thread;

    fn program() {
        let queue = Arc::new((Mutex::new((VecDeque::<u32>::new(), false)), Condvar::new()));
        let worker = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                let (lock, ready) = &*queue;
                loop {
                    let mut state = ready
                        .wait_while(lock.lock().unwrap(), |(items, _closed)| items.is_empty())
                        .unwrap();
                    if state.0.pop_front().is_none() {
                        return;
                    }
                }
            })
        };
        let (lock, ready) = &*queue;
        lock.lock().unwrap().0.push_back(1);
        ready.notify_one();
        lock.lock().unwrap().1 = true;
        ready.notify_all();
        worker.join().unwrap();
    }
    const WAIT: u32 = line!() - 15;
    let failure = explore(Config::dfs().ignore_env().no_files(), program)
        .expect_err("the worker waits forever");
    assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
    let worker = failure
        .blocked()
        .iter()
        .find(|b| b.task == 1)
        .unwrap_or_else(|| panic!("the worker is blocked:\n{failure}"));
    let operation = worker.at.operation.as_deref().unwrap_or_default();
    assert!(operation.ends_with(".wait_while"), "{failure}");
    assert!(
        worker.at.line.starts_with(&format!("{}:{WAIT}:", file!())),
        "{failure}"
    );
}

/// A thread that is never joined (allowed in std: the program's end stops it) races with the
/// main task's steps before it ends: the search must try it before them. It once never ran
/// under the reduced search, whose only execution was "complete" with the bug unseen.
#[test]
fn a_thread_never_joined_is_tried_before_the_main_task_ends() {
    use mpcheck::facade::sim::sync::atomic::{AtomicBool, Ordering};
    use mpcheck::facade::sim::sync::Arc;
    use mpcheck::facade::sim::thread;
    use mpcheck::{Process, Value};

    fn detached_thread() {
        let flag = Arc::new(AtomicBool::new(false));
        let theirs = flag.clone();
        let _never_joined = thread::spawn(move || theirs.store(true, Ordering::SeqCst));
        assert!(!flag.load(Ordering::SeqCst), "the thread ran first");
    }
    fn process_never_joined() {
        let value = Value::<u32, Sim>::new(0);
        let theirs = value.clone();
        let child = Process::<Sim>::new(move || theirs.set(1));
        child.start().expect("a process starts");
        assert_eq!(value.get(), 0, "the child ran first");
    }
    for program in [detached_thread as fn(), process_never_joined] {
        for granularity in [Granularity::Operation, Granularity::Step] {
            for (reduction, commute) in [(true, false), (true, true), (false, false)] {
                let config = Config::dfs()
                    .granularity(granularity)
                    .reduction(reduction)
                    .sections_commute(commute)
                    .ignore_env()
                    .no_files();
                let failure = explore(config, program)
                    .expect_err("the task that is never joined can run first");
                assert!(failure.message().contains("ran first"), "{failure}");
            }
        }
    }
}

/// As above, with a thread whose sleep ends when the main task's does (`Timeouts::WhenIdle`:
/// both timeouts are offered only while every task waits, and the main task's, taken first,
/// lets it run on to its end). The thread that is never joined then takes the lock the main
/// task wants: a deadlock, which the reduced search missed (one execution, "complete"), since
/// the thread's timeout was not offered where the main task ended.
#[test]
fn a_timeout_that_ties_with_the_main_tasks_is_tried_first() {
    use mpcheck::Lock;
    fn program() {
        let lock = Lock::<Sim>::new();
        let theirs = lock.clone();
        let _never_joined = mpcheck::thread::spawn::<Sim, _, _>(move || {
            Sim::sleep(Duration::from_millis(1));
            theirs.acquire().unwrap();
        });
        Sim::sleep(Duration::from_millis(1));
        lock.acquire().unwrap();
    }
    for granularity in [Granularity::Operation, Granularity::Step] {
        for reduction in [true, false] {
            let config = Config::dfs()
                .timeouts(mpcheck::sim::Timeouts::WhenIdle)
                .granularity(granularity)
                .reduction(reduction)
                .ignore_env()
                .no_files();
            let failure = explore(config, program).expect_err("the thread can take the lock first");
            assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
        }
    }
}

/// A watchdog thread that sleeps forever (`Duration::MAX`) beside a timed wait: the wait times
/// out, as on a real machine. The sleep used to move the virtual clock to its end, where no
/// later deadline fits, and every later timeout waited forever (a false deadlock).
#[test]
fn a_sleep_that_never_ends_leaves_timeouts_working() {
    use mpcheck::facade::sim::sync::{Condvar, Mutex};
    use mpcheck::facade::sim::thread;

    fn program() {
        let _watchdog = thread::spawn(|| thread::sleep(Duration::MAX));
        let (lock, ready) = (Mutex::new(()), Condvar::new());
        let (_guard, result) = ready
            .wait_timeout(lock.lock().unwrap(), Duration::from_millis(1))
            .unwrap();
        assert!(result.timed_out());
    }
    for config in [
        Config::dfs(),
        Config::dfs().reduction(false),
        Config::random(100),
        Config::pct(2, 100),
    ] {
        let report = explore(config.ignore_env().no_files(), program)
            .unwrap_or_else(|f| panic!("the wait times out:\n{f}"));
        assert!(report.executions() > 0);
    }
    // A thread sleeping forever first, then a lock's timed acquire by the main task.
    let after_sleep = || {
        let _sleeper = thread::spawn(|| thread::sleep(Duration::MAX));
        let lock = mpcheck::Lock::<Sim>::new();
        lock.acquire().unwrap();
        assert!(!lock.acquire_timeout(Duration::from_millis(1)));
    };
    explore(Config::dfs().ignore_env().no_files(), after_sleep)
        .unwrap_or_else(|f| panic!("the acquire times out:\n{f}"));
}

/// `is_poisoned` and `clear_poison` take no lock, so they race (as in std, where another
/// thread may clear the poison between a look and a use): the search tries both orders. The
/// flag was a std atomic that no engine saw, and the search never tried the other order.
#[test]
fn is_poisoned_and_clear_poison_race() {
    use mpcheck::facade::sim::sync::{Arc, Mutex, RwLock};
    use mpcheck::facade::sim::thread;

    /// Poisons `lock` with `poison` (a guard dropped by a panic), then one thread clears the
    /// poison while the main task looks at it.
    fn raced<L: Send + Sync + 'static>(
        lock: L,
        poison: fn(&L),
        is_poisoned: fn(&L) -> bool,
        clear_poison: fn(&L),
    ) {
        let lock = Arc::new(lock);
        let _ = catch_unwind(AssertUnwindSafe(|| poison(&lock)));
        let theirs = lock.clone();
        let clearer = thread::spawn(move || clear_poison(&theirs));
        let still = is_poisoned(&lock);
        clearer.join().unwrap();
        assert!(still, "the other thread cleared the poison first");
    }
    fn mutex() {
        let poison = |m: &Mutex<u32>| {
            let _guard = m.lock().unwrap();
            quiet_panic()
        };
        raced(
            Mutex::new(0),
            poison,
            Mutex::is_poisoned,
            Mutex::clear_poison,
        );
    }
    fn rwlock() {
        let poison = |l: &RwLock<u32>| {
            let _guard = l.write().unwrap();
            quiet_panic()
        };
        raced(
            RwLock::new(0),
            poison,
            RwLock::is_poisoned,
            RwLock::clear_poison,
        );
    }
    for program in [mutex as fn(), rwlock] {
        for reduction in [true, false] {
            let config = Config::dfs().reduction(reduction).ignore_env().no_files();
            let failure = explore(config, program).expect_err("clear_poison can run first");
            assert!(
                failure.message().contains("cleared the poison"),
                "{failure}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The guide's std program (`examples/std_port/program.rs`), through each engine's std paths.

macro_rules! ported {
    ($module:ident, $engine:ident) => {
        mod $module {
            use mpcheck::facade::$engine::sync::atomic::{AtomicUsize, Ordering};
            use mpcheck::facade::$engine::sync::{Arc, Condvar, Mutex};
            use mpcheck::facade::$engine::thread;
            use std::collections::VecDeque;

            include!("../examples/std_port/program.rs");
        }
    };
}

ported!(ported_os, os);
ported!(ported_sim, sim);
ported!(ported_loom, loom);
ported!(ported_shuttle, shuttle);

/// The program of the guide, unchanged but for its `use` lines, on every engine.
#[test]
fn the_std_program_runs_through_every_engines_paths() {
    const WORDS: [&str; 2] = ["ticket", "lock"];
    for _ in 0..OS_RUNS {
        assert_eq!(ported_os::count_letters(&WORDS, 2), 10);
    }
    let report = explore(Config::dfs().ignore_env().no_files(), || {
        assert_eq!(ported_sim::count_letters(&WORDS, 2), 10);
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete(), "{report}");
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| assert_eq!(ported_loom::count_letters(&WORDS, 2), 10));
    mpcheck::shuttle::check_random(
        || assert_eq!(ported_shuttle::count_letters(&WORDS, 2), 10),
        300,
    );
    mpcheck::shuttle::check_pct(
        || assert_eq!(ported_shuttle::count_letters(&WORDS, 2), 10),
        300,
        3,
    );
}
