//! What code under test uses: atomics, a cell, futex wait/wake, tasks, the virtual clock and
//! data choices. Every operation is a scheduling point of the current execution; outside an
//! execution they act directly, as plain single-threaded operations.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::Ordering::{self, Relaxed};
use std::time::Duration;

use crate::rt::{self, ObjCell, Op, WaitOutcome};

macro_rules! atomic {
    ($name:ident, $std:ty, $v:ty, $to:expr, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Sequentially consistent whatever the `Ordering` argument: every operation is one
        /// atomic step of the simulation.
        #[derive(Default)]
        pub struct $name {
            value: $std,
            obj: ObjCell,
        }

        impl $name {
            /// A new atomic holding `value`. Made within an execution, it is numbered here
            /// (see [`const_new`](Self::const_new)).
            #[inline]
            pub fn new(value: $v) -> Self {
                $name {
                    value: <$std>::new(value),
                    obj: ObjCell::new(),
                }
            }

            /// As [`new`](Self::new), in a constant (a `static`): the atomic is numbered at
            /// its first use in each execution, not where it is made. The search tells less
            /// well which events of two schedules touch it (a number handed out after the
            /// schedules part may stand for different objects in each), so it may run more
            /// executions.
            pub const fn const_new(value: $v) -> Self {
                $name {
                    value: <$std>::new(value),
                    obj: ObjCell::unnumbered(),
                }
            }

            /// Names the object in traces and deadlock reports.
            pub fn label(&self, name: &'static str) {
                self.obj.label(name)
            }

            /// The object's number in the current execution: assigned now if it has none
            /// yet; 0 outside an execution. Not a step. For [`operation`](crate::operation()),
            /// whose [`Caller::object`](crate::Caller::object) is the number traces show
            /// (`Lock#2`: the object's place in the order of first use).
            pub fn object_number(&self) -> u32 {
                self.obj.number()
            }

            /// Atomic load.
            #[track_caller]
            pub fn load(&self, _order: Ordering) -> $v {
                let to = $to;
                rt::step(Op::Load, &self.obj, Location::caller(), || {
                    let v = self.value.load(Relaxed);
                    (Some(to(v)), None, v)
                })
            }

            /// Atomic store.
            #[track_caller]
            pub fn store(&self, value: $v, _order: Ordering) {
                let to = $to;
                rt::step(Op::Store, &self.obj, Location::caller(), || {
                    // The value replaced is for the reduction's log of writes only.
                    let old = self.value.swap(value, Relaxed);
                    (Some(to(old)), Some(to(value)), ())
                })
            }

            /// Atomic swap; returns the previous value.
            #[track_caller]
            pub fn swap(&self, value: $v, _order: Ordering) -> $v {
                let to = $to;
                rt::step(Op::Swap, &self.obj, Location::caller(), || {
                    let old = self.value.swap(value, Relaxed);
                    (Some(to(old)), Some(to(value)), old)
                })
            }

            /// Atomic compare-and-exchange.
            #[track_caller]
            pub fn compare_exchange(
                &self,
                current: $v,
                new: $v,
                _success: Ordering,
                _failure: Ordering,
            ) -> Result<$v, $v> {
                let to = $to;
                rt::step(
                    Op::CompareExchange,
                    &self.obj,
                    Location::caller(),
                    || match self.value.compare_exchange(current, new, Relaxed, Relaxed) {
                        Ok(old) => (Some(to(old)), Some(to(new)), Ok(old)),
                        Err(actual) => (Some(to(actual)), None, Err(actual)),
                    },
                )
            }

            /// As `compare_exchange` (never fails spuriously in the simulation).
            #[track_caller]
            pub fn compare_exchange_weak(
                &self,
                current: $v,
                new: $v,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$v, $v> {
                self.compare_exchange(current, new, success, failure)
            }

            /// The value, read without a scheduling point or an access: for debugging output,
            /// and for reads whose answer no other task's step can change (mpcheck's
            /// `Platform::holds_own_id`).
            pub fn peek(&self) -> $v {
                self.value.load(Relaxed)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.peek(), f)
            }
        }
    };
}

