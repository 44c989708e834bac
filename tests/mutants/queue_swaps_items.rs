//! Mutant 17: a queue made of two of mpcheck's own `Queue`s, two lanes, behind one lock that
//! every call takes (so each call is atomic). A put goes into the lane of its task's parity
//! (the platform's task id); a get takes from lane 0 if it can, else from lane 1. Each lane is
//! a FIFO queue and all of a task's puts go into one lane, so every putter's items come out in
//! the order it put them, each exactly once; but the items of two putters come out in lane
//! order, not in the order they were put: an odd task's `put(a)` returns, then an even task's
//! `put(b)` begins and returns, and a get returns `b` while `a` is still in. Nothing panics,
//! nothing is lost or duplicated.
//!
//! The suite's queue property, `queue_mpmc_exactly_once`, checks what the lanes keep: every
//! item arrives once, intact, each producer's items in the order they were put, and the queue
//! is empty at the end. `per_producer_fifo` below, the same check on any queue, passes the
//! mutant. The linearizability check of its histories (Lincheck, with the mutant as the
//! `QueueSubject` of mpcheck-properties) catches it: the queue's model hands items out in the
//! order their puts took effect.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mpcheck::platform::{Atomic, AtomicInt, WaitOutcome};
use mpcheck::sim::{Config, Sim};
use mpcheck::{Error, Lock, Platform, Queue, Semaphore};
use mpcheck_model::QueueModel;
use mpcheck_properties::primitives::{QueueLike, QueueSubject};

use crate::{not_linearizable, passes, spawn};

pub struct TwoLanes<P: Platform> {
    /// Taken by every call, around its whole work on the lanes.
    lock: Lock<P>,
    /// Lane `t % 2` holds the items put by the tasks whose thread id is `t`.
    lanes: [Queue<u8, P>; 2],
    /// Bumped (and every waiter woken) by each successful put and by `close`: what a timed
    /// get waits on, outside the lock, while both lanes are empty.
    changes: P::AtomicU32,
}

impl<P: Platform> TwoLanes<P> {
    /// `f` under the lock.
    fn locked<T>(&self, f: impl FnOnce(&[Queue<u8, P>; 2]) -> T) -> T {
        self.lock.acquire().expect("no process dies here");
        let result = f(&self.lanes);
        self.lock.release().expect("acquired above");
        result
    }

    /// Puts `item` into the calling task's lane.
    fn put(&self, item: u8) -> Result<(), Error> {
        let lane = (P::current_task().thread % 2) as usize;
        // An unbounded lane never makes a put wait.
        let result = self.locked(|lanes| lanes[lane].try_put(item));
        if result.is_ok() {
            self.changed();
        }
        result
    }

    fn changed(&self) {
        self.changes.fetch_add(1, SeqCst);
        P::wake(&self.changes, u32::MAX);
    }

    /// An item, or why not: `Closed` once both lanes are closed and empty.
    fn take(&self) -> Result<u8, Error> {
        self.locked(|lanes| {
            // BUG: lane 0 first, whichever lane's item was put first.
            match lanes[0].try_get() {
                Ok(item) => Ok(item),
                Err(Error::Empty | Error::Closed { .. }) => lanes[1].try_get(),
                Err(other) => Err(other),
            }
        })
    }
}

