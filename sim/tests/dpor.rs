//! Partial-order reduction must not lose behaviours: on generated programs, the outcomes that
//! DFS with reduction reaches are exactly those that plain DFS (every interleaving) reaches.
//!
//! The programs mix every kind of step the engine has: atomics, futex waits (with deadlines, so
//! that nothing deadlocks) and wakes, sleeps and clock reads, yields, and tasks that spawn and
//! join tasks of their own; under both timeout modes and with spurious wake-ups; and with
//! kills: the top-level tasks then run as simulated processes, any of which may be killed at
//! any point, and some programs ask whether the first of them is alive; and operations, which
//! at `Granularity::Operation` (the default) run as one step up to where they block.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mpcheck_sim::{
    current_process, explore, futex_wait, futex_wait_watching_deaths, futex_wake, now, operation,
    process_alive, ready_if, ready_when, ready_when_held, ready_when_or_dead, sleep, spawn,
    spawn_process, yield_now, AtomicU32, Config, FailureKind, Granularity, Report, Timeouts,
};

#[derive(Clone, Debug)]
enum Instr {
    Load(usize),
    Store(usize, u32),
    Add(usize),
    /// A read-modify-write that changes nothing (`fetch_add(0)`): a read for the reduction.
    Peek(usize),
    Cas(usize, u32, u32),
    /// One futex wait while the word is 0, until an absolute deadline: whether it slept and was
    /// woken, timed out, or never slept is an outcome.
    WaitUntil(usize, u64),
    /// As `WaitUntil`, with the deadline `d` after a read of the clock, in a wait that
    /// watches deaths (`futex_wait_watching_deaths`: a kill wakes it).
    WaitFor(usize, u64),
    Wake(usize),
    Sleep(u64),
    Now,
    Yield,
    /// Spawns a task running the code; the spawning task joins it at its end.
    Spawn(Vec<Instr>),
    /// Whether process 2 (the first top-level task but the main one, under kills) is alive.
    Alive,
    /// The code as one operation of a primitive (`mpcheck_sim::operation`).
    Op(Vec<Instr>),
    /// An operation that waits (`ready_when`) until the word is not 0, or until the absolute
    /// deadline, then reads it.
    Guarded(usize, u64),
    /// The code under a lock (a word of its own, taken by an operation with a guard that names
    /// the holder: `ready_when_held`): lock 0 or lock 1.
    Critical(usize, Vec<Instr>),
    /// As `Guarded`, also passing once process 2 is dead (`ready_when_or_dead`, a join's
    /// guard), then reads the word (the guard alone reads the liveness).
    GuardedOrDead(usize, u64),
    /// Spawns a task running the code and never joins it: the main task's end stops it
    /// wherever it is (what it saw is not an outcome; what it wrote is).
    Detach(Vec<Instr>),
    /// An operation that waits (`ready_if`) until a check over both words holds (the first
    /// is not 0 and the second differs from it: which words it reads depends on their
    /// values, and it can fail again after it held), or until the absolute deadline, then
    /// swaps 3 into the second.
    Checked(usize, usize, u64),
    /// As `Checked`, in the middle of an operation that first adds 1 to the first word, with a
    /// check that also holds once process 2 is dead, and nothing after it.
    CheckedLate(usize, usize, u64),
    /// A guarded instruction (`Guarded`, `GuardedOrDead`, `Checked`, `CheckedLate`) whose
    /// operation first reads the clock and waits until its deadline *after* that reading (a
    /// timed operation computing its deadline: `join_timeout`, `acquire_timeout`); the reading
    /// is seen.
    Relative(Box<Instr>),
}

/// The kinds of instruction a generated program may use.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Atomic,
    Futex,
    Clock,
    Yield,
    Spawn,
    Alive,
    /// Operations of 1 to 3 instructions of the other kinds (no spawn, no yield).
    Operation,
    /// Guarded operations: waits for a word, critical sections under a lock.
    Guard,
    /// Guarded waits that also end once process 2 died.
    Watch,
    /// Tasks spawned and never joined.
    Detach,
    /// Operations that wait for a check over several words (`ready_if`).
    Check,
    /// Guarded waits and checks (of every kind above) whose deadline their operation reads
    /// from the clock first.
    Relative,
    /// Critical sections under either of two locks, and sections under lock 0 that take lock 1
    /// inside (always in that order: nothing deadlocks).
    Locks,
}