macro_rules! atomic_int {
    ($name:ident, $v:ty) => {
        impl $name {
            /// Wrapping add; returns the previous value.
            #[track_caller]
            pub fn fetch_add(&self, value: $v, _order: Ordering) -> $v {
                rt::rmw_step(
                    Op::FetchAdd,
                    &self.obj,
                    value == 0,
                    Location::caller(),
                    || {
                        let old = self.value.fetch_add(value, Relaxed);
                        (Some(old as u64), Some(old.wrapping_add(value) as u64), old)
                    },
                )
            }

            /// Wrapping subtract; returns the previous value.
            #[track_caller]
            pub fn fetch_sub(&self, value: $v, _order: Ordering) -> $v {
                rt::rmw_step(
                    Op::FetchSub,
                    &self.obj,
                    value == 0,
                    Location::caller(),
                    || {
                        let old = self.value.fetch_sub(value, Relaxed);
                        (Some(old as u64), Some(old.wrapping_sub(value) as u64), old)
                    },
                )
            }

            /// Bitwise or; returns the previous value.
            #[track_caller]
            pub fn fetch_or(&self, value: $v, _order: Ordering) -> $v {
                rt::rmw_step(
                    Op::FetchOr,
                    &self.obj,
                    value == 0,
                    Location::caller(),
                    || {
                        let old = self.value.fetch_or(value, Relaxed);
                        (Some(old as u64), Some((old | value) as u64), old)
                    },
                )
            }

            /// Bitwise and; returns the previous value.
            #[track_caller]
            pub fn fetch_and(&self, value: $v, _order: Ordering) -> $v {
                rt::rmw_step(
                    Op::FetchAnd,
                    &self.obj,
                    value == !0,
                    Location::caller(),
                    || {
                        let old = self.value.fetch_and(value, Relaxed);
                        (Some(old as u64), Some((old & value) as u64), old)
                    },
                )
            }
        }
    };
}

atomic!(
    AtomicU32,
    std::sync::atomic::AtomicU32,
    u32,
    |v: u32| v as u64,
    "A simulated `AtomicU32`; also the word of [`futex_wait`] and [`futex_wake`]."
);
atomic!(
    AtomicU64,
    std::sync::atomic::AtomicU64,
    u64,
    |v: u64| v,
    "A simulated `AtomicU64`."
);
atomic!(
    AtomicBool,
    std::sync::atomic::AtomicBool,
    bool,
    |v: bool| v as u64,
    "A simulated `AtomicBool`."
);
atomic_int!(AtomicU32, u32);
atomic_int!(AtomicU64, u64);

/// A cell for non-atomic shared data; every access is a scheduling point, recorded in the trace.
#[derive(Default)]
pub struct Cell<T> {
    value: UnsafeCell<T>,
    obj: ObjCell,
}

// SAFETY: the simulation runs every task on one OS thread, one step at a time, and the access
// methods are `unsafe` with the same contract as `UnsafeCell`: sharing only needs `T: Send`.
unsafe impl<T: Send> Sync for Cell<T> {}

impl<T> Cell<T> {
    /// A new cell (numbered here if made within an execution, as an atomic's `new`).
    #[inline]
    pub fn new(value: T) -> Self {
        Cell {
            value: UnsafeCell::new(value),
            obj: ObjCell::new(),
        }
    }

    /// Reads through a shared reference.
    ///
    /// # Safety
    /// No `with_mut` of this cell may be running (the caller holds the lock that guards it).
    #[track_caller]
    pub unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        rt::step(Op::CellRead, &self.obj, Location::caller(), || {
            // SAFETY: the caller rules out a concurrent `with_mut`.
            (None, None, rt::in_cell(|| f(unsafe { &*self.value.get() })))
        })
    }

    /// Reads or writes through an exclusive reference.
    ///
    /// # Safety
    /// No other access of this cell may be running.
    #[track_caller]
    pub unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        rt::step(Op::CellWrite, &self.obj, Location::caller(), || {
            // SAFETY: the caller rules out any concurrent access.
            (
                None,
                None,
                rt::in_cell(|| f(unsafe { &mut *self.value.get() })),
            )
        })
    }
}

