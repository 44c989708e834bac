//! Lock-order inversion: task 1 takes lock A then B, task 2 takes B then A. Each can end up
//! holding one lock and waiting for the other; the deadlock report names both locks and both
//! holders. Taking them in the same order in both tasks passes.

use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Lock, Platform};

use crate::{kill, spawn};

/// Two tasks each hold two locks at once; with `INVERTED` the second task takes them in the
/// opposite order.
pub fn two_locks<P: Platform, const INVERTED: bool>() {
    let a = Lock::<P>::new();
    let b = Lock::<P>::new();
    let (a1, b1) = (a.clone(), b.clone());
    let first = spawn::<P, _>(move || {
        let _a = a1.lock();
        let _b = b1.lock();
    });
    let second = spawn::<P, _>(move || {
        let (outer, inner) = if INVERTED { (b, a) } else { (a, b) };
        let _outer = outer.lock();
        let _inner = inner.lock();
    });
    first.join().expect("task 1");
    second.join().expect("task 2");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn lock_order_inversion_deadlocks() {
    let failure = kill(
        "lock_order_inversion",
        sim_config(),
        two_locks::<Sim, true>,
        two_locks::<Sim, false>,
    );
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert_eq!(failure.preemptions(), 1);
    let message = failure.message();
    for expected in [
        "task 1 waits for Lock#2",
        "held by task 2",
        "task 2 waits for Lock#1",
        "held by task 1",
    ] {
        assert!(message.contains(expected), "no {expected:?} in:\n{failure}");
    }
    let waits: Vec<_> = failure
        .blocked()
        .iter()
        .filter_map(|b| Some((b.task, b.waits_for.as_str(), b.holder.as_ref()?.0)))
        .collect();
    assert_eq!(waits, [(1, "Lock#2", 2), (2, "Lock#1", 1)], "{failure}");
}
