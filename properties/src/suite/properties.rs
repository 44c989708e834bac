//! The property functions: one generic function per property, `fn name<P: Platform>(Size)`.
//!
//! Each function builds its own primitives on `P`, runs tasks on `P`, and panics (with an
//! `assert!`) when the property is violated. Nothing here knows which engine runs it: the `Os`
//! tests run them on real threads at [`Size::STRESS`], exploration engines run them at
//! [`Size::SMALL`].
//!
//! Harness data that only the checking code needs (per-round bit masks, for instance) lives in a
//! `std::sync::Arc` of platform atomics: threads share it, and an engine still sees every access.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Duration;

use mpcheck::platform::{Atomic, AtomicInt, Platform, Shareable, SharedCell};

use crate::lincheck::{self, Subject, Workload};
use crate::primitives::{
    ArraySubject, BarrierSubject, ConditionSubject, EventSubject, LockSubject, QueueSubject,
    RLockSubject, SemaphoreSubject, SimpleQueueSubject, ValueSubject,
};
use mpcheck::{
    Array, Barrier, BoundedSemaphore, Condition, Error, Event, JoinableQueue, Lock, Queue, RLock,
    Semaphore, Value,
};

/// How big a property run is: how many tasks, how many operations each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Tasks that run concurrently (at least 2 for anything to race).
    pub threads: usize,
    /// Operations (increments, rounds, items) per task.
    pub ops: usize,
    /// Hold every task at a start gate (a [`Barrier`]) until all have been spawned, so that
    /// they overlap on real threads. Exploration engines leave it off: they interleave anyway,
    /// and the gate's steps would only grow the space they search.
    pub start_together: bool,
}

impl Size {
    /// Real threads: 4 tasks × 10,000 operations.
    pub const STRESS: Size = Size {
        threads: 4,
        ops: 10_000,
        start_together: true,
    };
    /// Exhaustive exploration: 2 tasks × 2 operations.
    pub const SMALL: Size = Size {
        threads: 2,
        ops: 2,
        start_together: false,
    };
    /// Exhaustive exploration of the properties with many steps per operation: 2 tasks × 1.
    pub const TINY: Size = Size {
        threads: 2,
        ops: 1,
        start_together: false,
    };
    /// Randomized exploration (PCT, random walk): 4 tasks × 2 operations.
    pub const SAMPLED: Size = Size {
        threads: 4,
        ops: 2,
        start_together: false,
    };
}

/// Runs `body(i)` in `size.threads` new tasks (after a start gate if `size.start_together`) and
/// joins them all; a panic in any of them is re-raised here.
fn run_tasks<P: Platform>(size: Size, body: impl Fn(usize) + Send + Sync + 'static) {
    run_n_tasks::<P>(size.threads, size.start_together, body)
}

fn run_n_tasks<P: Platform>(n: usize, gate: bool, body: impl Fn(usize) + Send + Sync + 'static) {
    let body = Arc::new(body);
    let gate = gate.then(|| Barrier::<P>::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (body, gate) = (Arc::clone(&body), gate.clone());
            mpcheck::thread::spawn::<P, _, _>(move || {
                if let Some(gate) = gate {
                    gate.wait().expect("nobody breaks the start gate");
                }
                body(i)
            })
        })
        .collect();
    for handle in handles {
        if let Err(error) = handle.join() {
            panic!("{error}");
        }
    }
}

/// A counter with no atomicity of its own: only a lock makes its increments add up.
struct Counter<P: Platform> {
    value: P::Cell<u64>,
    /// Tasks inside the critical section right now; must never exceed the allowed number.
    inside: P::AtomicU32,
}

// SAFETY: platform cells and atomics only.
unsafe impl<P: Platform> Shareable for Counter<P> {}

impl<P: Platform> Counter<P> {
    fn new() -> Arc<Self> {
        Arc::new(Counter {
            value: P::Cell::new(0),
            inside: P::AtomicU32::new(0),
        })
    }

    /// One critical section: enter, a non-atomic read-modify-write of the counter, leave.
    fn critical_section(&self, allowed: u32) {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        assert!(
            now <= allowed,
            "{now} tasks inside a section that admits {allowed}"
        );
        // SAFETY: callers hold a lock (or a unit of a 1-permit semaphore) around this call, so no
        // other access to the cell overlaps; for `allowed > 1` only the atomics are used.
        if allowed == 1 {
            unsafe { self.value.with_mut(|v| *v += 1) };
        }
        self.inside.fetch_sub(1, SeqCst);
    }

    fn value(&self) -> u64 {
        // SAFETY: called after every task was joined.
        unsafe { self.value.with(|v| *v) }
    }
}

/// `threads × ops` increments of a non-atomic counter under a `Lock` add up exactly, and no two
/// tasks are ever inside at once.
pub fn lock_mutual_exclusion<P: Platform>(size: Size) {
    let lock = Lock::<P>::new();
    let counter = Counter::<P>::new();
    let c = Arc::clone(&counter);
    run_tasks::<P>(size, move |_| {
        for _ in 0..size.ops {
            let _held = lock.lock();
            c.critical_section(1);
        }
    });
    assert_eq!(counter.value(), (size.threads * size.ops) as u64);
}

/// As [`lock_mutual_exclusion`] for an `RLock`, entered twice (recursively) per increment.
pub fn rlock_mutual_exclusion<P: Platform>(size: Size) {
    let lock = RLock::<P>::new();
    let counter = Counter::<P>::new();
    let c = Arc::clone(&counter);
    run_tasks::<P>(size, move |_| {
        for _ in 0..size.ops {
            let _outer = lock.lock();
            let _inner = lock.lock();
            c.critical_section(1);
        }
    });
    assert_eq!(counter.value(), (size.threads * size.ops) as u64);
}

