//! Recording a [`History`] from a real run, on any of mpcheck's engines.
//!
//! A [`Recorder`] stamps every operation's call and return from one shared counter of returns
//! (an atomic of the platform, so that under an explorer each stamp is a step of its own): the
//! call reads the count just before the operation starts, the return adds one just after it
//! ends. Operation `x` returned before operation `y` was called exactly when `y`'s call saw
//! `x`'s return counted: the stamps (`2 × count seen` for a call, `2 × count before` + 1 for a
//! return) keep the real-time order that linearizability is judged by; operations whose stamps
//! interleave overlapped (or might have: the check is only ever more permissive there).
//!
//! Only that order matters, not the order of two calls: a call's stamp is a read
//! (`fetch_add(0)`, the latest count under any memory model, and a read for the simulator's
//! reduction), so two calls commute for an explorer, and only a call and a return race. (When
//! every stamp was an increment, an exhaustive search explored every order of calls too:
//! `condition_linearizable` at 3 tasks × 2 operations did not finish in a minute.)
//!
//! The operations are kept in the memory of one process: record the tasks (threads) of one
//! process, on `Os`, the simulator, loom or shuttle.

use std::sync::{Arc, Mutex, PoisonError};

use mpcheck::platform::AtomicInt;
use mpcheck::Platform;
use mpcheck_model::Model;

use crate::history::{History, TaskId};

/// Records the operations of one object made by the tasks of one process (see the
/// [module docs](self)). Cloning it shares the recording.
pub struct Recorder<M: Model, P: Platform> {
    /// The operations returned so far.
    clock: P::Shared<P::AtomicU64>,
    history: Arc<Mutex<History<M>>>,
}

impl<M: Model, P: Platform> Clone for Recorder<M, P> {
    fn clone(&self) -> Self {
        Recorder {
            clock: self.clock.clone(),
            history: Arc::clone(&self.history),
        }
    }
}

impl<M: Model, P: Platform> Default for Recorder<M, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Model, P: Platform> Recorder<M, P> {
    /// An empty recording.
    pub fn new() -> Self {
        use mpcheck::platform::Atomic as _;
        Recorder {
            clock: P::share(P::AtomicU64::new(0)),
            history: Arc::new(Mutex::new(History::new())),
        }
    }

    /// Runs `f`, operation `op` of task `task`, and records it: its call and return stamps and
    /// the model's result that `f` returns next to its own.
    pub fn record<R>(&self, task: TaskId, op: M::Op, f: impl FnOnce() -> (R, M::Ret)) -> R {
        let call = self.call();
        let (value, ret) = f();
        let returned = self.returned();
        self.lock().op(task, op, ret, call, returned);
        value
    }

    /// As [`Recorder::record`], for a call that is several operations of the model (a put
    /// that is a reservation then a publication, say): `f` returns them with their results,
    /// and each gets the call's stamps (the model orders them).
    pub fn record_with<R>(&self, task: TaskId, f: impl FnOnce() -> (R, Vec<(M::Op, M::Ret)>)) -> R {
        let call = self.call();
        let (value, ops) = f();
        let returned = self.returned();
        let mut history = self.lock();
        for (op, ret) in ops {
            history.op(task, op, ret, call, returned);
        }
        value
    }

    /// What was recorded so far.
    pub fn history(&self) -> History<M> {
        self.lock().clone()
    }

    /// A call's stamp: twice the returns counted so far (module docs).
    fn call(&self) -> u64 {
        2 * self.clock.fetch_add(0, std::sync::atomic::Ordering::SeqCst)
    }

    /// A return's stamp: twice the returns counted before it, plus one; and it is counted.
    fn returned(&self) -> u64 {
        2 * self.clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History<M>> {
        // Nothing panics while it is held; a poisoned history is still a history.
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
