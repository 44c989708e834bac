//! Traces and deadlock reports name the line of the user's code that called a primitive, with
//! the primitive and the operation (`Lock#2.acquire  user_lines.rs:40`), not the line inside the
//! primitive (`src/sync/raw.rs:22`), which only the internal rendering shows.
//!
//! Each scenario below calls operations of one family of primitives, each on a line of its own
//! whose number it notes with `line!()`, and then fails (an assertion, or a deadlock), under
//! `Sim`. The last test checks, in the sources, that every public operation of every primitive
//! is marked, so that none can be added without it.

use std::time::Duration;

use mpcheck::sim::{explore, Config, Failure, FailureKind, Granularity, Sim, Step};
use mpcheck::{
    pipe, thread, Array, Barrier, BoundedSemaphore, Condition, Event, JoinableQueue, Lock, Queue,
    RLock, Semaphore, SimpleQueue, Value,
};

/// Where the primitives live: no step of the default trace may name these.
const INTERNAL: [&str; 7] = [
    "src/sync/",
    "src/facade/",
    "src/queue/",
    "src/shared.rs",
    "src/pipe.rs",
    "src/platform/",
    "src/thread.rs",
];

/// Operations the scenario called: (primitive, operation, line of this file).
type Called = Vec<(&'static str, &'static str, u32)>;

/// Runs `scenario` (one task, which fails at its end) and returns its failure.
fn failure_of(scenario: fn()) -> Failure {
    explore(Config::dfs().ignore_env().no_files(), scenario)
        .expect_err("the scenario fails at its end")
}

/// This file as a trace shows it.
fn this_file() -> &'static str {
    file!().rsplit('/').next().unwrap()
}

