//! [`Condvar`]: std's condition variable over a [`Platform`].
//!
//! One futex word, a sequence counter, as std's futex condvar and mpcheck's
//! [`Condition`](crate::Condition) keep it. `wait` reads the counter, releases the mutex, sleeps
//! while the counter still holds what it read, and takes the mutex back. `notify_*` bump the
//! counter and wake one or every sleeper. A notification that comes after the waiter's read
//! changes the word, so the waiter's futex wait cannot miss it; one that came before the read
//! came before the wait, and is not owed to it. When the notifier holds the mutex (the usual
//! case), the waiter's read precedes the release the notifier's lock acquired, so every
//! notification made with the mutex held after the waiter began to wait reaches it.
//!
//! As std's, a wait may return spuriously: wait in a loop that re-checks the state, or use
//! [`Condvar::wait_while`]. Unlike [`Condition`](crate::Condition), `notify_*` do not require
//! the mutex (std's contract), so the condition variable cannot count its waiters and every
//! notification wakes (a system call on `Os`, as std's makes).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{LockResult, PoisonError};
use std::time::Duration;

use super::mutex::MutexGuard;
use super::results::WaitTimeoutResult;
use crate::platform::{deadline_after, Atomic, AtomicInt, Instant, Platform, WaitOutcome};
use crate::Os;

/// A condition variable with the API of [`std::sync::Condvar`], used with the facade's
/// [`Mutex`](super::Mutex) on the same platform.
///
/// ```
/// use mpcheck::facade::os::sync::{Arc, Condvar, Mutex};
/// use mpcheck::facade::os::thread;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let other = Arc::clone(&pair);
/// thread::spawn(move || {
///     let (started, cvar) = &*other;
///     *started.lock().unwrap() = true;
///     cvar.notify_one();
/// });
/// let (started, cvar) = &*pair;
/// let started = cvar.wait_while(started.lock().unwrap(), |s| !*s).unwrap();
/// assert!(*started);
/// ```
pub struct Condvar<P: Platform = Os> {
    seq: P::AtomicU32,
}

impl<P: Platform> Condvar<P> {
    /// A new condition variable.
    pub fn new() -> Self {
        Self::labelled("Condvar")
    }

    /// As [`Condvar::new`], named `label` in traces.
    pub(crate) fn labelled(label: &'static str) -> Self {
        let seq = P::AtomicU32::new(0);
        seq.label(label);
        Condvar { seq }
    }

    /// Releases the guard's mutex, waits for a notification (or a spurious wake-up), and takes
    /// the mutex back. `Err` (with the guard) if the mutex is poisoned when taken back.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T, P>,
    ) -> LockResult<MutexGuard<'a, T, P>> {
        let _op = P::operation(|| &self.seq, "Condvar", "wait");
        let (guard, _) = self.wait_until(guard, None);
        guard
    }

    /// Waits as [`Condvar::wait`] while `condition` holds for the data (checked first, with the
    /// mutex held, and after every wake-up); returns the guard once it does not.
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T, P>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T, P>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.seq), "Condvar", "wait_while", site);
        // The caller's condition is no part of the operation: it runs before and between the
        // waits as the caller's own code would (it may read what other tasks change without
        // the mutex), and each wait is an operation of its own, from the caller's line.
        drop(_op);
        while condition(&mut *guard) {
            let _op = P::operation_at(|| Some(&self.seq), "Condvar", "wait_while", site);
            guard = self.wait_until(guard, None).0?;
        }
        Ok(guard)
    }

    /// As [`Condvar::wait`], waiting at most `timeout`; the [`WaitTimeoutResult`] says whether
    /// the time was up.
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T, P>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T, P>, WaitTimeoutResult)> {
        let _op = P::operation(|| &self.seq, "Condvar", "wait_timeout");
        let (guard, timed_out) = self.wait_until(guard, deadline_after::<P>(timeout));
        let result = WaitTimeoutResult(timed_out);
        match guard {
            Ok(guard) => Ok((guard, result)),
            Err(poisoned) => Err(PoisonError::new((poisoned.into_inner(), result))),
        }
    }

    /// As [`Condvar::wait_while`], for at most `timeout` in all: returns once `condition` does
    /// not hold (timed out: `false`) or the time is up (`true`, the condition still holding).
    #[track_caller]
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T, P>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T, P>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.seq), "Condvar", "wait_timeout_while", site);
        let deadline = deadline_after::<P>(timeout);
        // The condition is no part of the operation (see `wait_while`).
        drop(_op);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let _op = P::operation_at(|| Some(&self.seq), "Condvar", "wait_timeout_while", site);
            if deadline.is_some_and(|d| P::now() >= d) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = match self.wait_until(guard, deadline).0 {
                Ok(guard) => guard,
                Err(poisoned) => {
                    return Err(PoisonError::new((
                        poisoned.into_inner(),
                        WaitTimeoutResult(false),
                    )))
                }
            };
        }
    }

    /// Wakes one waiting task, if any waits (perhaps more: a woken task may also have been
    /// woken spuriously).
    #[track_caller]
    pub fn notify_one(&self) {
        let _op = P::operation(|| &self.seq, "Condvar", "notify_one");
        self.seq.fetch_add(1, Relaxed);
        P::wake(&self.seq, 1);
    }

    /// Wakes every waiting task.
    #[track_caller]
    pub fn notify_all(&self) {
        let _op = P::operation(|| &self.seq, "Condvar", "notify_all");
        self.seq.fetch_add(1, Relaxed);
        P::wake(&self.seq, u32::MAX);
    }

    /// The wait of every `wait*` method, to an absolute deadline: the guard back (`Err` if
    /// poisoned) and whether the deadline passed.
    #[track_caller]
    fn wait_until<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T, P>,
        deadline: Option<Instant>,
    ) -> (LockResult<MutexGuard<'a, T, P>>, bool) {
        let mutex = guard.mutex();
        let seen = self.seq.load(Relaxed);
        // The guard stays alive (its drop would release the mutex again): the mutex is
        // released and taken back by hand, and the guard names the wait's line from now on.
        mutex.unlock_word();
        let outcome = P::wait(&self.seq, seen, deadline);
        mutex.lock_word();
        guard.site = P::site();
        let timed_out = outcome == WaitOutcome::TimedOut;
        if mutex.poisoned() {
            (Err(PoisonError::new(guard)), timed_out)
        } else {
            (Ok(guard), timed_out)
        }
    }
}

impl<P: Platform> Default for Condvar<P> {
    fn default() -> Self {
        Condvar::new()
    }
}

impl<P: Platform> fmt::Debug for Condvar<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
