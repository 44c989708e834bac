//! `mpcheck demo`: the seed programs (the `multiprocessing` tutorials the product was made
//! from) under the simulator, each a few lines generic over [`Platform`]: with the bug the
//! tutorial warns about, the search finds it and shows the execution (shrunk to its fewest
//! preemptions); with the fix, the search covers every execution and says so.
//!
//! Each demo is a scenario of child [`Process`]es, as in the tutorials, and ends with an
//! assertion of what the tutorial promises (no ticket sold twice, at most 2 guests in the
//! room, every car through the light, every item received in order, every increment counted).

use std::sync::atomic::Ordering::SeqCst;

use mpcheck::platform::{Atomic, AtomicInt, Platform, Shareable};
use mpcheck::{pipe, Event, Lock, Process, Queue, Semaphore, Value};

/// One demo: a scenario and what the search should find.
#[derive(Clone, Copy, Debug)]
pub struct Demo {
    /// Its name (`mpcheck demo NAME`).
    pub name: &'static str,
    /// What it shows, in a line.
    pub what: &'static str,
    /// `true` if the scenario has the tutorial's bug: the search must find a failure.
    pub buggy: bool,
    /// Whether exhaustive search covers it in seconds; otherwise PCT samples it (a Semaphore
    /// with 3 processes is still too big for exhaustive search at the futex level: issue 15).
    pub exhaustive: bool,
    /// The scenario, for the simulator.
    pub run: fn(),
}

/// Every demo, for the simulator.
pub fn all() -> Vec<Demo> {
    vec![
        Demo {
            name: "tickets_without_lock",
            what: "2 sellers share 1 ticket in a Value and check-then-take without a Lock",
            buggy: true,
            exhaustive: true,
            run: tickets::<mpcheck::Sim, false>,
        },
        Demo {
            name: "tickets_with_lock",
            what: "the same sellers, each check-then-take under one Lock",
            buggy: false,
            exhaustive: true,
            run: tickets::<mpcheck::Sim, true>,
        },
        Demo {
            name: "ktv",
            what: "3 guests and a KTV room for 2: a Semaphore(2) at the door",
            buggy: false,
            exhaustive: false,
            run: ktv::<mpcheck::Sim>,
        },
        Demo {
            name: "traffic_light",
            what: "2 cars wait at a traffic light (an Event) that turns green",
            buggy: false,
            exhaustive: true,
            run: traffic_light::<mpcheck::Sim>,
        },
        Demo {
            name: "queue_producer_consumer",
            what: "a producer puts an item and a sentinel into a Queue(1), a consumer gets them",
            buggy: false,
            exhaustive: true,
            run: producer_consumer::<mpcheck::Sim>,
        },
        Demo {
            name: "pipe_conversation",
            what:
                "two processes talk over a duplex Pipe (a question, an answer), then one hangs up",
            buggy: false,
            exhaustive: true,
            run: conversation::<mpcheck::Sim>,
        },
        Demo {
            name: "counter_without_lock",
            what: "2 processes add 1 to a Value with get then set, no lock",
            buggy: true,
            exhaustive: true,
            run: counter::<mpcheck::Sim, false>,
        },
        Demo {
            name: "counter_with_get_lock",
            what: "the same increments under the Value's own lock (get_lock)",
            buggy: false,
            exhaustive: true,
            run: counter::<mpcheck::Sim, true>,
        },
    ]
}

/// Starts `n` processes running `body(i)` and joins them.
fn processes<P: Platform>(n: usize, body: impl Fn(usize) + Clone + Send + 'static) {
    let children: Vec<Process<P>> = (0..n)
        .map(|i| {
            let body = body.clone();
            Process::<P>::new(move || body(i))
        })
        .collect();
    for child in &children {
        child.start().expect("a process starts");
    }
    for child in &children {
        assert_eq!(child.join(), Ok(0), "a process failed");
    }
}

