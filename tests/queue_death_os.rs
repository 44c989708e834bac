//! A dead peer never hangs anyone (issue 13), on the real OS: a producer or consumer process is
//! SIGKILLed at an exact point inside `put` or `get` (it stops itself there through the queue's
//! test hook, says so on a pipe, and the test kills it), while live producers and consumers
//! go on. Nobody hangs, no live producer's item is lost or delivered twice, and the one item
//! lost is reported once (`Error::ItemLost`). Synchronized by pipes and by the queues; the only
//! waiting on time is the queue's own poll of a stuck peer's liveness.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use mpcheck::queue::{set_stop_hook, StopPoint};
use mpcheck::{pipe, Connection, Error, JoinableQueue, Os, Process, Queue, SimpleQueue};
use mpcheck_properties::suite::queue_kill::{self, Item, Plan, Victim};

/// Held by every test that starts processes (see tests/processes_os.rs).
static FORKS: Mutex<()> = Mutex::new(());

fn forks() -> std::sync::MutexGuard<'static, ()> {
    FORKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the process that set it stops: its `nth` pass by `point`.
struct Stop {
    point: StopPoint,
    nth: u32,
    passes: AtomicU32,
    stopped: Mutex<Connection<()>>,
}

static STOP: OnceLock<Stop> = OnceLock::new();

/// The hook: at the chosen pass, say so and block until killed.
fn stop_here(point: StopPoint) {
    let Some(stop) = STOP.get() else { return };
    if point == stop.point && stop.passes.fetch_add(1, Relaxed) + 1 == stop.nth {
        stop.stopped.lock().unwrap().send(&()).unwrap();
        loop {
            std::thread::park();
        }
    }
}

/// A stop (for the victim process to set up) and the end that hears it stopped.
fn stop_at(point: StopPoint, nth: u32) -> (Connection<()>, impl FnOnce() + Send + 'static) {
    let (stopped_rx, stopped_tx) = pipe::<(), Os>(false).unwrap();
    let setup = move || {
        let stop = Stop {
            point,
            nth,
            passes: AtomicU32::new(0),
            stopped: Mutex::new(stopped_tx),
        };
        assert!(STOP.set(stop).is_ok() && set_stop_hook(stop_here));
    };
    (stopped_rx, setup)
}

/// Waits until `process` stopped, then kills it; `false` if it never stopped at its point (a
/// bug, or a test that reuses a closed queue), in which case it is killed all the same: the
/// caller fails once every other process ended, rather than hanging (another child forked
/// meanwhile holds the pipe's sending end too, so its end of file never comes) or leaving
/// children waiting for good.
#[must_use]
fn kill_when_stopped(stopped: &Connection<()>, process: &Process) -> bool {
    let in_time = stopped
        .poll(Some(std::time::Duration::from_secs(120)))
        .unwrap()
        && stopped.recv().is_ok();
    process.kill().unwrap();
    in_time
}

/// A process that runs `work` after stopping at the hook's `nth` pass by `point`, started.
fn start_victim(
    point: StopPoint,
    nth: u32,
    work: impl FnOnce() + Send + 'static,
) -> (Process, Connection<()>) {
    let (stopped, setup) = stop_at(point, nth);
    let process = Process::<Os>::new(move || {
        setup();
        work();
    });
    process.start().unwrap();
    (process, stopped)
}

fn run(queue: &Queue<Item, Os>, plan: Plan, point: StopPoint, nth: u32) {
    let (stopped, setup) = stop_at(point, nth);
    let mut in_time = false;
    let outcome = queue_kill::queue_survives_a_killed_process(queue, plan, setup, |victim| {
        in_time = kill_when_stopped(&stopped, victim);
    });
    assert!(
        in_time,
        "{plan:?}: the victim never stopped at {point:?} #{nth}"
    );
    assert_eq!(outcome, Ok(()), "{plan:?}, killed at {point:?} #{nth}");
}

/// The queues the property runs on: a bounded one whose frame bound is what fills it (the
/// dead producer holds one of its 3 tickets), and an unbounded one of 8 slots, which wraps
/// around every few items (a dead getter's slots are soon needed again).
fn queues() -> [Queue<Item, Os>; 2] {
    [
        Queue::with_capacity(Some(3), 4096).unwrap(),
        Queue::with_capacity(None, 64).unwrap(),
    ]
}

