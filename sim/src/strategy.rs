//! Exploration strategies: who decides each choice of an execution.
//!
//! Every strategy implements [`Strategy`]. The runtime calls [`Strategy::pick`] at every choice
//! point with the possible events in a canonical order; an execution is reproduced exactly by
//! feeding the same picks back ([`Guided`]).

use std::collections::VecDeque;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::schedule::Choice;

/// What the runtime tells a strategy at a choice point besides the options.
#[derive(Clone, Copy, Debug)]
pub struct PickContext {
    /// The task that was running, if it could go on (choosing anything else is a preemption).
    /// `None` at value choices and when the running task blocked or finished.
    pub current: Option<u32>,
    /// How many choices this execution has made so far.
    pub decisions: usize,
}

/// A way of exploring executions.
pub trait Strategy {
    /// A short description for reports ("random", "pct(d=3)", "dfs", ...).
    fn name(&self) -> String;
    /// Prepares the next execution; `false` when there is nothing left to explore.
    fn begin(&mut self) -> bool;
    /// Picks one of `options` (never empty); `None` if the strategy cannot follow the program
    /// (a replayed schedule that no longer fits: nondeterminism).
    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Option<usize>;
    /// The execution is over; `schedule` is every choice it made.
    fn end(&mut self, schedule: &[Choice]);
    /// `true` once the strategy has covered every execution (exhaustive strategies only).
    fn complete(&self) -> bool {
        false
    }
}

/// The choice that changes nothing: the running task goes on if it can, else the first option.
pub(crate) fn default_pick(options: &[Choice], ctx: &PickContext) -> usize {
    ctx.current
        .and_then(|c| options.iter().position(|&o| o == Choice::Run(c)))
        .unwrap_or(0)
}

