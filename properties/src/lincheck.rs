//! Checking a concurrent type for linearizability on generated workloads, under any engine.
//!
//! The user declares their type as a [`Subject`]: how to make a fresh one with the state of its
//! sequential [`Model`], which operations to generate (a proptest strategy), and how to perform
//! one operation on the real object, saying what it returned in the model's terms. [`Lincheck`]
//! then generates [`Workload`]s (a few tasks, each a short list of operations), runs each
//! under an [`Engine`] — the simulator ([`SimEngine`]: PCT, random walk, or exhaustive search on
//! small workloads), loom ([`LoomEngine`]), shuttle ([`ShuttleEngine`]) or real threads
//! ([`OsThreads`]) — records every execution's [`History`](crate::History) and
//! checks it against the model. A workload that fails is shrunk by proptest to the smallest
//! one that still fails (fewer tasks, fewer operations, simpler arguments), which is then run
//! once more to report the counterexample: the history as a column per task, where no
//! linearization exists, and, under the simulator, the replay file that repeats the execution
//! ([`replay`]).
//!
//! Generation is seeded ([`Lincheck::seed`]), and every engine but real threads explores
//! deterministically, so a check gives the same verdict on every run.
//!
//! Operations must not wait for something no other operation of the workload can do: a task
//! that waits forever (`get` on a queue nobody puts into) is a deadlock, which every engine
//! reports as a failure. Generate the bounded forms (`try_*`, `*_timeout`) of operations that
//! wait; under the simulator with [`Timeouts::WhenIdle`](mpcheck::sim::Timeouts::WhenIdle) a
//! timed wait gives up only when nothing else can happen, so the model's "timed out" stays
//! exact.

use std::fmt;
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mpcheck::sim::{self, Sim};
use mpcheck::Platform;
use mpcheck_model::{Caller, Model};
use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::linearizability::{check, Verdict};
use crate::record::Recorder;

/// A concurrent type under test, on platform `P`, declared with its sequential model.
///
/// Implement it for your type generic over `P: Platform` (`impl<P: Platform> Subject<P> for
/// MyStack<P>`), so that every engine runs the same code.
pub trait Subject<P: Platform>: Sized + Send + Sync + 'static {
    /// The sequential specification the histories are checked against.
    type Model: Model;
    /// An operation of a workload, with its arguments: often the model's own operation type;
    /// another type where one call is several operations of the model (see
    /// [`Subject::perform`]).
    type Op: Clone + fmt::Debug + Send + Sync + 'static;

    /// A fresh object, and the model's state for it.
    fn create() -> (Self, Self::Model);

    /// The operations to generate workloads from.
    fn operations() -> BoxedStrategy<Self::Op>;

    /// Performs `op` on this object as task `caller`, and says what happened in the model's
    /// terms: usually one operation and its result; several, in the order they take effect,
    /// for a call the model splits (a barrier's wait is an arrival then a departure).
    fn perform(&self, caller: Caller, op: &Self::Op) -> Vec<ModelStep<Self::Model>>;
}

/// One operation of a model and its result.
pub type ModelStep<M> = (<M as Model>::Op, <M as Model>::Ret);

/// What the tasks of one test do: `tasks[t]` is task `t`'s operations, in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Workload<O> {
    /// Each task's operations.
    pub tasks: Vec<Vec<O>>,
}

impl<O> Workload<O> {
    /// A workload of these tasks.
    pub fn new(tasks: Vec<Vec<O>>) -> Self {
        Workload { tasks }
    }

    /// How many operations, over every task.
    pub fn len(&self) -> usize {
        self.tasks.iter().map(Vec::len).sum()
    }

    /// Whether there is no operation at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<O: fmt::Debug> fmt::Display for Workload<O> {
    /// A line per task; the operations in their `Debug` form (Rust syntax, ready to paste
    /// into [`Workload::new`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (t, ops) in self.tasks.iter().enumerate() {
            writeln!(f, "  task {t}: {ops:?}")?;
        }
        Ok(())
    }
}

impl<O: Clone + fmt::Debug> Workload<O> {
    /// One workload of `tasks` tasks × `ops` operations drawn from `operation`, the same for
    /// the same `seed` on every machine (proptest's ChaCha generator): a program can build its
    /// workload itself, in every execution of an exploration, and a replay builds the same.
    pub fn drawn(
        operation: impl Strategy<Value = O>,
        tasks: usize,
        ops: usize,
        seed: u64,
    ) -> Workload<O> {
        use proptest::strategy::ValueTree;
        let mut runner =
            TestRunner::new_with_rng(proptest::test_runner::Config::default(), seeded(seed));
        workloads(operation, tasks..=tasks, ops..=ops)
            .new_tree(&mut runner)
            .expect("a workload strategy never rejects")
            .current()
    }
}

