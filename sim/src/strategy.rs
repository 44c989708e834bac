//! Exploration strategies: who decides each choice of an execution.
//!
//! Every strategy implements [`Strategy`]. The runtime calls [`Strategy::pick`] at every choice
//! point with the possible events in a canonical order; an execution is reproduced exactly by
//! feeding the same picks back ([`Guided`]).

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::footprint::Footprint;
use crate::schedule::Choice;

pub use crate::dfs::Dfs;

/// What the runtime tells a strategy at a choice point besides the options.
#[derive(Clone, Copy, Debug)]
pub struct PickContext<'a> {
    /// The task that was running, if it could go on (choosing anything else is a preemption).
    /// `None` at value choices and when the running task blocked or finished.
    pub current: Option<u32>,
    /// How many choices this execution has made so far.
    pub decisions: usize,
    /// What each option's event may touch (only for strategies that ask, see
    /// [`Strategy::wants_footprints`], from [`Strategy::footprints_from`]; empty otherwise
    /// and at value choices).
    pub footprints: &'a [Footprint],
    /// For each choice made so far, what its event touched (only for strategies that ask, see
    /// [`Strategy::wants_footprints`]; empty otherwise and at value choices). At a scheduling
    /// choice every event so far is over, so each is complete (at
    /// [`Granularity::Operation`](crate::Granularity::Operation) an event is many steps).
    pub effects: &'a [Footprint],
    /// The tasks waiting for a guard that fails now (`ready_when`; bit `t` for task `t`, bit
    /// 63 for every task from 63 on): they cannot run here whatever is chosen. Only where
    /// [`PickContext::footprints`] is filled in, else 0.
    pub guarded: u64,
    /// Whether the running task's next event may touch anything shared
    /// ([`Footprint::touches_anything`]), where it could go on and another option exists (only
    /// for strategies that ask, see [`Strategy::wants_current_touches`]; else `None`, and
    /// [`PickContext::footprints`] has the whole footprint for those that want every one).
    pub current_touches: Option<bool>,
    /// The processes whose kill among the options leaves the state that a kill of the same
    /// process at an earlier choice of this execution left (where that kill was an option
    /// too): since then only that process ran, and what it did does not outlive it (reads,
    /// writes that put back the value they found). Bit `p` for process `p` (bit 63 for every
    /// process from 63 on); only where [`PickContext::footprints`] is filled in, else 0.
    pub late_kills: u64,
    /// How many objects the execution has numbered so far (objects are numbered in the order
    /// they are made, from 1; some at their first use): every execution that makes the same
    /// choices up to here numbers the same objects the same way, and an object numbered later
    /// may get another number in another execution (see `Dfs`'s sleep sets).
    pub objects: u32,
}

/// A strategy's answer at a choice point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The option at this index happens.
    Take(usize),
    /// The strategy cannot follow the program (a recorded schedule does not fit it).
    Diverged,
    /// The rest of this execution is redundant: stop it (partial-order reduction).
    Abandon,
}

/// Before choice `at`, task `task`'s guard was seen failing (`ready_when`, `ready_if`): where
/// `cause`, the last write of `obj` may be what made it fail, and races with the operation the
/// task waits to run; otherwise `obj` is another word a failing check read, whose last write
/// that operation reads too (so a reversal of a cause puts the operation after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disabled {
    /// The choice before which the guard was seen failing.
    pub at: u32,
    /// The task.
    pub task: u32,
    /// The word.
    pub obj: u32,
    /// Whether the word's last write is a cause of the failure (or only what the check read).
    pub cause: bool,
}

/// An execution as the strategy sees it once it is over.
#[derive(Clone, Copy, Debug)]
pub struct Execution<'a> {
    /// Every choice made.
    pub schedule: &'a [Choice],
    /// For each choice, what the event it let happen touched (default for value choices);
    /// empty for a strategy that does not want footprints ([`Strategy::wants_footprints`]).
    pub effects: &'a [Footprint],
    /// (choice, task): the event of that choice woke that task from a futex wait (which
    /// disabled the task's timeout and spurious wake-up at that point).
    pub wakes: &'a [(u32, u32)],
    /// Tasks seen disabled by a guard that fails, in the order of their choices.
    pub disabled: &'a [Disabled],
    /// (choice, write, disabler): the event of that choice began with a guard
    /// (`ready_when`, without a deadline, or, with timeouts when idle, one that passed before
    /// its deadline) that passed only because of the write, the event
    /// of that choice: the value before it failed the guard, so the event could not have
    /// happened before the write. The disabler is the choice whose write made the guard fail
    /// last before (`u32::MAX`: it failed since the execution began).
    pub enablings: &'a [(u32, u32, u32)],
    /// The strategy abandoned it.
    pub abandoned: bool,
}

