//! [`Condition`]: a condition variable bound to a lock (Python's `multiprocessing.Condition`).
//!
//! A sequence-counter futex word and a count of waiters, both changed only with the lock held:
//! `wait` counts itself in and reads the counter, releases the lock (every recursion level of an
//! RLock), sleeps while the counter is unchanged, takes the lock back at the same depth and
//! counts itself out. `notify` bumps the counter and wakes sleepers — only if some task waits:
//! with nobody counted in, no task holds a counter value to invalidate, and the notification is
//! a single read (no system call). A notification after the waiter's read changes the word, so
//! it cannot be lost.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::platform::WaitOutcome;
use crate::platform::{deadline_after, Atomic, AtomicInt, Instant, Platform, Shareable};
use crate::{Error, Lock, Os, RLock};

pub(crate) struct ConditionState<P: Platform> {
    seq: P::AtomicU32,
    /// Tasks between counting themselves in and out of `wait` (changed under the lock).
    waiters: P::AtomicU32,
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for ConditionState<P> {}

/// The lock a [`Condition`] is bound to: an [`RLock`] (the default, as in Python) or a [`Lock`].
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub enum ConditionLock<P: Platform = Os> {
    /// A plain lock. It has no owner, so the condition can only check that *some* task holds
    /// it (as CPython's `threading.Condition` does for a plain lock).
    Lock(Lock<P>),
    /// A recursive lock: the condition checks that the calling task owns it, and `wait`
    /// releases and restores every recursion level.
    RLock(RLock<P>),
}

impl<P: Platform> From<Lock<P>> for ConditionLock<P> {
    fn from(lock: Lock<P>) -> Self {
        ConditionLock::Lock(lock)
    }
}

impl<P: Platform> From<RLock<P>> for ConditionLock<P> {
    fn from(lock: RLock<P>) -> Self {
        ConditionLock::RLock(lock)
    }
}

impl<P: Platform> Clone for ConditionLock<P> {
    fn clone(&self) -> Self {
        match self {
            ConditionLock::Lock(l) => ConditionLock::Lock(l.clone()),
            ConditionLock::RLock(l) => ConditionLock::RLock(l.clone()),
        }
    }
}

/// A condition variable with the semantics of Python's `multiprocessing.Condition`.
///
/// `wait` and `notify` must be called with the lock held, else [`Error::NotOwner`].
///
/// **Spurious wake-ups:** `wait` may return without a notification (as POSIX condition
/// variables and `std::sync::Condvar` may, and unlike CPython). `notify(n)` wakes at least
/// `n` of the waiting tasks if that many wait, and possibly more. Wait in a loop that
/// re-checks the state, or use [`Condition::wait_for`], which does.
///
/// ```
/// use mpcheck::{Condition, Os};
/// let cond = Condition::<Os>::new();
/// let _held = cond.lock();
/// // Nothing will ever notify: the predicate is what decides, not the wake-up.
/// assert!(!cond.wait_for_timeout(|| false, std::time::Duration::from_millis(1)).unwrap());
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Condition<P: Platform = Os> {
    lock: ConditionLock<P>,
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    state: P::Shared<ConditionState<P>>,
}

impl<P: Platform> Condition<P> {
    /// A condition with its own new [`RLock`].
    pub fn new() -> Self {
        Self::with_lock(RLock::new())
    }

    /// A condition bound to `lock` (a [`Lock`] or an [`RLock`]); clones of that lock share it.
    pub fn with_lock(lock: impl Into<ConditionLock<P>>) -> Self {
        let state: P::Shared<ConditionState<P>> = P::share(ConditionState {
            seq: P::AtomicU32::new(0),
            waiters: P::AtomicU32::new(0),
        });
        state.seq.label("Condition");
        state.waiters.label("Condition.waiters");
        Condition {
            lock: lock.into(),
            state,
        }
    }

    /// Acquires the underlying lock; `Err(OwnerDied)` (holding it) when it was taken over
    /// from a process that died holding it.
    #[track_caller]
    pub fn acquire(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.seq, "Condition", "acquire");
        match &self.lock {
            ConditionLock::Lock(l) => l.acquire(),
            ConditionLock::RLock(l) => l.acquire(),
        }
    }