/// As [`lock_mutual_exclusion`] for a `Semaphore(1)` used with acquire/release.
pub fn semaphore_mutual_exclusion<P: Platform>(size: Size) {
    let sem = Semaphore::<P>::new(1);
    let counter = Counter::<P>::new();
    let c = Arc::clone(&counter);
    let s = sem.clone();
    run_tasks::<P>(size, move |_| {
        for _ in 0..size.ops {
            s.acquire().unwrap();
            c.critical_section(1);
            s.release().expect("a Semaphore(1) released after acquire");
        }
    });
    assert_eq!(counter.value(), (size.threads * size.ops) as u64);
    assert_eq!(sem.get_value(), 1);
}

/// A `Semaphore(k)` never admits more than `k` tasks at once (k = threads − 1, at least 1), and
/// every unit comes back.
pub fn semaphore_bound<P: Platform>(size: Size) {
    let k = (size.threads as u32 - 1).max(1);
    let sem = Semaphore::<P>::new(k);
    let counter = Counter::<P>::new();
    let (c, s) = (Arc::clone(&counter), sem.clone());
    run_tasks::<P>(size, move |_| {
        for _ in 0..size.ops {
            let _unit = s.guard();
            c.critical_section(k);
        }
    });
    assert_eq!(sem.get_value(), k);
}

/// Racing over-releases of a `BoundedSemaphore` are refused exactly: with one unit out, of
/// `threads` concurrent releases exactly one succeeds and the others get `ReleasedTooManyTimes`.
pub fn bounded_semaphore_exact<P: Platform>(size: Size) {
    let initial = 2;
    for _ in 0..size.ops.min(100) {
        let sem = BoundedSemaphore::<P>::new(initial);
        assert!(sem.try_acquire());
        let successes = Arc::new(P::AtomicU32::new(0));
        let (s, ok) = (sem.clone(), Arc::clone(&successes));
        run_tasks::<P>(size, move |_| match s.release() {
            Ok(()) => {
                ok.fetch_add(1, Relaxed);
            }
            Err(e) => assert_eq!(
                e,
                Error::ReleasedTooManyTimes {
                    primitive: "BoundedSemaphore"
                }
            ),
        });
        assert_eq!(successes.load(Relaxed), 1);
        assert_eq!(sem.get_value(), initial);
    }
}

/// Over `ops` rounds of a `Barrier(threads)`, each round hands out exactly the arrival indices
/// `0..threads`, and the action runs once per round, before anyone of the round is released.
pub fn barrier_rounds<P: Platform>(size: Size) {
    assert!(size.threads <= 64, "one bit per party");
    let rounds = size.ops.min(100);
    let actions = Arc::new(P::AtomicU64::new(0));
    let a = Arc::clone(&actions);
    let barrier = Barrier::<P>::with_action(size.threads, move || {
        a.fetch_add(1, SeqCst);
    });
    let masks: Arc<Vec<P::AtomicU64>> =
        Arc::new((0..rounds).map(|_| P::AtomicU64::new(0)).collect());
    let (m, a) = (Arc::clone(&masks), Arc::clone(&actions));
    run_tasks::<P>(size, move |_| {
        for (round, mask) in m.iter().enumerate() {
            let index = barrier.wait().expect("nobody breaks this barrier");
            assert!(index < 64 && mask.fetch_or(1 << index, SeqCst) & (1 << index) == 0);
            assert!(
                a.load(SeqCst) > round as u64,
                "released before the action of round {round} ran"
            );
        }
    });
    let full = u64::MAX >> (64 - size.threads);
    for (round, mask) in masks.iter().enumerate() {
        assert_eq!(mask.load(SeqCst), full, "indices of round {round}");
    }
    assert_eq!(actions.load(SeqCst), rounds as u64);
}

/// A fixed ring of values guarded by a condition's lock.
struct Ring<P: Platform> {
    slots: P::Cell<RingSlots>,
}

#[derive(Clone, Copy)]
struct RingSlots {
    buf: [u64; 4],
    head: u64,
    tail: u64,
}

// SAFETY: plain integers.
unsafe impl Shareable for RingSlots {}
// SAFETY: a platform cell of plain integers.
unsafe impl<P: Platform> Shareable for Ring<P> {}

/// One producer sends `ops` numbered items through a 4-slot ring guarded by a `Condition`
/// (waiting for space, notifying); one consumer receives every item once, in order.
pub fn condition_producer_consumer<P: Platform>(size: Size) {
    let items = size.ops as u64;
    let cond = Condition::<P>::new();
    let ring = Arc::new(Ring::<P> {
        slots: P::Cell::new(RingSlots {
            buf: [0; 4],
            head: 0,
            tail: 0,
        }),
    });
    let (c, r) = (cond.clone(), Arc::clone(&ring));
    // SAFETY (both closures): the ring is only touched with the condition's lock held.
    let len = move |r: &Ring<P>| unsafe { r.slots.with(|s| s.tail - s.head) };
    let producer = mpcheck::thread::spawn::<P, _, _>(move || {
        for item in 0..items {
            let _held = c.lock();
            c.wait_for(|| len(&r) < 4).expect("lock held");
            // SAFETY: lock held.
            unsafe {
                r.slots.with_mut(|s| {
                    s.buf[(s.tail % 4) as usize] = item;
                    s.tail += 1;
                })
            };
            c.notify(1).expect("lock held");
        }
    });
    for expected in 0..items {
        let _held = cond.lock();
        cond.wait_for(|| len(&ring) > 0).expect("lock held");
        // SAFETY: lock held.
        let item = unsafe {
            ring.slots.with_mut(|s| {
                let item = s.buf[(s.head % 4) as usize];
                s.head += 1;
                item
            })
        };
        assert_eq!(item, expected, "items arrive in order, each once");
        cond.notify(1).expect("lock held");
    }
    producer.join().expect("producer");
    assert_eq!(len(&ring), 0);
}

