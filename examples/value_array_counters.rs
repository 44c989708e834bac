//! [`Value`] and [`Array`] in shared memory: the seed "3.1 多进程:进程间通信" (its
//! Value,Array资源共享 section; seed 001 in `/work/shared/seeds`), and the counter of seed 003
//! ("python线程安全及多进程多线程实现方法详解": `with lock: n[0] = n[0] + 1`) in processes.
//!
//! 1. The seed's program: a child sets `num` (a `Value('d')`) to 3.14 and `arr[0]` (an
//!    `Array('i', range(10))`) to 5; the main process sees both.
//! 2. Four processes each add 1 to a counter 20,000 times:
//!    - on a [`Value::raw`] (Python's `RawValue`), with `get` then `set`: another process's
//!      increments between the two are overwritten, so updates may be lost (how many varies
//!      from run to run, and may be none);
//!    - on a locked [`Value`] the same way, `counter.value += 1` in Python: `get` and `set` each
//!      take the lock, but not the pair, so updates may be lost just the same;
//!    - holding [`Value::get_lock`] around both (Python's `with counter.get_lock():`), or with
//!      [`Value::update`]: exact;
//!    - on an [`Array`] of per-process counters and a total, under [`Array::locked`]: exact.
//!
//! ```text
//! cargo run --example value_array_counters
//! ```

use mpcheck::{Array, Barrier, Os, Process, Value};

/// Processes that count, and how many times each adds 1.
const PROCESSES: usize = 4;
const TIMES: u64 = 20_000;

/// The seed's `f(n, a)`.
#[expect(clippy::approx_constant, reason = "the seed's number, not π")]
fn f(n: Value<f64>, a: Array<i32>) {
    n.set(3.14);
    a.set(0, 5).expect("index 0 of 10");
}

fn the_seed() {
    println!("-- the seed: Value('d', 0.0), Array('i', range(10)) --");
    let num = Value::<f64, Os>::new(0.0);
    let arr = Array::<i32, Os>::from_slice(&(0..10).collect::<Vec<_>>()).expect("an array");
    let p = {
        let (num, arr) = (num.clone(), arr.clone());
        Process::<Os>::new(move || f(num, arr))
    };
    p.start().expect("start");
    assert_eq!(p.join(), Ok(0));
    println!("{}", num.get()); // 3.14
    println!("{:?}", arr.to_vec()); // [5, 1, 2, 3, 4, 5, 6, 7, 8, 9]
}

/// Runs `count(i)` in `PROCESSES` processes and waits for them. The processes start counting
/// together, at a [`Barrier`] (a process counts faster than the next one forks: without it,
/// they would hardly overlap).
fn in_processes(count: impl Fn(usize) + Clone + Send + 'static) {
    let start = Barrier::<Os>::new(PROCESSES);
    let processes: Vec<Process> = (0..PROCESSES)
        .map(|i| {
            let (count, start) = (count.clone(), start.clone());
            Process::<Os>::new(move || {
                start.wait().expect("no timeout, no abort");
                count(i);
            })
        })
        .collect();
    for process in &processes {
        process.start().expect("start");
    }
    for process in &processes {
        assert_eq!(process.join(), Ok(0));
    }
}

fn report(how: &str, total: u64) {
    let expected = PROCESSES as u64 * TIMES;
    println!(
        "{how}: {total} of {expected} (lost {})",
        expected.saturating_sub(total)
    );
}

fn counters() {
    println!("-- {PROCESSES} processes add 1, {TIMES} times each --");

    let raw = Value::<u64, Os>::raw(0);
    let counter = raw.clone();
    in_processes(move |_| {
        for _ in 0..TIMES {
            counter.set(counter.get() + 1);
        }
    });
    report("RawValue, get then set (racy)", raw.get());

    let locked = Value::<u64, Os>::new(0);
    let counter = locked.clone();
    in_processes(move |_| {
        for _ in 0..TIMES {
            counter.set(counter.get() + 1); // counter.value += 1
        }
    });
    report("Value, get then set, each locked (racy)", locked.get());

    let locked = Value::<u64, Os>::new(0);
    let counter = locked.clone();
    in_processes(move |_| {
        let lock = counter.get_lock().expect("a locked Value");
        for _ in 0..TIMES {
            let _held = lock.lock(); // with counter.get_lock():
            counter.set(counter.get() + 1);
        }
    });
    report("Value, get then set under get_lock() (exact)", locked.get());

    let locked = Value::<u64, Os>::new(0);
    let counter = locked.clone();
    in_processes(move |_| {
        for _ in 0..TIMES {
            counter.update(|n| *n += 1).expect("a locked Value");
        }
    });
    report("Value, update (exact)", locked.get());

    // One slot per process, and the total in the last one.
    let array = Array::<u64, Os>::new(PROCESSES + 1).expect("an array");
    let counters = array.clone();
    in_processes(move |i| {
        for _ in 0..TIMES {
            let view = counters.locked().expect("a locked Array");
            let mine = view.get(i).expect("in range");
            view.set(i, mine + 1).expect("in range");
            let total = view.get(PROCESSES).expect("in range");
            view.set(PROCESSES, total + 1).expect("in range");
        }
    });
    let counts = array.to_vec();
    println!("Array, under locked(): {counts:?}");
    report("Array total, under locked() (exact)", counts[PROCESSES]);
}

fn main() {
    the_seed();
    counters();
}