    /// Releases the underlying lock; its errors ([`Lock::release`], [`RLock::release`]) name
    /// the Condition: `NotOwner { operation: "Condition::release" }`,
    /// `ReleasedTooManyTimes { primitive: "Condition" }`.
    #[track_caller]
    pub fn release(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.seq, "Condition", "release");
        let released = match &self.lock {
            ConditionLock::Lock(l) => l.release(),
            ConditionLock::RLock(l) => l.release(),
        };
        // The caller called the Condition's release, not its lock's: the error says so.
        released.map_err(|e| match e {
            Error::NotOwner { .. } => Error::NotOwner {
                operation: "Condition::release",
            },
            Error::ReleasedTooManyTimes { .. } => Error::ReleasedTooManyTimes {
                primitive: "Condition",
            },
            e => e,
        })
    }

    /// Acquires the underlying lock and returns a guard that releases it when dropped.
    #[track_caller]
    pub fn lock(&self) -> ConditionGuard<'_, P> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.seq), "Condition", "lock", site);
        let owner_died = self.acquire() == Err(Error::OwnerDied);
        ConditionGuard {
            condition: self,
            site,
            owner_died,
            _owner_bound: PhantomData,
        }
    }

    /// The lock this condition is bound to.
    #[track_caller]
    pub fn get_lock(&self) -> &ConditionLock<P> {
        let _op = P::operation(|| &self.state.seq, "Condition", "get_lock");
        &self.lock
    }

    fn check_owner(&self, operation: &'static str) -> Result<(), Error> {
        let held = match &self.lock {
            ConditionLock::Lock(l) => l.is_locked(),
            ConditionLock::RLock(l) => l.is_owned(),
        };
        if held {
            Ok(())
        } else {
            Err(Error::NotOwner { operation })
        }
    }

    /// Releases the lock, waits for a notification (or a spurious wake-up), and takes the lock
    /// back. [`Error::NotOwner`] if the caller does not hold the lock.
    #[track_caller]
    pub fn wait(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.seq, "Condition", "wait");
        self.wait_until(None, "Condition::wait").map(|_| ())
    }

    /// As [`Condition::wait`], giving up after `timeout`: `Ok(false)` if the timeout expired,
    /// `Ok(true)` otherwise.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        let _op = P::operation(|| &self.state.seq, "Condition", "wait_timeout");
        self.wait_until(deadline_after::<P>(timeout), "Condition::wait_timeout")
    }

    /// The wait of every `wait*` method, to an absolute deadline; `Ok(false)` on timeout.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        operation: &'static str,
    ) -> Result<bool, Error> {
        self.wait_until_or_death(deadline, operation, false)
    }

    /// As [`Condition::wait_until`]; with `watching`, the sleep watches deaths
    /// ([`Platform::wait_watching_deaths`]): for a caller that looks at the liveness of the
    /// processes it waits for before it sleeps and when it wakes (a barrier's party). A plain
    /// wait, as Python's, is woken by no death: a waiter whose notifier died sleeps on.
    pub(crate) fn wait_until_or_death(
        &self,
        deadline: Option<Instant>,
        operation: &'static str,
        watching: bool,
    ) -> Result<bool, Error> {
        self.check_owner(operation)?;
        let sleep = |seq: &P::AtomicU32, seen: u32| {
            if watching {
                P::wait_watching_deaths(seq, seen, deadline)
            } else {
                P::wait(seq, seen, deadline)
            }
        };
        let seq = &self.state.seq;
        let waiters = &self.state.waiters;
        // Under the lock, as `notify`'s read of the count: it sees every task counted in.
        waiters.fetch_add(1, Relaxed);
        let seen = seq.load(Relaxed);
        let outcome = match &self.lock {
            ConditionLock::Lock(l) => {
                if let Err(e) = l.release() {
                    waiters.fetch_sub(1, Relaxed);
                    return Err(e);
                }
                let outcome = sleep(seq, seen);
                (outcome, l.acquire())
            }
            ConditionLock::RLock(l) => {
                let depth = l.release_all();
                let outcome = sleep(seq, seen);
                (outcome, l.restore(depth))
            }
        };
        waiters.fetch_sub(1, Relaxed);
        // Taken back from a process that died holding the lock: the caller holds it, and
        // learns it.
        let (outcome, retaken) = outcome;
        retaken?;
        Ok(outcome != WaitOutcome::TimedOut)
    }

    /// Waits until `predicate()` is true (checked with the lock held, before every wait).
    /// Always `Ok(true)`; [`Error::NotOwner`] if the caller does not hold the lock.
    #[track_caller]
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<bool, Error> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.seq), "Condition", "wait_for", site);
        self.check_owner("Condition::wait_for")?;
        // The caller's predicate is no part of the operation: it runs before and between the
        // waits as the caller's own code would (it may look at what others change without the
        // lock, or call other primitives), and each wait is an operation of its own, from the
        // caller's line.
        drop(_op);
        while !predicate() {
            let _op = P::operation_at(|| Some(&self.state.seq), "Condition", "wait_for", site);
            self.wait_until(None, "Condition::wait_for")?;
        }
        Ok(true)
    }

    /// Waits at most `timeout` for `predicate()` to become true; returns the predicate's last
    /// value (as Python does).
    #[track_caller]
    pub fn wait_for_timeout(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let site = P::site();
        let _op = P::operation_at(
            || Some(&self.state.seq),
            "Condition",
            "wait_for_timeout",
            site,
        );
        self.check_owner("Condition::wait_for_timeout")?;
        let deadline = deadline_after::<P>(timeout);
        // The predicate is no part of the operation (see `wait_for`).
        drop(_op);
        loop {
            if predicate() {
                return Ok(true);
            }
            let _op = P::operation_at(
                || Some(&self.state.seq),
                "Condition",
                "wait_for_timeout",
                site,
            );
            if !self.wait_until(deadline, "Condition::wait_for_timeout")? {
                drop(_op);
                return Ok(predicate());
            }
        }
    }

    /// Wakes at least `n` waiting tasks (all of them if fewer wait).
    /// [`Error::NotOwner`] if the caller does not hold the lock.
    #[track_caller]
    pub fn notify(&self, n: u32) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.seq, "Condition", "notify");
        self.check_owner("Condition::notify")?;
        if self.state.waiters.load(Relaxed) > 0 {
            self.state.seq.fetch_add(1, Relaxed);
            P::wake(&self.state.seq, n);
        }
        Ok(())
    }

    /// Wakes every waiting task. [`Error::NotOwner`] if the caller does not hold the lock.
    #[track_caller]
    pub fn notify_all(&self) -> Result<(), Error> {
        let _op = P::operation(|| &self.state.seq, "Condition", "notify_all");
        self.notify(u32::MAX)
    }
}

