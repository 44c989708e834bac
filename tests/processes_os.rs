//! Every primitive between real processes: each test starts forked children
//! (`Process::<Os>::new`, each with a pid of its own) that share the primitive with the test
//! process. They synchronize through the primitives themselves or through pipes, never through
//! sleeps; the only timeouts are waits on something provably blocked, which must time out. Every
//! child is joined and must exit with 0: a failed assertion in a child ends it with exit code 1
//! (its message is on stderr, see [`start`]), which fails the test through `join_all`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use mpcheck::{
    active_children, parent_process, pipe, Array, Barrier, BoundedSemaphore, Condition, Error,
    Event, JoinableQueue, Lock, Os, Process, Queue, RLock, Semaphore, SimpleQueue, Value,
};

/// Held by every test of this file for its whole life (from before its first primitive to
/// after its last join). A forked child inherits every descriptor of its parent, also the pipe
/// ends other tests' threads make at that moment: a test that waits for end of file must not
/// have its peer's copies kept open by another test's child. It also makes
/// `nothing_leaks` meaningful: whoever holds the lock sees no other test's children.
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forks() -> std::sync::MutexGuard<'static, ()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // In a child, a panic's message goes to the real stderr: the harness's capture of the
        // forking thread would keep it in the child's memory. Installed once, here, so that no
        // child has to take the hook's lock (another thread may hold it at the fork).
        let test_process = std::process::id();
        let harness = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::process::id() == test_process {
                harness(info);
            } else {
                let _ = writeln!(std::io::stderr(), "process {}: {info}", std::process::id());
            }
        }));
    });
    FORKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A wait that must time out (what it waits for provably cannot happen meanwhile).
const BLOCKED: Duration = Duration::from_millis(10);

/// Starts a child running `target` and checks it is a process of its own. A panic in the child
/// is printed on the real stderr (see [`forks`]) and ends the child with exit code 1.
fn start(target: impl FnOnce() + Send + 'static) -> Process {
    let child = Process::<Os>::new(target);
    child.start().expect("a process starts");
    let pid = child.pid().expect("a started process has a pid");
    assert_ne!(pid, std::process::id(), "a distinct process");
    child
}

/// Joins every child, then checks that each exited with 0.
fn join_all(children: &[Process]) {
    let codes: Vec<_> = children.iter().map(Process::join).collect();
    assert!(
        codes.iter().all(|code| *code == Ok(0)),
        "exit codes: {codes:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Lock

#[test]
fn lock_makes_increments_of_a_raw_value_exact_across_processes() {
    let _forks = forks();
    const PROCESSES: u64 = 4;
    const INCREMENTS: u64 = 2_000;
    let lock = Lock::<Os>::new();
    let count = Value::<u64, Os>::raw(0); // no lock of its own: only `lock` orders the updates
    let start_line = Barrier::<Os>::new(PROCESSES as usize);
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let (lock, count, start_line) = (lock.clone(), count.clone(), start_line.clone());
            start(move || {
                start_line.wait().unwrap();
                for _ in 0..INCREMENTS {
                    let _held = lock.lock();
                    count.set(count.get() + 1);
                }
            })
        })
        .collect();
    join_all(&children);
    assert_eq!(count.get(), PROCESSES * INCREMENTS);
    assert!(!lock.is_locked());
}

#[test]
fn lock_acquired_in_the_parent_is_released_by_a_child() {
    let _forks = forks();
    let lock = Lock::<Os>::new();
    lock.acquire().unwrap();
    let theirs = lock.clone();
    let child = start(move || {
        assert!(theirs.is_locked());
        assert!(!theirs.try_acquire());
        assert!(
            !theirs.acquire_timeout(BLOCKED),
            "the parent holds it until this child releases it"
        );
        theirs.release().expect("any process may release a Lock");
    });
    join_all(&[child]);
    assert!(!lock.is_locked());
    assert!(lock.try_acquire());
    lock.release().unwrap();
    assert!(matches!(
        lock.release(),
        Err(Error::ReleasedTooManyTimes { .. })
    ));

    // A child blocked in `acquire` on the parent's lock goes on when the parent releases it.
    lock.acquire().unwrap();
    let entered = Value::<u32, Os>::new(0);
    let child = start({
        let (lock, entered) = (lock.clone(), entered.clone());
        move || {
            let _held = lock.lock();
            entered.set(1);
        }
    });
    assert_eq!(
        child.join_timeout(BLOCKED),
        Ok(false),
        "blocked on the lock"
    );
    assert_eq!(entered.get(), 0);
    lock.release().unwrap();
    join_all(&[child]);
    assert_eq!(entered.get(), 1);
    assert!(!lock.is_locked(), "the child's guard released it");
}

// ---------------------------------------------------------------------------------------------
// RLock

