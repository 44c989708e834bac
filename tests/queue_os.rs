//! `Queue`, `SimpleQueue` and `JoinableQueue` on the real OS: every operation, every error case,
//! real threads. Synchronization is by the queues themselves; no sleeps.

use std::time::Duration;

use mpcheck::queue::DEFAULT_CAPACITY;
use mpcheck::thread::spawn;
use mpcheck::{Error, JoinableQueue, Os, Queue, SimpleQueue};
use serde::{Deserialize, Serialize};

const SHORT: Duration = Duration::from_millis(20);
const CLOSED: Error = Error::Closed { what: "queue" };

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Booking {
    seat: u32,
    name: String,
}

#[test]
fn fifo_with_exact_sizes() {
    let q = Queue::<Booking, Os>::bounded(3).unwrap();
    assert_eq!(q.maxsize(), Some(3));
    assert!(q.empty() && !q.full());
    for seat in 0..3 {
        q.put(Booking {
            seat,
            name: format!("guest {seat}"),
        })
        .unwrap();
        assert_eq!(q.qsize(), seat as usize + 1);
    }
    assert!(q.full() && !q.empty());
    for seat in 0..3 {
        assert_eq!(q.get().unwrap().seat, seat);
    }
    assert!(q.empty());
}

#[test]
fn sizes_that_cannot_work_are_invalid_arguments() {
    assert!(matches!(
        Queue::<u8, Os>::bounded(0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        JoinableQueue::<u8, Os>::bounded(0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Queue::<u8, Os>::with_capacity(None, usize::MAX),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn default_capacity_and_unbounded_count() {
    let q = Queue::<u8, Os>::new();
    assert_eq!(q.maxsize(), None);
    // Every byte but the 3 of the item's length (a varint) in the ring.
    assert_eq!(q.max_item_len(), DEFAULT_CAPACITY - 3);
    // Far more items than any maxsize would allow: only the bytes bound an unbounded queue.
    for i in 0..1000 {
        q.try_put((i % 256) as u8).unwrap();
    }
    assert!(!q.full(), "a queue without maxsize is never full by count");
    assert_eq!(q.qsize(), 1000);
}

#[test]
fn a_refused_put_hands_the_item_back() {
    let q = Queue::<Booking, Os>::bounded(1).unwrap();
    let first = Booking {
        seat: 1,
        name: "Ann".into(),
    };
    let second = Booking {
        seat: 2,
        name: "Bo".into(),
    };
    q.try_put(first.clone()).unwrap();
    let Err(Error::Full { item }) = q.try_put(second.clone()) else {
        panic!("a full queue took an item")
    };
    assert_eq!(item.decode::<Booking>().unwrap(), second);
    assert!(format!("{:?}", item).starts_with("Unsent("));
    let Err(error @ Error::Full { .. }) = q.put_timeout(second.clone(), SHORT) else {
        panic!("a timed put on a full queue succeeded")
    };
    assert!(error.to_string().contains("handed back"), "{error}");
    assert_eq!(q.get().unwrap(), first);
}

#[test]
fn gets_on_an_empty_queue() {
    let q = Queue::<u64, Os>::new();
    assert_eq!(q.try_get(), Err(Error::Empty));
    assert_eq!(q.get_timeout(SHORT), Err(Error::Empty));
    assert_eq!(Error::Empty.to_string(), "the queue is empty");
}

#[test]
fn an_item_too_large_is_refused_at_once_not_hung() {
    let q = Queue::<Vec<u8>, Os>::with_capacity(None, 64).unwrap();
    let max = q.max_item_len();
    assert_eq!(
        max, 63,
        "64 bytes, less the encoded item's 1-byte length in the ring"
    );
    // A Vec<u8> encodes as a 1-byte length and its bytes: 62 bytes fit exactly.
    q.put(vec![7; max - 1]).unwrap();
    assert_eq!(q.get().unwrap(), vec![7; max - 1]);
    // `put` would wait forever for room that can never exist: it refuses instead.
    let error = q.put(vec![7; max]).unwrap_err();
    assert_eq!(
        error,
        Error::TooLarge {
            what: "item",
            len: max + 1,
            max
        }
    );
    assert!(error.to_string().contains("64 bytes"), "{error}");
    assert!(
        error.to_string().ends_with("bytes this queue can carry"),
        "{error}"
    );
    assert!(q.empty());
}

/// An item whose encoding fails (as a `Mutex` poisoned, or a map with non-string keys in some
/// formats, would).
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this item cannot be encoded"))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

#[test]
fn an_encoding_error_reaches_the_caller_and_puts_nothing() {
    let q = Queue::<Unencodable, Os>::new();
    let Err(Error::Encode(message)) = q.put(Unencodable) else {
        panic!("an unencodable item was put")
    };
    assert!(!message.is_empty());
    assert!(q.empty());
    assert!(matches!(q.try_put(Unencodable), Err(Error::Encode(_))));
}

#[test]
fn close_refuses_puts_and_drains_gets() {
    let q = Queue::<u32, Os>::new();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(!q.is_closed());
    q.close();
    q.close(); // idempotent
    assert!(q.clone().is_closed(), "every handle sees the close");
    assert_eq!(q.put(3), Err(CLOSED));
    assert_eq!(q.try_put(3), Err(CLOSED));
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.get(), Err(CLOSED));
    assert_eq!(q.get_timeout(SHORT), Err(CLOSED));
    assert_eq!(CLOSED.to_string(), "queue is closed");
}

#[test]
fn close_wakes_a_blocked_putter_and_a_blocked_getter() {
    let full = Queue::<u32, Os>::bounded(1).unwrap();
    full.put(0).unwrap();
    let putter = {
        let q = full.clone();
        spawn::<Os, _, _>(move || q.put(1))
    };
    let empty = Queue::<u32, Os>::new();
    let getter = {
        let q = empty.clone();
        spawn::<Os, _, _>(move || q.get())
    };
    full.close();
    empty.close();
    // Whether they were already asleep or not, both end; the putter's item is refused (it
    // found the queue full until the close).
    assert_eq!(putter.join().unwrap(), Err(CLOSED));
    assert_eq!(getter.join().unwrap(), Err(CLOSED));
    assert_eq!(full.get(), Ok(0));
}

#[test]
fn a_blocked_put_wakes_when_room_frees_and_a_blocked_get_when_an_item_comes() {
    let q = Queue::<u32, Os>::bounded(1).unwrap();
    let producer = {
        let q = q.clone();
        spawn::<Os, _, _>(move || {
            for i in 0..1000 {
                q.put(i).unwrap();
            }
        })
    };
    for i in 0..1000 {
        assert_eq!(q.get().unwrap(), i);
    }
    producer.join().unwrap();
}

#[test]
fn many_producers_many_consumers_every_item_exactly_once() {
    stress(Queue::with_capacity(Some(64), 4096).unwrap(), 5_000, |_| 0);
}

#[test]
fn simple_queue() {
    let q = SimpleQueue::<String, Os>::new();
    assert!(q.empty());
    q.put("a".into()).unwrap();
    assert!(!q.empty());
    let q2 = q.clone();
    assert_eq!(
        spawn::<Os, _, _>(move || q2.get()).join().unwrap(),
        Ok("a".into())
    );
    q.close();
    assert_eq!(q.put("b".into()), Err(CLOSED));
    assert_eq!(q.get(), Err(CLOSED));
    assert!(format!("{q:?}").starts_with("SimpleQueue(Queue"));
}

#[test]
fn joinable_queue_task_done_and_join() {
    let jobs = JoinableQueue::<u32, Os>::bounded(4).unwrap();
    jobs.join(); // nothing put: returns at once
    assert_eq!(jobs.task_done(), Err(Error::TaskDoneTooManyTimes));
    let done = mpcheck::Value::<u32, Os>::new(0);
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (jobs, done) = (jobs.clone(), done.clone());
            spawn::<Os, _, _>(move || {
                while let Ok(job) = jobs.get() {
                    done.update(|n| *n += job).unwrap();
                    jobs.task_done().unwrap();
                }
            })
        })
        .collect();
    for job in 1..=100 {
        jobs.put(job).unwrap();
    }
    jobs.join();
    assert_eq!(done.get(), 5050, "join returned before every job was done");
    assert_eq!(jobs.task_done(), Err(Error::TaskDoneTooManyTimes));
    assert_eq!(
        Error::TaskDoneTooManyTimes.to_string(),
        "task_done() called more times than there were items put"
    );
    jobs.close();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn queues_are_send_and_sync_whatever_the_item() {
    fn send_sync<T: Send + Sync>() {}
    // Items cross as bytes; the queue handle itself holds no `T`.
    send_sync::<Queue<std::rc::Rc<u8>, Os>>();
    send_sync::<JoinableQueue<std::cell::Cell<u8>, Os>>();
    send_sync::<SimpleQueue<std::rc::Rc<u8>, Os>>();
}

/// 4 producers and 4 consumers through `q`, each item a producer, a sequence number and
/// `padding(seq)` bytes derived from both: every item arrives exactly once, intact, and in
/// its producer's order at each consumer.
fn stress(q: Queue<(u8, u32, Vec<u8>), Os>, each: u32, padding: fn(u32) -> usize) {
    const PRODUCERS: u8 = 4;
    const CONSUMERS: u32 = 4;
    let item = move |p: u8, seq: u32| (p, seq, vec![p ^ seq as u8; padding(seq)]);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            spawn::<Os, _, _>(move || {
                for seq in 0..each {
                    q.put(item(p, seq)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let q = q.clone();
            spawn::<Os, _, _>(move || {
                let mut got = Vec::new();
                let mut last = [None; PRODUCERS as usize];
                for _ in 0..u32::from(PRODUCERS) * each / CONSUMERS {
                    let got_item = q.get().unwrap();
                    let (p, seq) = (got_item.0, got_item.1);
                    assert_eq!(got_item, item(p, seq), "an item changed in the queue");
                    assert!(last[p as usize] < Some(seq), "producer {p} out of order");
                    last[p as usize] = Some(seq);
                    got.push((p, seq));
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<_> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    let expected: Vec<_> = (0..PRODUCERS)
        .flat_map(|p| (0..each).map(move |s| (p, s)))
        .collect();
    assert_eq!(all, expected);
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
}

#[test]
fn items_of_many_slots_through_small_rings_arrive_whole() {
    // Items of 3 to 45 encoded bytes (1 to 6 slots of 8 bytes with their length), through a
    // ring of 6 slots (the largest item needs all of them), with and without a maxsize.
    let padding = |seq: u32| (seq as usize * 7) % 40;
    stress(Queue::with_capacity(None, 48).unwrap(), 2_000, padding);
    stress(Queue::with_capacity(Some(2), 48).unwrap(), 2_000, padding);
    // One slot, one-slot items: the ring where "published" and "free for the next lap" would
    // be one stamp without the published bit.
    stress(Queue::with_capacity(None, 8).unwrap(), 2_000, |_| 0);
    stress(Queue::with_capacity(Some(1), 8).unwrap(), 2_000, |_| 0);
}
