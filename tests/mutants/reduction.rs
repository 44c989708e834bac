//! Partial-order reduction cross-checked on every mutant and its correct version (see
//! `tests/support/reduction.rs`): with and without reduction, exhaustive search reaches the
//! same verdict — the same kind of failure for the mutant — and reduction loses no outcome of
//! the correct version that plain search reaches.

#[path = "../support/reduction.rs"]
mod support;

use mpcheck::sim::{Config, Timeouts};

use crate::engines::mutants;

/// The most executions plain search may take, per preemption bound tried.
const LIMIT: u64 = 40_000;

/// Correct versions whose complete search with reduction takes more than
/// [`support::REDUCED_LIMIT`] executions: only their mutants are cross-checked.
const TOO_BIG: [&str; 3] = [
    "semaphore_check_then_decrement",
    "barrier_without_generation",
    "queue_reads_before_count",
];

/// The exhaustive configuration with the settings of the mutant's own test (its spurious
/// wake-ups and timeout mode; the strategy and bounds are the cross-check's own).
fn dfs_for(mutant: &str) -> Config {
    match mutant {
        "condition_if_not_while" => Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .spurious_wakeups(1),
        "event_clear_races_set" => Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .timeouts(Timeouts::WhenIdle),
        "timed_wait_restarts_timeout" => Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .spurious_wakeups(1)
            .timeouts(Timeouts::WhenIdle),
        _ => Config::dfs().granularity(mpcheck::sim::Granularity::Step),
    }
}

#[test]
fn every_mutant_has_the_same_verdict_with_and_without_reduction() {
    let mut too_big = Vec::new();
    // A "(suite property)" row runs a mutant its scenario does not catch (only the
    // linearizability check of the row named after it does): nothing to compare.
    for m in mutants()
        .into_iter()
        .filter(|m| !m.name.ends_with("(suite property)"))
    {
        let config = dfs_for(m.name);
        let mutant = support::compare(m.name, config.clone(), LIMIT, m.mutant[0])
            .unwrap_or_else(|| panic!("{}: the mutant is too big to cross-check", m.name));
        let correct = support::compare(m.name, config, LIMIT, m.correct[0]);
        if correct.is_none() {
            too_big.push(m.name);
        }
        let correct = correct.map_or("too big".to_owned(), |c| c.to_string());
        println!("{}: mutant: {mutant}; correct version: {correct}", m.name);
    }
    assert_eq!(too_big, TOO_BIG, "correct versions too big to cross-check");
}
