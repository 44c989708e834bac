//! Throughput of mpcheck's [`Queue`] between threads on the real OS ([`mpcheck::Os`]), for small
//! items (`u64`), side by side with `std::sync::mpsc` and `crossbeam-channel`.
//!
//! Run with `cargo bench --bench queue`; results and how to read them are in
//! `docs/PERFORMANCE.md` ("Queue throughput"), and `benches/python/queue_baseline.py` measures
//! the same programs with CPython's `multiprocessing.Queue` and `queue.Queue`.
//!
//! Every benchmark moves [`ITEMS`] `u64`s per iteration from producer threads to consumer threads
//! (throughput is in items per second). The threads of one sample are started, and lined up at a
//! barrier, before the clock starts; each then moves its share of `iters × ITEMS` items without
//! any further synchronisation, and the sample's time runs from the first thread's start to the
//! last thread's end (as in `benches/sync.rs`). Outside the timing, the consumers' sum is
//! checked: every item arrived exactly once.
//!
//! Each group has seven rows, one unbounded and one bounded channel of each kind, and
//! crossbeam's bounded channel doing mpcheck's encoding work too:
//!
//! - `mpcheck_Queue/unbounded` is `Queue::<u64, Os>::new()`: no `maxsize`, but still bounded by
//!   its 64 KiB of ring ([`mpcheck::queue::DEFAULT_CAPACITY`]), i.e. 8,192 small items (an
//!   item below 2^49 takes one 8-byte slot: its length byte and its postcard varint);
//!   `mpcheck_Queue/bounded_1024` is `Queue::bounded(1024)`.
//! - `std_mpsc/channel` is `std::sync::mpsc::channel()`, `std_mpsc/sync_channel_1024` is
//!   `sync_channel(1024)`.
//! - `crossbeam/unbounded` is `crossbeam_channel::unbounded()`, `crossbeam/bounded_1024` is
//!   `bounded(1024)`.
//! - `crossbeam_postcard/bounded_1024` is `bounded(1024)` of 10-byte arrays, each item encoded
//!   with postcard before `send` and decoded after `recv`: the serialisation mpcheck's `Queue`
//!   does (it carries bytes, so that it can work between processes), on crossbeam's transfer.
//!
//! Groups:
//!
//! - `1to1`: one producer thread puts `0..ITEMS` (per iteration), one consumer thread gets them.
//! - `2to2`: two producers put half of the items each, two consumers get half each (every
//!   channel here is multi-consumer except std's `mpsc`, whose one `Receiver` the two consumers
//!   share behind a `std::sync::Mutex`, taken for each `recv`: the textbook way to share it,
//!   and a serialisation point the others do not have; read those rows with that in mind. In
//!   `1to1` the one consumer takes that mutex once per sample and receives directly).
//!   The machine the figures come from has 2 cores: 4 busy threads take turns, so this group
//!   measures behaviour under oversubscription as much as raw throughput.

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mpcheck::{Os, Queue};

/// Items moved per iteration (in all, whatever the number of threads).
const ITEMS: u64 = 10_000;
/// The bound of every bounded channel.
const BOUND: usize = 1024;

/// The sending half of a channel: the one thing a producer needs.
trait Send64: Clone + Send {
    fn send64(&self, item: u64);
}

/// The receiving half of a channel: the one thing a consumer needs.
trait Recv64: Clone + Send {
    /// Receives `n` items and returns their (wrapping) sum.
    fn recv_sum(&self, n: u64) -> u64;
}

impl Send64 for Queue<u64, Os> {
    #[inline]
    fn send64(&self, item: u64) {
        self.put(item).unwrap()
    }
}

impl Recv64 for Queue<u64, Os> {
    fn recv_sum(&self, n: u64) -> u64 {
        (0..n).fold(0, |sum, _| sum.wrapping_add(self.get().unwrap()))
    }
}

impl Send64 for mpsc::Sender<u64> {
    #[inline]
    fn send64(&self, item: u64) {
        self.send(item).unwrap()
    }
}

impl Send64 for mpsc::SyncSender<u64> {
    #[inline]
    fn send64(&self, item: u64) {
        self.send(item).unwrap()
    }
}

/// std's single `Receiver` with one consumer (`1to1`): the consumer takes the (free) mutex once
/// per sample, not per item, and receives straight from the `Receiver`.
#[derive(Clone)]
struct SoleReceiver(Arc<Mutex<mpsc::Receiver<u64>>>);

impl Recv64 for SoleReceiver {
    fn recv_sum(&self, n: u64) -> u64 {
        let rx = self.0.try_lock().expect("one consumer only");
        (0..n).fold(0, |sum, _| sum.wrapping_add(rx.recv().unwrap()))
    }
}

/// std's single `Receiver`, shared by several consumers (`2to2`) behind a mutex taken for each
/// item.
#[derive(Clone)]
struct SharedReceiver(Arc<Mutex<mpsc::Receiver<u64>>>);

impl Recv64 for SharedReceiver {
    fn recv_sum(&self, n: u64) -> u64 {
        (0..n).fold(0, |sum, _| {
            sum.wrapping_add(self.0.lock().unwrap().recv().unwrap())
        })
    }
}

impl Send64 for crossbeam_channel::Sender<u64> {
    #[inline]
    fn send64(&self, item: u64) {
        self.send(item).unwrap()
    }
}

impl Recv64 for crossbeam_channel::Receiver<u64> {
    fn recv_sum(&self, n: u64) -> u64 {
        (0..n).fold(0, |sum, _| sum.wrapping_add(self.recv().unwrap()))
    }
}

