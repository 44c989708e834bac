//! [`RwLock`]: std's reader-writer lock over a [`Platform`], a futex algorithm on one 32-bit
//! word.
//!
//! The word: bits 0..30 are the *readers* field, the number of read guards out, or
//! [`WRITE_LOCKED`] (all 30 bits set) while a writer holds the lock; bit 30, [`WAITING`], says
//! some task may sleep on the word; bit 31, [`WRITER_WAITING`], says a writer waits, and holds
//! new readers back so that a stream of readers cannot starve writers (writer preference, as
//! std's futex `RwLock` has: a task that read-locks twice while a writer waits deadlocks, as
//! std warns it may).
//!
//! - `read`: while the field is below the readers' maximum and no writer waits, a
//!   compare-and-swap adds one reader; otherwise set `WAITING` and sleep while the word is
//!   unchanged.
//! - `write`: a compare-and-swap from a field of 0 to `WRITE_LOCKED` (keeping the waiting
//!   bits); otherwise set `WAITING | WRITER_WAITING` and sleep while the word is unchanged.
//! - unlock (the last reader, or the writer): the word becomes 0, clearing both waiting bits, in
//!   one atomic step; if either was set, every sleeper is woken, and each one that still cannot
//!   go on sets its bits again before it sleeps. A reader that is not the last only lowers the
//!   field.
//!
//! Why no wake-up is lost: a sleeper sleeps only on the exact word in which it saw its bits
//! set; the bits are cleared only by the unlock that makes the field 0, which then wakes
//! everyone. A change of the word between a sleeper's look and its sleep makes the futex wait
//! return at once (the word no longer holds what it expected), and it looks again.
//!
//! **Specifications** ([`Platform::ready_when`]), so that at the simulator's operation
//! granularity each operation is one step taken when it can complete: a `read` can complete
//! when no writer holds the lock or waits (its sleeping only sets `WAITING`, which changes who
//! is woken, never who gets in). A `write` registers first (its `WRITER_WAITING` holds readers
//! back: that is part of what others see), then can go on once the field is 0 or its
//! registration was cleared (an unlock woke everyone; it then registers again if it still
//! cannot get in) — exactly when its futex wait would have been woken.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use super::poison::{Flag, Panicking};
use crate::platform::{Atomic, Platform};
use crate::Os;

/// The readers field's value while a writer holds the lock.
const WRITE_LOCKED: u32 = (1 << 30) - 1;
/// The readers field.
const FIELD: u32 = WRITE_LOCKED;
/// The most read guards at once (then std panics; so does this lock).
const MAX_READERS: u32 = WRITE_LOCKED - 1;
/// Some task may sleep on the word.
const WAITING: u32 = 1 << 30;
/// A writer waits: new readers wait behind it.
const WRITER_WAITING: u32 = 1 << 31;

/// A `read` can take the lock in this state.
#[inline]
fn readable(state: u32) -> bool {
    state & FIELD < MAX_READERS && state & WRITER_WAITING == 0
}

/// A reader-writer lock protecting a `T`, with the API of [`std::sync::RwLock`]: any number of
/// read guards at once, or one write guard. Poisoned when a write guard is dropped by a panic.
///
/// ```
/// use mpcheck::facade::os::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let (r1, r2) = (lock.read().unwrap(), lock.read().unwrap());
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_err());
/// }
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized, P: Platform = Os> {
    word: P::AtomicU32,
    poison: Flag<P>,
    data: UnsafeCell<T>,
}

// SAFETY: read guards of several tasks share `&T` (so `T: Sync`), and a write guard moves
// exclusive access between tasks (so `T: Send`): std's bounds.
unsafe impl<P: Platform, T: ?Sized + Send + Sync> Sync for RwLock<T, P> {}

