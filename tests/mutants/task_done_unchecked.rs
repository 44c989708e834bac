//! Mutant 11: a joinable queue whose `task_done` decrements the count of unfinished items
//! without checking that it is positive: a bare `fetch_sub` on the futex word `join` sleeps on.
//! A stray `task_done`, with nothing unfinished, wraps the count to `u32::MAX` instead of being
//! refused; the next put wraps it back to 0, so `join` returns before the item is processed.
//! The correct version, as mpcheck's `JoinableQueue`, refuses the stray call
//! (`TaskDoneTooManyTimes`) and leaves the count alone.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck::platform::{Atomic, AtomicInt};
use mpcheck::sim::{Config, FailureKind, Sim};
use mpcheck::{Error, Lock, Platform};

use crate::slot_queue::SlotQueue;
use crate::{assert_failure, kill, spawn};

const CAP: usize = 1;

/// A bounded queue of `CAP` items that counts the items put and not yet marked done. With
/// `CHECKED` a `task_done` with nothing unfinished is refused (correct); without, it decrements
/// anyway (the mutant).
pub struct JoinableQueue<P: Platform, const CHECKED: bool> {
    queue: SlotQueue<P, CAP>,
    /// Items put and not yet marked done; `join` sleeps on it until it is 0.
    unfinished: P::AtomicU32,
}

impl<P: Platform, const CHECKED: bool> JoinableQueue<P, CHECKED> {
    fn new() -> Self {
        let lock = Lock::new();
        let unfinished = P::AtomicU32::new(0);
        unfinished.label("JoinableQueue.unfinished");
        JoinableQueue {
            queue: SlotQueue::with_lock(lock),
            unfinished,
        }
    }

    fn put(&self, item: u32) {
        // Counted before any getter can see the item.
        self.queue.put_then(item, || {
            self.unfinished.fetch_add(1, SeqCst);
        });
    }

    fn get(&self) -> u32 {
        self.queue.get()
    }

    /// Marks one item got as processed.
    fn task_done(&self) -> Result<(), Error> {
        let before = if CHECKED {
            let mut left = self.unfinished.load(SeqCst);
            loop {
                if left == 0 {
                    return Err(Error::TaskDoneTooManyTimes);
                }
                match self
                    .unfinished
                    .compare_exchange(left, left - 1, SeqCst, SeqCst)
                {
                    Ok(_) => break left,
                    Err(now) => left = now,
                }
            }
        } else {
            // BUG: nothing checks that an item is unfinished: 0 wraps around to u32::MAX.
            self.unfinished.fetch_sub(1, SeqCst)
        };
        if before == 1 {
            P::wake(&self.unfinished, u32::MAX);
        }
        Ok(())
    }

    /// Waits until every item put has been marked done.
    fn join(&self) {
        loop {
            let left = self.unfinished.load(SeqCst);
            if left == 0 {
                return;
            }
            P::wait(&self.unfinished, left, None);
        }
    }
}

/// `join` returns only once every item put has been processed. A worker gets an item,
/// processes it and marks it done; a stray task calls `task_done` before anything is put (the
/// correct queue refuses it; the stray task ignores the answer); then the main task puts one
/// item, joins the queue and checks that the item was processed.
pub fn join_waits_for_the_work<P: Platform, const CHECKED: bool>() {
    let queue = Arc::new(JoinableQueue::<P, CHECKED>::new());
    let processed = Arc::new(P::AtomicU32::new(0));
    processed.label("processed");
    let worker = {
        let (q, processed) = (Arc::clone(&queue), Arc::clone(&processed));
        spawn::<P, _>(move || {
            q.get();
            processed.fetch_add(1, SeqCst);
            q.task_done().expect("one task_done per item got");
        })
    };
    let q = Arc::clone(&queue);
    let stray = spawn::<P, _>(move || {
        let _ = q.task_done();
    });
    stray.join().expect("the stray task");
    queue.put(1);
    queue.join();
    assert_eq!(
        processed.load(SeqCst),
        1,
        "join returned before the item put was processed"
    );
    worker.join().expect("the worker");
}

/// The simulator configuration that catches this mutant (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn unchecked_task_done_lets_join_return_early() {
    let failure = kill(
        "task_done_unchecked",
        sim_config(),
        join_waits_for_the_work::<Sim, false>,
        join_waits_for_the_work::<Sim, true>,
    );
    assert_failure(
        &failure,
        FailureKind::Panic,
        "join returned before the item put was processed",
    );
}
