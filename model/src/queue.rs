//! [`QueueModel`]: `mpcheck::Queue`, `SimpleQueue` and `JoinableQueue`.
//!
//! One FIFO of items, an optional `maxsize`, a closed flag and (joinable queues) a count of
//! unfinished items. `put` / `get` are [`QueueOp::Put`] / [`QueueOp::Get`] with
//! [`Wait::Forever`], not enabled while the queue is full / empty; `try_put` / `put_timeout`
//! and `try_get` / `get_timeout` are the same with [`Wait::Bounded`], returning `Full` /
//! `Empty` where they would wait. `join` is enabled only when no item is unfinished.
//!
//! What the real queues guarantee, and where the model is stricter or looser:
//!
//! - A put takes effect when its item can be got, a get when it takes its item. Items come out
//!   in the order their puts took effect.
//! - `qsize()` is exact only while no put or get is under way: a put counts from the moment it
//!   has its place (before its item can be got), and on a queue without `maxsize` a frame being
//!   written or read counts once per 8-byte slot. It never under-counts. The model allows any
//!   `qsize` from the length up to `size_slack` more (and at most `maxsize`): set the slack to
//!   what the history's concurrent puts and gets could add, or 0 for an exact queue.
//!   `empty()` is `qsize() == 0` and `full()` compares the same count with `maxsize`, so they
//!   follow: with a slack, `empty()` may be `false` on an empty queue and `full()` `true` one
//!   item short.
//! - The ring publishes items in the order their puts took their places (tickets): a get (even
//!   `try_get`) finds the head's place still being written when a slower put reserved it, and
//!   a `try_get` or `get_timeout` then returns `Empty`, even if a later put has already
//!   *finished* and its item sits behind (found by recorded histories under the simulator:
//!   mpcheck-properties' tests/recorded.rs). No sequential order of whole puts explains that,
//!   so a put may also be two operations of the model, both inside its call:
//!   [`QueueOp::Reserve`] (it takes its place, and counts in `qsize`) then
//!   [`QueueOp::Publish`] (its item can be got). A bounded get whose head place is reserved
//!   and not yet published may return `Empty`; a waiting get is not enabled there. A whole
//!   [`QueueOp::Put`] is both at once. Both halves name the putting task (a [`Caller`]): a
//!   place is its putter's, so that two puts of equal items in flight at once publish each its
//!   own place (a put of `2` publishing the place another put of `2` reserved before it would
//!   make a get find an item the real queue has not published yet: found by Lincheck under
//!   loom, mpcheck-properties' tests/primitives.rs).
//! - A bounded get that finds the head's place reserved on a *closed* queue may return `Empty`
//!   as well (not `Closed`: an item is still coming), as the real `try_get` does (found by
//!   Lincheck under shuttle).
//! - A put whose place was reserved as the queue was closed, before it could publish, gives the
//!   place up and is refused `Closed`: meanwhile its place counted (another `try_put` may
//!   have found the queue full), so a put refused `Closed` may be two operations of the model
//!   as well, [`QueueOp::Hold`] (a place if the queue is open and has room, nothing if it is
//!   closed) then [`QueueOp::Withdraw`] (once closed: the place given up). Found by the
//!   linearizability property `bounded_queue_linearizable` under the simulator's PCT and
//!   shuttle.
//! - A put on a closed queue is `Closed`; a `try_put` on a queue both full and closed may be
//!   `Full` or `Closed` (which one the ring sees first is not fixed). A get on a closed queue
//!   returns the items left, then `Closed` (also for `try_get`).
//! - Items are assumed to fit the queue's byte capacity (64 KiB by default): a put that waits
//!   for bytes rather than for `maxsize` is not modelled (a `try_put` refused for bytes is
//!   `Full` in reality and rejected here). Nor are `TooLarge`, `Encode`/`Decode` or `ItemLost`.
//! - `SimpleQueue` is an unbounded queue used with `put`, `get`, `empty` and `close` only.
//!   `task_done` and `join` are not operations of a non-joinable queue (never enabled).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::hash::Hash;

