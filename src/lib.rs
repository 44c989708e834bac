//! # mpcheck
//!
//! The synchronization primitives of Python's `multiprocessing` — Lock, RLock, Semaphore,
//! BoundedSemaphore, Event, Condition, Barrier, and (as they land) queues, pipes, shared values,
//! processes and pools — for Rust, written **once** against an abstract scheduler, the
//! [`Platform`] trait, so that the same code runs on the real operating system ([`Os`]) and under
//! interleaving exploration engines that check it.
//!
//! ```
//! use mpcheck::{Lock, Os};
//!
//! // Ticket booking: four sellers, one lock.
//! let lock = Lock::<Os>::new();
//! let sellers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let lock = lock.clone();
//!         mpcheck::thread::spawn::<Os, _, _>(move || {
//!             let _held = lock.lock();
//!             // ... sell one ticket ...
//!         })
//!     })
//!     .collect();
//! for seller in sellers {
//!     seller.join().unwrap();
//! }
//! ```
//!
//! See `docs/ARCHITECTURE.md` for the layers and where each thing lives.

#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

mod codec;
mod error;
pub mod facade;
#[cfg(feature = "loom")]
pub mod loom;
pub mod pipe;
pub mod platform;
pub mod process;
pub mod queue;
pub mod shared;
#[cfg(feature = "shuttle")]
pub mod shuttle;
pub mod sim;
pub mod sync;
pub mod thread;

pub use error::{Error, Unsent};

/// Runs a spawned process's target when called in one (see [`StartMethod::Spawn`]); does nothing
/// elsewhere. Optional: the library runs it by itself before `main` in every image of a program
/// that links it. A program may call it first thing in `main` to say where a spawned child
/// starts.
pub fn init() {
    platform::os_spawn_init()
}
pub use pipe::{pipe, Connection};
pub use platform::{Os, Platform, Sim};
pub use process::{
    active_children, cpu_count, current_process, parent_process, Process, ProcessInfo, StartMethod,
};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use shared::{Array, Value};
pub use sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
