//! The verification matrix: run property functions under an engine and report a verdict each.
//!
//! [`properties`] holds the property functions; [`run`] runs one of them, catching a panic as a
//! failure and a run that outlives its time limit as a hang; [`Row`] and [`table`] are what the
//! `mpcheck check` command prints.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod properties;

pub use properties::{Property, Size};

/// How one property fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every run passed.
    Pass,
    /// A run panicked; the panic message.
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
    /// The engine it ran on (`Platform::NAME`).
    pub engine: &'static str,
    /// The primitive the property is about.
    pub primitive: &'static str,
    /// The property's name.
    pub property: &'static str,
    /// Runs completed (all of them when it passed).
    pub runs: u32,
    /// The outcome.
    pub verdict: Verdict,
    /// Wall-clock time of all runs.
    pub elapsed: Duration,
}

/// Runs `property` `runs` times at `size` on its own thread, stopping at the first failure.
/// A run still going after `limit` is reported as [`Verdict::Hang`] (its thread is left behind;
/// the caller should exit soon after).
pub fn run(
    engine: &'static str,
    property: Property,
    size: Size,
    runs: u32,
    limit: Duration,
) -> Row {
    let start = Instant::now();
    let (done, outcome) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(format!("check {}", property.name))
        .spawn(move || {
            for run in 0..runs {
                let result = catch_unwind(AssertUnwindSafe(|| (property.run)(size)));
                let failed = result.is_err();
                let _ = done.send((run, result.map_err(|p| panic_message(&*p))));
                if failed {
                    return;
                }
            }
        });
    let (mut completed, mut verdict) = (0, Verdict::Pass);
    if let Err(e) = worker {
        verdict = Verdict::Fail(format!("could not start a thread: {e}"));
    }
    while completed < runs && verdict.passed() {
        let left = limit.saturating_sub(start.elapsed());
        match outcome.recv_timeout(left) {
            Ok((_, Ok(()))) => completed += 1,
            Ok((_, Err(message))) => verdict = Verdict::Fail(message),
            Err(mpsc::RecvTimeoutError::Timeout) => verdict = Verdict::Hang,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                verdict = Verdict::Fail("the checking thread vanished".to_owned())
            }
        }
    }
    Row {
        engine,
        primitive: property.primitive,
        property: property.name,
        runs: completed,
        verdict,
        elapsed: start.elapsed(),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match crate::Error::from_panic(payload) {
        crate::Error::Panicked { message } => message,
        other => other.to_string(),
    }
}

/// The report as a text table: engine, primitive, property, runs, verdict, time; failures'
/// messages follow the table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
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
    let _ = writeln!(
        out,
        "{:<6} {:<w_prim$} {:<w_prop$} {:>6} {:<7} {:>10}",
        "engine", "primitive", "property", "runs", "verdict", "time"
    );
    for r in rows {
        let verdict = match r.verdict {
            Verdict::Pass => "ok",
            Verdict::Fail(_) => "FAILED",
            Verdict::Hang => "HUNG",
        };
        let _ = writeln!(
            out,
            "{:<6} {:<w_prim$} {:<w_prop$} {:>6} {:<7} {:>8.3} s",
            r.engine,
            r.primitive,
            r.property,
            r.runs,
            verdict,
            r.elapsed.as_secs_f64()
        );
    }
    for r in rows {
        match &r.verdict {
            Verdict::Fail(message) => {
                let _ = writeln!(out, "\n{} / {}: {message}", r.primitive, r.property);
            }
            Verdict::Hang => {
                let _ = writeln!(
                    out,
                    "\n{} / {}: still running at the time limit (deadlock or livelock?)",
                    r.primitive, r.property
                );
            }
            Verdict::Pass => {}
        }
    }
    let failed = rows.iter().filter(|r| !r.verdict.passed()).count();
    let _ = writeln!(out, "\n{} passed, {} failed", rows.len() - failed, failed);
    out
}
