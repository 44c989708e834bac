//! Mutant 9: a bounded queue built as mpcheck's ring is (slots in a platform cell, one `Lock`,
//! `Condition`s `not_empty` and `not_full` on it) whose `get` frees a slot but never notifies
//! `not_full`. A producer that went to sleep on the full queue sleeps on after the room has
//! freed up: a deadlock, and the report shows the producer asleep on a condition nobody ever
//! notified.

use std::sync::Arc;

use mpcheck::platform::SharedCell;
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Condition, Lock, Platform};

use crate::{kill, spawn, Slots};

/// One slot: a second put waits until the first item has been got.
const CAP: usize = 1;

/// A bounded queue of `CAP` items. With `NOTIFY` a get notifies `not_full` (correct); without,
/// it does not (the mutant).
pub struct BoundedQueue<P: Platform, const NOTIFY: bool> {
    lock: Lock<P>,
    not_empty: Condition<P>,
    not_full: Condition<P>,
    slots: P::Cell<Slots<CAP>>,
}

impl<P: Platform, const NOTIFY: bool> BoundedQueue<P, NOTIFY> {
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

    fn get(&self) -> u32 {
        let _held = self.lock.lock();
        while unsafe { self.slots.with(Slots::is_empty) } {
            self.not_empty.wait().expect("lock held");
        }
        let item = unsafe { self.slots.with_mut(Slots::pop) };
        if NOTIFY {
            self.not_full.notify(1).expect("lock held");
        }
        // BUG (without NOTIFY): a putter asleep on the full queue is never told about the room.
        item
    }
}

/// A put on a full queue returns once a get has made room: a producer puts 1 and 2 into a
/// queue of one slot; the main task gets 1, waits for the producer to finish, then gets 2.
pub fn put_waits_for_room<P: Platform, const NOTIFY: bool>() {
    let queue = Arc::new(BoundedQueue::<P, NOTIFY>::new());
    let q = Arc::clone(&queue);
    let producer = spawn::<P, _>(move || {
        q.put(1);
        q.put(2);
    });
    assert_eq!(queue.get(), 1);
    producer.join().expect("the producer");
    assert_eq!(queue.get(), 2);
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
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(
        failure
            .message()
            .contains("task 0 waits for task 1 to finish"),
        "{failure}"
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
