//! [`Semaphore`] and [`BoundedSemaphore`] (Python's `multiprocessing.Semaphore` and
//! `BoundedSemaphore`).
//!
//! The count is one futex word. Acquire decrements it with a compare-and-swap while it is
//! positive; otherwise the task registers in `waiters` and sleeps while the count is 0. Release
//! increments the count and wakes one sleeper only if `waiters` says someone may sleep, so an
//! uncontended release makes no system call.
//!
//! Why no wake-up is lost: a store-then-load ("Dekker") pairing with a `fence(SeqCst)` in each
//! half. The waiter increments `waiters`, fences, then (in the futex wait) reads `count`; the
//! releaser increments `count`, fences, then reads `waiters`. Of the two fences one comes first
//! in the single total order of SeqCst fences, so either the releaser sees the waiter and wakes
//! it, or the waiter sees the new count and does not sleep. (SeqCst *accesses* alone would do in
//! C11 too, but loom models only the fences exactly, and the fences say what is meant.)

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use std::time::Duration;

use crate::platform::WaitOutcome;
use crate::platform::{deadline_after, Atomic, AtomicInt, Instant, Platform, Shareable};
use crate::{Error, Os};

pub(crate) struct SemState<P: Platform> {
    count: P::AtomicU32,
    /// Tasks between registering to sleep and waking up (an upper bound of the sleepers).
    waiters: P::AtomicU32,
    /// The largest count a release may produce: `u32::MAX` for a Semaphore, the initial value
    /// for a BoundedSemaphore. Immutable.
    max: u32,
}

// SAFETY: platform atomics and a plain u32.
unsafe impl<P: Platform> Shareable for SemState<P> {}

impl<P: Platform> SemState<P> {
    fn new(value: u32, max: u32, name: &'static str) -> P::Shared<Self> {
        let state: P::Shared<Self> = P::share(SemState {
            count: P::AtomicU32::new(value),
            waiters: P::AtomicU32::new(0),
            max,
        });
        state.count.label(name);
        state.waiters.label("Semaphore.waiters");
        state
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        let mut count = self.count.load(Relaxed);
        while count > 0 {
            match self
                .count
                .compare_exchange_weak(count, count - 1, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => count = now,
            }
        }
        false
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        if self.try_acquire() {
            return true;
        }
        loop {
            self.waiters.fetch_add(1, Relaxed);
            P::fence(SeqCst);
            let outcome = P::wait(&self.count, 0, deadline);
            self.waiters.fetch_sub(1, Relaxed);
            // Try before looking at the outcome: a wake-up that reached us is ours to use even if
            // the deadline has passed meanwhile (the platform reports it as Woken, not TimedOut).
            if self.try_acquire() {
                return true;
            }
            if outcome == WaitOutcome::TimedOut {
                return false;
            }
        }
    }

    /// Adds one to the count unless it is at `max`; `Err(())` at `max`.
    fn release(&self) -> Result<(), ()> {
        let mut count = self.count.load(Relaxed);
        loop {
            if count >= self.max {
                return Err(());
            }
            match self
                .count
                .compare_exchange_weak(count, count + 1, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(now) => count = now,
            }
        }
        P::fence(SeqCst);
        if self.waiters.load(Relaxed) > 0 {
            P::wake(&self.count, 1);
        }
        Ok(())
    }
}