impl<T> fmt::Debug for Cell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cell")
    }
}

/// Futex wait on `word`: if it holds `expected`, sleeps until a [`futex_wake`], a spurious
/// wake-up (when the configuration allows them), or `deadline` (virtual nanoseconds). No
/// death wakes it, as on a real OS: a task that waits for what a killed process was to do
/// sleeps for ever (see [`futex_wait_watching_deaths`] for a task that looks at the liveness
/// of the process it waits for).
#[track_caller]
pub fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitOutcome {
    rt::futex_wait(
        &word.obj,
        || word.value.load(Relaxed),
        expected,
        deadline,
        false,
        Location::caller(),
    )
}

/// As [`futex_wait`], for a task that waits for another process and looks at its liveness
/// ([`process_alive`]) before it sleeps (a lock's waiter looks at the holder's): a kill
/// ([`Config::kills`](crate::Config::kills)) wakes it, spuriously, and its next such wait
/// after a kill it slept through returns at once (it may have looked before the kill, and
/// would sleep for the dead), so that it looks again. This is what a real waiter's liveness
/// poll does, without the poll's interval: on a real OS such a waiter sleeps at most a poll
/// interval between two looks.
#[track_caller]
pub fn futex_wait_watching_deaths(
    word: &AtomicU32,
    expected: u32,
    deadline: Option<u64>,
) -> WaitOutcome {
    rt::futex_wait(
        &word.obj,
        || word.value.load(Relaxed),
        expected,
        deadline,
        true,
        Location::caller(),
    )
}

/// Says that the operation the caller is in (see [`operation`](crate::operation())) cannot go
/// on until `ready(value, start)` holds for `word`'s value and its value when the wait began
/// (`start`), or `deadline` (virtual nanoseconds) passes: the specification of a blocking
/// operation (`Lock::acquire` is ready when the lock is free; `Event::wait` when the flag is
/// set or was set since `start`). Returns `start` if it was a scheduling point (`None` if not):
/// the word may have changed since the caller last read it, and an operation whose
/// specification looks at `start` must judge by it (a flag set and cleared again while the
/// task waited passed an `Event::wait`'s guard). Call it once per operation: a guard whose deadline
/// passed passes, so a loop around it would not end.
///
/// At [`Granularity::Operation`](crate::Granularity::Operation) the task is then not scheduled
/// until it can go on, and its next step, a read of `word`, begins the operation's event: a
/// blocking operation is one step, taken when it can complete, instead of an attempt that
/// sleeps and one that completes once woken. Partial-order reduction treats the write that
/// made `ready` fail as racing with the operation (its reversal lets the operation go first).
/// Called first in an operation, it is that operation's scheduling point; later in one, it
/// ends the operation's event only if `ready` fails.
///
/// A hint, never a promise: it may return before `ready` passes (at
/// [`Granularity::Step`](crate::Granularity::Step), outside an operation, and after a timeout
/// it returns at once, and where kills are configured ([`Config::kills`](crate::Config::kills))
/// the guard passes once a process that changed the word was killed),
/// and the operation must check and wait as its algorithm does anyway. Outside an execution it
/// does nothing.
#[track_caller]
pub fn ready_when(
    word: &AtomicU32,
    ready: fn(u32, u32) -> bool,
    deadline: Option<u64>,
) -> Option<u32> {
    guard(word, ready, deadline, 0, None)
}

/// The guard of [`ready_when`] and its variants: `watch` (process bits) and `holder` as
/// `rt::ready_when` takes them.
#[track_caller]
fn guard(
    word: &AtomicU32,
    ready: fn(u32, u32) -> bool,
    deadline: Option<u64>,
    watch: u64,
    holder: Option<fn(u32) -> u32>,
) -> Option<u32> {
    rt::ready_when(
        &word.obj,
        &word.value,
        ready,
        deadline,
        watch,
        holder,
        Location::caller(),
    )
}

