//! Mutant 9: a bounded queue built as mpcheck's ring is (slots in a platform cell, one `Lock`,
//! `Condition`s `not_empty` and `not_full` on it) whose `get` frees a slot but never notifies
//! `not_full`. A producer that went to sleep on the full queue sleeps on after the room has
//! freed up: a deadlock, and the report shows the producer asleep on a condition nobody ever
//! notified.

use std::sync::Arc;

use mpcheck::platform::SharedCell;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::Platform;

use crate::slot_queue::{SlotQueue, Slots};
use crate::{assert_failure, kill, spawn};

/// One slot: a second put waits until the first item has been got.
const CAP: usize = 1;

/// A get from `queue`. With `NOTIFY` it notifies `not_full` (correct); without, it does not (the
/// mutant).
fn get<P: Platform, const NOTIFY: bool>(queue: &SlotQueue<P, CAP>) -> u32 {
    let _held = queue.lock.lock();
    queue.wait_for_an_item();
    // SAFETY: under the lock.
    let item = unsafe { queue.slots.with_mut(Slots::pop) };
    if NOTIFY {
        queue.not_full.notify(1).expect("lock held");
    }
    // BUG (without NOTIFY): a putter asleep on the full queue is never told about the room.
    item
}

/// A put on a full queue returns once a get has made room: a producer puts 1 and 2 into a
/// queue of one slot; the main task gets 1, waits for the producer to finish, then gets 2.
pub fn put_waits_for_room<P: Platform, const NOTIFY: bool>() {
    let queue = Arc::new(SlotQueue::<P, CAP>::new());
    let q = Arc::clone(&queue);
    let producer = spawn::<P, _>(move || {
        q.put(1);
        q.put(2);
    });
    assert_eq!(get::<P, NOTIFY>(&queue), 1);
    producer.join().expect("the producer");
    assert_eq!(get::<P, NOTIFY>(&queue), 2);
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn get_without_notify_strands_a_putter() {
    let failure = kill(
        "queue_forgets_putter",
        sim_config(),
        put_waits_for_room::<Sim, false>,
        put_waits_for_room::<Sim, true>,
    );
    assert_failure(
        &failure,
        FailureKind::Deadlock,
        "task 0 waits for task 1 to finish",
    );
    // The producer sleeps on a condition (the public API cannot give a `Condition` a label of
    // its own, so it shows as `Condition#n`): `not_full`, which nobody ever took from zero, that
    // is, nobody ever notified.
    let producer = failure
        .blocked()
        .iter()
        .find(|b| b.task == 1)
        .unwrap_or_else(|| panic!("the producer is not reported blocked:\n{failure}"));
    assert!(producer.waits_for.starts_with("Condition#"), "{failure}");
    assert_eq!(producer.holder, None, "{failure}");
    assert_eq!(failure.blocked().len(), 2, "{failure}");
}
