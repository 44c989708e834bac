//! Mutant 10: a bounded queue (slots in a platform cell, one `Lock`, `Condition`s `not_empty`
//! and `not_full` on it) whose `get` reads the head slot first and only then waits for an item
//! to be there. On an empty queue the head slot holds what it held on the ring's previous lap
//! (or its initial 0): the getter returns that stale value once an item arrives, and the item
//! itself is skipped. Every engine sees it: the read is under the lock, no data race, just the
//! wrong order.

use std::sync::Arc;

use mpcheck::platform::SharedCell;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::Platform;

use crate::slot_queue::{SlotQueue, Slots};
use crate::{assert_failure, kill, spawn};

/// Two slots, for three items: the third lands in a slot that held the first.
const CAP: usize = 2;
const ITEMS: u32 = 3;

/// A get from `queue`. With `WAIT_FIRST` it waits for an item, then reads the head slot
/// (correct); without, it reads the head slot, then waits (the mutant).
fn get<P: Platform, const WAIT_FIRST: bool>(queue: &SlotQueue<P, CAP>) -> u32 {
    let _held = queue.lock.lock();
    // SAFETY (every access to `slots`): under the lock.
    let item = if WAIT_FIRST {
        queue.wait_for_an_item();
        unsafe { queue.slots.with(Slots::front) }
    } else {
        // BUG: the head slot is read before anything says it holds an item.
        let item = unsafe { queue.slots.with(Slots::front) };
        queue.wait_for_an_item();
        item
    };
    unsafe { queue.slots.with_mut(Slots::advance) };
    queue.not_full.notify(1).expect("lock held");
    item
}

/// FIFO, exactly once: the main task puts 1, 2, 3 into a queue of two slots; a consumer gets
/// three items, which are 1, 2, 3.
pub fn fifo_exactly_once<P: Platform, const WAIT_FIRST: bool>() {
    let queue = Arc::new(SlotQueue::<P, CAP>::new());
    let q = Arc::clone(&queue);
    let consumer = spawn::<P, _>(move || {
        (0..ITEMS)
            .map(|_| get::<P, WAIT_FIRST>(&q))
            .collect::<Vec<_>>()
    });
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
    assert_failure(
        &failure,
        FailureKind::Panic,
        "items lost, duplicated or reordered",
    );
}