/// A small deterministic generator (SplitMix64), so the test needs no dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One instruction, uniformly among every instruction of `kinds` (so a kind with more
    /// instructions is drawn more often); `nested` code (a spawned task's) spawns nothing.
    fn instr(&mut self, kinds: &[Kind], objects: usize, nested: bool) -> Instr {
        let o = self.below(objects as u64) as usize;
        let kinds: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|&k| {
                !(nested
                    && matches!(
                        k,
                        Kind::Spawn
                            | Kind::Operation
                            | Kind::Yield
                            | Kind::Guard
                            | Kind::Watch
                            | Kind::Detach
                            | Kind::Check
                            | Kind::Relative
                            | Kind::Locks
                    ))
            })
            .collect();
        let total: u64 = kinds.iter().map(|k| k.instructions()).sum();
        let mut pick = self.below(total);
        let kind = *kinds
            .iter()
            .find(|k| {
                let hit = pick < k.instructions();
                if !hit {
                    pick -= k.instructions();
                }
                hit
            })
            .expect("the pick is below the total");
        match (kind, pick) {
            (Kind::Atomic, 0) => Instr::Load(o),
            (Kind::Atomic, 1) => Instr::Store(o, self.below(3) as u32),
            (Kind::Atomic, 2) => Instr::Add(o),
            (Kind::Atomic, 3) => Instr::Peek(o),
            (Kind::Atomic, _) => Instr::Cas(o, self.below(2) as u32, 1 + self.below(2) as u32),
            (Kind::Futex, 0) => Instr::WaitUntil(o, 1_000),
            (Kind::Futex, 1) => Instr::WaitFor(o, 1_000 * (1 + self.below(2))),
            (Kind::Futex, _) => Instr::Wake(o),
            (Kind::Clock, 0) => Instr::Sleep(1_000 * (1 + self.below(2))),
            (Kind::Clock, _) => Instr::Now,
            (Kind::Yield, _) => Instr::Yield,
            (Kind::Alive, _) => Instr::Alive,
            (Kind::Operation, _) => {
                let len = 1 + self.below(3) as usize;
                Instr::Op(
                    (0..len)
                        .map(|_| self.instr(&kinds, objects, true))
                        .collect(),
                )
            }
            (Kind::Guard, 0) => Instr::Guarded(o, 1_000 * (1 + self.below(2))),
            (Kind::Watch, _) => Instr::GuardedOrDead(o, 1_000 * (1 + self.below(2))),
            (Kind::Guard, _) => {
                let len = 1 + self.below(2) as usize;
                Instr::Critical(
                    0,
                    (0..len)
                        .map(|_| self.instr(&kinds, objects, true))
                        .collect(),
                )
            }
            (Kind::Check, 0) => Instr::Checked(o, 1 - o, 1_000 * (1 + self.below(2))),
            (Kind::Check, _) => Instr::CheckedLate(o, 1 - o, 1_000 * (1 + self.below(2))),
            (Kind::Relative, k) => {
                let d = 1_000 * (1 + self.below(2));
                Instr::Relative(Box::new(match k {
                    0 => Instr::Guarded(o, d),
                    1 => Instr::GuardedOrDead(o, d),
                    2 => Instr::Checked(o, 1 - o, d),
                    _ => Instr::CheckedLate(o, 1 - o, d),
                }))
            }
            (Kind::Locks, nested) => {
                let lock = if nested == 0 {
                    self.below(2) as usize
                } else {
                    0
                };
                let len = 1 + self.below(2) as usize;
                let mut code: Vec<Instr> = (0..len)
                    .map(|_| self.instr(&kinds, objects, true))
                    .collect();
                if nested == 1 {
                    let inner = self.instr(&kinds, objects, true);
                    let at = self.below(len as u64 + 1) as usize;
                    code.insert(at, Instr::Critical(1, vec![inner]));
                }
                Instr::Critical(lock, code)
            }
            (Kind::Spawn | Kind::Detach, _) => {
                let len = 1 + self.below(2) as usize;
                let code = (0..len)
                    .map(|_| self.instr(&kinds, objects, true))
                    .collect();
                if kind == Kind::Spawn {
                    Instr::Spawn(code)
                } else {
                    Instr::Detach(code)
                }
            }
        }
    }
}

impl Kind {
    /// How many instructions the kind has.
    fn instructions(self) -> u64 {
        match self {
            Kind::Atomic => 5,
            Kind::Futex => 3,
            Kind::Clock => 2,
            Kind::Yield | Kind::Spawn | Kind::Alive | Kind::Watch | Kind::Detach => 1,
            Kind::Operation | Kind::Guard | Kind::Check | Kind::Locks => 2,
            Kind::Relative => 4,
        }
    }
}

/// A generated program: the code of each top-level task (task 0 is the main task).
fn program(seed: u64, tasks: usize, len: usize, objects: usize, kinds: &[Kind]) -> Vec<Vec<Instr>> {
    let mut g = Gen(seed);
    (0..tasks)
        .map(|_| (0..len).map(|_| g.instr(kinds, objects, false)).collect())
        .collect()
}

/// Runs `code` and logs what it saw in `log` (as it goes, so that what a killed task saw before
/// it was killed counts too): every value read, how each wait ended, every clock reading,
/// and the logs of the tasks it spawned.
fn run(objects: &Arc<Vec<AtomicU32>>, code: &[Instr], log: &Log) {
    // An object made here, never used, takes the next number: which objects the words
    // numbered at first use are numbered after depends on the schedule, and the search must
    // not take two objects for one (or one for two) across executions.
    let _made = AtomicU32::new(0);
    let see = |v: u64| log.borrow_mut().push(v);
    let mut children = Vec::new();
    for i in code {
        match *i {
            Instr::Load(o) => see(objects[o].load(SeqCst) as u64),
            Instr::Store(o, v) => objects[o].store(v, SeqCst),
            Instr::Add(o) => see(objects[o].fetch_add(1, SeqCst) as u64),
            Instr::Peek(o) => see(objects[o].fetch_add(0, SeqCst) as u64 + 300),
            Instr::Cas(o, a, b) => see(match objects[o].compare_exchange(a, b, SeqCst, SeqCst) {
                Ok(v) | Err(v) => v as u64 + 100,
            }),
            Instr::WaitUntil(o, at) => see(futex_wait(&objects[o], 0, Some(at)) as u64),
            Instr::WaitFor(o, d) => {
                // A wait that watches deaths (a kill wakes it), where `WaitUntil`'s does not.
                let at = now() + d;
                see(futex_wait_watching_deaths(&objects[o], 0, Some(at)) as u64)
            }
            Instr::Wake(o) => see(futex_wake(&objects[o], 1) as u64),
            Instr::Sleep(d) => sleep(Duration::from_nanos(d)),
            Instr::Now => see(now()),
            Instr::Yield => yield_now(),
            Instr::Alive => see(process_alive(2) as u64 + 200),
            Instr::Op(ref code) => {
                // Names no word (numbering one here would number it before its first use).
                let _op = operation(0, "Gen", "op", Location::caller());
                run(objects, code, log);
            }
            Instr::Guarded(..)
            | Instr::GuardedOrDead(..)
            | Instr::Checked(..)
            | Instr::CheckedLate(..) => guarded(objects, i, false, log),
            Instr::Relative(ref i) => guarded(objects, i, true, log),
            Instr::Critical(l, ref code) => {
                // The two lock words are the last two.
                let lock = &objects[objects.len() - 2 + l];
                {
                    let _op = operation(lock.object_number(), "Gen", "acquire", Location::caller());
                    // Off only once the holder the word names died, as mpcheck's `Lock`'s.
                    ready_when_held(lock, |v, _| v == 0, None, |v| v);
                    // The holder's process in the word, taken over from a dead one (as
                    // mpcheck's `Lock` does), so that a kill of the holder is no deadlock.
                    let me = current_process().unwrap_or(1);
                    while let Err(holder) = lock.compare_exchange(0, me, SeqCst, SeqCst) {
                        if holder != me && !process_alive(holder) {
                            if lock.compare_exchange(holder, me, SeqCst, SeqCst).is_ok() {
                                break;
                            }
                        } else {
                            futex_wait_watching_deaths(lock, holder, None);
                        }
                    }
                }
                run(objects, code, log);
                let _op = operation(lock.object_number(), "Gen", "release", Location::caller());
                lock.store(0, SeqCst);
                futex_wake(lock, 1);
            }
            Instr::Spawn(ref code) => {
                let (objects, code) = (objects.clone(), code.clone());
                let child: Log = Rc::default();
                let theirs = child.clone();
                children.push((spawn(move || run(&objects, &code, &theirs)), child));
            }
            Instr::Detach(ref code) => {
                let (objects, code) = (objects.clone(), code.clone());
                let _never_joined = spawn(move || run(&objects, &code, &Log::default()));
            }
        }
    }
    for (handle, child) in children {
        handle.join();
        see(u64::MAX);
        log.borrow_mut().extend(child.borrow().iter().copied());
    }
}

