//! A linearizability checker: [`check`].
//!
//! A history is *linearizable* (Herlihy and Wing, 1990) when each of its operations can be
//! given a single instant inside its call..return interval at which it takes effect, so that
//! taking effect in that order, one at a time, the sequential specification (a
//! [`Model`]) accepts every operation with the result it returned.
//!
//! # The search
//!
//! The checker is the depth-first search of Wing and Gong ("Testing and verifying concurrent
//! objects", 1993), with the "just-in-time linearization" of Lowe ("Testing for
//! linearizability", 2017) and the memoization that Lowe and the porcupine checker (Anish
//! Athalye's, in Go) use:
//!
//! - The next operation to take effect must be *minimal*: no other operation still to be
//!   placed returned (strictly) before it was called (in a history with an explicit order,
//!   [`History::with_explicit_order`]: every operation said to precede it is placed). Only
//!   those are tried, earliest return first: the one whose return is the deadline for all of
//!   them is linearized "just in time", the others only ahead of it. A candidate's step is
//!   taken only when it is tried.
//! - Trying one applies [`Model::step`] to the current state with the operation's result; a
//!   refused step prunes that branch, an accepted one goes deeper. When no minimal operation
//!   is accepted, the search backtracks.
//! - The pair (set of operations placed, state) is remembered once reached: the rest of the
//!   search from there depends on nothing else, so reaching it again prunes. Models are
//!   `Eq + Hash` for this. A search of a few dozen steps (a small workload's history, checked
//!   after each execution of an exploration) ends before it pays for that: pairs are
//!   remembered from its 64th step on.
//!
//! The search ends when every operation that returned has been placed (a witness), when it
//! has tried everything (a [`Counterexample`]), or when its time budget is spent.
//!
//! # Pending operations
//!
//! An operation that never returned may have taken effect, at any instant after its call, or
//! not at all. The search treats it as optional: it is a candidate like any minimal operation
//! (it never makes another operation non-minimal, having no return), tried with each result
//! [`Model::outcomes`] allows in the current state (and after the operations that did return,
//! so that it is used only when it helps); and the search succeeds without it once every
//! operation that returned is placed. A witness lists the pending operations that took effect.
//!
//! # P-compositionality
//!
//! Linearizability is *local* (Herlihy and Wing): a history of several independent objects is
//! linearizable if and only if each object's own history is. [`check_partitioned`] uses this
//! (as porcupine's "partitions" and Horn and Kroening's "P-compositionality", 2015) to check
//! one object whose operations fall into independent parts, such as the elements of an
//! `Array` accessed only by `get(i)` and `set(i, v)`, one part at a time: the search of each
//! is small, where the whole one multiplies them.
//!
//! # Budget
//!
//! The search counts its steps (a step: one branch tried or one backtrack) and reads the clock
//! every [`CHECK_EVERY`] steps, starting with the first one; once `budget` has passed it gives
//! up with [`Verdict::Unknown`]. A zero budget thus gives `Unknown` for every history that
//! needs a search (any with an operation that returned). The memo grows with the search; the
//! budget bounds it too.
//!
//! # Cost
//!
//! Linearizability checking is NP-complete (Gibbons and Korach, 1997), and the search is
//! exponential where a wrong guess shows late: on a queue whose items wait long behind puts of
//! uncertain order, each wrong order of two puts is found out only when their items are got,
//! and the history in between is searched again for it. Histories of short queues, locks,
//! semaphores and values (or an array, [`check_partitioned`]) of thousands of operations by
//! a few tasks take well under a second.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use mpcheck_model::Model;

use crate::history::{History, OpId};

/// How many search steps pass between two readings of the clock.
pub const CHECK_EVERY: u64 = 1024;

/// How many search steps pass before the search starts remembering the pairs it reached: a
/// search that ends sooner (the histories of a small workload, checked once per execution of
/// an exploration, take a few dozen steps) never pays for hashing and cloning states it will
/// not meet again; one that goes on is memoized from then on.
const MEMO_AFTER: u64 = 64;

/// What [`check`] found.
#[derive(Clone, Debug)]
pub enum Verdict<M: Model> {
    /// A witness: the operations in an order in which they could have taken effect (every
    /// operation that returned, and the pending ones that took effect).
    Linearizable(Vec<OpId>),
    /// No order exists: the longest order found and where it got stuck.
    NotLinearizable(Counterexample<M>),
    /// The budget ran out before the search ended.
    Unknown,
}

