//! Porting a std program (docs/guide.md, "Porting a std program"): `program.rs` is written
//! against `std::sync` and `std::thread`; this file includes it three times, and only the `use`
//! lines differ:
//!
//! - under std's own paths;
//! - under `mpcheck::facade::os`: the same program on real threads, on mpcheck's futex
//!   primitives;
//! - under `mpcheck::facade::sim`: the same program under the simulator, which explores every
//!   interleaving that matters (exhaustive search at operation granularity) and checks the
//!   count in each.
//!
//! Prints one line for each; `tests/examples.rs` runs it.

mod with_std {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread;

    include!("program.rs");
}

mod on_os {
    use mpcheck::facade::os::sync::atomic::{AtomicUsize, Ordering};
    use mpcheck::facade::os::sync::{Arc, Condvar, Mutex};
    use mpcheck::facade::os::thread;
    use std::collections::VecDeque;

    include!("program.rs");
}

mod under_sim {
    use mpcheck::facade::sim::sync::atomic::{AtomicUsize, Ordering};
    use mpcheck::facade::sim::sync::{Arc, Condvar, Mutex};
    use mpcheck::facade::sim::thread;
    use std::collections::VecDeque;

    include!("program.rs");
}

const WORDS: [&str; 5] = ["ticket", "lock", "queue", "pipe", "event"];

fn main() {
    println!("std: {} letters", with_std::count_letters(&WORDS, 3));
    println!("facade on Os: {} letters", on_os::count_letters(&WORDS, 3));
    // Every interleaving of 2 workers and 2 words, up to equivalence: the count is always
    // right, and nobody waits forever.
    let report = mpcheck::sim::check(mpcheck::sim::Config::dfs(), || {
        assert_eq!(under_sim::count_letters(&WORDS[..2], 2), 10);
    });
    println!(
        "facade under Sim: {} executions, complete: {}",
        report.executions(),
        report.complete()
    );
}
