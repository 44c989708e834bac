//! `docs/engines.md`, generated: every mutant of this directory under every exploration engine
//! (which catches it, after how many executions), and what each engine can model, found by
//! probes rather than typed by hand.
//!
//! `cargo test --test mutants engines` fails when the file differs from what this run finds;
//! `MPCHECK_BLESS=1 cargo test --test mutants engines` writes it. Every engine runs seeded or
//! exhaustively, so the numbers are the same on every machine; none is a time.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpcheck::loom::Loom;
use mpcheck::platform::{Atomic, AtomicInt, SharedCell, WaitOutcome};
use mpcheck::shuttle::{self, Shuttle};
use mpcheck::sim::{self, Config, Granularity, Sim};
use mpcheck::{Barrier, Event, Lock, Platform, Queue, Semaphore};
use mpcheck_properties::lincheck::{self, Workload};
use mpcheck_properties::primitives::{
    Attempt, QueueCall, QueueLike, QueueSubject, SemaphoreCall, SemaphoreLike, SemaphoreSubject,
};
use mpcheck_properties::suite::thousands;

use crate::barrier_without_generation::{self as barrier, GateBarrier};
use crate::condition_if_not_while as condition;
use crate::event_clear_races_set::{self as event, NaiveEvent};
use crate::lock_forgets_wake::{self as forgets_wake, ForgetfulLock};
use crate::lock_load_store::{self as load_store, LoadStoreLock};
use crate::lock_never_takes_over::{self as never_takes_over, NeverTakesOver};
use crate::lock_order_inversion as inversion;
use crate::lock_relaxed::{self as relaxed, RelaxedLock};
use crate::queue_forgets_putter as forgets_putter;
use crate::queue_reads_before_count as reads_before_count;
use crate::queue_stale_qsize::{self as stale_qsize, StaleCount};
use crate::queue_swaps_items::{self as swaps_items, TwoLanes};
use crate::self_deadlock;
use crate::semaphore_check_then_decrement::{self as semaphore, CheckThenDecrement};
use crate::semaphore_value_never_existed::TornValue;
use crate::task_done_unchecked as task_done;
use crate::timed_wait_restarts_timeout::{self as timed, RestartingTimeoutLock};
use crate::{lincheck_sim, mutual_exclusion, Scenario};

/// Executions of each sampling strategy (Sim PCT, shuttle random and PCT).
const SAMPLES: u64 = 10_000;
/// The seed of every sampling strategy.
const SEED: u64 = 1;
/// loom's preemption bound: its unbounded depth-first search does not find
/// `semaphore_check_then_decrement` within minutes (it spends them deep in the tree).
const LOOM_BOUND: usize = 3;

/// `[Sim, Loom, Shuttle]` instantiations of one generic scenario: `P` names the platform.
macro_rules! per_engine {
    ($p:ident => $scenario:expr) => {
        [
            {
                type $p = Sim;
                $scenario as Scenario
            },
            {
                type $p = Loom;
                $scenario as Scenario
            },
            {
                type $p = Shuttle;
                $scenario as Scenario
            },
        ]
    };
}

// The linearizability rows: one fixed workload each (the one the mutant's Lincheck test
// shrinks to), run once per execution by `lincheck::run`, which records the history and checks
// it against the primitive's model (mpcheck-model).

/// How long the linearizability check of one history may take (it takes microseconds).
const BUDGET: Duration = Duration::from_secs(10);

/// `queue_stale_qsize`: a put, a `qsize` and a get in three tasks.
fn stale_qsize_history<P: Platform, Q: QueueLike<P>>() {
    let workload = Workload::new(vec![
        vec![QueueCall::Put(1, Attempt::Try)],
        vec![QueueCall::Qsize],
        vec![QueueCall::Get(Attempt::Try)],
    ]);
    lincheck::run::<P, QueueSubject<Q>>(&workload, BUDGET);
}

/// `semaphore_value_never_existed`: a release, a `get_value` and an acquire in three tasks, on
/// a `Semaphore(1)`.
fn value_never_existed_history<P: Platform, S: SemaphoreLike<P>>() {
    let workload = Workload::new(vec![
        vec![SemaphoreCall::Release],
        vec![SemaphoreCall::GetValue],
        vec![SemaphoreCall::Acquire(Attempt::Try)],
    ]);
    lincheck::run::<P, SemaphoreSubject<S>>(&workload, BUDGET);
}

/// `queue_swaps_items`: one task puts 1; another puts 2, then gets.
fn swaps_items_history<P: Platform, Q: QueueLike<P>>() {
    let workload = Workload::new(vec![
        vec![QueueCall::Put(1, Attempt::Try)],
        vec![
            QueueCall::Put(2, Attempt::Try),
            QueueCall::Get(Attempt::Try),
        ],
    ]);
    lincheck::run::<P, QueueSubject<Q>>(&workload, BUDGET);
}

