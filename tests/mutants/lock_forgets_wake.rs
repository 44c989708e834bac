//! Mutant 2: a compare-and-swap lock whose unlock forgets to wake a waiter. A task that went to
//! sleep on the word while it was taken sleeps forever: a deadlock, and the report names the
//! lock's word by its label.

use std::sync::atomic::Ordering::SeqCst;

use mpcheck::platform::Atomic;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Lock, Platform};

use crate::{kill, mutual_exclusion, TestLock};

const FREE: u32 = 0;
const TAKEN: u32 = 1;

pub struct ForgetfulLock<P: Platform> {
    word: P::AtomicU32,
}

impl<P: Platform> TestLock<P> for ForgetfulLock<P> {
    fn new() -> Self {
        let word = P::AtomicU32::new(FREE);
        word.label("ForgetfulLock");
        ForgetfulLock { word }
    }

    fn acquire(&self) {
        while self
            .word
            .compare_exchange(FREE, TAKEN, SeqCst, SeqCst)
            .is_err()
        {
            P::wait(&self.word, TAKEN, None);
        }
    }

    fn release(&self) {
        self.word.store(FREE, SeqCst);
        // BUG: no `P::wake(&self.word, 1)`.
    }
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn unlock_without_wake_deadlocks() {
    let failure = kill(
        "lock_forgets_wake",
        sim_config(),
        mutual_exclusion::<Sim, ForgetfulLock<Sim>>,
        mutual_exclusion::<Sim, Lock<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(failure.message().contains("ForgetfulLock#"), "{failure}");
    assert!(
        failure
            .blocked()
            .iter()
            .any(|b| b.waits_for.starts_with("ForgetfulLock#")),
        "{failure}"
    );
}