impl<P: Platform> Default for Condition<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Clone for Condition<P> {
    fn clone(&self) -> Self {
        Condition {
            lock: self.lock.clone(),
            state: self.state.clone(),
        }
    }
}

impl<P: Platform> fmt::Debug for Condition<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.lock {
            ConditionLock::Lock(_) => "Lock",
            ConditionLock::RLock(_) => "RLock",
        };
        f.debug_struct("Condition").field("lock", &kind).finish()
    }
}

/// Holds a [`Condition`]'s lock; releases it when dropped. Made by [`Condition::lock`].
/// Call `wait`/`notify` on the condition while the guard lives.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a, P: Platform = Os> {
    condition: &'a Condition<P>,
    /// Where the guard was made: its release is reported there.
    site: P::Site,
    owner_died: bool,
    /// Not `Send`: an RLock must be released by the task that owns it.
    _owner_bound: PhantomData<*const ()>,
}

impl<P: Platform> ConditionGuard<'_, P> {
    /// Whether the lock was taken over from a process that died holding it (see
    /// [`Error::OwnerDied`]).
    #[track_caller]
    pub fn owner_died(&self) -> bool {
        let _op = P::operation(
            || &self.condition.state.seq,
            "Condition",
            "owner_died (guard)",
        );
        self.owner_died
    }
}

impl<P: Platform> Drop for ConditionGuard<'_, P> {
    fn drop(&mut self) {
        let seq = || Some(&self.condition.state.seq);
        let _op = P::operation_at(seq, "Condition", "release (guard)", self.site);
        // The guard's task holds the lock; an error means it was released by hand meanwhile.
        let _ = self.condition.release();
    }
}

impl<P: Platform> fmt::Debug for ConditionGuard<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConditionGuard")
    }
}
