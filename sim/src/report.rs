//! What an exploration returns: a [`Report`] when nothing failed, a [`Failure`] (with its
//! readable trace and its replay file) when something did.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::operation::Caller;
use crate::rt::{object_name, Loc, Op, Step};
use crate::schedule::{Choice, Schedule};

/// The kind of a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// A task panicked (an `assert!` failed, say).
    Panic,
    /// Every task is blocked and no timer is pending.
    Deadlock,
    /// The execution took more steps than the configured bound (a livelock, or a bound too low).
    StepBound,
    /// A task ran out of stack (a recursion too deep for its stack:
    /// [`Config::stack_size`](crate::Config::stack_size)).
    StackOverflow,
    /// The program did not follow a recorded schedule: it depends on something outside the
    /// simulation.
    Nondeterminism,
    /// The exploration could not start: a replay file that cannot be read, a bad `MPCHECK_*`
    /// environment variable.
    InvalidInput,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "panic",
            FailureKind::Deadlock => "deadlock",
            FailureKind::StepBound => "step bound exceeded",
            FailureKind::StackOverflow => "stack overflow",
            FailureKind::Nondeterminism => "nondeterminism",
            FailureKind::InvalidInput => "invalid input",
        })
    }
}

/// A task stuck in a deadlock: what it waits for, and who last took that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// The blocked task.
    pub task: u32,
    /// What it waits on ("Lock#3", "task 2 to finish").
    pub waits_for: String,
    /// Where it waits.
    pub at: Site,
    /// The task that last took the object (changed it from zero), and where.
    pub holder: Option<(u32, Site)>,
}

/// `task 1 waits for Lock#2 in Lock#2.acquire at tests/x.rs:15:9; held by task 2 (taken in
/// Lock#2.acquire at tests/x.rs:20:9)`.
impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} waits for {} {}",
            self.task, self.waits_for, self.at
        )?;
        if let Some((holder, at)) = &self.holder {
            write!(f, "; held by task {holder} (taken {at})")?;
        }
        Ok(())
    }
}

/// Where a step was taken: in which primitive operation, called from which line of the user's
/// code, and the line (inside the primitive) that took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The operation the user called (`Lock#2.acquire`), if the step was taken in one.
    pub operation: Option<String>,
    /// The user's line, `file:line:column`: where the operation was called, or the step's own
    /// line outside any operation.
    pub line: String,
    /// The step's own line (inside the primitive, for a step of an operation), for debugging
    /// the primitive itself.
    pub internal: String,
}

impl Site {
    pub(crate) fn new(caller: Option<Caller>, loc: Loc) -> Site {
        Site {
            operation: caller.map(|c| c.to_string()),
            line: caller.map_or(loc, |c| c.loc).to_string(),
            internal: loc.to_string(),
        }
    }
}

/// `in Lock#2.acquire at tests/x.rs:15:9`, or `at tests/x.rs:15:9` outside any operation.
impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(operation) = &self.operation {
            write!(f, "in {operation} ")?;
        }
        write!(f, "at {}", self.line)
    }
}

/// The result of an exploration that found nothing.
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) executions: u64,
    pub(crate) abandoned: u64,
    pub(crate) complete: bool,
    pub(crate) timed_out: bool,
    pub(crate) steps: u64,
    pub(crate) elapsed: Duration,
    pub(crate) strategy: String,
    pub(crate) replayed: Option<Replayed>,
}

/// How a replay's execution followed the schedule recorded in its file.
///
/// A replay follows the recorded choices one by one. Once the program no longer offers the
/// recorded choice (its code changed: the bug was fixed, say), the run leaves the recording
/// and goes on as the default strategy would (each task runs on until it blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Choices in the recorded schedule.
    pub recorded: usize,
    /// Recorded choices the run followed, from the first.
    pub followed: usize,
    /// Choices the run made in all.
    pub made: usize,
    /// The run left the recording at choice `followed + 1`, where the program did not offer
    /// the recorded choice (else it followed every recorded choice it came to).
    pub left: bool,
}

