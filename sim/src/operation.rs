//! Operations: the public calls of a primitive built on the simulator (`Lock::acquire`,
//! `Queue::put`), so that traces and deadlock reports name the line of the user's code that
//! called the primitive, as well as the line inside the primitive that took each step.
//!
//! A primitive opens an operation at the start of each public method ([`operation`]) and keeps
//! the returned guard until it returns. An operation is not a scheduling point and takes no
//! step: it only labels the steps its task takes while it is open ([`Step::caller`]). Only the
//! outermost operation of a task counts: when a `Condition` calls its `Lock`, or a queue its
//! helpers, the steps belong to the operation the user called.
//!
//! [`Step::caller`]: crate::Step::caller

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;

use crate::rt;

/// The primitive operation a step was taken in, as the user called it: `Lock#2.acquire` at
/// `tests/tickets.rs:14:9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The primitive's name ("Lock", "Queue").
    pub primitive: &'static str,
    /// The object that stands for the primitive in this execution (its main word; 0: none), as
    /// in [`Step::obj`](crate::Step::obj): the number traces show (the one [`operation`] was
    /// given, once the operation is open).
    pub object: u32,
    /// The operation ("acquire", "put").
    pub operation: &'static str,
    /// Where the user's code called it.
    pub loc: &'static Location<'static>,
}

/// `Lock#2.acquire` (or `Array.get` for a primitive without an object).
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.object == 0 {
            write!(f, "{}.{}", self.primitive, self.operation)
        } else {
            write!(f, "{}#{}.{}", self.primitive, self.object, self.operation)
        }
    }
}

/// An open operation (from [`operation`]); it ends when this guard is dropped. Not `Send`: an
/// operation belongs to the task that opened it.
#[must_use = "the operation ends as soon as the guard is dropped"]
#[derive(Debug)]
pub struct Operation {
    /// This guard opened its task's outermost operation (and closes it).
    outermost: bool,
    _task_bound: PhantomData<*const ()>,
}

/// Opens operation `name` of `primitive` (`"Lock"`, `"acquire"`) on `object` (the number of
/// the primitive's main word, from `AtomicU32::object_number` and its siblings; 0 for none),
/// called by the user's code at `at`. Until the guard is dropped, every step the running task
/// takes carries it as [`Step::caller`](crate::Step::caller), unless an operation of that task
/// is open already (the outermost one is kept).
///
/// Not a scheduling point: schedules, footprints and steps are what they would be without it.
/// Outside an execution it does nothing.
pub fn operation(
    object: u32,
    primitive: &'static str,
    name: &'static str,
    at: &'static Location<'static>,
) -> Operation {
    let caller = Caller {
        primitive,
        object,
        operation: name,
        loc: at,
    };
    Operation {
        outermost: rt::enter_operation(caller),
        _task_bound: PhantomData,
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if self.outermost {
            rt::leave_operation();
        }
    }
}
