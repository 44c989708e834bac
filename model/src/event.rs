//! [`EventModel`]: `mpcheck::Event`.
//!
//! `wait()` is [`EventOp::Wait`]`(`[`Wait::Forever`]`)`, enabled only while the flag is set;
//! `wait_timeout(d)` is `Wait(Wait::Bounded)`, returning the flag at the moment it takes effect.
//! No split is needed: the real `wait` returns `true` when it sees the flag set *or* a `set`
//! that happened while it waited (a `set` then `clear` still releases it), and in both cases
//! there is a moment inside the call at which the flag was set, where the wait takes effect.

use crate::{Model, Wait};

/// The operations of an event.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EventOp {
    /// `set`.
    Set,
    /// `clear`.
    Clear,
    /// `is_set`.
    IsSet,
    /// `wait` (`Forever`) or `wait_timeout` (`Bounded`).
    Wait(Wait),
}

/// The results of event operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EventRet {
    /// `set` or `clear` returned.
    Done,
    /// What `is_set()` returned.
    IsSet(bool),
    /// A wait returned: `true` (flag seen set; always for `wait()`) or `false` (timed out).
    Waited(bool),
}

/// A flag tasks can wait for.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct EventModel {
    set: bool,
}

impl EventModel {
    /// A new, clear event.
    pub fn new() -> Self {
        EventModel { set: false }
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.set
    }
}

impl Model for EventModel {
    type Op = EventOp;
    type Ret = EventRet;

    fn outcomes(&self, op: &EventOp) -> Vec<(EventRet, Self)> {
        match op {
            EventOp::Set => vec![(EventRet::Done, EventModel { set: true })],
            EventOp::Clear => vec![(EventRet::Done, EventModel { set: false })],
            EventOp::IsSet => vec![(EventRet::IsSet(self.set), self.clone())],
            EventOp::Wait(Wait::Forever) if !self.set => vec![],
            EventOp::Wait(_) => vec![(EventRet::Waited(self.set), self.clone())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    #[test]
    fn wait_is_enabled_only_when_set() {
        let clear = EventModel::new();
        assert!(clear.outcomes(&EventOp::Wait(Wait::Forever)).is_empty());
        let steps = [
            (EventOp::Wait(Wait::Bounded), EventRet::Waited(false)),
            (EventOp::Set, EventRet::Done),
            (EventOp::Set, EventRet::Done),
            (EventOp::Wait(Wait::Forever), EventRet::Waited(true)),
            (EventOp::Wait(Wait::Bounded), EventRet::Waited(true)),
            (EventOp::IsSet, EventRet::IsSet(true)),
            (EventOp::Clear, EventRet::Done),
            (EventOp::IsSet, EventRet::IsSet(false)),
        ];
        assert_eq!(run(&clear, &steps), Ok(EventModel::new()));
        let bad = [(EventOp::Wait(Wait::Bounded), EventRet::Waited(true))];
        assert_eq!(run(&clear, &bad), Err(0));
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let ops = [
            EventOp::Set,
            EventOp::Clear,
            EventOp::IsSet,
            EventOp::Wait(Wait::Forever),
            EventOp::Wait(Wait::Bounded),
        ];
        let rets = [
            EventRet::Done,
            EventRet::IsSet(false),
            EventRet::IsSet(true),
            EventRet::Waited(false),
            EventRet::Waited(true),
        ];
        for state in [EventModel::new(), EventModel { set: true }] {
            for op in &ops {
                assert!(agrees(&state, op, &rets), "{state:?} {op:?}");
            }
        }
    }
}
