//! Self-deadlock: a task acquires a (non-recursive) `Lock` it already holds. The report names
//! the lock and its holder, the waiting task itself.

use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Lock, Platform, RLock};

use crate::{caught, passes, spawn};

/// A task takes a lock twice: a `Lock` (deadlocks) or, with `RECURSIVE`, an `RLock` (re-enters).
pub fn acquire_twice<P: Platform, const RECURSIVE: bool>() {
    let task = spawn::<P, _>(|| {
        if RECURSIVE {
            let lock = RLock::<P>::new();
            let _outer = lock.lock();
            let _inner = lock.lock();
        } else {
            let lock = Lock::<P>::new();
            let _outer = lock.lock();
            let _inner = lock.lock();
        }
    });
    task.join().expect("the task");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs()
}

#[test]
fn acquiring_a_lock_twice_deadlocks() {
    let failure = caught("self_deadlock", sim_config(), acquire_twice::<Sim, false>);
    passes("self_deadlock", sim_config(), acquire_twice::<Sim, true>);
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(
        failure.message().contains("task 1 waits for Lock#1 at "),
        "{failure}"
    );
    assert!(failure.message().contains("held by task 1"), "{failure}");
    let stuck = failure
        .blocked()
        .iter()
        .find(|b| b.task == 1)
        .unwrap_or_else(|| panic!("task 1 is not reported blocked:\n{failure}"));
    assert_eq!(stuck.waits_for, "Lock#1");
    assert_eq!(stuck.holder.as_ref().map(|h| h.0), Some(1), "{failure}");
}
