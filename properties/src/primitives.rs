//! Every primitive of mpcheck as a [`Subject`], ready for [`Lincheck`](crate::Lincheck): a thin
//! newtype over the real primitive, an enum of the user-level calls it makes, a strategy of
//! calls that cannot deadlock a workload, and `perform`, which makes the call and says what it
//! returned in its model's terms (mpcheck-model).
//!
//! **No deadlock by construction.** Every call that may wait is generated in a bounded form:
//! `try_*` ([`Attempt::Try`]) or `*_timeout` with [`TIMEOUT`] ([`Attempt::Timeout`]). Under
//! the simulator, run them with [`Timeouts::WhenIdle`](mpcheck::sim::Timeouts::WhenIdle):
//! a timed wait then gives up only when nothing else can happen, so the model's "timed out"
//! (given up where it would still have had to wait) is exact. loom and shuttle model time
//! virtually too (docs/engines.md); on real threads a [`TIMEOUT`] is a real 10 ms. Where a
//! primitive has no bounded form of a call, the subject makes the call only where it cannot
//! block:
//!
//! - a [`Condition`] is used in whole critical sections ([`ConditionCall::Locked`]: acquire,
//!   maybe a second time, a timed wait or a notify, then as many releases), so that every
//!   blocking `acquire` waits only for a holder that is about to let go;
//! - a [`SimpleQueue`] (which has no `try_get`) and each end of a pipe (where `poll` then
//!   `recv` could race with another receiver) are received from by one task at a time, under
//!   a lock of the subject's own: a `get` only after `empty()` said `false`, a `recv` only
//!   after `poll` said `true`.
//!
//! **Split calls.** A call the model splits returns several model steps from
//! [`Subject::perform`], in the order they take effect: a successful put is a
//! [`QueueOp::Reserve`] then a [`QueueOp::Publish`], a barrier's wait an
//! [`BarrierOp::Arrive`] then a [`BarrierOp::Leave`], a condition's wait a
//! [`ConditionOp::WaitBegin`] then a [`ConditionOp::WaitEnd`].
//!
//! **Values** are small (`u8` items and messages, `u32` values), so that workloads shrink to
//! readable ones. Errors the models leave out (a dead owner, a lost item, an I/O error) make
//! `perform` panic: no generated workload kills a process.
//!
//! Two subjects are generic over the primitive, so that your own semaphore or queue can be
//! checked against the same model and the same workloads: [`SemaphoreSubject`] over a
//! [`SemaphoreLike`], [`QueueSubject`] over a [`QueueLike`].

use std::time::Duration;

use mpcheck::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Error, Event, JoinableQueue, Lock,
    Platform, Queue, RLock, Semaphore, SimpleQueue, Value,
};
use mpcheck_model::barrier::{BarrierOp, BarrierRet};
use mpcheck_model::condition::{ConditionOp, ConditionRet, Wakeups};
use mpcheck_model::event::{EventOp, EventRet};
use mpcheck_model::lock::{LockOp, LockRet, RLockOp};
use mpcheck_model::pipe::{End, PipeOp, PipeRet};
use mpcheck_model::queue::{QueueOp, QueueRet};
use mpcheck_model::semaphore::{SemaphoreOp, SemaphoreRet};
use mpcheck_model::shared::{ArrayModel, ArrayOp, ArrayRet, ValueModel, ValueOp, ValueRet};
use mpcheck_model::{
    BarrierModel, Caller, ConditionModel, ErrorKind, EventModel, LockModel, PipeModel, QueueModel,
    RLockModel, SemaphoreModel, Wait,
};
use proptest::prelude::*;

use crate::lincheck::{ModelStep, Subject};

/// How long a generated `*_timeout` call waits: short, as a real wait on [`mpcheck::Os`];
/// under the explorers time is virtual.
pub const TIMEOUT: Duration = Duration::from_millis(10);

/// How a call that may wait is bounded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Attempt {
    /// Not at all: `try_*` (a pipe's `poll(Some(ZERO))`).
    Try,
    /// Up to [`TIMEOUT`]: `*_timeout` (a pipe's `poll(Some(TIMEOUT))`).
    Timeout,
}

impl Attempt {
    /// Both attempts, shrinking to [`Attempt::Try`].
    pub fn strategy() -> impl Strategy<Value = Attempt> + Clone {
        prop_oneof![Just(Attempt::Try), Just(Attempt::Timeout)]
    }

    /// Calls `now` or `timed(TIMEOUT)`, as this attempt says.
    pub fn call<R>(self, now: impl FnOnce() -> R, timed: impl FnOnce(Duration) -> R) -> R {
        match self {
            Attempt::Try => now(),
            Attempt::Timeout => timed(TIMEOUT),
        }
    }

    /// As [`Attempt::call`], for a pipe's `poll`: `Some(ZERO)` or `Some(TIMEOUT)`.
    fn poll_timeout(self) -> Duration {
        self.call(|| Duration::ZERO, |timeout| timeout)
    }
}

