//! [`ConditionModel`]: `mpcheck::Condition`, over an `RLock` (the default) or a `Lock`.
//!
//! **The split.** `wait()` / `wait_timeout(d)` that returned `Ok(_)` are two operations by the
//! same caller, in this order inside the call:
//!
//! 1. [`ConditionOp::WaitBegin`] → [`ConditionRet::Waiting`]: the caller counts itself in
//!    and releases the lock (every recursion level of an RLock);
//! 2. [`ConditionOp::WaitEnd`] → [`ConditionRet::Woken`] (`Ok(())` / `Ok(true)`) or
//!    [`ConditionRet::TimedOut`] (`Ok(false)`, timed waits only): the lock is taken back, at the
//!    depth it had, so it is enabled only while the lock is free.
//!
//! A wait that returned `Err(NotOwner)` is one operation, `WaitBegin` →
//! `Err(NotOwner)`, which changes nothing. `wait_for*` are loops of these waits around the
//! caller's predicate: split them into their waits.
//!
//! **What a waiter may return.** `notify(n)` and `notify_all()` (with the lock held) let every
//! task waiting at that moment return `Woken`: the real `notify` bumps a sequence word that all
//! current waiters compare against, and is documented to wake *at least* `n` of them, possibly
//! more. That "at least" is a liveness property, which a history of finished and pending calls
//! cannot contradict, so it is not modelled. A waiter that began after the last notify may
//! return `Woken` only by a spurious wake-up, which the real `Condition` allows (on `Os`, and
//! under the simulator with `Config::spurious_wakeups`): choose with [`Wakeups`]. A timed
//! waiter may return `TimedOut` whether or not it was notified (the deadline can pass as the
//! notification arrives).
//!
//! **Ownership.** Over an RLock, `wait`/`notify` need the caller to own it. Over a plain
//! `Lock`, which has no owner, the real check is only that the lock is held *by someone*: a
//! task may wait on (and so release) a lock another task holds. The model says the same.

use std::collections::BTreeMap;

use crate::lock::RLockModel;
use crate::{Caller, ErrorKind, Model};

/// Whether a waiter may return `Woken` without a notification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Wakeups {
    /// Only a waiter present at a `notify` may return `Woken`.
    NotifiedOnly,
    /// Any waiter may return `Woken` at any time (its wait documented as possibly spurious).
    Spurious,
}

/// The operations of a condition.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConditionOp {
    /// `acquire` (or `lock()`): waits for the lock; re-enters an RLock its caller owns.
    Acquire(Caller),
    /// `release` (or a guard dropped).
    Release(Caller),
    /// The first half of `wait` / `wait_timeout` (`timed`): release and start waiting.
    WaitBegin {
        /// The waiting task.
        caller: Caller,
        /// `wait_timeout` (may time out) rather than `wait`.
        timed: bool,
    },
    /// The second half of a wait: take the lock back.
    WaitEnd(Caller),
    /// `notify(n)`.
    Notify(Caller, u32),
    /// `notify_all()`.
    NotifyAll(Caller),
}

/// The results of condition operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConditionRet {
    /// `acquire` returned `Ok(())`.
    Acquired,
    /// `release` returned `Ok(())`.
    Released,
    /// `WaitBegin`: the caller is waiting, the lock released.
    Waiting,
    /// `WaitEnd`: the wait returned `Ok(())` / `Ok(true)`.
    Woken,
    /// `WaitEnd`: a timed wait returned `Ok(false)`.
    TimedOut,
    /// `notify` / `notify_all` returned `Ok(())`.
    Notified,
    /// An error: `NotOwner` (wait or notify without the lock, an RLock released by a
    /// non-owner) or `ReleasedTooManyTimes` (an unlocked plain Lock released).
    Err(ErrorKind),
}

/// The lock a condition is bound to.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Bound {
    /// A plain `Lock`: held or not, by nobody in particular.
    Lock(bool),
    /// An `RLock`.
    RLock(RLockModel),
}

/// A task inside a wait.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Waiter {
    /// The RLock depth to restore (1 for a plain Lock).
    depth: u64,
    timed: bool,
    /// A notify happened since it began waiting.
    notified: bool,
}