impl<P: Platform, T> RwLock<T, P> {
    /// A new, unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        let word = P::AtomicU32::new(0);
        word.label("RwLock");
        RwLock {
            word,
            poison: Flag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the lock; `Err` carrying it if the lock is poisoned.
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

impl<P: Platform, T: ?Sized> RwLock<T, P> {
    /// Waits until no writer holds or waits for the lock, and takes a read guard. `Err` (with
    /// the guard) if the lock is poisoned.
    ///
    /// # Panics
    /// If 2^30 − 2 read guards are out already.
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.word), "RwLock", "read", site);
        P::ready_when(&self.word, |state, _| readable(state), None);
        let mut state = self.word.load(Relaxed);
        loop {
            if readable(state) {
                match self
                    .word
                    .compare_exchange_weak(state, state + 1, Acquire, Relaxed)
                {
                    Ok(_) => break,
                    Err(now) => {
                        state = now;
                        continue;
                    }
                }
            }
            if state & FIELD == MAX_READERS {
                panic!("too many read guards of one RwLock");
            }
            state = self.sleep(state, WAITING);
        }
        self.poison.map(RwLockReadGuard {
            lock: self,
            site,
            _not_send: PhantomData,
        })
    }

    /// Takes a read guard if no writer holds or waits for the lock, without waiting:
    /// `Err(WouldBlock)` otherwise, `Err(Poisoned)` (with the guard) if it is poisoned.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.word), "RwLock", "try_read", site);
        let mut state = self.word.load(Relaxed);
        while readable(state) {
            match self
                .word
                .compare_exchange_weak(state, state + 1, Acquire, Relaxed)
            {
                Ok(_) => {
                    let guard = RwLockReadGuard {
                        lock: self,
                        site,
                        _not_send: PhantomData,
                    };
                    return self.poison.map(guard).map_err(TryLockError::from);
                }
                Err(now) => state = now,
            }
        }
        Err(TryLockError::WouldBlock)
    }

    /// Waits until no guard is out and takes the write guard. `Err` (with the guard) if the
    /// lock is poisoned.
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.word), "RwLock", "write", site);
        let mut state = self.word.load(Relaxed);
        loop {
            if state & FIELD == 0 {
                match self
                    .word
                    .compare_exchange_weak(state, state | WRITE_LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => break,
                    Err(now) => {
                        state = now;
                        continue;
                    }
                }
            }
            // Registered, it may go on once the lock is free or an unlock cleared its bit.
            let registered = state | WAITING | WRITER_WAITING;
            if state != registered {
                if let Err(now) = self
                    .word
                    .compare_exchange_weak(state, registered, Relaxed, Relaxed)
                {
                    state = now;
                    continue;
                }
            }
            if P::ready_when(
                &self.word,
                |state, _| state & FIELD == 0 || state & WRITER_WAITING == 0,
                None,
            )
            .is_some()
            {
                state = self.word.load(Relaxed);
            } else {
                state = self.sleep(registered, 0);
            }
        }
        let guard = RwLockWriteGuard {
            lock: self,
            panicking: Panicking::now(),
            site,
            _not_send: PhantomData,
        };
        self.poison.map(guard)
    }

    /// Takes the write guard if no guard is out, without waiting: `Err(WouldBlock)` otherwise,
    /// `Err(Poisoned)` (with the guard) if it is poisoned.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.word), "RwLock", "try_write", site);
        let mut state = self.word.load(Relaxed);
        while state & FIELD == 0 {
            match self
                .word
                .compare_exchange_weak(state, state | WRITE_LOCKED, Acquire, Relaxed)
            {
                Ok(_) => {
                    let guard = RwLockWriteGuard {
                        lock: self,
                        panicking: Panicking::now(),
                        site,
                        _not_send: PhantomData,
                    };
                    return self.poison.map(guard).map_err(TryLockError::from);
                }
                Err(now) => state = now,
            }
        }
        Err(TryLockError::WouldBlock)
    }

    /// Whether the lock is poisoned (a hint, as in std).
    #[track_caller]
    pub fn is_poisoned(&self) -> bool {
        let _op = P::operation(|| &self.word, "RwLock", "is_poisoned");
        self.poison.get()
    }

    /// Clears the poison.
    #[track_caller]
    pub fn clear_poison(&self) {
        let _op = P::operation(|| &self.word, "RwLock", "clear_poison");
        self.poison.clear();
    }

    /// The data, through the exclusive borrow; `Err` carrying it if the lock is poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.poison.get();
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// With `state` read last: sets `bits` (if not all set yet) and sleeps while the word holds
    /// `state | bits`; returns the word's value after.
    #[track_caller]
    fn sleep(&self, state: u32, bits: u32) -> u32 {
        let expected = state | bits;
        if expected != state {
            if let Err(now) = self
                .word
                .compare_exchange_weak(state, expected, Relaxed, Relaxed)
            {
                return now;
            }
        }
        P::wait(&self.word, expected, None);
        self.word.load(Relaxed)
    }

    /// Releases a read guard.
    #[inline]
    fn read_unlock(&self) {
        let mut state = self.word.load(Relaxed);
        loop {
            let last = state & FIELD == 1;
            let next = if last { 0 } else { state - 1 };
            match self
                .word
                .compare_exchange_weak(state, next, Release, Relaxed)
            {
                Ok(_) => {
                    if last && state & (WAITING | WRITER_WAITING) != 0 {
                        P::wake(&self.word, u32::MAX);
                    }
                    return;
                }
                Err(now) => state = now,
            }
        }
    }

    /// Releases the write guard.
    #[inline]
    fn write_unlock(&self) {
        if self.word.swap(0, Release) & (WAITING | WRITER_WAITING) != 0 {
            P::wake(&self.word, u32::MAX);
        }
    }
}