pub(crate) struct Mutant {
    pub(crate) name: &'static str,
    bug: &'static str,
    /// The configuration the mutant's own test gives the simulator.
    sim_config: fn() -> Config,
    /// The mutant and its correct version under Sim, Loom and Shuttle.
    pub(crate) mutant: [Scenario; 3],
    pub(crate) correct: [Scenario; 3],
}

pub(crate) fn mutants() -> Vec<Mutant> {
    vec![
        Mutant {
            name: "lock_load_store",
            bug: "a lock that loads then stores instead of compare-and-swap",
            sim_config: load_store::sim_config,
            mutant: per_engine!(P => mutual_exclusion::<P, LoadStoreLock<P>>),
            correct: per_engine!(P => mutual_exclusion::<P, Lock<P>>),
        },
        Mutant {
            name: "lock_forgets_wake",
            bug: "a lock whose release forgets to wake a waiter",
            sim_config: forgets_wake::sim_config,
            mutant: per_engine!(P => mutual_exclusion::<P, ForgetfulLock<P>>),
            correct: per_engine!(P => mutual_exclusion::<P, Lock<P>>),
        },
        Mutant {
            name: "semaphore_check_then_decrement",
            bug: "a semaphore that checks, then decrements, in two steps",
            sim_config: semaphore::sim_config,
            mutant: per_engine!(P => semaphore::at_most_k_inside::<P, CheckThenDecrement<P>>),
            correct: per_engine!(P => semaphore::at_most_k_inside::<P, Semaphore<P>>),
        },
        Mutant {
            name: "condition_if_not_while",
            bug: "a condition wait without a re-check loop (wrong only on a spurious wake-up)",
            sim_config: condition::sim_config,
            mutant: per_engine!(P => condition::handoff::<P, false>),
            correct: per_engine!(P => condition::handoff::<P, true>),
        },
        Mutant {
            name: "event_clear_races_set",
            bug: "an event whose clear races set (a lost wake-up)",
            sim_config: event::sim_config,
            mutant: per_engine!(P => event::pulse_releases_waiter::<P, NaiveEvent<P>>),
            correct: per_engine!(P => event::pulse_releases_waiter::<P, Event<P>>),
        },
        Mutant {
            name: "barrier_without_generation",
            bug: "a barrier without a generation counter",
            sim_config: barrier::sim_config,
            mutant: per_engine!(P => barrier::rounds::<P, GateBarrier<P>>),
            correct: per_engine!(P => barrier::rounds::<P, Barrier<P>>),
        },
        Mutant {
            name: "timed_wait_restarts_timeout",
            bug: "a timed wait that restarts its full timeout after a wake-up",
            sim_config: timed::sim_config,
            mutant: per_engine!(P => timed::timed_acquire_keeps_deadline::<P, RestartingTimeoutLock<P>>),
            correct: per_engine!(P => timed::timed_acquire_keeps_deadline::<P, Lock<P>>),
        },
        Mutant {
            name: "lock_never_takes_over",
            bug: "a robust lock whose waiters never take over a dead holder's lock (only kills show it)",
            sim_config: never_takes_over::sim_config,
            mutant: per_engine!(P => never_takes_over::holder_killed::<P, NeverTakesOver<P>>),
            correct: per_engine!(P => never_takes_over::holder_killed::<P, Lock<P>>),
        },
        Mutant {
            name: "lock_relaxed",
            bug: "a lock whose fast path is Relaxed, not Acquire/Release",
            sim_config: relaxed::sim_config,
            mutant: per_engine!(P => relaxed::guarded_counter::<P, RelaxedLock<P>>),
            correct: per_engine!(P => relaxed::guarded_counter::<P, Lock<P>>),
        },
        Mutant {
            name: "lock_order_inversion",
            bug: "two tasks take two locks in opposite orders",
            sim_config: inversion::sim_config,
            mutant: per_engine!(P => inversion::two_locks::<P, true>),
            correct: per_engine!(P => inversion::two_locks::<P, false>),
        },
        Mutant {
            name: "self_deadlock",
            bug: "a task acquires a Lock it holds",
            sim_config: self_deadlock::sim_config,
            mutant: per_engine!(P => self_deadlock::acquire_twice::<P, false>),
            correct: per_engine!(P => self_deadlock::acquire_twice::<P, true>),
        },
        Mutant {
            name: "queue_forgets_putter",
            bug: "a queue whose get frees room but never notifies `not_full`",
            sim_config: forgets_putter::sim_config,
            mutant: per_engine!(P => forgets_putter::put_waits_for_room::<P, false>),
            correct: per_engine!(P => forgets_putter::put_waits_for_room::<P, true>),
        },
        Mutant {
            name: "queue_reads_before_count",
            bug: "a queue whose get reads the head slot before waiting for an item",
            sim_config: reads_before_count::sim_config,
            mutant: per_engine!(P => reads_before_count::fifo_exactly_once::<P, false>),
            correct: per_engine!(P => reads_before_count::fifo_exactly_once::<P, true>),
        },
        Mutant {
            name: "task_done_unchecked",
            bug: "a joinable queue whose task_done decrements without checking for 0",
            sim_config: task_done::sim_config,
            mutant: per_engine!(P => task_done::join_waits_for_the_work::<P, false>),
            correct: per_engine!(P => task_done::join_waits_for_the_work::<P, true>),
        },
        Mutant {
            name: "queue_stale_qsize",
            bug: "a queue whose qsize is its own count, moved after the fact (Lincheck: put ‖ qsize ‖ get)",
            sim_config: lincheck_sim,
            mutant: per_engine!(P => stale_qsize_history::<P, StaleCount<P>>),
            correct: per_engine!(P => stale_qsize_history::<P, Queue<u8, P>>),
        },
        Mutant {
            name: "queue_stale_qsize (suite property)",
            bug: "the same queue, under the suite's kind of queue check (FIFO, exactly once, qsize 0 at the end)",
            sim_config: stale_qsize::sim_config,
            mutant: per_engine!(P => stale_qsize::fifo_then_empty::<P, StaleCount<P>>),
            correct: per_engine!(P => stale_qsize::fifo_then_empty::<P, Queue<u8, P>>),
        },
        Mutant {
            name: "semaphore_value_never_existed",
            bug: "a semaphore whose get_value reads two running totals apart (Lincheck: release ‖ get_value ‖ acquire)",
            sim_config: lincheck_sim,
            mutant: per_engine!(P => value_never_existed_history::<P, TornValue<P>>),
            correct: per_engine!(P => value_never_existed_history::<P, Semaphore<P>>),
        },
        Mutant {
            name: "semaphore_value_never_existed (suite property)",
            bug: "the same semaphore, under the suite's semaphore property (at most K inside)",
            sim_config: semaphore::sim_config,
            mutant: per_engine!(P => semaphore::at_most_k_inside::<P, TornValue<P>>),
            correct: per_engine!(P => semaphore::at_most_k_inside::<P, Semaphore<P>>),
        },
        Mutant {
            name: "queue_swaps_items",
            bug: "a queue of two lanes by putter parity, got from lane 0 first (Lincheck: put ‖ put, get)",
            sim_config: lincheck_sim,
            mutant: per_engine!(P => swaps_items_history::<P, TwoLanes<P>>),
            correct: per_engine!(P => swaps_items_history::<P, Queue<u8, P>>),
        },
        Mutant {
            name: "queue_swaps_items (suite property)",
            bug: "the same queue, under the suite's kind of queue check (each producer's items in order, exactly once)",
            sim_config: swaps_items::sim_config,
            mutant: per_engine!(P => swaps_items::per_producer_fifo::<P, TwoLanes<P>>),
            correct: per_engine!(P => swaps_items::per_producer_fifo::<P, Queue<u8, P>>),
        },
    ]
}

