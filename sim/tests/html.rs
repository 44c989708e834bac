//! `Failure::html`: the failing execution as a page, with every step, escaped text, the tasks'
//! processes, switches and preemptions, and for a deadlock the blocked tasks.

use std::panic::Location;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{
    explore, futex_wait, operation, spawn_process, AtomicU32, Config, FailureKind, Op,
};

/// A toy lock's acquire, as a primitive's operation.
#[track_caller]
fn acquire(word: &AtomicU32) {
    let at = Location::caller();
    let _op = operation(word.object_number(), "Toy", "acquire", at);
    while word.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
        futex_wait(word, 1, None);
    }
}

/// Two processes take two toy locks in opposite orders: a deadlock.
fn lock_order() {
    let (a, b) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    a.label("Toy");
    b.label("Toy");
    let (a1, b1) = (a.clone(), b.clone());
    let first = spawn_process(move || {
        acquire(&a1);
        acquire(&b1);
    });
    let second = spawn_process(move || {
        acquire(&b);
        acquire(&a);
    });
    first.join();
    second.join();
}

#[test]
fn a_deadlock_s_page_shows_every_step_the_processes_and_the_blocked_tasks() {
    let failure = explore(Config::dfs().no_files().ignore_env(), lock_order).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    let page = failure.html("lock <order> & \"co\"", Some("replay it"));
    assert!(page.starts_with("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\""));
    assert!(
        page.contains("lock &lt;order&gt; &amp; &quot;co&quot;"),
        "{page}"
    );
    assert!(!page.contains("<order>"));
    assert!(page.contains("replay it"));
    // A row per step, a lane per task, each task's process.
    assert_eq!(
        page.matches("<tr class=\"row").count(),
        failure.steps().len()
    );
    let tasks = failure.steps().iter().map(|s| s.task).max().unwrap() + 1;
    assert_eq!(tasks, 3);
    assert_eq!(page.matches("<th class=\"lane\"").count(), tasks as usize);
    assert!(page.contains("task 0 (main), process 1</th>"), "{page}");
    assert!(page.contains("task 1, process 2</th>"), "{page}");
    assert!(page.contains("task 2, process 3</th>"), "{page}");
    // The operations and the lines of this file that called them.
    assert!(page.contains("<span class=\"op\">Toy#"), "{page}");
    assert!(page.contains("html.rs:"), "{page}");
    assert!(page.contains("title=\"inside the primitive: "), "{page}");
    // Switches, and as many preemptions as the failure counts.
    let switches = failure
        .steps()
        .windows(2)
        .filter(|w| w[0].task != w[1].task)
        .count();
    assert_eq!(page.matches("<tr class=\"row switch").count(), switches);
    assert_eq!(
        page.matches(" preemption\"").count(),
        failure.preemptions() as usize
    );
    // The blocked tasks, and the objects with who touched them.
    assert!(page.contains("<h2>Blocked tasks</h2>"), "{page}");
    assert_eq!(
        page.matches("<tr class=\"blocked-task\">").count(),
        failure.blocked().len()
    );
    for b in failure.blocked() {
        assert!(page.contains(&b.waits_for), "{}", b.waits_for);
    }
    assert!(page.contains("<td>Toy#"), "{page}");
    assert!(page.contains("task 1, task 2</td>"), "{page}");
    // Nothing fetched from elsewhere.
    assert!(!page.contains("src="));
    assert!(!page.contains("href=\"http"));
    assert!(!page.contains("<script"));
    // Every step's full text, however long: the text trace shortens none here either.
    assert!(failure.steps().iter().any(|s| s.op == Op::FutexWait));
    assert!(page.contains("futex_wait"));
}

#[test]
fn a_panic_s_message_is_escaped() {
    let failure = explore(Config::dfs().no_files().ignore_env(), || {
        panic!("<b>a & 'b'</b>")
    })
    .unwrap_err();
    let page = failure.html("t", None);
    assert!(
        page.contains("&lt;b&gt;a &amp; &apos;b&apos;&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b>"));
    assert!(page.contains("(no replay file)"), "{page}");
}
