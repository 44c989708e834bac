//! Mutant 7: a timed lock acquire that never keeps its deadline: after every wake-up (a
//! spurious one included) it starts the full timeout again from `P::now()`, instead of waiting
//! until the absolute deadline it computed at the start. Each wake-up that does not get the lock
//! pushes the give-up time further out. mpcheck's `Lock::acquire_timeout` keeps the deadline.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mpcheck::platform::{Atomic, WaitOutcome};
use mpcheck::sim::{Config, FailureKind, Sim, Timeouts};
use mpcheck::{Lock, Platform};

use crate::{kill, spawn, TestLock};

/// A lock with a timed acquire.
pub trait TimedLock<P: Platform>: TestLock<P> {
    /// `true` if the lock was taken within `timeout`.
    fn acquire_timeout(&self, timeout: Duration) -> bool;
}

impl<P: Platform> TimedLock<P> for Lock<P> {
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        Lock::acquire_timeout(self, timeout)
    }
}

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// Drepper's futex mutex, as `mpcheck::Lock` is, with the timed acquire gone wrong.
pub struct RestartingTimeoutLock<P: Platform> {
    word: P::AtomicU32,
}

impl<P: Platform> RestartingTimeoutLock<P> {
    fn lock(&self, timeout: Option<Duration>) -> bool {
        if self
            .word
            .compare_exchange(UNLOCKED, LOCKED, SeqCst, SeqCst)
            .is_ok()
        {
            return true;
        }
        let mut timed_out = false;
        loop {
            if self.word.swap(CONTENDED, SeqCst) == UNLOCKED {
                return true;
            }
            if timed_out {
                return false;
            }
            // BUG: the deadline is recomputed from now on every round of the loop.
            let deadline = timeout.and_then(|t| P::now().checked_add(t));
            timed_out = P::wait(&self.word, CONTENDED, deadline) == WaitOutcome::TimedOut;
        }
    }
}

impl<P: Platform> TestLock<P> for RestartingTimeoutLock<P> {
    fn new() -> Self {
        let word = P::AtomicU32::new(UNLOCKED);
        word.label("RestartingTimeoutLock");
        RestartingTimeoutLock { word }
    }

    fn acquire(&self) {
        self.lock(None);
    }

    fn release(&self) {
        if self.word.swap(UNLOCKED, SeqCst) == CONTENDED {
            P::wake(&self.word, 1);
        }
    }
}

impl<P: Platform> TimedLock<P> for RestartingTimeoutLock<P> {
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.lock(Some(timeout))
    }
}

/// `acquire_timeout(d)` on a lock held throughout gives up exactly `d` after it was called.
///
/// The holder sleeps twice for `d / 2` while it holds the lock: virtual time moves only at
/// timeouts, so that is what lets a wake-up land after the clock has advanced. Timeouts fire
/// only when every task is blocked (`Timeouts::WhenIdle`), the earliest deadline first: the
/// clock never runs past the waiter's deadline while the waiter sleeps or runs, and the time it
/// reads is exact.
pub fn timed_acquire_keeps_deadline<P: Platform, L: TimedLock<P>>() {
    let timeout = Duration::from_millis(10);
    let lock = Arc::new(L::new());
    lock.acquire();
    let l = Arc::clone(&lock);
    let waiter = spawn::<P, _>(move || {
        let start = P::now();
        let got = l.acquire_timeout(timeout);
        let waited = P::now().saturating_duration_since(start);
        assert!(!got, "took a lock that was held throughout");
        assert!(
            waited == timeout,
            "acquire_timeout({timeout:?}) gave up after {waited:?}"
        );
    });
    P::sleep(timeout / 2);
    P::sleep(timeout / 2);
    waiter.join().expect("the waiter");
    lock.release();
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::random(300)
        .spurious_wakeups(1)
        .timeouts(Timeouts::WhenIdle)
}

#[test]
fn timed_acquire_that_restarts_its_timeout_overruns_it() {
    // A random walk rather than DFS: the DFS's partial-order reduction does not explore a
    // spurious wake-up unless some race asks for it, and here none does.
    let failure = kill(
        "timed_wait_restarts_timeout",
        sim_config(),
        timed_acquire_keeps_deadline::<Sim, RestartingTimeoutLock<Sim>>,
        timed_acquire_keeps_deadline::<Sim, Lock<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(
        failure
            .message()
            .contains("acquire_timeout(10ms) gave up after "),
        "{failure}"
    );
}