/// A way of exploring executions.
pub trait Strategy {
    /// A short description for reports ("random", "pct(d=3)", "dfs", ...).
    fn name(&self) -> String;
    /// Prepares the next execution; `false` when there is nothing left to explore.
    fn begin(&mut self) -> bool;
    /// Picks one of `options` (never empty).
    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Pick;
    /// The execution is over.
    fn end(&mut self, execution: &Execution);
    /// `true` if [`PickContext::current_touches`] should be filled in: one question about
    /// the running task's next event, at far less cost than [`Strategy::wants_footprints`]
    /// (no footprint is kept, nor any effect).
    fn wants_current_touches(&self) -> bool {
        false
    }

    /// `true` if [`PickContext::footprints`] should be filled in (it costs a little).
    fn wants_footprints(&self) -> bool {
        false
    }

    /// For a strategy that wants footprints: the first choice of the coming execution
    /// (counted from 0) at which it reads [`PickContext::footprints`],
    /// [`PickContext::guarded`] and [`PickContext::late_kills`]. Before it the strategy
    /// follows a path it has explored (a depth-first search re-running its stack), and they
    /// are left empty. Asked once per execution, after [`Strategy::begin`].
    fn footprints_from(&self) -> usize {
        0
    }
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

/// Where a randomized strategy kills a process (`Config::kills`): at a decision drawn
/// uniformly among the first `longest` (the longest execution seen so far), and after each
/// kill at one drawn as far again; so an execution has a kill at a uniformly random point
/// about as often as not. Drawn only once a kill is possible, so executions without kills draw
/// the same numbers as before kills existed.
#[derive(Debug)]
struct KillPoints {
    /// The decision at or after which the next kill happens (0: not drawn yet).
    next: usize,
    longest: usize,
}

impl KillPoints {
    fn begin(&mut self) {
        self.next = 0;
    }

    /// The option to kill at this decision, if any: a kill option (they come last) once the
    /// drawn point is reached.
    fn pick(
        &mut self,
        rng: &mut Xoshiro256PlusPlus,
        options: &[Choice],
        decision: usize,
    ) -> Option<usize> {
        let first = options.iter().position(|c| matches!(c, Choice::Kill(_)))?;
        if self.next == 0 {
            self.next = decision + 1 + below(rng, self.longest.max(1));
        }
        if decision < self.next {
            return None;
        }
        self.next = decision + 2 + below(rng, self.longest.max(1));
        Some(first + below(rng, options.len() - first))
    }

    /// The options other than kills (they come last).
    fn others(options: &[Choice]) -> usize {
        options
            .iter()
            .position(|c| matches!(c, Choice::Kill(_)))
            .unwrap_or(options.len())
    }

    fn end(&mut self, execution: &Execution) {
        self.longest = self.longest.max(execution.schedule.len());
    }
}

/// Uniformly random choices from a seeded generator; execution `i` uses its own stream, derived
/// from the seed and `i`, so any execution can be regenerated alone. Kills (`Config::kills`)
/// happen at random points (see `KillPoints`), not as one option among the others: that would
/// kill nearly every process within its first few steps.
#[derive(Debug)]
pub struct Random {
    seed: u64,
    execution: u64,
    rng: Xoshiro256PlusPlus,
    kills: KillPoints,
}

impl Random {
    /// A random walk from `seed`.
    pub fn new(seed: u64) -> Self {
        Random {
            seed,
            execution: 0,
            rng: rng_for(seed, 0),
            kills: KillPoints {
                next: 0,
                longest: 64,
            },
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
        self.kills.begin();
        true
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Pick {
        if let Some(kill) = self.kills.pick(&mut self.rng, options, ctx.decisions) {
            return Pick::Take(kill);
        }
        Pick::Take(below(&mut self.rng, KillPoints::others(options)))
    }

    fn end(&mut self, execution: &Execution) {
        self.kills.end(execution);
    }
}

/// Probabilistic Concurrency Testing: Burckhardt, Kothari, Musuvathi, Nagarakatte, "A
/// Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010.
///
/// Each task gets a random priority when it first appears; the highest-priority option always
/// runs; at `depth - 1` distinct random change points the running task's priority drops below
/// every initial one. A bug of depth `d` is found with probability at least `1 / (n ·
/// k^(d-1))` per execution, `k` the number of points a change point is drawn from: here only
/// the choices where a switch can change the outcome — the running task could go on, another
/// could run instead, and the running task's next event touches something shared (not a
/// task's start, end or bookkeeping) — `k` learned as the most such points an execution has
/// had so far, less the first (a change there mostly repeats what the initial priorities draw).
/// Timeouts and spurious wake-ups of a task are separate actors with their own priority, so a
/// high-priority waiter does not always time out at once. Kills (`Config::kills`) come at
/// random points of their own, drawn as change points are.
#[derive(Debug)]
pub struct Pct {
    depth: u32,
    seed: u64,
    execution: u64,
    rng: Xoshiro256PlusPlus,
    /// Priority per actor: index `2 * task` for the task, `2 * task + 1` for its timer events.
    priorities: Vec<Option<u64>>,
    /// This execution's change points in the order they come: the point, and the priority
    /// the running task drops to there.
    change_points: Vec<(usize, u64)>,
    /// How many of them have passed.
    changed: usize,
    /// The points where a change may happen so far in this execution.
    points: usize,
    longest: usize,
    kills: KillPoints,
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
            changed: 0,
            points: 0,
            longest: 0,
            kills: KillPoints {
                next: 0,
                longest: 64,
            },
        }
    }

