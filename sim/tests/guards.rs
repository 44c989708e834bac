//! Guards (`ready_when`): at `Granularity::Operation` a blocking operation is one step, taken
//! when it can complete; the reduction must still reach every outcome plain search reaches.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{
    explore, explore_observed, futex_wait, futex_wake, operation, process_alive, ready_if,
    ready_when, spawn, spawn_process, AtomicU32, Cell, Config, Granularity,
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

/// Waits, as one operation, until `ready` holds: the specification first (`ready_if`), then
/// the algorithm, which looks and sleeps on `event` (which every change bumps) for itself.
/// Returns how many looks it took. (A kill wakes every sleeper, so a look at a dead process
/// ends the wait too.)
fn wait_for(event: &AtomicU32, ready: &dyn Fn() -> bool) -> u32 {
    let _op = operation(event.object_number(), "Toy", "wait", Location::caller());
    ready_if(ready, None);
    let mut looks = 1;
    loop {
        let seen = event.load(SeqCst);
        if ready() {
            return looks;
        }
        futex_wait(event, seen, None);
        looks += 1;
    }
}

/// Sets `word` to 1 and wakes the waiters of `event`.
fn set(word: &AtomicU32, event: &AtomicU32) {
    let _op = operation(word.object_number(), "Toy", "set", Location::caller());
    word.store(1, SeqCst);
    event.fetch_add(1, SeqCst);
    futex_wake(event, u32::MAX);
}

/// A check over two words (`ready_if`) holds the waiter back until both are set: at operation
/// granularity it never looks in vain, and it runs once the second is set, as one event; at
/// step granularity the check does nothing and the algorithm looks and sleeps.
#[test]
fn a_check_over_two_words_holds_the_task_until_it_passes() {
    for granularity in [Granularity::Operation, Granularity::Step] {
        let most = Rc::new(std::cell::Cell::new(0));
        let seen = most.clone();
        let config = Config::dfs()
            .granularity(granularity)
            .no_files()
            .ignore_env();
        let report = explore(config, move || {
            let words: Arc<[AtomicU32; 3]> = Arc::new(Default::default());
            let setters: Vec<_> = [0, 1]
                .map(|i| {
                    let words = words.clone();
                    spawn(move || set(&words[i], &words[2]))
                })
                .into_iter()
                .collect();
            let ready = || words[0].load(SeqCst) == 1 && words[1].load(SeqCst) == 1;
            let looks = wait_for(&words[2], &ready);
            seen.set(seen.get().max(looks));
            for s in setters {
                s.join();
            }
        })
        .unwrap();
        assert!(report.complete());
        if granularity == Granularity::Operation {
            assert_eq!(most.get(), 1, "the waiter looked in vain");
            // The wait comes last, once: only the setters' two orders (both bump the event
            // word) are explored.
            assert_eq!(report.executions(), 2, "{report}");
        } else {
            assert!(most.get() > 1, "at step granularity the algorithm waits");
        }
    }
}

/// A check that looks at a process's liveness passes once that process is killed, though no
/// word it read changed: the kill turns the guard off (the task then looks for itself).
/// Without that, a kill after the check failed left the waiter held for good: a deadlock.
#[test]
fn a_check_that_looks_at_a_process_passes_once_it_is_killed() {
    let killed = Rc::new(std::cell::Cell::new(false));
    let seen = killed.clone();
    let config = Config::dfs().kills(1).no_files().ignore_env();
    let report = explore(config, move || {
        let words: Arc<[AtomicU32; 2]> = Arc::new(Default::default());
        let theirs = words.clone();
        let child = spawn_process(move || set(&theirs[0], &theirs[1]));
        let p = child.process();
        let ready = || words[0].load(SeqCst) == 1 || !process_alive(p);
        wait_for(&words[1], &ready);
        seen.set(seen.get() | child.try_join().is_none());
    })
    .unwrap_or_else(|f| panic!("no deadlock: {f}"));
    assert!(report.complete());
    assert!(killed.get(), "some execution killed the child");
}

/// A check may only read: one that takes another step (here a read of the clock) or changes a
/// word is a bug of the primitive that made it, reported as a failure that says so.
#[test]
fn a_check_that_takes_a_step_is_reported() {
    for writes in [false, true] {
        let failure = explore(Config::dfs().no_files().ignore_env(), move || {
            let words: Arc<[AtomicU32; 2]> = Arc::new(Default::default());
            let theirs = words.clone();
            let setter = spawn(move || set(&theirs[0], &theirs[1]));
            let ready = || {
                if writes {
                    words[0].fetch_add(1, SeqCst);
                } else {
                    mpcheck_sim::now();
                }
                words[0].load(SeqCst) == 1
            };
            wait_for(&words[1], &ready);
            setter.join();
        })
        .expect_err("a check that steps fails");
        let text = failure.to_string();
        assert!(text.contains("a `ready_if` check"), "{text}");
    }
}