/// A guarded instruction (see [`Instr::Relative`]): with `relative`, its operation reads the
/// clock first (seen) and its deadline counts from that reading.
fn guarded(objects: &Arc<Vec<AtomicU32>>, i: &Instr, relative: bool, log: &Log) {
    let see = |v: u64| log.borrow_mut().push(v);
    let (word, at) = match *i {
        Instr::Guarded(o, at) | Instr::GuardedOrDead(o, at) => (o, at),
        Instr::Checked(a, _, at) | Instr::CheckedLate(a, _, at) => (a, at),
        _ => unreachable!("not a guarded instruction: {i:?}"),
    };
    let name = if matches!(i, Instr::Checked(..) | Instr::CheckedLate(..)) {
        "check"
    } else {
        "wait"
    };
    let _op = operation(
        objects[word].object_number(),
        "Gen",
        name,
        Location::caller(),
    );
    let at = if relative {
        let t = now();
        see(t);
        t + at
    } else {
        at
    };
    match *i {
        Instr::Guarded(o, _) | Instr::GuardedOrDead(o, _) => {
            let ready = |v, _| v != 0;
            if matches!(i, Instr::Guarded(..)) {
                ready_when(&objects[o], ready, Some(at));
            } else {
                ready_when_or_dead(&objects[o], ready, Some(at), 2);
            }
            see(objects[o].load(SeqCst) as u64 + 400);
        }
        Instr::Checked(a, b, _) | Instr::CheckedLate(a, b, _) => {
            let late = matches!(i, Instr::CheckedLate(..));
            if late {
                objects[a].fetch_add(1, SeqCst);
            }
            let check = || {
                let x = objects[a].load(SeqCst);
                (x != 0 && objects[b].fetch_add(0, SeqCst) != x) || (late && !process_alive(2))
            };
            ready_if(&check, Some(at));
            // Only the check reads the first word (so that the event's dependence on it is
            // the check's alone).
            if !late {
                see(objects[b].swap(3, SeqCst) as u64 + 500);
            }
        }
        _ => unreachable!(),
    }
}

/// What a task saw so far.
type Log = Rc<RefCell<Vec<u64>>>;

type Outcomes = BTreeSet<Vec<Vec<u64>>>;

fn outcomes(config: Config, code: &[Vec<Instr>], objects: usize) -> (Outcomes, Report) {
    let set: Rc<RefCell<Outcomes>> = Rc::default();
    let sink = set.clone();
    let code: Arc<Vec<Vec<Instr>>> = Arc::new(code.to_vec());
    let processes = config.to_string().contains("kill");
    let report = explore(config.no_files().ignore_env(), move || {
        // The generated words, and the lock words of `Instr::Critical`: every other one
        // numbered at its first use rather than here (as a `static` is), so that the search
        // meets both ways of numbering (see `run`).
        let objs: Arc<Vec<AtomicU32>> = Arc::new(
            (0..objects + 2)
                .map(|i| {
                    if i % 2 == 0 {
                        AtomicU32::new(0)
                    } else {
                        AtomicU32::const_new(0)
                    }
                })
                .collect(),
        );
        let handles: Vec<_> = code[1..]
            .iter()
            .map(|c| {
                let (objs, c) = (objs.clone(), c.clone());
                let log: Log = Rc::default();
                let theirs = log.clone();
                let body = move || run(&objs, &c, &theirs);
                let handle = if processes {
                    spawn_process(body)
                } else {
                    spawn(body)
                };
                (handle, log)
            })
            .collect();
        let main: Log = Rc::default();
        run(&objs, &code[0], &main);
        let mut all = vec![main.take()];
        for (handle, log) in handles {
            let killed = handle.try_join().is_none();
            // What a killed process saw died with it (on a real OS its memory is gone, and
            // only what it wrote is left for anyone to see): a kill just after its reads and
            // one just before them are one outcome (the search tries only the earlier,
            // `PickContext::late_kills`).
            let mut seen = if killed { Vec::new() } else { log.take() };
            seen.push(killed as u64 + 300);
            all.push(seen);
        }
        // The words, and where processes may die (and leave a lock held) the locks: read
        // here, a lock's word would keep its sections from commuting (see `Dfs::find_lazy`).
        let read = if processes { objs.len() } else { objects };
        all.push(objs[..read].iter().map(|o| o.load(SeqCst) as u64).collect());
        all.push(vec![now()]);
        sink.borrow_mut().insert(all);
    })
    .unwrap_or_else(|f| panic!("generated programs do not fail:\n{f}"));
    let result = set.borrow().clone();
    (result, report)
}

