//! The verification matrix: run property functions under an engine and report a verdict each.
//!
//! [`properties`] holds the property functions. [`run`] runs one on real threads a number of
//! times; [`explore`] explores one under the simulator; both run it on a thread of its own,
//! catching a panic as a failure and a run that outlives its time limit as a hang. [`Row`] and
//! [`table`] are what the `mpcheck check` command prints.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mpcheck::platform::Os;
use mpcheck::sim::{self, Config, Sim};
use mpcheck::Platform;

pub mod properties;
pub mod queue_kill;
pub mod recovery;

pub use properties::{Property, Size};

/// How one property fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every run passed.
    Pass,
    /// A run failed; the panic message, or the simulator's report with its trace.
    Fail(String),
    /// A run did not finish within the time limit (a deadlock or a livelock).
    Hang,
}

impl Verdict {
    /// `true` for [`Verdict::Pass`].
    pub fn passed(&self) -> bool {
        *self == Verdict::Pass
    }
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Row {
    /// The engine it ran on, with the strategy for the simulator (`os`, `sim/dfs`, ...).
    pub engine: String,
    /// The primitive the property is about.
    pub primitive: &'static str,
    /// The property's name.
    pub property: &'static str,
    /// Runs on real threads, or executions explored by the simulator.
    pub runs: u64,
    /// Coverage: `complete` when exhaustive search covered every execution, `bounded` when it
    /// stopped short; the size that ran.
    pub note: String,
    /// The outcome.
    pub verdict: Verdict,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// The replay file the simulator wrote for a failure (`mpcheck replay FILE`).
    pub replay: Option<std::path::PathBuf>,
}

/// What a job that failed reports: the message, and the simulator's replay file if it wrote
/// one.
struct Failed {
    message: String,
    replay: Option<std::path::PathBuf>,
}

impl From<String> for Failed {
    fn from(message: String) -> Self {
        Failed {
            message,
            replay: None,
        }
    }
}

/// The coverage note's ending for a search that stopped at its time limit.
const TIME_LIMITED: &str = "incomplete (time limit)";

/// What a job that passed reports.
struct Passed {
    runs: u64,
    note: String,
}

/// Runs `job` on a thread of its own with a time limit, and makes a row of the outcome.
fn run_job(
    engine: String,
    property: &Property,
    limit: Duration,
    job: impl FnOnce() -> Result<Passed, Failed> + Send + 'static,
) -> Row {
    let start = Instant::now();
    let (done, outcome) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(format!("check {}", property.name))
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(job))
                .unwrap_or_else(|payload| Err(panic_message(&*payload).into()));
            let _ = done.send(result);
        });
    let (mut runs, mut note, mut replay, verdict) = (0, String::new(), None, Verdict::Pass);
    let verdict = match worker {
        Err(e) => Verdict::Fail(format!("could not start a thread: {e}")),
        Ok(_) => match outcome.recv_timeout(limit) {
            Ok(Ok(passed)) => {
                runs = passed.runs;
                note = passed.note;
                verdict
            }
            Ok(Err(failed)) => {
                replay = failed.replay;
                Verdict::Fail(failed.message)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Verdict::Hang,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Verdict::Fail("the checking thread vanished".to_owned())
            }
        },
    };
    Row {
        engine,
        primitive: property.primitive,
        property: property.name,
        runs,
        note,
        verdict,
        elapsed: start.elapsed(),
        replay,
    }
}

/// `1234567` as `1,234,567`, for reports and generated tables.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn size_note(size: Size) -> String {
    format!("{}x{}", size.threads, size.ops)
}

/// Runs `property` (instantiated for [`Os`]) `runs` times at `size` on real threads, stopping
/// at the first failure. A run still going after `limit` is reported as [`Verdict::Hang`] (its
/// thread is left behind; the caller should exit soon after).
pub fn run(property: Property, size: Size, runs: u32, limit: Duration) -> Row {
    let f = property.run;
    run_job(Os::NAME.to_owned(), &property, limit, move || {
        for _ in 0..runs {
            catch_unwind(|| f(size)).map_err(|payload| Failed::from(panic_message(&*payload)))?;
        }
        Ok(Passed {
            runs: runs.into(),
            note: size_note(size),
        })
    })
}

