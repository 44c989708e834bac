//! Properties of mpcheck's primitives, checked against the sequential specifications of
//! [`mpcheck_model`].
//!
//! For now this crate holds the [`History`] of one object's operations (who called what, when,
//! and what it returned) and a [linearizability] checker for it: [`check`] searches for a
//! sequential order of the history's operations, consistent with their real-time order, that
//! the object's [`Model`](mpcheck_model::Model) accepts; [`check_partitioned`] checks an object
//! made of independent parts one part at a time. A [`Recorder`] records a history from a run of
//! the real primitives on any engine (tests/recorded.rs: Lock and Semaphore histories under the
//! simulator and on real threads, and a mutant lock the check catches).
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod history;
pub mod lincheck;
pub mod linearizability;
pub mod primitives;
pub mod record;
// The suite's scenarios keep data in platform cells (`SharedCell`), whose accesses are
// `unsafe`; each has its SAFETY comment.
#[allow(unsafe_code)]
pub mod suite;

pub use history::{History, OpId, Operation, TaskId};
pub use lincheck::{
    workloads, Checked, Engine, Found, Lincheck, LoomEngine, OsThreads, ShuttleEngine, SimEngine,
    Subject, Workload,
};
pub use linearizability::{check, check_partitioned, Counterexample, Verdict};
pub use record::Recorder;
