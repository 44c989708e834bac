//! # mpcheck-sim
//!
//! A deterministic simulator for concurrent Rust code. Tasks are stackful coroutines on one OS
//! thread; every operation on shared state (atomics, cells, futex wait/wake, the clock, spawn,
//! join, yield, data choices) is a *scheduling point*, where a strategy decides what happens
//! next. An execution is fully determined by its sequence of choices, so every failure comes
//! with a file that replays it exactly.
//!
//! - Strategies ([`strategy`]): seeded random walk, PCT, exhaustive DFS with iterative
//!   preemption bounding, and replay.
//! - Virtual time: sleeps and deadlines are exact and instant; a timed wait may time out while
//!   other tasks run, so both outcomes are explored.
//! - Faults: spurious futex wake-ups ([`Config::spurious_wakeups`]) and kills of simulated
//!   processes ([`Config::kills`]), on demand.
//! - Failures: a panic in any task, deadlock (with who waits for what and who took it), a step
//!   bound (livelock), a stack overflow, nondeterminism. Each is shrunk to fewer preemptions,
//!   written as a JSON replay file and shown as a trace with one column per task. A replay file
//!   is a regression test: replayed against fixed code, it passes.
//! - Yields are hints: a task that yields runs again only after the tasks that could act did
//!   (fair scheduling), so spinning with `yield_now` is not a livelock.
//!
//! This crate knows nothing about the primitives it checks; `mpcheck`'s `Sim` platform adapts it.
//!
//! ```
//! use mpcheck_sim::{explore, spawn, AtomicU32, Config};
//! use std::sync::{atomic::Ordering::SeqCst, Arc};
//!
//! // A racy increment: load, then store. Two tasks can both read 0.
//! let result = explore(Config::dfs().no_files(), || {
//!     let n = Arc::new(AtomicU32::new(0));
//!     let m = n.clone();
//!     let t = spawn(move || { let v = m.load(SeqCst); m.store(v + 1, SeqCst); });
//!     let v = n.load(SeqCst);
//!     n.store(v + 1, SeqCst);
//!     t.join();
//!     assert_eq!(n.load(SeqCst), 2, "lost update");
//! });
//! let failure = result.unwrap_err();
//! assert!(failure.message().contains("lost update"));
//! assert_eq!(failure.preemptions(), 1);
//! ```

#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

mod api;
mod dfs;
mod footprint;
mod hook;
mod html;
mod observe;
mod operation;
mod report;
mod rt;
mod schedule;
mod stack;
pub mod strategy;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use api::{
    choose, current_process, current_task, futex_wait, futex_wait_watching_deaths, futex_wake, now,
    process_alive, process_count, process_started, processes_started, ready_if, ready_when,
    ready_when_held, ready_when_or_dead, sleep, spawn, spawn_process, yield_now, AtomicBool,
    AtomicU32, AtomicU64, Cell, JoinHandle,
};
pub use footprint::{Access, Footprint};
pub use html::escape_markup;
pub use observe::{Observed, Outcome, Seen};
pub use operation::{operation, Caller, Operation};
pub use report::{Blocked, Failure, FailureKind, Replayed, Report, Site};
pub use rt::{in_execution, operations_are_events, Op, Step, WaitOutcome};
pub use schedule::{Choice, Schedule};

use dfs::TRIAL;
use report::{digest, render_trace, FailureFile, FORMAT};
use rt::{run_execution, Ran, Settings};
use strategy::{Dfs, Execution, Guided, Pct, Random, Strategy};

/// The engine's name and version, written into replay files.
pub const ENGINE: &str = concat!("mpcheck-sim ", env!("CARGO_PKG_VERSION"));

/// When a timed wait may time out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeouts {
    /// At any point: a timed wait races with everything else, so both "woken" and "timed out"
    /// are explored. The default.
    Race,
    /// Only when no task can run: the clock jumps to the earliest deadline. Smaller search
    /// space; misses early timeouts.
    WhenIdle,
}

/// What one step of an execution is: the unit whose orders the strategies explore.
///
/// Two questions, two granularities (see `docs/sim.md`, "Granularity"): whether a primitive is
/// right is proven at [`Granularity::Step`], every atomic and every futex call of its
/// algorithm interleaved; whether a program built on proven primitives is right is checked at
/// [`Granularity::Operation`], each operation of a primitive taken as its specification says
/// it behaves, one step, which makes the space of a program's executions many times smaller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// Every call into the engine is a step: an atomic, a cell access, a futex wait or wake,
    /// the clock. How mpcheck's property suite proves its primitives' futex algorithms.
    Step,
    /// A primitive's operation (from its [`operation`] to the guard's drop) runs as one step,
    /// up to where it blocks: a blocking operation is one step up to its sleep and one from
    /// its wake-up on (a `Lock::acquire` that finds the lock held: one step that sleeps, and
    /// one that takes the lock once woken). No other task runs inside such a step, no kill
    /// stops it there, and what it touched counts as one event for partial-order reduction.
    /// Steps outside operations (the program's own atomics and cells, spawn, join, sleep,
    /// yield) are steps as at [`Granularity::Step`]. The default.
    #[default]
    Operation,
}

