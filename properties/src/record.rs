//! Recording a [`History`] from a real run, on any of mpcheck's engines.
//!
//! A [`Recorder`] stamps every operation's call and return with clocks of returns: atomics of
//! the platform, so that under an explorer each stamp is a step of its own. The return adds
//! one to its task's clock just after the operation ends; the call reads the clocks just
//! before it starts. Operation `x` returned before operation `y` was called exactly when
//! `y`'s call saw `x`'s return counted, and that is the real-time order linearizability is
//! judged by; operations neither of which saw the other overlapped (or might have: the check
//! is only ever more permissive there).
//!
//! Only that order matters, not the order of two calls: a call's stamp is a read
//! (`fetch_add(0)`, the latest count under any memory model, and a read for the simulator's
//! reduction), so two calls commute for an explorer, and only a call and a return race. (When
//! every stamp was an increment, an exhaustive search explored every order of calls too:
//! `condition_linearizable` at 3 tasks × 2 operations did not finish in a minute.)
//!
//! [`Recorder::new`] keeps one clock for every task: the stamps are times (`2 × count seen`
//! for a call, `2 × count before` + 1 for a return) and the history is one of intervals. But
//! every two returns then race too, and an explorer orders them both ways.
//! [`Recorder::with_tasks`] gives each task a clock of its own: returns of different tasks
//! commute, a call reads every clock (under the simulator's operation granularity, as one
//! event), and the history's order is explicit ([`History::with_explicit_order`]): `x`
//! precedes `y` where `y`'s call saw the count of `x`'s clock reach `x`'s return. Read one
//! clock at a time, that order need not be one of intervals; the checker takes any order.
//! That pays where each operation is one event of the explorer
//! ([`Platform::operations_are_events`]: the simulator at its operation granularity, where the
//! call's reads are one event too); elsewhere each clock a call reads is one more point to
//! explore, and one clock is cheaper. [`crate::lincheck::run`] chooses so.
//!
//! The operations are kept in the memory of one process: record the tasks (threads) of one
//! process, on `Os`, the simulator, loom or shuttle.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use mpcheck::platform::{Atomic as _, AtomicInt};
use mpcheck::Platform;
use mpcheck_model::Model;

use crate::history::{History, OpId, TaskId};

/// Records the operations of one object made by the tasks of one process (see the
/// [module docs](self)). Cloning it shares the recording.
pub struct Recorder<M: Model, P: Platform> {
    /// The returns counted so far, one clock per group of tasks: task `t` counts on clock
    /// `t % clocks.len()`.
    clocks: Arc<Vec<P::Shared<P::AtomicU64>>>,
    /// The next sequence number, with a clock per task: the order in which calls and returns
    /// were logged (relaxed, so that it orders nothing the tasks do; a hint for laying times
    /// out, see `layout`).
    seq: Arc<AtomicU64>,
    log: Arc<Mutex<Log<M>>>,
}

/// What a recorder saw, in the order it saw it.
struct Log<M: Model> {
    calls: Vec<Call<M>>,
}

/// One recorded call: its model operations, in the order they took effect.
struct Call<M: Model> {
    task: TaskId,
    ops: Vec<(M::Op, M::Ret)>,
    /// The count of each clock the call saw.
    seen: Vec<u64>,
    /// The count of the task's clock once its return was counted.
    count: u64,
    /// When the call and the return were logged (sequence numbers; 0 with one clock).
    logged: (u64, u64),
}

impl<M: Model, P: Platform> Clone for Recorder<M, P> {
    fn clone(&self) -> Self {
        Recorder {
            clocks: Arc::clone(&self.clocks),
            seq: Arc::clone(&self.seq),
            log: Arc::clone(&self.log),
        }
    }
}

impl<M: Model, P: Platform> Default for Recorder<M, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Model, P: Platform> Recorder<M, P> {
    /// An empty recording with one clock for all tasks: a history of intervals.
    pub fn new() -> Self {
        Self::with_tasks(1)
    }