/// The trace's row for a step of `op` (`Lock#2.acquire`) called at `line`, if there is one.
fn row<'t>(trace: &'t str, op: &str, line: u32) -> Option<&'t str> {
    let place = format!("{}:{line}", this_file());
    trace.lines().find(|row| {
        row.contains(&format!("{op}: "))
            && row
                .split(&place)
                .nth(1)
                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Every operation in `called` took a step that names it and the line of this file that called
/// it, in the steps and in the trace; no step names a line inside the primitives in the default
/// trace, and the internal trace still has them.
#[track_caller]
fn assert_user_lines(failure: &Failure, called: &Called) {
    let trace = failure.trace_text();
    for &(primitive, operation, line) in called {
        let step = failure
            .steps()
            .iter()
            .find(|s| {
                s.caller.is_some_and(|c| {
                    c.primitive == primitive
                        && c.operation == operation
                        && c.loc.file() == file!()
                        && c.loc.line() == line
                })
            })
            .unwrap_or_else(|| {
                panic!("no step of {primitive}.{operation} called at line {line}:\n{failure}")
            });
        let caller = step.caller.unwrap().to_string();
        assert!(
            caller.starts_with(&format!("{primitive}#")) && caller.ends_with(operation),
            "{caller}"
        );
        assert!(
            row(&trace, &caller, line).is_some(),
            "no row names {caller} at line {line}:\n{trace}"
        );
    }
    for step in failure.steps() {
        match step.caller {
            Some(caller) => assert_eq!(caller.loc.file(), file!(), "{caller}: {step:?}"),
            // The scenarios touch shared state only through the primitives' operations.
            None => assert_eq!(step.obj, 0, "outside any operation: {step:?}\n{failure}"),
        }
    }
    for internal in INTERNAL {
        assert!(!trace.contains(internal), "{internal} in:\n{trace}");
    }
    let internal = failure.trace_text_internal();
    assert!(
        INTERNAL.iter().any(|i| internal.contains(i)),
        "the internal trace has the primitives' lines:\n{internal}"
    );
}

/// Notes the line it is called from with `called`, then evaluates to `$e`.
macro_rules! at {
    ($called:ident, $primitive:literal . $operation:literal, $e:expr) => {{
        $called.push(($primitive, $operation, line!()));
        $e
    }};
}

/// The scenarios record what they called here; the test reads it after the failure.
fn record(called: Called) -> ! {
    CALLED.with(|c| *c.borrow_mut() = called);
    panic!("the scenario's end");
}

thread_local! {
    static CALLED: std::cell::RefCell<Called> = const { std::cell::RefCell::new(Vec::new()) };
}

fn called() -> Called {
    CALLED.with(|c| c.take())
}

fn locks() {
    let mut c = Called::new();
    let lock = Lock::<Sim>::new();
    at!(c, "Lock"."acquire", lock.acquire()).unwrap();
    at!(c, "Lock"."release", lock.release().unwrap());
    assert!(at!(c, "Lock"."try_acquire", lock.try_acquire()));
    at!(c, "Lock"."release", lock.release().unwrap());
    assert!(at!(c, "Lock"."acquire_timeout", lock.acquire_timeout(Duration::from_secs(1))));
    assert!(at!(c, "Lock"."is_locked", lock.is_locked()));
    at!(c, "Lock"."release", lock.release().unwrap());
    let guard = at!(c, "Lock"."lock", lock.lock());
    // A guard's release names the line that made the guard.
    c.push(("Lock", "release (guard)", line!() - 2));
    drop(guard);
    drop(at!(c, "Lock"."try_lock", lock.try_lock()));
    c.push(("Lock", "release (guard)", line!() - 1));

    let rlock = RLock::<Sim>::new();
    at!(c, "RLock"."acquire", rlock.acquire()).unwrap();
    assert!(at!(c, "RLock"."try_acquire", rlock.try_acquire()));
    assert!(at!(c, "RLock"."acquire_timeout", rlock.acquire_timeout(Duration::ZERO)));
    assert!(at!(c, "RLock"."is_owned", rlock.is_owned()));
    assert!(at!(c, "RLock"."is_locked", rlock.is_locked()));
    for _ in 0..3 {
        at!(c, "RLock"."release", rlock.release().unwrap());
    }
    drop(at!(c, "RLock"."lock", rlock.lock()));
    c.push(("RLock", "release (guard)", line!() - 1));
    drop(at!(c, "RLock"."try_lock", rlock.try_lock()));
    record(c)
}

/// The std-shaped facade's operations (its plain atomic accesses are steps outside any
/// operation, so the scenario uses only a narrow atomic's read-modify-write, an operation).
fn facade() {
    use mpcheck::facade::sim::sync::atomic::{AtomicU8, Ordering};
    use mpcheck::facade::sim::sync::{Barrier, Condvar, Mutex, Once, RwLock};

    let mut c = Called::new();
    let mutex = Mutex::new(1);
    let guard = at!(c, "Mutex"."lock", mutex.lock()).unwrap();
    let cvar = Condvar::new();
    at!(c, "Condvar"."notify_one", cvar.notify_one());
    at!(c, "Condvar"."notify_all", cvar.notify_all());
    let (guard, _) =
        at!(c, "Condvar"."wait_timeout", cvar.wait_timeout(guard, Duration::ZERO)).unwrap();
    // The guard a wait gives back names the wait's line.
    c.push(("Mutex", "unlock (guard)", line!() - 2));
    drop(guard);
    drop(at!(c, "Mutex"."try_lock", mutex.try_lock()));
    let rw = RwLock::new(2);
    drop(at!(c, "RwLock"."read", rw.read()));
    c.push(("RwLock", "read_unlock (guard)", line!() - 1));
    drop(at!(c, "RwLock"."write", rw.write()));
    c.push(("RwLock", "write_unlock (guard)", line!() - 1));
    drop(at!(c, "RwLock"."try_read", rw.try_read()));
    drop(at!(c, "RwLock"."try_write", rw.try_write()));
    assert!(at!(c, "Barrier"."wait", Barrier::new(1).wait()).is_leader());
    let once = Once::new();
    at!(c, "Once"."call_once", once.call_once(|| {}));
    assert!(at!(c, "Once"."is_completed", once.is_completed()));
    let byte = AtomicU8::new(255);
    assert_eq!(
        at!(c, "AtomicU8"."fetch_add", byte.fetch_add(1, Ordering::SeqCst)),
        255
    );
    record(c)
}

#[test]
fn the_facade_names_the_callers_lines() {
    assert_user_lines(&failure_of(facade), &called());
}

fn semaphores() {
    let mut c = Called::new();
    let s = Semaphore::<Sim>::new(1);
    at!(c, "Semaphore"."acquire", s.acquire().unwrap());
    at!(c, "Semaphore"."release", s.release().unwrap());
    assert!(at!(c, "Semaphore"."try_acquire", s.try_acquire()));
    assert!(!at!(c, "Semaphore"."acquire_timeout", s.acquire_timeout(Duration::ZERO)));
    assert_eq!(at!(c, "Semaphore"."get_value", s.get_value()), 0);
    at!(c, "Semaphore"."release", s.release().unwrap());
    drop(at!(c, "Semaphore"."guard", s.guard()));
    c.push(("Semaphore", "release (guard)", line!() - 1));
    let b = BoundedSemaphore::<Sim>::new(1);
    at!(c, "BoundedSemaphore"."acquire", b.acquire().unwrap());
    at!(c, "BoundedSemaphore"."release", b.release().unwrap());
    assert!(at!(c, "BoundedSemaphore"."release", b.release()).is_err());
    drop(at!(c, "BoundedSemaphore"."guard", b.guard()));
    record(c)
}

fn events_conditions_barriers() {
    let mut c = Called::new();
    let e = Event::<Sim>::new();
    at!(c, "Event"."set", e.set());
    assert!(at!(c, "Event"."is_set", e.is_set()));
    at!(c, "Event"."wait", e.wait());
    assert!(at!(c, "Event"."wait_timeout", e.wait_timeout(Duration::ZERO)));
    at!(c, "Event"."clear", e.clear());

    let cond = Condition::<Sim>::new();
    at!(c, "Condition"."acquire", cond.acquire()).unwrap();
    at!(c, "Condition"."notify", cond.notify(1).unwrap());
    at!(c, "Condition"."notify_all", cond.notify_all().unwrap());
    assert!(!at!(c, "Condition"."wait_timeout", cond.wait_timeout(Duration::ZERO)).unwrap());
    assert!(at!(c, "Condition"."wait_for", cond.wait_for(|| true)).unwrap());
    at!(c, "Condition"."release", cond.release().unwrap());
    let held = at!(c, "Condition"."lock", cond.lock());
    let zero = Duration::ZERO;
    let ready = at!(c, "Condition"."wait_for_timeout", cond.wait_for_timeout(|| false, zero));
    assert_eq!(ready, Ok(false));
    drop(held);

    let barrier = Barrier::<Sim>::new(1);
    assert_eq!(at!(c, "Barrier"."wait", barrier.wait()).unwrap(), 0);
    assert_eq!(
        at!(c, "Barrier"."wait_timeout", barrier.wait_timeout(Duration::ZERO)).unwrap(),
        0
    );
    assert_eq!(at!(c, "Barrier"."n_waiting", barrier.n_waiting()), 0);
    at!(c, "Barrier"."abort", barrier.abort());
    assert!(at!(c, "Barrier"."broken", barrier.broken()));
    at!(c, "Barrier"."reset", barrier.reset());
    record(c)
}

fn queues() {
    let mut c = Called::new();
    let q = Queue::<u8, Sim>::with_capacity(Some(2), 16).unwrap();
    at!(c, "Queue"."put", q.put(1).unwrap());
    at!(c, "Queue"."put_timeout", q.put_timeout(2, Duration::ZERO).unwrap());
    assert!(at!(c, "Queue"."try_put", q.try_put(3)).is_err());
    assert_eq!(at!(c, "Queue"."qsize", q.qsize()), 2);
    assert!(at!(c, "Queue"."full", q.full()));
    assert_eq!(at!(c, "Queue"."get", q.get()).unwrap(), 1);
    assert_eq!(
        at!(c, "Queue"."get_timeout", q.get_timeout(Duration::ZERO)).unwrap(),
        2
    );
    assert!(at!(c, "Queue"."try_get", q.try_get()).is_err());
    assert!(at!(c, "Queue"."empty", q.empty()));
    at!(c, "Queue"."close", q.close());
    assert!(at!(c, "Queue"."is_closed", q.is_closed()));

    let s = SimpleQueue::<u8, Sim>::new();
    at!(c, "SimpleQueue"."put", s.put(1).unwrap());
    assert_eq!(at!(c, "SimpleQueue"."get", s.get()).unwrap(), 1);
    assert!(at!(c, "SimpleQueue"."empty", s.empty()));
    at!(c, "SimpleQueue"."close", s.close());

    let j = JoinableQueue::<u8, Sim>::with_capacity(None, 16).unwrap();
    // Queue's operations, through `Deref`, are the JoinableQueue's.
    at!(c, "JoinableQueue"."put", j.put(1).unwrap());
    assert_eq!(at!(c, "JoinableQueue"."get", j.get()).unwrap(), 1);
    at!(c, "JoinableQueue"."task_done", j.task_done().unwrap());
    at!(c, "JoinableQueue"."join", j.join());
    record(c)
}

fn pipes() {
    let mut c = Called::new();
    let (a, b) = pipe::<u8, Sim>(true).unwrap();
    let pipe_line = line!() - 1;
    at!(c, "Connection"."send", a.send(&7).unwrap());
    assert!(at!(c, "Connection"."poll", b.poll(None)).unwrap());
    assert_eq!(at!(c, "Connection"."recv", b.recv()).unwrap(), 7);
    at!(c, "Connection"."send_bytes", b.send_bytes(&[1, 2]).unwrap());
    assert_eq!(
        at!(c, "Connection"."recv_bytes", a.recv_bytes()).unwrap(),
        [1, 2]
    );
    at!(c, "Connection"."close", a.close());
    // Dropping the last handle of an end closes it: that names the line that made the pipe.
    drop(b);
    c.push(("Connection", "drop", pipe_line));
    record(c)
}

fn values_and_arrays() {
    let mut c = Called::new();
    let v = at!(c, "Value"."new", Value::<u64, Sim>::new(1));
    at!(c, "Value"."set", v.set(2));
    assert_eq!(at!(c, "Value"."get", v.get()), 2);
    assert_eq!(at!(c, "Value"."update", v.update(|n| *n += 1)), Ok(()));
    let raw = at!(c, "RawValue"."raw", Value::<u32, Sim>::raw(5));
    assert_eq!(at!(c, "RawValue"."get", raw.get()), 5);

    let a = at!(c, "Array"."from_slice", Array::<u16, Sim>::from_slice(&[0, 1, 0])).unwrap();
    at!(c, "Array"."set", a.set(1, 9).unwrap());
    assert_eq!(at!(c, "Array"."get", a.get(1)).unwrap(), 9);
    assert_eq!(at!(c, "Array"."to_vec", a.to_vec()), [0, 9, 0]);
    let view = at!(c, "Array"."locked", a.locked()).unwrap();
    at!(c, "Array"."set", view.set(2, 4).unwrap());
    assert_eq!(at!(c, "Array"."get", view.get(2)).unwrap(), 4);
    assert_eq!(at!(c, "Array"."to_vec", view.to_vec()), [0, 9, 4]);
    drop(view);
    record(c)
}

#[test]
fn sync_primitives_name_the_callers_lines() {
    for scenario in [locks, semaphores, events_conditions_barriers] {
        let failure = failure_of(scenario);
        assert_eq!(failure.kind(), FailureKind::Panic, "{failure}");
        assert_user_lines(&failure, &called());
    }
}

#[test]
fn queues_name_the_callers_lines() {
    let failure = failure_of(queues);
    assert_user_lines(&failure, &called());
    // Objects are numbered by first use, not when labelled: a queue is not numbered after the
    // thousands of slot words its ring labels (a SimpleQueue has the default capacity).
    let trace = failure.trace_text();
    assert!(trace.contains("Queue#1.put"), "{trace}");
    let number: u32 = trace
        .split("SimpleQueue#")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse().ok())
        .expect("the SimpleQueue's operations are in the trace");
    assert!(number < 100, "SimpleQueue#{number}");
}

#[test]
fn pipes_name_the_callers_lines() {
    assert_user_lines(&failure_of(pipes), &called());
}

#[test]
fn values_and_arrays_name_the_callers_lines() {
    assert_user_lines(&failure_of(values_and_arrays), &called());
}

/// Spawn, a task's start and join name the lines of `thread::spawn` and `join`.
#[test]
fn spawn_and_join_name_the_callers_lines() {
    fn scenario() {
        let task = thread::spawn::<Sim, _, _>(|| 1);
        task.join().unwrap();
        panic!("the scenario's end");
    }
    const SPAWN: u32 = line!() - 4;
    let failure = failure_of(scenario);
    let line_of = |op: &str| {
        let step: &Step = failure
            .steps()
            .iter()
            .find(|s| s.op.name() == op && s.task == u32::from(op == "start"))
            .unwrap_or_else(|| panic!("no {op} step:\n{failure}"));
        assert_eq!(step.loc.file(), file!(), "{failure}");
        step.loc.line()
    };
    assert_eq!(line_of("spawn"), SPAWN);
    assert_eq!(line_of("start"), SPAWN);
    assert_eq!(line_of("join"), SPAWN + 1);
    let trace = failure.trace_text();
    for (what, line) in [
        ("spawn task 1", SPAWN),
        ("start", SPAWN),
        ("join task 1", SPAWN + 1),
    ] {
        let place = format!("{what}  {}:{line} ", this_file());
        assert!(trace.contains(&place), "no {place:?} in:\n{trace}");
    }
    for internal in INTERNAL {
        assert!(!trace.contains(internal), "{internal} in:\n{trace}");
    }
}

/// A deadlock report says, for each blocked task, the operation it waits in and the user's line
/// that called it, and the same of the task that took what it waits for.
#[test]
fn a_deadlock_names_the_callers_lines() {
    fn scenario() {
        let a = Lock::<Sim>::new();
        let b = Lock::<Sim>::new();
        let (a1, b1) = (a.clone(), b.clone());
        let task = thread::spawn::<Sim, _, _>(move || {
            let _a = a1.lock();
            let _b = b1.lock();
        });
        let _b = b.lock();
        let _a = a.lock();
        drop((_a, _b));
        task.join().unwrap();
    }
    const TASK_A: u32 = line!() - 8;
    const MAIN_B: u32 = TASK_A + 3;
    // At both granularities: at the operation one, each task waits on its guard (the lock is
    // not free), not in a futex wait.
    for granularity in [Granularity::Operation, Granularity::Step] {
        let config = Config::dfs().granularity(granularity);
        deadlock_names_the_callers_lines(config, scenario, TASK_A, MAIN_B);
    }
}

fn deadlock_names_the_callers_lines(config: Config, scenario: fn(), task_a: u32, main_b: u32) {
    let failure = explore(config.ignore_env().no_files(), scenario).unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Deadlock, "{failure}");
    let here = |line: u32| format!("{}:{line}:", file!());
    let mut blocked: Vec<_> = failure.blocked().to_vec();
    blocked.sort_by_key(|b| b.task);
    let [main, task] = &blocked[..] else {
        panic!("two blocked tasks:\n{failure}");
    };
    // Task 0 waits in `a.lock()` for the lock task 1 took in `a1.lock()`; task 1 in `b1.lock()`
    // for the lock task 0 took in `b.lock()`.
    for (blocked, waits_at, holder, taken_at) in
        [(main, main_b + 1, 1, task_a), (task, task_a + 1, 0, main_b)]
    {
        let lock = &blocked.waits_for;
        assert_eq!(
            blocked.at.operation,
            Some(format!("{lock}.lock")),
            "{failure}"
        );
        assert!(blocked.at.line.starts_with(&here(waits_at)), "{failure}");
        assert!(blocked.at.internal.contains("src/sync/raw.rs"), "{failure}");
        let (by, site) = blocked.holder.as_ref().expect("a holder");
        assert_eq!(*by, holder, "{failure}");
        assert_eq!(site.operation, Some(format!("{lock}.lock")), "{failure}");
        assert!(site.line.starts_with(&here(taken_at)), "{failure}");
        let said = format!(
            "task {} waits for {lock} in {lock}.lock at {}; held by task {holder} (taken in \
             {lock}.lock at {})",
            blocked.task, blocked.at.line, site.line
        );
        assert!(
            failure.message().contains(&said),
            "no {said:?} in {failure}"
        );
    }
    for internal in INTERNAL {
        assert!(!failure.message().contains(internal), "{failure}");
        assert!(!failure.trace_text().contains(internal), "{failure}");
    }
}