/// A `u64` encoded with postcard (a varint of at most 10 bytes), as a fixed-size message.
type Encoded = [u8; 10];

/// crossbeam's channel doing the work mpcheck's `Queue` does around the transfer: each item
/// encoded with postcard on the way in and decoded on the way out (the reference for how much
/// of the gap is serialisation, which a queue between processes cannot skip).
#[derive(Clone)]
struct EncodingSender(crossbeam_channel::Sender<Encoded>);

impl Send64 for EncodingSender {
    #[inline]
    fn send64(&self, item: u64) {
        let mut message = [0u8; 10];
        postcard::to_slice(&item, &mut message).unwrap();
        self.0.send(message).unwrap()
    }
}

/// The receiving side of [`EncodingSender`].
#[derive(Clone)]
struct DecodingReceiver(crossbeam_channel::Receiver<Encoded>);

impl Recv64 for DecodingReceiver {
    fn recv_sum(&self, n: u64) -> u64 {
        (0..n).fold(0, |sum, _| {
            let message = self.0.recv().unwrap();
            sum.wrapping_add(postcard::take_from_bytes::<u64>(&message).unwrap().0)
        })
    }
}

/// The bench's configuration: the machine has 2 cores and is noisy, so few, short samples (the
/// whole bench takes about a minute and a half; 4 s of measurement is what 20 samples of the
/// slowest rows, about 10 ms an iteration, need).
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
}

/// Moves `iters × ITEMS` items from `producers` threads to `consumers` threads (each its equal
/// share) and returns the time from the first thread's start to the last thread's end.
fn run_transfer<S: Send64, R: Recv64>(
    tx: &S,
    rx: &R,
    producers: u64,
    consumers: u64,
    iters: u64,
) -> Duration {
    let total = iters * ITEMS;
    assert!(total % producers == 0 && total % consumers == 0);
    let (per_producer, per_consumer) = (total / producers, total / consumers);
    let start_line = Barrier::new((producers + consumers) as usize);
    let start_line = &start_line;
    let (spans, sum) = thread::scope(|s| {
        let senders: Vec<_> = (0..producers)
            .map(|p| {
                let tx = tx.clone();
                s.spawn(move || {
                    let first = p * per_producer;
                    start_line.wait();
                    let start = Instant::now();
                    for item in first..first + per_producer {
                        tx.send64(item);
                    }
                    ((start, Instant::now()), 0)
                })
            })
            .collect();
        let receivers: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    start_line.wait();
                    let start = Instant::now();
                    let sum = rx.recv_sum(per_consumer);
                    ((start, Instant::now()), sum)
                })
            })
            .collect();
        let mut spans = Vec::new();
        let mut sum = 0u64;
        for worker in senders.into_iter().chain(receivers) {
            let (span, part) = worker.join().unwrap();
            spans.push(span);
            sum = sum.wrapping_add(part);
        }
        (spans, sum)
    });
    // Outside the timing: every item of 0..total arrived exactly once (by its sum).
    assert_eq!(sum, (total as u128 * (total as u128 - 1) / 2) as u64);
    let first_start = spans.iter().map(|s| s.0).min().unwrap();
    let last_end = spans.iter().map(|s| s.1).max().unwrap();
    last_end - first_start
}

fn bench_transfer<S: Send64, R: Recv64>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    (tx, rx): (S, R),
    (producers, consumers): (u64, u64),
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| run_transfer(&tx, &rx, producers, consumers, iters))
    });
}

/// The seven rows of a group, with `producers` and `consumers` threads.
fn transfers(c: &mut Criterion, name: &str, threads: (u64, u64)) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(ITEMS));

    let q = Queue::<u64, Os>::new();
    bench_transfer(
        &mut group,
        "mpcheck_Queue/unbounded",
        (q.clone(), q),
        threads,
    );
    let q = Queue::<u64, Os>::bounded(BOUND).unwrap();
    bench_transfer(
        &mut group,
        "mpcheck_Queue/bounded_1024",
        (q.clone(), q),
        threads,
    );

    // std's Receiver: alone in `1to1`, shared behind a mutex in `2to2`.
    fn mpsc_rows<S: Send64>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        (tx, rx): (S, mpsc::Receiver<u64>),
        threads: (u64, u64),
    ) {
        let rx = Arc::new(Mutex::new(rx));
        if threads.1 == 1 {
            bench_transfer(group, name, (tx, SoleReceiver(rx)), threads);
        } else {
            bench_transfer(group, name, (tx, SharedReceiver(rx)), threads);
        }
    }
    mpsc_rows(&mut group, "std_mpsc/channel", mpsc::channel(), threads);
    mpsc_rows(
        &mut group,
        "std_mpsc/sync_channel_1024",
        mpsc::sync_channel(BOUND),
        threads,
    );

    bench_transfer(
        &mut group,
        "crossbeam/unbounded",
        crossbeam_channel::unbounded(),
        threads,
    );
    bench_transfer(
        &mut group,
        "crossbeam/bounded_1024",
        crossbeam_channel::bounded(BOUND),
        threads,
    );
    let (tx, rx) = crossbeam_channel::bounded(BOUND);
    bench_transfer(
        &mut group,
        "crossbeam_postcard/bounded_1024",
        (EncodingSender(tx), DecodingReceiver(rx)),
        threads,
    );

    group.finish();
}

fn one_to_one(c: &mut Criterion) {
    transfers(c, "1to1", (1, 1));
}

fn two_to_two(c: &mut Criterion) {
    transfers(c, "2to2", (2, 2));
}

criterion_group! {
    name = benches;
    config = config();
    targets = one_to_one, two_to_two
}
criterion_main!(benches);
