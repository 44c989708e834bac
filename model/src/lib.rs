//! Sequential specifications of mpcheck's primitives, for checking concurrent histories.
//!
//! Each primitive has a *model*: a small value (its abstract state) with a [`Model::step`]
//! function saying whether an operation may return a given result when it takes effect in that
//! state, and what the state is afterwards. A linearizability checker searches a concurrent
//! history of (call, return) pairs for a sequential order whose steps the model accepts; the
//! models are `Clone + Eq + Hash` so that the checker can memoize (linearized set, state).
//!
//! The models follow mpcheck's API and its documented guarantees (read from the primitives'
//! code), not Python's. They depend on nothing: results mirror `mpcheck::Error` through the
//! small [`ErrorKind`] enum.
//!
//! # Conventions
//!
//! - **Blocking is "not enabled".** An operation that would wait in some state has no outcome
//!   there ([`Model::outcomes`] is empty, [`Model::step`] is `None`): in a history it can only
//!   take effect in a state where it would not block. A call that never returned is simply a
//!   pending operation.
//! - **Timeouts and errors are results.** `try_*` calls and `*_timeout` calls are one operation
//!   with [`Wait::Bounded`]: at the moment it takes effect it either succeeds or gives up (a
//!   timed call gives up at a moment when it would still have had to wait). A timeout is thus
//!   deterministic given the state, except where noted.
//! - **Operations that block in the middle are split** into model operations at their
//!   linearization points, each returning its own result: `Condition::wait` is
//!   [`condition::ConditionOp::WaitBegin`] (release the lock and start waiting) then
//!   [`condition::ConditionOp::WaitEnd`] (notified, or timed out, and the lock taken back);
//!   `Barrier::wait` is [`barrier::BarrierOp::Arrive`] then [`barrier::BarrierOp::Leave`]. Both
//!   halves of one call take effect inside the call's interval, in that order, by the same
//!   [`Caller`].
//! - **The caller's identity** is part of an operation only where the primitive's behaviour
//!   depends on it ([`Caller`]: RLock and Condition ownership, the halves of a split wait).
//! - **Process death is left out**: no model has an `OwnerDied` result, an `ItemLost` or a
//!   `Truncated` message. A history with kills needs more than these models.
//! - **Serializable** with the `serde` feature (off by default: the crate depends on nothing
//!   without it): operations and results can be sent between processes, to check histories
//!   recorded across them. `ValueOp::Update` carries a function and cannot be sent (record
//!   `ValueOp::UpdateTo` instead).
//! - **Nondeterminism** where the real primitive is nondeterministic: [`Model::outcomes`] lists
//!   every allowed result. Each result appears once in that list, so the state after a given
//!   result is determined (the default [`Model::step`] relies on it).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod barrier;
pub mod condition;
pub mod event;
pub mod lock;
pub mod pipe;
pub mod queue;
pub mod semaphore;
pub mod shared;

pub use barrier::BarrierModel;
pub use condition::ConditionModel;
pub use event::EventModel;
pub use lock::{LockModel, RLockModel};
pub use pipe::PipeModel;
pub use queue::QueueModel;
pub use semaphore::SemaphoreModel;
pub use shared::{ArrayModel, ValueModel};

/// A sequential specification: a state, the operations on it and their results.
pub trait Model: Clone + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static {
    /// An operation with its arguments (and, where the primitive's behaviour depends on it, the
    /// caller's identity, a [`Caller`]).
    type Op: Clone + std::fmt::Debug + Send + Sync + 'static;
    /// What the operation returned (errors and timeouts are results).
    type Ret: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static;

    /// If `op` may return `ret` when it takes effect in this state: the state after it. `None`:
    /// not allowed here (including "not enabled": a blocking operation that would still be
    /// blocked in this state).
    ///
    /// The default looks `ret` up in [`Model::outcomes`].
    fn step(&self, op: &Self::Op, ret: &Self::Ret) -> Option<Self> {
        self.outcomes(op)
            .into_iter()
            .find(|(r, _)| r == ret)
            .map(|(_, state)| state)
    }

