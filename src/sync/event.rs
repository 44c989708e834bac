//! [`Event`]: a flag tasks can wait for (Python's `multiprocessing.Event`).
//!
//! One futex word: bit 0 is the flag, bit 1 says "someone may sleep", and the bits above count
//! the `set` operations that found the flag clear (a generation). A waiter sleeps on the exact
//! word it saw; `set` bumps the generation, clears the sleeper bit and wakes everyone if the bit
//! was on. A woken waiter returns `true` as soon as it sees *either* the flag *or* a new
//! generation, so a `set` immediately followed by `clear` still releases every task that was
//! waiting (CPython's `multiprocessing.Event` can miss that pulse: its waiters re-check the flag
//! only).

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use crate::platform::WaitOutcome;
use crate::platform::{deadline_after, Atomic, AtomicInt, Instant, Platform, Shareable};
use crate::Os;

const SET: u32 = 1;
const SLEEPERS: u32 = 2;
const GENERATION: u32 = 4;

pub(crate) struct EventState<P: Platform> {
    word: P::AtomicU32,
}

// SAFETY: one platform atomic.
unsafe impl<P: Platform> Shareable for EventState<P> {}

/// A flag with the semantics of Python's `multiprocessing.Event`: `set` releases every task
/// waiting for it, `clear` resets it, and waiting on a set event returns at once.
///
/// Every task that is waiting when `set` is called is released, even if `clear` follows at once.
///
/// ```
/// let light = mpcheck::Event::<mpcheck::Os>::new(); // a traffic light
/// let car = {
///     let light = light.clone();
///     mpcheck::thread::spawn::<mpcheck::Os, _, _>(move || light.wait())
/// };
/// light.set();
/// car.join().unwrap();
/// assert!(light.is_set());
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Event<P: Platform = Os> {
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    state: P::Shared<EventState<P>>,
}

impl<P: Platform> Event<P> {
    /// A new event, not set.
    pub fn new() -> Self {
        let state: P::Shared<EventState<P>> = P::share(EventState {
            word: P::AtomicU32::new(0),
        });
        state.word.label("Event");
        Event { state }
    }

    /// `true` if the flag is set.
    #[track_caller]
    pub fn is_set(&self) -> bool {
        let _op = P::operation(|| &self.state.word, "Event", "is_set");
        self.state.word.load(Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiting task.
    #[track_caller]
    pub fn set(&self) {
        let _op = P::operation(|| &self.state.word, "Event", "set");
        let word = &self.state.word;
        let mut seen = word.load(Relaxed);
        loop {
            if seen & SET != 0 {
                return;
            }
            let next = (seen & !(SET | SLEEPERS)).wrapping_add(GENERATION) | SET;
            match word.compare_exchange_weak(seen, next, Release, Relaxed) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        if seen & SLEEPERS != 0 {
            P::wake(word, u32::MAX);
        }
    }

    /// Clears the flag.
    #[track_caller]
    pub fn clear(&self) {
        let _op = P::operation(|| &self.state.word, "Event", "clear");
        self.state.word.fetch_and(!SET, Relaxed);
    }

    /// Waits until the flag is set.
    #[track_caller]
    pub fn wait(&self) {
        let _op = P::operation(|| &self.state.word, "Event", "wait");
        self.wait_until(None);
    }

    /// Waits at most `timeout` for the flag. `true` if it was set (or set and cleared again while
    /// this task waited), `false` on timeout.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let _op = P::operation(|| &self.state.word, "Event", "wait_timeout");
        self.wait_until(deadline_after::<P>(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let word = &self.state.word;
        // The specification: the wait ends once the flag is set, or was set (and cleared) since
        // the wait began: its generation moved on.
        let start = P::ready_when(
            word,
            |now, start| now & SET != 0 || now & !(SET | SLEEPERS) != start & !(SET | SLEEPERS),
            deadline,
        );
        let mut seen = word.load(Acquire);
        // The generation the wait began in: where the engine held the task until the guard
        // passed, the one it found then (a set and a clear since, which passed the guard, count
        // as a set), else the one seen now.
        let generation = start.unwrap_or(seen) & !(SET | SLEEPERS);
        let mut timed_out = false;
        loop {
            if seen & SET != 0 || seen & !(SET | SLEEPERS) != generation {
                return true;
            }
            if timed_out {
                return false;
            }
            if seen & SLEEPERS == 0 {
                if let Err(now) = word.compare_exchange(seen, seen | SLEEPERS, Relaxed, Acquire) {
                    seen = now;
                    continue;
                }
                seen |= SLEEPERS;
            }
            timed_out = P::wait(word, seen, deadline) == WaitOutcome::TimedOut;
            seen = word.load(Acquire);
        }
    }
}

impl<P: Platform> Default for Event<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Clone for Event<P> {
    fn clone(&self) -> Self {
        Event {
            state: self.state.clone(),
        }
    }
}

impl<P: Platform> fmt::Debug for Event<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