macro_rules! semaphore {
    (
        $(#[$doc:meta])*
        $name:ident, $guard:ident, max = |$value:ident| $max:expr,
        release_error = $err:expr, release_doc = $release_doc:literal
    ) => {
        $(#[$doc])*
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
        pub struct $name<P: Platform = Os> {
    #[serde(
                serialize_with = "crate::platform::wire::ser::<P, _, _>",
                deserialize_with = "crate::platform::wire::de::<P, _, _>"
                    )]
            state: P::Shared<SemState<P>>,
        }

        impl<P: Platform> $name<P> {
            #[doc = concat!("A new ", stringify!($name), " whose count starts at `value`.")]
            pub fn new($value: u32) -> Self {
                $name {
                    state: SemState::<P>::new($value, $max, stringify!($name)),
                }
            }

            /// Decrements the count, first waiting while it is 0.
            #[track_caller]
            pub fn acquire(&self) {
                let _op = P::operation(|| &self.state.count, stringify!($name), "acquire");
                self.state.acquire_until(None);
            }

            /// Decrements the count if it is positive; never blocks. `true` if it did.
            #[track_caller]
            pub fn try_acquire(&self) -> bool {
                let _op = P::operation(|| &self.state.count, stringify!($name), "try_acquire");
                self.state.try_acquire()
            }

            /// Waits at most `timeout` for a positive count and decrements it. `false` on timeout.
            #[track_caller]
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                let _op = P::operation(|| &self.state.count, stringify!($name), "acquire_timeout");
                self.state.acquire_until(deadline_after::<P>(timeout))
            }

            #[doc = $release_doc]
            #[track_caller]
            pub fn release(&self) -> Result<(), Error> {
                let _op = P::operation(|| &self.state.count, stringify!($name), "release");
                self.state.release().map_err(|()| $err)
            }

            /// The current count.
            #[track_caller]
            pub fn get_value(&self) -> u32 {
                let _op = P::operation(|| &self.state.count, stringify!($name), "get_value");
                self.state.count.load(Relaxed)
            }

            /// Acquires and returns a guard that releases when dropped.
            #[track_caller]
            pub fn guard(&self) -> $guard<'_, P> {
                let site = P::site();
                let _op = P::operation_at(|| Some(&self.state.count), stringify!($name), "guard", site);
                self.acquire();
                $guard {
                    semaphore: self,
                    site,
                    _platform: PhantomData,
                }
            }
        }

        impl<P: Platform> Clone for $name<P> {
            fn clone(&self) -> Self {
                $name {
                    state: self.state.clone(),
                }
            }
        }

        impl<P: Platform> fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("value", &self.get_value())
                    .finish()
            }
        }

        #[doc = concat!("Holds one unit of a [`", stringify!($name), "`]; releases it when dropped.")]
        #[must_use = "the unit is released as soon as the guard is dropped"]
        pub struct $guard<'a, P: Platform = Os> {
            semaphore: &'a $name<P>,
            /// Where the guard was made: its release is reported there.
            site: P::Site,
            _platform: PhantomData<P>,
        }

        impl<P: Platform> Drop for $guard<'_, P> {
            fn drop(&mut self) {
                let count = || Some(&self.semaphore.state.count);
                let _op = P::operation_at(count, stringify!($name), "release (guard)", self.site);
                // The guard took one unit, so giving it back stays within the bound unless the
                // user released by hand meanwhile; that error has nowhere to go.
                let _ = self.semaphore.release();
            }
        }

        impl<P: Platform> fmt::Debug for $guard<'_, P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($guard))
            }
        }
    };
}

semaphore! {
    /// A counting semaphore with the semantics of Python's `multiprocessing.Semaphore`.
    ///
    /// `acquire` waits while the count is 0, then decrements it; `release` increments it and
    /// wakes one waiter. Past `u32::MAX`, `release` is [`Error::Overflow`].
    ///
    /// ```
    /// let room = mpcheck::Semaphore::<mpcheck::Os>::new(4); // a KTV room for 4
    /// let _seat = room.guard();
    /// assert_eq!(room.get_value(), 3);
    /// ```
    Semaphore, SemaphoreGuard, max = |value| u32::MAX,
    release_error = Error::Overflow { what: "Semaphore value" },
    release_doc = "Increments the count and wakes one waiter. [`Error::Overflow`] at `u32::MAX`."
}

semaphore! {
    /// A semaphore that may not be released above its initial value, as Python's
    /// `multiprocessing.BoundedSemaphore` — but checked exactly: the check and the increment are
    /// one atomic step, so two racing over-releases cannot both succeed (CPython's check is racy).
    ///
    /// ```
    /// let s = mpcheck::BoundedSemaphore::<mpcheck::Os>::new(1);
    /// assert!(s.release().is_err()); // already at its initial value
    /// ```
    BoundedSemaphore, BoundedSemaphoreGuard, max = |value| value,
    release_error = Error::ReleasedTooManyTimes { primitive: "BoundedSemaphore" },
    release_doc = "Increments the count and wakes one waiter. [`Error::ReleasedTooManyTimes`] if the count is already at the initial value."
}
