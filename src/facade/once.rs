//! [`Once`]: std's one-time initialization over a [`Platform`], one futex word.
//!
//! The word is [`INCOMPLETE`], [`POISONED`] (the closure panicked), [`RUNNING`],
//! [`QUEUED`] (running, and some task may sleep on the word) or [`COMPLETE`]. The first task
//! that finds it `INCOMPLETE` (or `POISONED`, for `call_once_force`) swaps in `RUNNING` and runs
//! the closure; the others set `QUEUED` and sleep until the word is neither running state. The
//! runner stores `COMPLETE` (or `POISONED`, from a drop guard, if the closure panics) and wakes
//! every sleeper if the word said `QUEUED`.
//!
//! The closure is the user's code: it runs *outside* the `Once`'s operation
//! ([`Platform::operation`]), so the simulator at operation granularity interleaves its steps
//! as any other code of the program; the waiting is an operation whose specification
//! ([`Platform::ready_when`]) is "nobody runs the closure".

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::results::OnceState;
use crate::platform::{Atomic, Platform};
use crate::Os;

/// Nobody ran the closure yet.
const INCOMPLETE: u32 = 0;
/// A closure panicked: `call_once` panics, `call_once_force` runs its closure.
const POISONED: u32 = 1;
/// A task runs the closure.
const RUNNING: u32 = 2;
/// A task runs the closure and some task may sleep on the word.
const QUEUED: u32 = 3;
/// A closure returned.
const COMPLETE: u32 = 4;

/// A one-time initialization with the API of [`std::sync::Once`].
///
/// ```
/// use mpcheck::facade::os::sync::Once;
///
/// let once = Once::new();
/// let mut runs = 0;
/// once.call_once(|| runs += 1);
/// once.call_once(|| runs += 1);
/// assert_eq!(runs, 1);
/// assert!(once.is_completed());
/// ```
pub struct Once<P: Platform = Os> {
    word: P::AtomicU32,
}

impl<P: Platform> Once<P> {
    /// A new `Once`, its closure not run.
    pub fn new() -> Self {
        let word = P::AtomicU32::new(INCOMPLETE);
        word.label("Once");
        Once { word }
    }

    /// Runs `f` if no closure of this `Once` ran yet, else waits until the one that runs has
    /// returned. Every `call_once` returns after a closure returned.
    ///
    /// # Panics
    /// If a closure panicked (the `Once` is poisoned), as std's.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        let _op = P::operation(|| &self.word, "Once", "call_once");
        if self.word.load(Acquire) == COMPLETE {
            return;
        }
        self.call(false, _op, |_| f());
    }

    /// As [`Once::call_once`], but also runs when an earlier closure panicked, telling `f` so.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        let _op = P::operation(|| &self.word, "Once", "call_once_force");
        if self.word.load(Acquire) == COMPLETE {
            return;
        }
        self.call(true, _op, f);
    }

    /// Whether a closure of this `Once` has returned.
    #[track_caller]
    pub fn is_completed(&self) -> bool {
        let _op = P::operation(|| &self.word, "Once", "is_completed");
        self.word.load(Acquire) == COMPLETE
    }

    /// The slow path: `op` is the caller's open operation, ended before `f` runs.
    #[track_caller]
    fn call(&self, force: bool, op: P::Operation, f: impl FnOnce(&OnceState)) {
        P::ready_when(
            &self.word,
            |state, _| state != RUNNING && state != QUEUED,
            None,
        );
        let mut state = self.word.load(Acquire);
        loop {
            match state {
                COMPLETE => return,
                POISONED if !force => panic!("Once instance has previously been poisoned"),
                INCOMPLETE | POISONED => {
                    if let Err(now) = self.word.compare_exchange(state, RUNNING, Acquire, Acquire) {
                        state = now;
                        continue;
                    }
                    let mut done = Done {
                        once: self,
                        site: P::site(),
                        store: POISONED,
                    };
                    // The user's closure is no part of the operation.
                    drop(op);
                    f(&OnceState {
                        poisoned: state == POISONED,
                    });
                    done.store = COMPLETE;
                    return;
                }
                _ => {
                    if state == RUNNING {
                        if let Err(now) = self
                            .word
                            .compare_exchange(RUNNING, QUEUED, Relaxed, Acquire)
                        {
                            state = now;
                            continue;
                        }
                    }
                    P::wait(&self.word, QUEUED, None);
                    state = self.word.load(Acquire);
                }
            }
        }
    }
}

/// Ends a run of the closure: stores `store` (`POISONED` unless the closure returned) and wakes
/// the sleepers.
struct Done<'a, P: Platform> {
    once: &'a Once<P>,
    site: P::Site,
    store: u32,
}

impl<P: Platform> Drop for Done<'_, P> {
    fn drop(&mut self) {
        let word = &self.once.word;
        let _op = P::operation_at(|| Some(word), "Once", "complete", self.site);
        if word.swap(self.store, Release) == QUEUED {
            P::wake(word, u32::MAX);
        }
    }
}

impl<P: Platform> Default for Once<P> {
    fn default() -> Self {
        Once::new()
    }
}

impl<P: Platform> fmt::Debug for Once<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}
