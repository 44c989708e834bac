//! Mutant 6: a reusable barrier without a generation counter. The first task to arrive in a
//! round closes the gate, the last one opens it; waiters sleep while the gate is closed. A fast
//! task that leaves round 1 and arrives first in round 2 closes the gate again before a slow
//! waiter of round 1 has seen it open: the slow waiter sleeps on, the fast one waits for it in
//! round 2, and nobody wakes anybody. mpcheck's `Barrier` keeps rounds apart.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck::platform::{Atomic, AtomicInt};
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Barrier, Platform};

use crate::{kill, spawn};

/// What the scenario needs of a barrier.
pub trait TestBarrier<P: Platform>: Send + Sync + 'static {
    fn new(parties: u32) -> Self;
    fn wait(&self);
}

impl<P: Platform> TestBarrier<P> for Barrier<P> {
    fn new(parties: u32) -> Self {
        Barrier::new(parties as usize)
    }
    fn wait(&self) {
        Barrier::wait(self).expect("nobody breaks this barrier");
    }
}

const CLOSED: u32 = 0;
const OPEN: u32 = 1;

pub struct GateBarrier<P: Platform> {
    parties: u32,
    arrived: P::AtomicU32,
    gate: P::AtomicU32,
}

impl<P: Platform> TestBarrier<P> for GateBarrier<P> {
    fn new(parties: u32) -> Self {
        let barrier = Self {
            parties,
            arrived: P::AtomicU32::new(0),
            gate: P::AtomicU32::new(CLOSED),
        };
        barrier.arrived.label("GateBarrier.arrived");
        barrier.gate.label("GateBarrier.gate");
        barrier
    }

    fn wait(&self) {
        let arrived = self.arrived.fetch_add(1, SeqCst) + 1;
        if arrived == 1 {
            // BUG: "closed" means "a round is filling" whichever round it is; a waiter of the
            // previous round cannot tell it was released.
            self.gate.store(CLOSED, SeqCst);
        }
        if arrived == self.parties {
            self.arrived.store(0, SeqCst);
            self.gate.store(OPEN, SeqCst);
            P::wake(&self.gate, u32::MAX);
        } else {
            while self.gate.load(SeqCst) == CLOSED {
                P::wait(&self.gate, CLOSED, None);
            }
        }
    }
}

/// Two tasks go through the barrier for two rounds; nobody leaves a round before everyone has
/// arrived in it.
pub fn rounds<P: Platform, B: TestBarrier<P>>() {
    const PARTIES: u32 = 2;
    const ROUNDS: usize = 2;
    let barrier = Arc::new(B::new(PARTIES));
    let arrivals: Arc<Vec<P::AtomicU32>> =
        Arc::new((0..ROUNDS).map(|_| P::AtomicU32::new(0)).collect());
    let tasks: Vec<_> = (0..PARTIES)
        .map(|_| {
            let (barrier, arrivals) = (Arc::clone(&barrier), Arc::clone(&arrivals));
            spawn::<P, _>(move || {
                for (round, arrived) in arrivals.iter().enumerate() {
                    arrived.fetch_add(1, SeqCst);
                    barrier.wait();
                    let n = arrived.load(SeqCst);
                    assert_eq!(n, PARTIES, "left round {round} with {n} arrived");
                }
            })
        })
        .collect();
    for task in tasks {
        task.join().expect("a task of the scenario");
    }
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn barrier_without_generation_confuses_rounds() {
    let failure = kill(
        "barrier_without_generation",
        sim_config(),
        rounds::<Sim, GateBarrier<Sim>>,
        rounds::<Sim, Barrier<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    assert!(failure.message().contains("GateBarrier.gate#"), "{failure}");
}
