//! Recording a [`History`] from a real run, on any of mpcheck's engines.
//!
//! A [`Recorder`] stamps every operation's call and return from one shared counter (an atomic
//! of the platform, so that under an explorer each stamp is a step of its own): the call stamp
//! is taken just before the operation starts, the return stamp just after it ends. If one
//! operation returned before another was called, its return stamp is the smaller, so the
//! stamps keep the real-time order that linearizability is judged by; operations whose stamps
//! interleave overlapped (or might have: the check is only ever more permissive there).
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
        let call = self.tick();
        let (value, ret) = f();
        let returned = self.tick();
        self.lock().op(task, op, ret, call, returned);
        value
    }

    /// As [`Recorder::record`], for a call that is several operations of the model (a put
    /// that is a reservation then a publication, say): `f` returns them with their results,
    /// and each gets the call's stamps (the model orders them).
    pub fn record_with<R>(&self, task: TaskId, f: impl FnOnce() -> (R, Vec<(M::Op, M::Ret)>)) -> R {
        let call = self.tick();
        let (value, ops) = f();
        let returned = self.tick();
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

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History<M>> {
        // Nothing panics while it is held; a poisoned history is still a history.
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