/// How many generated programs a test checks: `default`, or `MPCHECK_DPOR_SEEDS` for a longer
/// run (`MPCHECK_DPOR_SEEDS=2000 cargo test --release -p mpcheck-sim --test dpor`).
fn seeds(default: u64) -> u64 {
    std::env::var("MPCHECK_DPOR_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Explores the program of `seed` with and without reduction under `config` and checks that
/// both reach the same outcomes; returns both execution counts.
/// `None` if plain search does not end within [`PLAIN_LIMIT`] executions (the program is too
/// big to compare).
fn compare(
    seed: u64,
    program: &[Vec<Instr>],
    objects: usize,
    config: Config,
) -> Option<(u64, u64)> {
    let plain_config = config.clone().reduction(false).iterations(PLAIN_LIMIT);
    let (plain, plain_report) = outcomes(plain_config, program, objects);
    if !plain_report.complete() {
        return None;
    }
    let (reduced, reduced_report) = outcomes(config, program, objects);
    assert!(reduced_report.complete());
    if plain != reduced {
        let lost: Vec<_> = plain.difference(&reduced).collect();
        let invented: Vec<_> = reduced.difference(&plain).collect();
        panic!(
            "seed {seed}: reduction lost {} outcome(s) and invented {} for {program:?}\n\
             lost: {lost:?}\ninvented: {invented:?}",
            lost.len(),
            invented.len()
        );
    }
    Some((plain_report.executions(), reduced_report.executions()))
}

/// The most executions plain search may take on one generated program.
const PLAIN_LIMIT: u64 = 50_000;

/// Checks `count` programs from `first` on, of 2 tasks of `len` instructions or 3 tasks of
/// `len - 1`, over two words; returns the executions without and with reduction, summed. At
/// most one program in three may be too big to compare.
fn compare_many(first: u64, count: u64, len: usize, kinds: &[Kind], config: Config) -> (u64, u64) {
    let (mut plain, mut reduced, mut skipped) = (0, 0, 0);
    for seed in first..first + count {
        let tasks = 2 + (seed % 2) as usize;
        let code = program(seed, tasks, len + 2 - tasks, 2, kinds);
        let result = compare(seed, &code, 2, config.clone());
        match result {
            Some((p, r)) => {
                plain += p;
                reduced += r;
            }
            None => skipped += 1,
        }
    }
    assert!(
        skipped * 3 <= count,
        "{skipped} of {count} programs too big to compare"
    );
    (plain, reduced)
}

#[test]
fn reduction_keeps_every_outcome_of_atomic_programs() {
    let (plain, reduced) = compare_many(0, seeds(60), 3, &[Kind::Atomic], Config::dfs());
    assert!(reduced < plain, "{reduced} vs {plain}");
}

#[test]
fn reduction_keeps_every_outcome_of_futex_programs() {
    let kinds = [Kind::Atomic, Kind::Futex];
    compare_many(1000, seeds(60), 3, &kinds, Config::dfs());
}

#[test]
fn reduction_keeps_every_outcome_with_spurious_wakeups() {
    let kinds = [Kind::Atomic, Kind::Futex];
    compare_many(
        2000,
        seeds(40),
        3,
        &kinds,
        Config::dfs().spurious_wakeups(1),
    );
}

#[test]
fn reduction_keeps_every_outcome_with_sleeps_and_clock_reads() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Clock];
    let (plain, reduced) = compare_many(3000, seeds(60), 3, &kinds, Config::dfs());
    assert!(reduced < plain, "{reduced} vs {plain}");
}

#[test]
fn reduction_keeps_every_outcome_when_timeouts_fire_only_when_idle() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Clock, Kind::Yield];
    let config = Config::dfs().timeouts(Timeouts::WhenIdle);
    compare_many(4000, seeds(60), 3, &kinds, config);
}

#[test]
fn reduction_keeps_every_outcome_with_spawn_join_and_yields() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Yield, Kind::Spawn];
    compare_many(5000, seeds(60), 3, &kinds, Config::dfs());
}

#[test]
fn reduction_keeps_every_outcome_with_tasks_never_joined() {
    // The main task's end stops them: their events race with it, those never run included.
    let kinds = [Kind::Atomic, Kind::Clock, Kind::Detach];
    compare_many(40_000, seeds(60), 2, &kinds, Config::dfs());
    let kinds = [Kind::Atomic, Kind::Guard, Kind::Detach];
    compare_many(41_000, seeds(60), 2, &kinds, Config::dfs());
    // A detached task's timeout that ties with the main task's is offered only while every
    // task waits, and never again once the main task runs on.
    let kinds = [Kind::Atomic, Kind::Clock, Kind::Detach];
    let config = Config::dfs().timeouts(Timeouts::WhenIdle);
    compare_many(43_000, seeds(60), 3, &kinds, config);
}

#[test]
fn reduction_keeps_every_outcome_of_programs_with_everything() {
    let kinds = [
        Kind::Atomic,
        Kind::Futex,
        Kind::Clock,
        Kind::Yield,
        Kind::Spawn,
    ];
    compare_many(
        6000,
        seeds(40),
        3,
        &kinds,
        Config::dfs().spurious_wakeups(1),
    );
}

#[test]
fn reduction_keeps_every_outcome_of_programs_with_operations() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Operation];
    let (plain, reduced) = compare_many(10_000, seeds(60), 3, &kinds, Config::dfs());
    eprintln!("operations: {plain} plain executions, {reduced} reduced");
    assert!(reduced < plain, "{reduced} vs {plain}");
}

#[test]
fn reduction_keeps_every_outcome_of_operations_with_clocks_spawns_and_spurious_wakeups() {
    let kinds = [
        Kind::Atomic,
        Kind::Futex,
        Kind::Clock,
        Kind::Spawn,
        Kind::Yield,
        Kind::Operation,
    ];
    let config = Config::dfs().spurious_wakeups(1);
    compare_many(11_000, seeds(40), 2, &kinds, config);
}

#[test]
fn reduction_keeps_every_outcome_of_operations_with_kills_and_idle_timeouts() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive, Kind::Operation];
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_many(12_000, seeds(30), 3, &kinds, config);
}

#[test]
fn reduction_keeps_every_outcome_of_programs_with_guards() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Guard];
    let (plain, reduced) = compare_many(14_000, seeds(60), 3, &kinds, Config::dfs());
    eprintln!("guards: {plain} plain executions, {reduced} reduced");
    assert!(reduced < plain, "{reduced} vs {plain}");
}

#[test]
fn reduction_keeps_every_outcome_of_guards_with_clocks_spawns_and_operations() {
    let kinds = [
        Kind::Atomic,
        Kind::Clock,
        Kind::Spawn,
        Kind::Operation,
        Kind::Guard,
    ];
    compare_many(
        15_000,
        seeds(40),
        2,
        &kinds,
        Config::dfs().spurious_wakeups(1),
    );
}

#[test]
fn reduction_keeps_every_outcome_of_guards_with_idle_timeouts() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Clock, Kind::Guard];
    compare_many(
        16_000,
        seeds(40),
        3,
        &kinds,
        Config::dfs().timeouts(Timeouts::WhenIdle),
    );
}

