//! [`Error`]: the one error type of every mpcheck operation.

/// Everything that can go wrong in an mpcheck operation, with a clear message for each case.
///
/// Python's `multiprocessing` raises exceptions for these; the Python exception is named in each
/// variant's docs. New variants are added as new primitives land, hence `#[non_exhaustive]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `release()` with nothing to release: an unlocked `Lock`, or a `BoundedSemaphore` already
    /// at its initial value (Python: `ValueError`).
    #[error("{primitive} released too many times")]
    ReleasedTooManyTimes {
        /// The kind of primitive, e.g. `"Lock"`.
        primitive: &'static str,
    },

    /// An operation that needs the lock to be held by the calling task was called by a task that
    /// does not hold it: `RLock::release`, `Condition::wait`/`notify` (Python: `RuntimeError` /
    /// `AssertionError`).
    #[error("{operation} called by a task that does not hold the lock")]
    NotOwner {
        /// The operation, e.g. `"RLock::release"`.
        operation: &'static str,
    },

    /// A counter would pass its largest value (a `Semaphore` released `u32::MAX` times, an
    /// `RLock` acquired recursively `u32::MAX` times) (Python: `OverflowError`).
    #[error("{what} would overflow")]
    Overflow {
        /// What would overflow, e.g. `"Semaphore value"`.
        what: &'static str,
    },

    /// A `Barrier` was broken by a timeout, `abort()` or `reset()`, or its action panicked, while
    /// this task waited or before it arrived (Python: `BrokenBarrierError`).
    #[error("the barrier is broken (a wait timed out, or it was aborted or reset)")]
    BrokenBarrier,

    /// An argument no operation can accept, e.g. a `Barrier` for 0 parties (Python: `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An index past the end of an `Array` (Python: `IndexError`).
    #[error("index {index} is out of range for an array of length {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The array's length.
        len: usize,
    },

    /// An operation that needs the lock of a `Value` or `Array` on one made without it
    /// (`Value::raw`, `Array::raw`) (Python: `AttributeError`, a raw value has no `get_lock`).
    #[error("{operation} needs a lock, and this {what} was made without one (raw)")]
    NoLock {
        /// The operation, e.g. `"Value::update"`.
        operation: &'static str,
        /// `"Value"` or `"Array"`.
        what: &'static str,
    },

    /// A task panicked; the payload's message is kept.
    #[error("the task panicked: {message}")]
    Panicked {
        /// The panic message (`<non-string panic payload>` if it was not a string).
        message: String,
    },
}

impl Error {
    /// The message of a panic payload, for [`Error::Panicked`].
    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "<non-string panic payload>".to_owned()
        };
        Error::Panicked { message }
    }
}
