//! Guards (`ready_when`): at `Granularity::Operation` a blocking operation is one step, taken
//! when it can complete; the reduction must still reach every outcome plain search reaches.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{
    explore_observed, futex_wait, futex_wake, operation, ready_when, spawn, AtomicU32, Cell, Config,
};

fn acquire(word: &AtomicU32) {
    let _op = operation(word.object_number(), "Toy", "acquire", Location::caller());
    ready_when(word, |v, _| v == 0, None);
    while word.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
        futex_wait(word, 1, None);
    }
}

fn release(word: &AtomicU32) {
    let _op = operation(word.object_number(), "Toy", "release", Location::caller());
    word.store(0, SeqCst);
    futex_wake(word, 1);
}

/// `tasks` tasks each enter a critical section `rounds` times and log their number there.
fn sections(tasks: u32, rounds: u32) -> (BTreeSet<Vec<u32>>, u64) {
    let orders: Rc<RefCell<BTreeSet<Vec<u32>>>> = Rc::default();
    let mut result = (BTreeSet::new(), 0);
    for reduction in [false, true] {
        orders.borrow_mut().clear();
        let sink = orders.clone();
        let config = Config::dfs().reduction(reduction).no_files().ignore_env();
        let report = explore_observed(
            config,
            move || {
                let lock = Arc::new(AtomicU32::new(0));
                let log = Arc::new(Cell::new(Vec::new()));
                let handles: Vec<_> = (0..tasks)
                    .map(|t| {
                        let (lock, log) = (lock.clone(), log.clone());
                        spawn(move || {
                            for _ in 0..rounds {
                                acquire(&lock);
                                // SAFETY: the lock is held.
                                unsafe { log.with_mut(|l| l.push(t)) };
                                release(&lock);
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join();
                }
                // SAFETY: every task was joined.
                let order = unsafe { log.with(|l| l.clone()) };
                sink.borrow_mut().insert(order);
            },
            |_| {},
        )
        .unwrap();
        assert!(report.complete());
        let seen = orders.borrow().clone();
        if reduction {
            assert_eq!(seen, result.0, "reduction lost orders");
            result.1 = report.executions();
        } else {
            result.0 = seen;
        }
    }
    result
}

#[test]
fn every_order_of_critical_sections_is_reached() {
    for (tasks, rounds, orders) in [(2, 1, 2), (2, 2, 6), (3, 1, 6), (3, 2, 90)] {
        let (seen, executions) = sections(tasks, rounds);
        assert_eq!(seen.len(), orders, "{tasks} x {rounds}");
        eprintln!("{tasks} x {rounds}: {orders} orders in {executions} executions");
    }
}
