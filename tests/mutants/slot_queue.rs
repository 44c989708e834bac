//! The hand-written bounded queue the queue mutants share: built as mpcheck's ring is (slots in
//! a platform cell, one `Lock`, `Condition`s `not_empty` and `not_full` on it), with a correct
//! `put` and `get`. Not a mutant itself: each queue mutant keeps beside it only the operation it
//! breaks, written against the fields.

use mpcheck::platform::{Shareable, SharedCell};
use mpcheck::{Condition, Lock, Platform};

/// A bounded queue of `CAP` items. Every access to `slots` is under `lock`.
pub struct SlotQueue<P: Platform, const CAP: usize> {
    pub lock: Lock<P>,
    pub not_empty: Condition<P>,
    pub not_full: Condition<P>,
    pub slots: P::Cell<Slots<CAP>>,
}

impl<P: Platform, const CAP: usize> SlotQueue<P, CAP> {
    pub fn new() -> Self {
        Self::with_lock(Lock::new())
    }

    /// A queue on `lock`, which the caller created. The joinable queue labels its count between
    /// the lock and the conditions: the simulator numbers objects in the order of first use (a
    /// label is one), and its traces keep `Lock#1`, `JoinableQueue.unfinished#2`, `Condition#3`.
    pub fn with_lock(lock: Lock<P>) -> Self {
        SlotQueue {
            not_empty: Condition::with_lock(lock.clone()),
            not_full: Condition::with_lock(lock.clone()),
            lock,
            slots: P::Cell::new(Slots::default()),
        }
    }

    pub fn put(&self, item: u32) {
        self.put_then(item, || ());
    }

    /// Puts `item`, then runs `then` under the lock, before any getter is told about the item.
    pub fn put_then(&self, item: u32, then: impl FnOnce()) {
        let _held = self.lock.lock();
        // SAFETY (every access to `slots`): under the lock.
        while unsafe { self.slots.with(Slots::is_full) } {
            self.not_full.wait().expect("lock held");
        }
        unsafe { self.slots.with_mut(|s| s.push(item)) };
        then();
        self.not_empty.notify(1).expect("lock held");
    }

    /// Waits until there is an item; the caller holds the lock.
    pub fn wait_for_an_item(&self) {
        // SAFETY: the caller holds the lock.
        while unsafe { self.slots.with(Slots::is_empty) } {
            self.not_empty.wait().expect("lock held");
        }
    }

    pub fn get(&self) -> u32 {
        let _held = self.lock.lock();
        self.wait_for_an_item();
        // SAFETY: under the lock.
        let item = unsafe { self.slots.with_mut(Slots::pop) };
        self.not_full.notify(1).expect("lock held");
        item
    }
}

/// The plain state of a [`SlotQueue`]: `CAP` slots used as a ring, the slot of the oldest item,
/// and how many items there are. Not synchronized: the queue keeps it in a platform cell and
/// touches it only under its lock.
pub struct Slots<const CAP: usize> {
    items: [u32; CAP],
    head: usize,
    count: usize,
}

// SAFETY: integers only, inline: no pointers, no handles.
unsafe impl<const CAP: usize> Shareable for Slots<CAP> {}

impl<const CAP: usize> Default for Slots<CAP> {
    /// No items; every slot holds 0, which no scenario puts.
    fn default() -> Self {
        Slots {
            items: [0; CAP],
            head: 0,
            count: 0,
        }
    }
}

impl<const CAP: usize> Slots<CAP> {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.count == CAP
    }

    /// Appends `item`; the caller has checked there is room.
    pub fn push(&mut self, item: u32) {
        assert!(!self.is_full(), "push on a full ring");
        self.items[(self.head + self.count) % CAP] = item;
        self.count += 1;
    }

    /// What the head slot holds: the oldest item, if there is one; else whatever it held last.
    pub fn front(&self) -> u32 {
        self.items[self.head]
    }

    /// Drops the oldest item; the caller has checked there is one.
    pub fn advance(&mut self) {
        assert!(!self.is_empty(), "advance on an empty ring");
        self.head = (self.head + 1) % CAP;
        self.count -= 1;
    }

    /// Removes and returns the oldest item; the caller has checked there is one.
    pub fn pop(&mut self) -> u32 {
        let item = self.front();
        self.advance();
        item
    }
}
