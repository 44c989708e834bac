//! Data isolation between processes: the seed "python进程数据隔离,守护进程,锁,信号量和事件"
//! (its 进程之间的数据隔离问题 section; seed 002 in `/work/shared/seeds`).
//!
//! Python's `n = 100`, and a child that does `global n; n -= 1`: the child changes its own copy
//! (a forked child has a copy of the parent's memory), the parent's `n` is still 100. The same
//! for a local variable moved into the child. A [`Value`], made before the child, is one object
//! in shared memory: the child's change is the parent's too.
//!
//! ```text
//! cargo run --example data_isolation
//! ```
//!
//! The seed's parent prints `n` right after `start()`; here it joins the child first, so the
//! child has certainly changed its `n` when the parent prints its own.

use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

use mpcheck::{Os, Process, Value};

/// The seed's global `n = 100`.
static N: AtomicI32 = AtomicI32::new(100);

/// The seed's `fun()`: `global n; n -= 1`.
fn fun() -> i32 {
    N.fetch_sub(1, Relaxed) - 1
}

fn main() {
    let p = Process::<Os>::new(|| println!("child: global n = {}", fun()));
    p.start().expect("start");
    assert_eq!(p.join(), Ok(0));
    println!("parent: global n = {}", N.load(Relaxed)); // 100

    let mut local = vec![1, 2, 3];
    let mut theirs = local.clone();
    let p = Process::<Os>::new(move || {
        theirs.push(4);
        println!("child: local = {theirs:?}");
    });
    p.start().expect("start");
    assert_eq!(p.join(), Ok(0));
    local.push(0); // the parent's own copy, changed only by the parent
    println!("parent: local = {local:?}"); // [1, 2, 3, 0]

    let shared = Value::<i32, Os>::new(100);
    let theirs = shared.clone();
    let p = Process::<Os>::new(move || {
        let now = theirs.update(|n| {
            *n -= 1;
            *n
        });
        println!("child: shared Value = {}", now.expect("a locked Value"));
    });
    p.start().expect("start");
    assert_eq!(p.join(), Ok(0));
    println!("parent: shared Value = {}", shared.get()); // 99
}
