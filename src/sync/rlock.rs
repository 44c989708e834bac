//! [`RLock`]: a recursive lock owned by one task (Python's `multiprocessing.RLock`).

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::raw;
use crate::platform::{deadline_after, Atomic, Instant, Platform, Shareable, TaskId};
use crate::{Error, Os};

pub(crate) struct RLockState<P: Platform> {
    /// The futex mutex word (see `raw`).
    word: P::AtomicU32,
    /// `TaskId::as_u64()` of the owner, 0 when free. Written only by the owner (to itself when it
    /// takes the lock, to 0 before it unlocks), so a task reads its own id here only if it owns
    /// (read through `Platform::holds_own_id`, whose contract this is).
    owner: P::AtomicU64,
    /// Recursion depth; touched only by the owner.
    count: P::AtomicU64,
}

// SAFETY: platform atomics only, Shareable by the `Atomic` bound.
unsafe impl<P: Platform> Shareable for RLockState<P> {}

/// A recursive lock with the semantics of Python's `multiprocessing.RLock`.
///
/// The task that holds it (identified by process id and thread id, from the platform) may
/// acquire it again; it is free once released as many times as it was acquired. Only the owner
/// may release it: a release by any other task, or of a free lock, is [`Error::NotOwner`].
///
/// ```
/// use mpcheck::RLock;
/// let lock = RLock::<mpcheck::Os>::new();
/// let outer = lock.lock();
/// let inner = lock.lock(); // the owner may re-enter
/// drop(inner);
/// assert!(lock.is_owned());
/// drop(outer);
/// assert!(!lock.is_locked());
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct RLock<P: Platform = Os> {
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    state: P::Shared<RLockState<P>>,
}

impl<P: Platform> RLock<P> {
    /// A new, free lock.
    pub fn new() -> Self {
        let state: P::Shared<RLockState<P>> = P::share(RLockState {
            word: P::AtomicU32::new(raw::UNLOCKED),
            owner: P::AtomicU64::new(0),
            count: P::AtomicU64::new(0),
        });
        state.word.label("RLock");
        state.owner.label("RLock.owner");
        state.count.label("RLock.depth");
        RLock { state }
    }