/// `set` releases every task waiting on an `Event`, and a set event stays set.
pub fn event_wakes_all<P: Platform>(size: Size) {
    for _ in 0..size.ops.min(100) {
        let event = Event::<P>::new();
        let woken = Arc::new(P::AtomicU32::new(0));
        let (e, w) = (event.clone(), Arc::clone(&woken));
        let setter = {
            let event = event.clone();
            mpcheck::thread::spawn::<P, _, _>(move || event.set())
        };
        run_n_tasks::<P>(size.threads - 1, false, move |_| {
            e.wait();
            assert!(e.is_set());
            w.fetch_add(1, Relaxed);
        });
        setter.join().expect("setter");
        assert_eq!(woken.load(Relaxed), size.threads as u32 - 1);
    }
}

/// Timed waits: each returns `false` (or breaks the barrier) when nothing happens, and then only
/// once the clock has reached the deadline; and returns `true` when the awaited thing (a lock
/// released, an event set, a permit released by another task) happens before the deadline.
pub fn timeouts<P: Platform>(_size: Size) {
    let short = Duration::from_millis(5);
    let long = Duration::from_secs(3600);
    let expired = |start: mpcheck::platform::Instant| {
        assert!(
            P::now().saturating_duration_since(start) >= short,
            "returned before the deadline"
        )
    };

    // Nothing happens.
    let lock = Lock::<P>::new();
    lock.acquire().expect("no process dies here");
    let start = P::now();
    let l = lock.clone();
    let got = mpcheck::thread::spawn::<P, _, _>(move || l.acquire_timeout(short)).join();
    assert_eq!(got, Ok(false));
    expired(start);

    let event = Event::<P>::new();
    let start = P::now();
    assert!(!event.wait_timeout(short));
    expired(start);

    let sem = Semaphore::<P>::new(0);
    let start = P::now();
    assert!(!sem.acquire_timeout(short));
    expired(start);

    let cond = Condition::<P>::new();
    let held = cond.lock();
    let start = P::now();
    assert_eq!(cond.wait_timeout(short), Ok(false));
    assert_eq!(cond.wait_for_timeout(|| false, short), Ok(false));
    expired(start);
    drop(held);

    let barrier = Barrier::<P>::new(2);
    let start = P::now();
    assert_eq!(barrier.wait_timeout(short), Err(Error::BrokenBarrier));
    expired(start);
    assert!(barrier.broken());

    // Something happens: the waiter returns `true` unless its deadline had passed before the
    // awaited thing was done (which an engine with virtual time may choose to let happen).
    let l = lock.clone();
    let waiter = mpcheck::thread::spawn::<P, _, _>(move || (P::now(), l.acquire_timeout(long)));
    lock.release().expect("held");
    assert_woken::<P>(waiter.join(), long);

    let e = event.clone();
    let waiter = mpcheck::thread::spawn::<P, _, _>(move || (P::now(), e.wait_timeout(long)));
    event.set();
    assert_woken::<P>(waiter.join(), long);

    let s = sem.clone();
    let waiter = mpcheck::thread::spawn::<P, _, _>(move || (P::now(), s.acquire_timeout(long)));
    sem.release().expect("no overflow");
    assert_woken::<P>(waiter.join(), long);
}

/// `joined` is `(when the waiter started, what its timed wait returned)`; the awaited thing has
/// just been done. `false` is only right if the deadline had already passed.
fn assert_woken<P: Platform>(
    joined: Result<(mpcheck::platform::Instant, bool), Error>,
    timeout: Duration,
) {
    let done = P::now();
    let (start, got) = joined.expect("the waiter does not panic");
    assert!(
        got || done.saturating_duration_since(start) >= timeout,
        "a timed wait returned false although it was satisfied before its deadline"
    );
}

/// Closes a queue when dropped during a panic, so that the tasks waiting on it stop instead of
/// hanging the run.
struct CloseOnPanic<'a, T, P: Platform>(&'a Queue<T, P>);

impl<T, P: Platform> Drop for CloseOnPanic<'_, T, P> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.close();
        }
    }
}

/// A queue item: who put it, its number, and 24, 0 or 4 bytes of padding, so that it is
/// encoded in 27, 3 or 7 bytes: with its length byte, the first item of each producer takes all
/// four 8-byte slots of the ring of [`queue_mpmc_exactly_once`], the others one.
type Item = (u8, u32, Vec<u8>);

fn item(producer: usize, seq: usize) -> Item {
    (
        producer as u8,
        seq as u32,
        vec![0xA0 | producer as u8; [24, 0, 4][seq % 3]],
    )
}

