//! Late kills: where a kill of a process leaves exactly the state a kill of it at an earlier
//! point of the same execution left, so that the exhaustive search need not try it (only
//! where kills are configured).
//!
//! A dead process's own progress is lost with it; what outlives it is what it left in shared
//! memory and in the runtime (futex queues, the clock, the scheduler's bookkeeping). So when
//! the last steps of the execution are all a process's and, taken from the start of one of its
//! events on, changed nothing that outlives it — reads, and writes that put back the value
//! they found (a section entered and left: 0 → who → 0) — a kill now and a kill just before
//! that event leave the same state: the same memory, the other tasks where they were (none of
//! them ran since), the same sleepers for the kill to wake. The kill before that event was an
//! option on this very path, so the search tries it there (or has an equivalent execution
//! explored, where a sleep set holds it back), and every execution after a kill here is
//! equivalent to one after the kill there.
//!
//! The steps that count as changing nothing that outlives the process: loads, cell reads,
//! liveness looks, clock reads, futex waits (a dead sleeper leaves its queue), futex wakes that
//! woke nobody, a task's start, and value writes whose object ends where the tail began. Not
//! cell writes (their values are not seen), spawns, joins, sleeps, yields, data choices, a
//! task's end (it would have ended, not been killed), nor an event released by a timeout or a
//! spurious wake-up (those move the clock and spend a wake-up). And nothing while a yield is in
//! force (the other tasks' turns are being counted).
//!
//! Nor a write that makes the process a writer of its word for the first time
//! (`ObjRec::writers`): a guard on the word is off once a writer died (`Exec::guard_off`), so
//! a kill after that write and one before it differ even where the word is as it was (a
//! guarded wait passes at once after the one, waits after the other). For a guard that names
//! its holder (`ready_when_held`, a lock's) that is more than needed, since such a guard looks
//! at the holder the word's value names: kept, as it costs only late kills not taken.
//!
//! What the dead saw before it died is not part of an outcome: on a real OS its memory is gone
//! (`Observed::outcome` shows a killed task as its kill alone).

use super::{Exec, Op};
use crate::footprint::process_bit;
use crate::schedule::Choice;

/// One step of the tail: a write of `obj` (0: none) from `before` to `after`, whether it
/// began an event (the step a scheduling choice released), and whether it made its process a
/// writer of the word (`ObjRec::writers`) for the first time.
#[derive(Clone, Copy, Debug)]
pub(super) struct TailStep {
    obj: u32,
    before: u64,
    after: u64,
    begins: bool,
    marks: bool,
}

/// The steps of one process since the last step of any other process (or the last step that
/// changed what outlives it).
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// The process (0: none yet).
    process: u32,
    steps: Vec<TailStep>,
}

impl Tail {
    /// Forgets the tail: a kill, say, changed what any later kill leaves.
    pub(super) fn reset(&mut self) {
        self.process = 0;
        self.steps.clear();
    }

    /// Whether the tail is `p`'s and, from the start of one of its events on, changed nothing
    /// that outlives `p`.
    pub(super) fn changes_nothing(&self, p: u32) -> bool {
        if self.process != p {
            return false;
        }
        // Going back from the last step: per object written, the value its first write in the
        // suffix found and the value now (asked at every choice: no allocation; a tail that
        // wrote more objects than this counts as changing something).
        let mut changed = [(0u32, 0u64, 0u64); 8];
        let mut n = 0;
        for step in self.steps.iter().rev() {
            if step.marks {
                // A guard on the word would be off after a kill from here on, and not after
                // one before.
                return false;
            }
            if step.obj != 0 {
                match changed[..n].iter().position(|&(o, ..)| o == step.obj) {
                    Some(k) => changed[k].1 = step.before,
                    None if n == changed.len() => return false,
                    None => {
                        changed[n] = (step.obj, step.before, step.after);
                        n += 1;
                    }
                }
            }
            if step.begins && changed[..n].iter().all(|&(_, before, now)| before == now) {
                return true;
            }
        }
        false
    }
}

impl Exec {
    /// Adds a step of the current task to the tail (see the module docs): `op` on `obj`,
    /// reading `read` and writing `wrote` as [`Exec::record`] has them, released by the choice
    /// `decision` if it begins an event. Only where kills are configured.
    pub(super) fn extend_tail(
        &mut self,
        op: Op,
        obj: u32,
        read: Option<u64>,
        wrote: Option<u64>,
        decision: Option<u32>,
    ) {
        let task = self.current;
        let process = self.tasks[task as usize].process;
        if self.tail.process != process {
            self.tail.reset();
            self.tail.process = process;
        }
        let begins = decision.is_some();
        let released_by_run =
            decision.is_none_or(|d| self.schedule[d as usize] == Choice::Run(task));
        let rec = (obj != 0).then(|| &self.objects[obj]);
        let last = rec.and_then(|r| r.value);
        // As `Exec::record` marks writers: a write that changed the value.
        let marks = rec.is_some_and(|r| {
            op.writes_value()
                && wrote.is_some_and(|w| read != Some(w))
                && r.writers & process_bit(process) == 0
        });
        let step = match op {
            _ if !released_by_run || self.yielders > 0 => None,
            Op::Start
            | Op::Load
            | Op::CellRead
            | Op::Alive
            | Op::Now
            | Op::FutexWait
            | Op::WaitReturn => Some((0, 0, 0)),
            Op::FutexWake if wrote == Some(0) => Some((0, 0, 0)),
            _ if op.writes_value() => match wrote {
                // A compare-and-swap that failed wrote nothing.
                None => Some((0, 0, 0)),
                Some(after) => read.or(last).map(|before| (obj, before, after)),
            },
            _ => None,
        };
        match step {
            Some((obj, before, after)) => self.tail.steps.push(TailStep {
                obj,
                before,
                after,
                begins,
                marks,
            }),
            None => self.tail.steps.clear(),
        }
        if obj != 0 {
            let value = if op.writes_value() {
                wrote.or(read)
            } else if matches!(op, Op::Load | Op::FutexWait) {
                read
            } else {
                None
            };
            if value.is_some() {
                self.objects[obj].value = value;
            }
        }
    }
}