/// Guards where kills are configured: a kill of a process that changed a guard's word ends the
/// wait for that guard (the task looks for itself, and takes a dead holder's lock over).
#[test]
fn reduction_keeps_every_outcome_of_guards_with_kills() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive, Kind::Guard];
    compare_with_a_kill(&kinds, 17_000, 18_000);
}

/// [`compare_many`] with one kill: 40 programs from seed `racing` with timeouts racing, 30
/// from seed `idle` with `Timeouts::WhenIdle`.
fn compare_with_a_kill(kinds: &[Kind], racing: u64, idle: u64) {
    compare_many(racing, seeds(40), 3, kinds, Config::dfs().kills(1));
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_many(idle, seeds(30), 3, kinds, config);
}

/// Guards that also end once a process died (a join's, `ready_when_or_dead`): the kill of the
/// watched process, which may never have written the word, ends the wait. (The first seeds
/// include 27,287, whose reduction lost an outcome when a guarded task's event did not read
/// the watched process's liveness.)
#[test]
fn reduction_keeps_every_outcome_of_guards_that_watch_a_process() {
    let kinds = [Kind::Atomic, Kind::Alive, Kind::Guard, Kind::Watch];
    compare_with_a_kill(&kinds, 27_280, 28_000);
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_bounded_many(29_000, seeds(30), &kinds, config);
}

/// Guarded waits and checks whose operation reads the clock first, for its deadline (as
/// `Process::join_timeout` and `Lock::acquire_timeout` do): the event that only read the clock
/// ends at the guard, and the wait is an event of its own, which begins where the guard passes
/// (before, the event that read the clock went on through a guard that passed, and ended at one
/// that failed: the same operation was one event or two depending on the word).
#[test]
fn reduction_keeps_every_outcome_of_guards_whose_deadline_is_read_from_the_clock() {
    let kinds = [Kind::Atomic, Kind::Clock, Kind::Guard, Kind::Relative];
    compare_many(36_000, seeds(40), 3, &kinds, Config::dfs());
    let config = Config::dfs().timeouts(Timeouts::WhenIdle);
    compare_many(37_000, seeds(40), 3, &kinds, config);
    let kinds = [Kind::Atomic, Kind::Alive, Kind::Watch, Kind::Relative];
    compare_with_a_kill(&kinds, 38_000, 39_000);
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_bounded_many(39_500, seeds(30), &kinds, config);
}

/// Guards whose check reads several words (`ready_if`, a queue's `get` and `put`): the check
/// runs again without steps whenever a word it read changes, and the guarded event reads every
/// word the check read.
#[test]
fn reduction_keeps_every_outcome_of_programs_with_checks() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Check];
    let (plain, reduced) = compare_many(30_000, seeds(60), 3, &kinds, Config::dfs());
    eprintln!("checks: {plain} plain executions, {reduced} reduced");
    assert!(reduced < plain, "{reduced} vs {plain}");
    let kinds = [
        Kind::Atomic,
        Kind::Clock,
        Kind::Operation,
        Kind::Guard,
        Kind::Check,
    ];
    let config = Config::dfs().timeouts(Timeouts::WhenIdle);
    compare_many(31_000, seeds(40), 3, &kinds, config);
}

/// Regression: a check (`w0 != 0 && w1 != w0`) fails from its start because of the first word,
/// then, once another task set it, because of the second (written meanwhile by a third task).
/// The search lost the outcome where the check passes with the second word still 0: no write
/// was seen to disable the task (the check failed all along), and the reversal that puts the
/// operation before the second word's write did not put the first word's write before it.
#[test]
fn a_check_that_fails_again_for_another_word_races_with_that_word() {
    use Instr::*;
    let program = vec![
        vec![Checked(0, 1, u64::MAX)],
        vec![Add(1), Store(1, 2)],
        vec![Add(0)],
    ];
    for config in [Config::dfs(), Config::dfs().timeouts(Timeouts::WhenIdle)] {
        compare(0, &program, 2, config).expect("a small program");
    }
    // With a deadline, a peek after it and a guard of the third task (seed 37,065 of
    // `reduction_keeps_every_outcome_of_guards_whose_deadline_is_read_from_the_clock`, cut
    // down): lost 9 outcomes with timeouts when idle.
    let program = vec![
        vec![Checked(0, 1, 2_000), Peek(1)],
        vec![Add(1), Store(1, 2)],
        vec![Add(0), Guarded(1, u64::MAX)],
    ];
    compare(1, &program, 2, Config::dfs().timeouts(Timeouts::WhenIdle)).expect("a small program");
}

/// Checks where kills are configured: a kill of a process that changed a word the check read,
/// or whose liveness it looked at, ends the wait.
#[test]
fn reduction_keeps_every_outcome_of_checks_with_kills() {
    let kinds = [Kind::Atomic, Kind::Alive, Kind::Guard, Kind::Check];
    compare_with_a_kill(&kinds, 32_000, 33_000);
}

#[test]
fn bounded_rounds_keep_every_outcome_of_checks() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Check];
    compare_bounded_many(34_000, seeds(40), &kinds, Config::dfs());
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_bounded_many(35_000, seeds(30), &[Kind::Atomic, Kind::Check], config);
}

/// At step granularity an operation changes nothing: the outcomes are those of its code
/// inlined, and reduction keeps them.
#[test]
fn at_step_granularity_operations_are_their_steps() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Operation];
    let config = Config::dfs().granularity(Granularity::Step);
    compare_many(13_000, seeds(30), 3, &kinds, config);
}

/// Two tasks read the clock around sleeps of one and two hours: five different outcomes, and
/// reduction must find them all (it once saw one, because the end of a sleep was not a step).
#[test]
fn sleeps_and_clock_reads_race() {
    let hour = 3_600_000_000_000;
    let code = vec![
        vec![Instr::Now, Instr::Sleep(hour), Instr::Now],
        vec![Instr::Now, Instr::Sleep(2 * hour), Instr::Now],
    ];
    let (plain, reduced) = compare(0, &code, 1, Config::dfs()).expect("a small program");
    assert!(reduced < plain, "{reduced} vs {plain}");
}