/// proptest's ChaCha generator, seeded with `seed`.
fn seeded(seed: u64) -> TestRng {
    let mut bytes = [0; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Workloads of `tasks` tasks, each of `ops` operations drawn from `operation`. They shrink
/// towards fewer tasks, fewer operations and simpler operations.
pub fn workloads<S: Strategy>(
    operation: S,
    tasks: RangeInclusive<usize>,
    ops: RangeInclusive<usize>,
) -> impl Strategy<Value = Workload<S::Value>>
where
    S::Value: Clone,
{
    use proptest::collection::vec;
    vec(vec(operation, ops), tasks).prop_map(Workload::new)
}

/// Runs `workload` once on the current engine: a fresh subject, a task per column, every
/// operation recorded; then checks the history against the model and panics, with the
/// counterexample, if it is not linearizable (or if `budget` ran out before an answer).
///
/// Where each operation is one event of the explorer ([`Platform::operations_are_events`]: the
/// simulator at its operation granularity), the recorder keeps a clock of returns per task
/// ([`Recorder::with_tasks`]), so that returns of different tasks commute; elsewhere one for
/// all ([`Recorder::new`]), since each clock a call reads is one more point to explore (loom
/// ran 4.4 times the executions of a lock's workload with a clock per task) or only a cost.
/// [`Lincheck`] calls it inside each engine's exploration; call it yourself to replay a
/// workload (see [`replay`]) or to drive an engine of your own.
pub fn run<P: Platform, S: Subject<P>>(workload: &Workload<S::Op>, budget: Duration) {
    let (subject, model) = S::create();
    let subject = Arc::new(subject);
    let clocks = match P::operations_are_events() {
        true => workload.tasks.len(),
        false => 1,
    };
    let recorder = Recorder::<S::Model, P>::with_tasks(clocks);
    let handles: Vec<_> = workload
        .tasks
        .iter()
        .enumerate()
        .map(|(t, ops)| {
            let (subject, recorder, ops) = (Arc::clone(&subject), recorder.clone(), ops.clone());
            let task = u32::try_from(t).expect("fewer than 2^32 tasks");
            mpcheck::thread::spawn::<P, _, _>(move || {
                for op in &ops {
                    recorder.record_with(task, || ((), subject.perform(Caller::new(0, task), op)));
                }
            })
        })
        .collect();
    for handle in handles {
        if let Err(error) = handle.join() {
            panic!("a task of the workload failed: {error}");
        }
    }
    verdict(&model, &recorder.history(), budget);
}

/// Replays, under the simulator, the execution of `workload` that a [`Lincheck`] check under
/// [`SimEngine`] recorded in `file`: `Ok` if it no longer fails.
pub fn replay<S: Subject<Sim>>(
    file: impl AsRef<Path>,
    workload: Workload<S::Op>,
    budget: Duration,
) -> Result<sim::Report, sim::Failure> {
    sim::replay(file, move || run::<Sim, S>(&workload, budget))
}

/// A program an [`Engine`] explores: one execution of a workload.
pub type Program = Arc<dyn Fn() + Send + Sync>;

/// How an engine's exploration failed.
#[derive(Clone, Debug)]
pub struct Failed {
    /// The failure's message (for a history that is not linearizable: the counterexample).
    pub message: String,
    /// The replay file written for it (the simulator's; `None` elsewhere).
    pub file: Option<PathBuf>,
}

/// A way of running a [`Program`] many times, exploring its interleavings.
pub trait Engine {
    /// The platform the program runs on.
    type Platform: Platform;

    /// How the engine runs (for reports): `"sim pct(depth 3), 200 executions"`.
    fn describe(&self) -> String;

    /// Explores `program`; the first failing execution's message. `quiet`: while a workload is
    /// being searched for and shrunk (no replay files; the final report runs with `false`).
    fn explore(&self, program: Program, quiet: bool) -> Result<(), Failed>;
}

/// The simulator with a [`sim::Config`] (PCT, random walk, or exhaustive search for small
/// workloads). Its failures come with a replay file ([`replay`]).
#[derive(Clone, Debug)]
pub struct SimEngine(pub sim::Config);

impl Engine for SimEngine {
    type Platform = Sim;

    fn describe(&self) -> String {
        format!("sim {}", self.0)
    }

    fn explore(&self, program: Program, quiet: bool) -> Result<(), Failed> {
        let config = if quiet {
            self.0.clone().no_files().no_shrink()
        } else {
            self.0.clone()
        };
        sim::explore(config, move || program())
            .map(drop)
            .map_err(|failure| Failed {
                message: failure.message().to_owned(),
                file: failure.file().map(Path::to_path_buf),
            })
    }
}

/// loom's exhaustive search, with a preemption bound (`None`: unbounded).
#[derive(Clone, Copy, Debug)]
pub struct LoomEngine {
    /// loom's preemption bound.
    pub preemption_bound: Option<usize>,
}

impl Engine for LoomEngine {
    type Platform = mpcheck::loom::Loom;

    fn describe(&self) -> String {
        match self.preemption_bound {
            Some(bound) => format!("loom, preemption bound {bound}"),
            None => "loom".to_owned(),
        }
    }

    fn explore(&self, program: Program, _quiet: bool) -> Result<(), Failed> {
        let bound = self.preemption_bound;
        // On a task's stack: loom's main thread has 32 KiB, less than making some subjects
        // takes in this crate's unoptimized build (a pipe's read-ahead buffers). The task is
        // one of loom's 5 threads: a workload has 3 more (`Lincheck`'s loom tests use 2).
        let body = move || {
            let program = Arc::clone(&program);
            mpcheck::loom::on_task_stack(move || program());
        };
        panics_to_failures(move || match bound {
            Some(bound) => mpcheck::loom::model_bounded(bound, body),
            None => mpcheck::loom::model(body),
        })
    }
}

/// shuttle's schedulers, seeded.
#[derive(Clone, Copy, Debug)]
pub enum ShuttleEngine {
    /// `iterations` random schedules.
    Random {
        /// How many executions.
        iterations: usize,
        /// The scheduler's seed.
        seed: u64,
    },
    /// `iterations` PCT schedules for bugs of depth `depth`.
    Pct {
        /// How many executions.
        iterations: usize,
        /// The bug depth PCT aims at.
        depth: usize,
        /// The scheduler's seed.
        seed: u64,
    },
}

impl Engine for ShuttleEngine {
    type Platform = mpcheck::shuttle::Shuttle;

    fn describe(&self) -> String {
        match *self {
            ShuttleEngine::Random { iterations, seed } => {
                format!("shuttle random, {iterations} executions, seed {seed}")
            }
            ShuttleEngine::Pct {
                iterations,
                depth,
                seed,
            } => format!("shuttle pct(depth {depth}), {iterations} executions, seed {seed}"),
        }
    }

    fn explore(&self, program: Program, _quiet: bool) -> Result<(), Failed> {
        let engine = *self;
        panics_to_failures(move || match engine {
            ShuttleEngine::Random { iterations, seed } => {
                mpcheck::shuttle::check_random_with_seed(move || program(), iterations, seed)
            }
            ShuttleEngine::Pct {
                iterations,
                depth,
                seed,
            } => mpcheck::shuttle::check_pct_with_seed(move || program(), iterations, depth, seed),
        })
    }
}

/// Real threads: each workload run `runs` times. The interleavings are the machine's, so a
/// failure may not repeat; no replay file.
#[derive(Clone, Copy, Debug)]
pub struct OsThreads {
    /// How many times each workload runs.
    pub runs: usize,
}

impl Engine for OsThreads {
    type Platform = mpcheck::Os;

    fn describe(&self) -> String {
        format!("real threads, {} runs per workload", self.runs)
    }

    fn explore(&self, program: Program, _quiet: bool) -> Result<(), Failed> {
        let runs = self.runs;
        panics_to_failures(move || {
            for _ in 0..runs {
                program();
            }
        })
    }
}

/// Runs `f`; a panic becomes a [`Failed`] with its message.
fn panics_to_failures(f: impl FnOnce()) -> Result<(), Failed> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Failed {
        message: crate::suite::panic_message(&*payload),
        file: None,
    })
}