impl fmt::Display for Replayed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Replayed {
            recorded,
            followed,
            made,
            left,
        } = *self;
        if left {
            write!(
                f,
                "left the recorded schedule at choice {} of {recorded}, where the program no \
                 longer offers the recorded event",
                followed + 1
            )
        } else if made < recorded {
            write!(
                f,
                "followed the recorded schedule until the execution ended, after {made} of its \
                 {recorded} choices"
            )
        } else if made > recorded {
            write!(
                f,
                "followed all {recorded} recorded choices, then {} more",
                made - recorded
            )
        } else {
            write!(f, "followed all {recorded} recorded choices")
        }
    }
}

impl Report {
    /// How many executions ran.
    pub fn executions(&self) -> u64 {
        self.executions
    }

    /// Executions the partial-order reduction stopped early as redundant (included in
    /// [`Report::executions`]).
    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// `true` if the whole space of executions was covered (exhaustive search that finished
    /// without cutting anything); `false` means bounded: what ran passed, more exists.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// `true` if the exploration stopped at its [`Config::time_limit`](crate::Config::time_limit)
    /// (then it is not complete).
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Steps taken over all executions.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Wall-clock time of the exploration.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The strategy's description.
    pub fn strategy(&self) -> &str {
        &self.strategy
    }

    /// For a replay ([`crate::replay`]): how its execution followed the recorded schedule.
    pub fn replayed(&self) -> Option<Replayed> {
        self.replayed
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(replayed) = &self.replayed {
            return write!(
                f,
                "replay: passed ({} steps in {:.3} s); it {replayed}",
                self.steps,
                self.elapsed.as_secs_f64()
            );
        }
        write!(
            f,
            "{}: {} executions ({} abandoned as redundant), {} steps in {:.3} s, {}",
            self.strategy,
            self.executions,
            self.abandoned,
            self.steps,
            self.elapsed.as_secs_f64(),
            if self.complete {
                "complete"
            } else if self.timed_out {
                "stopped at the time limit"
            } else {
                "bounded"
            }
        )
    }
}

/// A failing execution: what went wrong, its schedule (shrunk), and its trace.
#[derive(Clone)]
pub struct Failure(pub(crate) Box<FailureInner>);

#[derive(Clone)]
pub(crate) struct FailureInner {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    pub(crate) execution: u64,
    pub(crate) strategy: String,
    pub(crate) seed: u64,
    pub(crate) schedule: Vec<Choice>,
    pub(crate) preemptions: u32,
    pub(crate) trace: Vec<Step>,
    pub(crate) labels: Vec<Option<&'static str>>,
    /// For each task, its simulated process (empty if unknown).
    pub(crate) processes: Vec<u32>,
    /// For each choice of the schedule, the task that could have gone on (see
    /// `PickContext::current`): a choice of another task preempted it.
    pub(crate) currents: Vec<Option<u32>>,
    pub(crate) blocked: Vec<Blocked>,
    pub(crate) file: Option<PathBuf>,
}

impl Failure {
    /// What kind of failure.
    pub fn kind(&self) -> FailureKind {
        self.0.kind
    }

    /// The failure's message (the panic message, the deadlock picture, ...).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The strategy that found the failure ("random", "pct(depth 3)", "dpor", "replay", ...).
    pub fn strategy(&self) -> &str {
        &self.0.strategy
    }

    /// The seed of the exploration that found it.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// The 1-based index of the failing execution in the exploration.
    pub fn execution(&self) -> u64 {
        self.0.execution
    }

    /// The replay file written for it, if one was written.
    pub fn file(&self) -> Option<&Path> {
        self.0.file.as_deref()
    }

    /// The schedule that reproduces it.
    pub fn schedule(&self) -> &[Choice] {
        &self.0.schedule
    }

    /// Preemptions in that schedule (after shrinking).
    pub fn preemptions(&self) -> u32 {
        self.0.preemptions
    }

    /// The steps of the failing execution.
    pub fn steps(&self) -> &[Step] {
        &self.0.trace
    }

    /// For a deadlock: every blocked task, what it waits for and who holds it.
    pub fn blocked(&self) -> &[Blocked] {
        &self.0.blocked
    }

    /// The trace as text: one column per task (or one line per step with many tasks). A step
    /// taken in a primitive's operation names the operation and the user's line that called it.
    pub fn trace_text(&self) -> String {
        render_trace(&self.0.trace, &self.0.labels)
    }

