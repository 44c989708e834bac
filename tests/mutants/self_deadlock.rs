//! Self-deadlock: a task acquires a (non-recursive) `Lock` it already holds. The report names
//! the lock and its holder, the waiting task itself, and the lines of this file that took the
//! lock and wait for it.

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

/// The lines of `acquire_twice` where the `Lock` is taken, then waited for.
const TAKEN: u32 = line!() - 8;
const WAITS: u32 = TAKEN + 1;

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs()
}

#[test]
fn acquiring_a_lock_twice_deadlocks() {
    let failure = caught("self_deadlock", sim_config(), acquire_twice::<Sim, false>);
    passes("self_deadlock", sim_config(), acquire_twice::<Sim, true>);
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    let here = |line: u32| format!("{}:{line}:", file!());
    assert!(
        failure.message().contains(&format!(
            "task 1 waits for Lock#1 in Lock#1.lock at {}",
            here(WAITS)
        )),
        "{failure}"
    );
    assert!(
        failure.message().contains(&format!(
            "held by task 1 (taken in Lock#1.lock at {}",
            here(TAKEN)
        )),
        "{failure}"
    );
    let stuck = failure
        .blocked()
        .iter()
        .find(|b| b.task == 1)
        .unwrap_or_else(|| panic!("task 1 is not reported blocked:\n{failure}"));
    assert_eq!(stuck.waits_for, "Lock#1");
    assert!(stuck.at.line.starts_with(&here(WAITS)), "{failure}");
    let (holder, taken) = stuck.holder.as_ref().expect("a holder");
    assert_eq!(*holder, 1, "{failure}");
    assert!(taken.line.starts_with(&here(TAKEN)), "{failure}");
    // The main task waits in its join, a line of this file too.
    let main = failure.blocked().iter().find(|b| b.task == 0).unwrap();
    assert_eq!(main.waits_for, "task 1 to finish", "{failure}");
    assert!(main.at.line.starts_with(&here(TAKEN + 4)), "{failure}");
}
