//! Cross-checks partial-order reduction on a real scenario. Exhaustive search with reduction
//! must reach the same verdict as plain search (every interleaving), and every outcome (what
//! every task saw, [`mpcheck::sim::Outcome`]) that plain search reaches. Where plain search
//! ends, the outcomes must be exactly the same; where it does not, plain search runs with a
//! preemption bound (the bound that still ends), and what it reaches must be among what the
//! complete search with reduction reaches.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use mpcheck::sim::{explore_observed, Config, FailureKind, Outcome};

/// How an exhaustive search of a scenario ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every execution passed; the digests of what they saw.
    Passed(HashSet<u128>),
    /// An execution failed.
    Failed(FailureKind),
    /// The search did not end within its budget of executions.
    TooBig,
}

/// A 128-bit digest of an outcome (two SipHash keys; std's `DefaultHasher::new()` is fixed).
fn digest(outcome: &Outcome) -> u128 {
    let mut a = DefaultHasher::new();
    outcome.hash(&mut a);
    let mut b = DefaultHasher::new();
    0xfeed_u32.hash(&mut b);
    outcome.hash(&mut b);
    (a.finish() as u128) << 64 | b.finish() as u128
}

/// The most executions the search with reduction may take.
pub const REDUCED_LIMIT: u64 = 60_000;

/// The largest preemption bound plain search tries.
const MAX_BOUND: u32 = 12;

/// As [`verdict`], and whether the search covered every execution (its bound cut nothing).
fn plain(config: Config, limit: u64, scenario: impl Fn() + 'static) -> (Verdict, u64, bool) {
    let complete: Rc<RefCell<bool>> = Rc::default();
    let (verdict, runs) = verdict_with(config, limit, scenario, Some(complete.clone()));
    let complete = complete.take();
    (verdict, runs, complete)
}

/// Explores `scenario` under `config`, stopping after `limit` executions; the verdict and the
/// executions run.
fn verdict(config: Config, limit: u64, scenario: impl Fn() + 'static) -> (Verdict, u64) {
    verdict_with(config, limit, scenario, None)
}

fn verdict_with(
    config: Config,
    limit: u64,
    scenario: impl Fn() + 'static,
    complete: Option<Rc<RefCell<bool>>>,
) -> (Verdict, u64) {
    let seen: Rc<RefCell<HashSet<u128>>> = Rc::default();
    let sink = seen.clone();
    let config = config.iterations(limit).ignore_env().no_files().no_shrink();
    let result = explore_observed(config, scenario, move |run| {
        sink.borrow_mut().insert(digest(&run.outcome()));
    });
    if let (Some(flag), Ok(report)) = (complete, &result) {
        *flag.borrow_mut() = report.complete();
    }
    match result {
        // A bounded search that ran out of executions to try ended (it is not complete: its
        // bound cut something).
        Ok(report) if report.complete() || report.executions() < limit => {
            (Verdict::Passed(seen.take()), report.executions())
        }
        Ok(report) => (Verdict::TooBig, report.executions()),
        Err(failure) => (Verdict::Failed(failure.kind()), failure.execution()),
    }
}

/// The first outcome of a plain search (under `config`) whose digest is in `wanted`.
fn find_outcome(config: Config, wanted: &HashSet<u128>, scenario: impl Fn() + 'static) -> String {
    let found: Rc<RefCell<Option<Outcome>>> = Rc::default();
    let sink = found.clone();
    let wanted = wanted.clone();
    let _ = explore_observed(config.ignore_env().no_files(), scenario, move |run| {
        let outcome = run.outcome();
        if sink.borrow().is_none() && wanted.contains(&digest(&outcome)) {
            *sink.borrow_mut() = Some(outcome);
        }
    });
    format!("{:#?}", found.take())
}

/// What one cross-check compared.
pub struct Compared {
    /// Plain search's preemption bound (`None`: unbounded, so outcomes were compared for
    /// equality).
    pub bound: Option<u32>,
    /// Executions of plain search, and of the search with reduction.
    pub executions: (u64, u64),
    /// Outcomes plain search reached, and the search with reduction (0 for a failure).
    pub outcomes: (usize, usize),
}

impl std::fmt::Display for Compared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = self
            .bound
            .map_or("unbounded".to_owned(), |b| format!("preemption bound {b}"));
        write!(
            f,
            "plain search ({bound}): {} executions, {} outcomes; with reduction: {} \
             executions, {} outcomes",
            self.executions.0, self.outcomes.0, self.executions.1, self.outcomes.1
        )
    }
}

/// Explores `scenario` under `config` (a DFS configuration) with reduction, then without: with
/// preemption bounds 0, 1, 2, ... while that ends within `limit` executions (up to the bound
/// that cuts nothing: the unbounded search); and checks that the verdicts agree and that
/// reduction lost no outcome of the largest bound that ended. `None` if the search with
/// reduction does not end within [`REDUCED_LIMIT`] executions, or plain search within `limit`
/// even with no preemption.
#[track_caller]
pub fn compare(
    name: &str,
    config: Config,
    limit: u64,
    scenario: impl Fn() + Clone + 'static,
) -> Option<Compared> {
    let (reduced, reduced_runs) = verdict(config.clone(), REDUCED_LIMIT, scenario.clone());
    if reduced == Verdict::TooBig {
        return None;
    }
    let mut last = None;
    for b in 0..MAX_BOUND {
        let bounded = config.clone().reduction(false).preemption_bound(b);
        let (verdict, runs, complete) = plain(bounded.clone(), limit, scenario.clone());
        if verdict == Verdict::TooBig {
            break;
        }
        let stop = complete || matches!(verdict, Verdict::Failed(_));
        last = Some(((!complete).then_some(b), bounded, verdict, runs));
        if stop {
            break;
        }
    }
    let (bound, plain_config, plain, plain_runs) = last?;
    let compared = |plain_outcomes, reduced_outcomes| Compared {
        bound,
        executions: (plain_runs, reduced_runs),
        outcomes: (plain_outcomes, reduced_outcomes),
    };
    match (&plain, &reduced) {
        (Verdict::Passed(p), Verdict::Passed(r)) => {
            let lost: HashSet<u128> = p.difference(r).copied().collect();
            assert!(
                lost.is_empty(),
                "{name}: reduction lost {} of the {} outcomes plain search reaches ({}), e.g.\n{}",
                lost.len(),
                p.len(),
                bound.map_or("unbounded".to_owned(), |b| format!("preemption bound {b}")),
                find_outcome(plain_config, &lost, scenario)
            );
            assert!(
                bound.is_some() || p.len() == r.len(),
                "{name}: reduction reached {} outcomes, plain search {}",
                r.len(),
                p.len()
            );
            Some(compared(p.len(), r.len()))
        }
        // A bounded plain search may miss a failure the complete one finds.
        (Verdict::Passed(p), Verdict::Failed(_)) if bound.is_some() => Some(compared(p.len(), 0)),
        (Verdict::Failed(p), Verdict::Failed(r)) => {
            assert_eq!(p, r, "{name}: plain search and reduction fail differently");
            Some(compared(0, 0))
        }
        (p, r) => panic!(
            "{name}: plain search {}: {p:?}; with reduction: {r:?}",
            bound.map_or("unbounded".to_owned(), |b| format!(
                "with preemption bound {b}"
            ))
        ),
    }
}