impl Granularity {
    /// The name in reports and replay files: `"step"` or `"operation"`.
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Step => "step",
            Granularity::Operation => "operation",
        }
    }

    /// The granularity of [`Granularity::name`]; `None` for another text.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "step" => Some(Granularity::Step),
            "operation" => Some(Granularity::Operation),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Random,
    Pct(u32),
    Dfs,
}

/// How to explore: strategy, budget, seed, faults, where failures go.
#[derive(Clone, Debug)]
pub struct Config {
    kind: Kind,
    iterations: u64,
    time_limit: Option<Duration>,
    seed: u64,
    preemption_bound: Option<u32>,
    rounds: bool,
    trial: u64,
    reduction: bool,
    sections_commute: bool,
    max_steps: usize,
    spurious_wakeups: u32,
    kills: u32,
    timeouts: Timeouts,
    granularity: Granularity,
    failure_dir: Option<PathBuf>,
    write_files: bool,
    shrink: bool,
    check_determinism: bool,
    stack_size: usize,
    name: String,
    use_env: bool,
}

/// The strategy and its budget, then every exploration setting that differs from the
/// default: `dfs, preemption bound 2, timeouts when idle`.
impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let default = Config::with(self.kind, self.iterations);
        match self.kind {
            Kind::Random => write!(f, "random, {} runs", self.iterations)?,
            Kind::Pct(d) => write!(f, "pct d={d}, {} runs", self.iterations)?,
            Kind::Dfs if self.iterations == u64::MAX => f.write_str("dfs")?,
            Kind::Dfs => write!(f, "dfs, at most {} runs", self.iterations)?,
        }
        if let Some(limit) = self.time_limit {
            write!(f, ", time limit {:.1} s", limit.as_secs_f64())?;
        }
        if self.kind != Kind::Dfs && self.seed != default.seed {
            write!(f, ", seed {}", self.seed)?;
        }
        if let Some(b) = self.preemption_bound {
            write!(f, ", preemption bound {b}")?;
        }
        if !self.rounds {
            f.write_str(", one round")?;
        } else if self.kind == Kind::Dfs && self.trial != default.trial {
            write!(f, ", trial of {} runs", self.trial)?;
        }
        if !self.reduction {
            f.write_str(", no reduction")?;
        } else if self.sections_commute && self.kind == Kind::Dfs {
            f.write_str(", sections commute")?;
        }
        if self.spurious_wakeups != 0 {
            write!(f, ", {} spurious wake-up(s)", self.spurious_wakeups)?;
        }
        if self.kills != 0 {
            write!(f, ", {} kill(s)", self.kills)?;
        }
        if self.timeouts == Timeouts::WhenIdle {
            f.write_str(", timeouts when idle")?;
        }
        if self.granularity == Granularity::Step {
            f.write_str(", step granularity")?;
        }
        if self.max_steps != default.max_steps {
            write!(f, ", at most {} steps", self.max_steps)?;
        }
        Ok(())
    }
}

impl Config {
    fn with(kind: Kind, iterations: u64) -> Self {
        Config {
            kind,
            iterations,
            time_limit: None,
            seed: 0x6d70_6368_6563_6b21,
            preemption_bound: None,
            rounds: true,
            trial: TRIAL,
            reduction: true,
            sections_commute: false,
            max_steps: 100_000,
            spurious_wakeups: 0,
            kills: 0,
            timeouts: Timeouts::Race,
            granularity: Granularity::default(),
            failure_dir: None,
            write_files: true,
            shrink: true,
            check_determinism: false,
            stack_size: stack::DEFAULT_SIZE,
            name: "failure".to_owned(),
            use_env: true,
        }
    }

    /// `iterations` executions of a seeded random walk.
    pub fn random(iterations: u64) -> Self {
        Self::with(Kind::Random, iterations)
    }

    /// `iterations` executions of PCT for bugs of depth `depth` (see [`strategy::Pct`]; a depth
    /// of 0 runs as 1; no execution gets more change points than it has points where a switch
    /// can matter).
    pub fn pct(depth: u32, iterations: u64) -> Self {
        Self::with(Kind::Pct(depth.max(1)), iterations)
    }

