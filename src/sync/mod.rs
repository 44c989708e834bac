//! Locks and friends: [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Event`],
//! [`Condition`], [`Barrier`].
//!
//! Each is written once against [`Platform`](crate::Platform): the same code runs on real threads
//! ([`Os`](crate::Os)) and under every exploration engine. Each is a cheap `Clone` handle; clones
//! refer to the same object. Semantics are CPython 3.11's `multiprocessing`, with the
//! improvements each type's docs name.

mod barrier;
mod condition;
mod event;
mod lock;
pub(crate) mod raw;
mod rlock;
mod semaphore;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard, ConditionLock};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, BoundedSemaphoreGuard, Semaphore, SemaphoreGuard};

/// The slots of a table of `len` (at most 32) that `mask` marks in use (bit `i` for slot `i`),
/// in order: a `Barrier`'s members, a `BoundedSemaphore`'s holders. A look over a table reads
/// only these (every other slot is known empty), so that it touches no more words than it
/// needs, which is also what an explorer's footprint of the look can list.
fn slots_in_use(mask: u32, len: usize) -> impl Iterator<Item = usize> {
    let mut left = mask & u32::MAX.checked_shr(32 - len as u32).unwrap_or(0);
    std::iter::from_fn(move || {
        (left != 0).then(|| {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            i
        })
    })
}

#[cfg(test)]
mod tests {
    use super::slots_in_use;

    #[test]
    fn slots_in_use_lists_the_marked_slots_of_the_table_only() {
        let list = |mask, len| slots_in_use(mask, len).collect::<Vec<_>>();
        assert_eq!(list(0b1010_0101, 16), [0, 2, 5, 7]);
        assert_eq!(list(0, 16), Vec::<usize>::new());
        // Bits past the table's end name no slot.
        assert_eq!(list(1 << 16 | 1 << 15 | 1, 16), [0, 15]);
        assert_eq!(list(u32::MAX, 32).len(), 32);
        assert_eq!(list(u32::MAX, 0), Vec::<usize>::new());
    }
}
