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
