//! [`BarrierModel`]: `mpcheck::Barrier` without an action.
//!
//! **The split.** Every `wait()` / `wait_timeout(d)` is two operations by the same caller, in
//! this order inside the call:
//!
//! 1. [`BarrierOp::Arrive`] → [`BarrierRet::Arrived`] (always; nothing to observe): the caller
//!    takes the barrier's lock and joins the round that is filling, with the next arrival
//!    index; the last arrival releases the round, and the next one fills at once. Not enabled
//!    while a reset round is being left (the real arrival waits for it). On a broken barrier
//!    (or one for 0 parties) the caller joins nothing and its `Leave` will be the error.
//! 2. [`BarrierOp::Leave`] → [`BarrierRet::Passed`]`(index)` (`Ok(index)`) or
//!    `Err(BrokenBarrier)`: enabled once the caller's round was released (it passes) or broken
//!    or reset (the error). A timed party may also leave while its round still fills: its
//!    timeout breaks the barrier, and it gets the error.
//!
//! The real rounds, which the model follows: a round *fills* while parties arrive; the last
//! arrival *releases* it, and a released round stays released: its parties pass whatever
//! happens before they return (`abort()` breaks the barrier for later rounds only; CPython's
//! released parties leave one by one, and one that an abort overtakes gets `BrokenBarrier`,
//! an outcome `mpcheck::Barrier` never has). `reset()` makes the parties of the filling (or
//! broken) round leave with the error and restarts the barrier once they have left. A
//! barrier's action, a panicking action (`Error::Panicked`) and dead parties are not
//! modelled.

use std::collections::BTreeMap;

use crate::{Caller, ErrorKind, Model};

/// The operations of a barrier.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BarrierOp {
    /// The first half of `wait` (`timed`: `wait_timeout`).
    Arrive {
        /// The arriving task.
        caller: Caller,
        /// `wait_timeout` rather than `wait`.
        timed: bool,
    },
    /// The second half of `wait`: the call returns.
    Leave(Caller),
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

/// The results of barrier operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BarrierRet {
    /// `Arrive` took effect.
    Arrived,
    /// `wait` returned `Ok(index)`.
    Passed(usize),
    /// `abort` / `reset` returned.
    Done,
    /// What `n_waiting()` returned.
    NWaiting(usize),
    /// What `broken()` returned.
    IsBroken(bool),
    /// What `parties()` returned.
    Parties(usize),
    /// `wait` returned an error: `BrokenBarrier`, or `InvalidArgument` for 0 parties.
    Err(ErrorKind),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Phase {
    Filling,
    Resetting,
    Broken,
}

/// A task between its `Arrive` and its `Leave`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Member {
    /// A party of the current round.
    Party { index: usize, timed: bool },
    /// A party of a released round: it passes.
    Released(usize),
    /// Refused at arrival: it leaves with this error.
    Refused(ErrorKind),
}

/// A barrier for `parties` tasks.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct BarrierModel {
    parties: usize,
    phase: Phase,
    inside: BTreeMap<Caller, Member>,
}

impl BarrierModel {
    /// `Barrier::new(parties)`.
    pub fn new(parties: usize) -> Self {
        BarrierModel {
            parties,
            phase: Phase::Filling,
            inside: BTreeMap::new(),
        }
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.phase == Phase::Broken
    }

    /// Parties of the current round inside `wait` (the real `count`).
    fn count(&self) -> usize {
        let parties = self.inside.values();
        parties
            .filter(|m| matches!(m, Member::Party { .. }))
            .count()
    }

    fn with_phase(&self, phase: Phase) -> Self {
        BarrierModel {
            phase,
            ..self.clone()
        }
    }

    fn arrive(&self, caller: Caller, timed: bool) -> Vec<(BarrierRet, Self)> {
        if self.inside.contains_key(&caller) {
            return vec![]; // a task is in one wait at a time
        }
        let mut after = self.clone();
        let member = if self.parties == 0 {
            Member::Refused(ErrorKind::InvalidArgument)
        } else {
            match self.phase {
                Phase::Resetting => return vec![],
                Phase::Broken => Member::Refused(ErrorKind::BrokenBarrier),
                Phase::Filling => {
                    let index = self.count();
                    Member::Party { index, timed }
                }
            }
        };
        after.inside.insert(caller, member);
        if after.count() == self.parties {
            // The last arrival releases the round.
            for member in after.inside.values_mut() {
                if let Member::Party { index, .. } = *member {
                    *member = Member::Released(index);
                }
            }
        }
        vec![(BarrierRet::Arrived, after)]
    }