impl<P: Platform, T: Default> Default for RwLock<T, P> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<P: Platform, T> From<T> for RwLock<T, P> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<P: Platform, T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get())
            .finish_non_exhaustive()
    }
}

/// A read guard of an [`RwLock`]: dereferences to the data; released when dropped.
#[must_use = "the guard is released as soon as it is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized, P: Platform = Os> {
    lock: &'a RwLock<T, P>,
    site: P::Site,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: it gives out `&T` only: shareable when `T: Sync` (std's rule).
unsafe impl<P: Platform, T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T, P> {}

impl<P: Platform, T: ?Sized> Deref for RwLockReadGuard<'_, T, P> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read guard is out, so no write guard is: nobody writes the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<P: Platform, T: ?Sized> Drop for RwLockReadGuard<'_, T, P> {
    fn drop(&mut self) {
        let word = || Some(&self.lock.word);
        let _op = P::operation_at(word, "RwLock", "read_unlock (guard)", self.site);
        self.lock.read_unlock();
    }
}

impl<P: Platform, T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The write guard of an [`RwLock`]: dereferences (mutably) to the data; released when
/// dropped, poisoning the lock if dropped by a panic.
#[must_use = "the guard is released as soon as it is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized, P: Platform = Os> {
    lock: &'a RwLock<T, P>,
    panicking: Panicking,
    site: P::Site,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: as the read guard: a shared write guard gives out `&T` only.
unsafe impl<P: Platform, T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T, P> {}

impl<P: Platform, T: ?Sized> Deref for RwLockWriteGuard<'_, T, P> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write guard excludes every other guard.
        unsafe { &*self.lock.data.get() }
    }
}

impl<P: Platform, T: ?Sized> DerefMut for RwLockWriteGuard<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<P: Platform, T: ?Sized> Drop for RwLockWriteGuard<'_, T, P> {
    fn drop(&mut self) {
        // Before any step: whether this task is panicking now.
        let poisons = self.panicking.began_since();
        let word = || Some(&self.lock.word);
        let _op = P::operation_at(word, "RwLock", "write_unlock (guard)", self.site);
        if poisons {
            self.lock.poison.set();
        }
        self.lock.write_unlock();
    }
}

impl<P: Platform, T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
