//! Choices and schedules: the sequence of choices that determines an execution.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One choice the strategy made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Choice {
    /// Task `t` takes its announced step (or returns from a wait it was woken from).
    Run(u32),
    /// Task `t`'s timed wait or sleep ends by timeout now (the clock moves to its deadline if
    /// that is later).
    Timeout(u32),
    /// Task `t`'s futex wait returns spuriously now.
    Spurious(u32),
    /// A value: the result of `choose(n)`, or which waiter a wake reaches.
    Value(u32),
    /// Simulated process `p` is killed now (`Config::kills`): its tasks stop where they are,
    /// never to run again, and every futex sleeper wakes (spuriously).
    Kill(u32),
}

impl Choice {
    /// The task the choice is about (`None` for a value).
    pub fn task(self) -> Option<u32> {
        match self {
            Choice::Run(t) | Choice::Timeout(t) | Choice::Spurious(t) => Some(t),
            Choice::Value(_) | Choice::Kill(_) => None,
        }
    }
}

/// Written as `r3` (run task 3), `t3` (timeout), `s3` (spurious), `v3` (value) or `k3` (kill
/// process 3).
impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Run(t) => write!(f, "r{t}"),
            Choice::Timeout(t) => write!(f, "t{t}"),
            Choice::Spurious(t) => write!(f, "s{t}"),
            Choice::Value(v) => write!(f, "v{v}"),
            Choice::Kill(p) => write!(f, "k{p}"),
        }
    }
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a choice: {s:?} (expected r<N>, t<N>, s<N>, v<N> or k<N>)");
        let (kind, number) = s.split_at(s.char_indices().nth(1).map_or(s.len(), |(i, _)| i));
        let n: u32 = number.parse().map_err(|_| bad())?;
        match kind {
            "r" => Ok(Choice::Run(n)),
            "t" => Ok(Choice::Timeout(n)),
            "s" => Ok(Choice::Spurious(n)),
            "v" => Ok(Choice::Value(n)),
            "k" => Ok(Choice::Kill(n)),
            _ => Err(bad()),
        }
    }
}

/// A whole schedule, serialized as one space-separated string ("r0 r1 v0 t2 ...").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule(pub Vec<Choice>);

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        s.serialize_str(&text.join(" "))
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.split_whitespace()
            .map(Choice::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Schedule)
            .map_err(serde::de::Error::custom)
    }
}