/// The model's error for an error of mpcheck, if the models have it (they leave out dead
/// processes, lost items, encoding and I/O errors).
pub fn error_kind(error: &Error) -> Option<ErrorKind> {
    Some(match error {
        Error::ReleasedTooManyTimes { .. } => ErrorKind::ReleasedTooManyTimes,
        Error::NotOwner { .. } => ErrorKind::NotOwner,
        Error::Overflow { .. } => ErrorKind::Overflow,
        Error::BrokenBarrier => ErrorKind::BrokenBarrier,
        Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
        Error::IndexOutOfRange { index, len } => ErrorKind::IndexOutOfRange {
            index: *index,
            len: *len,
        },
        Error::NoLock { .. } => ErrorKind::NoLock,
        Error::Full { .. } => ErrorKind::Full,
        Error::Empty => ErrorKind::Empty,
        Error::Closed { .. } => ErrorKind::Closed,
        Error::Eof => ErrorKind::Eof,
        Error::BrokenPipe => ErrorKind::BrokenPipe,
        Error::ReadOnly => ErrorKind::ReadOnly,
        Error::WriteOnly => ErrorKind::WriteOnly,
        Error::TaskDoneTooManyTimes => ErrorKind::TaskDoneTooManyTimes,
        _ => return None,
    })
}

/// [`error_kind`], for an error a generated workload cannot cause: a panic naming the call.
fn kind(call: &str, error: &Error) -> ErrorKind {
    error_kind(error).unwrap_or_else(|| {
        panic!("{call} returned {error:?}, which the models leave out (nobody dies here)")
    })
}

/// `Ok(())` as `done`, an error as the model's, through `wrap`.
fn done_or<R>(call: &str, result: Result<(), Error>, done: R, wrap: fn(ErrorKind) -> R) -> R {
    match result {
        Ok(()) => done,
        Err(error) => wrap(kind(call, &error)),
    }
}

/// One model step.
fn one<M: mpcheck_model::Model>(op: M::Op, ret: M::Ret) -> Vec<ModelStep<M>> {
    vec![(op, ret)]
}

// ---------------------------------------------------------------------------------------------
// Locks

/// The calls made on a [`Lock`] or an [`RLock`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LockCall {
    /// `try_acquire` / `acquire_timeout`.
    Acquire(Attempt),
    /// `release`.
    Release,
    /// `is_locked`.
    IsLocked,
    /// `is_owned` (an [`RLock`] only; a [`Lock`] has no owner).
    IsOwned,
}

fn lock_calls(owned: bool) -> BoxedStrategy<LockCall> {
    let calls = prop_oneof![
        Attempt::strategy().prop_map(LockCall::Acquire),
        Just(LockCall::Release),
        Just(LockCall::IsLocked),
    ];
    if owned {
        prop_oneof![calls, Just(LockCall::IsOwned)].boxed()
    } else {
        calls.boxed()
    }
}

fn took(took: bool) -> LockRet {
    if took {
        LockRet::Acquired
    } else {
        LockRet::TimedOut
    }
}

/// A [`Lock`]: tries, timed acquires, releases (by anyone: a `Lock` has no owner) and looks.
pub struct LockSubject<P: Platform>(pub Lock<P>);

impl<P: Platform> Subject<P> for LockSubject<P> {
    type Model = LockModel;
    type Op = LockCall;

    fn create() -> (Self, LockModel) {
        (LockSubject(Lock::new()), LockModel::new())
    }

    fn operations() -> BoxedStrategy<LockCall> {
        lock_calls(false)
    }

    fn perform(&self, _caller: Caller, call: &LockCall) -> Vec<ModelStep<LockModel>> {
        let lock = &self.0;
        let (op, ret) = match call {
            LockCall::Acquire(attempt) => (
                LockOp::Acquire(Wait::Bounded),
                took(attempt.call(|| lock.try_acquire(), |t| lock.acquire_timeout(t))),
            ),
            LockCall::Release => (
                LockOp::Release,
                done_or(
                    "Lock::release",
                    lock.release(),
                    LockRet::Released,
                    LockRet::Err,
                ),
            ),
            LockCall::IsLocked | LockCall::IsOwned => {
                (LockOp::IsLocked, LockRet::IsLocked(lock.is_locked()))
            }
        };
        one::<LockModel>(op, ret)
    }
}

/// An [`RLock`]: tries and timed acquires (re-entering when the caller owns it), releases
/// (`NotOwner` by anyone else) and looks.
pub struct RLockSubject<P: Platform>(pub RLock<P>);

impl<P: Platform> Subject<P> for RLockSubject<P> {
    type Model = RLockModel;
    type Op = LockCall;

    fn create() -> (Self, RLockModel) {
        (RLockSubject(RLock::new()), RLockModel::new())
    }

    fn operations() -> BoxedStrategy<LockCall> {
        lock_calls(true)
    }