/// Every public method of a primitive that takes `&self` is `#[track_caller]` and opens its
/// operation first (`let _op = P::operation(...)` or a primitive's own `self.operation(...)`, or
/// `let site = P::site();` then
/// `P::operation_at(...)` for one that makes a guard); `thread::spawn` and `JoinHandle::join`
/// are `#[track_caller]`. A new operation without the mark fails here.
#[test]
fn every_public_operation_is_marked() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        "src/sync/lock.rs",
        "src/sync/rlock.rs",
        "src/sync/semaphore.rs",
        "src/sync/event.rs",
        "src/sync/condition.rs",
        "src/sync/barrier.rs",
        "src/queue/mod.rs",
        "src/pipe.rs",
        "src/shared.rs",
        "src/thread.rs",
        // The std-shaped facade; its atomics (src/facade/atomic.rs) are left out: a plain
        // access is one step of its own, as every engine's atomic is, and only their
        // compare-exchange loops open an operation.
        "src/facade/mutex.rs",
        "src/facade/rwlock.rs",
        "src/facade/condvar.rs",
        "src/facade/barrier.rs",
        "src/facade/once.rs",
        "src/facade/thread.rs",
    ];
    let mut unmarked = Vec::new();
    let mut operations = 0;
    for file in files {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = line.trim_start().strip_prefix("pub fn ") else {
                continue;
            };
            let name = name.split(['(', '<']).next().unwrap();
            let Some(open) = (i..lines.len()).find(|&j| lines[j].trim_end().ends_with('{')) else {
                continue;
            };
            let signature: String = lines[i..=open].concat().split_whitespace().collect();
            let attributes = lines[..i].iter().rev().take_while(|l| {
                l.trim_start().starts_with("#[") || l.trim_start().starts_with("///")
            });
            let tracked = attributes
                .into_iter()
                .any(|l| l.trim() == "#[track_caller]");
            let body = lines[open + 1..]
                .iter()
                .take(2)
                .map(|l| l.trim())
                .collect::<Vec<_>>();
            let opens = body[0].starts_with("let _op = P::operation(")
                || body[0].starts_with("let _op = operation::<P>(")
                || body[0].starts_with("let _op = self.operation(")
                || (body[0] == "let site = P::site();"
                    && body[1].starts_with("let _op = P::operation_at("));
            let thread = file.ends_with("thread.rs");
            if !thread && !signature.contains("(&self") {
                continue; // a constructor
            }
            operations += 1;
            if !tracked || !(thread || opens) {
                unmarked.push(format!("{file}:{}: {name}", i + 1));
            }
        }
    }
    assert!(
        operations >= 90,
        "only {operations} operations found: is the scan broken?"
    );
    assert!(
        unmarked.is_empty(),
        "not marked as operations: {unmarked:#?}"
    );
}
