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

use crate::platform::{Atomic, AtomicInt, Platform, Shareable, SharedCell};
use crate::{
    Array, Barrier, BoundedSemaphore, Condition, Error, Event, Lock, RLock, Semaphore, Value,
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
            crate::thread::spawn::<P, _, _>(move || {
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
    /// The most tasks ever seen inside at once.
    high_water: P::AtomicU32,
}

// SAFETY: platform cells and atomics only.
unsafe impl<P: Platform> Shareable for Counter<P> {}

impl<P: Platform> Counter<P> {
    fn new() -> Arc<Self> {
        Arc::new(Counter {
            value: P::Cell::new(0),
            inside: P::AtomicU32::new(0),
            high_water: P::AtomicU32::new(0),
        })
    }

    /// One critical section: enter, a non-atomic read-modify-write of the counter, leave.
    fn critical_section(&self, allowed: u32) {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        assert!(
            now <= allowed,
            "{now} tasks inside a section that admits {allowed}"
        );
        let mut high = self.high_water.load(Relaxed);
        while now > high {
            match self
                .high_water
                .compare_exchange_weak(high, now, Relaxed, Relaxed)
            {
                Ok(_) => break,
                Err(seen) => high = seen,
            }
        }
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
            s.acquire();
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
    assert!(counter.high_water.load(Relaxed) <= k);
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
    let producer = crate::thread::spawn::<P, _, _>(move || {
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
            crate::thread::spawn::<P, _, _>(move || event.set())
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
    let expired = |start: crate::platform::Instant| {
        assert!(
            P::now().saturating_duration_since(start) >= short,
            "returned before the deadline"
        )
    };

    // Nothing happens.
    let lock = Lock::<P>::new();
    lock.acquire();
    let start = P::now();
    let l = lock.clone();
    let got = crate::thread::spawn::<P, _, _>(move || l.acquire_timeout(short)).join();
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
    let waiter = crate::thread::spawn::<P, _, _>(move || (P::now(), l.acquire_timeout(long)));
    lock.release().expect("held");
    assert_woken::<P>(waiter.join(), long);

    let e = event.clone();
    let waiter = crate::thread::spawn::<P, _, _>(move || (P::now(), e.wait_timeout(long)));
    event.set();
    assert_woken::<P>(waiter.join(), long);

    let s = sem.clone();
    let waiter = crate::thread::spawn::<P, _, _>(move || (P::now(), s.acquire_timeout(long)));
    sem.release().expect("no overflow");
    assert_woken::<P>(waiter.join(), long);
}

/// `joined` is `(when the waiter started, what its timed wait returned)`; the awaited thing has
/// just been done. `false` is only right if the deadline had already passed.
fn assert_woken<P: Platform>(
    joined: Result<(crate::platform::Instant, bool), Error>,
    timeout: Duration,
) {
    let done = P::now();
    let (start, got) = joined.expect("the waiter does not panic");
    assert!(
        got || done.saturating_duration_since(start) >= timeout,
        "a timed wait returned false although it was satisfied before its deadline"
    );
}

/// Closes a ring when dropped during a panic.
struct CloseOnPanic<P: Platform>(crate::queue::ring::Ring<P>);

impl<P: Platform> Drop for CloseOnPanic<P> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.close();
        }
    }
}

/// The byte ring under the queues: `threads` producers each put `ops` frames of 2, 6 or 10
/// bytes into a ring of 4 words (so puts wait for room and frames wrap around), while one
/// consumer takes them all: every frame arrives exactly once, intact, in each producer's order.
pub fn ring_fifo_exactly_once<P: Platform>(size: Size) {
    use crate::queue::ring::{Ring, Wait};
    let ring = Ring::<P>::new(32, 3).expect("a valid ring");
    let producers = size.threads;
    let ops = size.ops;
    // Producer (1 byte), sequence number (4 bytes), then 1, 5 or 9 bytes of padding.
    let frame = |producer: usize, seq: usize| -> Vec<u8> {
        let mut f = vec![producer as u8];
        f.extend_from_slice(&(seq as u32).to_le_bytes());
        f.resize(6 + (seq % 3) * 4, 0xA0 | producer as u8);
        f
    };
    run_n_tasks::<P>(producers + 1, size.start_together, move |i| {
        if i < producers {
            for seq in 0..ops {
                ring.put(&frame(i, seq), Wait::Forever)
                    .expect("the ring is open and the frame fits");
            }
            return;
        }
        // If a check fails, close the ring so that the producers stop instead of waiting.
        let _close = CloseOnPanic(ring.clone());
        let mut next = vec![0usize; producers];
        for _ in 0..producers * ops {
            let got = ring.get(Wait::Forever).expect("the ring is open");
            let producer = got[0] as usize;
            let seq = u32::from_le_bytes([got[1], got[2], got[3], got[4]]) as usize;
            assert!(producer < producers, "a frame from nowhere: {got:?}");
            assert_eq!(
                seq, next[producer],
                "producer {producer}'s frames out of order"
            );
            assert_eq!(got, frame(producer, seq), "a frame changed in the ring");
            next[producer] += 1;
        }
        assert_eq!(ring.len(), 0);
    });
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
    let array = Array::<u32, P>::from_slice(&[total, 0]);
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
/// `mpcheck::for_each_property!(sim_properties);`. [`assert_all_tested`] checks it against
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
            ring_fifo_exactly_once,
            value_update_atomic,
            array_transfer_keeps_sum,
            timeouts,
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
        // measured below
        "Queue": ring_fifo_exactly_once @ Size { threads: 1, ops: 1, start_together: false }, loom Some(3);
        // 1.7 / - / 29 / > 200
        "Value": value_update_atomic @ Size::SMALL, loom Some(4);
        // 1.8 / - / 30 / > 200 (at 2x2; 2x1 since, for the simulator's complete search)
        "Array": array_transfer_keeps_sum @ Size::TINY, loom Some(4);
        // - / 0.68 / 1.6 / 6.8
        "all": timeouts @ Size::SMALL, loom None;
    ]
}

/// Panics naming every registered property that `tested` (a test file's list of the
/// properties it runs on `engine`) leaves out: a property added to the registry without a test
/// on every engine fails the suite.
pub fn assert_all_tested(engine: &str, tested: &[&str]) {
    let missing: Vec<_> = all::<crate::Os>()
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
