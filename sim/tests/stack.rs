//! A task that overflows its stack fails its execution — a failure of its own kind, with the
//! trace up to that point and a replay file — and never kills the test binary, whether the
//! recursion reaches scheduling points or not. Stacks are large by default, pooled by size, and
//! the size is part of the replay file.

use std::hint::black_box;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

#[path = "support/scratch.rs"]
mod scratch;

use scratch::Scratch;

use mpcheck_sim::{explore, spawn, AtomicU32, Config, FailureKind};

/// Recursion with a kilobyte on the stack at each level and a scheduling point at each level.
fn deep_with_steps(word: &AtomicU32, depth: u32) -> u32 {
    let frame = black_box([depth as u8; 1024]);
    if depth == 0 {
        return word.load(SeqCst);
    }
    word.fetch_add(1, SeqCst);
    deep_with_steps(word, depth - 1) + frame[7] as u32
}

/// Recursion with a kilobyte on the stack at each level and no scheduling point at all.
fn deep_without_steps(depth: u32) -> u64 {
    let frame = black_box([depth as u8; 1024]);
    if depth == 0 {
        return 0;
    }
    deep_without_steps(depth - 1) + frame[3] as u64
}

fn endless_with_steps() {
    let word = Arc::new(AtomicU32::new(0));
    let w = word.clone();
    let t = spawn(move || deep_with_steps(&w, u32::MAX));
    word.store(1, SeqCst);
    t.join();
}

fn endless_without_steps() {
    let word = Arc::new(AtomicU32::new(0));
    let t = spawn(|| deep_without_steps(u32::MAX));
    word.store(1, SeqCst);
    t.join();
}

#[test]
fn a_recursion_through_scheduling_points_is_a_stack_overflow_failure() {
    let scratch = Scratch::new("steps");
    let config = Config::random(3)
        .failure_dir(&scratch.0)
        .ignore_env()
        .no_shrink();
    let failure = explore(config, endless_with_steps).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::StackOverflow, "{failure}");
    assert!(
        failure
            .message()
            .contains("task 1 overflowed its stack of 8192 KiB"),
        "{failure}"
    );
    assert!(failure.steps().len() > 1000, "the trace up to the overflow");
    let file = failure.file().expect("a replay file");
    let again = mpcheck_sim::replay(file, endless_with_steps).unwrap_err();
    assert_eq!(again.kind(), FailureKind::StackOverflow, "{again}");
    assert_eq!(again.trace_text(), failure.trace_text());
}

#[test]
fn a_recursion_without_scheduling_points_is_caught_on_the_guard_page() {
    let scratch = Scratch::new("trap");
    let config = Config::dfs().failure_dir(&scratch.0).ignore_env();
    let failure = explore(config, endless_without_steps).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::StackOverflow, "{failure}");
    assert!(failure.message().contains("task 1 overflowed"), "{failure}");
    let file = failure.file().expect("a replay file");
    let again = mpcheck_sim::replay(file, endless_without_steps).unwrap_err();
    assert_eq!(again.kind(), FailureKind::StackOverflow, "{again}");
    // The thread goes on exploring: the overflow left nothing behind.
    let report = explore(Config::dfs().ignore_env(), || {
        let t = spawn(|| deep_without_steps(100));
        t.join();
    })
    .unwrap();
    assert!(report.complete());
}

#[test]
fn the_default_stack_holds_what_a_thread_holds() {
    // About a megabyte deep: four times the old default of 256 KiB.
    let report = explore(Config::dfs().ignore_env(), || {
        let t = spawn(|| deep_without_steps(1_000));
        let word = AtomicU32::new(0);
        deep_with_steps(&word, 1_000);
        t.join();
    })
    .unwrap();
    assert!(report.complete());
}

#[test]
fn a_small_stack_is_recorded_and_replayed_at_its_size() {
    let scratch = Scratch::new("size");
    let small = 128 * 1024;
    // Fits in the default stack, not in 128 KiB.
    let scenario = || {
        let word = AtomicU32::new(0);
        deep_with_steps(&word, 400);
    };
    explore(Config::dfs().ignore_env(), scenario).expect("fits in the default stack");
    let config = Config::dfs()
        .stack_size(small)
        .failure_dir(&scratch.0)
        .ignore_env();
    let failure = explore(config, scenario).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::StackOverflow, "{failure}");
    let file = failure.file().expect("a replay file").to_owned();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("\"stack_size\": {small}")), "{text}");
    // Replayed at the recorded size, not the default: the same overflow.
    let again = mpcheck_sim::replay(&file, scenario).unwrap_err();
    assert_eq!(again.kind(), FailureKind::StackOverflow, "{again}");
    // And the small stacks, back in the pool, are not handed to an exploration that asked for
    // the default size.
    explore(Config::dfs().ignore_env(), scenario).expect("the default size again");
}

#[test]
fn a_stack_larger_than_a_gibibyte_is_invalid_input() {
    let program = || {
        AtomicU32::new(0).load(SeqCst);
    };
    for size in [(1 << 30) + 1, 1 << 40, usize::MAX] {
        let config = Config::dfs().stack_size(size).no_files().ignore_env();
        let refused = explore(config, program).unwrap_err();
        assert_eq!(refused.kind(), FailureKind::InvalidInput, "{refused}");
        assert!(
            refused.message().contains(&format!(
                "Config::stack_size asks for a task stack of {size} bytes"
            )),
            "{refused}"
        );
    }
    let config = Config::dfs().stack_size(1 << 30).no_files().ignore_env();
    assert!(
        explore(config, program).unwrap().complete(),
        "1 GiB is allowed"
    );
}

#[test]
fn a_replay_file_that_asks_for_an_impossible_stack_or_unknown_timeouts_is_invalid_input() {
    let scratch = Scratch::new("bad-file");
    let scenario = || {
        let word = AtomicU32::new(0);
        deep_with_steps(&word, 400);
    };
    let config = Config::dfs()
        .stack_size(128 * 1024)
        .failure_dir(&scratch.0)
        .ignore_env();
    let failure = explore(config, scenario).unwrap_err();
    let file = failure.file().expect("a replay file").to_owned();
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = |from: &str, to: &str| {
        assert!(text.contains(from), "{text}");
        let path = scratch.0.join("edited.json");
        std::fs::write(&path, text.replace(from, to)).unwrap();
        path
    };
    // A stack of a few bytes used to run the tasks on it (a segmentation fault); one of
    // usize::MAX bytes, to overflow computing its size (a panic).
    for size in [0, 4096, usize::MAX] {
        let path = edited("\"stack_size\": 131072", &format!("\"stack_size\": {size}"));
        let refused = mpcheck_sim::replay(&path, scenario).unwrap_err();
        assert_eq!(refused.kind(), FailureKind::InvalidInput, "{refused}");
        assert!(
            refused
                .message()
                .contains(&format!("asks for a task stack of {size} bytes")),
            "{refused}"
        );
    }
    // Timeouts the engine does not know used to replay as `race`.
    let path = edited("\"timeouts\": \"race\"", "\"timeouts\": \"sometimes\"");
    for refused in [
        mpcheck_sim::replay(&path, scenario).unwrap_err(),
        mpcheck_sim::inspect(&path).unwrap_err(),
    ] {
        assert_eq!(refused.kind(), FailureKind::InvalidInput, "{refused}");
        assert!(
            refused.message().contains("has timeouts \"sometimes\""),
            "{refused}"
        );
    }
}
