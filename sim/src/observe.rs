//! Watching an exploration: every finished execution, and what its tasks saw.
//!
//! [`explore_observed`](crate::explore_observed) shows an observer each execution that ran to
//! its end. [`Observed::outcome`] reduces one to what its tasks *saw* — each task's steps with
//! the values read and written, tasks named by where they were spawned, objects by their labels
//! — a form that equivalent executions (the same steps, independent ones in another order)
//! share. Exhaustive search with and without partial-order reduction must reach the same set of
//! outcomes: that is how the test suite cross-checks the reduction on real programs.

use crate::rt::{Op, Step};

/// A finished execution, shown to an observer.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub(crate) steps: &'a [Step],
    pub(crate) labels: &'a [Option<&'static str>],
}

/// One step as its task saw it: the operation, the object's label, the values read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seen {
    /// The operation.
    pub op: Op,
    /// The label of the object it touched (`None`: no object, or one without a label).
    pub object: Option<&'static str>,
    /// The value read.
    pub read: Option<u64>,
    /// The value written (for a spawn or a join: the task's number in the outcome).
    pub wrote: Option<u64>,
}

/// What every task of an execution saw: one list of [`Seen`] steps per task. Tasks are numbered
/// by where they were spawned (task 0 first, then the children of each task in the order it
/// spawned them, depth first), not by when, so executions that differ only in the order of
/// independent steps have the same outcome. A task whose process was killed shows only its
/// kill: what it saw died with it, and what it wrote the others saw (so a kill just after a
/// task's reads and one just before them are one outcome).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Outcome(pub Vec<Vec<Seen>>);

impl<'a> Observed<'a> {
    /// Every step, in the order they ran.
    pub fn steps(&self) -> &'a [Step] {
        self.steps
    }

    /// The label of object `obj` (as in [`Step::obj`]), if it has one.
    pub fn label(&self, obj: u32) -> Option<&'static str> {
        (obj as usize)
            .checked_sub(1)
            .and_then(|i| self.labels.get(i).copied().flatten())
    }

    /// What each task saw (see [`Outcome`]).
    pub fn outcome(&self) -> Outcome {
        let tasks = self
            .steps
            .iter()
            .map(|s| s.task as usize + 1)
            .max()
            .unwrap_or(1);
        // Each task's path: the spawn indices from task 0 down to it.
        let mut path: Vec<Vec<u32>> = vec![Vec::new(); tasks];
        let mut children = vec![0u32; tasks];
        for step in self.steps {
            if let (Op::Spawn, Some(child)) = (step.op, step.wrote) {
                let parent = step.task as usize;
                let mut p = path[parent].clone();
                p.push(children[parent]);
                children[parent] += 1;
                path[child as usize] = p;
            }
        }
        let mut order: Vec<usize> = (0..tasks).collect();
        order.sort_by(|&a, &b| path[a].cmp(&path[b]));
        let mut number = vec![0u64; tasks];
        for (n, &t) in order.iter().enumerate() {
            number[t] = n as u64;
        }
        let mut seen = vec![Vec::new(); tasks];
        // What a killed task saw died with it (on a real OS its process's memory is gone, and
        // only what it wrote is left, which the others see): its kill is all it shows.
        let mut killed = vec![false; tasks];
        for step in self.steps.iter().filter(|s| s.op == Op::Kill) {
            killed[step.task as usize] = true;
        }
        for step in self.steps {
            if killed[step.task as usize] && step.op != Op::Kill {
                continue;
            }
            let wrote = match step.op {
                Op::Spawn | Op::Join => step.wrote.map(|t| number[t as usize]),
                _ => step.wrote,
            };
            seen[number[step.task as usize] as usize].push(Seen {
                op: step.op,
                object: self.label(step.obj),
                read: step.read,
                wrote,
            });
        }
        Outcome(seen)
    }
}
