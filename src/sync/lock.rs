//! [`Lock`]: a non-recursive lock without an owner (Python's `multiprocessing.Lock`).

use std::fmt;
use std::time::Duration;

use super::raw;
use crate::platform::{deadline_after, Atomic, Platform, Shareable};
use crate::{Error, Os};

pub(crate) struct LockState<P: Platform> {
    word: P::AtomicU32,
}

// SAFETY: one platform atomic, which is Shareable by the `Atomic` bound.
unsafe impl<P: Platform> Shareable for LockState<P> {}

/// A lock (mutex) with the semantics of Python's `multiprocessing.Lock`.
///
/// - Not recursive: a task that acquires it twice without releasing waits forever (a
///   self-deadlock, which the simulator reports).
/// - No owner: any task may release it, as in Python.
/// - Releasing an unlocked lock is an error, [`Error::ReleasedTooManyTimes`].
///
/// `Lock` is a handle: clones refer to the same lock.
///
/// ```
/// use mpcheck::Lock;
/// let lock = Lock::<mpcheck::Os>::new();
/// {
///     let _guard = lock.lock();
///     assert!(lock.is_locked());
/// }
/// assert!(!lock.is_locked());
/// assert!(lock.release().is_err());
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Lock<P: Platform = Os> {
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    state: P::Shared<LockState<P>>,
}

impl<P: Platform> Lock<P> {
    /// A new, unlocked lock.
    pub fn new() -> Self {
        let state: P::Shared<LockState<P>> = P::share(LockState {
            word: P::AtomicU32::new(raw::UNLOCKED),
        });
        state.word.label("Lock");
        Lock { state }
    }

    /// Waits until the lock is free and takes it.
    ///
    /// `Err(OwnerDied)` when the lock was held by a process that died: the caller holds it
    /// now (see [`Error::OwnerDied`]). A dead holder never leaves its waiters waiting.
    #[inline]
    #[track_caller]
    pub fn acquire(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.word, "Lock", "acquire");
        match raw::lock::<P>(&self.state.word, None) {
            raw::Acquired::TakenOver => Err(Error::OwnerDied),
            _ => Ok(()),
        }
    }

    /// Takes the lock if it is free; never blocks. `true` if it was taken.
    #[inline]
    #[track_caller]
    pub fn try_acquire(&self) -> bool {
        let _op = P::operation(|| &self.state.word, "Lock", "try_acquire");
        raw::try_lock::<P>(&self.state.word)
    }

    /// Waits at most `timeout` for the lock. `true` if it was taken, `false` on timeout. A
    /// lock whose holder process died is taken over and counts as taken, even with a zero
    /// timeout (only [`Lock::acquire`] and [`Lock::lock`] say so).
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let _op = P::operation(|| &self.state.word, "Lock", "acquire_timeout");
        raw::lock::<P>(&self.state.word, deadline_after::<P>(timeout)).held()
    }

    /// Releases the lock (any task may). [`Error::ReleasedTooManyTimes`] if it was not locked.
    #[inline]
    #[track_caller]
    pub fn release(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.word, "Lock", "release");
        if raw::unlock::<P>(&self.state.word) {
            Ok(())
        } else {
            Err(Error::ReleasedTooManyTimes { primitive: "Lock" })
        }
    }

    /// Acquires the lock and returns a guard that releases it when dropped;
    /// [`LockGuard::owner_died`] says whether it was taken over from a dead process.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockGuard<'_, P> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.word), "Lock", "lock", site);
        let owner_died = raw::lock::<P>(&self.state.word, None) == raw::Acquired::TakenOver;
        LockGuard {
            lock: self,
            site,
            owner_died,
        }
    }

    /// Acquires the lock if it is free, returning a guard; `None` if it is held.
    #[track_caller]
    pub fn try_lock(&self) -> Option<LockGuard<'_, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.word), "Lock", "try_lock", site);
        self.try_acquire().then_some(LockGuard {
            lock: self,
            site,
            owner_died: false,
        })
    }

    /// `true` if some task holds the lock.
    #[track_caller]
    pub fn is_locked(&self) -> bool {
        let _op = P::operation(|| &self.state.word, "Lock", "is_locked");
        raw::is_locked::<P>(&self.state.word)
    }

    /// The lock's word: what stands for the lock (or a primitive built on it) in traces.
    pub(crate) fn word(&self) -> &P::AtomicU32 {
        &self.state.word
    }
}

impl<P: Platform> Default for Lock<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Clone for Lock<P> {
    fn clone(&self) -> Self {
        Lock {
            state: self.state.clone(),
        }
    }
}

impl<P: Platform> fmt::Debug for Lock<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// Holds a [`Lock`]; releases it when dropped. Made by [`Lock::lock`].
///
/// Releasing the lock by hand while a guard exists makes the guard's drop release it again,
/// possibly from under another task that took it meanwhile (a `Lock` has no owner to check).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, P: Platform = Os> {
    lock: &'a Lock<P>,
    /// Where the guard was made: its release is reported there.
    site: P::Site,
    owner_died: bool,
}

impl<P: Platform> LockGuard<'_, P> {
    /// Whether the lock was taken over from a process that died holding it (see
    /// [`Error::OwnerDied`]): what it guards may be half updated.
    #[track_caller]
    pub fn owner_died(&self) -> bool {
        let _op = P::operation(|| &self.lock.state.word, "Lock", "owner_died (guard)");
        self.owner_died
    }
}

impl<P: Platform> Drop for LockGuard<'_, P> {
    #[inline]
    fn drop(&mut self) {
        let word = || Some(&self.lock.state.word);
        let _op = P::operation_at(word, "Lock", "release (guard)", self.site);
        // The guard proves the lock was taken; `false` here means the user released it by hand.
        let _ = raw::unlock::<P>(&self.lock.state.word);
    }
}

impl<P: Platform> fmt::Debug for LockGuard<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