/// `threads` producers each put `ops` items into a queue of `maxsize` 2 and 32 bytes (four
/// slots: puts wait for a place or for slots; the first item needs the whole ring), while
/// consumers (2, or 1 for an odd number of producers) take them all. Every item arrives exactly
/// once and intact; each consumer sees each producer's items in the order they were put; at
/// the end the queue is empty. (That a queue never holds more than `maxsize` is
/// [`bounded_queue_linearizable`]'s to check, where a put into a full queue is a history no
/// sequential queue gives. A `qsize` after every get here made each one an event that orders
/// against every put, and multiplied this search by about twenty.)
pub fn queue_mpmc_exactly_once<P: Platform>(size: Size) {
    const MAXSIZE: usize = 2;
    let queue = Queue::<Item, P>::with_capacity(Some(MAXSIZE), 32).expect("a valid queue");
    let (producers, ops) = (size.threads, size.ops);
    let consumers = if producers % 2 == 0 { 2 } else { 1 };
    let seen: Arc<Vec<P::AtomicU32>> =
        Arc::new((0..producers * ops).map(|_| P::AtomicU32::new(0)).collect());
    let (q, s) = (queue.clone(), Arc::clone(&seen));
    run_n_tasks::<P>(producers + consumers, size.start_together, move |i| {
        if i < producers {
            for seq in 0..ops {
                q.put(item(i, seq))
                    .expect("the queue is open and the item fits");
            }
            return;
        }
        let _close = CloseOnPanic(&q);
        let mut next = vec![0usize; producers];
        for _ in 0..producers * ops / consumers {
            let got = q.get().expect("the queue is open");
            let (producer, seq) = (got.0 as usize, got.1 as usize);
            assert!(producer < producers, "an item from nowhere: {got:?}");
            assert!(
                seq >= next[producer],
                "producer {producer}'s items out of order"
            );
            assert_eq!(got, item(producer, seq), "an item changed in the queue");
            assert_eq!(
                s[producer * ops + seq].swap(1, Relaxed),
                0,
                "item {seq} of producer {producer} delivered twice"
            );
            next[producer] = seq + 1;
        }
    });
    assert!(
        seen.iter().all(|s| s.load(Relaxed) == 1),
        "an item was lost"
    );
    assert!(queue.empty());
}

/// A `JoinableQueue`: `threads` workers take jobs, count each and mark each done, while the
/// main task puts `threads × ops` jobs and then joins the queue: `join` returns only after every
/// job was counted; one more `task_done` is refused.
pub fn joinable_join_waits_for_task_done<P: Platform>(size: Size) {
    let jobs = JoinableQueue::<u32, P>::with_capacity(None, 64).expect("a valid queue");
    let total = size.threads * size.ops;
    // One count per worker, which only that worker writes: counts of different workers are
    // independent for the search, so it does not order the workers' increments against each
    // other (one shared counter multiplied the executions by the orders of its increments).
    let done: Arc<Vec<P::AtomicU32>> =
        Arc::new((0..size.threads).map(|_| P::AtomicU32::new(0)).collect());
    let workers: Vec<_> = (0..size.threads)
        .map(|w| {
            let (jobs, done) = (jobs.clone(), Arc::clone(&done));
            mpcheck::thread::spawn::<P, _, _>(move || {
                for _ in 0..size.ops {
                    jobs.get().expect("the queue is open");
                    done[w].fetch_add(1, Relaxed);
                    jobs.task_done().expect("one task_done per job taken");
                }
            })
        })
        .collect();
    for job in 0..total as u32 {
        jobs.put(job).expect("the queue is open");
    }
    jobs.join();
    assert_eq!(
        done.iter().map(|d| d.load(Relaxed) as usize).sum::<usize>(),
        total,
        "join returned before every job was done"
    );
    for worker in workers {
        worker.join().expect("the workers do not panic");
    }
    assert_eq!(jobs.task_done(), Err(Error::TaskDoneTooManyTimes));
}

/// Queue timeouts and refusals: a timed get on an empty queue and a timed put on a full one
/// give up (`Empty`, `Full` with the item handed back) only once the clock reached the
/// deadline; a timed get that an item reaches before its deadline returns it; `try_put` /
/// `try_get` never wait.
pub fn queue_timeouts<P: Platform>(_size: Size) {
    let short = Duration::from_millis(5);
    let long = Duration::from_secs(3600);
    let queue = Queue::<u32, P>::with_capacity(Some(1), 32).expect("a valid queue");

    let start = P::now();
    assert_eq!(queue.get_timeout(short), Err(Error::Empty));
    assert!(P::now().saturating_duration_since(start) >= short);
    assert_eq!(queue.try_get(), Err(Error::Empty));

    queue.try_put(7).expect("room for one");
    let start = P::now();
    match queue.put_timeout(8, short) {
        Err(Error::Full { item }) => assert_eq!(item.decode::<u32>(), Ok(8)),
        other => panic!("a put on a full queue gave {other:?}"),
    }
    assert!(P::now().saturating_duration_since(start) >= short);
    assert!(matches!(queue.try_put(9), Err(Error::Full { .. })));
    assert_eq!(queue.try_get(), Ok(7));

    let q = queue.clone();
    let getter = mpcheck::thread::spawn::<P, _, _>(move || (P::now(), q.get_timeout(long)));
    queue.put(10).expect("room for one");
    let done = P::now();
    let (start, got) = getter.join().expect("the getter does not panic");
    match got {
        Ok(got) => assert_eq!(got, 10),
        Err(Error::Empty) => assert!(done.saturating_duration_since(start) >= long),
        Err(e) => panic!("a timed get gave {e}"),
    }

    queue.close();
    assert_eq!(queue.put(11), Err(Error::Closed { what: "queue" }));
}