/// A read-modify-write that changes nothing (`fetch_add(0)`, as the queue's ring uses to read
/// the latest count) is a read: three tasks that each do two of them on one word commute (one
/// execution, as loads), where real increments race; a store among them still races with
/// them, and reduction keeps every outcome.
#[test]
fn read_modify_writes_that_change_nothing_are_reads() {
    let peeks = vec![vec![Instr::Peek(0), Instr::Peek(0)]; 3];
    let (plain, reduced) = compare(0, &peeks, 1, Config::dfs().rounds(false)).expect("small");
    assert_eq!(reduced, 1, "{plain} interleavings, all one trace");
    let adds = vec![vec![Instr::Add(0), Instr::Add(0)]; 3];
    let (_, reduced) = compare(0, &adds, 1, Config::dfs().rounds(false)).expect("small");
    assert_eq!(reduced, 90, "the orders of six increments of three tasks");
    let mixed = vec![
        vec![Instr::Peek(0), Instr::Peek(0)],
        vec![Instr::Store(0, 1), Instr::Peek(0)],
    ];
    let (_, reduced) = compare(0, &mixed, 1, Config::dfs().rounds(false)).expect("small");
    assert!(reduced > 1, "a store races with the reads around it");
}

/// Regression: with timeouts when idle, two tasks time out at the same deadline; if the first to
/// time out wakes the other, the other's timeout was taken off the options before the wake, so
/// the reversal must be asked for where it was last offered.
#[test]
fn a_timeout_disabled_before_the_wake_that_preempts_it_is_explored() {
    let code = vec![
        vec![Instr::WaitFor(0, 1000), Instr::Cas(0, 1, 2), Instr::Wake(1)],
        vec![
            Instr::WaitUntil(1, 1000),
            Instr::Cas(1, 0, 1),
            Instr::Store(0, 0),
        ],
    ];
    let config = Config::dfs().timeouts(Timeouts::WhenIdle);
    compare(4228, &code, 2, config).expect("a small program");
}

#[test]
fn reduction_keeps_every_outcome_with_kills() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive];
    let (plain, reduced) = compare_many(7000, seeds(40), 3, &kinds, Config::dfs().kills(1));
    eprintln!("kills: {plain} plain executions, {reduced} reduced");
    assert!(
        reduced < plain,
        "{reduced} executions, plain search {plain}"
    );
}

#[test]
fn reduction_keeps_every_outcome_with_kills_spawns_and_clocks() {
    let kinds = [
        Kind::Atomic,
        Kind::Futex,
        Kind::Clock,
        Kind::Spawn,
        Kind::Alive,
    ];
    let (plain, reduced) = compare_many(8000, seeds(30), 2, &kinds, Config::dfs().kills(1));
    eprintln!("kills, spawns and clocks: {plain} plain executions, {reduced} reduced");
}

#[test]
fn reduction_keeps_every_outcome_with_two_kills() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive];
    let config = Config::dfs().kills(2).spurious_wakeups(1);
    let (plain, reduced) = compare_many(9000, seeds(20), 2, &kinds, config);
    eprintln!("two kills: {plain} plain executions, {reduced} reduced");
}

/// Explores the program of `seed` under `config` with preemption bound `bound`, with and
/// without reduction: the reduced search must reach every outcome that executions with at most
/// `bound` preemptions reach (bounded partial-order reduction, Coons, Musuvathi, McKinley,
/// OOPSLA 2013). `None` if the plain search is too big.
///
/// The trial that runs the last round before the rounds is off: what is checked is each round.
fn compare_bounded(seed: u64, program: &[Vec<Instr>], config: Config, bound: u32) -> Option<()> {
    let config = config.trial(0);
    let plain_config = config
        .clone()
        .reduction(false)
        .preemption_bound(bound)
        .iterations(PLAIN_LIMIT);
    let (plain, plain_report) = outcomes(plain_config, program, 2);
    if plain_report.executions() >= PLAIN_LIMIT {
        return None;
    }
    let (reduced, _) = outcomes(config.preemption_bound(bound), program, 2);
    let lost: Vec<_> = plain.difference(&reduced).collect();
    assert!(
        lost.is_empty(),
        "seed {seed}, bound {bound}: reduction lost {} outcome(s) within the bound for \
         {program:?}\nlost: {lost:?}",
        lost.len()
    );
    Some(())
}

fn compare_bounded_many(first: u64, count: u64, kinds: &[Kind], config: Config) {
    let mut skipped = 0;
    for seed in first..first + count {
        let tasks = 2 + (seed % 2) as usize;
        let code = program(seed, tasks, 5 - tasks, 2, kinds);
        for bound in 0..=2 {
            if compare_bounded(seed, &code, config.clone(), bound).is_none() {
                skipped += 1;
            }
        }
    }
    assert!(
        skipped <= count,
        "{skipped} of {} searches too big",
        3 * count
    );
}

#[test]
fn bounded_rounds_keep_every_outcome_within_their_bound() {
    compare_bounded_many(
        20_000,
        seeds(60),
        &[Kind::Atomic, Kind::Futex],
        Config::dfs(),
    );
}

#[test]
fn bounded_rounds_keep_every_outcome_within_their_bound_with_operations_and_guards() {
    let kinds = [Kind::Atomic, Kind::Operation, Kind::Guard];
    compare_bounded_many(21_000, seeds(60), &kinds, Config::dfs());
}

#[test]
fn bounded_rounds_keep_every_outcome_of_programs_with_everything() {
    let kinds = [
        Kind::Atomic,
        Kind::Futex,
        Kind::Clock,
        Kind::Yield,
        Kind::Spawn,
    ];
    compare_bounded_many(22_000, seeds(40), &kinds, Config::dfs().spurious_wakeups(1));
}

#[test]
fn bounded_rounds_keep_every_outcome_with_idle_timeouts_and_kills() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive, Kind::Clock];
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_bounded_many(23_000, seeds(30), &kinds, config);
}

#[test]
fn bounded_rounds_keep_every_outcome_of_guards_with_kills() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive, Kind::Guard];
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare_bounded_many(26_000, seeds(30), &kinds, config);
}

#[test]
fn bounded_rounds_keep_every_outcome_of_guards_with_everything() {
    let kinds = [
        Kind::Atomic,
        Kind::Futex,
        Kind::Clock,
        Kind::Spawn,
        Kind::Operation,
        Kind::Guard,
    ];
    compare_bounded_many(24_000, seeds(40), &kinds, Config::dfs().spurious_wakeups(1));
}

