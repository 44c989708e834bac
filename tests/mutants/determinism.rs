//! The determinism self-check: the same configuration and seed give the same failure, trace
//! for trace; `check_determinism(true)` passes a correct scenario and catches one that depends
//! on state outside the simulation.

use std::sync::atomic::AtomicU32 as StdAtomicU32;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use mpcheck::platform::Atomic;
use mpcheck::sim::{explore, Config, FailureKind, Sim};
use mpcheck::{Lock, Platform};

use crate::lock_load_store::LoadStoreLock;
use crate::{mutual_exclusion, passes};

#[test]
fn same_seed_same_failure() {
    let run = || {
        explore(
            Config::random(1000)
                .granularity(mpcheck::sim::Granularity::Step)
                .seed(5)
                .no_shrink()
                .no_files()
                .ignore_env(),
            mutual_exclusion::<Sim, LoadStoreLock<Sim>>,
        )
        .expect_err("the load-store lock is caught")
    };
    let (first, second) = (run(), run());
    println!(
        "same seed: failure in execution {} both times, {} steps",
        first.execution(),
        first.steps().len()
    );
    assert_eq!(first.kind(), FailureKind::Panic);
    assert_eq!(first.execution(), second.execution());
    assert_eq!(first.schedule(), second.schedule());
    assert_eq!(first.trace_text(), second.trace_text());
}

#[test]
fn determinism_check_passes_a_correct_scenario() {
    passes(
        "determinism_check",
        Config::dfs().preemption_bound(2).check_determinism(true),
        mutual_exclusion::<Sim, Lock<Sim>>,
    );
}

/// Writes a different value each time it runs: it depends on a counter outside the simulation.
fn depends_on_the_outside<P: Platform>() {
    static RUNS: StdAtomicU32 = StdAtomicU32::new(0);
    let word = P::AtomicU32::new(0);
    word.store(RUNS.fetch_add(1, Relaxed), SeqCst);
}

#[test]
fn determinism_check_catches_outside_state() {
    let failure = explore(
        Config::random(1)
            .check_determinism(true)
            .no_files()
            .ignore_env(),
        depends_on_the_outside::<Sim>,
    )
    .expect_err("the second run writes another value");
    assert_eq!(failure.kind(), FailureKind::Nondeterminism, "{failure}");
}
