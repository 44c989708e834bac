//! Mutant 8: a lock whose fast path uses `Relaxed` instead of `Acquire` (take) and `Release`
//! (give back). It still excludes: no two tasks are ever inside at once. But nothing written
//! inside by one holder is guaranteed visible to the next, so the critical section's data is
//! raced on. Only a checker of the C11 memory model can see that: loom reports the unordered
//! accesses to the cell the lock guards. Sim cannot: every simulated atomic is sequentially
//! consistent, whatever `Ordering` the code names, so the mutant behaves like a correct lock.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use mpcheck::loom::{model_bounded, Loom};
use mpcheck::platform::{Atomic, SharedCell};
use mpcheck::sim::{self, Config, Sim};
use mpcheck::{Lock, Platform};

use crate::TestLock;

const FREE: u32 = 0;
const TAKEN: u32 = 1;

pub struct RelaxedLock<P: Platform> {
    word: P::AtomicU32,
}

impl<P: Platform> TestLock<P> for RelaxedLock<P> {
    fn new() -> Self {
        RelaxedLock {
            word: P::AtomicU32::new(FREE),
        }
    }

    fn acquire(&self) {
        // BUG: Relaxed orders nothing; the previous holder's writes may not be visible.
        while self
            .word
            .compare_exchange(FREE, TAKEN, Relaxed, Relaxed)
            .is_err()
        {
            P::wait(&self.word, TAKEN, None);
        }
    }

    fn release(&self) {
        // BUG: Relaxed publishes nothing.
        self.word.store(FREE, Relaxed);
        P::wake(&self.word, 1);
    }
}

/// Two tasks each add one to a non-atomic counter (a platform cell) under `L`.
pub fn guarded_counter<P: Platform, L: TestLock<P>>() {
    let lock = Arc::new(L::new());
    let counter = Arc::new(P::Cell::<u64>::new(0));
    let other = {
        let (lock, counter) = (lock.clone(), counter.clone());
        mpcheck::thread::spawn::<P, _, _>(move || {
            lock.acquire();
            // SAFETY: under the lock (which is the point: is it really ordered?).
            unsafe { counter.with_mut(|c| *c += 1) };
            lock.release();
        })
    };
    lock.acquire();
    // SAFETY: as above.
    unsafe { counter.with_mut(|c| *c += 1) };
    lock.release();
    other.join().expect("no panic");
    lock.acquire();
    // SAFETY: as above.
    assert_eq!(unsafe { counter.with(|c| *c) }, 2);
    lock.release();
}

/// The simulator configuration that tries (and fails) to catch this mutant.
pub fn sim_config() -> Config {
    Config::dfs()
}

#[test]
fn relaxed_lock_is_caught_by_loom_only() {
    // loom: the mutant's accesses to the cell are not ordered by happens-before.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        model_bounded(2, guarded_counter::<Loom, RelaxedLock<Loom>>)
    }));
    let payload = caught.expect_err("loom did not catch the Relaxed lock");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(message.contains("Causality violation"), "{message}");
    // loom: the real Lock passes the same check.
    model_bounded(2, guarded_counter::<Loom, Lock<Loom>>);
    // Sim: sequentially consistent, so the mutant is indistinguishable from a correct lock.
    let report = sim::explore(
        sim_config().ignore_env().no_files(),
        guarded_counter::<Sim, RelaxedLock<Sim>>,
    )
    .expect("Sim cannot see a missing Acquire/Release");
    assert!(report.complete());
}