/// A linearizability check of a [`Subject`] over generated workloads (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
pub struct Lincheck {
    tasks: RangeInclusive<usize>,
    ops: RangeInclusive<usize>,
    cases: u32,
    seed: u64,
    budget: Duration,
}

impl Default for Lincheck {
    fn default() -> Self {
        Lincheck::new()
    }
}

impl Lincheck {
    /// 20 workloads of 2 or 3 tasks with 1 to 3 operations each, seed 0, 10 s per history.
    pub fn new() -> Self {
        Lincheck {
            tasks: 2..=3,
            ops: 1..=3,
            cases: 20,
            seed: 0,
            budget: Duration::from_secs(10),
        }
    }

    /// How many tasks a workload has.
    pub fn tasks(mut self, tasks: RangeInclusive<usize>) -> Self {
        self.tasks = tasks;
        self
    }

    /// How many operations each task makes.
    pub fn ops(mut self, ops: RangeInclusive<usize>) -> Self {
        self.ops = ops;
        self
    }

    /// How many workloads to generate (each explored by the engine).
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// The seed of the workload generator.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How long the linearizability check of one history may take before it fails as
    /// undecided.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Generates the workloads and explores each under `engine`. `Err`: the smallest failing
    /// workload proptest shrank to, with its failure.
    pub fn check<S, E>(&self, engine: &E) -> Result<Checked, Found<S::Op>>
    where
        E: Engine,
        S: Subject<E::Platform>,
    {
        let budget = self.budget;
        self.drive::<E::Platform, S>(engine.describe(), |workload, quiet| {
            engine.explore(program::<E::Platform, S>(workload, budget), quiet)
        })
    }