/// A condition variable and its lock.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ConditionModel {
    lock: Bound,
    waiters: BTreeMap<Caller, Waiter>,
    wakeups: Wakeups,
}

impl ConditionModel {
    /// `Condition::new()`: its own RLock, free.
    pub fn new(wakeups: Wakeups) -> Self {
        ConditionModel {
            lock: Bound::RLock(RLockModel::new()),
            waiters: BTreeMap::new(),
            wakeups,
        }
    }

    /// `Condition::with_lock(Lock::new())`: a plain lock, free.
    pub fn with_plain_lock(wakeups: Wakeups) -> Self {
        ConditionModel {
            lock: Bound::Lock(false),
            ..Self::new(wakeups)
        }
    }

    /// The tasks inside a wait.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Whether `caller` passes the real ownership check.
    fn holds(&self, caller: Caller) -> bool {
        match &self.lock {
            Bound::Lock(locked) => *locked,
            Bound::RLock(l) => l.owner().is_some_and(|(owner, _)| owner == caller),
        }
    }

    fn is_free(&self) -> bool {
        match &self.lock {
            Bound::Lock(locked) => !locked,
            Bound::RLock(l) => l.owner().is_none(),
        }
    }

    fn with_lock(&self, lock: Bound) -> Self {
        ConditionModel {
            lock,
            ..self.clone()
        }
    }

    fn wait_begin(&self, caller: Caller, timed: bool) -> Vec<(ConditionRet, Self)> {
        if !self.holds(caller) {
            return vec![(ConditionRet::Err(ErrorKind::NotOwner), self.clone())];
        }
        if self.waiters.contains_key(&caller) {
            return vec![]; // a task waits once at a time
        }
        let (depth, lock) = match &self.lock {
            Bound::Lock(_) => (1, Bound::Lock(false)),
            Bound::RLock(l) => (
                l.owner().map_or(1, |(_, d)| d),
                Bound::RLock(RLockModel::new()),
            ),
        };
        let mut after = self.with_lock(lock);
        let waiter = Waiter {
            depth,
            timed,
            notified: false,
        };
        after.waiters.insert(caller, waiter);
        vec![(ConditionRet::Waiting, after)]
    }

    fn wait_end(&self, caller: Caller) -> Vec<(ConditionRet, Self)> {
        let Some(waiter) = self.waiters.get(&caller) else {
            return vec![];
        };
        if !self.is_free() {
            return vec![];
        }
        let lock = match &self.lock {
            Bound::Lock(_) => Bound::Lock(true),
            Bound::RLock(_) => Bound::RLock(RLockModel::held_by(caller, waiter.depth)),
        };
        let mut after = self.with_lock(lock);
        after.waiters.remove(&caller);
        let mut outcomes = Vec::new();
        if waiter.notified || self.wakeups == Wakeups::Spurious {
            outcomes.push((ConditionRet::Woken, after.clone()));
        }
        if waiter.timed {
            outcomes.push((ConditionRet::TimedOut, after));
        }
        outcomes
    }

    fn notify(&self, caller: Caller) -> Vec<(ConditionRet, Self)> {
        if !self.holds(caller) {
            return vec![(ConditionRet::Err(ErrorKind::NotOwner), self.clone())];
        }
        let mut after = self.clone();
        for waiter in after.waiters.values_mut() {
            waiter.notified = true;
        }
        vec![(ConditionRet::Notified, after)]
    }
}

impl Model for ConditionModel {
    type Op = ConditionOp;
    type Ret = ConditionRet;