    /// Exhaustive depth-first search in increasing order of preemptions (see
    /// [`strategy::Dfs`]); stops when the space is covered.
    pub fn dfs() -> Self {
        Self::with(Kind::Dfs, u64::MAX)
    }

    /// The seed of the random strategies (overridden by `MPCHECK_SEED`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The most executions to run (overridden by `MPCHECK_ITERATIONS`).
    pub fn iterations(mut self, iterations: u64) -> Self {
        self.iterations = iterations;
        self
    }

    /// Begins no execution once `limit` has passed since the exploration began (wall-clock;
    /// none by default): the report says how many ran and, for an exhaustive search, that it
    /// is not complete ([`Report::timed_out`]). The execution running at the limit finishes
    /// (its own length is bounded by [`Config::max_steps`]). A budget for a search that might
    /// not finish in the time a test or a CI job has, which still reports what it covered.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// DFS: explore at most this many preemptions per execution; the report says bounded if
    /// that cut anything. (With rounds, a bound above 63 runs rounds 0 to 63 and then one at
    /// the bound.)
    pub fn preemption_bound(mut self, bound: u32) -> Self {
        self.preemption_bound = Some(bound);
        self
    }

    /// DFS: rounds of growing preemption bound (the default: 0, 1, 2, then unbounded, or up to
    /// [`Config::preemption_bound`]), each complete within its bound, so that a bug that needs
    /// `k` preemptions is found in round `k`; or (`false`) one round at the largest bound, the
    /// fewest executions to cover the space when no bug is expected (a proof).
    pub fn rounds(mut self, on: bool) -> Self {
        self.rounds = on;
        self
    }

    /// DFS with rounds: how many executions the last round runs alone, as a trial, before the
    /// rounds of smaller bound begin (default 1,000; `0`: none, and the rounds run one after
    /// the other, each to its end). A space that small is covered in the trial in the fewest
    /// executions, with no round of few preemptions exploring its orders first. In a bigger
    /// one the last round goes on after the trial, in every other execution, while the
    /// rounds of smaller bound run in order in the executions between: the search ends when
    /// a round covers the space, in at most twice the last round's own executions. A failure
    /// found in any round is shrunk to its fewest preemptions like any other.
    pub fn trial(mut self, executions: u64) -> Self {
        self.trial = executions;
        self
    }

    /// DFS: partial-order reduction on (the default) or off (every interleaving, as plain
    /// depth-first search explores them).
    pub fn reduction(mut self, on: bool) -> Self {
        self.reduction = on;
        self
    }

    /// DFS with reduction: critical sections under one lock that touch different objects
    /// commute (default off). A lock's critical sections are then ordered only where an
    /// event of one depends on an event of another through the objects they touch (lazy
    /// happens-before: see docs/sim.md, "Critical sections that commute"): `n` tasks that
    /// each take one lock to update an object of their own explore one execution where every
    /// order of their sections was one before.
    ///
    /// Sound only where the simulator sees everything a section touches: atomics, cells and
    /// what mpcheck's primitives keep (`Value`, `Array`, the std-shaped facade's `Mutex`,
    /// whose data counts as one object written by every lock of it). Data in plain memory
    /// that a lock guards (a `static mut`, an `UnsafeCell` of the program's own) is invisible
    /// to the search, and two sections that both touch it would be taken to commute. Only
    /// the locks whose word names its holder (`ready_when_held`), taken without a timeout and
    /// released by their holder, whose sections neither wait nor take another lock, and only
    /// in the unbounded round and without kills; everything else keeps its edges.
    pub fn sections_commute(mut self, on: bool) -> Self {
        self.sections_commute = on;
        self
    }

    /// The most steps one execution may take before it fails as a livelock (default 100,000;
    /// at least 1).
    pub fn max_steps(mut self, steps: usize) -> Self {
        self.max_steps = steps.max(1);
        self
    }

    /// Up to `n` spurious futex wake-ups per execution, each at a point the strategy chooses
    /// (default 0).
    pub fn spurious_wakeups(mut self, n: u32) -> Self {
        self.spurious_wakeups = n;
        self
    }