impl<M: Model> Verdict<M> {
    /// Whether it is [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable(_))
    }

    /// The counterexample, if it is [`Verdict::NotLinearizable`].
    pub fn counterexample(&self) -> Option<&Counterexample<M>> {
        match self {
            Verdict::NotLinearizable(counterexample) => Some(counterexample),
            _ => None,
        }
    }
}

/// Why a history is not linearizable: the longest linearizable prefix the search found, and
/// the operations that could have taken effect next and that the model refused.
///
/// Its [`Display`](fmt::Display) prints the history one column per task, in time order, with
/// the prefix's positions and the place where no linearization goes on.
#[derive(Clone, Debug)]
pub struct Counterexample<M: Model> {
    /// The history checked.
    pub history: History<M>,
    /// The longest linearizable prefix: operations in the order they took effect, each with
    /// its result (a pending operation's is the one the search chose).
    pub prefix: Vec<(OpId, M::Ret)>,
    /// The state after the prefix.
    pub state: M,
    /// The operations that returned, were not in the prefix and were minimal after it (could
    /// have taken effect next): the model accepts none of them in [`Counterexample::state`].
    /// One of them must take effect before the earliest of their returns.
    pub stuck: Vec<OpId>,
}

/// Checks whether `history`, of an object that started in state `initial`, is linearizable,
/// giving up after `budget`.
pub fn check<M: Model>(initial: &M, history: &History<M>, budget: Duration) -> Verdict<M> {
    let start = Instant::now();
    let mut search = Search::new(history);
    let root = search.frame(initial.clone(), None, 0, 0);
    if root.deadline.is_none() {
        return Verdict::Linearizable(Vec::new());
    }
    let mut best = search.record(std::slice::from_ref(&root));
    let mut stack = vec![root];
    let mut visited: HashSet<(Bits, M)> = HashSet::new();
    let mut steps: u64 = 0;
    loop {
        if steps % CHECK_EVERY == 0 && start.elapsed() >= budget {
            return Verdict::Unknown;
        }
        steps += 1;
        let Some(top) = stack.last_mut() else {
            return Verdict::NotLinearizable(best.finish(history));
        };
        let Some((i, ret, after)) = top.next_choice(history) else {
            if let Some((i, _)) = stack.pop().and_then(|frame| frame.via) {
                search.placed.clear(i);
            }
            continue;
        };
        let (call_cursor, ret_cursor) = (top.call_cursor, top.ret_cursor);
        search.placed.set(i);
        if steps > MEMO_AFTER && !visited.insert((search.placed.clone(), after.clone())) {
            search.placed.clear(i);
            continue;
        }
        let frame = search.frame(after, Some((i, ret)), call_cursor, ret_cursor);
        let done = frame.deadline.is_none();
        stack.push(frame);
        if done {
            let witness = stack
                .iter()
                .filter_map(|f| f.via.as_ref())
                .map(|(i, _)| OpId(*i));
            return Verdict::Linearizable(witness.collect());
        }
        if stack.len() > best.prefix.len() + 1 {
            best = search.record(&stack);
        }
    }
}

/// [`check`], one part at a time: `key` names the part of the object each operation acts on,
/// and the history is linearizable if each part's operations alone are (checked from
/// `initial`, with what is left of `budget`).
///
/// This is sound only where the parts are independent: every operation reads and changes only
/// its own part of the state, and an operation's result depends on nothing else (for an
/// `ArrayModel`, key `get(i)` and `set(i, _)` by `i`, and `len()` by any index; `to_vec()`
/// reads every part, so a history with it cannot be partitioned).
///
/// A history with an explicit order ([`History::with_explicit_order`]) is checked whole, as by
/// [`check`]: locality holds for the real-time order of intervals, which an explicit order need
/// not be.
///
/// The witness is one order of the whole history (the parts' witnesses merged in an order that
/// respects real time, which locality guarantees to exist). A counterexample is the first
/// non-linearizable part's, in key order: its history is that part alone, and its [`OpId`]s
/// number that part's operations (in their order in `history`).
pub fn check_partitioned<M: Model, K: Ord>(
    initial: &M,
    history: &History<M>,
    key: impl Fn(&M::Op) -> K,
    budget: Duration,
) -> Verdict<M> {
    if history.is_explicit() {
        // Locality rests on real time being an interval order; an explicit order need not be
        // one (two operations each before one of two others, and unordered otherwise).
        return check(initial, history, budget);
    }
    let start = Instant::now();
    let ops = history.operations();
    let mut parts: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        parts.entry(key(&op.op)).or_default().push(i);
    }
    let mut witnesses: Vec<Vec<usize>> = Vec::with_capacity(parts.len());
    for members in parts.values() {
        let mut part = History::new();
        for &i in members {
            let op = &ops[i];
            let id = part.call(op.task, op.op.clone(), op.call);
            if let Some((at, ret)) = &op.ret {
                part.ret(id, ret.clone(), *at);
            }
        }
        let left = budget.saturating_sub(start.elapsed());
        match check(initial, &part, left) {
            Verdict::Linearizable(witness) => {
                witnesses.push(witness.into_iter().map(|id| members[id.0]).collect());
            }
            other => return other,
        }
    }
    Verdict::Linearizable(merge(history, &witnesses))
}