#[test]
fn a_producer_killed_inside_put_loses_only_its_item() {
    let _forks = forks();
    for point in [
        StopPoint::Reserving,
        StopPoint::Reserved,
        StopPoint::Written,
    ] {
        for queue in queues() {
            let plan = Plan {
                producers: 2,
                consumers: 2,
                items: 20,
                victim: Victim::Producer(0),
            };
            run(&queue, plan, point, 5);
        }
    }
}

#[test]
fn a_consumer_killed_inside_get_hangs_nobody() {
    let _forks = forks();
    for point in [StopPoint::Claiming, StopPoint::Claimed] {
        for queue in queues() {
            let plan = Plan {
                producers: 2,
                consumers: 2,
                items: 20,
                victim: Victim::Consumer(1),
            };
            run(&queue, plan, point, 3);
        }
    }
}

/// A producer killed after it claimed the tail's slot and took its ticket, before it moved the
/// tail (a bound of one item, so a ticket it kept would block every put for good): the next
/// put frees its claim and undoes its ticket, and nothing is reported lost.
#[test]
fn a_producer_killed_while_reserving_blocks_no_put_and_loses_nothing() {
    let _forks = forks();
    for queue in [
        Queue::<u32, Os>::bounded(1).unwrap(),
        Queue::with_capacity(None, 64).unwrap(),
    ] {
        let q = queue.clone();
        let (producer, stopped) = start_victim(StopPoint::Reserving, 1, move || {
            q.put(99).unwrap();
        });
        stopped.recv().unwrap();
        let q = queue.clone();
        let putter = std::thread::spawn(move || q.put(1));
        producer.kill().unwrap();
        assert_eq!(producer.join(), Ok(-9));
        assert_eq!(putter.join().unwrap(), Ok(()));
        assert_eq!(queue.get(), Ok(1), "the dead producer's item was never put");
        assert!(queue.empty());
        queue.try_put(2).unwrap();
        assert_eq!(queue.get(), Ok(2));
    }
}

/// A consumer killed after it claimed the item at the head and gave its ticket back, before
/// it moved the head: the next getter takes the claim over and gets the item (nothing is
/// lost, nothing counted twice), and the bound is whole.
#[test]
fn a_consumer_killed_while_claiming_leaves_its_item_to_the_next() {
    let _forks = forks();
    let queue = JoinableQueue::<u32, Os>::with_capacity(Some(2), 4096).unwrap();
    queue.put(7).unwrap();
    queue.put(8).unwrap();
    let q = queue.clone();
    let (consumer, stopped) = start_victim(StopPoint::Claiming, 1, move || {
        let _ = q.get();
        unreachable!("killed inside get");
    });
    stopped.recv().unwrap();
    let q = queue.clone();
    let getter = std::thread::spawn(move || [q.get(), q.get()]);
    consumer.kill().unwrap();
    assert_eq!(consumer.join(), Ok(-9));
    assert_eq!(getter.join().unwrap(), [Ok(7), Ok(8)]);
    assert!(queue.empty());
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    assert!(queue.full(), "the bound is 2 again");
    assert_eq!((queue.get(), queue.get()), (Ok(1), Ok(2)));
    for _ in 0..4 {
        queue.task_done().unwrap();
    }
    queue.join();
    assert_eq!(queue.task_done(), Err(Error::TaskDoneTooManyTimes));
}

/// One by one, in this process: the item before the dead producer's, then its loss, once, then
/// the items after it, from a live producer; and the frame bound is whole again.
#[test]
fn the_getter_at_a_dead_producers_item_gets_item_lost_once() {
    let _forks = forks();
    let queue = Queue::<u32, Os>::bounded(3).unwrap();
    queue.put(1).unwrap();
    let q = queue.clone();
    let (producer, stopped) = start_victim(StopPoint::Reserved, 1, move || {
        q.put(99).unwrap();
    });
    stopped.recv().unwrap();
    queue.put(2).unwrap();
    assert_eq!(
        queue.qsize(),
        3,
        "the dead producer's item counts until it is found lost"
    );
    // A getter waits at the stuck item; the kill releases it.
    let q = queue.clone();
    let getter = std::thread::spawn(move || [q.get(), q.get()]);
    producer.kill().unwrap();
    assert_eq!(producer.join(), Ok(-9));
    assert_eq!(getter.join().unwrap(), [Ok(1), Err(Error::ItemLost)]);
    assert_eq!(queue.get(), Ok(2));
    assert!(queue.empty());
    for i in 0..3 {
        queue.try_put(i).unwrap();
    }
    assert!(queue.full(), "the bound is 3 again");
    assert!(Error::ItemLost.to_string().contains("died inside put"));
}