    fn perform(&self, caller: Caller, call: &LockCall) -> Vec<ModelStep<RLockModel>> {
        let lock = &self.0;
        let (op, ret) = match call {
            LockCall::Acquire(attempt) => (
                RLockOp::Acquire(caller, Wait::Bounded),
                took(attempt.call(|| lock.try_acquire(), |t| lock.acquire_timeout(t))),
            ),
            LockCall::Release => (
                RLockOp::Release(caller),
                done_or(
                    "RLock::release",
                    lock.release(),
                    LockRet::Released,
                    LockRet::Err,
                ),
            ),
            LockCall::IsLocked => (RLockOp::IsLocked, LockRet::IsLocked(lock.is_locked())),
            LockCall::IsOwned => (RLockOp::IsOwned(caller), LockRet::IsOwned(lock.is_owned())),
        };
        one::<RLockModel>(op, ret)
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphores

/// What [`SemaphoreSubject`] needs of a semaphore: [`Semaphore`], [`BoundedSemaphore`], or a
/// semaphore of your own.
pub trait SemaphoreLike<P: Platform>: Send + Sync + 'static {
    /// A semaphore of `value` units, and its model (`SemaphoreModel::new` or `bounded`).
    fn create(value: u32) -> (Self, SemaphoreModel)
    where
        Self: Sized;
    /// Takes a unit if one is free now.
    fn try_acquire(&self) -> bool;
    /// Takes a unit, waiting at most `timeout`.
    fn acquire_timeout(&self, timeout: Duration) -> bool;
    /// Gives a unit back.
    fn release(&self) -> Result<(), Error>;
    /// The count.
    fn get_value(&self) -> u32;
}

impl<P: Platform> SemaphoreLike<P> for Semaphore<P> {
    fn create(value: u32) -> (Self, SemaphoreModel) {
        (Semaphore::new(value), SemaphoreModel::new(value))
    }
    fn try_acquire(&self) -> bool {
        Semaphore::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        Semaphore::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), Error> {
        Semaphore::release(self)
    }
    fn get_value(&self) -> u32 {
        Semaphore::get_value(self)
    }
}

impl<P: Platform> SemaphoreLike<P> for BoundedSemaphore<P> {
    fn create(value: u32) -> (Self, SemaphoreModel) {
        (BoundedSemaphore::new(value), SemaphoreModel::bounded(value))
    }
    fn try_acquire(&self) -> bool {
        BoundedSemaphore::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        BoundedSemaphore::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<(), Error> {
        BoundedSemaphore::release(self)
    }
    fn get_value(&self) -> u32 {
        BoundedSemaphore::get_value(self)
    }
}

/// The calls made on a semaphore.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SemaphoreCall {
    /// `try_acquire` / `acquire_timeout`.
    Acquire(Attempt),
    /// `release` (also by a task that took nothing: a semaphore has no owner).
    Release,
    /// `get_value`.
    GetValue,
}

/// A semaphore of [`SemaphoreSubject::UNITS`] units: [`Semaphore`], [`BoundedSemaphore`] (its
/// releases beyond the bound refused), or your own [`SemaphoreLike`].
pub struct SemaphoreSubject<S>(pub S);

impl<S> SemaphoreSubject<S> {
    /// The initial count: 1, so that a second unit is both taken and refused.
    pub const UNITS: u32 = 1;
}

impl<P: Platform, S: SemaphoreLike<P>> Subject<P> for SemaphoreSubject<S> {
    type Model = SemaphoreModel;
    type Op = SemaphoreCall;

    fn create() -> (Self, SemaphoreModel) {
        let (semaphore, model) = S::create(Self::UNITS);
        (SemaphoreSubject(semaphore), model)
    }

    fn operations() -> BoxedStrategy<SemaphoreCall> {
        prop_oneof![
            Attempt::strategy().prop_map(SemaphoreCall::Acquire),
            Just(SemaphoreCall::Release),
            Just(SemaphoreCall::GetValue),
        ]
        .boxed()
    }

    fn perform(&self, _caller: Caller, call: &SemaphoreCall) -> Vec<ModelStep<SemaphoreModel>> {
        let s = &self.0;
        let (op, ret) = match call {
            SemaphoreCall::Acquire(attempt) => {
                let took = attempt.call(|| s.try_acquire(), |t| s.acquire_timeout(t));
                let ret = if took {
                    SemaphoreRet::Acquired
                } else {
                    SemaphoreRet::TimedOut
                };
                (SemaphoreOp::Acquire(Wait::Bounded), ret)
            }
            SemaphoreCall::Release => (
                SemaphoreOp::Release,
                done_or(
                    "release",
                    s.release(),
                    SemaphoreRet::Released,
                    SemaphoreRet::Err,
                ),
            ),
            SemaphoreCall::GetValue => (SemaphoreOp::GetValue, SemaphoreRet::Value(s.get_value())),
        };
        one::<SemaphoreModel>(op, ret)
    }
}

// ---------------------------------------------------------------------------------------------
// Event

/// An [`Event`]: `set`, `clear`, `is_set` and `wait_timeout` (the model's own operations;
/// [`EventOp::Wait`]`(`[`Wait::Bounded`]`)` is `wait_timeout(TIMEOUT)`, `Wait::Forever` a
/// `wait`, which the strategy never generates).
pub struct EventSubject<P: Platform>(pub Event<P>);

impl<P: Platform> Subject<P> for EventSubject<P> {
    type Model = EventModel;
    type Op = EventOp;

    fn create() -> (Self, EventModel) {
        (EventSubject(Event::new()), EventModel::new())
    }

    fn operations() -> BoxedStrategy<EventOp> {
        prop_oneof![
            Just(EventOp::Set),
            Just(EventOp::Clear),
            Just(EventOp::IsSet),
            Just(EventOp::Wait(Wait::Bounded)),
        ]
        .boxed()
    }