#[test]
fn bounded_rounds_keep_every_outcome_at_step_granularity() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Operation, Kind::Guard];
    let config = Config::dfs().granularity(Granularity::Step);
    compare_bounded_many(25_000, seeds(40), &kinds, config);
}

/// Objects are numbered in the order of their first use, and a sleep set keeps footprints from
/// earlier executions: a word first used in the middle of an operation (no announced step
/// names it) may have another number in the execution that compares with it. Task 1 reads `a`
/// then `x` in one operation; task 2 reads `b` then `y` in one, then writes `x` in another. The
/// search ran task 1 first (`x` numbered before `y`), then task 2 first: there `y` took the
/// number `x` had, the write of `x` got another, and task 1's read stayed asleep across it, so
/// the order in which task 1 reads 1 was lost, with the search "complete" after 2 executions.
#[test]
fn a_word_first_used_inside_an_operation_keeps_its_races_across_executions() {
    let code = vec![
        vec![],
        vec![Instr::Op(vec![Instr::Load(2), Instr::Load(0)])],
        vec![
            Instr::Op(vec![Instr::Load(3), Instr::Load(1)]),
            Instr::Op(vec![Instr::Store(0, 1)]),
        ],
    ];
    let (plain, reduced) = compare(0, &code, 4, Config::dfs()).expect("a small program");
    assert!(reduced < plain, "{reduced} vs {plain}");
}

/// Seed 34,439 of `reduction_keeps_every_outcome_of_checks_with_kills` (idle timeouts): a
/// check over two words that holds only between two writes of other tasks. When the search
/// explored a node's kill first and then the options races asked for, in the order of the
/// tasks, before the option that goes on, it lost an outcome with no kill at all: the chain of
/// reversals that leads to it passes through an execution that the sleep sets end early. The
/// option that goes on is now explored right after the kill, as it was when kills came last.
#[test]
fn the_option_that_goes_on_is_explored_right_after_a_kill() {
    let kinds = [Kind::Atomic, Kind::Alive, Kind::Guard, Kind::Check];
    let code = program(34_439, 3, 2, 2, &kinds);
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare(34_439, &code, 2, config).expect("a small program");
}

/// Seed 19,799 of `reduction_keeps_every_outcome_of_guards_with_kills` (idle timeouts):
/// `[[Guarded(1, 1000), Add(1)], [Guarded(1, 2000), Guarded(0, 1000)], [WaitFor(1, 1000),
/// Add(1)]]`. With idle timeouts a kill that turns a guard off, or wakes a sleeper, makes a
/// task runnable, and so takes the idle timeouts away: every timeout, a guard's included,
/// depends on a kill there. When only the timeouts of waits that watch deaths did, the
/// reduction lost two outcomes of this program.
#[test]
fn with_idle_timeouts_a_guards_timeout_depends_on_a_kill() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive, Kind::Guard];
    let code = program(19_799, 3, 2, 2, &kinds);
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    compare(19_799, &code, 2, config).expect("a small program");
}

/// Seed 26,743 of `bounded_rounds_keep_every_outcome_of_guards_with_kills`: a bounded round
/// that explored a node's kill first, before the option that goes on, lost an outcome within
/// bound 1 (the kill, asleep in that option's subtree, woke at an event whose reversal cost a
/// preemption more). Kills go first in the unbounded round only.
#[test]
fn bounded_rounds_explore_a_kill_after_the_option_that_goes_on() {
    let kinds = [Kind::Atomic, Kind::Futex, Kind::Alive, Kind::Guard];
    let code = program(26_743, 3, 2, 2, &kinds);
    let config = Config::dfs().kills(1).timeouts(Timeouts::WhenIdle);
    for bound in 0..=2 {
        compare_bounded(26_743, &code, config.clone(), bound).expect("a small program");
    }
}