    /// Acquires the lock, waiting while another task holds it; re-enters if the caller holds it.
    ///
    /// `Err(OwnerDied)` when the lock was held by a process that died: the caller owns it now,
    /// at depth 1 (see [`Error::OwnerDied`]).
    #[track_caller]
    pub fn acquire(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.word, "RLock", "acquire");
        match self.acquire_until(None) {
            raw::Acquired::TakenOver => Err(Error::OwnerDied),
            _ => Ok(()),
        }
    }

    /// Acquires the lock only if that needs no waiting. `true` if acquired (or re-entered).
    #[track_caller]
    pub fn try_acquire(&self) -> bool {
        let _op = P::operation(|| &self.state.word, "RLock", "try_acquire");
        let me = P::current_task();
        self.reenter(me) || (raw::try_lock::<P>(&self.state.word) && self.became_owner(me, 1))
    }

    /// Waits at most `timeout` for the lock. `true` if acquired (or re-entered); a lock whose
    /// holder process died is taken over and counts as acquired, even with a zero timeout
    /// (only [`RLock::acquire`] and [`RLock::lock`] say so).
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let _op = P::operation(|| &self.state.word, "RLock", "acquire_timeout");
        self.acquire_until(deadline_after::<P>(timeout)).held()
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> raw::Acquired {
        let me = P::current_task();
        if self.reenter(me) {
            return raw::Acquired::Taken;
        }
        let acquired = raw::lock::<P>(&self.state.word, deadline);
        if acquired.held() {
            self.became_owner(me, 1);
        }
        acquired
    }

    /// If `me` owns the lock, one more level of recursion.
    #[inline]
    fn reenter(&self, me: TaskId) -> bool {
        if !P::holds_own_id(&self.state.owner, me.as_u64()) {
            return false;
        }
        // Only the owner writes `count`; a u64 depth cannot overflow in practice (2^64 acquires).
        let depth = self.state.count.load(Relaxed);
        self.state.count.store(depth + 1, Relaxed);
        true
    }

    /// Records `me` as the owner at `depth`, right after taking the mutex word. Always `true`.
    #[inline]
    fn became_owner(&self, me: TaskId, depth: u64) -> bool {
        self.state.owner.store(me.as_u64(), Relaxed);
        self.state.count.store(depth, Relaxed);
        true
    }

    /// Releases one level of recursion; the lock is free when the last level is released.
    /// [`Error::NotOwner`] if the caller does not hold it (including when nobody does).
    #[track_caller]
    pub fn release(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.word, "RLock", "release");
        self.check_owner("RLock::release")?;
        let depth = self.state.count.load(Relaxed);
        if depth > 1 {
            self.state.count.store(depth - 1, Relaxed);
        } else {
            self.state.count.store(0, Relaxed);
            self.state.owner.store(0, Relaxed);
            raw::unlock::<P>(&self.state.word);
        }
        Ok(())
    }

    /// Acquires the lock and returns a guard that releases one level when dropped.
    #[track_caller]
    pub fn lock(&self) -> RLockGuard<'_, P> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.word), "RLock", "lock", site);
        self.lock_at(site)
    }

    /// [`RLock::lock`] for a guard made on behalf of the user's code at `site` (an array's
    /// locked view).
    pub(crate) fn lock_at(&self, site: P::Site) -> RLockGuard<'_, P> {
        let owner_died = self.acquire() == Err(Error::OwnerDied);
        // Built whole: a guard made to copy fields from would release the lock when dropped.
        RLockGuard {
            lock: self,
            site,
            owner_died,
            _owner_bound: PhantomData,
        }
    }

    /// As [`RLock::lock`] if that needs no waiting; `None` if another task holds the lock.
    #[track_caller]
    pub fn try_lock(&self) -> Option<RLockGuard<'_, P>> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.word), "RLock", "try_lock", site);
        self.try_acquire().then(|| self.guard(site))
    }

    fn guard(&self, site: P::Site) -> RLockGuard<'_, P> {
        RLockGuard {
            lock: self,
            site,
            owner_died: false,
            _owner_bound: PhantomData,
        }
    }

    /// `true` if some task holds the lock.
    #[track_caller]
    pub fn is_locked(&self) -> bool {
        let _op = P::operation(|| &self.state.word, "RLock", "is_locked");
        raw::is_locked::<P>(&self.state.word)
    }

    /// `true` if the calling task holds the lock.
    #[track_caller]
    pub fn is_owned(&self) -> bool {
        let _op = P::operation(|| &self.state.word, "RLock", "is_owned");
        self.owned()
    }

    /// A step of its own (unlike the re-entry check): `is_owned` is a query the user sees in a
    /// trace.
    fn owned(&self) -> bool {
        self.state.owner.load(Relaxed) == P::current_task().as_u64()
    }

    /// `Ok` if the calling task holds the lock, else `NotOwner` for `operation`.
    pub(crate) fn check_owner(&self, operation: &'static str) -> Result<(), Error> {
        if self.owned() {
            Ok(())
        } else {
            Err(Error::NotOwner { operation })
        }
    }

    /// Releases every level at once (the caller owns the lock); returns the depth, for
    /// [`RLock::restore`]. Used by `Condition::wait`.
    pub(crate) fn release_all(&self) -> u64 {
        let depth = self.state.count.load(Relaxed);
        self.state.count.store(0, Relaxed);
        self.state.owner.store(0, Relaxed);
        raw::unlock::<P>(&self.state.word);
        depth
    }

    /// Takes the lock again at the depth [`RLock::release_all`] returned; `Err(OwnerDied)`
    /// (holding it) if it was taken over from a dead process.
    pub(crate) fn restore(&self, depth: u64) -> Result<(), Error> {
        let acquired = raw::lock::<P>(&self.state.word, None);
        self.became_owner(P::current_task(), depth);
        match acquired {
            raw::Acquired::TakenOver => Err(Error::OwnerDied),
            _ => Ok(()),
        }
    }
}

impl<P: Platform> Default for RLock<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Clone for RLock<P> {
    fn clone(&self) -> Self {
        RLock {
            state: self.state.clone(),
        }
    }
}

impl<P: Platform> fmt::Debug for RLock<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = TaskId::from_u64(self.state.owner.load(Relaxed));
        f.debug_struct("RLock").field("owner", &owner).finish()
    }
}

/// Holds one level of an [`RLock`]; releases it when dropped. Made by [`RLock::lock`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a, P: Platform = Os> {
    lock: &'a RLock<P>,
    /// Where the guard was made: its release is reported there.
    site: P::Site,
    owner_died: bool,
    /// Not `Send`: the lock must be released by the task that owns it.
    _owner_bound: PhantomData<*const ()>,
}

impl<P: Platform> RLockGuard<'_, P> {
    /// Whether the lock was taken over from a process that died holding it (see
    /// [`Error::OwnerDied`]): what it guards may be half updated.
    #[track_caller]
    pub fn owner_died(&self) -> bool {
        let _op = P::operation(|| &self.lock.state.word, "RLock", "owner_died (guard)");
        self.owner_died
    }
}

impl<P: Platform> Drop for RLockGuard<'_, P> {
    fn drop(&mut self) {
        let word = || Some(&self.lock.state.word);
        let _op = P::operation_at(word, "RLock", "release (guard)", self.site);
        // The guard's task owns the lock; an error means it was released by hand meanwhile.
        let _ = self.lock.release();
    }
}

impl<P: Platform> fmt::Debug for RLockGuard<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLockGuard")
    }
}