/// One order of all the operations of `witnesses` (disjoint orders, each consistent with real
/// time) that keeps each one's order and real time: a topological sort of the union of those
/// orders with the real-time order (acyclic, by locality), taking any part's next operation
/// once every operation that returned before its call is placed.
fn merge<M: Model>(history: &History<M>, witnesses: &[Vec<usize>]) -> Vec<OpId> {
    let ops = history.operations();
    let mut by_ret: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| op.ret_time().map(|at| (at, i)))
        .collect();
    by_ret.sort_unstable();
    let total: usize = witnesses.iter().map(Vec::len).sum();
    let mut placed = Bits::new(ops.len());
    let mut next = vec![0; witnesses.len()];
    let mut ret_cursor = 0;
    let mut order = Vec::with_capacity(total);
    while order.len() < total {
        while ret_cursor < by_ret.len() && placed.get(by_ret[ret_cursor].1) {
            ret_cursor += 1;
        }
        let deadline = by_ret.get(ret_cursor).map_or(u64::MAX, |(at, _)| *at);
        let part = (0..witnesses.len())
            .find(|&p| {
                witnesses[p]
                    .get(next[p])
                    .is_some_and(|&i| ops[i].call <= deadline)
            })
            .expect("locality: the parts' orders and real time have no cycle");
        let i = witnesses[part][next[part]];
        next[part] += 1;
        placed.set(i);
        order.push(OpId(i));
    }
    order
}

/// A set of operations, by index.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// A node of the search: a state reached by placing the operations on the stack below it.
struct Frame<M: Model> {
    state: M,
    /// The operation placed to get here, with its result (`None` at the root).
    via: Option<(usize, M::Ret)>,
    /// The minimal operations here, in the order they are tried: by return time, pending
    /// operations last. Each one's step is taken only when it is tried.
    candidates: Vec<usize>,
    /// The next candidate to try.
    next: usize,
    /// The outcomes of the pending candidate being tried that are still to try, last first.
    outcomes: Vec<(M::Ret, M)>,
    /// The first unplaced operation in call order.
    call_cursor: usize,
    /// The first unplaced operation that returned, in return order.
    ret_cursor: usize,
    /// Its return time: no operation called after it can be placed next. `None`: every
    /// operation that returned is placed.
    deadline: Option<u64>,
}

impl<M: Model> Frame<M> {
    /// The next branch to try from here: an operation, its result and the state after it.
    fn next_choice(&mut self, history: &History<M>) -> Option<(usize, M::Ret, M)> {
        loop {
            if let Some((ret, after)) = self.outcomes.pop() {
                return Some((self.candidates[self.next - 1], ret, after));
            }
            let &i = self.candidates.get(self.next)?;
            self.next += 1;
            let op = history.get(OpId(i));
            match op.result() {
                Some(ret) => {
                    if let Some(after) = self.state.step(&op.op, ret) {
                        return Some((i, ret.clone(), after));
                    }
                }
                None => {
                    self.outcomes = self.state.outcomes(&op.op);
                    self.outcomes.reverse();
                }
            }
        }
    }
}

struct Search<'h, M: Model> {
    history: &'h History<M>,
    /// Operations by call time.
    by_call: Vec<usize>,
    /// Operations that returned, by return time.
    by_ret: Vec<usize>,
    /// Return times (`u64::MAX` for pending operations).
    ret_at: Vec<u64>,
    /// The operations placed on the current path.
    placed: Bits,
}

/// A counterexample before it owns its history.
struct Record<M: Model> {
    prefix: Vec<(OpId, M::Ret)>,
    state: M,
    stuck: Vec<OpId>,
}

impl<M: Model> Record<M> {
    fn finish(self, history: &History<M>) -> Counterexample<M> {
        Counterexample {
            history: history.clone(),
            prefix: self.prefix,
            state: self.state,
            stuck: self.stuck,
        }
    }
}

