//! What the loom and shuttle platforms share: a futex emulated with one engine mutex per
//! execution and one engine condition variable per word (the value check and the sleep happen
//! under the mutex, and so does every wake, so no wake-up is lost), the logical clock, and task
//! numbering. Each engine names its mutex and condition variable ([`EngineSync`]) and decides
//! what a timed wait does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::{Instant, WaitOutcome};

/// An engine's own mutex and condition variable, which the emulated futex is built from.
pub(super) trait EngineSync {
    /// The engine's mutex (of `()`).
    type Mutex: Send + Sync;
    /// Its guard.
    type Guard<'a>;
    /// The engine's condition variable.
    type Condvar: Send + Sync;
    fn mutex() -> Self::Mutex;
    fn condvar() -> Self::Condvar;
    fn lock(mutex: &Self::Mutex) -> Self::Guard<'_>;
    fn wait<'a>(condvar: &Self::Condvar, guard: Self::Guard<'a>) -> Self::Guard<'a>;
    fn notify(condvar: &Self::Condvar, all: bool);
}

/// A word's condition variable, and how many tasks sleep on it.
type Word<E> = (Arc<<E as EngineSync>::Condvar>, u32);

/// Per-execution state of an emulated futex on engine `E`.
pub(super) struct Emulated<E: EngineSync> {
    /// The engine mutex: every check-and-sleep and every wake happens under it.
    lock: E::Mutex,
    /// Per word address: its condition variable and how many sleep on it.
    words: Mutex<HashMap<usize, Word<E>>>,
    /// The logical clock, in nanoseconds.
    clock: AtomicU64,
    next_task: AtomicU32,
}

impl<E: EngineSync> Emulated<E> {
    pub(super) fn new() -> Self {
        Emulated {
            lock: E::mutex(),
            words: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            next_task: AtomicU32::new(1),
        }
    }

    /// Futex wait on the word at `addr`, which `load` reads. Under the engine mutex: `Mismatch`
    /// if the word no longer holds `expected`; otherwise, given `give_up`, a timeout at once
    /// (the clock moves to it); otherwise a sleep until a [`Emulated::wake`] reaches it.
    pub(super) fn wait(
        &self,
        addr: usize,
        load: impl Fn() -> u32,
        expected: u32,
        give_up: Option<Instant>,
    ) -> WaitOutcome {
        let guard = E::lock(&self.lock);
        if load() != expected {
            return WaitOutcome::Mismatch;
        }
        if let Some(at) = give_up {
            self.advance_to(at);
            return WaitOutcome::TimedOut;
        }
        let condvar = self.condvar(addr, 1);
        drop(E::wait(&condvar, guard));
        self.condvar(addr, -1);
        WaitOutcome::Woken
    }

    /// Futex wake: wakes up to `n` sleepers on the word at `addr`; returns how many (at most).
    pub(super) fn wake(&self, addr: usize, n: u32) -> u32 {
        let _guard = E::lock(&self.lock);
        let sleepers = self.sleepers(addr);
        if sleepers == 0 {
            return 0;
        }
        E::notify(&self.condvar(addr, 0), n != 1);
        n.min(sleepers)
    }

    /// The condition variable of the word at `addr` (made on first use), after adding
    /// `sleepers` (±1, or 0) to its count of sleepers. Called with the engine mutex held.
    fn condvar(&self, addr: usize, sleepers: i32) -> Arc<E::Condvar> {
        let mut words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        let entry = words
            .entry(addr)
            .or_insert_with(|| (Arc::new(E::condvar()), 0));
        entry.1 = entry.1.saturating_add_signed(sleepers);
        Arc::clone(&entry.0)
    }

    /// How many tasks sleep on the word at `addr`. Called with the engine mutex held.
    fn sleepers(&self, addr: usize) -> u32 {
        let words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        words.get(&addr).map_or(0, |e| e.1)
    }

    pub(super) fn now(&self) -> Instant {
        Instant::from_nanos(self.clock.load(Relaxed))
    }

    /// Moves the clock to `at` if it is earlier (a timeout fires).
    pub(super) fn advance_to(&self, at: Instant) {
        self.clock.fetch_max(at.as_nanos(), Relaxed);
    }

    /// Moves the clock forward by `nanos` (a sleep).
    pub(super) fn advance_by(&self, nanos: u64) {
        self.clock.fetch_add(nanos, Relaxed);
    }

    /// A new task number, 1 and up, in the order tasks first ask.
    pub(super) fn next_task(&self) -> u32 {
        self.next_task.fetch_add(1, Relaxed)
    }
}
