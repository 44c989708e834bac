//! Mutant: a robust lock that never takes over. Its word holds the holder's process token, as
//! `mpcheck`'s locks do (`src/sync/raw.rs`), but a waiter never looks at the holder's liveness:
//! when the holder's process is killed holding it, the waiters sleep forever. Only kills show
//! it: the simulator with `Config::kills(1)` finds the deadlock (the holder killed inside its
//! section); loom and shuttle, whose processes never die, cannot.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

use mpcheck::platform::Atomic;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Error, Lock, Platform, Process};

use crate::kill;

const FREE: u32 = 0;
const CONTENDED: u32 = 1 << 31;

/// What the scenario needs of a lock that may be taken over: `acquire` says whether it took
/// the lock over from a dead holder.
pub trait RobustLock<P: Platform>: Send + Sync + 'static {
    fn new() -> Self;
    fn acquire(&self) -> bool;
    fn release(&self);
}

impl<P: Platform> RobustLock<P> for Lock<P> {
    fn new() -> Self {
        Lock::new()
    }
    fn acquire(&self) -> bool {
        Lock::acquire(self) == Err(Error::OwnerDied)
    }
    fn release(&self) {
        Lock::release(self).expect("released by its holder");
    }
}

pub struct NeverTakesOver<P: Platform> {
    word: P::AtomicU32,
}

impl<P: Platform> RobustLock<P> for NeverTakesOver<P> {
    fn new() -> Self {
        let word = P::AtomicU32::new(FREE);
        word.label("NeverTakesOver");
        NeverTakesOver { word }
    }

    fn acquire(&self) -> bool {
        let me = P::process_token();
        loop {
            match self.word.compare_exchange(FREE, me, Acquire, Relaxed) {
                Ok(_) => return false,
                Err(state) => {
                    // BUG: no `P::process_alive(state & !CONTENDED)` and takeover.
                    if self
                        .word
                        .compare_exchange(state, state | CONTENDED, Relaxed, Relaxed)
                        .is_ok()
                    {
                        P::wait(&self.word, state | CONTENDED, None);
                    }
                }
            }
        }
    }

    fn release(&self) {
        if self.word.swap(FREE, Release) & CONTENDED != 0 {
            P::wake(&self.word, u32::MAX);
        }
    }
}

/// A child process takes the lock and releases it; the main task takes it after: it always
/// gets it (a holder that died leaves it to the next acquirer), and learns of a takeover only
/// when the child was killed.
pub fn holder_killed<P: Platform, L: RobustLock<P>>() {
    let lock = Arc::new(L::new());
    let theirs = Arc::clone(&lock);
    let child = Process::<P>::new(move || {
        theirs.acquire();
        theirs.release();
    });
    child.start().expect("started");
    let took_over = lock.acquire();
    lock.release();
    let code = child.join().expect("joined");
    assert!(!took_over || code == -9, "a takeover from a live holder");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().kills(1)
}

#[test]
fn a_lock_that_never_takes_over_hangs_when_its_holder_is_killed() {
    let failure = kill(
        "lock_never_takes_over",
        sim_config(),
        holder_killed::<Sim, NeverTakesOver<Sim>>,
        holder_killed::<Sim, Lock<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(failure.to_string().contains("KILLED"), "{failure}");
    assert!(
        failure.message().contains("(its process was killed)"),
        "{failure}"
    );
    assert!(
        failure
            .blocked()
            .iter()
            .any(|b| b.waits_for.starts_with("NeverTakesOver#")),
        "{failure}"
    );
}