/// As [`ready_when`], for a word that names the one process holding what the operation waits
/// for (a lock's word holds its holder's token): `holder(value)` is that process's number
/// (0: none). Where kills are configured, the guard then passes once *that* process was
/// killed, not once any process that changed the word was (a past holder's death leaves the
/// waiter waiting: its algorithm would find the lock held by a living process and wait
/// again), and the wait reads only the holder's liveness.
#[track_caller]
pub fn ready_when_held(
    word: &AtomicU32,
    ready: fn(u32, u32) -> bool,
    deadline: Option<u64>,
    holder: fn(u32) -> u32,
) -> Option<u32> {
    guard(word, ready, deadline, 0, Some(holder))
}

/// As [`ready_when`], for a word that simulated process `process` writes as it ends (a
/// process's exit word, which a join waits on): the guard also passes once that process was
/// killed, since a killed process never writes it. (A guard is off anyway once a process that
/// changed the word was killed; this one names a process that may never have written it.)
#[track_caller]
pub fn ready_when_or_dead(
    word: &AtomicU32,
    ready: fn(u32, u32) -> bool,
    deadline: Option<u64>,
    process: u32,
) -> bool {
    let watch = crate::footprint::process_bit(process);
    guard(word, ready, deadline, watch, None).is_some()
}

/// As [`ready_when`], for a specification that reads several words (a queue's `get`: a frame
/// is published at the head, or the queue is drained): the operation cannot go on until
/// `check` returns `true`, or the virtual clock reaches `deadline`.
///
/// `check` must only read: atomics' loads and read-modify-writes that keep the value
/// (`fetch_add(0)`), and [`process_alive`]; no other step. At
/// [`Granularity::Operation`](crate::Granularity::Operation) it runs without steps, every
/// word it reads read as it is, now and again after every change of a word it read last; the
/// task is not scheduled while it returns `false`, and what it read is part of the event that
/// goes on. A check that reads more than 16 words is no guard. A hint, never a promise, as
/// [`ready_when`] is: it also passes once a process that changed a word it read, or whose
/// liveness it looked at, was killed. Elsewhere it returns at once and `check` does not run.
#[track_caller]
pub fn ready_if(check: &dyn Fn() -> bool, deadline: Option<u64>) {
    rt::ready_if(check, deadline, Location::caller())
}

/// Futex wake: wakes up to `n` tasks waiting on `word`; returns how many.
#[track_caller]
pub fn futex_wake(word: &AtomicU32, n: u32) -> u32 {
    rt::futex_wake(&word.obj, n, Location::caller())
}

/// The virtual clock, in nanoseconds since the start of the execution. A scheduling point.
#[track_caller]
pub fn now() -> u64 {
    rt::now(Location::caller())
}

/// Sleeps for `duration` of virtual time (instantly, in real time). The clock counts
/// nanoseconds in 64 bits (about 584 years): a sleep, or a timed wait, that would end at the
/// clock's end or later never ends, as `sleep(Duration::MAX)` does not on a real machine (the
/// clock does not jump to its end, where no later timeout could fit).
#[track_caller]
pub fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    rt::sleep(nanos, Location::caller())
}

/// A scheduling point with no other effect.
#[track_caller]
pub fn yield_now() {
    rt::plain_step(Op::Yield, Location::caller())
}

/// A nondeterministic choice of a value in `0..n` (`n ≥ 1`; a choice among more than 65,536
/// values fails the execution as [`FailureKind::InvalidInput`](crate::FailureKind)): every
/// strategy treats it like a scheduling choice, so exhaustive search tries every value. 0
/// outside an execution.
#[track_caller]
pub fn choose(n: u32) -> u32 {
    rt::choose(n.max(1), Location::caller())
}

/// The index of the running task (0 for the main task), or `None` outside an execution.
pub fn current_task() -> Option<u32> {
    rt::current_task()
}

/// The simulated process of the running task (1 for the main task and the tasks it spawns;
/// see [`spawn_process`]), or `None` outside an execution.
pub fn current_process() -> Option<u32> {
    rt::current_process()
}