    fn perform(&self, _caller: Caller, op: &EventOp) -> Vec<ModelStep<EventModel>> {
        let event = &self.0;
        let ret = match op {
            EventOp::Set => {
                event.set();
                EventRet::Done
            }
            EventOp::Clear => {
                event.clear();
                EventRet::Done
            }
            EventOp::IsSet => EventRet::IsSet(event.is_set()),
            EventOp::Wait(Wait::Bounded) => EventRet::Waited(event.wait_timeout(TIMEOUT)),
            EventOp::Wait(Wait::Forever) => {
                event.wait();
                EventRet::Waited(true)
            }
        };
        one::<EventModel>(op.clone(), ret)
    }
}

// ---------------------------------------------------------------------------------------------
// Condition

/// What a task does inside (or, for [`ConditionCall::Unlocked`], without) a condition's lock.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Inside {
    /// Nothing.
    Nothing,
    /// `wait_timeout(TIMEOUT)`.
    WaitTimeout,
    /// `notify(n)`.
    Notify(u32),
    /// `notify_all()`.
    NotifyAll,
}

/// The calls made on a [`Condition`] (over its default [`RLock`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConditionCall {
    /// A critical section: `acquire` (twice if `nested`), then `inside`, then as many
    /// `release`s.
    Locked {
        /// The lock taken twice (a wait releases and restores both levels).
        nested: bool,
        /// What happens while it is held.
        inside: Inside,
    },
    /// `inside` without the lock: `NotOwner` (or nothing for [`Inside::Nothing`]).
    Unlocked(Inside),
}

/// A [`Condition`] with its own [`RLock`], used in whole critical sections (see the
/// [module docs](self)), and called without its lock. Wake-ups are
/// [`Wakeups::NotifiedOnly`]: a waiter returns `Ok(true)` only if a notify came while it
/// waited (mpcheck's wait compares a sequence word that only a notify bumps).
pub struct ConditionSubject<P: Platform>(pub Condition<P>);

impl<P: Platform> ConditionSubject<P> {
    fn inside(&self, caller: Caller, inside: Inside) -> Vec<ModelStep<ConditionModel>> {
        let c = &self.0;
        let notified = |op, result| {
            let ret = done_or("notify", result, ConditionRet::Notified, ConditionRet::Err);
            vec![(op, ret)]
        };
        match inside {
            Inside::Nothing => Vec::new(),
            Inside::WaitTimeout => {
                let begin = ConditionOp::WaitBegin {
                    caller,
                    timed: true,
                };
                match c.wait_timeout(TIMEOUT) {
                    Ok(woken) => vec![
                        (begin, ConditionRet::Waiting),
                        (
                            ConditionOp::WaitEnd(caller),
                            if woken {
                                ConditionRet::Woken
                            } else {
                                ConditionRet::TimedOut
                            },
                        ),
                    ],
                    Err(e) => vec![(
                        begin,
                        ConditionRet::Err(kind("Condition::wait_timeout", &e)),
                    )],
                }
            }
            Inside::Notify(n) => notified(ConditionOp::Notify(caller, n), c.notify(n)),
            Inside::NotifyAll => notified(ConditionOp::NotifyAll(caller), c.notify_all()),
        }
    }
}

impl<P: Platform> Subject<P> for ConditionSubject<P> {
    type Model = ConditionModel;
    type Op = ConditionCall;

    fn create() -> (Self, ConditionModel) {
        let model = ConditionModel::new(Wakeups::NotifiedOnly);
        (ConditionSubject(Condition::new()), model)
    }

    fn operations() -> BoxedStrategy<ConditionCall> {
        let inside = prop_oneof![
            Just(Inside::Nothing),
            Just(Inside::WaitTimeout),
            (1..=2u32).prop_map(Inside::Notify),
            Just(Inside::NotifyAll),
        ];
        prop_oneof![
            3 => (any::<bool>(), inside.clone())
                .prop_map(|(nested, inside)| ConditionCall::Locked { nested, inside }),
            1 => inside.prop_map(ConditionCall::Unlocked),
        ]
        .boxed()
    }