use crate::{Caller, ErrorKind, Model, Wait};

/// The operations of a queue.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum QueueOp<T> {
    /// `put` (`Forever`), `try_put` / `put_timeout` (`Bounded`): taking a place and
    /// publishing the item at once.
    Put(T, Wait),
    /// The first half of a put that succeeded, by this caller: it takes its place (as `Put`
    /// does, counted by `qsize` and a joinable queue's unfinished count), its item not yet
    /// visible to gets.
    Reserve(Caller, T, Wait),
    /// The second half: the place this caller reserved for this item can be got from now on.
    /// Enabled only after its `Reserve`.
    Publish(Caller, T),
    /// The first half of a put refused with `Closed`, by this caller: on an open queue with
    /// room it takes a place (as `Reserve`), on a closed one nothing; on an open full queue it
    /// is not enabled (the put waits, or it is refused `Full`, not `Closed`).
    Hold(Caller, T, Wait),
    /// The second half: the queue is closed (enabled only then), and the place this caller
    /// holds for this item, if any, is given up: the result is `Err(Closed)`.
    Withdraw(Caller, T),
    /// `get` (`Forever`), `try_get` / `get_timeout` (`Bounded`).
    Get(Wait),
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
    /// `JoinableQueue::task_done`.
    TaskDone,
    /// `JoinableQueue::join`.
    Join,
}

/// The results of queue operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum QueueRet<T> {
    /// `put`, `close`, `task_done` or `join` returned `Ok(())` / returned.
    Done,
    /// A get returned this item.
    Got(T),
    /// What `qsize()` returned.
    Size(usize),
    /// What `empty()` returned.
    IsEmpty(bool),
    /// What `full()` returned.
    IsFull(bool),
    /// What `is_closed()` returned.
    IsClosed(bool),
    /// An error: `Full`, `Empty`, `Closed`, `TaskDoneTooManyTimes`.
    Err(ErrorKind),
}

/// A queue of `T`s.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct QueueModel<T> {
    /// The places, front first: each item, with its putter while it is not published (cannot
    /// be got yet).
    items: VecDeque<(T, Option<Caller>)>,
    maxsize: Option<usize>,
    closed: bool,
    /// `Some(unfinished)` for a joinable queue.
    unfinished: Option<u64>,
    size_slack: usize,
}

impl<T> QueueModel<T> {
    /// `Queue::new()` (and `SimpleQueue::new()`): no `maxsize`.
    pub fn new() -> Self {
        QueueModel {
            items: VecDeque::new(),
            maxsize: None,
            closed: false,
            unfinished: None,
            size_slack: 0,
        }
    }

    /// `Queue::bounded(maxsize)` (`maxsize` ≥ 1: the real constructor refuses 0).
    pub fn bounded(maxsize: usize) -> Self {
        QueueModel {
            maxsize: Some(maxsize),
            ..Self::new()
        }
    }

    /// This queue as a `JoinableQueue` (`JoinableQueue::new()` / `bounded(n)`).
    pub fn joinable(self) -> Self {
        QueueModel {
            unfinished: Some(0),
            ..self
        }
    }

    /// This queue with `qsize` allowed to read up to `slack` more than its length.
    pub fn with_size_slack(self, slack: usize) -> Self {
        QueueModel {
            size_slack: slack,
            ..self
        }
    }

    /// The items, front first (published or not).
    pub fn items(&self) -> VecDeque<T>
    where
        T: Clone,
    {
        self.items.iter().map(|(item, _)| item.clone()).collect()
    }

    fn has_room(&self) -> bool {
        self.maxsize.is_none_or(|max| self.items.len() < max)
    }
}

