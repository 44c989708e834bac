//! [`History`]: a concurrent history of one object.
//!
//! A history is a set of [`Operation`]s, each made by one task: the model operation, the time
//! it was called and, once it returned, the time it returned and its result. All times are
//! read from one clock (any `u64` scale: nanoseconds, a logical counter, a simulator's step
//! number). Two operations are ordered in real time only when one *returned strictly before*
//! the other was *called*; equal times count as overlapping.
//!
//! Where times cannot be read from one clock (tasks that count their returns on clocks of
//! their own, so that an explorer need not order them), the real-time order is given
//! explicitly instead ([`History::with_explicit_order`], [`History::precedes`]): operations are
//! ordered exactly where the history says so, and the times only lay it out for printing.
//!
//! An operation with no return is *pending*: its task called it and the history ended (or the
//! task died) before it returned. It may or may not have taken effect, with any result the
//! model allows.
//!
//! Tasks are plain numbers ([`TaskId`]): the checker only needs them to print a history one
//! column per task. Where a model's behaviour depends on who calls (an `RLock`, a `Condition`),
//! the caller is part of the model operation itself, as a [`mpcheck_model::Caller`].
//!
//! ```
//! use mpcheck_model::lock::{LockModel, LockOp, LockRet};
//! use mpcheck_model::Wait;
//! use mpcheck_properties::History;
//!
//! let mut h = History::<LockModel>::new();
//! let a = h.call(0, LockOp::Acquire(Wait::Forever), 0);
//! h.ret(a, LockRet::Acquired, 5);
//! // Task 1's acquire never returned: it is pending.
//! h.call(1, LockOp::Acquire(Wait::Forever), 3);
//! // The shorthand for a call and its return.
//! h.op(0, LockOp::Release, LockRet::Released, 6, 7);
//! assert_eq!(h.len(), 3);
//! ```

use mpcheck_model::Model;

/// A task of a history (a process and thread, numbered however the history likes).
pub type TaskId = u32;

/// An operation of a [`History`]: its index, in the order the operations were added.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OpId(pub usize);

impl std::fmt::Display for OpId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One operation of a history.
#[derive(Clone, Debug)]
pub struct Operation<M: Model> {
    /// The task that called it.
    pub task: TaskId,
    /// The model operation.
    pub op: M::Op,
    /// When it was called.
    pub call: u64,
    /// When it returned and what it returned; `None` while pending.
    pub ret: Option<(u64, M::Ret)>,
}

impl<M: Model> Operation<M> {
    /// Whether it never returned.
    pub fn is_pending(&self) -> bool {
        self.ret.is_none()
    }

    /// When it returned, if it did.
    pub fn ret_time(&self) -> Option<u64> {
        self.ret.as_ref().map(|(at, _)| *at)
    }

    /// What it returned, if it did.
    pub fn result(&self) -> Option<&M::Ret> {
        self.ret.as_ref().map(|(_, ret)| ret)
    }
}

/// A concurrent history of one object whose sequential specification is `M`.
#[derive(Clone, Debug)]
pub struct History<M: Model> {
    ops: Vec<Operation<M>>,
    /// With an explicit order: each operation's direct predecessors.
    preds: Option<Vec<Vec<OpId>>>,
}

impl<M: Model> Default for History<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Model> History<M> {
    /// An empty history.
    pub fn new() -> Self {
        History {
            ops: Vec::new(),
            preds: None,
        }
    }

    /// An empty history whose real-time order is explicit: operation `a` is ordered before
    /// operation `b` only where [`History::precedes`] says so (directly, or through others).
    /// Times are still given, and must agree with that order (an operation said to precede
    /// another returned before the other was called); they only lay the history out when it
    /// is printed.
    pub fn with_explicit_order() -> Self {
        History {
            ops: Vec::new(),
            preds: Some(Vec::new()),
        }
    }

    /// Whether the real-time order is explicit ([`History::with_explicit_order`]).
    pub fn is_explicit(&self) -> bool {
        self.preds.is_some()
    }

    /// In a history with an explicit order, `earlier` returned before `later` was called.
    ///
    /// # Panics
    ///
    /// If the order is not explicit, if either is not an operation of this history, if
    /// `earlier` has not returned, or if its return time is not before `later`'s call time.
    pub fn precedes(&mut self, earlier: OpId, later: OpId) {
        let (first, second) = (&self.ops[earlier.0], &self.ops[later.0]);
        let returned = first
            .ret_time()
            .expect("only an operation that returned precedes one");
        assert!(
            returned < second.call,
            "{earlier} returned at {returned}, not before {later} was called at {}",
            second.call
        );
        let preds = self
            .preds
            .as_mut()
            .expect("History::precedes: the order is not explicit (History::with_explicit_order)");
        preds[later.0].push(earlier);
    }

    /// The operations said to precede `id` directly ([`History::precedes`]); `None` where the
    /// order is the times' (or `id` is not an operation of this history).
    pub fn predecessors(&self, id: OpId) -> Option<&[OpId]> {
        self.preds.as_ref()?.get(id.0).map(Vec::as_slice)
    }

    /// `task` called `op` at time `at`: a pending operation until [`History::ret`].
    ///
    /// Operations may be added in any order (times need not increase); a task's own operations
    /// are expected not to overlap, but nothing relies on it.
    pub fn call(&mut self, task: TaskId, op: M::Op, at: u64) -> OpId {
        self.ops.push(Operation {
            task,
            op,
            call: at,
            ret: None,
        });
        if let Some(preds) = &mut self.preds {
            preds.push(Vec::new());
        }
        OpId(self.ops.len() - 1)
    }

    /// Operation `id` returned `ret` at time `at`.
    ///
    /// # Panics
    ///
    /// If `id` is not an operation of this history, has already returned, or `at` is before
    /// its call.
    pub fn ret(&mut self, id: OpId, ret: M::Ret, at: u64) {
        let op = &mut self.ops[id.0];
        assert!(op.ret.is_none(), "operation {id} returned twice");
        assert!(
            at >= op.call,
            "operation {id} returned at {at}, before its call at {}",
            op.call
        );
        op.ret = Some((at, ret));
    }

    /// `task` called `op` at `call` and it returned `ret` at `returned`: [`History::call`] then
    /// [`History::ret`].
    pub fn op(&mut self, task: TaskId, op: M::Op, ret: M::Ret, call: u64, returned: u64) -> OpId {
        let id = self.call(task, op, call);
        self.ret(id, ret, returned);
        id
    }

    /// Every operation's direct predecessors, where the order is explicit.
    pub(crate) fn explicit_order(&self) -> Option<&[Vec<OpId>]> {
        self.preds.as_deref()
    }

    /// The operations, by [`OpId`].
    pub fn operations(&self) -> &[Operation<M>] {
        &self.ops
    }

    /// Operation `id`.
    ///
    /// # Panics
    ///
    /// If `id` is not an operation of this history.
    pub fn get(&self, id: OpId) -> &Operation<M> {
        &self.ops[id.0]
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether it has no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The tasks that appear in it, in increasing order.
    pub fn tasks(&self) -> Vec<TaskId> {
        let mut tasks: Vec<TaskId> = self.ops.iter().map(|op| op.task).collect();
        tasks.sort_unstable();
        tasks.dedup();
        tasks
    }
}