/// Explores `property` (instantiated for [`Sim`]) at `size` under the simulator as `config`
/// says (its granularity too: `mpcheck check` proves the primitives at
/// `Granularity::Step` unless told otherwise). The replay file of a failure is named after
/// the property and the size, so that `mpcheck replay` can run it again.
pub fn explore(
    property: Property,
    size: Size,
    config: Config,
    strategy: &str,
    limit: Duration,
) -> Row {
    let f = property.run;
    // The search stops itself a little before the row's limit and reports what it covered:
    // an exhaustive search that is merely long is no hang (a deadlock is the simulator's own
    // failure; a livelock, its step limit's).
    let config = config
        .name(replay_name(property.name, size))
        .time_limit(limit.mul_f64(0.9));
    run_job(
        format!("{}/{strategy}", Sim::NAME),
        &property,
        limit,
        move || match sim::explore(config, move || f(size)) {
            Ok(report) => Ok(Passed {
                runs: report.executions(),
                note: format!(
                    "{} {}",
                    size_note(size),
                    if report.complete() {
                        "complete"
                    } else if report.timed_out() {
                        TIME_LIMITED
                    } else {
                        "bounded"
                    }
                ),
            }),
            Err(failure) => Err(Failed {
                message: failure.to_string(),
                replay: failure.file().map(Into::into),
            }),
        },
    )
}

/// Counts the executions an engine runs of `f(size)`: the count, and `f` wrapped to bump it.
fn counted(
    f: fn(Size),
    size: Size,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    impl Fn() + Send + Sync + 'static,
) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let count = std::sync::Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let body = move || {
        counter.fetch_add(1, Relaxed);
        f(size)
    };
    (count, body)
}

/// Explores `property` (instantiated for [`Loom`](mpcheck::loom::Loom)) at `size` with loom,
/// up to `bound` preemptions (`None`: loom's complete search).
pub fn loom(property: Property, size: Size, bound: Option<usize>, limit: Duration) -> Row {
    let (count, body) = counted(property.run, size);
    run_job("loom".to_owned(), &property, limit, move || {
        match bound {
            Some(b) => mpcheck::loom::model_bounded(b, body),
            None => mpcheck::loom::model(body),
        }
        Ok(Passed {
            runs: count.load(std::sync::atomic::Ordering::Relaxed),
            note: match bound {
                Some(b) => format!("{} bounded (pb {b})", size_note(size)),
                None => format!("{} complete", size_note(size)),
            },
        })
    })
}

/// How shuttle explores in [`shuttle()`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShuttleStrategy {
    /// Shuttle's random scheduler.
    Random,
    /// Shuttle's PCT scheduler, depth 3.
    Pct,
}

/// Runs `property` (instantiated for [`Shuttle`](mpcheck::shuttle::Shuttle)) at `size` for
/// `iterations` executions of shuttle's `strategy`, seeded with `seed`.
pub fn shuttle(
    property: Property,
    size: Size,
    strategy: ShuttleStrategy,
    iterations: usize,
    seed: u64,
    limit: Duration,
) -> Row {
    let (count, body) = counted(property.run, size);
    let engine = match strategy {
        ShuttleStrategy::Random => "shuttle/random",
        ShuttleStrategy::Pct => "shuttle/pct",
    };
    run_job(engine.to_owned(), &property, limit, move || {
        match strategy {
            ShuttleStrategy::Random => {
                mpcheck::shuttle::check_random_with_seed(body, iterations, seed)
            }
            ShuttleStrategy::Pct => {
                mpcheck::shuttle::check_pct_with_seed(body, iterations, 3, seed)
            }
        }
        Ok(Passed {
            runs: count.load(std::sync::atomic::Ordering::Relaxed),
            note: format!("{} sampled", size_note(size)),
        })
    })
}

/// Keeps panics off stderr for the rest of the process: the report carries failures'
/// messages. shuttle and loom (through its `generator` crate) each wrap the panic hook once,
/// when first used; run after the other's, shuttle's would print every control-flow panic
/// loom uses to cancel its threads at the end of an execution (hundreds of thousands of lines
/// when they run side by side). So both are made to install theirs first, here, and are then
/// replaced by a silent hook. The simulator wraps it later, when it first runs.
pub fn quiet_panics() {
    mpcheck::shuttle::check_random(|| {}, 1);
    mpcheck::loom::model(|| {
        mpcheck::thread::spawn::<mpcheck::loom::Loom, _, _>(|| {})
            .join()
            .expect("an empty thread");
    });
    std::panic::set_hook(Box::new(|_| {}));
}

