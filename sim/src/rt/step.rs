//! What a step is: its operation ([`Op`]), how a wait or sleep ended ([`WaitOutcome`]), and
//! the record of an executed step ([`Step`]), as traces and observers see them.

use super::Loc;
use crate::operation::Caller;

/// What a step does. Announced before the step runs and recorded after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A task's first step.
    Start,
    /// Atomic load.
    Load,
    /// Atomic store.
    Store,
    /// Atomic swap.
    Swap,
    /// Atomic compare-and-exchange (strong or weak; weak never fails spuriously here).
    CompareExchange,
    /// Atomic fetch-and-add.
    FetchAdd,
    /// Atomic fetch-and-subtract.
    FetchSub,
    /// Atomic fetch-and-or.
    FetchOr,
    /// Atomic fetch-and-and.
    FetchAnd,
    /// Read of a cell.
    CellRead,
    /// Write (or read-modify-write) of a cell.
    CellWrite,
    /// Futex wait: the value check, and the start of the sleep if it matched.
    FutexWait,
    /// Return from a futex wait or a sleep (woken, spuriously woken, or timed out).
    WaitReturn,
    /// Futex wake.
    FutexWake,
    /// Spawning a task.
    Spawn,
    /// Joining a task (enabled once it has finished).
    Join,
    /// Reading the clock.
    Now,
    /// Sleeping on the virtual clock.
    Sleep,
    /// Yielding.
    Yield,
    /// A data choice (`choose(n)`).
    Choose,
    /// A task's last step.
    Finish,
    /// Whether a simulated process is alive (`process_alive`, a step only while kills are
    /// configured): `read` is the process, `wrote` 1 if alive, 0 if not.
    Alive,
    /// The task's process was killed here (`Config::kills`): the task never runs again.
    Kill,
}

impl Op {
    /// `true` for operations that write the value of an atomic.
    pub(super) fn writes_value(self) -> bool {
        matches!(
            self,
            Op::Store
                | Op::Swap
                | Op::CompareExchange
                | Op::FetchAdd
                | Op::FetchSub
                | Op::FetchOr
                | Op::FetchAnd
        )
    }

    /// The operation's name in traces.
    pub fn name(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Load => "load",
            Op::Store => "store",
            Op::Swap => "swap",
            Op::CompareExchange => "cas",
            Op::FetchAdd => "fetch_add",
            Op::FetchSub => "fetch_sub",
            Op::FetchOr => "fetch_or",
            Op::FetchAnd => "fetch_and",
            Op::CellRead => "cell read",
            Op::CellWrite => "cell write",
            Op::FutexWait => "futex_wait",
            Op::WaitReturn => "wait returns",
            Op::FutexWake => "futex_wake",
            Op::Spawn => "spawn",
            Op::Join => "join",
            Op::Now => "now",
            Op::Sleep => "sleep",
            Op::Yield => "yield",
            Op::Choose => "choose",
            Op::Finish => "finish",
            Op::Alive => "alive?",
            Op::Kill => "killed",
        }
    }
}

/// How a futex wait or sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The word did not hold the expected value: no sleep.
    Mismatch,
    /// Woken by a wake, or spuriously.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// One executed step, as the trace shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The task that took the step.
    pub task: u32,
    /// What it did.
    pub op: Op,
    /// The object it touched (0: none), by its place in the order the execution first used
    /// its objects (as traces show it: `Lock#2`).
    pub obj: u32,
    /// The value read, if any.
    pub read: Option<u64>,
    /// The value written (or the result, for wakes, spawns and choices), if any.
    pub wrote: Option<u64>,
    /// Where in the source: the line that took the step (inside a primitive, for a step of a
    /// primitive's operation).
    pub loc: Loc,
    /// The primitive operation the step was taken in, as the user called it (with the user's
    /// line), if any: see [`operation`](crate::operation()).
    pub caller: Option<Caller>,
    /// Virtual time when the step ran, in nanoseconds.
    pub time: u64,
    /// The index of the choice that let this step happen (`None` for steps a task takes
    /// without a choice: its start as the main task, its finish).
    pub decision: Option<u32>,
}

/// A step as the runtime records it, in the hot path: a [`Step`] whose operation is the index
/// of an entry of the execution's table of operations (which a step would otherwise copy
/// whole: half its size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) task: u32,
    pub(crate) op: Op,
    pub(crate) obj: u32,
    /// 1 + the index of the step's operation in the execution's table; 0: none.
    pub(crate) caller: u32,
    pub(crate) read: Option<u64>,
    pub(crate) wrote: Option<u64>,
    pub(crate) loc: Loc,
    pub(crate) time: u64,
    pub(crate) decision: Option<u32>,
}

impl Record {
    /// The step, its operation looked up in `callers` (the execution's table).
    pub(crate) fn step(&self, callers: &[Caller]) -> Step {
        Step {
            task: self.task,
            op: self.op,
            obj: self.obj,
            read: self.read,
            wrote: self.wrote,
            loc: self.loc,
            caller: self.caller.checked_sub(1).map(|i| callers[i as usize]),
            time: self.time,
            decision: self.decision,
        }
    }
}