/// Whether simulated process `p` still runs: `false` once it was killed ([`Config::kills`]);
/// `true` for a process that never was (and outside an execution). While kills are
/// configured this is a scheduling point that reads `p`'s liveness (a kill of `p` writes it),
/// except inside a [`Cell`] access, where it is part of the access's step (every cell access
/// is ordered with every kill); without kills it is no step at all.
///
/// [`Config::kills`]: crate::Config::kills
#[track_caller]
pub fn process_alive(p: u32) -> bool {
    rt::process_alive(p, Location::caller())
}

/// How many processes process `parent` has started ([`spawn_process`]) so far in this
/// execution (0 outside one). Not a step.
pub fn processes_started(parent: u32) -> u32 {
    rt::processes_started(parent)
}

/// The `index`-th process (from 0) that process `parent` started, if it started that many.
/// Not a step.
pub fn process_started(parent: u32, index: u32) -> Option<u32> {
    rt::process_started(parent, index)
}

/// How many simulated processes the execution has started so far (1 until a
/// [`spawn_process`]), or 0 outside an execution.
pub fn process_count() -> u32 {
    rt::process_count().unwrap_or(0)
}

/// Starts a new task running `f`, in the process of the running task.
///
/// # Panics
/// Outside an execution: tasks exist only inside [`explore`](crate::explore).
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    spawn_in(f, false)
}

/// Starts a new simulated process whose first task runs `f`: the task, and the tasks it
/// spawns, belong to a process with a number of its own (the largest so far, plus one), which
/// [`current_process`] and [`JoinHandle::process`] give. A process is an identity only: its
/// tasks share memory with every other task, as those of forked processes share the state
/// placed in shared memory.
///
/// # Panics
/// Outside an execution.
#[track_caller]
pub fn spawn_process<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    spawn_in(f, true)
}

#[track_caller]
fn spawn_in<F, T>(f: F, new_process: bool) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let task = rt::spawn(
        Box::new(move || Box::new(f()) as Box<dyn Any>),
        Location::caller(),
        new_process,
    );
    JoinHandle {
        task,
        _result: PhantomData,
    }
}

/// A task started by [`spawn`].
pub struct JoinHandle<T> {
    task: u32,
    _result: PhantomData<fn() -> T>,
}

// SAFETY: a handle is an index; the result it yields is moved out on the one simulation thread.
unsafe impl<T> Send for JoinHandle<T> {}

impl<T: 'static> JoinHandle<T> {
    /// The simulated process the task belongs to.
    ///
    /// # Panics
    /// If called outside the execution that spawned the task.
    pub fn process(&self) -> u32 {
        rt::process_of(self.task)
            .expect("mpcheck-sim: a task handle used outside the execution that spawned it")
    }

    /// Waits for the task to finish and returns its result. (A panic in any task fails the
    /// whole execution, so there is no error case.)
    ///
    /// # Panics
    /// If called outside the execution that spawned the task, or if the task's process was
    /// killed ([`JoinHandle::try_join`] says so instead).
    #[track_caller]
    pub fn join(self) -> T {
        let task = self.task;
        self.try_join().unwrap_or_else(|| {
            panic!("mpcheck-sim: task {task} was killed with its process: it has no result")
        })
    }

    /// Waits for the task to finish, or for its process to be killed ([`Config::kills`]):
    /// `Some` with its result, `None` if it was killed.
    ///
    /// # Panics
    /// If called outside the execution that spawned the task.
    ///
    /// [`Config::kills`]: crate::Config::kills
    #[track_caller]
    pub fn try_join(self) -> Option<T> {
        match rt::join(self.task, Location::caller())
            .expect("mpcheck-sim: join outside the execution that spawned the task")
        {
            rt::Joined::Returned(result) => Some(
                *result
                    .downcast::<T>()
                    .expect("a task's result has the type it was spawned with"),
            ),
            rt::Joined::Killed => None,
        }
    }

    /// The task's index.
    pub fn task(&self) -> u32 {
        self.task
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinHandle(task {})", self.task)
    }
}
