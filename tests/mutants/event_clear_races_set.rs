//! Mutant 5: a naive event whose waiters sleep while the flag word is 0 and, woken, re-check
//! only the flag. A `set` followed at once by `clear` wakes the waiter, but the flag is 0 again
//! by the time it looks: it goes back to sleep and never returns (a lost wake-up). mpcheck's
//! `Event` counts generations, so a waiter that was asleep during the pulse is released.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mpcheck::platform::Atomic;
use mpcheck::sim::{Config, FailureKind, Sim, Timeouts};
use mpcheck::{Event, Platform};

use crate::{kill, spawn};

/// What the scenario needs of an event.
pub trait TestEvent<P: Platform>: Send + Sync + 'static {
    fn new() -> Self;
    fn set(&self);
    fn clear(&self);
    fn wait(&self);
}

impl<P: Platform> TestEvent<P> for Event<P> {
    fn new() -> Self {
        Event::new()
    }
    fn set(&self) {
        Event::set(self)
    }
    fn clear(&self) {
        Event::clear(self)
    }
    fn wait(&self) {
        Event::wait(self)
    }
}

pub struct NaiveEvent<P: Platform> {
    flag: P::AtomicU32,
}

impl<P: Platform> TestEvent<P> for NaiveEvent<P> {
    fn new() -> Self {
        let flag = P::AtomicU32::new(0);
        flag.label("NaiveEvent");
        NaiveEvent { flag }
    }

    fn set(&self) {
        self.flag.store(1, SeqCst);
        P::wake(&self.flag, u32::MAX);
    }

    fn clear(&self) {
        self.flag.store(0, SeqCst);
    }

    fn wait(&self) {
        // BUG: only the flag is re-checked; a set that was cleared again before the woken
        // waiter ran is lost.
        while self.flag.load(SeqCst) == 0 {
            P::wait(&self.flag, 0, None);
        }
    }
}

/// A task waiting for the event when it is set, and cleared right after, is released.
///
/// The setter must not pulse before the waiter waits (an event set and cleared before anyone
/// waits releases nobody, by design). With `Timeouts::WhenIdle`, a sleep ends only when every
/// other task is blocked, so after `P::sleep` the waiter is asleep inside `wait`.
pub fn pulse_releases_waiter<P: Platform, E: TestEvent<P>>() {
    let event = Arc::new(E::new());
    let e = Arc::clone(&event);
    let waiter = spawn::<P, _>(move || e.wait());
    P::sleep(Duration::from_millis(1));
    event.set();
    event.clear();
    waiter.join().expect("the waiter");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs()
        .preemption_bound(2)
        .timeouts(Timeouts::WhenIdle)
}

#[test]
fn clear_right_after_set_loses_the_wakeup() {
    let failure = kill(
        "event_clear_races_set",
        sim_config(),
        pulse_releases_waiter::<Sim, NaiveEvent<Sim>>,
        pulse_releases_waiter::<Sim, Event<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(failure.message().contains("NaiveEvent#"), "{failure}");
}