impl<'h, M: Model> Search<'h, M> {
    fn new(history: &'h History<M>) -> Self {
        let ops = history.operations();
        let ret_at: Vec<u64> = ops
            .iter()
            .map(|op| op.ret_time().unwrap_or(u64::MAX))
            .collect();
        let mut by_call: Vec<usize> = (0..ops.len()).collect();
        by_call.sort_by_key(|&i| (ops[i].call, i));
        let mut by_ret: Vec<usize> = (0..ops.len()).filter(|&i| !ops[i].is_pending()).collect();
        by_ret.sort_by_key(|&i| (ret_at[i], i));
        Search {
            history,
            by_call,
            by_ret,
            ret_at,
            placed: Bits::new(ops.len()),
        }
    }

    /// The frame for `state`, reached with the current `placed` set; the cursors are the
    /// parent's (they only move forward along a path).
    fn frame(
        &self,
        state: M,
        via: Option<(usize, M::Ret)>,
        mut call_cursor: usize,
        mut ret_cursor: usize,
    ) -> Frame<M> {
        while ret_cursor < self.by_ret.len() && self.placed.get(self.by_ret[ret_cursor]) {
            ret_cursor += 1;
        }
        while call_cursor < self.by_call.len() && self.placed.get(self.by_call[call_cursor]) {
            call_cursor += 1;
        }
        let deadline = self.by_ret.get(ret_cursor).map(|&i| self.ret_at[i]);
        let mut candidates: Vec<usize> = match deadline {
            Some(_) => self.minimal(call_cursor, deadline),
            None => Vec::new(),
        };
        // Just in time (Lowe): the operation that must take effect first (the earliest to
        // return) is tried first, the others by return time; pending operations last.
        candidates.sort_by_key(|&i| self.ret_at[i]);
        Frame {
            state,
            via,
            candidates,
            next: 0,
            outcomes: Vec::new(),
            call_cursor,
            ret_cursor,
            deadline,
        }
    }

    /// The minimal unplaced operations: with an explicit order, those whose predecessors are
    /// all placed; otherwise those called no later than `deadline`, from `call_cursor` on.
    fn minimal(&self, call_cursor: usize, deadline: Option<u64>) -> Vec<usize> {
        let ops = self.history.operations();
        if let Some(preds) = self.history.explicit_order() {
            return (0..ops.len())
                .filter(|&i| !self.placed.get(i) && preds[i].iter().all(|p| self.placed.get(p.0)))
                .collect();
        }
        let deadline = deadline.unwrap_or(0);
        self.by_call[call_cursor..]
            .iter()
            .copied()
            .take_while(|&i| ops[i].call <= deadline)
            .filter(|&i| !self.placed.get(i))
            .collect()
    }

    /// The counterexample if `stack` (whose top matches `placed`) is the deepest path.
    fn record(&self, stack: &[Frame<M>]) -> Record<M> {
        let top = &stack[stack.len() - 1];
        let prefix = stack
            .iter()
            .filter_map(|f| f.via.as_ref())
            .map(|(i, ret)| (OpId(*i), ret.clone()))
            .collect();
        let stuck = self
            .minimal(top.call_cursor, top.deadline)
            .into_iter()
            .filter(|&i| self.ret_at[i] != u64::MAX)
            .map(OpId)
            .collect();
        Record {
            prefix,
            state: top.state.clone(),
            stuck,
        }
    }
}

/// The widest a cell of the printed history gets.
const CELL_WIDTH: usize = 60;

fn cell(text: String) -> String {
    if text.chars().count() <= CELL_WIDTH {
        text
    } else {
        let mut cut: String = text.chars().take(CELL_WIDTH - 3).collect();
        cut.push_str("...");
        cut
    }
}