    /// As [`Lincheck::check`], each task of a workload in a process of its own: the subject is
    /// created in the checking process and the tasks' processes are forked from it, so it must
    /// live in memory that processes share, as mpcheck's primitives do (a type in ordinary
    /// memory fails: each process changes its own copy). Each workload runs `runs` times. The
    /// processes send their operations back through a [`Queue`](mpcheck::Queue), so the
    /// model's operations and results must be serializable.
    pub fn check_processes<S>(&self, runs: usize) -> Result<Checked, Found<S::Op>>
    where
        S: Subject<mpcheck::Os>,
        ModelStep<S::Model>: Serialize + DeserializeOwned,
    {
        let budget = self.budget;
        self.drive::<mpcheck::Os, S>(
            format!("real processes (fork), {runs} runs per workload"),
            |workload, _quiet| {
                panics_to_failures(|| {
                    for _ in 0..runs {
                        run_processes::<S>(&workload, budget);
                    }
                })
            },
        )
    }

    /// Generates workloads; `explore(workload, quiet)` runs one. The smallest failing workload
    /// is explored once more with `quiet` false, for the report.
    fn drive<P: Platform, S: Subject<P>>(
        &self,
        engine: String,
        explore: impl Fn(Workload<S::Op>, bool) -> Result<(), Failed>,
    ) -> Result<Checked, Found<S::Op>> {
        let strategy = workloads(S::operations(), self.tasks.clone(), self.ops.clone());
        let config = proptest::test_runner::Config {
            cases: self.cases,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, seeded(self.seed));
        let outcome = runner.run(&strategy, |workload| {
            explore(workload, true).map_err(|failed| TestCaseError::fail(failed.message))
        });
        let (workload, failed) = match outcome {
            Ok(()) => {
                return Ok(Checked {
                    cases: self.cases,
                    engine,
                })
            }
            Err(TestError::Fail(reason, workload)) => {
                // Once more, as the engine reports for good (a replay file, a shrunk schedule).
                let failed = explore(workload.clone(), false)
                    .err()
                    .unwrap_or_else(|| Failed {
                        message: format!(
                            "{reason}\n(this failure did not happen again when the workload \
                             ran once more: the engine's interleavings are not repeatable)"
                        ),
                        file: None,
                    });
                (workload, failed)
            }
            Err(TestError::Abort(reason)) => (
                Workload::new(Vec::new()),
                Failed {
                    message: format!("workload generation gave up: {reason}"),
                    file: None,
                },
            ),
        };
        Err(Found {
            workload,
            engine,
            failed,
        })
    }

    /// As [`Lincheck::check`], panicking with the report if a workload fails: for tests.
    #[track_caller]
    pub fn assert<S, E>(&self, engine: &E) -> Checked
    where
        E: Engine,
        S: Subject<E::Platform>,
    {
        match self.check::<S, E>(engine) {
            Ok(checked) => checked,
            Err(found) => panic!("{found}"),
        }
    }
}

/// What a task's process sends back: its number and, for each operation, its call and return
/// stamps and its model steps; or why it could not send them.
type ProcessRecord<M> = (u32, Result<Vec<(u64, u64, Vec<ModelStep<M>>)>, String>);