/// A queue of one slot holding one item, and a consumer process (started) that will stop
/// inside `get` holding that slot, with the end that hears it stopped: the next item needs the
/// slot it holds.
fn a_consumer_stopped_holding_the_only_slot() -> (JoinableQueue<u32, Os>, Process, Connection<()>) {
    let queue = JoinableQueue::<u32, Os>::with_capacity(Some(4), 8).unwrap();
    queue.put(0).unwrap();
    let q = queue.clone();
    let (consumer, stopped) = start_victim(StopPoint::Claimed, 1, move || {
        let _ = q.get();
        unreachable!("killed inside get");
    });
    (queue, consumer, stopped)
}

/// A consumer killed between claiming an item and freeing its slot, in a full ring: the
/// producer that needs the slot frees it; the dead consumer's item is gone, no one else gets
/// it; a `JoinableQueue` counts it done (nobody can), so `join` returns.
#[test]
fn a_dead_consumers_slot_is_freed_by_the_producer_that_needs_it() {
    let _forks = forks();
    let (queue, consumer, stopped) = a_consumer_stopped_holding_the_only_slot();
    stopped.recv().unwrap();
    let q = queue.clone();
    let producer = std::thread::spawn(move || q.put(1));
    consumer.kill().unwrap();
    assert_eq!(consumer.join(), Ok(-9));
    assert_eq!(producer.join().unwrap(), Ok(()));
    assert_eq!(queue.get(), Ok(1));
    queue.task_done().unwrap();
    queue.join();
    assert_eq!(
        queue.task_done(),
        Err(Error::TaskDoneTooManyTimes),
        "the dead consumer's item was counted done"
    );
}

/// A producer killed while it waits for room in a full queue holds nothing: the bound stays
/// whole.
#[test]
fn a_producer_killed_while_blocked_in_put_takes_no_room_with_it() {
    let _forks = forks();
    let queue = Queue::<u32, Os>::bounded(1).unwrap();
    queue.put(0).unwrap();
    let (started_rx, started_tx) = pipe::<(), Os>(false).unwrap();
    let q = queue.clone();
    let producer = Process::<Os>::new(move || {
        started_tx.send(&()).unwrap();
        q.put(1).unwrap();
        unreachable!("the queue stays full until the producer is killed");
    });
    producer.start().unwrap();
    started_rx.recv().unwrap();
    producer.kill().unwrap();
    assert_eq!(producer.join(), Ok(-9));
    assert_eq!(queue.get(), Ok(0));
    assert_eq!(queue.qsize(), 0);
    queue.try_put(2).unwrap();
    assert_eq!(queue.get(), Ok(2));
}

/// `SimpleQueue` and `JoinableQueue`, producer killed inside put: the getter learns of the
/// loss once and goes on; `join` does not wait for the lost item.
#[test]
fn simple_and_joinable_queues_survive_a_dead_producer() {
    let _forks = forks();
    let simple = SimpleQueue::<u32, Os>::new();
    let q = simple.clone();
    let (producer, stopped) = start_victim(StopPoint::Written, 2, move || {
        q.put(1).unwrap();
        q.put(99).unwrap();
    });
    assert!(kill_when_stopped(&stopped, &producer));
    assert_eq!(producer.join(), Ok(-9));
    simple.put(2).unwrap();
    assert_eq!(simple.get(), Ok(1));
    assert_eq!(simple.get(), Err(Error::ItemLost));
    assert_eq!(simple.get(), Ok(2));
    assert!(simple.empty());

    let joinable = JoinableQueue::<u32, Os>::new();
    let q = joinable.clone();
    let (producer, stopped) = start_victim(StopPoint::Reserved, 1, move || {
        q.put(99).unwrap();
    });
    assert!(kill_when_stopped(&stopped, &producer));
    assert_eq!(producer.join(), Ok(-9));
    joinable.put(3).unwrap();
    assert_eq!(joinable.get(), Err(Error::ItemLost));
    assert_eq!(joinable.get(), Ok(3));
    joinable.task_done().unwrap();
    joinable.join();
}