    /// Up to `n` simulated processes killed per execution (default 0), each at a scheduling
    /// point the strategy chooses: any process but the first (the one the exploration's main
    /// task runs in) that still runs a task, wherever something else could happen too. A kill
    /// stops every task of the process where it is, for good — nothing of it runs any more, no
    /// destructor, so a lock it holds stays held — wakes every task asleep in a futex wait
    /// (spuriously: it looks again at what it waits for), and makes [`process_alive`] answer
    /// `false` for it; a join of one of its tasks returns ([`JoinHandle::try_join`] gives
    /// `None`). The kill is a choice of the schedule (`k2`: kill process 2), so a replay
    /// repeats it. Exhaustive search tries a kill of every process at every point where it
    /// makes a difference; random walk and PCT kill at random points.
    pub fn kills(mut self, n: u32) -> Self {
        self.kills = n;
        self
    }

    /// When timed waits may time out (default [`Timeouts::Race`]).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// What one step is (default [`Granularity::Operation`]): a primitive's operations as
    /// one step each, or every call into the engine.
    pub fn granularity(mut self, granularity: Granularity) -> Self {
        self.granularity = granularity;
        self
    }

    /// Where replay files go (overridden by `MPCHECK_FAILURE_DIR`; default
    /// `target/mpcheck/failures`).
    pub fn failure_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.failure_dir = Some(dir.into());
        self
    }

    /// Writes no replay file (for failures that are expected, in tests).
    pub fn no_files(mut self) -> Self {
        self.write_files = false;
        self
    }

    /// Reports the failing schedule as found, without shrinking it.
    pub fn no_shrink(mut self) -> Self {
        self.shrink = false;
        self
    }

    /// Runs every execution twice and fails with [`FailureKind::Nondeterminism`] if the two
    /// traces differ (every execution that ran to its end or failed: one the reduction
    /// abandoned as redundant stopped early, where a run of its schedule would go on).
    pub fn check_determinism(mut self, on: bool) -> Self {
        self.check_determinism = on;
        self
    }

    /// The stack size of every task (default 8 MiB, as a program's main thread; at least
    /// 128 KiB; more than 1 GiB, or more than the system maps, is a
    /// [`FailureKind::InvalidInput`] of the exploration). Stacks are mapped lazily: only the pages a task touches take memory. A task
    /// that runs out of stack fails the execution as a [`FailureKind::StackOverflow`], with
    /// its trace and replay file (which records the size).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes.max(stack::MIN_SIZE);
        self
    }

    /// A name for replay files (`<name>-<kind>-<digest>.json`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Ignores the `MPCHECK_*` environment variables.
    pub fn ignore_env(mut self) -> Self {
        self.use_env = false;
        self
    }

    #[track_caller]
    fn settings(&self) -> Settings {
        Settings {
            entry: std::panic::Location::caller(),
            max_steps: self.max_steps,
            spurious_wakeups: self.spurious_wakeups,
            timeouts_race: self.timeouts == Timeouts::Race,
            stack_size: self.stack_size,
            kills: self.kills,
            granularity: self.granularity,
        }
    }

    /// The strategy's name as reports give it, with the granularity: `dpor, operation
    /// granularity`.
    fn described(&self, strategy: &dyn Strategy) -> String {
        format!(
            "{}, {} granularity",
            strategy.name(),
            self.granularity.name()
        )
    }

    fn strategy(&self) -> Box<dyn Strategy> {
        match self.kind {
            Kind::Random => Box::new(Random::new(self.seed)),
            Kind::Pct(depth) => Box::new(Pct::new(depth, self.seed)),
            Kind::Dfs => {
                let dfs = Dfs::new(self.preemption_bound, self.reduction, self.trial)
                    .sections_commute(self.sections_commute);
                Box::new(if self.rounds { dfs } else { dfs.one_round() })
            }
        }
    }

    /// Applies `MPCHECK_SEED`, `MPCHECK_ITERATIONS` and `MPCHECK_FAILURE_DIR`.
    fn with_env(mut self) -> Result<Self, Failure> {
        if !self.use_env {
            return Ok(self);
        }
        if let Some(seed) = env_number("MPCHECK_SEED")? {
            self.seed = seed;
        }
        if let Some(n) = env_number("MPCHECK_ITERATIONS")? {
            self.iterations = n;
        }
        if let Some(dir) = std::env::var_os("MPCHECK_FAILURE_DIR") {
            self.failure_dir = Some(dir.into());
        }
        Ok(self)
    }

    fn dir(&self) -> PathBuf {
        self.failure_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/mpcheck/failures"))
    }
}

fn env_number(name: &str) -> Result<Option<u64>, Failure> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            invalid_input(format!(
                "{name}={text:?} is not a whole number (0 to {})",
                u64::MAX
            ))
        }),
    }
}