/// Found by a search over small programs of operations (every word made by the main task):
/// numbered at its first use, a word that an operation uses first after the schedules part
/// has a number that may stand for another word in the other schedule, so an option asleep
/// there wakes at any event that writes such a word, and the search runs executions that
/// are orders of independent events it ran already (16). Numbered where they are made, the
/// words keep their numbers in every schedule (6). Both keep every outcome of plain search.
#[test]
fn words_numbered_where_they_are_made_keep_options_asleep() {
    use mpcheck_sim::Observed;
    // Each task's events: one step each, or several as one operation. (word, 0 load, 1 store,
    // 2 add)
    type Code = [&'static [&'static [(usize, u8)]]; 3];
    const CODE: Code = [
        &[&[(1, 2), (2, 2)], &[(2, 2)]],
        &[&[(4, 2)], &[(0, 0), (0, 0)]],
        &[&[(0, 1), (3, 2)], &[(2, 2), (5, 1)]],
    ];
    let run = |config: Config, at_birth: bool| {
        let seen: Rc<RefCell<BTreeSet<mpcheck_sim::Outcome>>> = Rc::default();
        let sink = seen.clone();
        let report = mpcheck_sim::explore_observed(
            config.no_files().ignore_env(),
            move || {
                let words: Arc<Vec<AtomicU32>> = Arc::new(
                    (0..6)
                        .map(|_| {
                            if at_birth {
                                AtomicU32::new(0)
                            } else {
                                AtomicU32::const_new(0)
                            }
                        })
                        .collect(),
                );
                let tasks: Vec<_> = CODE
                    .iter()
                    .map(|&events| {
                        let words = words.clone();
                        spawn(move || {
                            for &event in events {
                                let _op = (event.len() > 1)
                                    .then(|| operation(0, "Gen", "op", Location::caller()));
                                for &(w, kind) in event {
                                    match kind {
                                        0 => {
                                            words[w].load(SeqCst);
                                        }
                                        1 => words[w].store(1, SeqCst),
                                        _ => {
                                            words[w].fetch_add(1, SeqCst);
                                        }
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.join();
                }
            },
            move |o: Observed<'_>| {
                sink.borrow_mut().insert(o.outcome());
            },
        )
        .expect("the program does not fail");
        assert!(report.complete());
        let seen = seen.borrow().clone();
        (seen, report.executions())
    };
    let (plain, _) = run(Config::dfs().reduction(false), true);
    let (at_birth, fewer) = run(Config::dfs(), true);
    let (at_first_use, more) = run(Config::dfs(), false);
    assert_eq!(at_birth, plain);
    assert_eq!(at_first_use, plain);
    assert!(
        fewer < more,
        "{fewer} executions at birth, {more} at first use"
    );
}

/// Critical sections under either of two locks, some under lock 0 taking lock 1 inside; also
/// with sections that commute (`Config::sections_commute`).
#[test]
fn reduction_keeps_every_outcome_of_critical_sections() {
    let kinds = [Kind::Atomic, Kind::Locks];
    let (plain, reduced) = compare_many(40_000, seeds(80), 3, &kinds, Config::dfs());
    let config = Config::dfs().sections_commute(true);
    let (_, commuting) = compare_many(40_000, seeds(80), 3, &kinds, config);
    eprintln!(
        "critical sections: {plain} plain executions, {reduced} reduced, {commuting} with \
         sections that commute"
    );
    // (Over two words most sections conflict: commuting spares little here.)
    assert!(
        reduced < plain && commuting < plain,
        "{commuting} vs {reduced} vs {plain}"
    );
}

/// As above, in programs with every other kind of step inside and around the sections.
#[test]
fn reduction_keeps_every_outcome_of_critical_sections_with_everything() {
    let kinds = [
        Kind::Atomic,
        Kind::Futex,
        Kind::Clock,
        Kind::Spawn,
        Kind::Yield,
        Kind::Operation,
        Kind::Guard,
        Kind::Detach,
        Kind::Locks,
    ];
    for commute in [false, true] {
        let config = Config::dfs().sections_commute(commute);
        compare_many(
            41_000,
            seeds(40),
            2,
            &kinds,
            config.clone().spurious_wakeups(1),
        );
        compare_many(
            42_000,
            seeds(40),
            2,
            &kinds,
            config.timeouts(Timeouts::WhenIdle),
        );
    }
}

/// Critical sections under two locks, in the bounded rounds.
#[test]
fn bounded_rounds_keep_every_outcome_of_critical_sections() {
    let kinds = [Kind::Atomic, Kind::Locks];
    compare_bounded_many(43_000, seeds(30), &kinds, Config::dfs());
    compare_bounded_many(
        43_000,
        seeds(30),
        &kinds,
        Config::dfs().sections_commute(true),
    );
}

/// Takes the lock word as `Instr::Critical` does, without the takeover of a dead holder.
fn lock(word: &AtomicU32) {
    let _op = operation(word.object_number(), "Test", "acquire", Location::caller());
    ready_when_held(word, |v, _| v == 0, None, |v| v);
    assert!(word.compare_exchange(0, 1, SeqCst, SeqCst).is_ok());
}

fn unlock(word: &AtomicU32) {
    let _op = operation(word.object_number(), "Test", "release", Location::caller());
    word.store(0, SeqCst);
}

/// Two locks taken in opposite orders deadlock although no data races: the search finds it,
/// with rounds and without. (A reduction that lets critical sections commute must keep the
/// edges of a section that takes another lock.)
#[test]
fn sections_that_take_another_lock_still_deadlock() {
    for config in [
        Config::dfs(),
        Config::dfs().rounds(false),
        Config::dfs().rounds(false).sections_commute(true),
    ] {
        let failure = explore(config.no_files().ignore_env(), || {
            let locks: Arc<[AtomicU32; 2]> = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
            let theirs = locks.clone();
            let other = spawn(move || {
                lock(&theirs[1]);
                lock(&theirs[0]);
                unlock(&theirs[0]);
                unlock(&theirs[1]);
            });
            lock(&locks[0]);
            lock(&locks[1]);
            unlock(&locks[1]);
            unlock(&locks[0]);
            other.join();
        })
        .expect_err("the two orders deadlock");
        assert_eq!(failure.kind(), FailureKind::Deadlock);
    }
}

/// Holding a lock while joining a task that takes it deadlocks in one order of the two
/// sections only: the search finds it. (A section that waits must keep its lock's edges.)
#[test]
fn a_section_that_waits_still_deadlocks() {
    let config = Config::dfs().rounds(false).sections_commute(true);
    let failure = explore(config.no_files().ignore_env(), || {
        let word = Arc::new(AtomicU32::new(0));
        let theirs = word.clone();
        let other = spawn(move || {
            lock(&theirs);
            unlock(&theirs);
        });
        lock(&word);
        other.join();
        unlock(&word);
    })
    .expect_err("joining under the lock deadlocks");
    assert_eq!(failure.kind(), FailureKind::Deadlock);
}

/// Found by `reduction_keeps_every_outcome_of_critical_sections` with 1,500 seeds: the events
/// that do not depend on a racing event need not run before it as a sequence when two of them
/// take one lock whose first section does not end among them (task 1's first section reads
/// what the main task's section wrote, task 2's reads what it read before). The reversal of the
/// main task's write and task 2's reads was asked for with task 1's first event as its initial,
/// whose subtree takes the lock for task 1 first: two outcomes were lost.
#[test]
fn a_reversal_that_needs_a_lock_another_section_holds_keeps_every_outcome() {
    let seed = 40_319;
    let code = program(seed, 3, 2, 2, &[Kind::Atomic, Kind::Locks]);
    compare(
        seed,
        &code,
        2,
        Config::dfs().rounds(false).sections_commute(true),
    );
}

/// Sections under one lock that touch different words: one execution, where each order of the
/// sections was one before (3 tasks of 2 sections: 90 orders).
#[test]
fn critical_sections_that_touch_different_words_commute() {
    let counted = |config: Config| {
        let report = explore(config.no_files().ignore_env(), || {
            let words: Arc<Vec<AtomicU32>> = Arc::new((0..4).map(|_| AtomicU32::new(0)).collect());
            let section = |words: &[AtomicU32], t: usize| {
                for _ in 0..2 {
                    lock(&words[0]);
                    words[1 + t].fetch_add(1, SeqCst);
                    unlock(&words[0]);
                }
            };
            let tasks: Vec<_> = (1..3)
                .map(|t| {
                    let words = words.clone();
                    spawn(move || section(&words, t))
                })
                .collect();
            section(&words, 0);
            for t in tasks {
                t.join();
            }
            assert!(words[1..].iter().all(|w| w.load(SeqCst) == 2));
        })
        .expect("no failure");
        assert!(report.complete());
        report.executions()
    };
    let config = Config::dfs().rounds(false);
    assert_eq!(counted(config.clone()), 90);
    assert_eq!(counted(config.sections_commute(true)), 1);
}
