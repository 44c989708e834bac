//! Poisoning, as std's locks do it: a guard dropped while its task panics (and that was not
//! taken while it already panicked) marks its lock poisoned, and later acquirers are told so
//! through [`LockResult`]'s `Err`, which still carries their guard.
//!
//! The flag is a platform atomic, so that the engines see it: `is_poisoned` and
//! `clear_poison` need no lock and race with each other and with a poisoning (as in std), and
//! an exploration must try their orders. Its other accesses are made inside the lock's own
//! operations (taking the lock, dropping the guard), where they add no scheduling point.
//!
//! Whether a task panics is `std::thread::panicking()`, which is per OS thread. Under the
//! engines that run tasks as coroutines of one OS thread (the simulator, loom, shuttle), a task
//! that drops a guard while *another* task is suspended in the middle of unwinding (a panic
//! caught by `catch_unwind` inside a task, whose unwinding reached a scheduling point) would be
//! taken for panicking too. Poisoning tests keep the unwinding task the only runnable one. So
//! a guard's drop asks before any step ([`Panicking::began_since`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{LockResult, PoisonError};

use crate::platform::{Atomic, Platform};

/// A lock's poison flag.
pub(crate) struct Flag<P: Platform>(P::AtomicU32);

impl<P: Platform> Flag<P> {
    pub(crate) fn new() -> Self {
        let word = P::AtomicU32::new(0);
        word.label("poison");
        Flag(word)
    }

    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Relaxed) != 0
    }

    pub(crate) fn set(&self) {
        self.0.store(1, Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.0.store(0, Relaxed);
    }

    /// Where each operation is one event of an explorer (the simulator at operation
    /// granularity, [`Platform::operations_are_events`]): a write of the flag that keeps its
    /// value, in the lock's operation. It stands for the data the lock guards, which lives in
    /// plain memory the explorer does not see: every two critical sections of the lock then
    /// write a common object, and do not commute (`Config::sections_commute` of the
    /// simulator). Nothing elsewhere.
    #[inline]
    pub(crate) fn stand_for_data(&self) {
        if P::operations_are_events() {
            self.0.store(self.0.load(Relaxed), Relaxed);
        }
    }

    /// `guard`, as `Err` if the lock is poisoned.
    #[inline]
    pub(crate) fn map<G>(&self, guard: G) -> LockResult<G> {
        if self.get() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }
}

/// Whether the task was panicking when it took a guard.
#[derive(Clone, Copy)]
pub(crate) struct Panicking(bool);

impl Panicking {
    #[inline]
    pub(crate) fn now() -> Self {
        Panicking(std::thread::panicking())
    }

    /// Whether the task began panicking since `self` was sampled (its guard poisons the lock
    /// as it is dropped). Asked before any step of the drop (see the module docs).
    #[inline]
    pub(crate) fn began_since(self) -> bool {
        !self.0 && std::thread::panicking()
    }
}