/// `InvalidInput` if `what` (an exploration or a replay) is called from inside an execution
/// (its tasks, or their destructors): one thread runs one execution at a time (the outer one
/// used to panic with an internal message once the inner one ended).
fn nested(what: &str) -> Result<(), Failure> {
    if rt::execution_installed() {
        return Err(invalid_input(format!(
            "sim::{what} was called inside an execution: explorations do not nest (run it \
             from the test's own code, or on another thread)"
        )));
    }
    Ok(())
}

fn invalid_input(message: String) -> Failure {
    Failure(Box::new(report::FailureInner {
        kind: FailureKind::InvalidInput,
        message,
        execution: 0,
        strategy: String::new(),
        seed: 0,
        schedule: Vec::new(),
        preemptions: 0,
        trace: Vec::new(),
        labels: Vec::new(),
        processes: Vec::new(),
        currents: Vec::new(),
        blocked: Vec::new(),
        file: None,
    }))
}

/// Explores executions of `f` (the main task) as `config` says. `Ok` with a [`Report`] if none
/// failed; `Err` with the (shrunk) [`Failure`] of the first that did, after writing its replay
/// file. With `MPCHECK_REPLAY=<file>` set, replays that file instead (see [`replay`]).
#[track_caller]
pub fn explore<F: Fn() + 'static>(config: Config, f: F) -> Result<Report, Failure> {
    explore_with(config, f, None)
}

/// As [`explore`], and shows `observe` every execution that ran to its end (not those the
/// reduction abandoned as redundant, nor a failing one): for measuring an exploration and for
/// cross-checking one against another (see [`Observed::outcome`]).
#[track_caller]
pub fn explore_observed<F: Fn() + 'static>(
    config: Config,
    f: F,
    mut observe: impl FnMut(Observed<'_>),
) -> Result<Report, Failure> {
    explore_with(config, f, Some(&mut observe))
}

#[track_caller]
fn explore_with<F: Fn() + 'static>(
    config: Config,
    f: F,
    mut observe: Option<&mut dyn FnMut(Observed<'_>)>,
) -> Result<Report, Failure> {
    nested("explore")?;
    let config = config.with_env()?;
    stack::check(config.stack_size)
        .map_err(|e| invalid_input(format!("Config::stack_size asks for {e}")))?;
    if config.use_env {
        if let Some(file) = std::env::var_os("MPCHECK_REPLAY") {
            return replay(file, f);
        }
    }
    let body: Rc<dyn Fn()> = Rc::new(f);
    let settings = config.settings();
    let mut strategy = config.strategy();
    let start = Instant::now();
    let (mut executions, mut steps, mut abandoned) = (0u64, 0u64, 0u64);
    let mut timed_out = false;
    while executions < config.iterations && strategy.begin() {
        if config
            .time_limit
            .is_some_and(|limit| start.elapsed() >= limit)
        {
            timed_out = true;
            break;
        }
        executions += 1;
        let outcome = run_execution(body.clone(), &mut *strategy, &settings);
        steps += outcome.trace.len() as u64;
        abandoned += outcome.abandoned as u64;
        strategy.end(&Execution {
            schedule: &outcome.schedule,
            effects: &outcome.effects,
            wakes: &outcome.wakes,
            disabled: &outcome.disabled,
            enablings: &outcome.enablings,
            abandoned: outcome.abandoned,
        });
        // An abandoned execution stopped where the reduction saw it was redundant: a run of its
        // schedule would go on past that point, so there is nothing to compare.
        let outcome = if config.check_determinism && outcome.failure.is_none() && !outcome.abandoned
        {
            determinism_check(&body, &settings, outcome)
        } else {
            outcome
        };
        if let Some(observe) = observe.as_mut().filter(|_| outcome.failure.is_none()) {
            if !outcome.abandoned {
                observe(Observed {
                    steps: &outcome.steps(),
                    labels: &outcome.labels,
                });
            }
        }
        if outcome.failure.is_some() {
            return Err(failure(
                &config,
                &settings,
                &body,
                outcome,
                executions,
                config.described(&*strategy),
            ));
        }
        rt::recycle(outcome);
    }
    Ok(Report {
        executions,
        abandoned,
        complete: !timed_out && strategy.complete(),
        timed_out,
        steps,
        elapsed: start.elapsed(),
        strategy: config.described(&*strategy),
        replayed: None,
    })
}

/// As [`explore`], but panics with the failure's trace: for use as a test body.
#[track_caller]
pub fn check<F: Fn() + 'static>(config: Config, f: F) -> Report {
    match explore(config, f) {
        Ok(report) => report,
        Err(failure) => panic!("{failure}"),
    }
}

