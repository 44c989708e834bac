//! [`LockModel`] (`mpcheck::Lock`) and [`RLockModel`] (`mpcheck::RLock`).
//!
//! `acquire()` is [`LockOp::Acquire`]`(`[`Wait::Forever`]`)`, enabled only when the lock can be
//! taken; `try_acquire()` and `acquire_timeout(d)` are `Acquire(Wait::Bounded)`, which returns
//! [`LockRet::TimedOut`] (`false`) where the lock is held by another task. The guard forms
//! (`lock()`, `try_lock()`, dropping a guard) are the same operations.

use crate::{Caller, ErrorKind, Model, Wait};

/// The results of lock operations (shared by [`LockModel`] and [`RLockModel`]).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LockRet {
    /// Taken (`Ok(())`, or `true` from a bounded acquire).
    Acquired,
    /// A bounded acquire gave up (`false`).
    TimedOut,
    /// `release()` returned `Ok(())`.
    Released,
    /// What `is_locked()` returned.
    IsLocked(bool),
    /// What `RLock::is_owned()` returned.
    IsOwned(bool),
    /// An error.
    Err(ErrorKind),
}

/// The operations of a `Lock`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LockOp {
    /// `acquire` / `lock` (`Forever`), `try_acquire` / `acquire_timeout` / `try_lock` (`Bounded`).
    Acquire(Wait),
    /// `release`, or a guard dropped.
    Release,
    /// `is_locked`.
    IsLocked,
}

/// `mpcheck::Lock`: not recursive, no owner (any task may release), releasing an unlocked
/// lock is `ReleasedTooManyTimes`. A task acquiring it twice blocks (the second acquire is
/// not enabled until someone releases).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct LockModel {
    locked: bool,
}

impl LockModel {
    /// A new, unlocked lock.
    pub fn new() -> Self {
        LockModel { locked: false }
    }

    /// A lock held by some task.
    pub fn locked() -> Self {
        LockModel { locked: true }
    }

    /// Whether it is held.
    pub fn is_locked(&self) -> bool {
        self.locked
    }
}

impl Model for LockModel {
    type Op = LockOp;
    type Ret = LockRet;

    fn outcomes(&self, op: &LockOp) -> Vec<(LockRet, Self)> {
        let after = |locked| LockModel { locked };
        match op {
            LockOp::Acquire(_) if !self.locked => vec![(LockRet::Acquired, after(true))],
            LockOp::Acquire(Wait::Forever) => vec![],
            LockOp::Acquire(Wait::Bounded) => vec![(LockRet::TimedOut, self.clone())],
            LockOp::Release if self.locked => vec![(LockRet::Released, after(false))],
            LockOp::Release => vec![(LockRet::Err(ErrorKind::ReleasedTooManyTimes), self.clone())],
            LockOp::IsLocked => vec![(LockRet::IsLocked(self.locked), self.clone())],
        }
    }
}

/// The operations of an `RLock`: every one that depends on ownership names its caller.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RLockOp {
    /// `acquire` / `lock` (`Forever`), `try_acquire` / `acquire_timeout` / `try_lock`
    /// (`Bounded`). Re-enters when `caller` holds the lock.
    Acquire(Caller, Wait),
    /// `release`, or a guard dropped: one level of recursion.
    Release(Caller),
    /// `is_locked`.
    IsLocked,
    /// `is_owned`, asked by `caller`.
    IsOwned(Caller),
}

/// `mpcheck::RLock`: recursive, owned by one task (process, thread). Only the owner may
/// release, one level at a time; a release by anyone else, or of a free lock, is `NotOwner`.
///
/// The real depth is a `u64` and is never checked for overflow (the `Overflow` error's docs
/// mention an RLock, but the code cannot return it); the model does not overflow either.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct RLockModel {
    /// The owner and its recursion depth (at least 1); `None` when free.
    owner: Option<(Caller, u64)>,
}

impl RLockModel {
    /// A new, free lock.
    pub fn new() -> Self {
        RLockModel { owner: None }
    }

    /// The owner and its depth, if held.
    pub fn owner(&self) -> Option<(Caller, u64)> {
        self.owner
    }

    /// The lock taken by `caller` at `depth` (for `Condition`'s wait, which restores it).
    pub(crate) fn held_by(caller: Caller, depth: u64) -> Self {
        RLockModel {
            owner: Some((caller, depth)),
        }
    }
}

impl Model for RLockModel {
    type Op = RLockOp;
    type Ret = LockRet;