    /// An empty recording with a clock for each of `tasks` tasks (numbered from 0; a task
    /// numbered `tasks` or more shares clock `task % tasks`): a history with an explicit
    /// order, whose returns of different tasks an explorer need not order (module docs). Zero
    /// is taken as one.
    pub fn with_tasks(tasks: usize) -> Self {
        let clocks = (0..tasks.max(1))
            .map(|_| P::share(P::AtomicU64::new(0)))
            .collect();
        Recorder {
            clocks: Arc::new(clocks),
            seq: Arc::new(AtomicU64::new(0)),
            log: Arc::new(Mutex::new(Log { calls: Vec::new() })),
        }
    }

    /// Runs `f`, operation `op` of task `task`, and records it: its call and return stamps and
    /// the model's result that `f` returns next to its own.
    pub fn record<R>(&self, task: TaskId, op: M::Op, f: impl FnOnce() -> (R, M::Ret)) -> R {
        self.record_with(task, || {
            let (value, ret) = f();
            (value, vec![(op, ret)])
        })
    }

    /// As [`Recorder::record`], for a call that is several operations of the model (a put
    /// that is a reservation then a publication, say): `f` returns them with their results,
    /// in the order they took effect. Each gets the call's stamps; with a clock per task each
    /// is also ordered after the one before it.
    pub fn record_with<R>(&self, task: TaskId, f: impl FnOnce() -> (R, Vec<(M::Op, M::Ret)>)) -> R {
        let seen = self.call();
        let called = self.next_seq();
        let (value, ops) = f();
        let count = self.returned(task);
        let mut log = self.lock();
        let returned = self.next_seq();
        log.calls.push(Call {
            task,
            ops,
            seen,
            count,
            logged: (called, returned),
        });
        value
    }

    /// What was recorded so far.
    pub fn history(&self) -> History<M> {
        let log = self.lock();
        if self.clocks.len() == 1 {
            intervals(&log.calls)
        } else {
            explicit(&log.calls, self.clocks.len())
        }
    }

    /// A call's stamp: the count of every clock (module docs).
    fn call(&self) -> Vec<u64> {
        let clock =
            |c: &P::Shared<P::AtomicU64>| c.fetch_add(0, std::sync::atomic::Ordering::SeqCst);
        match self.clocks.as_slice() {
            [one] => vec![clock(one)],
            all => {
                let _op = P::operation(|| &*all[0], "Recorder", "call");
                all.iter().map(clock).collect()
            }
        }
    }