/// `close` wakes a waiting putter and loses nothing. A putter waits on a full queue while
/// another task closes it: its item is either refused (`Closed`) or kept, and gets then return
/// exactly the items put, in order, before `Closed`.
pub fn queue_close_keeps_items<P: Platform>(_size: Size) {
    let full = Queue::<u32, P>::with_capacity(Some(1), 32).expect("a valid queue");
    full.put(1).expect("room for one");
    let q = full.clone();
    let putter = mpcheck::thread::spawn::<P, _, _>(move || q.put(2));
    full.close();
    let put = putter.join().expect("the putter does not panic");
    let mut got = Vec::new();
    let end = loop {
        match full.get() {
            Ok(item) => got.push(item),
            Err(e) => break e,
        }
    };
    assert_eq!(end, Error::Closed { what: "queue" });
    match put {
        Ok(()) => assert_eq!(got, [1, 2], "an item put before the close was lost"),
        Err(e) => {
            assert_eq!(e, Error::Closed { what: "queue" });
            assert_eq!(got, [1]);
        }
    }
}

/// `close` wakes a getter waiting on an empty queue, with `Closed`, and a close racing a put
/// loses nothing: while the getter waits, one task puts an item and another closes the queue;
/// the getter receives the item exactly when the put succeeded, then `Closed`.
pub fn queue_close_wakes_getter<P: Platform>(_size: Size) {
    let empty = Queue::<u32, P>::with_capacity(Some(1), 32).expect("a valid queue");
    let q = empty.clone();
    let getter = mpcheck::thread::spawn::<P, _, _>(move || {
        let mut got = Vec::new();
        loop {
            match q.get() {
                Ok(item) => got.push(item),
                Err(e) => break (got, e),
            }
        }
    });
    let q = empty.clone();
    let putter = mpcheck::thread::spawn::<P, _, _>(move || q.put(7));
    empty.close();
    let put = putter.join().expect("the putter does not panic");
    let (got, end) = getter.join().expect("the getter does not panic");
    assert_eq!(end, Error::Closed { what: "queue" });
    match put {
        Ok(()) => assert_eq!(got, [7], "an item put before the close was lost"),
        Err(e) => {
            assert_eq!(e, Error::Closed { what: "queue" });
            assert!(got.is_empty(), "a refused item was delivered");
        }
    }
}

/// A pipe message: who sent it, its number, and padding making it 3, 13 or 70 bytes encoded
/// (70 is more than an emulated pipe holds, so the third message is written in parts).
fn message(sender: usize, seq: usize) -> Item {
    (
        sender as u8,
        seq as u32,
        vec![0xB0 | sender as u8; [0, 9, 66][seq % 3]],
    )
}

