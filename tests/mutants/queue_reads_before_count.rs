//! Mutant 10: a bounded queue (slots in a platform cell, one `Lock`, `Condition`s `not_empty`
//! and `not_full` on it) whose `get` reads the head slot first and only then waits for an item
//! to be there. On an empty queue the head slot holds what it held on the ring's previous lap
//! (or its initial 0): the getter returns that stale value once an item arrives, and the item
//! itself is skipped. Every engine sees it: the read is under the lock, no data race, just the
//! wrong order.

use std::sync::Arc;

use mpcheck::platform::SharedCell;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Condition, Lock, Platform};

use crate::{kill, spawn, Slots};

/// Two slots, for three items: the third lands in a slot that held the first.
const CAP: usize = 2;
const ITEMS: u32 = 3;

/// A bounded queue of `CAP` items. With `WAIT_FIRST` a get waits for an item, then reads the
/// head slot (correct); without, it reads the head slot, then waits (the mutant).
pub struct BoundedQueue<P: Platform, const WAIT_FIRST: bool> {
    lock: Lock<P>,
    not_empty: Condition<P>,
    not_full: Condition<P>,
    slots: P::Cell<Slots<CAP>>,
}

impl<P: Platform, const WAIT_FIRST: bool> BoundedQueue<P, WAIT_FIRST> {
    fn new() -> Self {
        let lock = Lock::new();
        BoundedQueue {
            not_empty: Condition::with_lock(lock.clone()),
            not_full: Condition::with_lock(lock.clone()),
            lock,
            slots: P::Cell::new(Slots::default()),
        }
    }

    fn put(&self, item: u32) {
        let _held = self.lock.lock();
        // SAFETY (every access to `slots`): under the lock.
        while unsafe { self.slots.with(Slots::is_full) } {
            self.not_full.wait().expect("lock held");
        }
        unsafe { self.slots.with_mut(|s| s.push(item)) };
        self.not_empty.notify(1).expect("lock held");
    }

    fn wait_for_an_item(&self) {
        while unsafe { self.slots.with(Slots::is_empty) } {
            self.not_empty.wait().expect("lock held");
        }
    }

    fn get(&self) -> u32 {
        let _held = self.lock.lock();
        let item = if WAIT_FIRST {
            self.wait_for_an_item();
            unsafe { self.slots.with(Slots::front) }
        } else {
            // BUG: the head slot is read before anything says it holds an item.
            let item = unsafe { self.slots.with(Slots::front) };
            self.wait_for_an_item();
            item
        };
        unsafe { self.slots.with_mut(Slots::advance) };
        self.not_full.notify(1).expect("lock held");
        item
    }
}

/// FIFO, exactly once: the main task puts 1, 2, 3 into a queue of two slots; a consumer gets
/// three items, which are 1, 2, 3.
pub fn fifo_exactly_once<P: Platform, const WAIT_FIRST: bool>() {
    let queue = Arc::new(BoundedQueue::<P, WAIT_FIRST>::new());
    let q = Arc::clone(&queue);
    let consumer = spawn::<P, _>(move || (0..ITEMS).map(|_| q.get()).collect::<Vec<_>>());
    for item in 1..=ITEMS {
        queue.put(item);
    }
    let got = consumer.join().expect("the consumer");
    let put: Vec<u32> = (1..=ITEMS).collect();
    assert_eq!(got, put, "items lost, duplicated or reordered");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn get_that_reads_before_waiting_returns_a_stale_slot() {
    let failure = kill(
        "queue_reads_before_count",
        sim_config(),
        fifo_exactly_once::<Sim, false>,
        fifo_exactly_once::<Sim, true>,
    );
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(
        failure
            .message()
            .contains("items lost, duplicated or reordered"),
        "{failure}"
    );
}