    fn actor(choice: Choice) -> usize {
        match choice {
            Choice::Run(t) => 2 * t as usize,
            Choice::Timeout(t) | Choice::Spurious(t) => 2 * t as usize + 1,
            Choice::Value(_) | Choice::Kill(_) => {
                unreachable!("values and kills are chosen at random")
            }
        }
    }

    fn priority(&mut self, actor: usize) -> u64 {
        if self.priorities.len() <= actor {
            self.priorities.resize(actor + 1, None);
        }
        match self.priorities[actor] {
            Some(p) => p,
            None => {
                // Initial priorities lie above every change-point priority (< depth). The
                // first execution, which learns `k`, runs the natural schedule: the older a
                // task, the higher its priority (each runs until it blocks, in the order they
                // were made), a schedule many bugs already show; later ones draw at random.
                let p = self.depth as u64
                    + if self.execution == 1 {
                        (u64::MAX >> 1) - actor as u64
                    } else {
                        self.rng.next_u64() >> 1
                    };
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
        self.changed = 0;
        self.points = 0;
        // The first execution, with none, learns how many points there are. Later ones draw
        // `depth - 1` distinct points (all there are, if fewer) among the second to the last
        // seen: a change at the first would only lower the task that runs first below all,
        // much as the random initial priorities already do (1 in n rank it last), and a point
        // drawn twice would be a change lost. The i-th drawn lowers its task to `depth - 2 -
        // i`, below every initial priority and in random order, as in PCT.
        if self.longest > 1 && self.depth > 1 {
            let candidates = self.longest - 1;
            let wanted = (self.depth as usize - 1).min(candidates);
            let lowest = self.depth as u64 - 2;
            if wanted <= 16 {
                // Drawing again on a repeat keeps every order of distinct points equally
                // likely, and allocates nothing (one execution is a few microseconds).
                while self.change_points.len() < wanted {
                    let point = 2 + below(&mut self.rng, candidates);
                    if self.change_points.iter().all(|&(p, _)| p != point) {
                        let i = self.change_points.len() as u64;
                        self.change_points.push((point, lowest - i));
                    }
                }
            } else {
                let drawn = rand::seq::index::sample(&mut self.rng, candidates, wanted);
                self.change_points.extend(
                    drawn
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (2 + p, lowest - i as u64)),
                );
            }
            self.change_points.sort_unstable();
        }
        self.kills.begin();
        true
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Pick {
        if let Choice::Value(_) = options[0] {
            return Pick::Take(below(&mut self.rng, options.len()));
        }
        if let Some(kill) = self.kills.pick(&mut self.rng, options, ctx.decisions) {
            return Pick::Take(kill);
        }
        let options = &options[..KillPoints::others(options)];
        if let Some(current) = ctx.current.filter(|_| options.len() > 1) {
            // Whether the running task's next event touches anything shared (without the
            // answer, every point where another task could run counts).
            let touches = ctx.current_touches.unwrap_or(true);
            if touches {
                self.points += 1;
                if let Some(&(_, lowered)) = self
                    .change_points
                    .get(self.changed)
                    .filter(|&&(p, _)| p == self.points)
                {
                    self.changed += 1;
                    let actor = 2 * current as usize;
                    self.priority(actor);
                    self.priorities[actor] = Some(lowered);
                }
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
        Pick::Take(best)
    }

    fn end(&mut self, execution: &Execution) {
        self.longest = self.longest.max(self.points);
        self.kills.end(execution);
    }

    fn wants_current_touches(&self) -> bool {
        true
    }
}

/// How [`Guided`] treats a recorded choice that the program does not offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// It is nondeterminism: the same program must offer the same choices.
    Strict,
    /// It is replaced by the default; later choices are still followed (shrinking).
    Loose,
    /// The run leaves the recording there and goes on with the default (a replay against code
    /// that may have changed).
    Until,
}

/// Follows a recorded schedule. Strict: a recorded choice that is not possible is
/// nondeterminism. Loose (for shrinking): it is replaced by `default_pick`. Replay: the run
/// leaves the recording at the first choice that is not possible and goes on with
/// `default_pick`. Past the end of the recording (a fixed program may run further than the
/// failing one did), all three apply the default.
#[derive(Debug)]
pub struct Guided {
    choices: Vec<Choice>,
    position: usize,
    mode: Mode,
    runs: u32,
    left: Option<usize>,
}

impl Guided {
    fn with(choices: Vec<Choice>, mode: Mode) -> Self {
        Guided {
            choices,
            position: 0,
            mode,
            runs: 0,
            left: None,
        }
    }

    /// Replays `choices` exactly, once.
    pub fn strict(choices: Vec<Choice>) -> Self {
        Self::with(choices, Mode::Strict)
    }

    /// Follows `choices` where it can, once.
    pub fn loose(choices: Vec<Choice>) -> Self {
        Self::with(choices, Mode::Loose)
    }

    /// Follows `choices` until the program no longer offers the recorded choice, then the
    /// default; once.
    pub fn replay(choices: Vec<Choice>) -> Self {
        Self::with(choices, Mode::Until)
    }

    /// For [`Guided::replay`]: the index of the first recorded choice the program did not
    /// offer, where the run left the recording.
    pub fn left_at(&self) -> Option<usize> {
        self.left
    }
}

impl Strategy for Guided {
    fn name(&self) -> String {
        "replay".to_owned()
    }

    fn begin(&mut self) -> bool {
        self.position = 0;
        self.left = None;
        self.runs += 1;
        self.runs == 1
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Pick {
        let wanted = self.choices.get(self.position).copied();
        self.position += 1;
        let Some(wanted) = wanted.filter(|_| self.left.is_none()) else {
            return Pick::Take(default_pick(options, ctx));
        };
        match options.iter().position(|&o| o == wanted) {
            Some(i) => Pick::Take(i),
            None => match self.mode {
                Mode::Strict => Pick::Diverged,
                Mode::Loose => Pick::Take(default_pick(options, ctx)),
                Mode::Until => {
                    self.left = Some(self.position - 1);
                    Pick::Take(default_pick(options, ctx))
                }
            },
        }
    }

    fn end(&mut self, _execution: &Execution) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After the first execution, PCT draws `depth - 1` change points (every point there is,
    /// if fewer), distinct, never the first point, each lowering its task to a priority of
    /// its own below every initial one; and every point but the first is drawn.
    #[test]
    fn pct_draws_distinct_change_points_past_the_first() {
        for depth in [1, 2, 3, 5, 40] {
            for longest in [0, 1, 2, 3, 10, 1000] {
                let mut pct = Pct::new(depth, 7);
                assert!(pct.begin());
                assert!(pct.change_points.is_empty(), "the first execution learns");
                pct.longest = longest;
                let mut seen = vec![false; longest + 1];
                for _ in 0..200 {
                    assert!(pct.begin());
                    let points: Vec<usize> = pct.change_points.iter().map(|c| c.0).collect();
                    let wanted = match longest {
                        0 | 1 => 0,
                        _ => (depth as usize - 1).min(longest - 1),
                    };
                    assert_eq!(points.len(), wanted, "depth {depth}, {longest} points");
                    assert!(points.windows(2).all(|w| w[0] < w[1]), "{points:?}");
                    assert!(
                        points.iter().all(|p| (2..=longest).contains(p)),
                        "{points:?}"
                    );
                    let mut lowered: Vec<u64> = pct.change_points.iter().map(|c| c.1).collect();
                    lowered.sort_unstable();
                    lowered.dedup();
                    assert_eq!(lowered.len(), wanted);
                    assert!(lowered.iter().all(|&p| p + 1 < u64::from(depth)));
                    for p in points {
                        seen[p] = true;
                    }
                }
                if depth > 1 && longest <= 10 {
                    assert!(seen.iter().skip(2).all(|&s| s), "depth {depth}: {seen:?}");
                }
            }
        }
    }
}