/// A one-way pipe: `threads` senders share the sending end and each send `ops` messages (the
/// first larger than an emulated pipe's buffer); the receiver gets every message whole, each
/// sender's in order, and then, once every sending handle is gone, `Eof` (repeatedly). (From
/// 3 operations on, a message is larger than an emulated pipe's buffer.)
pub fn pipe_keeps_messages_whole_then_eof<P: Platform>(size: Size) {
    let (rx, tx) = mpcheck::pipe::<Item, P>(false).expect("a pipe");
    let senders = size.threads;
    let ops = size.ops;
    let handles: Vec<_> = (0..senders)
        .map(|i| {
            let tx = tx.clone();
            mpcheck::thread::spawn::<P, _, _>(move || {
                for seq in 0..ops {
                    tx.send(&message(i, seq)).expect("the receiver is open");
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = vec![0usize; senders];
    for _ in 0..senders * ops {
        let got = rx.recv().expect("a message");
        let (sender, seq) = (got.0 as usize, got.1 as usize);
        assert!(sender < senders, "a message from nowhere: {got:?}");
        assert_eq!(seq, next[sender], "sender {sender}'s messages out of order");
        assert_eq!(got, message(sender, seq), "a message changed in the pipe");
        next[sender] += 1;
    }
    for handle in handles {
        handle.join().expect("the senders do not panic");
    }
    assert_eq!(rx.recv(), Err(Error::Eof));
    assert_eq!(rx.poll(None), Ok(true), "end of file is readable");
    assert_eq!(rx.recv(), Err(Error::Eof));
}

/// A duplex pipe: a worker echoes `ops` messages back, then leaves (its end is dropped). The
/// echoes come back whole and in order; afterwards a send is `BrokenPipe` and a receive `Eof`.
pub fn pipe_duplex_echo_then_broken_pipe<P: Platform>(size: Size) {
    let (here, there) = mpcheck::pipe::<Item, P>(true).expect("a pipe");
    let ops = size.ops;
    let worker = mpcheck::thread::spawn::<P, _, _>(move || {
        for _ in 0..ops {
            let m = there.recv().expect("a message");
            there.send(&m).expect("the other end is open");
        }
    });
    for seq in 0..ops {
        here.send(&message(0, seq)).expect("the worker is there");
        assert_eq!(here.recv(), Ok(message(0, seq)), "a wrong echo");
    }
    worker.join().expect("the worker does not panic");
    assert_eq!(here.send(&message(0, 0)), Err(Error::BrokenPipe));
    assert_eq!(here.recv(), Err(Error::Eof));
}

/// `poll` with a timeout: on a pipe where nothing comes, `false` only once the clock reached
/// the deadline; with a sender, `true` unless the deadline passed first; `Some(ZERO)` never
/// waits.
pub fn pipe_poll_timeout<P: Platform>(_size: Size) {
    let short = Duration::from_millis(5);
    let long = Duration::from_secs(3600);
    let (rx, tx) = mpcheck::pipe::<u32, P>(false).expect("a pipe");
    let start = P::now();
    assert_eq!(rx.poll(Some(short)), Ok(false));
    assert!(P::now().saturating_duration_since(start) >= short);
    assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(false));
    let sender = mpcheck::thread::spawn::<P, _, _>(move || tx.send(&7));
    let start = P::now();
    let ready = rx.poll(Some(long)).expect("the receiving end");
    assert!(
        ready || P::now().saturating_duration_since(start) >= long,
        "poll gave up before its deadline although a message came"
    );
    assert_eq!(sender.join(), Ok(Ok(())));
    assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(true));
    assert_eq!(rx.recv(), Ok(7));
}

/// `threads × ops` increments of a `Value<u64>` through `update` (read, add, write back under
/// its lock) add up exactly: no update is lost to another.
pub fn value_update_atomic<P: Platform>(size: Size) {
    let value = Value::<u64, P>::new(0);
    let v = value.clone();
    run_tasks::<P>(size, move |_| {
        for _ in 0..size.ops {
            v.update(|n| *n += 1)
                .expect("a Value made with new has a lock");
        }
    });
    assert_eq!(value.get(), (size.threads * size.ops) as u64);
}

/// Tasks move units from one element of an `Array` to the other, each move one step under the
/// lock (`locked`): every snapshot (`to_vec`, also under the lock) sees the total unchanged,
/// and at the end every unit has moved.
pub fn array_transfer_keeps_sum<P: Platform>(size: Size) {
    let total = (size.threads * size.ops) as u32;
    let array = Array::<u32, P>::from_slice(&[total, 0]).expect("two elements fit in memory");
    let a = array.clone();
    run_tasks::<P>(size, move |_| {
        for _ in 0..size.ops {
            {
                let view = a
                    .locked()
                    .expect("an Array made with from_slice has a lock");
                let from = view.get(0).expect("in range");
                let to = view.get(1).expect("in range");
                view.set(0, from - 1).expect("in range");
                view.set(1, to + 1).expect("in range");
            }
            let seen = a.to_vec();
            assert_eq!(seen[0] + seen[1], total, "a snapshot saw a move half done");
        }
    });
    assert_eq!(array.to_vec(), [0, total]);
}

/// Operations per task in one round of a linearizability property.
pub const LINEARIZABLE_ROUND: usize = 3;

/// Rounds a linearizability property runs at most: at [`Size::STRESS`] on real threads, 30
/// rounds of 3 operations per task (a longer history of one object would only make the
/// checker's search longer, not the check stronger; more rounds draw more workloads, at a
/// fresh object's and tasks' cost each).
pub const LINEARIZABLE_ROUNDS: usize = 30;

/// The time the checker may take over one round's history before answering Unknown (which
/// fails the property: a check that did not finish proved nothing).
const LINEARIZABLE_BUDGET: Duration = Duration::from_secs(10);

/// The linearizability of the primitive `S` declares (see [`crate::primitives`]): `size.ops`
/// operations per task in rounds of [`LINEARIZABLE_ROUND`] (at most
/// [`LINEARIZABLE_ROUNDS`]), each round on a fresh object with `size.threads` tasks, its
/// workload drawn from the subject's operations with the round's number as seed (the same
/// workload in every execution, on every machine, and in a replay); each round's history is
/// checked against the primitive's model in `mpcheck-model`.
pub fn linearizable<P: Platform, S: Subject<P>>(size: Size) {
    let rounds = size
        .ops
        .div_ceil(LINEARIZABLE_ROUND)
        .min(LINEARIZABLE_ROUNDS);
    for round in 0..rounds {
        let ops = (size.ops - round * LINEARIZABLE_ROUND).min(LINEARIZABLE_ROUND);
        let workload = drawn::<P, S>(size.threads, ops, round as u64);
        lincheck::run::<P, S>(&workload, LINEARIZABLE_BUDGET);
    }
}

/// [`Workload::drawn`] for `S`, once per process: every later execution of an exploration
/// clones it. The first draw runs on a thread of its own, since proptest's generation needs
/// more stack than loom gives the thread it runs a model on (a generator of a few dozen KiB).
fn drawn<P: Platform, S: Subject<P>>(tasks: usize, ops: usize, seed: u64) -> Workload<S::Op> {
    use std::any::{Any, TypeId};
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Drawn = HashMap<(TypeId, usize, usize, u64), Box<dyn Any + Send>>;
    static DRAWN: OnceLock<Mutex<Drawn>> = OnceLock::new();
    let key = (TypeId::of::<S>(), tasks, ops, seed);
    let cache = DRAWN.get_or_init(Default::default);
    let cached = |cache: &Drawn| {
        cache
            .get(&key)
            .and_then(|w| w.downcast_ref::<Workload<S::Op>>())
            .cloned()
    };
    if let Some(workload) = cached(&cache.lock().unwrap_or_else(|e| e.into_inner())) {
        return workload;
    }
    let workload = std::thread::spawn(move || Workload::drawn(S::operations(), tasks, ops, seed))
        .join()
        .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, Box::new(workload.clone()));
    workload
}

/// Defines a property `name` that checks `linearizable` for a subject.
macro_rules! linearizable {
    ($($(#[$doc:meta])* $name:ident: $subject:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name<P: Platform>(size: Size) {
                linearizable::<P, $subject>(size);
            }
        )*
    };
}

linearizable! {
    /// [`Lock`]: acquire (blocking, try, timed), release (refused when not held).
    lock_linearizable: LockSubject<P>;
    /// [`RLock`]: as a Lock, re-entered by its owner, released by its owner only.
    rlock_linearizable: RLockSubject<P>;
    /// [`Semaphore`]: acquire (try, timed), release, `get_value`.
    semaphore_linearizable: SemaphoreSubject<Semaphore<P>>;
    /// [`BoundedSemaphore`]: as a Semaphore; a release beyond the initial value is refused.
    bounded_semaphore_linearizable: SemaphoreSubject<BoundedSemaphore<P>>;
    /// [`Event`]: set, clear, is_set, timed wait.
    event_linearizable: EventSubject<P>;
    /// [`Condition`]: notify and timed wait under its lock.
    condition_linearizable: ConditionSubject<P>;
    /// [`Barrier`]: timed waits, abort, reset, the waiting count.
    barrier_linearizable: BarrierSubject<P>;
    /// [`Queue`] unbounded: puts, gets, `qsize`, `empty`, `full`, close.
    queue_linearizable: QueueSubject<Queue<u8, P>>;
    /// [`Queue`] bounded to 1: as above, with puts refused (or waiting) when full.
    bounded_queue_linearizable: QueueSubject<Queue<u8, P>, 1>;
    /// [`SimpleQueue`](mpcheck::SimpleQueue): put, get, `empty`, close.
    simple_queue_linearizable: SimpleQueueSubject<P>;
    /// [`JoinableQueue`] bounded to 2: a Queue's operations and `task_done`.
    joinable_queue_linearizable: QueueSubject<JoinableQueue<u8, P>, 2>;
    /// [`Value`]: get, set, and read-modify-write under its lock.
    value_linearizable: ValueSubject<P>;
    /// [`Array`]: element reads and writes, and moves under its lock.
    array_linearizable: ArraySubject<P>;
}

/// A property function and where it belongs, for the `check` command and the tests.
#[derive(Clone, Copy, Debug)]
pub struct Property {
    /// The primitive it is about, e.g. `"Lock"`.
    pub primitive: &'static str,
    /// The property's name (its function's name).
    pub name: &'static str,
    /// The function, instantiated for one platform.
    pub run: fn(Size),
    /// The size at which exhaustive search covers the property completely in about a second:
    /// [`Size::SMALL`], or [`Size::TINY`] for the properties with many steps per operation
    /// (a Barrier round or a Condition item is a Lock, a Condition and their bookkeeping).
    pub exhaustive: Size,
    /// loom's preemption bound for this property at its exhaustive size (`None`: unbounded,
    /// loom covers it completely), chosen so that every property together takes about a
    /// minute of CPU in the test suite (well within its 5-minute budget on 2 cores).
    pub loom_bound: Option<usize>,
}

/// Invokes the macro `$m` once with the name of every registered property (the functions of
/// this module), so that each engine's test file runs them all from one list:
/// `mpcheck_properties::for_each_property!(sim_properties);`. [`assert_all_tested`] checks it against
/// [`all`].
#[macro_export]
macro_rules! for_each_property {
    ($m:ident) => {
        $m!(
            lock_mutual_exclusion,
            rlock_mutual_exclusion,
            semaphore_mutual_exclusion,
            semaphore_bound,
            bounded_semaphore_exact,
            barrier_rounds,
            condition_producer_consumer,
            event_wakes_all,
            queue_mpmc_exactly_once,
            joinable_join_waits_for_task_done,
            queue_timeouts,
            queue_close_keeps_items,
            queue_close_wakes_getter,
            pipe_keeps_messages_whole_then_eof,
            pipe_duplex_echo_then_broken_pipe,
            pipe_poll_timeout,
            value_update_atomic,
            array_transfer_keeps_sum,
            timeouts,
            lock_linearizable,
            rlock_linearizable,
            semaphore_linearizable,
            bounded_semaphore_linearizable,
            event_linearizable,
            condition_linearizable,
            barrier_linearizable,
            queue_linearizable,
            bounded_queue_linearizable,
            simple_queue_linearizable,
            joinable_queue_linearizable,
            value_linearizable,
            array_linearizable,
        );
    };
}

/// Every property, instantiated for `P`, in a stable order.
pub fn all<P: Platform>() -> Vec<Property> {
    macro_rules! list {
        ($($primitive:literal: $name:ident @ $size:expr, loom $bound:expr;)*) => {
            vec![$(Property {
                primitive: $primitive,
                name: stringify!($name),
                run: $name::<P>,
                exhaustive: $size,
                loom_bound: $bound,
            }),*]
        };
    }
    // Seconds under loom in the test suite's build (loom optimised), 2 cores, at preemption
    // bound 4 / 5 / 6 / unbounded: `MPCHECK_LOOM_BOUND=N cargo nextest run --test
    // properties_loom`. Unbounded (a complete search) wherever it takes under 15 s.
    list![
        // - / - / - / 2.2
        "Lock": lock_mutual_exclusion @ Size::SMALL, loom None;
        // 0.55 / 2.7 / 10.5 / -
        "RLock": rlock_mutual_exclusion @ Size::SMALL, loom Some(6);
        // 0.90 / 3.4 / 12.0 / -
        "Semaphore": semaphore_mutual_exclusion @ Size::SMALL, loom Some(6);
        // 0.84 / 3.4 / 12.6 / -
        "Semaphore": semaphore_bound @ Size::SMALL, loom Some(6);
        // - / - / - / 0.04
        "BoundedSemaphore": bounded_semaphore_exact @ Size::SMALL, loom None;
        // - / 0.47 / 1.1 / 14.8
        "Barrier": barrier_rounds @ Size::TINY, loom None;
        // - / 0.48 / 1.0 / 9.5
        "Condition": condition_producer_consumer @ Size::TINY, loom None;
        // - / - / - / 0.25
        "Event": event_wakes_all @ Size::SMALL, loom None;
        // The queues, on the lock-free slot ring with claims (a put claims the tail's slot
        // before it moves the tail, a get the head's frame: more accesses per operation than
        // before the claims, which multiplied the searches), test build, 1x2: bound 3: 4.9 s;
        // 4: 42 s (before the claims: 0.58 s at 3, 3.3 s at 4). Sim: 1x2 complete in 90,550
        // executions (4.0 s release; 108,542 before `fetch_add(0)` was a read for the
        // reduction, 147,738 with a `qsize` after each get, 24,950 before the claims)
        "Queue": queue_mpmc_exactly_once @ Size { threads: 1, ops: 2, start_together: false }, loom Some(3);
        // bound 6: 3.3 s; unbounded: 50 s (complete in 1.1 s before the claims)
        "JoinableQueue": joinable_join_waits_for_task_done @ Size { threads: 1, ops: 1, start_together: false }, loom Some(6);
        // complete: 0.04 s
        "Queue": queue_timeouts @ Size::SMALL, loom None;
        // complete: 0.002 s
        "Queue": queue_close_keeps_items @ Size::SMALL, loom None;
        // bound 3: 0.17 s; 4: 0.70 s; 5: 2.7 s; unbounded: > 100 s
        "Queue": queue_close_wakes_getter @ Size::SMALL, loom Some(5);
        // pipes (loom runs the lock-based emulated pipe): bound 2: 0.39 s; 3: 8.1 s
        "Pipe": pipe_keeps_messages_whole_then_eof @ Size::TINY, loom Some(2);
        // bound 4: 3.8 s; 5: 38 s; unbounded: > 60 s
        "Pipe": pipe_duplex_echo_then_broken_pipe @ Size { threads: 1, ops: 1, start_together: false }, loom Some(4);
        // bound 4: 0.44 s; 5: 2.4 s; unbounded: > 60 s
        "Pipe": pipe_poll_timeout @ Size::SMALL, loom Some(5);
        // 1.7 / - / 29 / > 200
        "Value": value_update_atomic @ Size::SMALL, loom Some(4);
        // 1.8 / - / 30 / > 200 (at 2x2; 2x1 since, for the simulator's complete search)
        "Array": array_transfer_keeps_sum @ Size::TINY, loom Some(4);
        // - / 0.68 / 1.6 / 6.8
        "all": timeouts @ Size::SMALL, loom None;
        // Linearizability, a drawn workload per round (LINEARIZABLE_ROUND). Seconds in the
        // release build, 2 cores, sim dfs / loom at the size and bound chosen (2026-12-05,
        // `mpcheck check --filter linearizable --engine sim --strategy dfs`, `--engine loom`).
        // 0.003 / 0.43
        "Lock": lock_linearizable @ Size::SMALL, loom None;
        // 0.002 / 0.11
        "RLock": rlock_linearizable @ Size::SMALL, loom None;
        // 0.004 / 0.17
        "Semaphore": semaphore_linearizable @ Size::SMALL, loom None;
        // 0.004 / 0.17
        "BoundedSemaphore": bounded_semaphore_linearizable @ Size::SMALL, loom None;
        // 0.02 / 0.04 (loom unbounded: 5.1)
        "Event": event_linearizable @ Size::SMALL, loom Some(3);
        // 0.005 / 1.1 (sim at 2x2: > 60)
        "Condition": condition_linearizable @ Size::TINY, loom None;
        // 1.8 / 0.11 (loom unbounded at 2x1: > 20)
        "Barrier": barrier_linearizable @ Size::SMALL, loom Some(3);
        // The queues, at 2x1: loom's executions of a queue take milliseconds each (bound 3:
        // 5 to 10 s; unbounded: > 20 s). Sim at 2x2: 0.9 s, 4.6 s, 0.5 s.
        "Queue": queue_linearizable @ Size::TINY, loom Some(2);
        "Queue": bounded_queue_linearizable @ Size::TINY, loom Some(2);
        // 0.02 / 0.22 (loom unbounded: 2.9)
        "SimpleQueue": simple_queue_linearizable @ Size::TINY, loom Some(3);
        "JoinableQueue": joinable_queue_linearizable @ Size::TINY, loom Some(2);
        // 2.0 / 0.45
        "Value": value_linearizable @ Size::SMALL, loom Some(3);
        // 0.12 / 0.19
        "Array": array_linearizable @ Size::SMALL, loom Some(3);
        // Not the pipes: on `Os` a close takes effect for the peer only once every call in
        // flight on the closed end has returned (src/platform/os_pipe.rs), which the pipe's
        // model has no step for; properties/tests/primitives.rs checks pipes under the
        // explorers.
    ]
}

/// Panics naming every registered property that `tested` (a test file's list of the
/// properties it runs on `engine`) leaves out: a property added to the registry without a test
/// on every engine fails the suite.
pub fn assert_all_tested(engine: &str, tested: &[&str]) {
    let missing: Vec<_> = all::<mpcheck::Os>()
        .into_iter()
        .map(|p| p.name)
        .filter(|name| !tested.contains(name))
        .collect();
    assert!(missing.is_empty(), "no {engine} test for {missing:?}");
}

/// The property called `name`, instantiated for `P`.
pub fn find<P: Platform>(name: &str) -> Option<Property> {
    all::<P>().into_iter().find(|p| p.name == name)
}
