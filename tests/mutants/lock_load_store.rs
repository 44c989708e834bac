//! Mutant 1: a lock that loads the word, then stores it, instead of one compare-and-swap. Two
//! tasks can both load "free" before either stores "taken", and both enter.

use std::sync::atomic::Ordering::SeqCst;

use mpcheck::platform::Atomic;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Lock, Platform};

use crate::{kill, mutual_exclusion, TestLock};

const FREE: u32 = 0;
const TAKEN: u32 = 1;

pub struct LoadStoreLock<P: Platform> {
    word: P::AtomicU32,
}

impl<P: Platform> TestLock<P> for LoadStoreLock<P> {
    fn new() -> Self {
        let word = P::AtomicU32::new(FREE);
        word.label("LoadStoreLock");
        LoadStoreLock { word }
    }

    fn acquire(&self) {
        loop {
            // BUG: the check and the update are two steps.
            if self.word.load(SeqCst) == FREE {
                self.word.store(TAKEN, SeqCst);
                return;
            }
            P::wait(&self.word, TAKEN, None);
        }
    }

    fn release(&self) {
        self.word.store(FREE, SeqCst);
        P::wake(&self.word, 1);
    }
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn load_then_store_lock_admits_two() {
    let failure = kill(
        "lock_load_store",
        sim_config(),
        mutual_exclusion::<Sim, LoadStoreLock<Sim>>,
        mutual_exclusion::<Sim, Lock<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(
        failure
            .message()
            .contains("2 tasks inside a critical section that admits 1"),
        "{failure}"
    );
}