impl<T> Default for QueueModel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> QueueModel<T> {
    /// A put of `item`; `putter`: a reservation by that task, not yet published.
    fn put(&self, item: &T, wait: Wait, putter: Option<Caller>) -> Vec<(QueueRet<T>, Self)> {
        let err = |e| (QueueRet::Err(e), self.clone());
        match (self.closed, self.has_room(), wait) {
            (true, false, Wait::Bounded) => vec![err(ErrorKind::Closed), err(ErrorKind::Full)],
            (true, _, _) => vec![err(ErrorKind::Closed)],
            (false, true, _) => {
                let mut after = self.clone();
                after.items.push_back((item.clone(), putter));
                after.unfinished = after.unfinished.map(|n| n + 1);
                vec![(QueueRet::Done, after)]
            }
            (false, false, Wait::Bounded) => vec![err(ErrorKind::Full)],
            (false, false, Wait::Forever) => vec![],
        }
    }

    fn get(&self, wait: Wait) -> Vec<(QueueRet<T>, Self)> {
        let mut after = self.clone();
        match (after.items.pop_front(), self.closed, wait) {
            (Some((item, None)), _, _) => vec![(QueueRet::Got(item), after)],
            // The head's place is still being written: a bounded get may give up (on a closed
            // queue too: it is `Empty` now, and the put in flight took its place before the
            // close), a waiting one waits.
            (Some((_, Some(_))), _, Wait::Bounded) => {
                vec![(QueueRet::Err(ErrorKind::Empty), self.clone())]
            }
            (Some((_, Some(_))), _, _) => vec![],
            (None, true, _) => vec![(QueueRet::Err(ErrorKind::Closed), after)],
            (None, false, Wait::Bounded) => vec![(QueueRet::Err(ErrorKind::Empty), after)],
            (None, false, Wait::Forever) => vec![],
        }
    }

    /// The counts `qsize` may read.
    fn sizes(&self) -> std::ops::RangeInclusive<usize> {
        let len = self.items.len();
        let most = len.saturating_add(self.size_slack);
        len..=self.maxsize.map_or(most, |max| most.min(max))
    }
}

impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> Model for QueueModel<T> {
    type Op = QueueOp<T>;
    type Ret = QueueRet<T>;

    fn outcomes(&self, op: &QueueOp<T>) -> Vec<(QueueRet<T>, Self)> {
        let same = |rets: Vec<QueueRet<T>>| rets.into_iter().map(|r| (r, self.clone())).collect();
        match op {
            QueueOp::Put(item, wait) => self.put(item, *wait, None),
            QueueOp::Reserve(caller, item, wait) => self.put(item, *wait, Some(*caller)),
            QueueOp::Publish(caller, item) => {
                let mut after = self.clone();
                match after
                    .items
                    .iter_mut()
                    .find(|(i, putter)| i == item && *putter == Some(*caller))
                {
                    Some(place) => {
                        place.1 = None;
                        vec![(QueueRet::Done, after)]
                    }
                    None => vec![],
                }
            }
            QueueOp::Hold(caller, item, wait) => match (self.closed, self.has_room()) {
                (true, _) => same(vec![QueueRet::Done]),
                (false, true) => self.put(item, *wait, Some(*caller)),
                (false, false) => vec![],
            },
            QueueOp::Withdraw(caller, item) if self.closed => {
                let mut after = self.clone();
                let held = after
                    .items
                    .iter()
                    .position(|(i, putter)| i == item && *putter == Some(*caller));
                if let Some(at) = held {
                    after.items.remove(at);
                    after.unfinished = after.unfinished.map(|n| n - 1);
                }
                vec![(QueueRet::Err(ErrorKind::Closed), after)]
            }
            QueueOp::Withdraw(..) => vec![],
            QueueOp::Get(wait) => self.get(*wait),
            QueueOp::Qsize => same(self.sizes().map(QueueRet::Size).collect()),
            QueueOp::Empty => {
                let mut reads: Vec<bool> = self.sizes().map(|n| n == 0).collect();
                reads.dedup();
                same(reads.into_iter().map(QueueRet::IsEmpty).collect())
            }
            QueueOp::Full => {
                let full = |n| self.maxsize.is_some_and(|max| n >= max);
                let mut reads: Vec<bool> = self.sizes().map(full).collect();
                reads.dedup();
                same(reads.into_iter().map(QueueRet::IsFull).collect())
            }
            QueueOp::Close => {
                let closed = QueueModel {
                    closed: true,
                    ..self.clone()
                };
                vec![(QueueRet::Done, closed)]
            }
            QueueOp::IsClosed => same(vec![QueueRet::IsClosed(self.closed)]),
            QueueOp::TaskDone => match self.unfinished {
                None => vec![],
                Some(0) => same(vec![QueueRet::Err(ErrorKind::TaskDoneTooManyTimes)]),
                Some(n) => {
                    let after = QueueModel {
                        unfinished: Some(n - 1),
                        ..self.clone()
                    };
                    vec![(QueueRet::Done, after)]
                }
            },
            QueueOp::Join if self.unfinished == Some(0) => same(vec![QueueRet::Done]),
            QueueOp::Join => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    type Q = QueueModel<u8>;

    const A: Caller = Caller::new(1, 0);
    const B: Caller = Caller::new(2, 0);

    fn put(item: u8, wait: Wait) -> (QueueOp<u8>, QueueRet<u8>) {
        (QueueOp::Put(item, wait), QueueRet::Done)
    }

    fn got(item: u8, wait: Wait) -> (QueueOp<u8>, QueueRet<u8>) {
        (QueueOp::Get(wait), QueueRet::Got(item))
    }

    fn err(op: QueueOp<u8>, e: ErrorKind) -> (QueueOp<u8>, QueueRet<u8>) {
        (op, QueueRet::Err(e))
    }

    #[test]
    fn fifo_and_empty() {
        let steps = [
            err(QueueOp::Get(Wait::Bounded), ErrorKind::Empty),
            put(1, Wait::Forever),
            put(2, Wait::Bounded),
            (QueueOp::Qsize, QueueRet::Size(2)),
            (QueueOp::Full, QueueRet::IsFull(false)),
            got(1, Wait::Forever),
            got(2, Wait::Bounded),
            (QueueOp::Empty, QueueRet::IsEmpty(true)),
        ];
        assert_eq!(run(&Q::new(), &steps), Ok(Q::new()));
        assert!(Q::new().outcomes(&QueueOp::Get(Wait::Forever)).is_empty());
        // Out of order is refused.
        let out_of_order = [
            put(1, Wait::Forever),
            put(2, Wait::Forever),
            got(2, Wait::Forever),
        ];
        assert_eq!(run(&Q::new(), &out_of_order), Err(2));
    }

    #[test]
    fn a_get_behind_a_reserved_place_may_give_up_or_waits() {
        let reserve = |item| (QueueOp::Reserve(A, item, Wait::Forever), QueueRet::Done);
        let publish = |item| (QueueOp::Publish(A, item), QueueRet::Done);
        // 1 reserved first, 2 reserved and published after it: a try_get finds the head
        // unpublished and gives up, a get waits; once 1 is published both come out in order.
        let state = run(&Q::new(), &[reserve(1), reserve(2), publish(2)]).unwrap();
        assert_eq!(
            state.outcomes(&QueueOp::Get(Wait::Bounded)),
            vec![(QueueRet::Err(ErrorKind::Empty), state.clone())]
        );
        assert!(state.outcomes(&QueueOp::Get(Wait::Forever)).is_empty());
        assert_eq!(state.outcomes(&QueueOp::Qsize)[0].0, QueueRet::Size(2));
        let steps = [publish(1), got(1, Wait::Bounded), got(2, Wait::Forever)];
        assert_eq!(run(&state, &steps), Ok(Q::new()));
        // A publication needs its reservation, once.
        assert!(Q::new().outcomes(&QueueOp::Publish(A, 1)).is_empty());
        assert_eq!(
            run(&Q::new(), &[reserve(1), publish(1), publish(1)]),
            Err(2)
        );
    }

    #[test]
    fn equal_items_in_flight_publish_each_its_own_place() {
        // A reserves 2, then B reserves 2 and publishes it: the head is still A's, unpublished,
        // so a try_get may give up (and a get waits) until A publishes.
        let reserve = |who, item| (QueueOp::Reserve(who, item, Wait::Bounded), QueueRet::Done);
        let publish = |who, item| (QueueOp::Publish(who, item), QueueRet::Done);
        let state = run(&Q::new(), &[reserve(A, 2), reserve(B, 2), publish(B, 2)]).unwrap();
        assert_eq!(
            state.outcomes(&QueueOp::Get(Wait::Bounded)),
            vec![(QueueRet::Err(ErrorKind::Empty), state.clone())]
        );
        assert!(state.outcomes(&QueueOp::Get(Wait::Forever)).is_empty());
        // Closed meanwhile: a try_get still finds the head unpublished and gives up.
        let closed = run(&state, &[(QueueOp::Close, QueueRet::Done)]).unwrap();
        assert_eq!(
            closed.outcomes(&QueueOp::Get(Wait::Bounded)),
            vec![(QueueRet::Err(ErrorKind::Empty), closed.clone())]
        );
        // B cannot publish A's place, nor its own twice.
        assert!(state.outcomes(&QueueOp::Publish(B, 2)).is_empty());
        let steps = [publish(A, 2), got(2, Wait::Bounded), got(2, Wait::Bounded)];
        assert_eq!(run(&state, &steps), Ok(Q::new()));
    }

    #[test]
    fn a_put_refused_closed_may_have_held_a_place_meanwhile() {
        let q = Q::bounded(1).joinable();
        let hold = |item| (QueueOp::Hold(A, item, Wait::Bounded), QueueRet::Done);
        let withdraw = |item| err(QueueOp::Withdraw(A, item), ErrorKind::Closed);
        // A holds the only place: B's try_put is refused Full, the count and unfinished see it.
        let held = run(&q, &[hold(1)]).unwrap();
        let steps = [
            err(QueueOp::Put(2, Wait::Bounded), ErrorKind::Full),
            (QueueOp::Qsize, QueueRet::Size(1)),
        ];
        assert!(run(&held, &steps).is_ok());
        // Withdrawing needs the close; then the place is given up, and unfinished with it.
        assert!(held.outcomes(&QueueOp::Withdraw(A, 1)).is_empty());
        let closed = run(&held, &[(QueueOp::Close, QueueRet::Done), withdraw(1)]).unwrap();
        assert_eq!(closed.items(), VecDeque::new());
        assert_eq!(
            closed.outcomes(&QueueOp::TaskDone)[0].0,
            QueueRet::Err(ErrorKind::TaskDoneTooManyTimes)
        );
        // On a closed queue a hold takes nothing; on a full open one it is not enabled.
        let steps = [(QueueOp::Close, QueueRet::Done), hold(1), withdraw(1)];
        assert_eq!(run(&q, &steps).unwrap().items(), VecDeque::new());
        assert!(run(&q, &[put(3, Wait::Forever)])
            .unwrap()
            .outcomes(&QueueOp::Hold(A, 1, Wait::Bounded))
            .is_empty());
    }

    #[test]
    fn maxsize_makes_put_wait_or_fail_with_full() {
        let q = Q::bounded(1);
        let steps = [
            put(1, Wait::Forever),
            (QueueOp::Full, QueueRet::IsFull(true)),
            err(QueueOp::Put(2, Wait::Bounded), ErrorKind::Full),
            got(1, Wait::Forever),
            put(3, Wait::Bounded),
        ];
        let state = run(&q, &steps).unwrap();
        assert_eq!(state.items(), VecDeque::from([3]));
        assert!(state.outcomes(&QueueOp::Put(4, Wait::Forever)).is_empty());
    }

    #[test]
    fn close_refuses_puts_and_drains_gets() {
        let steps = [
            put(1, Wait::Forever),
            (QueueOp::Close, QueueRet::Done),
            (QueueOp::IsClosed, QueueRet::IsClosed(true)),
            err(QueueOp::Put(2, Wait::Forever), ErrorKind::Closed),
            got(1, Wait::Forever),
            err(QueueOp::Get(Wait::Forever), ErrorKind::Closed),
            err(QueueOp::Get(Wait::Bounded), ErrorKind::Closed),
        ];
        assert!(run(&Q::new(), &steps).is_ok());
        let full_and_closed = run(
            &Q::bounded(1),
            &[put(1, Wait::Forever), (QueueOp::Close, QueueRet::Done)],
        )
        .unwrap();
        assert_eq!(
            full_and_closed
                .outcomes(&QueueOp::Put(2, Wait::Bounded))
                .len(),
            2
        );
    }

    #[test]
    fn joinable_join_is_enabled_only_when_nothing_is_unfinished() {
        let q = Q::new().joinable();
        let steps = [
            (QueueOp::Join, QueueRet::Done),
            err(QueueOp::TaskDone, ErrorKind::TaskDoneTooManyTimes),
            put(1, Wait::Forever),
            put(2, Wait::Forever),
            got(1, Wait::Forever),
            (QueueOp::TaskDone, QueueRet::Done),
        ];
        let state = run(&q, &steps).unwrap();
        assert!(state.outcomes(&QueueOp::Join).is_empty());
        let rest = [
            got(2, Wait::Forever),
            (QueueOp::TaskDone, QueueRet::Done),
            (QueueOp::Join, QueueRet::Done),
        ];
        assert_eq!(run(&state, &rest), Ok(q));
        assert!(
            Q::new().outcomes(&QueueOp::Join).is_empty(),
            "not a joinable queue"
        );
    }

    #[test]
    fn size_slack_allows_over_counts_only() {
        let q = Q::bounded(3).with_size_slack(2);
        let one = run(&q, &[put(1, Wait::Forever)]).unwrap();
        let sizes: Vec<_> = one
            .outcomes(&QueueOp::Qsize)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(
            sizes,
            [QueueRet::Size(1), QueueRet::Size(2), QueueRet::Size(3)]
        );
        assert_eq!(one.step(&QueueOp::Qsize, &QueueRet::Size(0)), None);
        assert_eq!(one.step(&QueueOp::Empty, &QueueRet::IsEmpty(true)), None);
        assert!(one.step(&QueueOp::Full, &QueueRet::IsFull(true)).is_some());
        assert!(q.step(&QueueOp::Empty, &QueueRet::IsEmpty(false)).is_some());
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let queues = [
            Q::new(),
            Q::bounded(1),
            Q::bounded(2).joinable(),
            Q::bounded(2).with_size_slack(1),
        ];
        let prefixes: [&[(QueueOp<u8>, QueueRet<u8>)]; 4] = [
            &[],
            &[put(7, Wait::Forever)],
            &[put(7, Wait::Forever), (QueueOp::Close, QueueRet::Done)],
            &[put(7, Wait::Forever), got(7, Wait::Forever)],
        ];
        let mut rets = vec![
            QueueRet::Done,
            QueueRet::Got(7),
            QueueRet::Got(8),
            QueueRet::Err(ErrorKind::Full),
            QueueRet::Err(ErrorKind::Empty),
            QueueRet::Err(ErrorKind::Closed),
            QueueRet::Err(ErrorKind::TaskDoneTooManyTimes),
        ];
        for b in [false, true] {
            rets.extend([
                QueueRet::IsEmpty(b),
                QueueRet::IsFull(b),
                QueueRet::IsClosed(b),
            ]);
        }
        rets.extend((0..4).map(QueueRet::Size));
        let ops = [
            QueueOp::Put(8, Wait::Forever),
            QueueOp::Put(8, Wait::Bounded),
            QueueOp::Get(Wait::Forever),
            QueueOp::Get(Wait::Bounded),
            QueueOp::Qsize,
            QueueOp::Empty,
            QueueOp::Full,
            QueueOp::Close,
            QueueOp::IsClosed,
            QueueOp::TaskDone,
            QueueOp::Join,
        ];
        for q in &queues {
            for prefix in prefixes {
                let state = run(q, prefix).unwrap();
                for op in &ops {
                    assert!(agrees(&state, op, &rets), "{state:?} {op:?}");
                }
            }
        }
    }
}