    fn outcomes(&self, op: &ConditionOp) -> Vec<(ConditionRet, Self)> {
        use crate::lock::{LockModel, LockOp, LockRet, RLockOp};
        use crate::Wait;
        // Acquire and release are the lock's own; its results map one to one.
        let map = |ret: LockRet| match ret {
            LockRet::Acquired => ConditionRet::Acquired,
            LockRet::Released => ConditionRet::Released,
            LockRet::Err(e) => ConditionRet::Err(e),
            other => unreachable!("a lock's acquire or release returned {other:?}"),
        };
        let lock_op = |lock_op: LockOp| {
            let Bound::Lock(locked) = self.lock else {
                unreachable!()
            };
            let lock = if locked {
                LockModel::locked()
            } else {
                LockModel::new()
            };
            lock.outcomes(&lock_op)
                .into_iter()
                .map(|(r, l)| (map(r), self.with_lock(Bound::Lock(l.is_locked()))))
                .collect()
        };
        let rlock_op = |l: &RLockModel, rlock_op: RLockOp| {
            l.outcomes(&rlock_op)
                .into_iter()
                .map(|(r, l)| (map(r), self.with_lock(Bound::RLock(l))))
                .collect()
        };
        match (op, &self.lock) {
            (ConditionOp::Acquire(_), Bound::Lock(_)) => lock_op(LockOp::Acquire(Wait::Forever)),
            (ConditionOp::Acquire(me), Bound::RLock(l)) => {
                rlock_op(l, RLockOp::Acquire(*me, Wait::Forever))
            }
            (ConditionOp::Release(_), Bound::Lock(_)) => lock_op(LockOp::Release),
            (ConditionOp::Release(me), Bound::RLock(l)) => rlock_op(l, RLockOp::Release(*me)),
            (ConditionOp::WaitBegin { caller, timed }, _) => self.wait_begin(*caller, *timed),
            (ConditionOp::WaitEnd(caller), _) => self.wait_end(*caller),
            (ConditionOp::Notify(caller, _) | ConditionOp::NotifyAll(caller), _) => {
                self.notify(*caller)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    const A: Caller = Caller::new(1, 0);
    const B: Caller = Caller::new(1, 1);

    fn rets() -> Vec<ConditionRet> {
        vec![
            ConditionRet::Acquired,
            ConditionRet::Released,
            ConditionRet::Waiting,
            ConditionRet::Woken,
            ConditionRet::TimedOut,
            ConditionRet::Notified,
            ConditionRet::Err(ErrorKind::NotOwner),
            ConditionRet::Err(ErrorKind::ReleasedTooManyTimes),
        ]
    }

    fn begin(caller: Caller, timed: bool) -> (ConditionOp, ConditionRet) {
        (
            ConditionOp::WaitBegin { caller, timed },
            ConditionRet::Waiting,
        )
    }

    #[test]
    fn wait_releases_and_notify_wakes() {
        let c = ConditionModel::new(Wakeups::NotifiedOnly);
        let steps = [
            (ConditionOp::Acquire(A), ConditionRet::Acquired),
            (ConditionOp::Acquire(A), ConditionRet::Acquired),
            begin(A, false),
            (ConditionOp::Acquire(B), ConditionRet::Acquired),
            (ConditionOp::Notify(B, 1), ConditionRet::Notified),
            (ConditionOp::Release(B), ConditionRet::Released),
            (ConditionOp::WaitEnd(A), ConditionRet::Woken),
            // A holds the lock again at depth 2.
            (ConditionOp::Release(A), ConditionRet::Released),
            (ConditionOp::Release(A), ConditionRet::Released),
            (
                ConditionOp::Release(A),
                ConditionRet::Err(ErrorKind::NotOwner),
            ),
        ];
        assert_eq!(run(&c, &steps), Ok(c));
    }

    #[test]
    fn wait_end_needs_the_lock_free_and_a_notify() {
        let c = ConditionModel::new(Wakeups::NotifiedOnly);
        let waiting = run(
            &c,
            &[
                (ConditionOp::Acquire(A), ConditionRet::Acquired),
                begin(A, false),
            ],
        )
        .unwrap();
        assert_eq!(waiting.waiting(), 1);
        // Not notified: no result (a timed wait could only time out).
        assert!(waiting.outcomes(&ConditionOp::WaitEnd(A)).is_empty());
        let notified_but_held = run(
            &waiting,
            &[
                (ConditionOp::Acquire(B), ConditionRet::Acquired),
                (ConditionOp::NotifyAll(B), ConditionRet::Notified),
            ],
        )
        .unwrap();
        assert!(notified_but_held
            .outcomes(&ConditionOp::WaitEnd(A))
            .is_empty());
        // With spurious wake-ups, a free lock is enough.
        let spurious = ConditionModel {
            wakeups: Wakeups::Spurious,
            ..waiting
        };
        assert_eq!(
            spurious.outcomes(&ConditionOp::WaitEnd(A)).len(),
            1,
            "woken, never timed out"
        );
    }

    #[test]
    fn a_waiter_that_began_after_the_notify_is_not_notified() {
        let c = ConditionModel::new(Wakeups::NotifiedOnly);
        let steps = [
            (ConditionOp::Acquire(A), ConditionRet::Acquired),
            begin(A, true),
            (ConditionOp::Acquire(B), ConditionRet::Acquired),
            (ConditionOp::Notify(B, 1), ConditionRet::Notified),
            begin(B, true),
            (ConditionOp::WaitEnd(A), ConditionRet::Woken),
            (ConditionOp::Release(A), ConditionRet::Released),
        ];
        let state = run(&c, &steps).unwrap();
        let end_b = state.outcomes(&ConditionOp::WaitEnd(B));
        assert_eq!(end_b.len(), 1);
        assert_eq!(end_b[0].0, ConditionRet::TimedOut);
    }

    #[test]
    fn wait_and_notify_without_the_lock_are_not_owner() {
        let c = ConditionModel::new(Wakeups::Spurious);
        let not_owner = ConditionRet::Err(ErrorKind::NotOwner);
        let steps = [
            (
                ConditionOp::WaitBegin {
                    caller: A,
                    timed: false,
                },
                not_owner.clone(),
            ),
            (ConditionOp::Notify(A, 1), not_owner.clone()),
            (ConditionOp::Acquire(B), ConditionRet::Acquired),
            (ConditionOp::NotifyAll(A), not_owner.clone()),
            (ConditionOp::Release(A), not_owner),
        ];
        assert!(run(&c, &steps).is_ok());
    }

    #[test]
    fn over_a_plain_lock_any_task_passes_the_check_while_it_is_held() {
        let c = ConditionModel::with_plain_lock(Wakeups::NotifiedOnly);
        let steps = [
            (
                ConditionOp::Release(A),
                ConditionRet::Err(ErrorKind::ReleasedTooManyTimes),
            ),
            (ConditionOp::Acquire(A), ConditionRet::Acquired),
            // B does not hold it, but a plain Lock has no owner: B's wait releases it.
            begin(B, false),
            (ConditionOp::Acquire(A), ConditionRet::Acquired),
            (ConditionOp::Notify(A, 0), ConditionRet::Notified),
            (ConditionOp::Release(A), ConditionRet::Released),
            (ConditionOp::WaitEnd(B), ConditionRet::Woken),
        ];
        let state = run(&c, &steps).unwrap();
        assert_eq!(state.lock, Bound::Lock(true));
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let mut states = Vec::new();
        for wakeups in [Wakeups::NotifiedOnly, Wakeups::Spurious] {
            for c in [
                ConditionModel::new(wakeups),
                ConditionModel::with_plain_lock(wakeups),
            ] {
                let prefixes: [&[(ConditionOp, ConditionRet)]; 3] = [
                    &[(ConditionOp::Acquire(A), ConditionRet::Acquired)],
                    &[
                        (ConditionOp::Acquire(A), ConditionRet::Acquired),
                        begin(A, true),
                    ],
                    &[
                        (ConditionOp::Acquire(A), ConditionRet::Acquired),
                        begin(A, true),
                        (ConditionOp::Acquire(B), ConditionRet::Acquired),
                        (ConditionOp::Notify(B, 1), ConditionRet::Notified),
                        (ConditionOp::Release(B), ConditionRet::Released),
                    ],
                ];
                states.push(c.clone());
                for prefix in prefixes {
                    states.push(run(&c, prefix).unwrap());
                }
            }
        }
        for state in &states {
            for me in [A, B] {
                let ops = [
                    ConditionOp::Acquire(me),
                    ConditionOp::Release(me),
                    ConditionOp::WaitBegin {
                        caller: me,
                        timed: false,
                    },
                    ConditionOp::WaitBegin {
                        caller: me,
                        timed: true,
                    },
                    ConditionOp::WaitEnd(me),
                    ConditionOp::Notify(me, 1),
                    ConditionOp::NotifyAll(me),
                ];
                for op in &ops {
                    assert!(agrees(state, op, &rets()), "{state:?} {op:?}");
                }
            }
        }
    }
}