/// A consumer killed inside get, and no put after it to need its slot: `join` itself finds the
/// dead consumer's item and counts it done (nobody else can), so it returns.
#[test]
fn join_does_not_wait_for_an_item_whose_consumer_died_inside_get() {
    let _forks = forks();
    let queue = JoinableQueue::<u32, Os>::new();
    queue.put(0).unwrap();
    queue.put(1).unwrap();
    let q = queue.clone();
    let (consumer, stopped) = start_victim(StopPoint::Claimed, 1, move || {
        let _ = q.get();
        unreachable!("killed inside get");
    });
    assert!(kill_when_stopped(&stopped, &consumer));
    assert_eq!(consumer.join(), Ok(-9));
    assert_eq!(queue.get(), Ok(1));
    queue.task_done().unwrap();
    queue.join();
    assert_eq!(queue.task_done(), Err(Error::TaskDoneTooManyTimes));
}

/// An item of many slots, lost before any or after all of its bytes were written: the getter
/// skips it whole (its length was written first) and the next item comes out intact.
#[test]
fn a_lost_item_of_many_slots_is_skipped_whole() {
    let _forks = forks();
    for point in [StopPoint::Reserved, StopPoint::Written] {
        let queue = Queue::<Vec<u8>, Os>::with_capacity(Some(4), 256).unwrap();
        let q = queue.clone();
        let (producer, stopped) = start_victim(point, 1, move || {
            q.put(vec![0xEE; 150]).unwrap();
        });
        assert!(kill_when_stopped(&stopped, &producer));
        assert_eq!(producer.join(), Ok(-9));
        let next: Vec<u8> = (0..90).collect();
        queue.put(next.clone()).unwrap();
        assert_eq!(queue.get(), Err(Error::ItemLost), "{point:?}");
        assert_eq!(queue.get(), Ok(next), "{point:?}");
        assert!(queue.empty());
        // The ring wraps around over the lost item's slots.
        for round in 0..6u8 {
            queue.put(vec![round; 100]).unwrap();
            assert_eq!(queue.get(), Ok(vec![round; 100]));
        }
    }
}

/// A `get_timeout` shorter than the liveness poll still looks before it says `Empty`: the dead
/// producer's item is reported, not waited for again and again. Even with no time at all (the
/// deadline passed before the first look, as it does for a short timeout on a busy machine,
/// where this test once failed).
#[test]
fn a_short_get_timeout_reports_the_lost_item() {
    let _forks = forks();
    let queue = Queue::<u32, Os>::new();
    let q = queue.clone();
    let (producer, stopped) = start_victim(StopPoint::Reserved, 1, move || {
        q.put(99).unwrap();
    });
    assert!(kill_when_stopped(&stopped, &producer));
    assert_eq!(producer.join(), Ok(-9));
    assert_eq!(
        queue.get_timeout(std::time::Duration::ZERO),
        Err(Error::ItemLost)
    );
    let short = std::time::Duration::from_millis(1);
    assert_eq!(queue.get_timeout(short), Err(Error::Empty));
}

/// A `put_timeout` whose deadline passed before it ever looked still looks once at the tail
/// before it says `Full`: the slot a dead getter held is freed, and the item goes in.
#[test]
fn a_put_out_of_time_frees_a_dead_getters_slot() {
    let _forks = forks();
    let (queue, consumer, stopped) = a_consumer_stopped_holding_the_only_slot();
    assert!(kill_when_stopped(&stopped, &consumer));
    assert_eq!(consumer.join(), Ok(-9));
    assert_eq!(queue.put_timeout(1, std::time::Duration::ZERO), Ok(()));
    assert_eq!(queue.get(), Ok(1));
}
