//! Operations (`mpcheck_sim::operation`): they label steps with the user's call, the outermost
//! one of a task counts, and they change nothing else (schedules, steps, outcomes).

use std::collections::BTreeSet;
use std::panic::Location;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{
    explore, explore_observed, futex_wait, futex_wake, operation, spawn, AtomicU32, Config,
    FailureKind, Outcome,
};

/// A toy lock on `word`: its `acquire` opens an operation when `OPS`, as a primitive does.
#[track_caller]
fn acquire<const OPS: bool>(word: &AtomicU32) {
    let at = Location::caller();
    let _op = OPS.then(|| operation(word.object_number(), "Toy", "acquire", at));
    while word.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
        futex_wait(word, 1, None);
    }
}

#[track_caller]
fn release<const OPS: bool>(word: &AtomicU32) {
    let at = Location::caller();
    let _op = OPS.then(|| operation(word.object_number(), "Toy", "release", at));
    word.store(0, SeqCst);
    futex_wake(word, 1);
}

/// Two tasks each take the toy lock and bump a counter under it, racing with a plain atomic.
fn program<const OPS: bool>() {
    let lock = Arc::new(AtomicU32::new(0));
    let count = Arc::new(AtomicU32::new(0));
    lock.label("Toy");
    let (l, c) = (lock.clone(), count.clone());
    let t = spawn(move || {
        acquire::<OPS>(&l);
        c.fetch_add(1, SeqCst);
        release::<OPS>(&l);
    });
    acquire::<OPS>(&lock);
    count.fetch_add(1, SeqCst);
    release::<OPS>(&lock);
    t.join();
}

/// Every outcome of an exhaustive search, and its counts.
fn search(f: fn()) -> (BTreeSet<Outcome>, u64, u64) {
    let mut outcomes = BTreeSet::new();
    let report = explore_observed(Config::dfs().no_files().ignore_env(), f, |o| {
        outcomes.insert(o.outcome());
    })
    .unwrap();
    assert!(report.complete());
    (outcomes, report.executions(), report.steps())
}

#[test]
fn operations_change_no_schedule_step_or_outcome() {
    assert_eq!(search(program::<true>), search(program::<false>));
    for reduction in [false, true] {
        let config = || Config::dfs().no_files().ignore_env().reduction(reduction);
        let with = explore(config(), program::<true>).unwrap();
        let without = explore(config(), program::<false>).unwrap();
        assert_eq!(
            (with.executions(), with.steps()),
            (without.executions(), without.steps())
        );
    }
}

#[test]
fn steps_carry_the_outermost_operation() {
    fn scenario() {
        let word = AtomicU32::new(0);
        word.label("Toy");
        let outer = operation(word.object_number(), "Toy", "outer", Location::caller());
        word.load(SeqCst);
        acquire::<true>(&word); // an operation inside another: still the outer one
        drop(outer);
        word.load(SeqCst);
        panic!("the end");
    }
    const OUTER: u32 = line!() - 7;
    let failure = explore(Config::dfs().no_files().ignore_env(), scenario).unwrap_err();
    let steps: Vec<_> = failure.steps().iter().filter(|s| s.obj != 0).collect();
    let (inside, after) = steps.split_at(steps.len() - 1);
    for step in inside {
        let caller = step.caller.expect("a step in the operation");
        assert_eq!((caller.operation, caller.loc.line()), ("outer", OUTER));
        assert_eq!(caller.to_string(), format!("Toy#{}.outer", step.obj));
        assert_eq!(step.loc.file(), file!());
    }
    assert_eq!(after[0].caller, None);
    let trace = failure.trace_text();
    let place = format!("Toy#1.outer: load → 0  operation.rs:{OUTER}");
    assert!(trace.contains(&place), "no {place:?} in:\n{trace}");
    assert!(
        trace.contains(&format!("load Toy#1 → 1  operation.rs:{}", OUTER + 4)),
        "{trace}"
    );
    let internal = failure.trace_text_internal();
    let place = format!("Toy#1.outer: cas 0 → 1  operation.rs:{OUTER} (operation.rs:");
    assert!(internal.contains(&place), "no {place:?} in:\n{internal}");
}

#[test]
fn a_deadlock_names_the_operations() {
    fn scenario() {
        let word = AtomicU32::new(0);
        word.label("Toy");
        acquire::<true>(&word);
        acquire::<true>(&word);
    }
    const FIRST: u32 = line!() - 3;
    let failure = explore(Config::dfs().no_files().ignore_env(), scenario).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock);
    let blocked = &failure.blocked()[0];
    assert_eq!(blocked.at.operation.as_deref(), Some("Toy#1.acquire"));
    assert!(
        blocked
            .at
            .line
            .starts_with(&format!("{}:{}:", file!(), FIRST + 1)),
        "{failure}"
    );
    assert!(blocked.at.internal.starts_with(&format!("{}:", file!())));
    let (holder, taken) = blocked.holder.as_ref().unwrap();
    assert_eq!(*holder, 0);
    assert_eq!(taken.operation.as_deref(), Some("Toy#1.acquire"));
    assert!(taken.line.starts_with(&format!("{}:{FIRST}:", file!())));
    let said = format!(
        "task 0 waits for Toy#1 in Toy#1.acquire at {}; held by task 0 (taken in Toy#1.acquire \
         at {})",
        blocked.at.line, taken.line
    );
    assert!(failure.message().contains(&said), "{failure}");
}

#[test]
fn outside_an_execution_an_operation_does_nothing() {
    let word = AtomicU32::new(0);
    assert_eq!(word.object_number(), 0);
    let _op = operation(0, "Toy", "acquire", Location::caller());
    acquire::<true>(&word);
    assert_eq!(word.load(SeqCst), 1);
}
