//! Our deterministic simulator: run a scenario on the [`Sim`] platform under controlled
//! interleavings.
//!
//! ```
//! use mpcheck::sim::{self, Config, Sim};
//! use mpcheck::Lock;
//!
//! let report = sim::check(Config::dfs(), || {
//!     let lock = Lock::<Sim>::new();
//!     let l = lock.clone();
//!     let t = mpcheck::thread::spawn::<Sim, _, _>(move || drop(l.lock()));
//!     drop(lock.lock());
//!     t.join().unwrap();
//! });
//! assert!(report.complete());
//! ```
//!
//! See `docs/sim.md` for strategies, traces and replay.

pub use crate::platform::Sim;
pub use mpcheck_sim::{
    check, escape_markup, explore, explore_observed, inspect, replay, strategy, Blocked, Caller,
    Choice, Config, Failure, FailureKind, Granularity, Observed, Outcome, Recorded, Replayed,
    Report, Seen, Site, Step, Timeouts,
};