impl<M: Model> fmt::Display for Counterexample<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops = self.history.operations();
        let position: HashMap<OpId, usize> = self
            .prefix
            .iter()
            .enumerate()
            .map(|(k, (id, _))| (*id, k + 1))
            .collect();
        let chosen: HashMap<OpId, &M::Ret> = self.prefix.iter().map(|(id, r)| (*id, r)).collect();
        let stuck: HashSet<OpId> = self.stuck.iter().copied().collect();
        // The first of the stuck operations to return: by then one of them had to take effect.
        let deadline = self
            .stuck
            .iter()
            .copied()
            .min_by_key(|id| (ops[id.0].ret_time(), *id));

        match self.prefix.len() {
            0 => writeln!(
                f,
                "not linearizable: {} operations, none of which can take effect first",
                ops.len()
            )?,
            n => writeln!(
                f,
                "not linearizable: {} operations, of which the longest linearizable prefix has \
                 {n} (numbered [1]..[{n}] below, in the order they take effect)",
                ops.len()
            )?,
        }
        writeln!(f, "state after the prefix: {:?}", self.state)?;
        writeln!(f, "none of these can take effect next (marked [x]):")?;
        for id in &self.stuck {
            let op = &ops[id.0];
            let allowed: Vec<String> = self
                .state
                .outcomes(&op.op)
                .iter()
                .map(|(ret, _)| format!("{ret:?}"))
                .collect();
            let allowed = if allowed.is_empty() {
                "nothing (it would block)".to_string()
            } else {
                allowed.join(", ")
            };
            let ret = op.result().map_or(String::new(), |r| format!("{r:?}"));
            writeln!(
                f,
                "  {id} task {}: {:?} returned {ret}; the model allows {allowed}",
                op.task, op.op
            )?;
        }
        writeln!(f)?;

        let tasks = self.history.tasks();
        let column: HashMap<u32, usize> = tasks.iter().enumerate().map(|(c, t)| (*t, c)).collect();
        // Events in time order, calls before returns at the same time (they overlap).
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, false, i));
            if let Some(at) = op.ret_time() {
                events.push((at, true, i));
            }
        }
        events.sort_unstable();

        // Rows: (time, cells), or a marker line (`None`).
        let mut rows: Vec<Option<(String, Vec<String>)>> = Vec::new();
        let mut open: Vec<usize> = vec![0; tasks.len()];
        for &(at, is_ret, i) in &events {
            let id = OpId(i);
            let op = &ops[i];
            let c = column[&op.task];
            let mark = match position.get(&id) {
                Some(k) => format!(" [{k}]"),
                None if stuck.contains(&id) => " [x]".to_string(),
                None => String::new(),
            };
            let text = if is_ret {
                open[c] -= 1;
                let ret = op.result().map_or(String::new(), |r| format!("{r:?}"));
                format!("\\ {id} -> {ret}{mark}")
            } else {
                open[c] += 1;
                if op.is_pending() {
                    let taken = match chosen.get(&id) {
                        Some(r) => format!(" (pending: took effect -> {r:?}{mark})"),
                        None => " (pending)".to_string(),
                    };
                    format!("/ {id} {:?}{taken}", op.op)
                } else {
                    format!("/ {id} {:?}", op.op)
                }
            };
            let cells = (0..tasks.len())
                .map(|k| match (k == c, open[k] > 0) {
                    (true, _) => cell(text.clone()),
                    (false, true) => "|".to_string(),
                    (false, false) => String::new(),
                })
                .collect();
            rows.push(Some((at.to_string(), cells)));
            if is_ret && Some(id) == deadline {
                rows.push(None);
            }
        }
        if open.iter().any(|&n| n > 0) {
            let cells = open
                .iter()
                .map(|&n| {
                    if n > 0 {
                        ": never returned".to_string()
                    } else {
                        String::new()
                    }
                })
                .collect();
            rows.push(Some(("end".to_string(), cells)));
        }

        let headers: Vec<String> = tasks.iter().map(|t| format!("task {t}")).collect();
        let time_width = rows
            .iter()
            .flatten()
            .map(|(t, _)| t.len())
            .chain(["time".len()])
            .max()
            .unwrap_or(4);
        let widths: Vec<usize> = (0..tasks.len())
            .map(|c| {
                rows.iter()
                    .flatten()
                    .map(|(_, cells)| cells[c].chars().count())
                    .chain([headers[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, time: &str, cells: &[String]| -> fmt::Result {
            let mut text = format!("{time:>time_width$}");
            for (cell, width) in cells.iter().zip(&widths) {
                text.push_str(&format!(" | {cell:<width$}"));
            }
            writeln!(f, "{}", text.trim_end())
        };
        line(f, "time", &headers)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &"-".repeat(time_width), &rule)?;
        for row in &rows {
            match row {
                Some((time, cells)) => line(f, time, cells)?,
                None => {
                    let stuck: Vec<String> = self.stuck.iter().map(|id| id.to_string()).collect();
                    let after = match self.prefix.len() {
                        0 => "first".to_string(),
                        n => format!("after [{n}]"),
                    };
                    writeln!(
                        f,
                        "{:>time_width$} >>> no linearization: by here one of {} must have \
                         taken effect {after}, and the model accepts none of them",
                        "",
                        stuck.join(", "),
                    )?;
                }
            }
        }
        Ok(())
    }
}