    /// As [`Failure::trace_text`], with wider columns and, after the user's line, the line
    /// inside the primitive that took each step: for debugging the primitives themselves.
    pub fn trace_text_internal(&self) -> String {
        render_trace_with(&self.0.trace, &self.0.labels, Lines::Internal)
    }

    /// The failing execution as a self-contained HTML page (inline CSS, no script, nothing
    /// loaded from elsewhere; also well-formed XML), to open in a browser:
    ///
    /// - a header: `title` (the program's or the property's name), the kind of failure, its
    ///   message, the strategy, seed, execution, preemptions, the replay file and how to run
    ///   it again: `replay`, the command to show (by default, how to replay the file from a
    ///   test);
    /// - for a deadlock, the blocked tasks, what each waits for and who took it;
    /// - the trace: a lane (column) per task, headed with its simulated process, and a row per
    ///   step, in order (none left out, nothing shortened): what the step did, the operation
    ///   it was taken in, the user's line that called it and, after it and in its tooltip,
    ///   the line inside the primitive. A row where another task takes over is marked a
    ///   switch (class `switch`), and one where it took over from a task that could have
    ///   gone on a preemption (class `preemption`);
    /// - the objects the steps touched, each with the tasks that touched it and the steps.
    ///
    /// Every text is escaped.
    pub fn html(&self, title: &str, replay: Option<&str>) -> String {
        crate::html::render(&self.0, title, replay)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("execution", &self.0.execution)
            .field("file", &self.0.file)
            .finish()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mpcheck-sim found a {} in execution {} ({}, seed {}); schedule of {} choices with {} \
             preemption(s):",
            self.0.kind,
            self.0.execution,
            self.0.strategy,
            self.0.seed,
            self.0.schedule.len(),
            self.0.preemptions
        )?;
        writeln!(f, "{}\n", self.0.message)?;
        f.write_str(&self.trace_text())?;
        if let Some(file) = &self.0.file {
            writeln!(f, "\nreplay: {}", replay_hint(file))?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// How to run the execution recorded in `file` again, from a test.
pub(crate) fn replay_hint(file: &Path) -> String {
    format!(
        "MPCHECK_REPLAY={} cargo test ..., or mpcheck::sim::replay({:?}, ...)",
        file.display(),
        file.display().to_string()
    )
}

/// Which source lines a trace shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lines {
    /// The user's: a step taken in a primitive's operation shows the line that called it.
    User,
    /// The user's, then the line (inside the primitive) that took the step.
    Internal,
}

/// What a step did, in parts: the text trace and the HTML page ([`crate::Failure::html`]) both
/// show steps from it.
pub(crate) struct Text {
    /// The operation it was taken in (`Lock#2.acquire`), or empty.
    pub(crate) operation: String,
    /// What it did (`cas Value#3 0 → 1`).
    pub(crate) what: String,
    /// The user's line (`src/tickets.rs:14`): where the operation was called, or the step's
    /// own line outside any operation; empty for the main task's start.
    pub(crate) line: String,
    /// For a step of an operation, the step's own line (inside the primitive).
    pub(crate) internal: Option<String>,
}

impl Text {
    /// The operation as a prefix (`Lock#2.acquire: `), or empty.
    fn prefix(&self) -> String {
        if self.operation.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.operation)
        }
    }

    /// Where, after what the step did (`  tickets.rs:14`, with the internal line too).
    fn place(&self, lines: Lines) -> String {
        match (&self.internal, lines) {
            _ if self.line.is_empty() => String::new(),
            (Some(internal), Lines::Internal) => format!("  {} ({internal})", self.line),
            _ => format!("  {}", self.line),
        }
    }
}