/// Runs the execution recorded in `file` again, with the settings recorded there, and then
/// once more along the schedule it took: the two runs must give the same trace, else the
/// program depends on something outside the simulation ([`FailureKind::Nondeterminism`]).
///
/// - `Err` with the failure if the execution fails: with the identical trace while the bug is
///   there; if it now fails differently (another kind, another trace, or after leaving the
///   recorded schedule), the message says so first.
/// - `Ok` if the execution passes (the bug was fixed): keep the file as a regression test.
///   [`Report::replayed`] says how far the run followed the recorded schedule: once the
///   program no longer offers a recorded choice, the run goes on with the default choices.
/// - `Err` of kind [`FailureKind::InvalidInput`] if the file cannot be read.
#[track_caller]
pub fn replay<F: Fn() + 'static>(file: impl AsRef<Path>, f: F) -> Result<Report, Failure> {
    nested("replay")?;
    let path = file.as_ref();
    let (recorded, granularity) = read_file(path)?;
    stack::check(recorded.stack_size)
        .map_err(|e| invalid_input(format!("{} asks for {e}", path.display())))?;
    let settings = Settings {
        max_steps: recorded.max_steps,
        spurious_wakeups: recorded.spurious_wakeups,
        timeouts_race: recorded.timeouts == "race",
        stack_size: recorded.stack_size,
        kills: recorded.kills,
        granularity,
        entry: std::panic::Location::caller(),
    };
    let body: Rc<dyn Fn()> = Rc::new(f);
    let start = Instant::now();
    let mut guide = Guided::replay(recorded.schedule.0.clone());
    guide.begin();
    let outcome = run_execution(body.clone(), &mut guide, &settings);
    let replayed = Replayed {
        recorded: recorded.schedule.0.len(),
        followed: guide
            .left_at()
            .unwrap_or(outcome.schedule.len().min(recorded.schedule.0.len())),
        made: outcome.schedule.len(),
        left: guide.left_at().is_some(),
    };
    let outcome = determinism_check(&body, &settings, outcome);
    let steps = outcome.trace.len() as u64;
    let Some((kind, _)) = &outcome.failure else {
        return Ok(Report {
            executions: 1,
            abandoned: 0,
            complete: false,
            timed_out: false,
            steps,
            elapsed: start.elapsed(),
            strategy: "replay".to_owned(),
            replayed: Some(replayed),
        });
    };
    let kind = *kind;
    let mut failure = make_failure(
        outcome,
        recorded.execution,
        "replay".to_owned(),
        recorded.seed,
    );
    failure.0.file = Some(path.to_owned());
    let now = digest(&failure.trace_text());
    if kind != FailureKind::Nondeterminism
        && (replayed.left || kind != recorded.kind || now != recorded.trace_digest)
    {
        let how = if replayed.left {
            replayed.to_string()
        } else {
            "followed the recorded schedule, but the trace differs".to_owned()
        };
        failure.0.message = format!(
            "the replay of {} failed differently from the recorded execution (the code \
             changed?): it {how}; recorded: {} with trace {}; now: {kind} with trace \
             {now}.\n{}",
            path.display(),
            recorded.kind,
            recorded.trace_digest,
            failure.0.message
        );
    }
    Err(failure)
}

/// The replay file at `path`, and the granularity it was recorded at.
fn read_file(path: &Path) -> Result<(FailureFile, Granularity), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid_input(format!("cannot read replay file {}: {e}", path.display())))?;
    let recorded: FailureFile = serde_json::from_str(&text).map_err(|e| {
        invalid_input(format!(
            "{} is not an mpcheck-sim replay file: {e}",
            path.display()
        ))
    })?;
    if recorded.format == 0 || recorded.format > FORMAT {
        return Err(invalid_input(format!(
            "{} has format {}, this engine reads formats 1 to {FORMAT}",
            path.display(),
            recorded.format
        )));
    }
    if !["race", "when-idle"].contains(&recorded.timeouts.as_str()) {
        return Err(invalid_input(format!(
            "{} has timeouts {:?}, which are neither \"race\" nor \"when-idle\"",
            path.display(),
            recorded.timeouts
        )));
    }
    match Granularity::from_name(&recorded.granularity) {
        Some(granularity) => Ok((recorded, granularity)),
        None => Err(invalid_input(format!(
            "{} has granularity {:?}, which is neither \"step\" nor \"operation\"",
            path.display(),
            recorded.granularity
        ))),
    }
}

/// What a replay file says about the failure it holds, without running anything.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The exploration's name ([`Config::name`]): which scenario failed.
    pub name: String,
    /// The kind of failure.
    pub kind: FailureKind,
    /// Its message.
    pub message: String,
    /// The strategy that found it.
    pub strategy: String,
    /// The strategy's seed.
    pub seed: u64,
}

