//! [`Mutex`]: std's `Mutex<T>` over a [`Platform`], on the futex mutex of
//! [`raw`](crate::sync::raw) (the one every mpcheck lock is built on; no second mutex).
//!
//! The data lives in a plain [`UnsafeCell`], beside the lock word: only the task holding the
//! lock reaches it, and the lock's Acquire/Release orders every access, as in std (and as in
//! loom's and shuttle's own `Mutex<T>`, whose data is no scheduling point either). The poison
//! flag is a platform atomic (see `poison.rs`): `is_poisoned` and `clear_poison` take no lock,
//! and their races are explored.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use super::poison::{Flag, Panicking};
use crate::platform::{Atomic, Platform};
use crate::sync::raw;
use crate::Os;

/// A mutual exclusion lock protecting a `T`, with the API of [`std::sync::Mutex`], on the
/// platform `P` (written once; see the [facade](super) for the one-parameter names of each
/// engine, `mpcheck::facade::sim::sync::Mutex<T>`).
///
/// `lock` returns a [`LockResult`]: `Err` carrying the guard when a task panicked holding the
/// lock (the mutex is *poisoned*, as in std). A lock taken over from a simulated process that
/// was killed holding it ([`crate::Error::OwnerDied`]) poisons it too: what it guards may be
/// half updated.
///
/// ```
/// use mpcheck::facade::os::sync::{Arc, Mutex};
/// use mpcheck::facade::os::thread;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         thread::spawn(move || *counter.lock().unwrap() += 1)
///     })
///     .collect();
/// for handle in handles {
///     handle.join().unwrap();
/// }
/// assert_eq!(*counter.lock().unwrap(), 4);
/// ```
pub struct Mutex<T: ?Sized, P: Platform = Os> {
    /// The [`raw`] lock word.
    word: P::AtomicU32,
    poison: Flag<P>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and a guard exists only while its task
// holds the lock, which excludes every other guard: so sharing the mutex lets one task at a time
// reach the `T`, which moves it between tasks in effect (hence `T: Send`, as std asks).
unsafe impl<P: Platform, T: ?Sized + Send> Sync for Mutex<T, P> {}

impl<P: Platform, T> Mutex<T, P> {
    /// A new, unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self::labelled(value, "Mutex")
    }

    /// As [`Mutex::new`], named `label` in traces (a primitive built on the mutex).
    pub(crate) fn labelled(value: T, label: &'static str) -> Self {
        let word = P::AtomicU32::new(raw::UNLOCKED);
        word.label(label);
        Mutex {
            word,
            poison: Flag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the mutex; `Err` carrying it if the mutex is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<P: Platform, T: ?Sized> Mutex<T, P> {
    /// Waits until the lock is free and takes it; the guard releases it when dropped.
    ///
    /// `Err` (carrying the guard: the lock is held all the same) if the mutex is poisoned.
    /// Locking a mutex the calling task holds waits forever (a deadlock the simulator reports).
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.word), "Mutex", "lock", site);
        self.lock_word();
        self.poison.stand_for_data();
        self.poison.map(MutexGuard::new(self, site))
    }

    /// Takes the lock if it is free, without waiting: `Err(WouldBlock)` if it is held,
    /// `Err(Poisoned)` (with the guard) if it was free and is poisoned.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.word), "Mutex", "try_lock", site);
        if raw::try_lock::<P>(&self.word) {
            self.poison.stand_for_data();
            self.poison
                .map(MutexGuard::new(self, site))
                .map_err(TryLockError::from)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether the mutex is poisoned (a hint: another task may poison it or clear the poison
    /// at any time).
    #[track_caller]
    pub fn is_poisoned(&self) -> bool {
        let _op = P::operation(|| &self.word, "Mutex", "is_poisoned");
        self.poison.get()
    }

    /// Clears the poison: later `lock`s return `Ok`.
    #[track_caller]
    pub fn clear_poison(&self) {
        let _op = P::operation(|| &self.word, "Mutex", "clear_poison");
        self.poison.clear();
    }

    /// The data, through the exclusive borrow (no locking needed); `Err` carrying it if the
    /// mutex is poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.poison.get();
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// Takes the lock word (a poisoning takeover from a dead process included).
    #[inline]
    pub(crate) fn lock_word(&self) {
        if raw::lock::<P>(&self.word, None) == raw::Acquired::TakenOver {
            // The holder's process died holding it: what it guards may be half updated.
            self.poison.set();
        }
    }

    /// Releases the lock word (the guard's drop, a condition variable's wait).
    #[inline]
    pub(crate) fn unlock_word(&self) {
        // A guard proves the lock is held; `false` cannot happen.
        let _ = raw::unlock::<P>(&self.word);
    }

    /// The lock word: what stands for the mutex in traces.
    pub(crate) fn word(&self) -> &P::AtomicU32 {
        &self.word
    }

    /// Whether the mutex is poisoned, for a guard taken back (a condition variable's wait).
    pub(crate) fn poisoned(&self) -> bool {
        self.poison.get()
    }
}

impl<P: Platform, T: Default> Default for Mutex<T, P> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<P: Platform, T> From<T> for Mutex<T, P> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<P: Platform, T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get())
            .finish_non_exhaustive()
    }
}

/// Holds a [`Mutex`] and dereferences to its data; releases the lock when dropped (poisoning
/// the mutex if dropped by a panic). As std's, it is not `Send`: it stays with the task that
/// took the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized, P: Platform = Os> {
    mutex: &'a Mutex<T, P>,
    /// Whether the task was panicking when it took the lock.
    panicking: Panicking,
    /// Where the guard was made: its release is reported there.
    pub(crate) site: P::Site,
    /// Not `Send`, as std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives out `&T`, which is sound to share when `T: Sync` (std's
// rule for its guard).
unsafe impl<P: Platform, T: ?Sized + Sync> Sync for MutexGuard<'_, T, P> {}

impl<'a, P: Platform, T: ?Sized> MutexGuard<'a, T, P> {
    fn new(mutex: &'a Mutex<T, P>, site: P::Site) -> Self {
        MutexGuard {
            mutex,
            panicking: Panicking::now(),
            site,
            _not_send: PhantomData,
        }
    }

    /// The mutex the guard holds (for a condition variable's wait).
    pub(crate) fn mutex(&self) -> &'a Mutex<T, P> {
        self.mutex
    }
}

impl<P: Platform, T: ?Sized> Deref for MutexGuard<'_, T, P> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard's task holds the lock, so no other task reaches the data.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<P: Platform, T: ?Sized> DerefMut for MutexGuard<'_, T, P> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed exclusively.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<P: Platform, T: ?Sized> Drop for MutexGuard<'_, T, P> {
    #[inline]
    fn drop(&mut self) {
        // Before any step: whether this task is panicking now.
        let poisons = self.panicking.began_since();
        let word = || Some(&self.mutex.word);
        let _op = P::operation_at(word, "Mutex", "unlock (guard)", self.site);
        if poisons {
            self.mutex.poison.set();
        }
        self.mutex.unlock_word();
    }
}

impl<P: Platform, T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<P: Platform, T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