    /// A return's stamp: the count of `task`'s clock once this return is counted.
    fn returned(&self, task: TaskId) -> u64 {
        let clock = &self.clocks[task as usize % self.clocks.len()];
        clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    /// The next sequence number, where times are laid out from it (a clock per task); 0 with
    /// one clock, whose stamps are the times.
    fn next_seq(&self) -> u64 {
        match self.clocks.len() {
            1 => 0,
            _ => self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log<M>> {
        // Nothing panics while it is held; a poisoned log is still a log.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The history of calls stamped by one clock: intervals (a call at twice the count it saw, a
/// return at twice the count before it plus one), each call's operations on its interval.
fn intervals<M: Model>(calls: &[Call<M>]) -> History<M> {
    let mut history = History::new();
    for call in calls {
        for (op, ret) in &call.ops {
            let (at, back) = (2 * call.seen[0], 2 * (call.count - 1) + 1);
            history.op(call.task, op.clone(), ret.clone(), at, back);
        }
    }
    history
}

/// The history of calls stamped by a clock per group of tasks: `x` precedes `y` where `y`'s
/// call saw `x`'s clock count `x`'s return, and each call's operations follow one another.
/// Times lay the calls out in an order that agrees with that (the order the recorder logged
/// them in, where it does).
fn explicit<M: Model>(calls: &[Call<M>], clocks: usize) -> History<M> {
    let slot = |c: &Call<M>| c.task as usize % clocks;
    // Each task's calls, in its program order (their counts on its clock increase). Of one
    // task's calls that a call saw counted, the latest is the only predecessor needed: the
    // earlier ones precede it. (So a predecessor list is as long as the tasks are many, even
    // where tasks share a clock.)
    let mut by_task: BTreeMap<TaskId, Vec<usize>> = BTreeMap::new();
    for (i, c) in calls.iter().enumerate() {
        by_task.entry(c.task).or_default().push(i);
    }
    for list in by_task.values_mut() {
        list.sort_by_key(|&i| calls[i].count);
    }
    let preds: Vec<Vec<usize>> = calls
        .iter()
        .map(|c| {
            by_task
                .values()
                .filter_map(|list| {
                    let seen = c.seen[slot(&calls[list[0]])];
                    let n = list.partition_point(|&i| calls[i].count <= seen);
                    n.checked_sub(1).map(|k| list[k])
                })
                .collect()
        })
        .collect();
    let (call_at, ret_at) = layout(calls, &preds);
    let width = 2 * calls.iter().map(|c| c.ops.len()).max().unwrap_or(1).max(1) as u64;
    let mut history = History::with_explicit_order();
    // Each call's first and last operation.
    let mut ends: Vec<Option<(OpId, OpId)>> = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        let mut first_last: Option<(OpId, OpId)> = None;
        for (k, (op, ret)) in c.ops.iter().enumerate() {
            let at = call_at[i] * width + 2 * k as u64;
            let back = match k + 1 == c.ops.len() {
                true => ret_at[i] * width,
                false => at + 1,
            };
            let id = history.op(c.task, op.clone(), ret.clone(), at, back);
            if let Some((_, before)) = first_last {
                history.precedes(before, id);
            }
            first_last = Some((first_last.map_or(id, |(first, _)| first), id));
        }
        ends.push(first_last);
    }
    // The last operations each call follows: its predecessors' last ones, or, for a
    // predecessor with none, what that one follows (the order goes on through it). Calls in
    // the order of their call times, which puts every predecessor first.
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| call_at[i]);
    let mut follows: Vec<Vec<OpId>> = vec![Vec::new(); calls.len()];
    for &i in &order {
        let mut after: Vec<OpId> = Vec::new();
        for &p in &preds[i] {
            match ends[p] {
                Some((_, last)) => after.push(last),
                None => after.extend_from_slice(&follows[p]),
            }
        }
        after.sort_unstable();
        after.dedup();
        if let Some((first, _)) = ends[i] {
            for &p in &after {
                history.precedes(p, first);
            }
        }
        follows[i] = after;
    }
    history
}

/// Positions of the calls and returns of `calls` (each call with its `preds`): an order of
/// them all in which a call comes before its return and after its predecessors' returns,
/// otherwise the order they were logged in.
fn layout<M: Model>(calls: &[Call<M>], preds: &[Vec<usize>]) -> (Vec<u64>, Vec<u64>) {
    let n = calls.len();
    // Where one task logs at a time (the explorers run one at a time), the logged order is
    // such an order already.
    let agrees = preds
        .iter()
        .enumerate()
        .all(|(i, list)| list.iter().all(|&p| calls[p].logged.1 < calls[i].logged.0));
    if agrees {
        return calls.iter().map(|c| c.logged).unzip();
    }
    // Event 2i: call i's call; 2i + 1: its return.
    let mut waiting: Vec<usize> = vec![0; 2 * n];
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); 2 * n];
    for (i, list) in preds.iter().enumerate() {
        waiting[2 * i] = list.len();
        waiting[2 * i + 1] = 1;
        for &p in list {
            next[2 * p + 1].push(2 * i);
        }
        next[2 * i].push(2 * i + 1);
    }
    let logged = |e: usize| {
        let (called, returned) = calls[e / 2].logged;
        if e % 2 == 0 {
            called
        } else {
            returned
        }
    };
    let mut ready: BinaryHeap<Reverse<(u64, usize)>> = (0..2 * n)
        .filter(|&e| waiting[e] == 0)
        .map(|e| Reverse((logged(e), e)))
        .collect();
    let mut at = vec![0; 2 * n];
    let mut position = 0;
    while let Some(Reverse((_, e))) = ready.pop() {
        at[e] = position;
        position += 1;
        for &f in &next[e] {
            waiting[f] -= 1;
            if waiting[f] == 0 {
                ready.push(Reverse((logged(f), f)));
            }
        }
    }
    let call_at = (0..n).map(|i| at[2 * i]).collect();
    let ret_at = (0..n).map(|i| at[2 * i + 1]).collect();
    (call_at, ret_at)
}