/// What one engine made of one scenario.
#[derive(Debug)]
enum Outcome {
    /// It failed, in this (1-based) execution, with this message.
    Caught { at: u64, message: String },
    /// It passed every execution; `complete` if they were all there are (within the
    /// engine's preemption bound, if it has one).
    Passed { executions: u64, complete: bool },
}

impl Outcome {
    fn cell(&self) -> String {
        match self {
            Outcome::Caught { at, message } => {
                format!("**caught**, execution {}: {message}", thousands(*at))
            }
            Outcome::Passed {
                executions,
                complete: true,
            } => format!("passes, all {} executions", thousands(*executions)),
            Outcome::Passed { executions, .. } => {
                format!("passes {} executions", thousands(*executions))
            }
        }
    }
}

/// The first line of a failure message, short enough for a table cell; for a history that is
/// not linearizable, the first call the model does not accept (`#2 task 1: GetValue returned
/// Value(2); the model allows Value(1)` → `not linearizable: GetValue returned Value(2); ...`).
fn headline(message: impl AsRef<str>) -> String {
    let message = message.as_ref();
    let refused = message
        .lines()
        .skip_while(|l| !l.starts_with("none of these can take effect next"))
        .nth(1)
        .and_then(|l| l.split_once(": "))
        .map(|(_, call)| format!("not linearizable: {call}"));
    let line = match &refused {
        Some(line) => line,
        None => message.lines().find(|l| !l.trim().is_empty()).unwrap_or(""),
    };
    let mut line: String = line.trim().replace('|', "\\|");
    if line.chars().count() > 90 {
        line = line.chars().take(87).collect::<String>() + "...";
    }
    line
}