#[test]
fn rlock_is_owned_by_a_process_a_child_cannot_release_the_parents() {
    let _forks = forks();
    let rlock = RLock::<Os>::new();
    rlock.acquire().unwrap();
    rlock.acquire().unwrap();
    let theirs = rlock.clone();
    let child = start(move || {
        assert!(theirs.is_locked());
        assert!(!theirs.is_owned(), "the owner is the parent, not its copy");
        assert!(matches!(theirs.release(), Err(Error::NotOwner { .. })));
        assert!(!theirs.try_acquire());
        assert!(!theirs.acquire_timeout(BLOCKED));
    });
    join_all(&[child]);
    assert!(rlock.is_owned(), "the child's release changed nothing");
    rlock.release().unwrap();
    assert!(rlock.is_owned(), "one level left");
    rlock.release().unwrap();
    assert!(!rlock.is_locked());
    assert!(matches!(rlock.release(), Err(Error::NotOwner { .. })));

    // The other way: a child holds it (twice), the parent is not the owner.
    let (held_rx, held_tx) = pipe::<(), Os>(false).unwrap();
    let (go_rx, go_tx) = pipe::<(), Os>(false).unwrap();
    let child = start({
        let rlock = rlock.clone();
        move || {
            let outer = rlock.lock();
            let inner = rlock.lock();
            assert!(rlock.is_owned());
            held_tx.send(&()).unwrap();
            go_rx.recv().unwrap();
            drop(inner);
            assert!(rlock.is_owned());
            drop(outer);
            assert!(!rlock.is_locked());
        }
    });
    held_rx.recv().unwrap();
    assert!(rlock.is_locked());
    assert!(!rlock.is_owned());
    assert!(matches!(rlock.release(), Err(Error::NotOwner { .. })));
    assert!(!rlock.try_acquire());
    go_tx.send(&()).unwrap();
    join_all(&[child]);
    assert!(
        rlock.try_acquire(),
        "free once the child released both levels"
    );
    rlock.release().unwrap();
}

#[test]
fn rlock_recursion_inside_children_and_mutual_exclusion_between_them() {
    let _forks = forks();
    const PROCESSES: u64 = 3;
    const ROUNDS: u64 = 1_000;
    let rlock = RLock::<Os>::new();
    let count = Value::<u64, Os>::raw(0);
    let start_line = Barrier::<Os>::new(PROCESSES as usize);
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let (rlock, count, start_line) = (rlock.clone(), count.clone(), start_line.clone());
            start(move || {
                start_line.wait().unwrap();
                for _ in 0..ROUNDS {
                    rlock.acquire().unwrap();
                    let before = count.get();
                    {
                        let _again = rlock.lock();
                        assert!(rlock.is_owned());
                        count.set(count.get() + 1);
                    }
                    assert!(rlock.is_owned(), "still held at the outer level");
                    count.set(count.get() + 1);
                    assert_eq!(count.get(), before + 2, "nobody else got in");
                    rlock.release().unwrap();
                }
            })
        })
        .collect();
    join_all(&children);
    assert_eq!(count.get(), 2 * PROCESSES * ROUNDS);
    assert!(!rlock.is_locked());
}

// ---------------------------------------------------------------------------------------------
// Semaphore, BoundedSemaphore

/// Four processes pass `acquire`/`release` many times; a shared count of who is inside never
/// goes past 2.
fn at_most_two_inside(
    acquire: impl Fn() + Clone + Send + 'static,
    release: impl Fn() + Clone + Send + 'static,
) {
    let inside = Value::<u32, Os>::new(0);
    let most = Value::<u32, Os>::new(0);
    let start_line = Barrier::<Os>::new(4);
    let children: Vec<_> = (0..4)
        .map(|_| {
            let (acquire, release) = (acquire.clone(), release.clone());
            let (inside, most, start_line) = (inside.clone(), most.clone(), start_line.clone());
            start(move || {
                start_line.wait().unwrap();
                for _ in 0..300 {
                    acquire();
                    let now = inside
                        .update(|n| {
                            *n += 1;
                            *n
                        })
                        .unwrap();
                    most.update(|m| *m = (*m).max(now)).unwrap();
                    assert!(now <= 2, "{now} inside a Semaphore(2)");
                    std::thread::yield_now(); // let the others try to come in meanwhile
                    inside.update(|n| *n -= 1).unwrap();
                    release();
                }
            })
        })
        .collect();
    join_all(&children);
    assert_eq!(inside.get(), 0);
    assert!((1..=2).contains(&most.get()), "{}", most.get());
}

#[test]
fn semaphore_lets_at_most_two_processes_in() {
    let _forks = forks();
    let sem = Semaphore::<Os>::new(2);
    let (a, r) = (sem.clone(), sem.clone());
    at_most_two_inside(move || a.acquire().unwrap(), move || r.release().unwrap());
    assert_eq!(sem.get_value(), 2);
}

#[test]
fn bounded_semaphore_lets_at_most_two_processes_in() {
    let _forks = forks();
    let sem = BoundedSemaphore::<Os>::new(2);
    let (a, r) = (sem.clone(), sem.clone());
    at_most_two_inside(move || a.acquire().unwrap(), move || r.release().unwrap());
    assert_eq!(sem.get_value(), 2);
}

#[test]
fn semaphore_value_is_the_same_in_every_process() {
    let _forks = forks();
    let sem = Semaphore::<Os>::new(2);
    sem.acquire().unwrap();
    sem.acquire().unwrap();
    assert_eq!(sem.get_value(), 0);
    let child = start({
        let sem = sem.clone();
        move || {
            assert_eq!(sem.get_value(), 0);
            assert!(!sem.try_acquire());
            assert!(!sem.acquire_timeout(BLOCKED), "the parent took both");
            sem.release().unwrap(); // a Semaphore has no owner
            assert_eq!(sem.get_value(), 1);
        }
    });
    join_all(&[child]);
    assert_eq!(sem.get_value(), 1);
    sem.release().unwrap();
    sem.release().unwrap();
    assert_eq!(
        sem.get_value(),
        3,
        "a plain Semaphore may go past its start"
    );
}