    /// The results `op` may return in this state, each with the state after it (empty: not
    /// enabled). Each result appears at most once. Used by tests and generators; `step` must
    /// agree with it.
    fn outcomes(&self, op: &Self::Op) -> Vec<(Self::Ret, Self)>;
}

/// Who calls an operation: a task, as mpcheck identifies one (process and thread).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Caller {
    /// The process (any numbering the history uses consistently).
    pub process: u32,
    /// The thread within that process.
    pub thread: u32,
}

impl Caller {
    /// The caller `thread` of `process`.
    pub const fn new(process: u32, thread: u32) -> Self {
        Caller { process, thread }
    }
}

/// How long a possibly-blocking operation may wait.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Wait {
    /// As long as it takes (`acquire`, `get`, `put`, `wait`, `poll(None)`): not enabled where
    /// it would block.
    Forever,
    /// Not at all or up to a timeout (`try_*`, `*_timeout`, `poll(Some(_))`): where it would
    /// block, it gives up (its "timed out" result).
    Bounded,
}

/// The error results of the models, mirroring the `mpcheck::Error` variants they stand for.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ErrorKind {
    /// `Error::ReleasedTooManyTimes`: an unlocked `Lock`, a `BoundedSemaphore` at its bound.
    ReleasedTooManyTimes,
    /// `Error::NotOwner`: `RLock::release`, `Condition::wait`/`notify` without the lock.
    NotOwner,
    /// `Error::Overflow`: a `Semaphore` released at its largest value.
    Overflow,
    /// `Error::BrokenBarrier`.
    BrokenBarrier,
    /// `Error::InvalidArgument`: a `Barrier` for 0 parties.
    InvalidArgument,
    /// `Error::IndexOutOfRange`.
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// `Error::NoLock`: `Value::update` on a raw value.
    NoLock,
    /// `Error::Full` (the real error hands the item back; the model's is the put's own item).
    Full,
    /// `Error::Empty`.
    Empty,
    /// `Error::Closed` (a queue or a connection).
    Closed,
    /// `Error::Eof`.
    Eof,
    /// `Error::BrokenPipe`.
    BrokenPipe,
    /// `Error::ReadOnly`.
    ReadOnly,
    /// `Error::WriteOnly`.
    WriteOnly,
    /// `Error::TaskDoneTooManyTimes`.
    TaskDoneTooManyTimes,
}

/// Runs `steps` from `init` through [`Model::step`]: the final state, or the index of the first
/// step the model does not accept.
pub fn run<M: Model>(init: &M, steps: &[(M::Op, M::Ret)]) -> Result<M, usize> {
    let mut state = init.clone();
    for (i, (op, ret)) in steps.iter().enumerate() {
        state = state.step(op, ret).ok_or(i)?;
    }
    Ok(state)
}

/// Whether [`Model::step`] agrees with [`Model::outcomes`] for `op` in `state`: each result
/// listed once and accepted by `step` with the same state after it, and each of `others`
/// (results to try) that is not listed refused by `step`.
pub fn agrees<M: Model>(state: &M, op: &M::Op, others: &[M::Ret]) -> bool {
    let outcomes = state.outcomes(op);
    let listed_once = outcomes
        .iter()
        .enumerate()
        .all(|(i, (r, _))| outcomes[..i].iter().all(|(earlier, _)| earlier != r));
    let accepted = outcomes
        .iter()
        .all(|(r, after)| state.step(op, r).as_ref() == Some(after));
    let refused = others
        .iter()
        .filter(|r| outcomes.iter().all(|(listed, _)| listed != *r))
        .all(|r| state.step(op, r).is_none());
    listed_once && accepted && refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_the_first_refused_step() {
        use lock::{LockOp, LockRet};
        let steps = [
            (LockOp::Acquire(Wait::Forever), LockRet::Acquired),
            (LockOp::Acquire(Wait::Bounded), LockRet::Acquired),
        ];
        assert_eq!(run(&LockModel::new(), &steps), Err(1));
        assert_eq!(run(&LockModel::new(), &steps[..1]), Ok(LockModel::locked()));
    }
}