    fn leave(&self, caller: Caller) -> Vec<(BarrierRet, Self)> {
        let Some(member) = self.inside.get(&caller) else {
            return vec![];
        };
        let broken = BarrierRet::Err(ErrorKind::BrokenBarrier);
        let (ret, phase) = match (member, self.phase) {
            (Member::Refused(e), phase) => (BarrierRet::Err(e.clone()), phase),
            (Member::Released(index), phase) => (BarrierRet::Passed(*index), phase),
            (Member::Party { .. }, phase @ (Phase::Resetting | Phase::Broken)) => (broken, phase),
            (Member::Party { timed: true, .. }, Phase::Filling) => (broken, Phase::Broken),
            (Member::Party { timed: false, .. }, Phase::Filling) => return vec![],
        };
        let mut after = self.with_phase(phase);
        after.inside.remove(&caller);
        if after.count() == 0 && phase == Phase::Resetting {
            after.phase = Phase::Filling;
        }
        vec![(ret, after)]
    }

    fn reset(&self) -> Self {
        let phase = if self.count() == 0 {
            Phase::Filling
        } else {
            Phase::Resetting
        };
        self.with_phase(phase)
    }
}

impl Model for BarrierModel {
    type Op = BarrierOp;
    type Ret = BarrierRet;

    fn outcomes(&self, op: &BarrierOp) -> Vec<(BarrierRet, Self)> {
        let same = |ret| vec![(ret, self.clone())];
        match op {
            BarrierOp::Arrive { caller, timed } => self.arrive(*caller, *timed),
            BarrierOp::Leave(caller) => self.leave(*caller),
            BarrierOp::Abort => vec![(BarrierRet::Done, self.with_phase(Phase::Broken))],
            BarrierOp::Reset => vec![(BarrierRet::Done, self.reset())],
            BarrierOp::NWaiting => same(BarrierRet::NWaiting(match self.phase {
                Phase::Filling => self.count(),
                _ => 0,
            })),
            BarrierOp::Broken => same(BarrierRet::IsBroken(self.is_broken())),
            BarrierOp::Parties => same(BarrierRet::Parties(self.parties)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    const A: Caller = Caller::new(1, 0);
    const B: Caller = Caller::new(2, 0);
    const C: Caller = Caller::new(3, 0);

    fn arrive(caller: Caller, timed: bool) -> (BarrierOp, BarrierRet) {
        (BarrierOp::Arrive { caller, timed }, BarrierRet::Arrived)
    }

    fn broken() -> BarrierRet {
        BarrierRet::Err(ErrorKind::BrokenBarrier)
    }

    #[test]
    fn indices_follow_arrival_and_the_round_releases_when_full() {
        let b = BarrierModel::new(2);
        let steps = [
            arrive(A, false),
            (BarrierOp::NWaiting, BarrierRet::NWaiting(1)),
            arrive(B, false),
            (BarrierOp::NWaiting, BarrierRet::NWaiting(0)),
            (BarrierOp::Leave(B), BarrierRet::Passed(1)),
            (BarrierOp::Leave(A), BarrierRet::Passed(0)),
        ];
        assert_eq!(run(&b, &steps), Ok(b.clone()));
        // A alone: its leave is not enabled until B arrives.
        let alone = run(&b, &[arrive(A, false)]).unwrap();
        assert!(alone.outcomes(&BarrierOp::Leave(A)).is_empty());
    }

    #[test]
    fn the_next_round_fills_while_the_last_one_leaves() {
        let b = BarrierModel::new(2);
        let released = run(&b, &[arrive(A, false), arrive(B, false)]).unwrap();
        let steps = [
            arrive(C, false),
            (BarrierOp::NWaiting, BarrierRet::NWaiting(1)),
            (BarrierOp::Leave(A), BarrierRet::Passed(0)),
            arrive(A, false),
            (BarrierOp::Leave(B), BarrierRet::Passed(1)),
            (BarrierOp::Leave(C), BarrierRet::Passed(0)),
            (BarrierOp::Leave(A), BarrierRet::Passed(1)),
        ];
        assert!(run(&released, &steps).is_ok());
    }

    #[test]
    fn a_timeout_breaks_the_barrier_until_reset() {
        let b = BarrierModel::new(3);
        let steps = [
            arrive(A, true),
            arrive(B, false),
            (BarrierOp::Leave(A), broken()),
            (BarrierOp::Broken, BarrierRet::IsBroken(true)),
            (BarrierOp::Leave(B), broken()),
            arrive(C, false),
            (BarrierOp::Leave(C), broken()),
            (BarrierOp::Reset, BarrierRet::Done),
            (BarrierOp::Broken, BarrierRet::IsBroken(false)),
            arrive(A, false),
            (BarrierOp::NWaiting, BarrierRet::NWaiting(1)),
        ];
        assert!(run(&b, &steps).is_ok());
        // An untimed party never times out.
        let waiting = run(&b, &[arrive(A, false)]).unwrap();
        assert!(waiting.outcomes(&BarrierOp::Leave(A)).is_empty());
    }

    #[test]
    fn reset_with_parties_inside_makes_them_leave_with_the_error() {
        let b = BarrierModel::new(3);
        let steps = [
            arrive(A, false),
            (BarrierOp::Reset, BarrierRet::Done),
            (BarrierOp::Broken, BarrierRet::IsBroken(false)),
            (BarrierOp::NWaiting, BarrierRet::NWaiting(0)),
        ];
        let resetting = run(&b, &steps).unwrap();
        // Arrivals wait until A has left.
        assert!(resetting
            .outcomes(&BarrierOp::Arrive {
                caller: B,
                timed: false
            })
            .is_empty());
        let rest = [
            (BarrierOp::Leave(A), broken()),
            arrive(B, false),
            (BarrierOp::NWaiting, BarrierRet::NWaiting(1)),
        ];
        assert!(run(&resetting, &rest).is_ok());
    }

    #[test]
    fn a_released_round_stays_released() {
        let b = BarrierModel::new(2);
        let steps = [
            arrive(A, false),
            arrive(B, false),
            (BarrierOp::Leave(B), BarrierRet::Passed(1)),
            (BarrierOp::Abort, BarrierRet::Done),
            (BarrierOp::Leave(A), BarrierRet::Passed(0)),
            (BarrierOp::Broken, BarrierRet::IsBroken(true)),
            (BarrierOp::Reset, BarrierRet::Done),
            arrive(A, false),
            arrive(B, false),
            (BarrierOp::Reset, BarrierRet::Done),
            (BarrierOp::Leave(A), BarrierRet::Passed(0)),
            (BarrierOp::Leave(B), BarrierRet::Passed(1)),
        ];
        assert!(run(&b, &steps).is_ok());
        // Not broken: after the abort, A's leave passes, and only passes.
        let aborted = run(&b, &steps[..4]).unwrap();
        assert_eq!(
            aborted.outcomes(&BarrierOp::Leave(A)).len(),
            1,
            "{aborted:?}"
        );
    }

    #[test]
    fn zero_parties_is_an_invalid_argument_and_one_party_passes_alone() {
        let steps = [
            arrive(A, false),
            (
                BarrierOp::Leave(A),
                BarrierRet::Err(ErrorKind::InvalidArgument),
            ),
        ];
        assert!(run(&BarrierModel::new(0), &steps).is_ok());
        let steps = [
            arrive(A, false),
            (BarrierOp::Leave(A), BarrierRet::Passed(0)),
            (BarrierOp::Parties, BarrierRet::Parties(1)),
        ];
        assert!(run(&BarrierModel::new(1), &steps).is_ok());
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let b = BarrierModel::new(2);
        let prefixes: [&[(BarrierOp, BarrierRet)]; 5] = [
            &[],
            &[arrive(A, true)],
            &[arrive(A, true), arrive(B, false)],
            &[arrive(A, false), (BarrierOp::Reset, BarrierRet::Done)],
            &[
                arrive(A, false),
                (BarrierOp::Abort, BarrierRet::Done),
                arrive(B, true),
            ],
        ];
        let mut rets = vec![
            BarrierRet::Arrived,
            BarrierRet::Done,
            broken(),
            BarrierRet::Err(ErrorKind::InvalidArgument),
            BarrierRet::IsBroken(false),
            BarrierRet::IsBroken(true),
        ];
        for n in 0..3 {
            rets.extend([
                BarrierRet::Passed(n),
                BarrierRet::NWaiting(n),
                BarrierRet::Parties(n),
            ]);
        }
        for prefix in prefixes {
            let state = run(&b, prefix).unwrap();
            for me in [A, B, C] {
                let ops = [
                    BarrierOp::Arrive {
                        caller: me,
                        timed: false,
                    },
                    BarrierOp::Arrive {
                        caller: me,
                        timed: true,
                    },
                    BarrierOp::Leave(me),
                    BarrierOp::Abort,
                    BarrierOp::Reset,
                    BarrierOp::NWaiting,
                    BarrierOp::Broken,
                    BarrierOp::Parties,
                ];
                for op in &ops {
                    assert!(agrees(&state, op, &rets), "{state:?} {op:?}");
                }
            }
        }
    }
}