#[test]
fn bounded_semaphore_over_release_in_a_child_is_an_error() {
    let _forks = forks();
    let sem = BoundedSemaphore::<Os>::new(2);
    sem.acquire().unwrap();
    assert_eq!(sem.get_value(), 1);
    let child = start({
        let sem = sem.clone();
        move || {
            assert_eq!(sem.get_value(), 1);
            sem.release().unwrap(); // the parent's acquire, released here
            assert_eq!(sem.get_value(), 2);
            assert!(matches!(
                sem.release(),
                Err(Error::ReleasedTooManyTimes { .. })
            ));
            assert_eq!(sem.get_value(), 2, "the refused release changed nothing");
        }
    });
    join_all(&[child]);
    assert_eq!(sem.get_value(), 2);
    assert!(matches!(
        sem.release(),
        Err(Error::ReleasedTooManyTimes { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Event

#[test]
fn event_traffic_light_children_wait_for_the_parent() {
    let _forks = forks();
    let green = Event::<Os>::new();
    let all_passed = Event::<Os>::new();
    let passed = Value::<u32, Os>::new(0);
    let (ready_rx, ready_tx) = pipe::<u32, Os>(false).unwrap();
    let cars: Vec<_> = (0..3u32)
        .map(|car| {
            let (green, all_passed, passed) = (green.clone(), all_passed.clone(), passed.clone());
            let ready_tx = ready_tx.clone();
            start(move || {
                assert!(!green.is_set());
                assert!(!green.wait_timeout(BLOCKED), "red until every car is ready");
                ready_tx.send(&car).unwrap();
                green.wait();
                assert!(green.is_set());
                if passed.update(|n| {
                    *n += 1;
                    *n
                }) == Ok(3)
                {
                    all_passed.set();
                }
            })
        })
        .collect();
    let mut ready: Vec<u32> = (0..3).map(|_| ready_rx.recv().unwrap()).collect();
    ready.sort_unstable();
    assert_eq!(ready, [0, 1, 2]);
    for car in &cars {
        assert_eq!(
            car.join_timeout(BLOCKED),
            Ok(false),
            "waiting at the red light"
        );
    }
    assert_eq!(passed.get(), 0);
    green.set();
    all_passed.wait(); // set by the last car to pass, in its process
    assert_eq!(passed.get(), 3);
    join_all(&cars);

    // Red again: a new car waits until the light turns green.
    green.clear();
    let late = start({
        let green = green.clone();
        move || {
            assert!(!green.is_set());
            assert!(!green.wait_timeout(BLOCKED));
            ready_tx.send(&3).unwrap();
            green.wait();
        }
    });
    assert_eq!(ready_rx.recv(), Ok(3));
    green.set();
    join_all(&[late]);
}

// ---------------------------------------------------------------------------------------------
// Condition

#[test]
fn condition_bounded_buffer_two_producers_two_consumers() {
    let _forks = forks();
    const SLOTS: u64 = 4;
    const PER_PRODUCER: u64 = 500;
    const TOTAL: u64 = 2 * PER_PRODUCER;
    let cond = Condition::<Os>::new();
    let slots = Array::<u64, Os>::raw(SLOTS as usize).unwrap();
    let put = Value::<u64, Os>::raw(0); // items put so far
    let taken = Value::<u64, Os>::raw(0); // items taken so far
    let (results_rx, results_tx) = pipe::<Vec<u64>, Os>(false).unwrap();
    let producers: Vec<_> = (0..2u64)
        .map(|producer| {
            let (cond, slots, put, taken) =
                (cond.clone(), slots.clone(), put.clone(), taken.clone());
            start(move || {
                for i in 0..PER_PRODUCER {
                    let _held = cond.lock();
                    let room = cond.wait_for(|| put.get() - taken.get() < SLOTS);
                    assert_eq!(room, Ok(true));
                    let at = put.get();
                    slots
                        .set((at % SLOTS) as usize, producer * 1_000_000 + i)
                        .unwrap();
                    put.set(at + 1);
                    cond.notify_all().unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (cond, slots, put, taken) =
                (cond.clone(), slots.clone(), put.clone(), taken.clone());
            let results_tx = results_tx.clone();
            start(move || {
                let mut got = Vec::new();
                loop {
                    let _held = cond.lock();
                    let ready = cond.wait_for(|| put.get() > taken.get() || taken.get() == TOTAL);
                    assert_eq!(ready, Ok(true));
                    let at = taken.get();
                    if at == TOTAL {
                        cond.notify_all().unwrap(); // the other consumer may wait for this
                        break;
                    }
                    got.push(slots.get((at % SLOTS) as usize).unwrap());
                    taken.set(at + 1);
                    cond.notify_all().unwrap();
                }
                results_tx.send(&got).unwrap();
            })
        })
        .collect();
    let mut all = Vec::new();
    for _ in 0..2 {
        let got = results_rx.recv().unwrap();
        assert_fifo_per_producer(got.iter().map(|item| (item / 1_000_000, item % 1_000_000)));
        all.extend(got);
    }
    join_all(&producers);
    join_all(&consumers);
    all.sort_unstable();
    let expected: Vec<u64> = (0..2)
        .flat_map(|p| (0..PER_PRODUCER).map(move |i| p * 1_000_000 + i))
        .collect();
    assert_eq!(all, expected, "every item once");
}

/// Items `(producer, sequence number)` as one consumer got them: each producer's in order.
fn assert_fifo_per_producer<K: Ord + std::fmt::Debug, S: Ord + Copy + std::fmt::Debug>(
    items: impl IntoIterator<Item = (K, S)>,
) {
    let mut last: BTreeMap<K, S> = BTreeMap::new();
    for (producer, seq) in items {
        if let Some(before) = last.get(&producer) {
            assert!(
                *before < seq,
                "producer {producer:?}: {seq:?} after {before:?}"
            );
        }
        last.insert(producer, seq);
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_rounds_between_three_children_and_the_parent() {
    let _forks = forks();
    const PARTIES: usize = 4;
    const ROUNDS: usize = 20;
    let barrier = Barrier::<Os>::new(PARTIES);
    // seen[round * PARTIES + party]: 1 + the index `wait` gave that party in that round.
    let seen = Array::<u32, Os>::raw(ROUNDS * PARTIES).unwrap();
    let party = |me: usize, barrier: Barrier<Os>, seen: Array<u32, Os>| {
        for round in 0..ROUNDS {
            let index = barrier.wait().expect("an unbroken barrier");
            assert!(index < PARTIES);
            if round > 0 {
                // Everyone wrote the last round's index before arriving at this one.
                for other in 0..PARTIES {
                    assert_ne!(seen.get((round - 1) * PARTIES + other), Ok(0));
                }
            }
            seen.set(round * PARTIES + me, index as u32 + 1).unwrap();
        }
    };
    let children: Vec<_> = (1..PARTIES)
        .map(|me| {
            let (barrier, seen) = (barrier.clone(), seen.clone());
            start(move || party(me, barrier, seen))
        })
        .collect();
    party(0, barrier.clone(), seen.clone());
    join_all(&children);
    let seen = seen.to_vec();
    for (round, indices) in seen.chunks(PARTIES).enumerate() {
        let mut indices = indices.to_vec();
        indices.sort_unstable();
        assert_eq!(indices, [1, 2, 3, 4], "round {round}: a permutation");
    }
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn barrier_abort_in_one_process_breaks_the_waits_in_others() {
    let _forks = forks();
    let barrier = Barrier::<Os>::new(3);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            start(move || assert_eq!(barrier.wait(), Err(Error::BrokenBarrier)))
        })
        .collect();
    // Both are waiting (the third party never comes); no sleep, the barrier says so.
    while barrier.n_waiting() < 2 {
        std::thread::yield_now();
    }
    for waiter in &waiters {
        assert_eq!(waiter.join_timeout(BLOCKED), Ok(false));
    }
    let aborter = start({
        let barrier = barrier.clone();
        move || {
            barrier.abort();
            assert!(barrier.broken());
        }
    });
    join_all(&[aborter]);
    join_all(&waiters);
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(Error::BrokenBarrier));

    // Reset: whole again, for the parent and two new children.
    barrier.reset();
    assert!(!barrier.broken());
    let children: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            start(move || assert!(barrier.wait().is_ok()))
        })
        .collect();
    assert!(barrier.wait().is_ok());
    join_all(&children);
}

// ---------------------------------------------------------------------------------------------
// Queue, SimpleQueue, JoinableQueue

/// An item: (producer, sequence number).
type Item = (u8, u32);

/// The operations `many_to_many` uses, for each kind of queue.
trait Channel: Clone + Send + 'static {
    fn put_item(&self, item: Item) -> Result<(), Error>;
    /// Takes an item (and, for a joinable queue, marks it done).
    fn get_item(&self) -> Result<Item, Error>;
    fn close_all(&self);
    /// After every item was put: waits until the consumers got them all, if the queue can tell.
    fn wait_done(&self) {}
}

/// `Channel` for a queue type whose `put`, `get` and `close` are the channel's.
macro_rules! plain_channel {
    ($($queue:ty),*) => {
        $(
            impl Channel for $queue {
                fn put_item(&self, item: Item) -> Result<(), Error> {
                    self.put(item)
                }
                fn get_item(&self) -> Result<Item, Error> {
                    self.get()
                }
                fn close_all(&self) {
                    self.close()
                }
            }
        )*
    };
}

plain_channel!(Queue<Item, Os>, SimpleQueue<Item, Os>);

impl Channel for JoinableQueue<Item, Os> {
    fn put_item(&self, item: Item) -> Result<(), Error> {
        self.put(item)
    }
    fn get_item(&self) -> Result<Item, Error> {
        let item = self.get()?;
        self.task_done().unwrap();
        Ok(item)
    }
    fn close_all(&self) {
        self.close()
    }
    fn wait_done(&self) {
        self.join()
    }
}

const PER_PRODUCER: u32 = 10_000;

/// Two producer processes put `PER_PRODUCER` items each; two consumer processes get until the
/// queue, closed by the parent once the producers are done, says `Closed`. Nothing is lost or
/// duplicated, and each consumer sees each producer's items in order.
fn many_to_many<Q: Channel>(queue: Q) {
    let (results_rx, results_tx) = pipe::<Vec<Item>, Os>(false).unwrap();
    let producers: Vec<_> = (0..2u8)
        .map(|producer| {
            let queue = queue.clone();
            start(move || {
                for seq in 0..PER_PRODUCER {
                    queue.put_item((producer, seq)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (queue, results_tx) = (queue.clone(), results_tx.clone());
            start(move || {
                let mut got = Vec::new();
                let end = loop {
                    match queue.get_item() {
                        Ok(item) => got.push(item),
                        Err(e) => break e,
                    }
                };
                assert!(matches!(end, Error::Closed { .. }), "{end:?}");
                assert!(
                    matches!(queue.put_item((9, 0)), Err(Error::Closed { .. })),
                    "closed for every process"
                );
                results_tx.send(&got).unwrap();
            })
        })
        .collect();
    join_all(&producers);
    queue.wait_done();
    queue.close_all();
    let mut all = Vec::new();
    for _ in 0..2 {
        let got = results_rx.recv().unwrap();
        assert_fifo_per_producer(got.iter().copied());
        all.extend(got);
    }
    join_all(&consumers);
    all.sort_unstable();
    let expected: Vec<Item> = (0..2u8)
        .flat_map(|p| (0..PER_PRODUCER).map(move |seq| (p, seq)))
        .collect();
    assert_eq!(all.len(), expected.len());
    assert!(all == expected, "every item exactly once");
}

#[test]
fn queue_two_producers_two_consumers() {
    let _forks = forks();
    many_to_many(Queue::<Item, Os>::new());
}

#[test]
fn bounded_queue_two_producers_two_consumers() {
    let _forks = forks();
    many_to_many(Queue::<Item, Os>::bounded(16).unwrap());
}

#[test]
fn simple_queue_two_producers_two_consumers() {
    let _forks = forks();
    many_to_many(SimpleQueue::<Item, Os>::new());
}

#[test]
fn joinable_queue_two_producers_two_consumers() {
    let _forks = forks();
    many_to_many(JoinableQueue::<Item, Os>::new());
}

#[test]
fn bounded_queue_blocks_a_producer_process_while_full() {
    let _forks = forks();
    const ITEMS: u32 = 1_000;
    let queue = Queue::<u32, Os>::bounded(4).unwrap();
    let producer = start({
        let queue = queue.clone();
        move || {
            for i in 0..ITEMS {
                queue.put(i).unwrap();
            }
        }
    });
    while !queue.full() {
        std::thread::yield_now();
    }
    assert_eq!(queue.qsize(), 4);
    assert_eq!(
        producer.join_timeout(BLOCKED),
        Ok(false),
        "blocked in put: {ITEMS} items through 4 places"
    );
    match queue.try_put(u32::MAX) {
        Err(Error::Full { .. }) => {}
        other => panic!("a full queue took an item: {other:?}"),
    }
    for i in 0..ITEMS {
        assert_eq!(queue.get(), Ok(i));
        assert!(queue.qsize() <= 4);
    }
    join_all(&[producer]);
    assert!(queue.empty());
    assert_eq!(queue.try_get(), Err(Error::Empty));
}

#[test]
fn closing_a_queue_ends_the_waits_of_other_processes_with_closed() {
    let _forks = forks();
    // A getter blocked on an empty queue, a putter blocked on a full one: both in children,
    // both told `Closed` when the parent closes the queue; what was in it can still be taken.
    let empty = Queue::<u32, Os>::new();
    let full = Queue::<u32, Os>::bounded(1).unwrap();
    full.put(1).unwrap();
    let getter = start({
        let empty = empty.clone();
        move || assert!(matches!(empty.get(), Err(Error::Closed { .. })))
    });
    let putter = start({
        let full = full.clone();
        move || {
            assert!(matches!(full.put(2), Err(Error::Closed { .. })));
            assert!(full.is_closed());
        }
    });
    assert_eq!(getter.join_timeout(BLOCKED), Ok(false), "nothing to get");
    assert_eq!(putter.join_timeout(BLOCKED), Ok(false), "no room");
    empty.close();
    full.close();
    join_all(&[getter, putter]);
    assert_eq!(
        full.get(),
        Ok(1),
        "what was put before the close is still there"
    );
    assert!(matches!(full.get(), Err(Error::Closed { .. })));

    // A SimpleQueue closed by a child: the parent drains it, then sees `Closed`.
    let simple = SimpleQueue::<u32, Os>::new();
    let closer = start({
        let simple = simple.clone();
        move || {
            simple.put(5).unwrap();
            simple.close();
        }
    });
    join_all(&[closer]);
    assert_eq!(simple.get(), Ok(5));
    assert!(matches!(simple.get(), Err(Error::Closed { .. })));
    assert!(matches!(simple.put(6), Err(Error::Closed { .. })));
}

#[test]
fn joinable_queue_join_returns_once_children_marked_every_item_done() {
    let _forks = forks();
    const ITEMS: u32 = 200;
    let jobs = JoinableQueue::<u32, Os>::new();
    let done = Value::<u32, Os>::new(0);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (jobs, done) = (jobs.clone(), done.clone());
            start(move || {
                while let Ok(job) = jobs.get() {
                    assert!(job < ITEMS);
                    done.update(|n| *n += 1).unwrap(); // before task_done: join sees it
                    jobs.task_done().unwrap();
                }
                assert!(jobs.is_closed());
                assert_eq!(jobs.task_done(), Err(Error::TaskDoneTooManyTimes));
            })
        })
        .collect();
    for job in 0..ITEMS {
        jobs.put(job).unwrap();
    }
    jobs.join();
    assert_eq!(done.get(), ITEMS, "join returned after every task_done");
    assert!(jobs.empty());
    jobs.close();
    join_all(&workers);
    assert_eq!(jobs.task_done(), Err(Error::TaskDoneTooManyTimes));
}

// ---------------------------------------------------------------------------------------------
// Pipe

#[test]
fn duplex_pipe_conversation_between_parent_and_child() {
    let _forks = forks();
    let (mine, theirs) = pipe::<String, Os>(true).unwrap();
    let replies = Value::<u32, Os>::new(0);
    // The child's copy of the parent's end: the child closes it, or the child's own copy would
    // keep it open and the child would never see the end of the conversation.
    let inherited = mine.clone();
    let child = start({
        let replies = replies.clone();
        move || {
            inherited.close();
            loop {
                match theirs.recv() {
                    Ok(question) => {
                        theirs.send(&format!("{question}: answered")).unwrap();
                        replies.update(|n| *n += 1).unwrap();
                    }
                    Err(Error::Eof) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
    });
    // `theirs` and `inherited` went with the target: this process holds only `mine`.
    for i in 0..100 {
        mine.send(&format!("question {i}")).unwrap();
        assert_eq!(mine.recv(), Ok(format!("question {i}: answered")));
    }
    mine.close(); // the child sees end of file and returns
    join_all(&[child]);
    assert_eq!(replies.get(), 100);
    assert!(matches!(mine.recv(), Err(Error::Closed { .. })));
}

#[test]
fn one_way_pipe_from_a_child_then_end_of_file() {
    let _forks = forks();
    let (rx, tx) = pipe::<u32, Os>(false).unwrap();
    let kept = tx.clone();
    let child = start(move || {
        for i in 0..1_000 {
            tx.send(&i).unwrap();
        }
        assert_eq!(tx.recv(), Err(Error::WriteOnly));
    });
    for i in 0..1_000 {
        assert_eq!(rx.recv(), Ok(i));
    }
    join_all(&[child]);
    // The child has ended, but this process still holds a copy of the sending end: no end of
    // file yet (a peer sees it once every process's copy is closed).
    assert_eq!(rx.poll(Some(BLOCKED)), Ok(false));
    drop(kept);
    assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(true));
    assert_eq!(rx.recv(), Err(Error::Eof));
    assert_eq!(rx.send(&0), Err(Error::ReadOnly));
}

#[test]
fn a_child_that_exits_gives_end_of_file_after_its_last_message() {
    let _forks = forks();
    let (mine, theirs) = pipe::<String, Os>(true).unwrap();
    let child = start(move || {
        theirs.send(&"first".to_owned()).unwrap();
        theirs.send(&"last".to_owned()).unwrap();
    });
    join_all(&[child]);
    assert_eq!(mine.recv(), Ok("first".to_owned()));
    assert_eq!(mine.recv(), Ok("last".to_owned()));
    assert_eq!(mine.recv(), Err(Error::Eof));
    assert_eq!(mine.send(&"anyone?".to_owned()), Err(Error::BrokenPipe));
}

#[test]
fn a_killed_peer_gives_end_of_file_and_a_broken_pipe() {
    let _forks = forks();
    let (mine, theirs) = pipe::<String, Os>(true).unwrap();
    let child = start(move || {
        theirs.send(&"ready".to_owned()).unwrap();
        theirs.send(&"last".to_owned()).unwrap();
        let _ = theirs.recv(); // the parent never sends: killed here
        unreachable!("nothing was sent to the child");
    });
    assert_eq!(mine.recv(), Ok("ready".to_owned()));
    assert_eq!(child.join_timeout(BLOCKED), Ok(false), "blocked in recv");
    child.kill().unwrap();
    assert_eq!(child.join(), Ok(-libc::SIGKILL));
    assert_eq!(mine.recv(), Ok("last".to_owned()), "sent before the kill");
    assert_eq!(mine.recv(), Err(Error::Eof));
    assert_eq!(mine.send(&"anyone?".to_owned()), Err(Error::BrokenPipe));
}

// ---------------------------------------------------------------------------------------------
// Value, Array

#[test]
fn value_update_from_four_processes() {
    let _forks = forks();
    let counter = Value::<u64, Os>::new(0);
    let start_line = Barrier::<Os>::new(4);
    let children: Vec<_> = (0..4)
        .map(|_| {
            let (counter, start_line) = (counter.clone(), start_line.clone());
            start(move || {
                start_line.wait().unwrap();
                for _ in 0..1_000 {
                    counter.update(|n| *n += 1).unwrap();
                }
            })
        })
        .collect();
    join_all(&children);
    assert_eq!(counter.get(), 4_000);
}

#[test]
fn array_slices_written_by_different_processes() {
    let _forks = forks();
    const SLICE: usize = 256;
    let array = Array::<u64, Os>::new(4 * SLICE).unwrap();
    let children: Vec<_> = (0..4)
        .map(|k| {
            let array = array.clone();
            start(move || {
                for i in k * SLICE..(k + 1) * SLICE {
                    array.set(i, (k * 1_000_000 + i) as u64).unwrap();
                }
                assert!(matches!(
                    array.set(4 * SLICE, 0),
                    Err(Error::IndexOutOfRange { .. })
                ));
            })
        })
        .collect();
    join_all(&children);
    let expected: Vec<u64> = (0..4 * SLICE)
        .map(|i| ((i / SLICE) * 1_000_000 + i) as u64)
        .collect();
    assert_eq!(array.to_vec(), expected);
}

#[test]
fn array_get_lock_makes_a_transfer_between_elements_one_step() {
    let _forks = forks();
    const TRANSFERS: usize = 300;
    // Three accounts; process k moves 1 from account k to account k + 1 (mod 3), so the sum
    // stays 100 and, at the end, every account is back where it started.
    let accounts = Array::<i64, Os>::from_slice(&[100, 0, 0]).unwrap();
    let start_line = Barrier::<Os>::new(4);
    let movers: Vec<_> = (0..3)
        .map(|k| {
            let (accounts, start_line) = (accounts.clone(), start_line.clone());
            start(move || {
                start_line.wait().unwrap();
                let lock = accounts.get_lock().unwrap();
                for _ in 0..TRANSFERS {
                    let _held = lock.lock();
                    let (from, to) = (k, (k + 1) % 3);
                    let a = accounts.get(from).unwrap();
                    let b = accounts.get(to).unwrap();
                    accounts.set(from, a - 1).unwrap();
                    accounts.set(to, b + 1).unwrap();
                }
            })
        })
        .collect();
    let auditor = start({
        let accounts = accounts.clone();
        move || {
            start_line.wait().unwrap();
            for _ in 0..TRANSFERS {
                let view = accounts.locked().unwrap();
                assert_eq!(view.to_vec().iter().sum::<i64>(), 100);
                let lock = accounts.get_lock().unwrap();
                assert!(lock.is_owned(), "the view holds the array's lock");
            }
        }
    });
    join_all(&movers);
    join_all(&[auditor]);
    assert_eq!(accounts.to_vec(), [100, 0, 0]);
}

// ---------------------------------------------------------------------------------------------
// Handles made, used and dropped in children

#[test]
fn handles_made_or_dropped_in_a_child_leave_the_parents_intact() {
    let _forks = forks();
    let lock = Lock::<Os>::new();
    let queue = Queue::<u64, Os>::new();
    let value = Value::<u64, Os>::new(1);
    let array = Array::<u64, Os>::from_slice(&[1, 2, 3]).unwrap();
    let child = start({
        let (lock, queue, value, array) =
            (lock.clone(), queue.clone(), value.clone(), array.clone());
        move || {
            // The child's own primitives, used here only.
            let own_lock = Lock::<Os>::new();
            let own_queue = Queue::<String, Os>::new();
            let own_value = Value::<u64, Os>::new(0);
            let own_sem = Semaphore::<Os>::new(1);
            for i in 0..100 {
                own_queue.put(format!("item {i}")).unwrap();
            }
            for i in 0..100 {
                let _held = own_lock.lock();
                let _in = own_sem.guard();
                assert_eq!(own_queue.get(), Ok(format!("item {i}")));
                own_value.update(|n| *n += 1).unwrap();
            }
            assert_eq!(own_value.get(), 100);
            drop((own_lock, own_queue, own_value, own_sem));
            // The inherited ones, used, then dropped before the end.
            {
                let _held = lock.lock();
                value.update(|n| *n += 1).unwrap();
            }
            queue.put(7).unwrap();
            array.set(0, 9).unwrap();
            drop((lock, queue, value, array));
            // New ones after the drops (they may take the freed places of this process).
            let again = Queue::<u64, Os>::new();
            let again_value = Value::<u64, Os>::new(5);
            again.put(again_value.get()).unwrap();
            assert_eq!(again.get(), Ok(5));
        }
    });
    join_all(&[child]);
    // The parent's handles work as before.
    assert!(lock.try_acquire());
    lock.release().unwrap();
    assert_eq!(queue.get(), Ok(7));
    assert_eq!(value.get(), 2);
    assert_eq!(array.to_vec(), [9, 2, 3]);
    // New primitives do not land on the old ones.
    let fresh: Vec<Value<u64, Os>> = (0..50).map(|i| Value::<u64, Os>::new(1_000 + i)).collect();
    let fresh_queue = Queue::<u64, Os>::new();
    let fresh_lock = Lock::<Os>::new();
    assert_eq!(value.get(), 2);
    assert_eq!(array.to_vec(), [9, 2, 3]);
    assert!(queue.empty());
    assert!(!lock.is_locked());
    // And another child uses old and new together.
    let child = start({
        let (lock, queue, value, fresh_queue, fresh_lock) = (
            lock.clone(),
            queue.clone(),
            value.clone(),
            fresh_queue.clone(),
            fresh_lock.clone(),
        );
        let fresh = fresh.clone();
        move || {
            let _old = lock.lock();
            let _new = fresh_lock.lock();
            queue.put(8).unwrap();
            fresh_queue.put(fresh.iter().map(Value::get).sum()).unwrap();
            value.update(|n| *n += 1).unwrap();
        }
    });
    join_all(&[child]);
    assert_eq!(queue.get(), Ok(8));
    assert_eq!(fresh_queue.get(), Ok((1_000..1_050).sum()));
    assert_eq!(value.get(), 3);
    assert!(!lock.is_locked() && !fresh_lock.is_locked());
    for (i, v) in fresh.iter().enumerate() {
        assert_eq!(v.get(), 1_000 + i as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// Nested processes

#[test]
fn a_grandchild_uses_its_grandparents_queue() {
    let _forks = forks();
    // (sender's pid, sender's parent's pid, sequence number)
    let queue = Queue::<(u32, u32, u32), Os>::new();
    let child = start({
        let queue = queue.clone();
        move || {
            let grandchild = start({
                let queue = queue.clone();
                move || {
                    let parent = parent_process().expect("started by a Process").pid();
                    for i in 0..1_000 {
                        queue.put((std::process::id(), parent, i)).unwrap();
                    }
                }
            });
            join_all(&[grandchild]);
            queue.put((std::process::id(), 0, u32::MAX)).unwrap();
        }
    });
    let child_pid = child.pid().unwrap();
    let mut grandchild_pid = None;
    for i in 0..1_000 {
        let (pid, parent, seq) = queue.get().unwrap();
        assert_eq!(
            (parent, seq),
            (child_pid, i),
            "from the child's child, in order"
        );
        assert!(pid != child_pid && pid != std::process::id());
        assert_eq!(*grandchild_pid.get_or_insert(pid), pid);
    }
    assert_eq!(queue.get(), Ok((child_pid, 0, u32::MAX)));
    join_all(&[child]);
    assert!(queue.empty());
}

// ---------------------------------------------------------------------------------------------
// A process killed while it waits

#[test]
fn a_process_killed_while_it_waits_leaves_the_primitives_usable() {
    let _forks = forks();
    let lock = Lock::<Os>::new();
    let sem = Semaphore::<Os>::new(0);
    let event = Event::<Os>::new();
    let cond = Condition::<Os>::new();
    let queue = Queue::<u32, Os>::new();
    let full = Queue::<u32, Os>::bounded(1).unwrap();
    full.put(0).unwrap();
    lock.acquire().unwrap();
    // Each child says it is about to wait, then waits on something that never comes.
    let (ready_rx, ready_tx) = pipe::<u8, Os>(false).unwrap();
    let waits: Vec<Box<dyn FnOnce() + Send>> = vec![
        Box::new({
            let lock = lock.clone();
            move || lock.acquire().unwrap()
        }),
        Box::new({
            let sem = sem.clone();
            move || sem.acquire().unwrap()
        }),
        Box::new({
            let event = event.clone();
            move || event.wait()
        }),
        Box::new({
            let cond = cond.clone();
            move || {
                let _held = cond.lock();
                let _ = cond.wait_for(|| false);
            }
        }),
        Box::new({
            let queue = queue.clone();
            move || {
                let _ = queue.get();
            }
        }),
        Box::new({
            let full = full.clone();
            move || {
                let _ = full.put(1);
            }
        }),
    ];
    let waiters: Vec<_> = waits
        .into_iter()
        .enumerate()
        .map(|(i, wait)| {
            let ready_tx = ready_tx.clone();
            start(move || {
                ready_tx.send(&(i as u8)).unwrap();
                wait();
                unreachable!("waiter {i} was never released");
            })
        })
        .collect();
    for _ in &waiters {
        ready_rx.recv().unwrap();
    }
    for waiter in &waiters {
        assert_eq!(waiter.join_timeout(BLOCKED), Ok(false));
        waiter.kill().unwrap();
    }
    let codes: Vec<_> = waiters.iter().map(Process::join).collect();
    assert!(codes.iter().all(|c| *c == Ok(-libc::SIGKILL)), "{codes:?}");

    // Each primitive works on, in this process and in a new child.
    lock.release().unwrap();
    event.set();
    let child = start({
        let (lock, sem, event, cond, queue, full) = (
            lock.clone(),
            sem.clone(),
            event.clone(),
            cond.clone(),
            queue.clone(),
            full.clone(),
        );
        move || {
            let _held = lock.lock();
            sem.acquire().unwrap(); // released by the parent below
            event.wait();
            {
                let _held = cond.lock();
                cond.notify_all().unwrap();
            }
            assert_eq!(queue.get(), Ok(3)); // put by the parent below
            assert_eq!(full.get(), Ok(0));
            full.put(4).unwrap();
        }
    });
    sem.release().unwrap();
    queue.put(3).unwrap();
    join_all(&[child]);
    assert!(!lock.is_locked());
    assert_eq!(sem.get_value(), 0);
    assert_eq!(full.get(), Ok(4));
    assert!(queue.empty());
}

// ---------------------------------------------------------------------------------------------
// Nothing leaks

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn nothing_leaks_no_shm_file_no_child_left_no_descriptor() {
    let _forks = forks();
    // Every test joins all its children while holding `FORKS`: none is left running now.
    assert!(active_children().is_empty(), "{:?}", active_children());
    let descriptors = open_descriptors();
    {
        let queue = Queue::<u32, Os>::new();
        let lock = Lock::<Os>::new();
        let (rx, tx) = pipe::<u32, Os>(false).unwrap();
        let (release_rx, release_tx) = pipe::<(), Os>(false).unwrap();
        let children: Vec<_> = (0..3)
            .map(|i| {
                let (queue, lock, tx, release_rx) =
                    (queue.clone(), lock.clone(), tx.clone(), release_rx.clone());
                start(move || {
                    let held = lock.lock();
                    queue.put(i).unwrap();
                    tx.send(&i).unwrap();
                    drop(held);
                    let _ = release_rx.recv();
                })
            })
            .collect();
        drop(tx);
        let mut got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        let mut running: Vec<u32> = active_children().iter().map(|c| c.pid()).collect();
        running.sort_unstable();
        let mut started: Vec<u32> = children.iter().map(|c| c.pid().unwrap()).collect();
        started.sort_unstable();
        assert_eq!(running, started, "each blocked until released");
        for _ in 0..3 {
            release_tx.send(&()).unwrap();
        }
        join_all(&children);
        assert_eq!(rx.recv(), Err(Error::Eof));
        assert_eq!(queue.qsize(), 3);
    }
    assert!(active_children().is_empty(), "every child joined");
    assert_eq!(
        open_descriptors(),
        descriptors,
        "pipes and pidfds closed once their handles and processes are gone"
    );
    let shm: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.to_lowercase().contains("mpcheck"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(shm, Vec::<String>::new(), "nothing of mpcheck in /dev/shm");
}
