//! Queues between processes: the seed "3.1 多进程:进程间通信" (its 进程队列(Queue)通信 section;
//! seed 001 in `/work/shared/seeds`) and the producers and consumers every user writes next.
//!
//! 1. The seed's program: two processes each put a list into a `Queue(5)`; the main process
//!    prints the size (2), gets both lists, and prints the size again (0).
//! 2. Producers and consumers with a sentinel: two producers put five items each; two consumers
//!    get items until they get `None`; the main process puts one `None` per consumer once the
//!    producers are done.
//! 3. The same with a [`JoinableQueue`]: daemonic consumers mark each item done
//!    (`task_done`), the main process waits for all of them (`join`) and ends; its daemons are
//!    terminated with it.
//!
//! ```text
//! cargo run --example queue_producer_consumer
//! ```

use mpcheck::{current_process, JoinableQueue, Os, Process, Queue, Value};

/// Producers and consumers in parts 2 and 3.
const PRODUCERS: usize = 2;
const CONSUMERS: usize = 2;
/// Items each producer makes.
const ITEMS: u32 = 5;

/// An item: which producer made it, and its number there.
type Item = (usize, u32);

/// The seed's `fun(q, i)`.
fn fun(q: Queue<Vec<u32>>, i: u32) {
    q.put(vec![i, 2 * i, 3 * i]).expect("put");
}

fn the_seed() {
    println!("-- the seed: Queue(5) --");
    let q = Queue::<Vec<u32>, Os>::bounded(5).expect("a queue");
    for i in 0..2 {
        let q = q.clone();
        let process = Process::<Os>::new(move || fun(q, i + 1));
        process.start().expect("start");
        assert_eq!(process.join(), Ok(0));
    }
    println!("{}", q.qsize()); // 2
    println!("{:?}", q.get().expect("get")); // [1, 2, 3]
    println!("{:?}", q.get().expect("get")); // [2, 4, 6]
    println!("{}", q.qsize()); // 0
}

fn producer(q: Queue<Option<Item>>, id: usize) {
    for k in 0..ITEMS {
        q.put(Some((id, k))).expect("put");
    }
    println!("producer {id} made {ITEMS} items");
}

fn consumer(q: Queue<Option<Item>>, consumed: Value<u32>) {
    let me = current_process();
    while let Some((from, k)) = q.get().expect("get") {
        println!("{} got item {k} from producer {from}", me.name());
        consumed.update(|n| *n += 1).expect("a locked Value");
    }
    println!("{} got None: done", me.name());
}

fn with_a_sentinel() {
    println!("-- producers and consumers, a None per consumer to end --");
    let q = Queue::<Option<Item>, Os>::new();
    let consumed = Value::<u32, Os>::new(0);
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|id| {
            let q = q.clone();
            Process::<Os>::new(move || producer(q, id))
        })
        .collect();
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|id| {
            let (q, consumed) = (q.clone(), consumed.clone());
            Process::<Os>::new(move || consumer(q, consumed)).name(format!("consumer-{id}"))
        })
        .collect();
    for process in producers.iter().chain(&consumers) {
        process.start().expect("start");
    }
    for process in &producers {
        assert_eq!(process.join(), Ok(0));
    }
    for _ in &consumers {
        q.put(None).expect("put");
    }
    for process in &consumers {
        assert_eq!(process.join(), Ok(0));
    }
    println!(
        "consumed {} of {} items",
        consumed.get(),
        PRODUCERS as u32 * ITEMS
    );
}

fn worker(q: JoinableQueue<Item>) {
    let me = current_process();
    loop {
        let (from, k) = q.get().expect("get");
        println!("{} did task {k} from producer {from}", me.name());
        q.task_done().expect("one task_done per get");
    }
}

fn with_join() {
    println!("-- a JoinableQueue: task_done and join --");
    let q = JoinableQueue::<Item, Os>::new();
    let workers: Vec<Process> = (0..CONSUMERS)
        .map(|id| {
            let q = q.clone();
            Process::<Os>::new(move || worker(q))
                .name(format!("worker-{id}"))
                .daemon(true)
        })
        .collect();
    for process in &workers {
        process.start().expect("start");
    }
    for id in 0..PRODUCERS {
        for k in 0..ITEMS {
            q.put((id, k)).expect("put");
        }
    }
    q.join();
    println!("main: every task is done");
    // The workers are daemonic: they are terminated when the main process ends.
}

fn main() {
    the_seed();
    with_a_sentinel();
    with_join();
}