    fn outcomes(&self, op: &RLockOp) -> Vec<(LockRet, Self)> {
        match (op, self.owner) {
            (RLockOp::Acquire(me, _), Some((owner, depth))) if *me == owner => {
                vec![(LockRet::Acquired, RLockModel::held_by(owner, depth + 1))]
            }
            (RLockOp::Acquire(me, _), None) => {
                vec![(LockRet::Acquired, RLockModel::held_by(*me, 1))]
            }
            (RLockOp::Acquire(_, Wait::Forever), Some(_)) => vec![],
            (RLockOp::Acquire(_, Wait::Bounded), Some(_)) => {
                vec![(LockRet::TimedOut, self.clone())]
            }
            (RLockOp::Release(me), Some((owner, depth))) if *me == owner => {
                let after = if depth > 1 {
                    RLockModel::held_by(owner, depth - 1)
                } else {
                    RLockModel::new()
                };
                vec![(LockRet::Released, after)]
            }
            (RLockOp::Release(_), _) => {
                vec![(LockRet::Err(ErrorKind::NotOwner), self.clone())]
            }
            (RLockOp::IsLocked, owner) => {
                vec![(LockRet::IsLocked(owner.is_some()), self.clone())]
            }
            (RLockOp::IsOwned(me), owner) => {
                let owned = owner.is_some_and(|(o, _)| o == *me);
                vec![(LockRet::IsOwned(owned), self.clone())]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    const A: Caller = Caller::new(1, 0);
    const B: Caller = Caller::new(2, 0);

    fn all_rets() -> Vec<LockRet> {
        let mut rets = vec![
            LockRet::Acquired,
            LockRet::TimedOut,
            LockRet::Released,
            LockRet::Err(ErrorKind::ReleasedTooManyTimes),
            LockRet::Err(ErrorKind::NotOwner),
        ];
        for b in [false, true] {
            rets.push(LockRet::IsLocked(b));
            rets.push(LockRet::IsOwned(b));
        }
        rets
    }

    #[test]
    fn lock_acquire_then_try_acquire_is_false() {
        let steps = [
            (LockOp::Acquire(Wait::Forever), LockRet::Acquired),
            (LockOp::Acquire(Wait::Bounded), LockRet::TimedOut),
            (LockOp::IsLocked, LockRet::IsLocked(true)),
            (LockOp::Release, LockRet::Released),
            (LockOp::Acquire(Wait::Bounded), LockRet::Acquired),
        ];
        assert_eq!(run(&LockModel::new(), &steps), Ok(LockModel::locked()));
    }

    #[test]
    fn lock_second_acquire_is_not_enabled_and_release_of_unlocked_is_the_error() {
        let held = LockModel::locked();
        assert!(held.outcomes(&LockOp::Acquire(Wait::Forever)).is_empty());
        assert_eq!(
            LockModel::new().step(&LockOp::Release, &LockRet::Released),
            None
        );
        assert_eq!(
            LockModel::new().outcomes(&LockOp::Release),
            vec![(
                LockRet::Err(ErrorKind::ReleasedTooManyTimes),
                LockModel::new()
            )]
        );
    }

    #[test]
    fn rlock_recursion_and_not_owner() {
        let steps = [
            (RLockOp::Acquire(A, Wait::Forever), LockRet::Acquired),
            (RLockOp::Acquire(A, Wait::Bounded), LockRet::Acquired),
            (RLockOp::Acquire(B, Wait::Bounded), LockRet::TimedOut),
            (RLockOp::Release(B), LockRet::Err(ErrorKind::NotOwner)),
            (RLockOp::IsOwned(A), LockRet::IsOwned(true)),
            (RLockOp::IsOwned(B), LockRet::IsOwned(false)),
            (RLockOp::Release(A), LockRet::Released),
            (RLockOp::IsLocked, LockRet::IsLocked(true)),
            (RLockOp::Release(A), LockRet::Released),
            (RLockOp::IsLocked, LockRet::IsLocked(false)),
            (RLockOp::Release(A), LockRet::Err(ErrorKind::NotOwner)),
        ];
        assert_eq!(run(&RLockModel::new(), &steps), Ok(RLockModel::new()));
        let held = RLockModel::held_by(A, 1);
        assert!(held
            .outcomes(&RLockOp::Acquire(B, Wait::Forever))
            .is_empty());
        assert_eq!(held.owner(), Some((A, 1)));
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let lock_ops = [
            LockOp::Acquire(Wait::Forever),
            LockOp::Acquire(Wait::Bounded),
            LockOp::Release,
            LockOp::IsLocked,
        ];
        for state in [LockModel::new(), LockModel::locked()] {
            for op in &lock_ops {
                assert!(agrees(&state, op, &all_rets()), "{state:?} {op:?}");
            }
        }
        let states = [
            RLockModel::new(),
            RLockModel::held_by(A, 1),
            RLockModel::held_by(A, 3),
        ];
        for state in &states {
            for me in [A, B] {
                let ops = [
                    RLockOp::Acquire(me, Wait::Forever),
                    RLockOp::Acquire(me, Wait::Bounded),
                    RLockOp::Release(me),
                    RLockOp::IsLocked,
                    RLockOp::IsOwned(me),
                ];
                for op in &ops {
                    assert!(agrees(state, op, &all_rets()), "{state:?} {op:?}");
                }
            }
        }
    }
}