/// A row to compute: one property under one engine.
pub type Job = Box<dyn FnOnce() -> Row + Send>;

/// Runs `jobs` on `threads` threads at once and returns their rows in the order of `jobs`.
/// Every engine keeps its state per thread, so explorations run side by side unaffected.
pub fn run_jobs(jobs: Vec<Job>, threads: u32) -> Vec<Row> {
    run_jobs_with(jobs, threads, &|_| {})
}

/// As [`run_jobs`], calling `done` with each row as soon as it is made (for progress).
pub fn run_jobs_with(jobs: Vec<Job>, threads: u32, done: &(dyn Fn(&Row) + Sync)) -> Vec<Row> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Mutex;
    let n = jobs.len();
    let queue: Vec<Mutex<Option<Job>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let rows: Vec<Mutex<Option<Row>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..(threads.max(1) as usize).min(n) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Relaxed);
                let Some(job) = queue.get(i).and_then(|j| lock(j).take()) else {
                    break;
                };
                let row = job();
                done(&row);
                *lock(&rows[i]) = Some(row);
            });
        }
    });
    rows.into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran")
        })
        .collect()
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The name of a replay file's scenario: `<property>@<threads>x<ops>`.
pub fn replay_name(property: &str, size: Size) -> String {
    format!("{property}@{}x{}", size.threads, size.ops)
}

/// The property and size that [`replay_name`] names, if it names one.
pub fn parse_replay_name(name: &str) -> Option<(Property, Size)> {
    let (property, size) = name.split_once('@')?;
    let (threads, ops) = size.split_once('x')?;
    let size = Size {
        threads: threads.parse().ok()?,
        ops: ops.parse().ok()?,
        start_together: false,
    };
    let found = properties::find::<Sim>(property)
        .or_else(|| recovery::find::<Sim>(property).map(|p| p.property()))?;
    Some((found, size))
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match mpcheck::Error::from_panic(payload) {
        mpcheck::Error::Panicked { message } => message,
        other => other.to_string(),
    }
}

/// The report as a text table: engine, primitive, property, runs, verdict, coverage, time;
/// failures' messages follow the table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let w_eng = rows
        .iter()
        .map(|r| r.engine.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let w_prim = rows
        .iter()
        .map(|r| r.primitive.len())
        .max()
        .unwrap_or(0)
        .max(9);
    let w_prop = rows
        .iter()
        .map(|r| r.property.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let w_note = rows.iter().map(|r| r.note.len()).max().unwrap_or(0).max(8);
    let _ = writeln!(
        out,
        "{:<w_eng$} {:<w_prim$} {:<w_prop$} {:>8} {:<7} {:<w_note$} {:>10}",
        "engine", "primitive", "property", "runs", "verdict", "coverage", "time"
    );
    for r in rows {
        let verdict = match r.verdict {
            Verdict::Pass => "ok",
            Verdict::Fail(_) => "FAILED",
            Verdict::Hang => "HUNG",
        };
        let _ = writeln!(
            out,
            "{:<w_eng$} {:<w_prim$} {:<w_prop$} {:>8} {:<7} {:<w_note$} {:>8.3} s",
            r.engine,
            r.primitive,
            r.property,
            r.runs,
            verdict,
            r.note,
            r.elapsed.as_secs_f64()
        );
    }
    for r in rows {
        match &r.verdict {
            Verdict::Fail(message) => {
                let _ = writeln!(
                    out,
                    "\n{} {} / {}: {message}",
                    r.engine, r.primitive, r.property
                );
            }
            Verdict::Hang => {
                let _ = writeln!(
                    out,
                    "\n{} {} / {}: still running at the time limit (deadlock or livelock?)",
                    r.engine, r.primitive, r.property
                );
            }
            Verdict::Pass => {}
        }
    }
    let failed = rows.iter().filter(|r| !r.verdict.passed()).count();
    let stopped = rows
        .iter()
        .filter(|r| r.verdict.passed() && r.note.ends_with(TIME_LIMITED))
        .count();
    let _ = write!(out, "\n{} passed, {} failed", rows.len() - failed, failed);
    if stopped > 0 {
        let _ = write!(
            out,
            " ({stopped} of the passed searches stopped at the time limit: no failure in what \
             they ran, more executions exist)"
        );
    }
    let _ = writeln!(out);
    out
}