    fn perform(&self, caller: Caller, call: &ConditionCall) -> Vec<ModelStep<ConditionModel>> {
        let c = &self.0;
        match *call {
            ConditionCall::Unlocked(inside) => self.inside(caller, inside),
            ConditionCall::Locked { nested, inside } => {
                let levels = if nested { 2 } else { 1 };
                let mut steps = Vec::new();
                for _ in 0..levels {
                    let ret = done_or(
                        "Condition::acquire",
                        c.acquire(),
                        ConditionRet::Acquired,
                        ConditionRet::Err,
                    );
                    steps.push((ConditionOp::Acquire(caller), ret));
                }
                steps.extend(self.inside(caller, inside));
                for _ in 0..levels {
                    let ret = done_or(
                        "Condition::release",
                        c.release(),
                        ConditionRet::Released,
                        ConditionRet::Err,
                    );
                    steps.push((ConditionOp::Release(caller), ret));
                }
                steps
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier

/// The calls made on a [`Barrier`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BarrierCall {
    /// `wait_timeout(TIMEOUT)`: a wait that times out breaks the barrier.
    WaitTimeout,
    /// `abort`.
    Abort,
    /// `reset`.
    Reset,
    /// `n_waiting`.
    NWaiting,
    /// `broken`.
    Broken,
    /// `parties`.
    Parties,
}

/// A [`Barrier`] for [`BarrierSubject::PARTIES`] tasks: timed waits (an arrival then a
/// departure in the model), aborts, resets and looks.
pub struct BarrierSubject<P: Platform>(pub Barrier<P>);

impl<P: Platform> BarrierSubject<P> {
    /// The barrier's parties: 2, so that two tasks of a workload can pass it.
    pub const PARTIES: usize = 2;
}

impl<P: Platform> Subject<P> for BarrierSubject<P> {
    type Model = BarrierModel;
    type Op = BarrierCall;

    fn create() -> (Self, BarrierModel) {
        let parties = Self::PARTIES;
        (
            BarrierSubject(Barrier::new(parties)),
            BarrierModel::new(parties),
        )
    }

    fn operations() -> BoxedStrategy<BarrierCall> {
        prop_oneof![
            4 => Just(BarrierCall::WaitTimeout),
            1 => Just(BarrierCall::Abort),
            1 => Just(BarrierCall::Reset),
            1 => Just(BarrierCall::NWaiting),
            1 => Just(BarrierCall::Broken),
            1 => Just(BarrierCall::Parties),
        ]
        .boxed()
    }

    fn perform(&self, caller: Caller, call: &BarrierCall) -> Vec<ModelStep<BarrierModel>> {
        let b = &self.0;
        let (op, ret) = match call {
            BarrierCall::WaitTimeout => {
                let left = match b.wait_timeout(TIMEOUT) {
                    Ok(index) => BarrierRet::Passed(index),
                    Err(e) => BarrierRet::Err(kind("Barrier::wait_timeout", &e)),
                };
                let arrive = BarrierOp::Arrive {
                    caller,
                    timed: true,
                };
                return vec![
                    (arrive, BarrierRet::Arrived),
                    (BarrierOp::Leave(caller), left),
                ];
            }
            BarrierCall::Abort => {
                b.abort();
                (BarrierOp::Abort, BarrierRet::Done)
            }
            BarrierCall::Reset => {
                b.reset();
                (BarrierOp::Reset, BarrierRet::Done)
            }
            BarrierCall::NWaiting => (BarrierOp::NWaiting, BarrierRet::NWaiting(b.n_waiting())),
            BarrierCall::Broken => (BarrierOp::Broken, BarrierRet::IsBroken(b.broken())),
            BarrierCall::Parties => (BarrierOp::Parties, BarrierRet::Parties(b.parties())),
        };
        one::<BarrierModel>(op, ret)
    }
}

// ---------------------------------------------------------------------------------------------
// Queues

/// How much more than its length a queue subject's `qsize` may read: the real count includes
/// a get until it has its item (mpcheck-model's queue docs), and in a workload of up to 3
/// tasks at most 2 other tasks are getting.
pub const QSIZE_SLACK: usize = 2;

/// What [`QueueSubject`] needs of a queue of `u8`s: [`Queue`], [`JoinableQueue`], or a queue of
/// your own.
pub trait QueueLike<P: Platform>: Send + Sync + 'static {
    /// Whether it is joinable (`task_done` is one of its calls).
    const JOINABLE: bool;
    /// A queue of at most `maxsize` items (`None`: unbounded), and its model (before any
    /// `qsize` slack: [`QueueSubject`] adds [`QSIZE_SLACK`]).
    fn create(maxsize: Option<usize>) -> (Self, QueueModel<u8>)
    where
        Self: Sized;
    /// `try_put`.
    fn try_put(&self, item: u8) -> Result<(), Error>;
    /// `put_timeout`.
    fn put_timeout(&self, item: u8, timeout: Duration) -> Result<(), Error>;
    /// `try_get`.
    fn try_get(&self) -> Result<u8, Error>;
    /// `get_timeout`.
    fn get_timeout(&self, timeout: Duration) -> Result<u8, Error>;
    /// `qsize`.
    fn qsize(&self) -> usize;
    /// `empty`.
    fn empty(&self) -> bool;
    /// `full`.
    fn full(&self) -> bool;
    /// `close`.
    fn close(&self);
    /// `is_closed`.
    fn is_closed(&self) -> bool;
    /// `task_done` (a joinable queue's; never called otherwise).
    fn task_done(&self) -> Result<(), Error>;
}

/// Implements [`QueueLike`] for a queue type that has (or dereferences to) `Queue`'s methods.
macro_rules! queue_like {
    ($queue:ident, $joinable:expr, $model:expr, $task_done:expr) => {
        impl<P: Platform> QueueLike<P> for $queue<u8, P> {
            const JOINABLE: bool = $joinable;
            fn create(maxsize: Option<usize>) -> (Self, QueueModel<u8>) {
                let (queue, model) = match maxsize {
                    None => ($queue::new(), QueueModel::new()),
                    Some(n) => (
                        $queue::bounded(n).expect("a maxsize of at least 1"),
                        QueueModel::bounded(n),
                    ),
                };
                let with: fn(QueueModel<u8>) -> QueueModel<u8> = $model;
                (queue, with(model))
            }
            fn try_put(&self, item: u8) -> Result<(), Error> {
                Queue::try_put(self, item)
            }
            fn put_timeout(&self, item: u8, timeout: Duration) -> Result<(), Error> {
                Queue::put_timeout(self, item, timeout)
            }
            fn try_get(&self) -> Result<u8, Error> {
                Queue::try_get(self)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<u8, Error> {
                Queue::get_timeout(self, timeout)
            }
            fn qsize(&self) -> usize {
                Queue::qsize(self)
            }
            fn empty(&self) -> bool {
                Queue::empty(self)
            }
            fn full(&self) -> bool {
                Queue::full(self)
            }
            fn close(&self) {
                Queue::close(self)
            }
            fn is_closed(&self) -> bool {
                Queue::is_closed(self)
            }
            fn task_done(&self) -> Result<(), Error> {
                let task_done: fn(&Self) -> Result<(), Error> = $task_done;
                task_done(self)
            }
        }
    };
}

queue_like!(Queue, false, |model| model, |_| unreachable!(
    "task_done is not generated for a Queue"
));
queue_like!(
    JoinableQueue,
    true,
    QueueModel::joinable,
    JoinableQueue::task_done
);

/// The calls made on a queue.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum QueueCall {
    /// `try_put` / `put_timeout` of this item.
    Put(u8, Attempt),
    /// `try_get` / `get_timeout`.
    Get(Attempt),
    /// `qsize`.
    Qsize,
    /// `empty`.
    Empty,
    /// `full`.
    Full,
    /// `close`.
    Close,
    /// `is_closed`.
    IsClosed,
    /// `task_done` (joinable queues). `join` is not generated: it waits for every item put to
    /// be marked done, which a generated workload need not do.
    TaskDone,
}

/// The model's steps for a put that returned `result`: a reservation and a publication if it
/// succeeded; a hold and its withdrawal if it was refused `Closed` (its place may have counted
/// until the close); else one refused put.
fn put_steps(
    caller: Caller,
    item: u8,
    wait: Wait,
    result: Result<(), Error>,
) -> Vec<ModelStep<QueueModel<u8>>> {
    match result {
        Ok(()) => vec![
            (QueueOp::Reserve(caller, item, wait), QueueRet::Done),
            (QueueOp::Publish(caller, item), QueueRet::Done),
        ],
        Err(Error::Closed { .. }) => vec![
            (QueueOp::Hold(caller, item, wait), QueueRet::Done),
            (
                QueueOp::Withdraw(caller, item),
                QueueRet::Err(ErrorKind::Closed),
            ),
        ],
        Err(e) => vec![(QueueOp::Put(item, wait), QueueRet::Err(kind("put", &e)))],
    }
}

fn got(result: Result<u8, Error>) -> QueueRet<u8> {
    match result {
        Ok(item) => QueueRet::Got(item),
        Err(e) => QueueRet::Err(kind("get", &e)),
    }
}

/// Items 1 to 3.
fn items() -> impl Strategy<Value = u8> + Clone {
    1..=3u8
}

/// A queue of `u8`s with at most `MAXSIZE` items (0: unbounded): [`Queue`],
/// [`JoinableQueue`] (its `task_done`s too), or your own [`QueueLike`]. Its `qsize` may read
/// [`QSIZE_SLACK`] more than its length.
pub struct QueueSubject<Q, const MAXSIZE: usize = 0>(pub Q);

impl<P: Platform, Q: QueueLike<P>, const MAXSIZE: usize> Subject<P> for QueueSubject<Q, MAXSIZE> {
    type Model = QueueModel<u8>;
    type Op = QueueCall;

    fn create() -> (Self, QueueModel<u8>) {
        let (queue, model) = Q::create((MAXSIZE > 0).then_some(MAXSIZE));
        (QueueSubject(queue), model.with_size_slack(QSIZE_SLACK))
    }

    fn operations() -> BoxedStrategy<QueueCall> {
        let calls = prop_oneof![
            3 => (items(), Attempt::strategy()).prop_map(|(item, a)| QueueCall::Put(item, a)),
            3 => Attempt::strategy().prop_map(QueueCall::Get),
            1 => Just(QueueCall::Qsize),
            1 => Just(QueueCall::Empty),
            1 => Just(QueueCall::Full),
            1 => Just(QueueCall::Close),
            1 => Just(QueueCall::IsClosed),
        ];
        if Q::JOINABLE {
            prop_oneof![5 => calls, 1 => Just(QueueCall::TaskDone)].boxed()
        } else {
            calls.boxed()
        }
    }

    fn perform(&self, caller: Caller, call: &QueueCall) -> Vec<ModelStep<QueueModel<u8>>> {
        let q = &self.0;
        let (op, ret) = match *call {
            QueueCall::Put(item, attempt) => {
                let result = attempt.call(|| q.try_put(item), |t| q.put_timeout(item, t));
                return put_steps(caller, item, Wait::Bounded, result);
            }
            QueueCall::Get(attempt) => (
                QueueOp::Get(Wait::Bounded),
                got(attempt.call(|| q.try_get(), |t| q.get_timeout(t))),
            ),
            QueueCall::Qsize => (QueueOp::Qsize, QueueRet::Size(q.qsize())),
            QueueCall::Empty => (QueueOp::Empty, QueueRet::IsEmpty(q.empty())),
            QueueCall::Full => (QueueOp::Full, QueueRet::IsFull(q.full())),
            QueueCall::Close => {
                q.close();
                (QueueOp::Close, QueueRet::Done)
            }
            QueueCall::IsClosed => (QueueOp::IsClosed, QueueRet::IsClosed(q.is_closed())),
            QueueCall::TaskDone => (
                QueueOp::TaskDone,
                done_or("task_done", q.task_done(), QueueRet::Done, QueueRet::Err),
            ),
        };
        one::<QueueModel<u8>>(op, ret)
    }
}

/// The calls made on a [`SimpleQueue`]: all it has.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SimpleQueueCall {
    /// `put` (a `SimpleQueue` is unbounded: it does not wait).
    Put(u8),
    /// `empty()`, then, if it said `false`, `get` (one getting task at a time: see the
    /// [module docs](self)).
    Get,
    /// `empty`.
    Empty,
    /// `close`.
    Close,
}

/// A [`SimpleQueue`] of `u8`s, and the lock its getters take turns with (it has no `try_get`).
pub struct SimpleQueueSubject<P: Platform> {
    /// The queue.
    pub queue: SimpleQueue<u8, P>,
    getting: Lock<P>,
}

impl<P: Platform> Subject<P> for SimpleQueueSubject<P> {
    type Model = QueueModel<u8>;
    type Op = SimpleQueueCall;

