//! Mutant 4: a mailbox on mpcheck's real `Condition` whose consumer waits once (`if`) instead
//! of in a loop (`while`) before it takes an item. Correct as long as the only wake-ups are
//! notifications; wrong once a spurious wake-up returns it from `wait` with nothing to take.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck::platform::{Atomic, AtomicInt};
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Condition, Lock, Platform};

use crate::{kill, passes, spawn};

/// A mailbox: items counted by a word that only the condition's lock holder touches. With
/// `RECHECK` the consumer waits in a `while` loop (correct); without, it waits once (the mutant).
pub struct Mailbox<P: Platform, const RECHECK: bool> {
    cond: Condition<P>,
    items: P::AtomicU32,
}

impl<P: Platform, const RECHECK: bool> Mailbox<P, RECHECK> {
    fn new() -> Self {
        let items = P::AtomicU32::new(0);
        items.label("Mailbox.items");
        Mailbox {
            cond: Condition::with_lock(Lock::new()),
            items,
        }
    }

    fn put(&self) {
        let _held = self.cond.lock();
        self.items.fetch_add(1, SeqCst);
        self.cond.notify(1).expect("lock held");
    }

    fn take(&self) {
        let _held = self.cond.lock();
        if RECHECK {
            while self.items.load(SeqCst) == 0 {
                self.cond.wait().expect("lock held");
            }
        } else if self.items.load(SeqCst) == 0 {
            // BUG: one wait, no re-check: a spurious wake-up gets through.
            self.cond.wait().expect("lock held");
        }
        let items = self.items.load(SeqCst);
        assert!(items > 0, "took an item from an empty mailbox");
        self.items.store(items - 1, SeqCst);
    }
}

/// A consumer takes the one item a producer puts.
pub fn handoff<P: Platform, const RECHECK: bool>() {
    let mailbox = Arc::new(Mailbox::<P, RECHECK>::new());
    let m = Arc::clone(&mailbox);
    let consumer = spawn::<P, _>(move || m.take());
    mailbox.put();
    consumer.join().expect("the consumer");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::random(1000).spurious_wakeups(1)
}

#[test]
fn if_instead_of_while_fails_only_with_spurious_wakeups() {
    // Without spurious wake-ups the mutant is indistinguishable from the correct version:
    // exhaustive search finds nothing.
    let report = passes(
        "condition_if_not_while, no spurious wake-ups",
        Config::dfs(),
        handoff::<Sim, false>,
    );
    assert!(report.complete(), "{report}");

    // A random walk rather than DFS: the DFS's partial-order reduction does not explore a
    // spurious wake-up unless some race asks for it, so it can miss this one.
    let failure = kill(
        "condition_if_not_while",
        sim_config(),
        handoff::<Sim, false>,
        handoff::<Sim, true>,
    );
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(
        failure
            .message()
            .contains("took an item from an empty mailbox"),
        "{failure}"
    );
    assert!(
        failure
            .schedule()
            .iter()
            .any(|c| matches!(c, mpcheck::sim::Choice::Spurious(_))),
        "{failure}"
    );
}