/// [`run`] with each task in a forked process of its own.
fn run_processes<S>(workload: &Workload<S::Op>, budget: Duration)
where
    S: Subject<mpcheck::Os>,
    ModelStep<S::Model>: Serialize + DeserializeOwned,
{
    use mpcheck::{Barrier, Os, Process, Queue};
    let (subject, model) = S::create();
    let subject = Arc::new(subject);
    let clock = Os::share(<Os as Platform>::AtomicU64::new(0));
    let records = Queue::<ProcessRecord<S::Model>, Os>::new();
    // No process ends before every task's operations are done: a process that ends holding a
    // lock is a dead holder, whose lock the next timed acquire takes over, which the model
    // (a lock without deaths) does not allow. (A party that never arrives holds the others
    // a minute at most.)
    let all_done = Barrier::<Os>::new(workload.tasks.len().max(1));
    let mut processes = Vec::new();
    let mut failures = Vec::new();
    for (t, ops) in workload.tasks.iter().enumerate() {
        let (subject, clock, records, ops, all_done) = (
            Arc::clone(&subject),
            clock.clone(),
            records.clone(),
            ops.clone(),
            all_done.clone(),
        );
        let task = u32::try_from(t).expect("fewer than 2^32 tasks");
        let process = Process::<Os>::new(move || {
            let tick = || clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let done: Vec<_> = ops
                .iter()
                .map(|op| {
                    let call = tick();
                    let steps = subject.perform(Caller::new(task, 0), op);
                    (call, tick(), steps)
                })
                .collect();
            let _ = all_done.wait_timeout(Duration::from_secs(60));
            if let Err(error) = records.put((task, Ok(done))) {
                // Say why in the report (an operation the model cannot serialize, say): the
                // parent fails the run with it (or, if even this cannot be sent, with the
                // task's operations missing). No panic here: the panic hook takes a lock of
                // std's that another thread of the parent may have held when it forked (a
                // test panicking beside this one), and the child would wait for it forever.
                let why = format!("could not send its operations back: {error}");
                let _ = records.put((task, Err(why)));
            }
        });
        if let Err(error) = process.start() {
            // The ones already started are still joined, below.
            failures.push(format!("could not start task {task}'s process: {error}"));
            break;
        }
        processes.push((task, process));
    }
    // Every process started is joined before anything is read back: a process that died has
    // put nothing, and nobody waits for it.
    for (task, process) in &processes {
        match process.join() {
            Ok(0) => {}
            Ok(code) => failures.push(format!("task {task}'s process exited with code {code}")),
            Err(error) => failures.push(format!("task {task}'s process: {error}")),
        }
    }
    let mut sent = Vec::new();
    loop {
        match records.try_get() {
            Ok((task, Ok(done))) => sent.push((task, done)),
            Ok((task, Err(why))) => failures.push(format!("task {task} {why}")),
            Err(mpcheck::Error::Empty) => break,
            Err(error) => {
                failures.push(format!("a task's operations could not be read: {error}"));
                break;
            }
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("; "));
    }
    if sent.len() != processes.len() {
        panic!(
            "{} of {} tasks' operations are missing",
            processes.len() - sent.len(),
            processes.len()
        );
    }
    let mut history = crate::History::new();
    for (task, done) in sent {
        for (call, returned, steps) in done {
            for (op, ret) in steps {
                history.op(task, op, ret, call, returned);
            }
        }
    }
    verdict(&model, &history, budget);
}

/// Panics, with the counterexample, unless `history` is linearizable.
fn verdict<M: Model>(model: &M, history: &crate::History<M>, budget: Duration) {
    match check(model, history, budget) {
        Verdict::Linearizable(_) => {}
        Verdict::NotLinearizable(counterexample) => panic!("not linearizable:\n{counterexample}"),
        Verdict::Unknown => panic!(
            "the linearizability check did not decide within {budget:?}: check smaller \
             workloads (Lincheck::tasks, Lincheck::ops) or give it longer (Lincheck::budget)"
        ),
    }
}

fn program<P: Platform, S: Subject<P>>(workload: Workload<S::Op>, budget: Duration) -> Program {
    Arc::new(move || run::<P, S>(&workload, budget))
}

/// A check that passed.
#[derive(Clone, Debug)]
pub struct Checked {
    /// How many workloads were explored.
    pub cases: u32,
    /// The engine, as [`Engine::describe`] says.
    pub engine: String,
}

/// The smallest failing workload a check found, and how it failed.
#[derive(Clone, Debug)]
pub struct Found<O> {
    /// The workload, shrunk.
    pub workload: Workload<O>,
    /// The engine, as [`Engine::describe`] says.
    pub engine: String,
    /// Its failure under that engine: the counterexample, and a replay file under the
    /// simulator.
    pub failed: Failed,
}

impl<O: fmt::Debug> fmt::Display for Found<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "a workload fails under {} (shrunk to {} operation(s)):",
            self.engine,
            self.workload.len()
        )?;
        write!(f, "{}", self.workload)?;
        writeln!(f, "{}", self.failed.message)?;
        if let Some(file) = &self.failed.file {
            writeln!(
                f,
                "replay file: {} (mpcheck_properties::lincheck::replay with the workload above)",
                file.display()
            )?;
        }
        Ok(())
    }
}
