//! A forked child must not inherit a lock that a panic hook of its parent held at the fork.
//! std's default hook holds a process-wide lock while it prints; a child forked while another
//! thread was inside it waited forever at its own first panic (a clean-clone CI run hung so in
//! a lincheck test). Forks now wait until no thread is inside the hook
//! (src/platform/os_process.rs, "the panic hook").
//!
//! Its own test binary: the panic hook is the default one here (other binaries install their
//! own), and no other test forks beside it.

use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use mpcheck::{Os, Process};

/// Far longer than a child that panics takes to end; only a hung child reaches it.
const HUNG: Duration = Duration::from_secs(30);

/// Two threads panic over and over (the default hook prints each panic) while the test forks
/// children that panic: every child ends, with exit code 1. Without the gate every run of this
/// test hung at one of its children. One of the two panics while it holds stderr's lock (as a
/// panic inside `eprintln!`'s formatting does), which a fork also takes: the fork waits for
/// that lock, and that panic's hook must not wait for the fork forever.
#[test]
fn children_that_panic_while_the_parent_panics_beside_them_all_end() {
    let stop = Arc::new(AtomicBool::new(false));
    let panickers: Vec<_> = [false, true]
        .into_iter()
        .map(|holding_stderr| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut panics = 0u64;
                while !stop.load(Relaxed) {
                    let _ = catch_unwind(|| {
                        let _held = holding_stderr.then(|| std::io::stderr().lock());
                        panic!("a panic beside the forks")
                    });
                    panics += 1;
                }
                panics
            })
        })
        .collect();
    for i in 0..40 {
        let child = Process::<Os>::new(|| panic!("the child panics"));
        child.start().expect("a child starts");
        let ended = child
            .join_timeout(HUNG)
            .expect("a started child can be joined");
        if !ended {
            let _ = child.kill();
            let _ = child.join();
            stop.store(true, Relaxed);
            panic!("child {i} hung: it inherited a lock a panic hook of the parent held");
        }
        assert_eq!(
            child.exitcode(),
            Some(1),
            "child {i} ends as a panicking child does"
        );
    }
    stop.store(true, Relaxed);
    for panicker in panickers {
        assert!(panicker.join().expect("the panickers catch their panics") > 0);
    }
}