    fn create() -> (Self, QueueModel<u8>) {
        let subject = SimpleQueueSubject {
            queue: SimpleQueue::new(),
            getting: Lock::new(),
        };
        (subject, QueueModel::new().with_size_slack(QSIZE_SLACK))
    }

    fn operations() -> BoxedStrategy<SimpleQueueCall> {
        prop_oneof![
            3 => items().prop_map(SimpleQueueCall::Put),
            3 => Just(SimpleQueueCall::Get),
            1 => Just(SimpleQueueCall::Empty),
            1 => Just(SimpleQueueCall::Close),
        ]
        .boxed()
    }

    fn perform(&self, caller: Caller, call: &SimpleQueueCall) -> Vec<ModelStep<QueueModel<u8>>> {
        let q = &self.queue;
        match *call {
            SimpleQueueCall::Put(item) => put_steps(caller, item, Wait::Forever, q.put(item)),
            SimpleQueueCall::Get => {
                let _turn = self.getting.lock();
                let empty = q.empty();
                let mut steps = one::<QueueModel<u8>>(QueueOp::Empty, QueueRet::IsEmpty(empty));
                if !empty {
                    steps.push((QueueOp::Get(Wait::Forever), got(q.get())));
                }
                steps
            }
            SimpleQueueCall::Empty => {
                one::<QueueModel<u8>>(QueueOp::Empty, QueueRet::IsEmpty(q.empty()))
            }
            SimpleQueueCall::Close => {
                q.close();
                one::<QueueModel<u8>>(QueueOp::Close, QueueRet::Done)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pipe

/// The calls made on a pipe's two ends.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PipeCall {
    /// `send` of this message on an end.
    Send(End, u8),
    /// On an end: `poll(Some(ZERO))` / `poll(Some(TIMEOUT))`, then, if it said `true`, `recv`
    /// (one receiving task per end at a time: see the [module docs](self)).
    Receive(End, Attempt),
    /// `close` on an end.
    Close(End),
}

/// The two ends of a [`pipe()`](mpcheck::pipe()) of `u8` messages (duplex, or one-way: `A`
/// receives, `B` sends), and a lock per end that its receivers take turns with.
pub struct PipeSubject<P: Platform, const DUPLEX: bool> {
    ends: [Connection<u8, P>; 2],
    receiving: [Lock<P>; 2],
}

impl<P: Platform, const DUPLEX: bool> PipeSubject<P, DUPLEX> {
    fn end(&self, end: End) -> (&Connection<u8, P>, &Lock<P>) {
        let i = match end {
            End::A => 0,
            End::B => 1,
        };
        (&self.ends[i], &self.receiving[i])
    }
}

impl<P: Platform, const DUPLEX: bool> Subject<P> for PipeSubject<P, DUPLEX> {
    type Model = PipeModel<u8>;
    type Op = PipeCall;

    fn create() -> (Self, PipeModel<u8>) {
        let (a, b) = mpcheck::pipe::<u8, P>(DUPLEX).expect("a new pipe");
        let subject = PipeSubject {
            ends: [a, b],
            receiving: [Lock::new(), Lock::new()],
        };
        (subject, PipeModel::new(DUPLEX))
    }

    fn operations() -> BoxedStrategy<PipeCall> {
        let end = prop_oneof![Just(End::A), Just(End::B)];
        prop_oneof![
            3 => (end.clone(), items()).prop_map(|(end, m)| PipeCall::Send(end, m)),
            3 => (end.clone(), Attempt::strategy()).prop_map(|(end, a)| PipeCall::Receive(end, a)),
            1 => end.prop_map(PipeCall::Close),
        ]
        .boxed()
    }

    fn perform(&self, _caller: Caller, call: &PipeCall) -> Vec<ModelStep<PipeModel<u8>>> {
        let err = |call: &str, e: Error| PipeRet::Err(kind(call, &e));
        match *call {
            PipeCall::Send(end, message) => {
                let ret = done_or(
                    "send",
                    self.end(end).0.send(&message),
                    PipeRet::Done,
                    PipeRet::Err,
                );
                one::<PipeModel<u8>>(PipeOp::Send(end, message), ret)
            }
            PipeCall::Receive(end, attempt) => {
                let (connection, receiving) = self.end(end);
                let _turn = receiving.lock();
                let poll = PipeOp::Poll(end, Wait::Bounded);
                match connection.poll(Some(attempt.poll_timeout())) {
                    Ok(true) => {
                        let received = match connection.recv() {
                            Ok(message) => PipeRet::Received(message),
                            Err(e) => err("recv", e),
                        };
                        vec![(poll, PipeRet::Ready(true)), (PipeOp::Recv(end), received)]
                    }
                    Ok(false) => one::<PipeModel<u8>>(poll, PipeRet::Ready(false)),
                    Err(e) => one::<PipeModel<u8>>(poll, err("poll", e)),
                }
            }
            PipeCall::Close(end) => {
                self.end(end).0.close();
                one::<PipeModel<u8>>(PipeOp::Close(end), PipeRet::Done)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Value and Array

/// The calls made on a [`Value`] (the model's [`ValueOp`], with `update` as one named
/// function, so that a workload prints as Rust).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ValueCall {
    /// `get`.
    Get,
    /// `set`.
    Set(u32),
    /// `update(|n| *n += 1)`.
    Increment,
    /// `has_lock`.
    HasLock,
}

fn increment(n: &u32) -> u32 {
    n + 1
}

/// A [`Value`]`<u32>` with its lock, starting at 0.
pub struct ValueSubject<P: Platform>(pub Value<u32, P>);

impl<P: Platform> Subject<P> for ValueSubject<P> {
    type Model = ValueModel<u32>;
    type Op = ValueCall;

    fn create() -> (Self, ValueModel<u32>) {
        (ValueSubject(Value::new(0)), ValueModel::new(0))
    }

    fn operations() -> BoxedStrategy<ValueCall> {
        prop_oneof![
            Just(ValueCall::Get),
            (0..=2u32).prop_map(ValueCall::Set),
            Just(ValueCall::Increment),
            Just(ValueCall::HasLock),
        ]
        .boxed()
    }

    fn perform(&self, _caller: Caller, call: &ValueCall) -> Vec<ModelStep<ValueModel<u32>>> {
        let v = &self.0;
        let (op, ret) = match *call {
            ValueCall::Get => (ValueOp::Get, ValueRet::Value(v.get())),
            ValueCall::Set(n) => {
                v.set(n);
                (ValueOp::Set(n), ValueRet::Done)
            }
            ValueCall::Increment => {
                // Recorded by the value written (serializable, for processes): the model
                // checks it read what the result says and wrote its increment.
                match v.update(|n| {
                    let old = *n;
                    *n = increment(n);
                    old
                }) {
                    Ok(old) => (ValueOp::UpdateTo(increment(&old)), ValueRet::Updated(old)),
                    // Refused (`NoLock`): nothing written, whatever the operand.
                    Err(e) => (
                        ValueOp::UpdateTo(0),
                        ValueRet::Err(kind("Value::update", &e)),
                    ),
                }
            }
            ValueCall::HasLock => (ValueOp::HasLock, ValueRet::HasLock(v.has_lock())),
        };
        one::<ValueModel<u32>>(op, ret)
    }
}

/// An [`Array`]`<u32>` of [`ArraySubject::LEN`] zeroes, with its lock: gets and sets (one
/// index past the end too: `IndexOutOfRange`), `len` and `to_vec` (the model's [`ArrayOp`]).
pub struct ArraySubject<P: Platform>(pub Array<u32, P>);

impl<P: Platform> ArraySubject<P> {
    /// The array's length.
    pub const LEN: usize = 2;
}

impl<P: Platform> Subject<P> for ArraySubject<P> {
    type Model = ArrayModel<u32>;
    type Op = ArrayOp<u32>;

    fn create() -> (Self, ArrayModel<u32>) {
        let zeroes = vec![0; Self::LEN];
        let array = Array::from_slice(&zeroes).expect("a small array");
        (ArraySubject(array), ArrayModel::new(zeroes))
    }

    fn operations() -> BoxedStrategy<ArrayOp<u32>> {
        let index = 0..=Self::LEN;
        prop_oneof![
            index.clone().prop_map(ArrayOp::Get),
            (index, 1..=2u32).prop_map(|(i, v)| ArrayOp::Set(i, v)),
            Just(ArrayOp::Len),
            Just(ArrayOp::ToVec),
        ]
        .boxed()
    }

    fn perform(&self, _caller: Caller, op: &ArrayOp<u32>) -> Vec<ModelStep<ArrayModel<u32>>> {
        let a = &self.0;
        let ret = match op {
            ArrayOp::Get(i) => match a.get(*i) {
                Ok(v) => ArrayRet::Value(v),
                Err(e) => ArrayRet::Err(kind("Array::get", &e)),
            },
            ArrayOp::Set(i, v) => {
                done_or("Array::set", a.set(*i, *v), ArrayRet::Done, ArrayRet::Err)
            }
            ArrayOp::Len => ArrayRet::Len(a.len()),
            ArrayOp::ToVec => ArrayRet::Items(a.to_vec()),
        };
        one::<ArrayModel<u32>>(op.clone(), ret)
    }
}