impl<P: Platform> QueueLike<P> for TwoLanes<P> {
    const JOINABLE: bool = false;
    fn create(maxsize: Option<usize>) -> (Self, QueueModel<u8>) {
        assert!(maxsize.is_none(), "TwoLanes is an unbounded queue");
        let changes = P::AtomicU32::new(0);
        changes.label("TwoLanes");
        let queue = TwoLanes {
            lock: Lock::new(),
            lanes: [Queue::new(), Queue::new()],
            changes,
        };
        (queue, QueueModel::new())
    }
    fn try_put(&self, item: u8) -> Result<(), Error> {
        self.put(item)
    }
    fn put_timeout(&self, item: u8, _timeout: Duration) -> Result<(), Error> {
        self.put(item)
    }
    fn try_get(&self) -> Result<u8, Error> {
        self.take()
    }
    fn get_timeout(&self, timeout: Duration) -> Result<u8, Error> {
        let deadline = P::now().checked_add(timeout);
        loop {
            let seen = self.changes.load(SeqCst);
            match self.take() {
                Err(Error::Empty) => {}
                done => return done,
            }
            if P::wait(&self.changes, seen, deadline) == WaitOutcome::TimedOut {
                return self.take();
            }
        }
    }
    fn qsize(&self) -> usize {
        self.locked(|lanes| lanes[0].qsize() + lanes[1].qsize())
    }
    fn empty(&self) -> bool {
        self.locked(|lanes| lanes[0].empty() && lanes[1].empty())
    }
    fn full(&self) -> bool {
        false
    }
    fn close(&self) {
        self.locked(|lanes| lanes.iter().for_each(Queue::close));
        self.changed();
    }
    fn is_closed(&self) -> bool {
        self.locked(|lanes| lanes[0].is_closed())
    }
    fn task_done(&self) -> Result<(), Error> {
        unreachable!("not a joinable queue")
    }
}

/// The check of `queue_mpmc_exactly_once` (the suite's queue property), on any [`QueueLike`],
/// with two putters: the main task puts two items, then a producer task puts one more while a
/// consumer task gets three; each item, tagged with its putter, arrives once, each putter's in
/// the order it put them; then the queue is empty. The consumer waits for each item on a
/// semaphore released after each put, then takes it with `try_get` (a blocking get without
/// timeouts, so that the check runs alike on every engine; with one putter under way, an item
/// whose put returned is there to get).
pub fn per_producer_fifo<P: Platform, Q: QueueLike<P>>() {
    let (queue, _) = Q::create(None);
    let queue = Arc::new(queue);
    let ready = Arc::new(Semaphore::<P>::new(0));
    let put = |queue: &Q, ready: &Semaphore<P>, putter: u8, items: u8| {
        for seq in 0..items {
            queue
                .try_put(putter << 4 | seq)
                .expect("an unbounded queue has room");
            ready.release().expect("a semaphore has room");
        }
    };
    put(&queue, &ready, 0, 2);
    let (q, r) = (Arc::clone(&queue), Arc::clone(&ready));
    let producer = spawn::<P, _>(move || put(&q, &r, 1, 1));
    let (q, r) = (Arc::clone(&queue), Arc::clone(&ready));
    let consumer = spawn::<P, _>(move || {
        let mut next = [0u8; 2];
        for _ in 0..3 {
            r.acquire().expect("no process dies here");
            let got = q.try_get().expect("a put returned, so an item is in");
            let (putter, seq) = (usize::from(got >> 4), got & 0xF);
            assert!(putter < 2 && seq < 2, "an item from nowhere: {got}");
            assert_eq!(
                seq, next[putter],
                "putter {putter}'s items lost, duplicated or out of order"
            );
            next[putter] += 1;
        }
    });
    producer.join().expect("the producer");
    consumer.join().expect("the consumer");
    assert!(queue.empty(), "a queue with nothing under way is empty");
    assert_eq!(queue.qsize(), 0, "a queue with nothing under way counts 0");
}

/// The configuration of the suite-style check (also used by `engines.rs`).
pub fn sim_config() -> Config {
    Config::dfs().preemption_bound(2)
}

#[test]
fn two_lanes_swap_items_of_two_putters() {
    // The suite's kind of queue check does not see it.
    passes(
        "queue_swaps_items",
        sim_config(),
        per_producer_fifo::<Sim, TwoLanes<Sim>>,
    );
    // The linearizability check does (and the real one passes it).
    not_linearizable::<QueueSubject<TwoLanes<Sim>>, QueueSubject<Queue<u8, Sim>>>(
        "Get(Bounded) returned Got(",
    );
}