/// What `step` did, with the names of the objects it touched from `labels`.
pub(crate) fn describe(step: &Step, labels: &[Option<&'static str>]) -> Text {
    if step.op == Op::Start && step.task == 0 {
        // Where the exploration was called from is not part of the execution: a replay from
        // another place must give the same trace.
        return Text {
            operation: String::new(),
            what: "start (main task)".to_owned(),
            line: String::new(),
            internal: None,
        };
    }
    // The object of the step, unless it is the one that stands for the operation's primitive
    // (the word of a `Lock`, labelled "Lock"), which goes without saying.
    let label = label(step.obj, labels);
    let obj = if step.obj == 0
        || step
            .caller
            .is_some_and(|c| c.object == step.obj && label == Some(c.primitive))
    {
        String::new()
    } else {
        format!(" {}", object_name(step.obj, label))
    };
    let what = match (step.op, step.read, step.wrote) {
        (Op::Load, Some(r), _) => format!("load{obj} → {r}"),
        (Op::Store, _, Some(w)) => format!("store{obj} ← {w}"),
        (Op::CompareExchange, Some(r), Some(w)) => format!("cas{obj} {r} → {w}"),
        (Op::CompareExchange, Some(r), None) => format!("cas{obj} fails (is {r})"),
        (Op::Swap | Op::FetchAdd | Op::FetchSub | Op::FetchOr | Op::FetchAnd, Some(r), Some(w)) => {
            format!("{}{obj} {r} → {w}", step.op.name())
        }
        (Op::FutexWait, Some(v), None) => format!("futex_wait{obj}: is {v}, no sleep"),
        (Op::FutexWait, Some(v), Some(1)) => format!("futex_wait{obj}: is {v}, sleeps"),
        (Op::FutexWait, Some(v), Some(3)) => {
            format!("futex_wait{obj}: is {v}, returns (a kill since the last wait)")
        }
        (Op::FutexWait, Some(v), _) => format!("futex_wait{obj}: is {v}, deadline passed"),
        (Op::WaitReturn, _, Some(code)) => {
            let how = ["mismatch", "woken", "timed out", "woken spuriously"][code.min(3) as usize];
            if step.obj == 0 {
                format!("wakes ({how})")
            } else if obj.is_empty() {
                format!("wait returns: {how}")
            } else {
                format!("wait on{obj} returns: {how}")
            }
        }
        (Op::FutexWake, _, Some(n)) => format!("futex_wake{obj}: woke {n}"),
        (Op::Spawn, _, Some(t)) => format!("spawn task {t}"),
        (Op::Join, _, Some(t)) => format!("join task {t}"),
        (Op::Sleep, _, Some(ns)) => format!("sleep {:?}", Duration::from_nanos(ns)),
        (Op::Now, Some(ns), _) => format!("now → {:?}", Duration::from_nanos(ns)),
        (Op::Choose, _, Some(v)) => format!("choose → {v}"),
        (Op::Alive, Some(p), Some(1)) => format!("process {p} alive? yes"),
        (Op::Alive, Some(p), _) => format!("process {p} alive? no (killed)"),
        (Op::Kill, _, _) => "KILLED (its process)".to_owned(),
        (op, _, _) => format!("{}{obj}", op.name()),
    };
    let line = |loc: Loc| format!("{}:{}", short_path(loc.file()), loc.line());
    match step.caller {
        None => Text {
            operation: String::new(),
            what,
            line: line(step.loc),
            internal: None,
        },
        Some(caller) => Text {
            operation: caller.to_string(),
            what,
            line: line(caller.loc),
            internal: Some(line(step.loc)),
        },
    }
}

/// The label of object `obj` (0: none) in an execution whose objects have `labels`.
pub(crate) fn label(obj: u32, labels: &[Option<&'static str>]) -> Option<&'static str> {
    (obj != 0)
        .then(|| labels.get(obj as usize - 1).copied().flatten())
        .flatten()
}

/// `text` in at most `width` characters. What the step did is shortened first: the operation
/// and the line of the user's code that called it matter most. A step outside any operation
/// keeps its end (the source line).
fn fit(text: Text, lines: Lines, width: usize) -> String {
    let len = |s: &str| s.chars().count();
    let (operation, place) = (text.prefix(), text.place(lines));
    let whole = format!("{operation}{}{place}", text.what);
    if len(&whole) <= width {
        return whole;
    }
    let room = width.saturating_sub(len(&operation) + len(&place) + 1);
    if operation.is_empty() || room == 0 {
        let tail: String = whole.chars().rev().take(width - 1).collect();
        return format!("…{}", tail.chars().rev().collect::<String>());
    }
    let what: String = text.what.chars().take(room).collect();
    format!("{operation}{what}…{place}")
}

/// The path from the crate's `src/` on (or the file name), to keep columns narrow.
fn short_path(file: &str) -> &str {
    match file.rfind("src/") {
        Some(i) => &file[i..],
        None => file.rsplit('/').next().unwrap_or(file),
    }
}

/// Renders a trace with the user's lines (see [`render_trace_with`]).
pub(crate) fn render_trace(trace: &[Step], labels: &[Option<&'static str>]) -> String {
    render_trace_with(trace, labels, Lines::User)
}

/// Renders a trace: with at most 4 tasks, one column per task; else one line per step.
pub(crate) fn render_trace_with(
    trace: &[Step],
    labels: &[Option<&'static str>],
    lines: Lines,
) -> String {
    use std::fmt::Write as _;
    let tasks = trace
        .iter()
        .map(|s| s.task)
        .max()
        .map_or(1, |m| m as usize + 1);
    let columns = tasks <= 4;
    // Four columns of 48 characters; fewer columns are wider. The internal lines need more.
    let width = (192 / tasks).clamp(48, 72)
        + match lines {
            Lines::User => 0,
            Lines::Internal => 40,
        };
    let mut out = String::new();
    if columns {
        let _ = write!(out, "{:>5} {:>10} ", "step", "time");
        for t in 0..tasks {
            let _ = write!(out, "| {:<width$}", format!("task {t}"));
        }
        out.push('\n');
    }
    // Very long traces: the beginning and the end, where failures are.
    let (head, tail) = if trace.len() > 400 {
        (40, 300)
    } else {
        (trace.len(), 0)
    };
    let mut previous: Option<u32> = None;
    for (i, step) in trace.iter().enumerate() {
        if i == head && tail > 0 {
            let _ = writeln!(out, "  ... {} steps ...", trace.len() - head - tail);
        }
        if i >= head && i < trace.len() - tail {
            continue;
        }
        if previous.is_some_and(|p| p != step.task) && step.op != Op::Start {
            let _ = writeln!(out, "{:>17} --- switch to task {} ---", "", step.task);
        }
        previous = Some(step.task);
        let text = describe(step, labels);
        let time = format!("{:?}", Duration::from_nanos(step.time));
        if columns {
            // Keep the columns straight.
            let text = fit(text, lines, width);
            let _ = write!(out, "{:>5} {:>10} ", i + 1, time);
            for t in 0..tasks {
                if t == step.task as usize {
                    let _ = write!(out, "| {text:<width$}");
                } else {
                    let _ = write!(out, "| {:<width$}", "");
                }
            }
            out.push('\n');
        } else {
            let _ = writeln!(
                out,
                "{:>5} {:>10} task {:<3} {}{}{}",
                i + 1,
                time,
                step.task,
                text.prefix(),
                text.what,
                text.place(lines)
            );
        }
    }
    out
}

/// The replay file: everything needed to run the failing execution again, bit for bit.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct FailureFile {
    pub(crate) format: u32,
    pub(crate) engine: String,
    /// The exploration's name (`Config::name`): which scenario this is a failure of.
    pub(crate) name: String,
    pub(crate) strategy: String,
    pub(crate) seed: u64,
    pub(crate) execution: u64,
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    pub(crate) max_steps: usize,
    pub(crate) spurious_wakeups: u32,
    /// How many processes an execution may kill (files written before kills existed: 0).
    #[serde(default)]
    pub(crate) kills: u32,
    pub(crate) timeouts: String,
    /// The stack size of every task, in bytes (format 1 files predate it: their default).
    #[serde(default = "format_1_stack_size")]
    pub(crate) stack_size: usize,
    /// What one step was ([`Granularity::name`](crate::Granularity::name)); files of formats
    /// 1 and 2 predate granularities: every call was a step.
    #[serde(default = "format_2_granularity")]
    pub(crate) granularity: String,
    pub(crate) preemptions: u32,
    pub(crate) steps: usize,
    /// FNV-1a of the rendered trace: a replay must reproduce it exactly.
    pub(crate) trace_digest: String,
    pub(crate) schedule: Schedule,
}

/// The format written; every format from 1 on is read.
pub(crate) const FORMAT: u32 = 3;

fn format_2_granularity() -> String {
    crate::Granularity::Step.name().to_owned()
}

fn format_1_stack_size() -> usize {
    256 * 1024
}

/// FNV-1a, 64 bits, as 16 hex digits.
pub(crate) fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