fn rng_for(seed: u64, execution: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ execution.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn below(rng: &mut Xoshiro256PlusPlus, n: usize) -> usize {
    ((rng.next_u32() as u64 * n as u64) >> 32) as usize
}

/// Uniformly random choices from a seeded generator; execution `i` uses its own stream, derived
/// from the seed and `i`, so any execution can be regenerated alone.
#[derive(Debug)]
pub struct Random {
    seed: u64,
    execution: u64,
    rng: Xoshiro256PlusPlus,
}

impl Random {
    /// A random walk from `seed`.
    pub fn new(seed: u64) -> Self {
        Random {
            seed,
            execution: 0,
            rng: rng_for(seed, 0),
        }
    }
}

impl Strategy for Random {
    fn name(&self) -> String {
        "random".to_owned()
    }

    fn begin(&mut self) -> bool {
        self.execution += 1;
        self.rng = rng_for(self.seed, self.execution);
        true
    }

    fn pick(&mut self, options: &[Choice], _ctx: &PickContext) -> Option<usize> {
        Some(below(&mut self.rng, options.len()))
    }

    fn end(&mut self, _schedule: &[Choice]) {}
}

/// Probabilistic Concurrency Testing: Burckhardt, Kothari, Musuvathi, Nagarakatte, "A
/// Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010.
///
/// Each task gets a random priority when it first appears; the highest-priority option always
/// runs; at `depth - 1` random change points (among the first `k` choices, `k` learned as the
/// longest execution seen so far) the running task's priority drops below every initial one.
/// A bug of depth `d` is found with probability at least `1 / (n · k^(d-1))` per execution.
/// Timeouts and spurious wake-ups of a task are separate actors with their own priority, so a
/// high-priority waiter does not always time out at once.
#[derive(Debug)]
pub struct Pct {
    depth: u32,
    seed: u64,
    execution: u64,
    rng: Xoshiro256PlusPlus,
    /// Priority per actor: index `2 * task` for the task, `2 * task + 1` for its timer events.
    priorities: Vec<Option<u64>>,
    change_points: Vec<usize>,
    longest: usize,
}

impl Pct {
    /// PCT of the given bug depth (`depth ≥ 1`) from `seed`.
    pub fn new(depth: u32, seed: u64) -> Self {
        Pct {
            depth: depth.max(1),
            seed,
            execution: 0,
            rng: rng_for(seed, 0),
            priorities: Vec::new(),
            change_points: Vec::new(),
            longest: 64,
        }
    }

    fn actor(choice: Choice) -> usize {
        match choice {
            Choice::Run(t) => 2 * t as usize,
            Choice::Timeout(t) | Choice::Spurious(t) => 2 * t as usize + 1,
            Choice::Value(_) => unreachable!("values are chosen at random"),
        }
    }

    fn priority(&mut self, actor: usize) -> u64 {
        if self.priorities.len() <= actor {
            self.priorities.resize(actor + 1, None);
        }
        match self.priorities[actor] {
            Some(p) => p,
            None => {
                // Initial priorities lie above every change-point priority (< depth).
                let p = self.depth as u64 + (self.rng.next_u64() >> 1);
                self.priorities[actor] = Some(p);
                p
            }
        }
    }
}

impl Strategy for Pct {
    fn name(&self) -> String {
        format!("pct(depth {})", self.depth)
    }

    fn begin(&mut self) -> bool {
        self.execution += 1;
        self.rng = rng_for(self.seed, self.execution);
        self.priorities.clear();
        self.change_points.clear();
        for _ in 1..self.depth {
            let point = 1 + below(&mut self.rng, self.longest.max(1));
            self.change_points.push(point);
        }
        true
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Option<usize> {
        if let Choice::Value(_) = options[0] {
            return Some(below(&mut self.rng, options.len()));
        }
        let decision = ctx.decisions + 1;
        if let Some(i) = self.change_points.iter().position(|&p| p == decision) {
            if let Some(current) = ctx.current {
                let actor = 2 * current as usize;
                self.priority(actor);
                self.priorities[actor] = Some((self.depth as u64 - 1).saturating_sub(i as u64 + 1));
            }
        }
        let mut best = 0;
        let mut best_priority = 0;
        for (i, &option) in options.iter().enumerate() {
            let p = self.priority(Self::actor(option));
            if i == 0 || p > best_priority {
                best = i;
                best_priority = p;
            }
        }
        Some(best)
    }

    fn end(&mut self, schedule: &[Choice]) {
        self.longest = self.longest.max(schedule.len());
    }
}

/// Follows a recorded schedule. Strict: a recorded choice that is not possible is
/// nondeterminism. Loose (for shrinking): it is replaced by [`default_pick`]. Past the end of
/// the recording (a fixed program may run further than the failing one did), both apply the
/// default.
#[derive(Debug)]
pub struct Guided {
    choices: Vec<Choice>,
    position: usize,
    strict: bool,
    runs: u32,
}

impl Guided {
    /// Replays `choices` exactly, once.
    pub fn strict(choices: Vec<Choice>) -> Self {
        Guided {
            choices,
            position: 0,
            strict: true,
            runs: 0,
        }
    }

    /// Follows `choices` where it can, once.
    pub fn loose(choices: Vec<Choice>) -> Self {
        Guided {
            strict: false,
            ..Guided::strict(choices)
        }
    }
}

impl Strategy for Guided {
    fn name(&self) -> String {
        "replay".to_owned()
    }

    fn begin(&mut self) -> bool {
        self.position = 0;
        self.runs += 1;
        self.runs == 1
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Option<usize> {
        let wanted = self.choices.get(self.position).copied();
        self.position += 1;
        match wanted {
            None => Some(default_pick(options, ctx)),
            Some(w) => match options.iter().position(|&o| o == w) {
                Some(i) => Some(i),
                None if self.strict => None,
                None => Some(default_pick(options, ctx)),
            },
        }
    }

    fn end(&mut self, _schedule: &[Choice]) {}
}

/// A choice point of the depth-first search below the current work item's prefix.
#[derive(Debug)]
struct Node {
    options: Vec<Choice>,
    /// Option indices in exploration order: the non-preemptive one first.
    order: Vec<usize>,
    /// Position in `order` of the option taken now.
    at: usize,
    /// The task that could have gone on, if any (other options preempt it).
    current: Option<u32>,
    /// Preemptions on the path before this node.
    preemptions: u32,
}

impl Node {
    fn preempts(&self, option: usize) -> bool {
        self.current
            .is_some_and(|c| self.options[option] != Choice::Run(c))
    }
}

/// Exhaustive depth-first search with iterative preemption bounding (Musuvathi & Qadeer,
/// "Iterative Context Bounding for Systematic Testing of Multithreaded Programs", PLDI 2007).
///
/// Round `b` explores every execution with exactly the preemption budget `b`: executions that
/// need more are cut at the preemption that exceeds the budget, and that point becomes a work
/// item of round `b + 1`. So every execution runs exactly once, in increasing order of
/// preemptions, and a bug that needs few preemptions is found early however large the space is.
/// The search is complete when a round cuts nothing.
#[derive(Debug)]
pub struct Dfs {
    bound: u32,
    max_bound: Option<u32>,
    /// The forced prefix of the current work item.
    prefix: Vec<Choice>,
    items: VecDeque<Vec<Choice>>,
    next_round: Vec<Vec<Choice>>,
    stack: Vec<Node>,
    depth: usize,
    preemptions: u32,
    /// Set when a choice that exceeds `max_bound` was cut: the search is not complete.
    cut_for_good: bool,
    max_items: usize,
    finished: bool,
    started: bool,
}

impl Dfs {
    /// Exhaustive search; `max_bound` stops it after that many preemptions (the report then
    /// says bounded if anything was cut).
    pub fn new(max_bound: Option<u32>) -> Self {
        Dfs {
            bound: 0,
            max_bound,
            prefix: Vec::new(),
            items: VecDeque::new(),
            next_round: Vec::new(),
            stack: Vec::new(),
            depth: 0,
            preemptions: 0,
            cut_for_good: false,
            max_items: 4_000_000,
            finished: false,
            started: false,
        }
    }

    /// The path to `node`'s option `option`, as a work item.
    fn cut(&mut self, node: usize, option: usize) {
        if self.max_bound.is_some_and(|m| self.bound >= m)
            || self.next_round.len() >= self.max_items
        {
            self.cut_for_good = true;
            return;
        }
        let mut path = self.prefix.clone();
        for n in &self.stack[..node] {
            path.push(n.options[n.order[n.at]]);
        }
        path.push(self.stack[node].options[option]);
        self.next_round.push(path);
    }

    /// Moves to the next execution within this work item; `false` if it is exhausted.
    fn backtrack(&mut self) -> bool {
        while let Some(last) = self.stack.len().checked_sub(1) {
            loop {
                let node = &mut self.stack[last];
                node.at += 1;
                if node.at >= node.order.len() {
                    break;
                }
                let option = node.order[node.at];
                if node.preemptions + node.preempts(option) as u32 <= self.bound {
                    return true;
                }
                self.cut(last, option);
            }
            self.stack.pop();
        }
        false
    }
}

impl Strategy for Dfs {
    fn name(&self) -> String {
        match self.max_bound {
            Some(b) => format!("dfs(preemption bound {b})"),
            None => "dfs".to_owned(),
        }
    }

    fn begin(&mut self) -> bool {
        if self.finished {
            return false;
        }
        if !self.started {
            self.started = true;
            return true;
        }
        if self.backtrack() {
            return true;
        }
        loop {
            if let Some(prefix) = self.items.pop_front() {
                self.prefix = prefix;
                self.stack.clear();
                return true;
            }
            if self.next_round.is_empty() {
                self.finished = true;
                return false;
            }
            self.bound += 1;
            self.items = std::mem::take(&mut self.next_round).into();
        }
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Option<usize> {
        let d = ctx.decisions;
        if d == 0 {
            self.depth = 0;
            self.preemptions = 0;
        }
        let (chosen, preempting) = if d < self.prefix.len() {
            let i = options.iter().position(|&o| o == self.prefix[d])?;
            (i, ctx.current.is_some_and(|c| options[i] != Choice::Run(c)))
        } else {
            let level = d - self.prefix.len();
            if level < self.stack.len() {
                let node = &self.stack[level];
                if node.options != options {
                    return None;
                }
                let i = node.order[node.at];
                (i, node.preempts(i))
            } else {
                let first = default_pick(options, ctx);
                let mut order = vec![first];
                order.extend((0..options.len()).filter(|&i| i != first));
                let current = match options[0] {
                    Choice::Value(_) => None,
                    _ => ctx.current,
                };
                self.stack.push(Node {
                    options: options.to_vec(),
                    order,
                    at: 0,
                    current,
                    preemptions: self.preemptions,
                });
                (first, false)
            }
        };
        self.depth = d + 1;
        self.preemptions += preempting as u32;
        Some(chosen)
    }

    fn end(&mut self, _schedule: &[Choice]) {
        // A node created below the depth this execution reached cannot exist: executions follow
        // the stack exactly, so nothing to trim.
        self.stack
            .truncate(self.depth.saturating_sub(self.prefix.len()));
    }

    fn complete(&self) -> bool {
        self.finished && !self.cut_for_good
    }
}
