//! The teardown of an execution: the tasks it leaves suspended (blocked in a deadlock, killed,
//! or cut short by the search) are unwound when it ends, outside the schedule, and their
//! destructors run then. A destructor that waits there must not hang the search (it did: a
//! lock taken in a `Drop` spun forever), nor crash it: it waits until unwinding the other
//! tasks frees what it waits for, a timed wait lets its time pass, a dead holder's lock is
//! taken over, and a wait that nothing can ever end fails the execution, saying where. (All
//! found by a probe as a new user.)

use std::hint::black_box;
use std::time::Duration;

use mpcheck::sim::{self, Config, FailureKind, Sim};
use mpcheck::{thread, Event, Lock, Process, Queue};

/// Takes the lock in its destructor (as an "unregister on drop" helper does).
struct LocksOnDrop(Lock<Sim>);

impl Drop for LocksOnDrop {
    fn drop(&mut self) {
        drop(self.0.lock());
    }
}

fn config() -> Config {
    Config::dfs().no_files().ignore_env()
}

/// Two locks taken in opposite orders: a deadlock, in which the blocked task's destructor
/// needs the lock the other blocked task holds. Unwinding that other task releases it.
#[test]
fn a_destructor_that_takes_a_lock_waits_for_the_others_to_unwind() {
    let failure = sim::explore(config(), || {
        let (a, b) = (Lock::<Sim>::new(), Lock::<Sim>::new());
        let (a2, b2) = (a.clone(), b.clone());
        let t = thread::spawn::<Sim, _, _>(move || {
            let _unregister = LocksOnDrop(a2.clone());
            let _b = b2.lock();
            let _a = a2.lock();
        });
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        t.join().unwrap();
    })
    .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
    assert!(!failure.message().contains("wait forever"), "{failure}");
}

/// A timed wait in a destructor lets its time pass.
#[test]
fn a_timed_wait_in_a_destructor_times_out() {
    struct DrainsOnDrop(Queue<u32, Sim>);
    impl Drop for DrainsOnDrop {
        fn drop(&mut self) {
            let _ = self.0.get_timeout(Duration::from_millis(1));
        }
    }
    let failure = sim::explore(config(), || {
        let q = Queue::<u32, Sim>::new();
        let q2 = q.clone();
        let t = thread::spawn::<Sim, _, _>(move || {
            let _drain = DrainsOnDrop(q2.clone());
            q2.get().unwrap(); // nobody puts: a deadlock
        });
        t.join().unwrap();
    })
    .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
}

/// A correct program: killed processes' destructors take the lock that another process may
/// hold, killed or cut short in the middle of its release (at the teardown, where no other
/// process runs again, such a holder's lock is taken over).
#[test]
fn a_destructor_takes_over_a_dead_holders_lock() {
    let report = sim::explore(config().kills(2), || {
        let lock = Lock::<Sim>::new();
        let l1 = lock.clone();
        let q = Process::<Sim>::new(move || drop(l1.lock()));
        q.start().unwrap();
        let l2 = lock.clone();
        let p = Process::<Sim>::new(move || {
            let _unregister = LocksOnDrop(l2.clone());
            let _held = l2.lock();
        });
        p.start().unwrap();
        let _ = q.join();
        let _ = p.join();
    })
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.complete());
}

/// A destructor that waits for a lock whose holder will never release it (the guard was
/// forgotten) fails the execution, saying where it waits.
#[test]
fn a_destructor_that_waits_forever_fails_the_execution_saying_where() {
    let failure = sim::explore(config(), || {
        let lock = Lock::<Sim>::new();
        let never = Event::<Sim>::new();
        std::mem::forget(lock.lock());
        let l = lock.clone();
        let n = never.clone();
        let _t = thread::spawn::<Sim, _, _>(move || {
            let _unregister = LocksOnDrop(l);
            n.wait();
        });
        never.wait();
    })
    .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
    let message = failure.message();
    assert!(
        message.contains(
            "the destructors of task 1 wait forever in Lock::lock at tests/teardown_sim.rs:"
        ),
        "{failure}"
    );
}

/// A recursion too deep in a destructor is a stack overflow failure, not a crash.
#[test]
fn a_destructor_that_overflows_its_stack_fails_the_execution() {
    struct DeepDrop(u32);
    fn deep(depth: u32) -> u64 {
        let frame = black_box([depth as u8; 1024]);
        if depth == 0 {
            return 0;
        }
        deep(depth - 1) + frame[3] as u64
    }
    impl Drop for DeepDrop {
        fn drop(&mut self) {
            black_box(deep(self.0));
        }
    }
    let failure = sim::explore(config(), || {
        let never = Event::<Sim>::new();
        let n = never.clone();
        let _t = thread::spawn::<Sim, _, _>(move || {
            let _deep = DeepDrop(u32::MAX);
            n.wait();
        });
        never.wait();
    })
    .unwrap_err();
    assert!(
        failure
            .message()
            .contains("the destructors of task 1 overflowed its stack"),
        "{failure}"
    );
}

/// A `Sim` primitive that would wait outside any execution says so (it spun forever).
#[test]
#[should_panic(expected = "would sleep forever: it runs outside an execution")]
fn a_wait_outside_an_execution_panics_with_a_message() {
    let lock = Lock::<Sim>::new();
    std::mem::forget(lock.lock());
    drop(lock.lock());
}
