//! Poisoning, as std's locks do it: a guard dropped while its task panics (and that was not
//! taken while it already panicked) marks its lock poisoned, and later acquirers are told so
//! through [`LockResult`]'s `Err`, which still carries their guard.
//!
//! The flag is a std atomic, not a platform one: it is written only with the lock held and read
//! by the next holder, so the lock orders every access that matters, and keeping it out of the
//! engines' sight keeps it out of the interleavings (a racy read, `is_poisoned`, is a hint in
//! std too).
//!
//! Whether a task panics is `std::thread::panicking()`, which is per OS thread. Under the
//! engines that run tasks as coroutines of one OS thread (the simulator, loom, shuttle), a task
//! that drops a guard while *another* task is suspended in the middle of unwinding (a panic
//! caught by `catch_unwind` inside a task, whose unwinding reached a scheduling point) would be
//! taken for panicking too. Poisoning tests keep the unwinding task the only runnable one.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{LockResult, PoisonError};

/// A lock's poison flag.
pub(crate) struct Flag(AtomicBool);

impl Flag {
    pub(crate) const fn new() -> Self {
        Flag(AtomicBool::new(false))
    }

    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Relaxed)
    }

    pub(crate) fn set(&self) {
        self.0.store(true, Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Relaxed);
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

    /// A guard taken when `at_start` was sampled is being dropped: poisons if the task began
    /// panicking since.
    #[inline]
    pub(crate) fn done(&self, at_start: Panicking) {
        if !at_start.0 && std::thread::panicking() {
            self.set();
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
}