/// Reads a replay file's description ([`FailureKind::InvalidInput`] if it cannot be read).
pub fn inspect(file: impl AsRef<Path>) -> Result<Recorded, Failure> {
    let (recorded, _) = read_file(file.as_ref())?;
    Ok(Recorded {
        name: recorded.name,
        kind: recorded.kind,
        message: recorded.message,
        strategy: recorded.strategy,
        seed: recorded.seed,
    })
}

/// Runs the schedule of `first` again: the trace and the verdict must be the same, else the
/// outcome is a [`FailureKind::Nondeterminism`].
fn determinism_check(body: &Rc<dyn Fn()>, settings: &Settings, first: Ran) -> Ran {
    let mut again = Guided::strict(first.schedule.clone());
    again.begin();
    let mut second = run_execution(body.clone(), &mut again, settings);
    let kind = |run: &Ran| run.failure.as_ref().map(|f| f.0);
    if kind(&second) != kind(&first) || !second.same_trace(&first) {
        let at = first
            .trace
            .iter()
            .zip(&second.trace)
            .position(|(a, b)| a != b)
            .unwrap_or(first.trace.len().min(second.trace.len()));
        let what = match &second.failure {
            Some((kind, message)) if kind == &FailureKind::Nondeterminism => message.clone(),
            Some((kind, message)) if second.same_trace(&first) => {
                format!("a {kind} ({message}) where the first run did not")
            }
            None if second.same_trace(&first) => "no failure where the first run failed".to_owned(),
            _ => format!("a different trace (first difference at step {})", at + 1),
        };
        second.failure = Some((
            FailureKind::Nondeterminism,
            format!(
                "the same schedule, run again, gave {what}: the program depends on something \
                 outside the simulation"
            ),
        ));
        return second;
    }
    first
}

/// Shrinks, self-checks and writes the failure of `outcome`.
fn failure(
    config: &Config,
    settings: &Settings,
    body: &Rc<dyn Fn()>,
    outcome: Ran,
    execution: u64,
    strategy: String,
) -> Failure {
    let kind = outcome
        .failure
        .as_ref()
        .map(|f| f.0)
        .expect("a failed outcome");
    let outcome = if config.shrink && kind != FailureKind::Nondeterminism {
        let outcome = match outcome.preemptions {
            0 => outcome,
            p => fewer_preemptions(body, settings, kind, p).unwrap_or(outcome),
        };
        shrink(body, settings, kind, outcome)
    } else {
        outcome
    };
    let mut failure = make_failure(outcome, execution, strategy, config.seed);
    if config.write_files {
        failure.0.file = write_file(config, settings, &failure);
    }
    failure
}

fn make_failure(outcome: Ran, execution: u64, strategy: String, seed: u64) -> Failure {
    let trace = outcome.steps();
    let (kind, message) = outcome.failure.expect("a failed outcome");
    Failure(Box::new(report::FailureInner {
        kind,
        message,
        execution,
        strategy,
        seed,
        preemptions: outcome.preemptions,
        trace,
        schedule: outcome.schedule,
        labels: outcome.labels,
        processes: outcome.processes,
        currents: outcome.currents,
        blocked: outcome.blocked,
        file: None,
    }))
}

/// Searches for the same kind of failure with fewer than `preemptions` preemptions: the
/// exhaustive search in rounds of growing preemption bound, up to `preemptions - 1`, stopped
/// after a budget of executions. The first failure it meets has the fewest preemptions it can
/// find.
fn fewer_preemptions(
    body: &Rc<dyn Fn()>,
    settings: &Settings,
    kind: FailureKind,
    preemptions: u32,
) -> Option<Ran> {
    let mut search = Dfs::new(Some(preemptions - 1), true, 0);
    let mut budget = 20_000u32;
    while budget > 0 && search.begin() {
        budget -= 1;
        let outcome = run_execution(body.clone(), &mut search, settings);
        search.end(&Execution {
            schedule: &outcome.schedule,
            effects: &outcome.effects,
            wakes: &outcome.wakes,
            disabled: &outcome.disabled,
            enablings: &outcome.enablings,
            abandoned: outcome.abandoned,
        });
        if outcome.failure.as_ref().is_some_and(|f| f.0 == kind) {
            return Some(outcome);
        }
    }
    None
}

