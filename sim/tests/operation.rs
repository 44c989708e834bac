//! Operations (`mpcheck_sim::operation`): they label steps with the user's call, the outermost
//! one of a task counts; at `Granularity::Step` they change nothing else (schedules, steps,
//! outcomes), and at `Granularity::Operation` each runs as one step up to where it blocks,
//! reaching the same outcomes in fewer executions.

use std::collections::BTreeSet;
use std::panic::Location;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{
    explore, explore_observed, futex_wait, futex_wake, operation, spawn, AtomicU32, Config,
    FailureKind, Granularity, Outcome,
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
fn search(config: Config, f: fn()) -> (BTreeSet<Outcome>, u64, u64) {
    let mut outcomes = BTreeSet::new();
    let report = explore_observed(config.no_files().ignore_env(), f, |o| {
        outcomes.insert(o.outcome());
    })
    .unwrap();
    assert!(report.complete());
    (outcomes, report.executions(), report.steps())
}

fn step_level() -> Config {
    Config::dfs().granularity(Granularity::Step)
}

#[test]
fn at_step_granularity_operations_change_no_schedule_step_or_outcome() {
    assert_eq!(
        search(step_level(), program::<true>),
        search(step_level(), program::<false>)
    );
    for reduction in [false, true] {
        let config = || step_level().no_files().ignore_env().reduction(reduction);
        let with = explore(config(), program::<true>).unwrap();
        let without = explore(config(), program::<false>).unwrap();
        assert_eq!(
            (with.executions(), with.steps()),
            (without.executions(), without.steps())
        );
    }
}

#[test]
fn at_operation_granularity_an_operation_is_one_step_and_the_outcomes_stay() {
    let (plain, _, _) = search(Config::dfs().reduction(false), program::<true>);
    for reduction in [false, true] {
        let (fine, fine_runs, _) = search(step_level().reduction(reduction), program::<true>);
        let config = Config::dfs().reduction(reduction);
        let (coarse, coarse_runs, _) = search(config.clone(), program::<true>);
        // What each task saw at the coarse granularity, it sees at the fine one too (which
        // also has interleavings inside the operations); reduction loses none of them.
        assert!(coarse.is_subset(&fine), "reduction {reduction}");
        assert_eq!(coarse, plain, "reduction {reduction}");
        assert!(coarse_runs < fine_runs, "{coarse_runs} vs {fine_runs}");
        // Without operations, both granularities are the same search.
        assert_eq!(
            search(config, program::<false>),
            search(step_level().reduction(reduction), program::<false>)
        );
    }
}

/// One task bumps `N` counters in one operation (more objects than a footprint lists), the
/// other reads two of them outside any operation: the reads see all or none of the bumps at
/// `Granularity::Operation`, and reduction reaches the outcomes the plain search does.
fn wide<const N: usize>() {
    let words: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    let w = words.clone();
    let t = spawn(move || {
        let _op = operation(w[0].object_number(), "Wide", "bump", Location::caller());
        for word in w.iter() {
            word.fetch_add(1, SeqCst);
        }
    });
    let first = words[0].load(SeqCst);
    let last = words[N - 1].load(SeqCst);
    assert!(first <= last, "the bump is one step: {first} then {last}");
    t.join();
}

#[test]
fn an_operation_touching_more_objects_than_a_footprint_lists_depends_on_everything() {
    let plain = search(Config::dfs().reduction(false), wide::<12>);
    let reduced = search(Config::dfs(), wide::<12>);
    assert_eq!(plain.0, reduced.0);
    // The bump before both reads, between them, after both.
    assert_eq!(reduced.0.len(), 3);
    // At step granularity the reads may see half the bumps.
    let failure = explore(step_level().no_files().ignore_env(), wide::<12>).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Panic, "{failure}");
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

/// The main task reads, under the toy lock, a count the other task bumps under it: it fails
/// when the other went first.
fn racy() {
    let lock = Arc::new(AtomicU32::new(0));
    let count = Arc::new(AtomicU32::new(0));
    let (l, c) = (lock.clone(), count.clone());
    let t = spawn(move || {
        acquire::<true>(&l);
        c.fetch_add(1, SeqCst);
        release::<true>(&l);
    });
    acquire::<true>(&lock);
    let seen = count.load(SeqCst);
    release::<true>(&lock);
    t.join();
    assert_eq!(seen, 0, "the other task went first");
}

#[test]
fn a_failure_at_operation_granularity_replays_exactly_and_says_its_granularity() {
    let dir = std::env::temp_dir().join(format!("mpcheck-op-replay-{}", std::process::id()));
    let config = Config::dfs().ignore_env().failure_dir(&dir).name("racy");
    let failure = explore(config, racy).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert!(
        failure.to_string().contains("operation granularity"),
        "{failure}"
    );
    let file = failure.file().expect("a replay file").to_owned();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"granularity\": \"operation\""), "{text}");
    let again = mpcheck_sim::replay(&file, racy).unwrap_err();
    assert_eq!(again.kind(), FailureKind::Panic, "{again}");
    assert_eq!(again.trace_text(), failure.trace_text());
    // A granularity this engine does not know is refused, not guessed.
    std::fs::write(&file, text.replace("\"operation\"", "\"coarse\"")).unwrap();
    let refused = mpcheck_sim::replay(&file, racy).unwrap_err();
    assert_eq!(refused.kind(), FailureKind::InvalidInput, "{refused}");
    assert!(refused.message().contains("granularity"), "{refused}");
    // A file from before granularities (format 2, no field) was recorded at step granularity
    // and replays there: its schedule, read at step granularity, is another execution.
    let old = text
        .replace("\"format\": 3", "\"format\": 2")
        .lines()
        .filter(|line| !line.contains("\"granularity\""))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, old).unwrap();
    let stepped = mpcheck_sim::replay(&file, racy);
    assert!(
        stepped
            .as_ref()
            .err()
            .is_none_or(|f| f.trace_text() != failure.trace_text()),
        "a format 2 file replays at step granularity"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
