//! [`SemaphoreModel`]: `mpcheck::Semaphore` and `mpcheck::BoundedSemaphore`.
//!
//! `acquire()` is [`SemaphoreOp::Acquire`]`(`[`Wait::Forever`]`)`, enabled only while the count
//! is positive; `try_acquire()` and `acquire_timeout(d)` are `Acquire(Wait::Bounded)`, which
//! returns [`SemaphoreRet::TimedOut`] (`false`) at 0. Guards acquire and release the same way.
//! A semaphore has no owner: the caller is not part of any operation.

use crate::{ErrorKind, Model, Wait};

/// The largest count of a real semaphore, `Semaphore::MAX` (2³¹ − 1: bit 31 of the count word
/// is used by the holder table). A larger initial value is clamped to it.
pub const SEMAPHORE_MAX: u32 = (1 << 31) - 1;

/// The operations of a semaphore.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SemaphoreOp {
    /// `acquire` / `guard` (`Forever`), `try_acquire` / `acquire_timeout` (`Bounded`).
    Acquire(Wait),
    /// `release`, or a guard dropped.
    Release,
    /// `get_value`.
    GetValue,
}

/// The results of semaphore operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SemaphoreRet {
    /// A unit taken (`Ok(())`, or `true`).
    Acquired,
    /// A bounded acquire gave up at 0 (`false`).
    TimedOut,
    /// `release()` returned `Ok(())`.
    Released,
    /// What `get_value()` returned.
    Value(u32),
    /// An error: `Overflow` (a `Semaphore` at [`SEMAPHORE_MAX`]) or `ReleasedTooManyTimes` (a
    /// `BoundedSemaphore` at its initial value).
    Err(ErrorKind),
}

/// A counting semaphore. For a `Semaphore` the count may rise to [`SEMAPHORE_MAX`] (then
/// `release` is `Overflow`); for a `BoundedSemaphore` to its initial value, checked exactly
/// (then `release` is `ReleasedTooManyTimes`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SemaphoreModel {
    value: u32,
    max: u32,
    bounded: bool,
}

impl SemaphoreModel {
    /// `Semaphore::new(value)`.
    pub fn new(value: u32) -> Self {
        SemaphoreModel {
            value: value.min(SEMAPHORE_MAX),
            max: SEMAPHORE_MAX,
            bounded: false,
        }
    }

    /// `BoundedSemaphore::new(value)`.
    pub fn bounded(value: u32) -> Self {
        let value = value.min(SEMAPHORE_MAX);
        SemaphoreModel {
            value,
            max: value,
            bounded: true,
        }
    }

    /// The current count.
    pub fn value(&self) -> u32 {
        self.value
    }

    fn with_value(&self, value: u32) -> Self {
        SemaphoreModel {
            value,
            ..self.clone()
        }
    }
}

impl Model for SemaphoreModel {
    type Op = SemaphoreOp;
    type Ret = SemaphoreRet;

    fn outcomes(&self, op: &SemaphoreOp) -> Vec<(SemaphoreRet, Self)> {
        match op {
            SemaphoreOp::Acquire(_) if self.value > 0 => {
                vec![(SemaphoreRet::Acquired, self.with_value(self.value - 1))]
            }
            SemaphoreOp::Acquire(Wait::Forever) => vec![],
            SemaphoreOp::Acquire(Wait::Bounded) => vec![(SemaphoreRet::TimedOut, self.clone())],
            SemaphoreOp::Release if self.value < self.max => {
                vec![(SemaphoreRet::Released, self.with_value(self.value + 1))]
            }
            SemaphoreOp::Release => {
                let error = if self.bounded {
                    ErrorKind::ReleasedTooManyTimes
                } else {
                    ErrorKind::Overflow
                };
                vec![(SemaphoreRet::Err(error), self.clone())]
            }
            SemaphoreOp::GetValue => vec![(SemaphoreRet::Value(self.value), self.clone())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    fn ops() -> [SemaphoreOp; 4] {
        [
            SemaphoreOp::Acquire(Wait::Forever),
            SemaphoreOp::Acquire(Wait::Bounded),
            SemaphoreOp::Release,
            SemaphoreOp::GetValue,
        ]
    }

    #[test]
    fn counts_down_and_blocks_at_zero() {
        let steps = [
            (SemaphoreOp::Acquire(Wait::Forever), SemaphoreRet::Acquired),
            (SemaphoreOp::Acquire(Wait::Bounded), SemaphoreRet::Acquired),
            (SemaphoreOp::Acquire(Wait::Bounded), SemaphoreRet::TimedOut),
            (SemaphoreOp::GetValue, SemaphoreRet::Value(0)),
            (SemaphoreOp::Release, SemaphoreRet::Released),
            (SemaphoreOp::Release, SemaphoreRet::Released),
            (SemaphoreOp::Release, SemaphoreRet::Released),
            (SemaphoreOp::GetValue, SemaphoreRet::Value(3)),
        ];
        let end = run(&SemaphoreModel::new(2), &steps).unwrap();
        assert_eq!(end.value(), 3);
        let zero = SemaphoreModel::new(0);
        assert!(zero
            .outcomes(&SemaphoreOp::Acquire(Wait::Forever))
            .is_empty());
    }

    #[test]
    fn bounded_semaphore_refuses_release_above_its_initial_value() {
        let steps = [
            (
                SemaphoreOp::Release,
                SemaphoreRet::Err(ErrorKind::ReleasedTooManyTimes),
            ),
            (SemaphoreOp::Acquire(Wait::Forever), SemaphoreRet::Acquired),
            (SemaphoreOp::Release, SemaphoreRet::Released),
            (
                SemaphoreOp::Release,
                SemaphoreRet::Err(ErrorKind::ReleasedTooManyTimes),
            ),
        ];
        assert_eq!(
            run(&SemaphoreModel::bounded(1), &steps),
            Ok(SemaphoreModel::bounded(1))
        );
    }

    #[test]
    fn semaphore_overflows_at_its_max_and_clamps_its_initial_value() {
        let full = SemaphoreModel::new(u32::MAX);
        assert_eq!(full.value(), SEMAPHORE_MAX);
        assert_eq!(
            full.outcomes(&SemaphoreOp::Release),
            vec![(SemaphoreRet::Err(ErrorKind::Overflow), full.clone())]
        );
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let states = [
            SemaphoreModel::new(0),
            SemaphoreModel::new(2),
            SemaphoreModel::new(SEMAPHORE_MAX),
            SemaphoreModel::bounded(1),
            SemaphoreModel::bounded(1).with_value(0),
        ];
        let mut rets = vec![
            SemaphoreRet::Acquired,
            SemaphoreRet::TimedOut,
            SemaphoreRet::Released,
            SemaphoreRet::Err(ErrorKind::Overflow),
            SemaphoreRet::Err(ErrorKind::ReleasedTooManyTimes),
        ];
        rets.extend((0..4).map(SemaphoreRet::Value));
        for state in &states {
            for op in &ops() {
                assert!(agrees(state, op, &rets), "{state:?} {op:?}");
            }
        }
    }
}
