//! What the loom and shuttle platforms share: the bookkeeping of a futex emulated with one
//! engine mutex per execution and one engine condition variable per word, the logical clock,
//! and task numbering. Each engine keeps its own mutex and its `wait`/`wake` (their types and
//! their handling of timed waits differ); this holds the per-word table they both need.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::Instant;

/// Per-execution state of an emulated futex, generic over the engine's condition variable.
pub(super) struct Emulated<C> {
    /// Per word address: its condition variable and how many sleep on it.
    words: Mutex<HashMap<usize, (Arc<C>, u32)>>,
    /// The logical clock, in nanoseconds.
    clock: AtomicU64,
    next_task: AtomicU32,
}

impl<C> Emulated<C> {
    pub(super) fn new() -> Self {
        Emulated {
            words: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            next_task: AtomicU32::new(1),
        }
    }

    /// The condition variable of the word at `addr` (made by `make` on first use), after
    /// adding `sleepers` (±1, or 0) to its count of sleepers. Called with the engine mutex held.
    pub(super) fn condvar(&self, addr: usize, sleepers: i32, make: impl FnOnce() -> C) -> Arc<C> {
        let mut words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        let entry = words.entry(addr).or_insert_with(|| (Arc::new(make()), 0));
        entry.1 = entry.1.saturating_add_signed(sleepers);
        Arc::clone(&entry.0)
    }

    /// How many tasks sleep on the word at `addr`. Called with the engine mutex held.
    pub(super) fn sleepers(&self, addr: usize) -> u32 {
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
