//! The KTV with a [`Semaphore`]: the seed "python进程数据隔离,守护进程,锁,信号量和事件"
//! (its 信号量 section; seed 002 in `/work/shared/seeds`), and the `Semaphore(2)` worker of
//! "python类库32[多进程同步Lock+Semaphore+Event]" (seed 000).
//!
//! The mall has 4 mini KTV rooms, so 4 people can be inside at once; a fifth waits outside until
//! somebody comes out. Ten guests (processes) each take a room (`acquire`), sing a while, and
//! leave (`release`). Each prints its `current_process().name()` entering and leaving, with how
//! many guests are inside, counted in a shared [`Value`]: the count never exceeds the rooms.
//!
//! ```text
//! cargo run --example ktv          # Semaphore(4)
//! cargo run --example ktv -- 2     # Semaphore(2), as in the seed's code
//! ```
//!
//! The seed sleeps 3 to 10 seconds in the room; here 30 to 100 ms.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use mpcheck::{current_process, Os, Process, Semaphore, Value};

/// Guests, as in the seed (`for i in range(10)`).
const GUESTS: usize = 10;

/// A number from `low` to `high` (the seed's `random.randint(3, 10)`), from the system's random
/// keys and this process's pid (a forked child has a copy of its parent's keys).
fn random(low: u64, high: u64) -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    low + hasher.finish() % (high - low + 1)
}

/// The seed's `go_ktv(sem, user)`; `inside` counts the guests in the rooms, `most` the most
/// there ever were at once.
fn go_ktv(sem: Semaphore, inside: Value<u32>, most: Value<u32>) {
    let me = current_process();
    sem.acquire().unwrap();
    let now = inside.update(|n| {
        *n += 1;
        *n
    });
    let now = now.expect("a locked Value");
    most.update(|m| *m = (*m).max(now)).expect("a locked Value");
    println!("{} is in the KTV (inside: {now})", me.name());
    std::thread::sleep(Duration::from_millis(random(3, 10) * 10)); // 3 to 10 s there
    let now = inside.update(|n| {
        *n -= 1;
        *n
    });
    println!(
        "{} left the KTV (inside: {})",
        me.name(),
        now.expect("a locked Value")
    );
    sem.release().expect("a Semaphore's count has room");
}

fn main() {
    let rooms: u32 = match std::env::args().nth(1) {
        None => 4,
        Some(arg) => arg
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("usage: ktv [ROOMS], ROOMS > 0 (got {arg:?})")),
    };
    println!("{rooms} rooms, {GUESTS} guests");
    let sem = Semaphore::<Os>::new(rooms);
    let inside = Value::<u32, Os>::new(0);
    let most = Value::<u32, Os>::new(0);
    let guests: Vec<Process> = (0..GUESTS)
        .map(|_| {
            let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
            Process::<Os>::new(move || go_ktv(sem, inside, most))
        })
        .collect();
    for guest in &guests {
        guest.start().expect("start a guest");
    }
    for guest in &guests {
        assert_eq!(guest.join(), Ok(0), "a guest failed");
    }
    println!(
        "at most {} guests were inside at once ({rooms} rooms)",
        most.get()
    );
}