/// Ticket booking: sellers check that a ticket is left, then take it; with `LOCKED`, under a
/// [`Lock`]. The tickets sold never exceed the tickets there were.
fn tickets<P: Platform, const LOCKED: bool>() {
    const TICKETS: i64 = 1;
    let left = Value::<i64, P>::raw(TICKETS);
    let sold = Value::<i64, P>::raw(0);
    let lock = Lock::<P>::new();
    processes::<P>(2, {
        let (left, sold, lock) = (left.clone(), sold.clone(), lock.clone());
        move |_| {
            let _held = LOCKED.then(|| lock.lock());
            if left.get() > 0 {
                left.set(left.get() - 1);
                sold.set(sold.get() + 1);
            }
        }
    });
    assert!(
        sold.get() <= TICKETS,
        "{} tickets sold, {TICKETS} there were (left: {})",
        sold.get(),
        left.get()
    );
}

/// The KTV room, where every process sees it: who is inside, and how many were inside once
/// there were more than 2 (0 if never).
struct Room<P: Platform> {
    inside: P::AtomicU32,
    crowded: P::AtomicU32,
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for Room<P> {}

/// The KTV room: guests enter through a `Semaphore(2)`; never more than 2 inside.
fn ktv<P: Platform>() {
    let door = Semaphore::<P>::new(2);
    let room = P::share(Room::<P> {
        inside: P::AtomicU32::new(0),
        crowded: P::AtomicU32::new(0),
    });
    processes::<P>(3, {
        let (door, room) = (door.clone(), room.clone());
        move |_| {
            door.acquire().expect("the door lets guests in");
            let now = room.inside.fetch_add(1, SeqCst) + 1;
            if now > 2 {
                room.crowded.store(now, SeqCst);
            }
            room.inside.fetch_sub(1, SeqCst);
            door.release().expect("a guest leaves");
        }
    });
    assert_eq!(room.crowded.load(SeqCst), 0, "more than 2 guests inside");
}

/// The traffic light: cars wait for the light (an [`Event`]) to turn green; every car passes.
fn traffic_light<P: Platform>() {
    let green = Event::<P>::new();
    let passed = P::share(Room::<P> {
        inside: P::AtomicU32::new(0),
        crowded: P::AtomicU32::new(0),
    });
    let cars: Vec<Process<P>> = (0..2)
        .map(|_| {
            let (green, passed) = (green.clone(), passed.clone());
            Process::<P>::new(move || {
                green.wait();
                passed.inside.fetch_add(1, SeqCst);
            })
        })
        .collect();
    for car in &cars {
        car.start().expect("a car starts");
    }
    green.set();
    for car in &cars {
        assert_eq!(car.join(), Ok(0));
    }
    assert_eq!(passed.inside.load(SeqCst), 2, "a car never passed");
}

/// A producer and a consumer on a bounded [`Queue`]: every item arrives once, in order.
fn producer_consumer<P: Platform>() {
    let queue = Queue::<Option<u32>, P>::bounded(1).expect("a queue");
    let producer = Process::<P>::new({
        let queue = queue.clone();
        move || {
            for item in 0..1 {
                queue.put(Some(item)).expect("put");
            }
            queue.put(None).expect("put the sentinel");
        }
    });
    producer.start().expect("the producer starts");
    let mut got = Vec::new();
    while let Some(item) = queue.get().expect("get") {
        got.push(item);
    }
    assert_eq!(producer.join(), Ok(0));
    assert_eq!(got, [0]);
}

/// A conversation over a duplex pipe: the child answers each question, then hangs up.
fn conversation<P: Platform>() {
    let (mine, theirs) = pipe::<String, P>(true).expect("a pipe");
    let child = Process::<P>::new(move || {
        while let Ok(question) = theirs.recv() {
            theirs.send(&format!("re: {question}")).expect("send");
        }
    });
    child.start().expect("the child starts");
    mine.send(&"hello".to_owned()).expect("send");
    assert_eq!(mine.recv().expect("recv"), "re: hello");
    mine.close();
    assert_eq!(child.join(), Ok(0));
}

/// Two processes add 1 to a [`Value`]; with `LOCKED`, under its own lock. The
/// total counts every increment.
fn counter<P: Platform, const LOCKED: bool>() {
    let n = Value::<u32, P>::new(0);
    processes::<P>(2, {
        let n = n.clone();
        move |_| {
            let lock = n.get_lock().expect("a Value made with new has a lock");
            if LOCKED {
                let _ = lock.acquire();
            }
            n.set(n.get() + 1);
            if LOCKED {
                lock.release().expect("the owner releases");
            }
        }
    });
    assert_eq!(n.get(), 2, "increments lost");
}
