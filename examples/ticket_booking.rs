//! Ticket booking with a [`Lock`]: the seed "python进程数据隔离,守护进程,锁,信号量和事件"
//! (its 锁 section; seed 002 in `/work/shared/seeds`).
//!
//! Ten buyers (processes) share one file, `db`, that holds the tickets left. Each first looks
//! (`search`, without the lock), then buys (`buy`, under the lock): it reads the count, buys a
//! ticket if there is one, and writes the count back. The lock makes read-check-write one step,
//! so the tickets are never oversold: exactly as many buyers succeed as there were tickets.
//!
//! ```text
//! cargo run --example ticket_booking
//! ```
//!
//! Differences from the Python program, each on purpose:
//! - the `db` file lives in a directory of its own under the system's temp dir (named with the
//!   pid), removed at the end;
//! - the count is written to a new file renamed over `db`, so the unlocked `search` of another
//!   buyer reads the old or the new file, never a half-written one (the seed's
//!   `open("db", "w")` truncates first: a concurrent `json.load` can then fail on an empty file);
//! - the sleeps are 20 ms, not 0.2 s;
//! - the main process joins the buyers and prints what is left.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mpcheck::{Lock, Os, Process};

/// Buyers, as in the seed (`for i in range(10)`).
const BUYERS: usize = 10;
/// Tickets in `db` at the start.
const TICKETS: u32 = 3;
/// The seed's `time.sleep(0.2)`, shortened.
const NETWORK_DELAY: Duration = Duration::from_millis(20);

/// `{"count": N}`: the seed's `json.dump(content, f)`.
fn write_count(db: &Path, count: u32) {
    let fresh = db.with_extension("new");
    std::fs::write(&fresh, format!("{{\"count\": {count}}}\n")).expect("write the new db");
    std::fs::rename(&fresh, db).expect("replace db");
}

/// The seed's `json.load(f)["count"]`.
fn read_count(db: &Path) -> u32 {
    let text = std::fs::read_to_string(db).expect("read db");
    text.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split_once(':')
        .and_then(|(key, value)| (key.trim() == "\"count\"").then_some(value))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("db is not {{\"count\": N}}: {text:?}"))
}

fn search(i: usize, db: &Path) {
    let count = read_count(db);
    std::thread::sleep(NETWORK_DELAY);
    println!("user {i} is looking: {count} tickets left");
}

fn buy(i: usize, db: &Path) {
    let count = read_count(db);
    std::thread::sleep(NETWORK_DELAY);
    println!("user {i} is looking: {count} tickets left");
    if count > 0 {
        println!("user {i} bought a ticket! ({count} -> {} left)", count - 1);
        write_count(db, count - 1);
    }
}

/// The seed's `test(i, lock)`.
fn buyer(i: usize, lock: Lock, db: &Path) {
    search(i, db);
    lock.acquire().expect("no buyer dies holding the lock");
    buy(i, db);
    lock.release().expect("the lock is held");
}

/// The temp directory, removed when the main process is done with it (the children end with
/// `_exit`, which runs no destructor of the copy they have).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("mpcheck-ticket-booking-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).expect("create the temp dir");
    let db = dir.0.join("db");
    write_count(&db, TICKETS);
    println!("{TICKETS} tickets for {BUYERS} buyers");

    let lock = Lock::<Os>::new();
    let buyers: Vec<Process> = (0..BUYERS)
        .map(|i| {
            let (lock, db) = (lock.clone(), db.clone());
            Process::<Os>::new(move || buyer(i, lock, &db))
        })
        .collect();
    for buyer in &buyers {
        buyer.start().expect("start a buyer");
    }
    for buyer in &buyers {
        assert_eq!(buyer.join(), Ok(0), "a buyer failed");
    }
    println!("all buyers done: {} tickets left", read_count(&db));
}
