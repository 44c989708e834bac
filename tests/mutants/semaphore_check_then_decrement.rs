//! Mutant 3: a semaphore whose acquire checks that the count is positive, then decrements it,
//! in two steps. Tasks that all saw the last unit free all take it: more than `k` get in.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck::platform::{Atomic, AtomicInt};
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Platform, Semaphore};

use crate::{kill, spawn, Inside};

/// What the scenario needs of a semaphore.
pub trait TestSemaphore<P: Platform>: Send + Sync + 'static {
    fn new(units: u32) -> Self;
    fn acquire(&self);
    fn release(&self);
}

impl<P: Platform> TestSemaphore<P> for Semaphore<P> {
    fn new(units: u32) -> Self {
        Semaphore::new(units)
    }
    fn acquire(&self) {
        Semaphore::acquire(self).unwrap()
    }
    fn release(&self) {
        Semaphore::release(self).expect("no overflow");
    }
}

pub struct CheckThenDecrement<P: Platform> {
    count: P::AtomicU32,
}

impl<P: Platform> TestSemaphore<P> for CheckThenDecrement<P> {
    fn new(units: u32) -> Self {
        let count = P::AtomicU32::new(units);
        count.label("CheckThenDecrement");
        CheckThenDecrement { count }
    }

    fn acquire(&self) {
        loop {
            // BUG: between the check and the decrement, others may take the unit.
            if self.count.load(SeqCst) > 0 {
                self.count.fetch_sub(1, SeqCst);
                return;
            }
            P::wait(&self.count, 0, None);
        }
    }

    fn release(&self) {
        self.count.fetch_add(1, SeqCst);
        P::wake(&self.count, 1);
    }
}

/// A semaphore of `K` units never admits more than `K` of `K + 1` tasks at once (the main task
/// and `K` others).
pub fn at_most_k_inside<P: Platform, S: TestSemaphore<P>>() {
    const K: u32 = 2;
    let sem = Arc::new(S::new(K));
    let inside = Inside::<P>::new(K);
    let pass = {
        let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
        move || {
            sem.acquire();
            inside.pass();
            sem.release();
        }
    };
    let others: Vec<_> = (0..K).map(|_| spawn::<P, _>(pass.clone())).collect();
    pass();
    for task in others {
        task.join().expect("a task of the scenario");
    }
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(3)
}

#[test]
fn check_then_decrement_admits_too_many() {
    let failure = kill(
        "semaphore_check_then_decrement",
        sim_config(),
        at_most_k_inside::<Sim, CheckThenDecrement<Sim>>,
        at_most_k_inside::<Sim, Semaphore<Sim>>,
    );
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(
        failure
            .message()
            .contains("3 tasks inside a critical section that admits 2"),
        "{failure}"
    );
}