/// Removes preemptions from a failing schedule while it keeps failing the same way (Zeller's
/// delta debugging, one preemption at a time). For each preemption — task `a` switched out
/// while it could go on — two candidates are tried, the rest of the schedule followed where it
/// still fits:
/// 1. `a`'s next run of choices is moved up to where it was preempted, so `a` goes on until it
///    blocks or finishes and the tasks that preempted it run afterwards, unchanged;
/// 2. the one choice is replaced by letting `a` go on.
fn shrink(body: &Rc<dyn Fn()>, settings: &Settings, kind: FailureKind, found: Ran) -> Ran {
    let mut best = found;
    let mut budget = 400u32;
    'improve: loop {
        for i in 0..best.schedule.len() {
            let Some(current) = best.currents[i] else {
                continue;
            };
            if best.schedule[i] == Choice::Run(current) {
                continue;
            }
            for candidate in [
                move_up_next_run(&best.schedule, i, current),
                Some(replace_one(&best.schedule, i, current)),
            ]
            .into_iter()
            .flatten()
            {
                if budget == 0 {
                    break 'improve;
                }
                budget -= 1;
                let mut guide = Guided::loose(candidate);
                guide.begin();
                let outcome = run_execution(body.clone(), &mut guide, settings);
                let same_kind = outcome.failure.as_ref().is_some_and(|f| f.0 == kind);
                if same_kind
                    && (outcome.preemptions < best.preemptions
                        || (outcome.preemptions == best.preemptions
                            && outcome.trace.len() < best.trace.len()))
                {
                    best = outcome;
                    continue 'improve;
                }
            }
        }
        break;
    }
    // The shrunk schedule, replayed strictly, must give the same trace: the file will rely on it.
    let mut again = Guided::strict(best.schedule.clone());
    again.begin();
    let replayed = run_execution(body.clone(), &mut again, settings);
    if !replayed.same_trace(&best) {
        let mut diverged = replayed;
        diverged.failure = Some((
            FailureKind::Nondeterminism,
            "the failing schedule, run again, gave a different trace: the program depends on \
             something outside the simulation"
                .to_owned(),
        ));
        return diverged;
    }
    best
}

/// The task a choice belongs to; a value belongs to the task whose step made it.
fn owners(schedule: &[Choice]) -> Vec<Option<u32>> {
    let mut last = None;
    schedule
        .iter()
        .map(|c| {
            if let Some(t) = c.task() {
                last = Some(t);
            }
            last
        })
        .collect()
}

/// `schedule` with task `a`'s next run of choices after position `i` moved to position `i`.
fn move_up_next_run(schedule: &[Choice], i: usize, a: u32) -> Option<Vec<Choice>> {
    let owner = owners(schedule);
    let start = (i..schedule.len()).find(|&k| owner[k] == Some(a))?;
    let end = (start..schedule.len())
        .find(|&k| owner[k] != Some(a))
        .unwrap_or(schedule.len());
    let mut moved = schedule[..i].to_vec();
    moved.extend_from_slice(&schedule[start..end]);
    moved.extend_from_slice(&schedule[i..start]);
    moved.extend_from_slice(&schedule[end..]);
    Some(moved)
}

/// `schedule` with the choice at `i` replaced by letting task `a` go on.
fn replace_one(schedule: &[Choice], i: usize, a: u32) -> Vec<Choice> {
    let mut replaced = schedule.to_vec();
    replaced[i] = Choice::Run(a);
    replaced
}

fn write_file(config: &Config, settings: &Settings, failure: &Failure) -> Option<PathBuf> {
    let trace_text = render_trace(&failure.0.trace, &failure.0.labels);
    let trace_digest = digest(&trace_text);
    let record = FailureFile {
        format: FORMAT,
        engine: ENGINE.to_owned(),
        name: config.name.clone(),
        strategy: failure.0.strategy.clone(),
        seed: failure.0.seed,
        execution: failure.0.execution,
        kind: failure.0.kind,
        message: failure.0.message.clone(),
        max_steps: settings.max_steps,
        spurious_wakeups: settings.spurious_wakeups,
        kills: settings.kills,
        timeouts: if settings.timeouts_race {
            "race"
        } else {
            "when-idle"
        }
        .to_owned(),
        stack_size: settings.stack_size,
        granularity: settings.granularity.name().to_owned(),
        preemptions: failure.0.preemptions,
        steps: failure.0.trace.len(),
        trace_digest: trace_digest.clone(),
        schedule: Schedule(failure.0.schedule.clone()),
    };
    let dir = config.dir();
    let kind = format!("{:?}", failure.0.kind).to_lowercase();
    let path = dir.join(format!(
        "{}-{kind}-{}.json",
        config.name,
        &trace_digest[..8]
    ));
    let json = serde_json::to_string_pretty(&record).ok()?;
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(&path, json + "\n").ok()?;
    Some(path)
}
