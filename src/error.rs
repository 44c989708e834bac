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

    /// A put on a full queue that would not wait (`try_put`), or whose timeout ran out
    /// (`put_timeout`) (Python: `queue.Full`). The item is handed back, still encoded:
    /// [`Unsent::decode`] returns it, so a refused put never loses data.
    #[error("the queue is full (the item, {} bytes encoded, is handed back)", item.len())]
    Full {
        /// The item that was not put.
        item: Unsent,
    },

    /// A get on an empty queue that would not wait (`try_get`), or whose timeout ran out
    /// (`get_timeout`) (Python: `queue.Empty`).
    #[error("the queue is empty")]
    Empty,

    /// The queue or connection was closed; every later operation on it, and every one that was
    /// waiting, fails with this (Python: `ValueError` / `OSError`).
    #[error("{what} is closed")]
    Closed {
        /// `"queue"` or `"connection"`.
        what: &'static str,
    },

    /// A `recv` with no message left and every writing end closed (or its process gone)
    /// (Python: `EOFError`).
    #[error("end of file: every writing end of the pipe is closed")]
    Eof,

    /// A `send` whose peer end is closed (Python: `BrokenPipeError`).
    #[error("broken pipe: the receiving end is closed")]
    BrokenPipe,

    /// A `send` on the receiving end of a one-way pipe (Python: `OSError`, "connection is
    /// read-only").
    #[error("this connection is read-only (the receiving end of a one-way pipe)")]
    ReadOnly,

    /// A `recv` or `poll` on the sending end of a one-way pipe (Python: `OSError`, "connection
    /// is write-only").
    #[error("this connection is write-only (the sending end of a one-way pipe)")]
    WriteOnly,

    /// An item or message larger than the queue or pipe can ever carry; refused at once, never
    /// a hang (Python: a queue hangs or its feeder thread fails silently).
    #[error(
        "{what} of {len} bytes is larger than the {max} bytes this {} can carry",
        if *.what == "message" { "pipe" } else { "queue" }
    )]
    TooLarge {
        /// `"item"` or `"message"`.
        what: &'static str,
        /// Its encoded size in bytes.
        len: usize,
        /// The largest size accepted.
        max: usize,
    },

    /// An item could not be encoded (serde/postcard); nothing was sent (Python: `PicklingError`,
    /// raised later in a feeder thread, where it is lost). When the item's own `Serialize`
    /// failed with `serde::ser::Error::custom`, the message is that error's.
    #[error("could not encode the item: {0}")]
    Encode(String),

    /// Received bytes do not decode as the expected type (Python: `UnpicklingError`).
    #[error("could not decode the received bytes: {0}")]
    Decode(String),

    /// A message cut off: the peer closed or died in the middle of sending it. The partial
    /// message is discarded, never returned.
    #[error("a message was cut off after {got} of its {expected} bytes (the sender closed or died mid-message)")]
    Truncated {
        /// Bytes that arrived.
        got: usize,
        /// Bytes the message's header announced.
        expected: usize,
    },

    /// `JoinableQueue::task_done` called more times than items were put (Python: `ValueError`).
    #[error("task_done() called more times than there were items put")]
    TaskDoneTooManyTimes,

    /// An operating-system call failed in a way no other variant describes.
    #[error("I/O error in {operation}: {message}")]
    Io {
        /// The call, e.g. `"socketpair"`.
        operation: &'static str,
        /// The system's message.
        message: String,
    },

    /// The lock's holder was a process that died holding it (killed, or ended without
    /// releasing it). The lock has been taken over: the caller holds it now, and what it
    /// guarded may be half updated; check it, then release as usual (Python hangs forever
    /// here; POSIX calls it `EOWNERDEAD`). From a `Semaphore`'s `acquire`: the caller gave back
    /// the units a dead process held through guards, and has its own unit.
    #[error("the lock's holder process died holding it; the caller holds the lock now (what it guarded may be half updated)")]
    OwnerDied,

    /// A queue item or pipe message was lost: the process putting (sending) it was killed
    /// inside `put` (`send`), after the item had its place in the queue (the message had begun
    /// in the pipe) and before it was whole. The get (receive) that reached its place returns
    /// this, once (exactly one getter does); the queue (connection) goes on, and the next get
    /// returns the next item. Items put by live processes are never lost (Python: the queue's
    /// readers hang, or read a torn pickle; a pipe's reader reads the next sender's bytes as
    /// the rest of the message).
    #[error("an item was lost: the process putting or sending it died inside put or send; the next get or receive returns the next one")]
    ItemLost,

    /// `Process::start` on a process that was already started (Python: `AssertionError`,
    /// "cannot start a process twice").
    #[error("the process was already started (a process can be started once)")]
    AlreadyStarted,

    /// `Process::join` (or another operation that needs a started process) before `start`
    /// (Python: `AssertionError`, "can only join a started process").
    #[error("the process was not started")]
    NotStarted,

    /// `Process::join` or `join_timeout` called in a process other than the one that started
    /// the process (a forked child holding its parent's handle): only the parent can wait for
    /// a process and learn its exit code (Python: `AssertionError`, "can only join a child
    /// process"). `is_alive`, `terminate` and `kill` work from any process.
    #[error("only the process that started a process can join it")]
    NotParent,

    /// What the engine cannot do, e.g. signal a process that the engine runs as a thread.
    #[error("not supported: {0}")]
    Unsupported(String),

    /// A task panicked; the payload's message is kept.
    #[error("the task panicked: {message}")]
    Panicked {
        /// The panic message (`<non-string panic payload>` if it was not a string).
        message: String,
    },
}

impl Error {
    /// An [`Error::InvalidArgument`] whose message starts with what it is about (`"an array of
    /// 5 elements"`); any other error as it is.
    pub(crate) fn within(self, what: impl std::fmt::Display) -> Error {
        match self {
            Error::InvalidArgument(message) => Error::InvalidArgument(format!("{what}: {message}")),
            other => other,
        }
    }

    /// The message of a panic payload (what `catch_unwind` or a thread's `join` returns) as an
    /// [`Error::Panicked`].
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
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

/// An item a queue refused to take ([`Error::Full`]), handed back in its encoded form.
///
/// Queues encode an item inside `put` (so that an encoding error reaches the caller), which is
/// why the refused item comes back as bytes: [`Unsent::decode`] turns them back into the item.
#[derive(Clone, PartialEq, Eq)]
pub struct Unsent(pub(crate) Vec<u8>);

impl Unsent {
    /// The item, decoded as a `T` (the queue's item type).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        crate::codec::decode(&self.0)
    }

    /// The encoded bytes (postcard).
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` for an item that encodes to no bytes (a `()`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unsent({} bytes)", self.0.len())
    }
}