/// `task 1 panicked at tests/x.rs:160: the message` → `task 1 panicked: the message` (line
/// numbers would make the generated file change with every edit of a scenario).
fn without_location(message: &str) -> String {
    match message.split_once(" panicked at ") {
        Some((who, rest)) => match rest.split_once(": ") {
            Some((_, what)) => format!("{who} panicked: {what}"),
            None => message.to_owned(),
        },
        None => message.to_owned(),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic".to_owned())
}

/// The engines of the table, each a way to run a scenario to an [`Outcome`].
#[derive(Clone, Copy, Debug)]
enum Engine {
    /// The simulator, as the mutant's own test configures it.
    SimOwn,
    /// The simulator's PCT, depth 3.
    SimPct,
    /// loom's search up to [`LOOM_BOUND`] preemptions.
    Loom,
    /// shuttle's random scheduler.
    ShuttleRandom,
    /// shuttle's PCT scheduler, depth 3.
    ShuttlePct,
}

const ENGINES: [Engine; 5] = [
    Engine::SimOwn,
    Engine::SimPct,
    Engine::Loom,
    Engine::ShuttleRandom,
    Engine::ShuttlePct,
];

impl Engine {
    fn title(self) -> String {
        match self {
            Engine::SimOwn => "Sim, the mutant test's configuration".to_owned(),
            Engine::SimPct => format!("Sim PCT d=3, {} runs", thousands(SAMPLES)),
            Engine::Loom => format!("loom, preemption bound {LOOM_BOUND}"),
            Engine::ShuttleRandom => format!("shuttle random, {} runs", thousands(SAMPLES)),
            Engine::ShuttlePct => format!("shuttle PCT d=3, {} runs", thousands(SAMPLES)),
        }
    }

    /// Runs mutant `m` (or its correct counterpart), on this engine's platform.
    fn run(self, m: &Mutant, correct: bool) -> Outcome {
        let scenarios = if correct { &m.correct } else { &m.mutant };
        let sim_config = m.sim_config;
        match self {
            Engine::SimOwn => run_sim(sim_config(), scenarios[0]),
            Engine::SimPct => run_sim(Config::pct(3, SAMPLES).seed(SEED), scenarios[0]),
            Engine::Loom => {
                let which = if correct { "correct" } else { "mutant" };
                loom_in_child(&format!("mutant:{}:{which}", m.name)).0
            }
            Engine::ShuttleRandom => run_counted(scenarios[2], false, |f| {
                shuttle::check_random_with_seed(f, SAMPLES as usize, SEED)
            }),
            Engine::ShuttlePct => run_counted(scenarios[2], false, |f| {
                shuttle::check_pct_with_seed(f, SAMPLES as usize, 3, SEED)
            }),
        }
    }
}

fn run_sim(config: Config, scenario: Scenario) -> Outcome {
    let config = config.granularity(Granularity::Step);
    match sim::explore(config.ignore_env().no_files().no_shrink(), scenario) {
        Ok(report) => Outcome::Passed {
            executions: report.executions(),
            complete: report.complete(),
        },
        Err(failure) => Outcome::Caught {
            at: failure.execution(),
            message: headline(without_location(failure.message())),
        },
    }
}

/// Runs `scenario` under an engine that reports a failure by panicking, counting executions.
fn run_counted(
    scenario: Scenario,
    exhaustive: bool,
    engine: impl FnOnce(Box<dyn Fn() + Send + Sync>),
) -> Outcome {
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    let body = Box::new(move || {
        counter.fetch_add(1, Relaxed);
        scenario()
    });
    let result = catch_unwind(AssertUnwindSafe(|| engine(body)));
    let executions = count.load(Relaxed);
    match result {
        Ok(()) => Outcome::Passed {
            executions,
            complete: exhaustive,
        },
        Err(payload) => Outcome::Caught {
            at: executions,
            message: headline(panic_text(&*payload)),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Probes: what an engine can model, found by running it.

/// What a probe's executions observed, across all of them.
static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn see(what: impl Into<String>) {
    SEEN.lock().unwrap().insert(what.into());
}

/// Virtual time: how far `sleep(1 h)` moves the platform's clock.
fn probe_sleep<P: Platform>() {
    let before = P::now();
    P::sleep(Duration::from_secs(3600));
    see(format!(
        "sleep(1 h) moves the clock {:?}",
        P::now().saturating_duration_since(before)
    ));
}

/// A timed wait that a wake may or may not reach: which outcomes occur.
fn probe_timed_wait<P: Platform>() {
    let word = Arc::new(P::AtomicU32::new(0));
    let w = Arc::clone(&word);
    let waker = P::spawn(move || {
        w.store(1, SeqCst);
        P::wake(&w, 1);
    });
    let deadline = P::now().checked_add(Duration::from_secs(1));
    see(format!("{:?}", P::wait(&word, 0, deadline)));
    P::join(waker).expect("the waker");
}

/// A timed wait nobody wakes: anything but `TimedOut` is a spurious wake-up.
fn probe_spurious<P: Platform>() {
    let word = P::AtomicU32::new(0);
    let deadline = P::now().checked_add(Duration::from_secs(1));
    match P::wait(&word, 0, deadline) {
        WaitOutcome::Woken => see("spurious"),
        other => see(format!("{other:?}")),
    }
}

/// Message passing with `Relaxed` on both sides: may the flag be seen without the data?
fn probe_weak_memory<P: Platform>() {
    let words = Arc::new((P::AtomicU32::new(0), P::AtomicU32::new(0)));
    let w = Arc::clone(&words);
    let writer = P::spawn(move || {
        w.0.store(1, Relaxed);
        w.1.store(1, Relaxed);
    });
    let flag = words.1.load(Relaxed);
    let data = words.0.load(Relaxed);
    if flag == 1 && data == 0 {
        see("stale");
    } else {
        see("in order");
    }
    P::join(writer).expect("the writer");
}

/// Two tasks write one platform cell with nothing ordering them.
fn probe_cell_race<P: Platform>() {
    let cell = Arc::new(P::Cell::<u64>::new(0));
    let c = Arc::clone(&cell);
    // SAFETY: deliberately unsynchronized: the engine is asked to notice. The platform cell
    // is the engine's own (a loom `UnsafeCell`, a simulated cell), never real shared memory
    // written by two OS threads at once: every engine here runs one task at a time.
    let other = P::spawn(move || unsafe { c.with_mut(|v| *v += 1) });
    // SAFETY: as above.
    unsafe { cell.with_mut(|v| *v += 1) };
    P::join(other).expect("the other writer");
}

/// Tasks of one execution: spawn `n`, each bumping a counter once.
fn probe_tasks<P: Platform, const N: usize>() {
    let counter = Arc::new(P::AtomicU32::new(0));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let c = Arc::clone(&counter);
            P::spawn(move || {
                c.fetch_add(1, Relaxed);
            })
        })
        .collect();
    for t in tasks {
        P::join(t).expect("a task");
    }
    assert_eq!(counter.load(SeqCst), N as u32);
}

/// Whether a spawned task belongs to another process than its parent.
fn probe_processes<P: Platform>() {
    let parent = P::current_task().process;
    let child = P::join(P::spawn(P::current_task)).expect("the child");
    see(if child.process == parent {
        "same process"
    } else {
        "another process"
    });
}

/// Where `Process::start` runs its target, and whether `Process::kill` can end it.
fn probe_process_start<P: Platform>() {
    let parent = P::current_task().process;
    let seen = Arc::new(P::AtomicU32::new(0));
    let theirs = Arc::clone(&seen);
    let child = mpcheck::Process::<P>::new(move || {
        theirs.store(P::current_task().process, SeqCst);
    });
    child.start().expect("started");
    let killed = child.kill();
    child.join().expect("joined");
    see(if seen.load(SeqCst) == parent {
        "a task of the same process"
    } else {
        "another process"
    });
    see(match killed {
        Ok(()) => "kill: yes",
        Err(_) => "kill: not modelled",
    });
}

/// Whether an exploration kills a process (`Config::kills(1)` for the simulator): a child
/// process takes two steps; its exit code says whether it was killed.
fn probe_process_kill<P: Platform>() {
    let word = Arc::new(P::AtomicU32::new(0));
    let theirs = Arc::clone(&word);
    let child = mpcheck::Process::<P>::new(move || {
        theirs.store(1, SeqCst);
        theirs.store(2, SeqCst);
    });
    child.start().expect("started");
    see(match child.join().expect("joined") {
        -9 => "killed (exit code -9)",
        _ => "ran to its end",
    });
}

/// How a probe runs on each engine: the simulator's configuration (the other engines run
/// their complete search, or their random scheduler, as for the mutants).
struct Probe {
    capability: &'static str,
    scenarios: [Scenario; 3],
    sim_config: fn() -> Config,
    /// Turns what was seen (or the outcome) into the table cell.
    verdict: fn(&BTreeSet<String>, &Outcome) -> String,
}

fn seen_list(seen: &BTreeSet<String>, _: &Outcome) -> String {
    seen.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn probes() -> Vec<Probe> {
    vec![
        Probe {
            capability: "virtual time",
            scenarios: per_engine!(P => probe_sleep::<P>),
            sim_config: Config::dfs,
            verdict: seen_list,
        },
        Probe {
            capability: "a timed wait a wake may reach: outcomes explored",
            scenarios: per_engine!(P => probe_timed_wait::<P>),
            sim_config: Config::dfs,
            verdict: seen_list,
        },
        Probe {
            capability: "a timed wait nobody wakes: outcomes (spurious wake-ups)",
            scenarios: per_engine!(P => probe_spurious::<P>),
            sim_config: || Config::dfs().spurious_wakeups(1),
            verdict: seen_list,
        },
        Probe {
            capability: "weak memory: Relaxed message passing seen out of order",
            scenarios: per_engine!(P => probe_weak_memory::<P>),
            sim_config: Config::dfs,
            verdict: |seen, _| {
                if seen.contains("stale") {
                    "yes: the flag was seen without the data".to_owned()
                } else {
                    "no: sequentially consistent".to_owned()
                }
            },
        },
        Probe {
            capability: "unsynchronized writes to a platform cell",
            scenarios: per_engine!(P => probe_cell_race::<P>),
            sim_config: Config::dfs,
            verdict: |_, outcome| match outcome {
                Outcome::Caught { message, .. } => format!("reported: {message}"),
                Outcome::Passed { .. } => "not reported".to_owned(),
            },
        },
        Probe {
            capability: "tasks: 4 in one execution",
            scenarios: per_engine!(P => probe_tasks::<P, 4>),
            sim_config: || Config::random(1),
            verdict: task_verdict,
        },
        Probe {
            capability: "tasks: 8 in one execution",
            scenarios: per_engine!(P => probe_tasks::<P, 8>),
            sim_config: || Config::random(1),
            verdict: task_verdict,
        },
        Probe {
            capability: "tasks: 200 in one execution",
            scenarios: per_engine!(P => probe_tasks::<P, 200>),
            sim_config: || Config::random(1),
            verdict: task_verdict,
        },
        Probe {
            capability: "processes: a spawned task is in",
            scenarios: per_engine!(P => probe_processes::<P>),
            sim_config: Config::dfs,
            verdict: seen_list,
        },
        Probe {
            capability: "processes: `Process::start` runs its target in",
            scenarios: per_engine!(P => probe_process_start::<P>),
            sim_config: || Config::random(1),
            verdict: seen_list,
        },
        Probe {
            capability: "processes: killed at a point the exploration chooses",
            scenarios: per_engine!(P => probe_process_kill::<P>),
            sim_config: || Config::dfs().kills(1),
            verdict: seen_list,
        },
    ]
}

fn task_verdict(_: &BTreeSet<String>, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Caught { message, .. } => format!("no: {message}"),
        Outcome::Passed { .. } => "yes".to_owned(),
    }
}

/// Runs a probe on the simulator, loom (complete search; one execution for the task counts)
/// and shuttle (random, seeded).
fn run_probe(index: usize, probe: &Probe) -> [String; 3] {
    let mut cells = [String::new(), String::new(), String::new()];
    let one_run = probe.capability.starts_with("tasks");
    for (i, cell) in cells.iter_mut().enumerate() {
        SEEN.lock().unwrap().clear();
        let scenario = probe.scenarios[i];
        let (outcome, seen) = match i {
            0 => (run_sim((probe.sim_config)(), scenario), seen()),
            1 => loom_in_child(&format!("probe:{index}")),
            _ => (
                run_counted(scenario, false, |f| {
                    shuttle::check_random_with_seed(f, if one_run { 1 } else { 1_000 }, SEED)
                }),
                seen(),
            ),
        };
        *cell = (probe.verdict)(&seen, &outcome);
    }
    cells
}

fn seen() -> BTreeSet<String> {
    SEEN.lock().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// loom runs in a child process: when an execution deadlocks with a lock guard on a blocked
// thread's stack, loom unwinds that stack after its execution is gone, the guard's release
// calls into loom, and the process aborts ("panic in a destructor during cleanup").

/// Names the loom run a child process does: `mutant:<name>:<mutant|correct>` or
/// `probe:<index>`.
const LOOM_CELL: &str = "MPCHECK_LOOM_CELL";

/// Runs one loom run in a child process of this test binary and reads its report.
fn loom_in_child(cell: &str) -> (Outcome, BTreeSet<String>) {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "engines::loom_cell",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOOM_CELL, cell)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut seen = BTreeSet::new();
    let mut outcome = None;
    // libtest may print its own text ahead of the first line on the same line.
    for line in stdout
        .lines()
        .filter_map(|l| l.find("CELL ").map(|i| &l[i..]))
    {
        if let Some(what) = line.strip_prefix("CELL seen ") {
            seen.insert(what.to_owned());
        } else if let Some(rest) = line.strip_prefix("CELL caught ") {
            let (at, message) = rest.split_once(' ').unwrap_or((rest, ""));
            outcome.get_or_insert(Outcome::Caught {
                at: at.parse().expect("an execution count"),
                message: message.to_owned(),
            });
        } else if let Some(rest) = line.strip_prefix("CELL passed ") {
            let (executions, complete) = rest.split_once(' ').unwrap_or((rest, ""));
            outcome.get_or_insert(Outcome::Passed {
                executions: executions.parse().expect("an execution count"),
                complete: complete == "complete",
            });
        }
    }
    let outcome = outcome.unwrap_or_else(|| {
        panic!(
            "the loom child for {cell} reported nothing:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (outcome, seen)
}

/// The child's side of [`loom_in_child`]; does nothing in a normal test run.
#[test]
fn loom_cell() {
    static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
    static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Ok(cell) = std::env::var(LOOM_CELL) else {
        return;
    };
    let (scenario, bound): (Scenario, Option<usize>) = match cell.split(':').collect::<Vec<_>>()[..]
    {
        ["mutant", name, which] => {
            let m = mutants()
                .into_iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("no mutant {name}"));
            let scenarios = if which == "correct" {
                m.correct
            } else {
                m.mutant
            };
            (scenarios[1], Some(LOOM_BOUND))
        }
        ["probe", index] => {
            let probe = &probes()[index.parse::<usize>().expect("a probe index")];
            let one_run = probe.capability.starts_with("tasks");
            (probe.scenarios[1], one_run.then_some(0))
        }
        _ => panic!("{LOOM_CELL}={cell}: not a cell"),
    };
    // The first panic is the failure (loom stops at it); report it before unwinding, which may
    // abort the process.
    std::panic::set_hook(Box::new(|info| {
        if !REPORTED.swap(true, SeqCst) {
            for what in seen() {
                println!("CELL seen {what}");
            }
            let message = headline(panic_text(info.payload()));
            println!("CELL caught {} {message}", EXECUTIONS.load(SeqCst));
        }
    }));
    let body = move || {
        EXECUTIONS.fetch_add(1, SeqCst);
        scenario()
    };
    let result = catch_unwind(AssertUnwindSafe(|| match bound {
        Some(b) => mpcheck::loom::model_bounded(b, body),
        None => mpcheck::loom::model(body),
    }));
    if result.is_ok() {
        for what in seen() {
            println!("CELL seen {what}");
        }
        let coverage = if bound.is_none() {
            "complete"
        } else {
            "bounded"
        };
        println!("CELL passed {} {coverage}", EXECUTIONS.load(SeqCst));
    }
}

// ---------------------------------------------------------------------------------------------

fn render() -> String {
    let mut out = String::new();
    out.push_str(
        "# Engines: what each one catches and models\n\n\
         <!-- Generated by tests/mutants/engines.rs; do not edit. Regenerate with\n     \
         MPCHECK_BLESS=1 cargo test --test mutants engines -->\n\n\
         Generated by `MPCHECK_BLESS=1 cargo test --test mutants engines`; a plain `cargo \
         test` fails when this file is out of date. Every engine runs seeded or exhaustively, \
         so the numbers are the same on every machine.\n\n\
         ## Mutants\n\n\
         Each mutant (tests/mutants/) is one deliberately broken primitive, written as user code \
         against the public `Platform`, with a generic scenario that states the property it \
         breaks. The same scenario runs under every engine; a cell says whether the engine \
         caught the mutant and in which execution (1-based), with the first line of its \
         report, or how many executions passed. Each cell first runs the correct counterpart \
         (the real primitive, or the same structure fixed) the same way: where that fails \
         too, the scenario leans on something the engine does not model and the cell says \
         `n/a`. The event and timed-wait scenarios need a sleep that ends only once every \
         other task is blocked (the simulator's `Timeouts::WhenIdle`).\n\n\
         The last six rows are mutants that never panic and never deadlock: they return \
         results that no one-at-a-time order of the calls could have returned (a `qsize` \
         stale beyond the slack the queue's model allows, a semaphore value that never \
         existed, two putters' items handed out in the wrong order). The row named after the \
         mutant runs the linearizability check of one fixed workload, the one the mutant's \
         Lincheck test (`not_linearizable` in tests/mutants/main.rs) shrinks to, named in the \
         second column (`‖` separates tasks, `,` a task's calls in order): \
         `lincheck::run` runs each task's calls, records when each began and returned, and \
         checks that history against the primitive's sequential model in mpcheck-model (a \
         queue's `qsize` may read up to 2 more than its length, for gets in flight); a cell \
         that catches it names the first call the model does not accept. Its correct \
         counterpart is the same workload on the real `Queue` or `Semaphore`. The row marked \
         *(suite property)* runs the same mutant under the kind of check the suite's property \
         for that primitive makes (the scenario of the mutant's own test, which waits for a \
         queue's items on a semaphore rather than with timed gets, so that it runs alike on \
         every engine): no engine catches it there.\n\n",
    );
    let _ = writeln!(
        out,
        "Columns: **Sim, own config** is the simulator as the mutant's own test configures it \
         (named in the second column); **Sim PCT** is `Config::pct(3, {SAMPLES})`, seed \
         {SEED}; **loom** is `model_bounded({LOOM_BOUND}, ..)` (loom's unbounded depth-first \
         search does not find `semaphore_check_then_decrement` within minutes); \
         **shuttle** runs its random and PCT schedulers, seed {SEED}.\n"
    );
    let mut header = "| mutant | the bug | Sim config |".to_owned();
    let mut rule = "|---|---|---|".to_owned();
    for e in ENGINES {
        let _ = write!(header, " {} |", e.title());
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for m in mutants() {
        let config = format!("`{}`", (m.sim_config)()).replace('|', "\\|");
        let _ = write!(out, "| `{}` | {} | {config} |", m.name, m.bug);
        for e in ENGINES {
            let cell = match e.run(&m, true) {
                // The scenario leans on something this engine does not model.
                Outcome::Caught { message, .. } => {
                    assert!(
                        !matches!(e, Engine::SimOwn),
                        "the correct counterpart of `{}` fails under its own test's \
                         configuration: {message}",
                        m.name
                    );
                    format!("n/a: the correct version fails too ({message})")
                }
                Outcome::Passed { .. } => e.run(&m, false).cell(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push_str(
        "\n## What each engine can model\n\n\
         Found by small probe programs (the `probe_*` functions of tests/mutants/engines.rs), \
         run like the mutants: the simulator with `Config::dfs()` (spurious wake-ups on for \
         that row), loom's complete search, shuttle's random scheduler (1,000 runs); the task \
         counts run one execution each (loom with preemption bound 0).\n\n\
         | capability | Sim | loom | shuttle |\n|---|---|---|---|\n",
    );
    for (index, probe) in probes().iter().enumerate() {
        let [sim, loom, shuttle] = run_probe(index, probe);
        let _ = writeln!(out, "| {} | {sim} | {loom} | {shuttle} |", probe.capability);
    }
    out.push_str(
        "\nOn `Os`, `Process` starts real processes (fork or spawn) and can kill them. The \
         simulator runs a `Process` as a simulated process (a number of its own, which its \
         tasks share; memory is shared as a forked child's shared state is) and, with \
         `Config::kills(n)`, kills up to `n` of them at points it chooses (the program cannot \
         signal one: `Process::kill` is unsupported under every explorer); loom and shuttle \
         run it as a task of the parent's process, which nobody kills.\n\n\
         loom runs every thread on a coroutine stack of its own: the model's main thread on 32 \
         KiB, which loom 0.7 has no setting for, and each task `Loom` spawns on \
         `mpcheck::loom::TASK_STACK` (1 MiB; loom's default is 32 KiB). Making a pipe a few \
         calls deep in the main thread of an unoptimized build needs more than 32 KiB (its two \
         read-ahead buffers of 4 KiB are moved by value through several frames): such a body \
         runs with `mpcheck::loom::on_task_stack`, on a task of its own (one of the 5 threads \
         loom allows an execution), as `Lincheck` runs every workload under loom. A stack that \
         overflows ends the model with a panic saying so; loom's own is a panic with no \
         message, after \"coroutine has overflowed its stack\" on stderr.\n",
    );
    out
}

#[test]
fn engines_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/engines.md");
    let fresh = render();
    if std::env::var_os("MPCHECK_BLESS").is_some() {
        std::fs::write(path, &fresh).expect("write docs/engines.md");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        panic!(
            "docs/engines.md is out of date (first difference at line {}): regenerate it with \
             `MPCHECK_BLESS=1 cargo test --test mutants engines`\n--- committed\n{}\n--- this run\n{}",
            first + 1,
            committed.lines().nth(first).unwrap_or("<end>"),
            fresh.lines().nth(first).unwrap_or("<end>"),
        );
    }
}
