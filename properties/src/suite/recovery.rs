//! Recovery properties: what every primitive promises when a process that uses it dies. One
//! generic function per property, `fn name<P: Platform>(Size)`, as in [`super::properties`]:
//! `size.threads` child [`Process`]es, `size.ops` operations each, and the program's main task
//! (in the first process, which nobody kills) judging the outcome.
//!
//! Each property holds whether or not a process dies, and wherever it dies. Under the
//! simulator with kills (`Config::kills`) an exploration kills a child process at every point
//! where it makes a difference (exhaustive search) or at random points (PCT, random walk);
//! engines whose processes never die (loom, shuttle, `Os` without a killer) run the same
//! functions as plain correctness checks. A property of another primitive is added the same
//! way: a function here and a line in [`all`] (and `for_each_recovery_property!`).
//!
//! A process that dies counts as killed when its exit code says so (`-9`): the properties never
//! ask the engine whether it kills. What the harness counts lives where every process sees it
//! (`P::share`: on `Os`, shared memory), as the primitives' state does.

/// Two counters every process sees.
struct Counts<P: Platform> {
    a: P::AtomicU32,
    b: P::AtomicU32,
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for Counts<P> {}

fn counts<P: Platform>() -> P::Shared<Counts<P>> {
    P::share(Counts {
        a: P::AtomicU32::new(0),
        b: P::AtomicU32::new(0),
    })
}

/// The most child processes a property runs.
const MAX_PROCESSES: usize = 7;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use super::queue_kill;
use super::{Property, Size};
use mpcheck::platform::{Atomic, AtomicInt, Platform, Shareable};
use mpcheck::sim::{Config, Timeouts};
use mpcheck::{
    pipe, Barrier, BoundedSemaphore, Condition, Error, Event, Lock, Process, Queue, RLock, Value,
};

/// Starts one process per closure.
fn run_processes_started<P: Platform>(
    targets: Vec<Box<dyn FnOnce() + Send + 'static>>,
) -> Vec<Process<P>> {
    let children: Vec<Process<P>> = targets.into_iter().map(Process::<P>::new).collect();
    for child in &children {
        child.start().expect("a process starts");
    }
    children
}

/// Joins every process and returns their exit codes, in order: each is `0` (it returned) or
/// `-9` (killed), and `exitcode` says the same.
fn join_processes<P: Platform>(children: &[Process<P>]) -> Vec<i32> {
    let codes: Vec<i32> = children
        .iter()
        .map(|child| child.join().expect("a started process can be joined"))
        .collect();
    for (i, &code) in codes.iter().enumerate() {
        assert!(
            code == 0 || code == -9,
            "process {i} ended with exit code {code}"
        );
        assert_eq!(children[i].exitcode(), Some(code));
    }
    codes
}

/// Starts one process per closure and returns their exit codes once every one has ended.
fn run_processes<P: Platform>(targets: Vec<Box<dyn FnOnce() + Send + 'static>>) -> Vec<i32> {
    join_processes(&run_processes_started::<P>(targets))
}

/// The harness's view of a critical section guarded by a lock that may be taken over. Entering
/// and leaving are one step each (where a process may be killed between any two of its steps,
/// every step of the observer is one more place to die: a separate mark per process doubled
/// them).
struct Section<P: Platform> {
    /// Who is inside: its number + 1, or 0. A holder that dies inside leaves its mark, which
    /// the next holder finds (and must have taken the lock over to be there).
    inside: P::AtomicU32,
    /// Per process (the main task last): 1 once a holder that took the lock over found this
    /// process's mark (it died inside, or the takeover was wrong).
    found: [P::AtomicU32; MAX_PROCESSES + 1],
    /// How many acquires took the lock over from a dead holder.
    takeovers: P::AtomicU32,
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for Section<P> {}

impl<P: Platform> Section<P> {
    fn new(processes: usize) -> P::Shared<Self> {
        assert!(
            processes <= MAX_PROCESSES,
            "at most {MAX_PROCESSES} processes"
        );
        P::share(Section {
            inside: P::AtomicU32::new(0),
            found: std::array::from_fn(|_| P::AtomicU32::new(0)),
            takeovers: P::AtomicU32::new(0),
        })
    }

    /// Process `who` (the main task is `processes`) has the lock, taken over from a dead
    /// holder if `took_over`: it enters, alone, or in the place of a holder that died inside.
    fn enter(&self, who: usize, took_over: bool) {
        let before = self.inside.swap(who as u32 + 1, SeqCst);
        if took_over {
            self.takeovers.fetch_add(1, SeqCst);
            if let Some(dead) = (before as usize).checked_sub(1) {
                self.found[dead].store(1, SeqCst);
            }
        } else if let Some(other) = (before as usize).checked_sub(1) {
            panic!(
                "two holders inside the section at once: process {other} is still marked inside \
                 (it died there and this acquire did not report OwnerDied, or it lives and the \
                 lock let a second holder in)"
            );
        }
    }

    /// The process inside leaves, still holding the lock.
    fn leave(&self) {
        self.inside.store(0, SeqCst);
    }

    /// After every process ended and the main task went through the section last: a
    /// takeover only after a death, at most one per death, and only from a dead holder. (That
    /// every holder that died inside was taken over, the next holder's `enter` checked: the
    /// main task holds the lock last.)
    fn judge(&self, codes: &[i32]) {
        let killed = codes.iter().filter(|&&c| c == -9).count() as u32;
        let takeovers = self.takeovers.load(SeqCst);
        assert!(
            takeovers <= killed,
            "{takeovers} takeover(s) (OwnerDied) with {killed} process(es) killed"
        );
        for (i, &code) in codes.iter().enumerate() {
            assert!(
                code == -9 || self.found[i].load(SeqCst) == 0,
                "process {i}'s section was taken over (OwnerDied) while it lived"
            );
        }
    }
}

/// Child processes each go `ops` times through a section guarded by a [`Lock`], then the main
/// task once more. Wherever a process is killed, every other process still finishes (a dead
/// holder never leaves its waiters waiting), no two holders are ever inside together (a live
/// holder's lock is never taken over), and an acquire reports `OwnerDied` — holding the lock —
/// only after a holder died, at least once for a process that died inside the section.
pub fn lock_holder_killed<P: Platform>(size: Size) {
    let lock = Lock::<P>::new();
    let section = Section::<P>::new(size.threads);
    let targets = (0..size.threads)
        .map(|who| {
            let (lock, section) = (lock.clone(), section.clone());
            Box::new(move || {
                for _ in 0..size.ops {
                    let took_over = lock.acquire() == Err(Error::OwnerDied);
                    section.enter(who, took_over);
                    section.leave();
                    lock.release().expect("the holder releases");
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let codes = run_processes::<P>(targets);
    let took_over = lock.acquire() == Err(Error::OwnerDied);
    section.enter(size.threads, took_over);
    section.leave();
    lock.release().expect("the main task holds it");
    assert!(!lock.is_locked());
    section.judge(&codes);
}

/// As [`lock_holder_killed`], with the unit of a [`BoundedSemaphore`] of 1 held through
/// guards: a unit held by a process that dies is given back to the next acquirer, which learns
/// it (`owner_died()`), only after a death, at least once for a process that died inside; no
/// two holders are ever inside together (a live holder's unit is never given back), and at
/// the end the semaphore is whole again, exactly (a further release is refused).
pub fn semaphore_guard_holder_killed<P: Platform>(size: Size) {
    let sem = BoundedSemaphore::<P>::new(1);
    let section = Section::<P>::new(size.threads);
    let pass = |sem: &BoundedSemaphore<P>, section: &Section<P>, who: usize| {
        let unit = sem.guard();
        section.enter(who, unit.owner_died());
        section.leave();
    };
    let targets = (0..size.threads)
        .map(|who| {
            let (sem, section) = (sem.clone(), section.clone());
            Box::new(move || {
                for _ in 0..size.ops {
                    pass(&sem, &section, who);
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let codes = run_processes::<P>(targets);
    pass(&sem, &section, size.threads);
    assert_eq!(sem.get_value(), 1, "every unit back");
    assert_eq!(
        sem.release(),
        Err(Error::ReleasedTooManyTimes {
            primitive: "BoundedSemaphore"
        }),
        "a dead holder's unit given back once"
    );
    section.judge(&codes);
}

/// As [`lock_holder_killed`], with an [`RLock`] taken twice (recursively) in each section: a
/// takeover makes the new owner the owner at depth 1, and its recursive acquire and both
/// releases work as for any owner.
pub fn rlock_holder_killed<P: Platform>(size: Size) {
    let lock = RLock::<P>::new();
    let section = Section::<P>::new(size.threads);
    let pass = |lock: &RLock<P>, section: &Section<P>, who: usize| {
        let took_over = lock.acquire() == Err(Error::OwnerDied);
        lock.acquire().expect("the owner takes it again");
        section.enter(who, took_over);
        section.leave();
        lock.release().expect("the owner releases");
        lock.release().expect("the owner releases");
    };
    let targets = (0..size.threads)
        .map(|who| {
            let (lock, section) = (lock.clone(), section.clone());
            Box::new(move || {
                for _ in 0..size.ops {
                    pass(&lock, &section, who);
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let codes = run_processes::<P>(targets);
    pass(&lock, &section, size.threads);
    assert!(!lock.is_owned() && lock.try_acquire(), "the RLock is free");
    lock.release().expect("the owner releases");
    section.judge(&codes);
}

/// What a party of a [`Condition`] handshake does once it holds the lock
/// (`condition_party`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Waits for the flag for as long as it takes: its notifier never dies, so a wait that
    /// never ends is a lost wake-up, which the simulator reports as a deadlock.
    Wait,
    /// Waits for the flag at most a second: its notifier may die before it notifies (then it
    /// never will).
    WaitAtMost,
    /// Sets the flag and notifies every waiter.
    Notify,
}

/// One party of a [`Condition`] (on its RLock) handshake: takes the lock (counting a takeover
/// from a dead holder in `told`), then does its `part`; then releases. A waiter that says the
/// flag is set saw it set; a party that finds the lock taken over from a dead holder is told
/// (`OwnerDied`), holding it.
fn condition_party<P: Platform>(
    cond: &Condition<P>,
    flag: &P::AtomicU32,
    told: &P::AtomicU32,
    part: Part,
) {
    if cond.acquire() == Err(Error::OwnerDied) {
        told.fetch_add(1, SeqCst);
    }
    let set = || flag.load(SeqCst) == 1;
    let waited = match part {
        Part::Wait => Some(cond.wait_for(set)),
        Part::WaitAtMost => Some(cond.wait_for_timeout(set, Duration::from_secs(1))),
        Part::Notify => {
            flag.store(1, SeqCst);
            cond.notify_all().expect("the notifier holds the lock");
            None
        }
    };
    match waited {
        Some(Ok(true)) => assert_eq!(flag.load(SeqCst), 1),
        Some(Ok(false)) => assert_eq!(part, Part::WaitAtMost, "an untimed wait said false"),
        Some(Err(Error::OwnerDied)) => {
            told.fetch_add(1, SeqCst);
        }
        Some(Err(e)) => panic!("wait: {e}"),
        None => {}
    }
    cond.release().expect("the party holds the lock");
}

/// `size.threads` child processes wait on a [`Condition`] (or, with `waiters` false, notify
/// it) while the main task does the other part, `size.ops` times each; either may die
/// anywhere. Nobody hangs, a party learns of a takeover (`OwnerDied`) only after a death, and
/// afterwards the main task can take the lock and notify. The main task (whom nobody kills)
/// waits at most a second for a notifier that may die; the children wait for the main task
/// without a timeout, so that a wake-up a dead waiter made the others miss is a hang, not a
/// timeout that the property would have to accept.
fn condition_killed<P: Platform>(size: Size, waiters: bool) {
    let cond = Condition::<P>::new();
    // a: the flag; b: how many parties were told of a takeover.
    let shared = counts::<P>();
    let (children_part, main_part) = if waiters {
        (Part::Wait, Part::Notify)
    } else {
        (Part::Notify, Part::WaitAtMost)
    };
    let targets = (0..size.threads)
        .map(|_| {
            let (cond, shared) = (cond.clone(), shared.clone());
            Box::new(move || {
                for _ in 0..size.ops {
                    condition_party(&cond, &shared.a, &shared.b, children_part);
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let children: Vec<Process<P>> = run_processes_started::<P>(targets);
    for _ in 0..size.ops {
        condition_party(&cond, &shared.a, &shared.b, main_part);
    }
    let codes = join_processes(&children);
    if cond.acquire() == Err(Error::OwnerDied) {
        shared.b.fetch_add(1, SeqCst);
    }
    cond.notify_all().expect("the main task holds the lock");
    cond.release().expect("the main task holds the lock");
    let killed = codes.iter().filter(|&&c| c == -9).count() as u32;
    let told = shared.b.load(SeqCst);
    assert!(told <= killed, "{told} OwnerDied with {killed} death(s)");
}

/// A [`Condition`] whose waiting processes may die: see `condition_killed`.
pub fn condition_waiter_killed<P: Platform>(size: Size) {
    condition_killed::<P>(size, true)
}

/// A [`Condition`] whose notifying processes may die (the main task waits, with a timeout):
/// see `condition_killed`.
pub fn condition_notifier_killed<P: Platform>(size: Size) {
    condition_killed::<P>(size, false)
}

/// A child process sends `ops` numbered messages on one pipe and holds the reading end of
/// another, which it never reads; its death may cut it short anywhere. The main task receives
/// the child's messages in order, then end of file (or, if the child died in the middle of a
/// message, a `Truncated` error) — never a hang, every message if the child lived; once the
/// child has ended (returned or died), a send to it fails with `BrokenPipe`: the ends of a
/// dead process are closed, as those of one that returned.
pub fn pipe_peer_killed<P: Platform>(size: Size) {
    let (from_child, child_tx) = pipe::<u32, P>(false).expect("a pipe");
    let (child_rx, to_child) = pipe::<u32, P>(false).expect("a pipe");
    let ops = size.ops as u32;
    let child = Process::<P>::new(move || {
        let _keep = child_rx;
        for i in 0..ops {
            child_tx
                .send(&i)
                .expect("the main task reads until end of file");
        }
    });
    child.start().expect("a process starts");
    let mut got = 0;
    let cut = loop {
        match from_child.recv() {
            Ok(i) => {
                assert_eq!(i, got, "messages in order");
                got += 1;
            }
            Err(Error::Eof) => break false,
            Err(Error::Truncated { .. }) => break true,
            Err(e) => panic!("recv: {e}"),
        }
    };
    let code = child.join().expect("a started process can be joined");
    let killed = code == -9;
    assert!(code == 0 || killed, "exit code {code}");
    if !killed {
        assert_eq!(got, ops, "a child that lived sent every message");
    }
    assert!(!cut || killed, "a message cut off by a child that lived");
    assert_eq!(
        to_child.send(&0),
        Err(Error::BrokenPipe),
        "a send to an ended process's pipe"
    );
}

/// Child processes each make `ops` increments of a [`Value`] with `update`; then the main task
/// updates it until an update goes through. An update refuses with `OwnerDied` (changing
/// nothing) only after a death, at most once per death, and the next one goes through; the
/// value counts every increment that went through, plus at most one per death (an update the
/// dead made before it could return).
pub fn value_update_holder_killed<P: Platform>(size: Size) {
    let value = Value::<u64, P>::new(0);
    // a: updates that went through; b: updates refused.
    let shared = counts::<P>();
    let update = |value: &Value<u64, P>, done: &P::AtomicU32, refused: &P::AtomicU32| loop {
        match value.update(|n| *n += 1) {
            Ok(()) => {
                done.fetch_add(1, SeqCst);
                break;
            }
            Err(Error::OwnerDied) => {
                refused.fetch_add(1, SeqCst);
            }
            Err(e) => panic!("update: {e}"),
        }
    };
    let targets = (0..size.threads)
        .map(|_| {
            let (value, shared) = (value.clone(), shared.clone());
            Box::new(move || {
                for _ in 0..size.ops {
                    update(&value, &shared.a, &shared.b);
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let codes = run_processes::<P>(targets);
    update(&value, &shared.a, &shared.b);
    let killed = codes.iter().filter(|&&c| c == -9).count() as u64;
    let (done, refused) = (shared.a.load(SeqCst) as u64, shared.b.load(SeqCst) as u64);
    assert!(
        refused <= killed,
        "{refused} OwnerDied with {killed} death(s)"
    );
    let total = value.get();
    assert!(
        done <= total && total <= done + killed,
        "{total} after {done} update(s) and {killed} death(s)"
    );
}

/// Producer processes (`size.threads`) put `size.ops` items each into a [`Queue`] that holds
/// them, the main task closes it once they ended and gets every item: wherever a producer dies
/// inside `put`, nobody waits for good (a dead producer's claim of the tail is freed by the
/// next putter, its ticket undone), every live producer's item is received once and in order,
/// and a dead producer loses at most the item it was putting, reported once (`ItemLost`)
/// ([`queue_kill::check_killed`]). (Producers that wait for room while a consumer gets:
/// [`queue_producer_killed_alongside`].)
pub fn queue_producer_killed<P: Platform>(size: Size) {
    let items = size.threads.max(1) * size.ops.max(1);
    let queue =
        Queue::<queue_kill::Item, P>::with_capacity(Some(items), 8 * items).expect("a queue");
    queue_kill::queue_survives_kills(&queue, size.threads, 0, size.ops as u32, false);
}

/// As [`queue_producer_killed`], with a [`Queue`] of one item and one slot (every put waits
/// for the ticket and reuses the slot the last get freed) and a consumer task of the main
/// process getting alongside the producers: a dead producer's claim may hold the last ticket.
/// Too big for exhaustive search with a kill; tests/recovery.rs runs it under PCT and random
/// walk with kills.
pub fn queue_producer_killed_alongside<P: Platform>(size: Size) {
    let queue = Queue::<queue_kill::Item, P>::with_capacity(Some(1), 8).expect("a queue");
    queue_kill::queue_survives_kills(&queue, size.threads, 0, size.ops as u32, true);
}

/// The main task puts `size.ops` items into a [`Queue`] that holds them and closes it; then
/// consumer processes (`size.threads`) get until it is drained, and the main task once they
/// ended: wherever a consumer process dies inside `get`, nobody waits for good (its claim of
/// the item at the head is taken over), and every item is received once and in order, except
/// at most the one each dead consumer was getting ([`queue_kill::check_killed`]). (A dead
/// consumer's slots freed by the putter that needs them: `queue_producer_killed` does not kill
/// consumers, and tests/queue_death_os.rs does it on real processes.)
pub fn queue_consumer_killed<P: Platform>(size: Size) {
    let items = size.ops.max(1);
    let queue =
        Queue::<queue_kill::Item, P>::with_capacity(Some(items), 8 * items).expect("a queue");
    queue_kill::queue_survives_kills(&queue, 0, size.threads, size.ops as u32, false);
}

/// The most rounds [`barrier_party_killed`] runs (more operations are cut to this many).
const MAX_ROUNDS: usize = 16;

/// What [`barrier_party_killed`]'s parties saw.
struct Rounds<P: Platform> {
    /// Per process: 1 while it is inside `wait`.
    phase: [P::AtomicU32; MAX_PROCESSES],
    /// Per process and round: 0 not returned, `1 + index` for `Ok(index)`, [`BROKEN`] for
    /// `BrokenBarrier`.
    result: [[P::AtomicU32; MAX_ROUNDS]; MAX_PROCESSES],
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for Rounds<P> {}

/// A `BrokenBarrier` in [`Rounds::result`].
const BROKEN: u32 = u32::MAX;

/// The parties of a [`Barrier`] wait on it `size.ops` times each: `size.threads` child
/// processes and one task of the main process (which nobody kills), while the main task
/// watches. Wherever a party's process dies:
/// - a party that dies inside `wait` (counted in the round) never leaves the others waiting:
///   they get `BrokenBarrier` (or, once the round was released, go on); a party that dies
///   *before* it arrives cannot be told from a slow one (as in Python), and leaves the others
///   waiting — so the main task, when every task left is blocked (a timed wait of its own
///   times out: run it with timeouts that fire only then, the simulator's
///   `Timeouts::WhenIdle`), checks that the round counts no dead party (`n_waiting` is the
///   number of live parties inside `wait`: a dead party still counted, or a reset round that
///   cannot end because a dead party is never counted out of it, is one the barrier failed to
///   count out), then `abort`s the barrier to release them;
/// - within a round the live parties all get `Ok`, with distinct indices, or all
///   `BrokenBarrier`, and after a `BrokenBarrier` every later round is broken too;
/// - without a death every party gets `Ok` in every round, indices `0..parties` each round.
pub fn barrier_party_killed<P: Platform>(size: Size) {
    let parties = size.threads + 1;
    assert!(
        parties <= MAX_PROCESSES,
        "at most {} child processes",
        MAX_PROCESSES - 1
    );
    let size = Size {
        ops: size.ops.min(MAX_ROUNDS),
        ..size
    };
    let barrier = Barrier::<P>::new(parties);
    let rounds = P::share(Rounds::<P> {
        phase: std::array::from_fn(|_| P::AtomicU32::new(0)),
        result: std::array::from_fn(|_| std::array::from_fn(|_| P::AtomicU32::new(0))),
    });
    let party = move |who: usize, barrier: &Barrier<P>, rounds: &Rounds<P>| {
        for round in 0..size.ops {
            rounds.phase[who].store(1, SeqCst);
            let seen = match barrier.wait() {
                Ok(index) => 1 + index as u32,
                Err(Error::BrokenBarrier) => BROKEN,
                Err(e) => panic!("Barrier::wait: {e}"),
            };
            rounds.phase[who].store(0, SeqCst);
            rounds.result[who][round].store(seen, SeqCst);
        }
    };
    let targets = (0..size.threads)
        .map(|who| {
            let (barrier, rounds) = (barrier.clone(), rounds.clone());
            Box::new(move || party(who, &barrier, &rounds)) as Box<dyn FnOnce() + Send>
        })
        .collect();
    let children = run_processes_started::<P>(targets);
    let done = Event::<P>::new();
    let local = mpcheck::thread::spawn::<P, _, _>({
        let (barrier, rounds, done) = (barrier.clone(), rounds.clone(), done.clone());
        move || {
            party(size.threads, &barrier, &rounds);
            done.set();
        }
    });
    let dead =
        |children: &[Process<P>]| children.iter().filter(|c| c.exitcode() == Some(-9)).count();
    let mut aborted = false;
    // Waits with `ended` (an hour: on engines whose timeouts fire only when every task is
    // blocked, only then) until it says the awaited party ended; `wait` is its untimed form.
    let mut watch = |ended: &dyn Fn() -> bool, wait: &dyn Fn()| {
        while !ended() {
            let dead_before = dead(&children);
            if dead_before == 0 {
                // Nobody died, so nobody waits for good: an engine that ends timed waits
                // anywhere (and kills nobody) ended this one early.
                wait();
                return;
            }
            // Once more, so that every death counted has been seen by every live task (the
            // liveness is read once every task is blocked: fewer orders to explore).
            if aborted || ended() {
                continue;
            }
            let inside = children
                .iter()
                .enumerate()
                .filter(|&(i, c)| c.exitcode().is_none() && rounds.phase[i].load(SeqCst) == 1)
                .count()
                + rounds.phase[size.threads].load(SeqCst) as usize;
            let waiting = barrier.n_waiting();
            if dead(&children) != dead_before {
                // Killed meanwhile: the others may not have seen it yet.
                continue;
            }
            // Every live task is blocked (and was when the wait timed out, with no death since).
            // `n_waiting` is 0 unless the round is filling: live parties held back by a phase
            // that cannot end (a reset round with a dead party counted in it) fail here as
            // well.
            assert_eq!(
                waiting, inside,
                "every live task is blocked, and the round's count is not the number of live \
                 parties inside wait (a dead party the barrier did not count out?)"
            );
            barrier.abort();
            aborted = true;
        }
    };
    let hour = Duration::from_secs(3600);
    for child in &children {
        watch(
            &|| {
                child
                    .join_timeout(hour)
                    .expect("a started process can be joined")
            },
            &|| {
                child.join().expect("a started process can be joined");
            },
        );
    }
    watch(&|| done.wait_timeout(hour), &|| done.wait());
    local.join().expect("the main process's party returns");
    let codes = join_processes(&children);
    let deaths = codes.iter().filter(|&&c| c == -9).count();
    for round in 0..size.ops {
        let seen: Vec<u32> = (0..parties)
            .map(|who| rounds.result[who][round].load(SeqCst))
            .filter(|&r| r != 0)
            .collect();
        if deaths == 0 {
            let mut indices = seen.clone();
            indices.sort_unstable();
            assert_eq!(
                indices,
                (1..=parties as u32).collect::<Vec<_>>(),
                "round {round} without a death: every party released, each index once"
            );
            continue;
        }
        let broken = seen.iter().filter(|&&r| r == BROKEN).count();
        assert!(
            broken == 0 || broken == seen.len(),
            "round {round}: some parties released and some broken ({seen:?})"
        );
        let mut ok: Vec<u32> = seen.iter().copied().filter(|&r| r != BROKEN).collect();
        ok.sort_unstable();
        ok.dedup();
        assert_eq!(
            ok.len(),
            seen.len() - broken,
            "round {round}: an index twice"
        );
        if round > 0 {
            for who in 0..parties {
                let (before, now) = (
                    rounds.result[who][round - 1].load(SeqCst),
                    rounds.result[who][round].load(SeqCst),
                );
                assert!(
                    before != BROKEN || now == BROKEN || now == 0,
                    "party {who} released in round {round} after a broken round"
                );
            }
        }
    }
}

/// A recovery property and the sizes it runs at.
#[derive(Clone, Copy, Debug)]
pub struct RecoveryProperty {
    /// The primitive it is about.
    pub primitive: &'static str,
    /// The property's name (its function's name).
    pub name: &'static str,
    /// The function, instantiated for one platform.
    pub run: fn(Size),
    /// The size at which the simulator's exhaustive search with one kill covers it.
    pub exhaustive: Size,
    /// Whether it must run with timed waits that end only when no task can run (the
    /// simulator's `Timeouts::WhenIdle`): it judges what it sees when every task is blocked.
    pub idle_timeouts: bool,
    /// Whether the simulator's search without reduction, at 1 × 1 with one kill, is small
    /// enough (40,000 executions) to cross-check the reduction against (tests/recovery.rs).
    pub cross_checked: bool,
}

impl RecoveryProperty {
    /// As a [`Property`], for the check runners ([`super::run`], [`super::explore`], ...):
    /// loom's bound is 3 preemptions at the exhaustive size.
    pub fn property(&self) -> Property {
        Property {
            primitive: self.primitive,
            name: self.name,
            run: self.run,
            exhaustive: self.exhaustive,
            loom_bound: Some(3),
        }
    }

    /// The size of sampled runs (random walk, PCT, shuttle, real processes): one process more
    /// than the exhaustive size where that has more than one, and one operation more.
    pub fn sampled(&self) -> Size {
        let exhaustive = self.exhaustive;
        Size {
            threads: exhaustive.threads + (exhaustive.threads > 1) as usize,
            ops: exhaustive.ops + 1,
            start_together: false,
        }
    }

    /// The simulator's `config` with the timeouts this property needs ([`Self::idle_timeouts`]).
    pub fn configure(&self, config: Config) -> Config {
        if self.idle_timeouts {
            config.timeouts(Timeouts::WhenIdle)
        } else {
            config
        }
    }
}

/// Invokes the macro `$m` once with the name of every recovery property, as
/// [`for_each_property!`](crate::for_each_property) does for [`super::properties`].
#[macro_export]
macro_rules! for_each_recovery_property {
    ($m:ident) => {
        $m!(
            lock_holder_killed,
            rlock_holder_killed,
            semaphore_guard_holder_killed,
            condition_waiter_killed,
            condition_notifier_killed,
            pipe_peer_killed,
            value_update_holder_killed,
            queue_producer_killed,
            queue_consumer_killed,
            barrier_party_killed,
        );
    };
}

/// Every recovery property, instantiated for `P`.
pub fn all<P: Platform>() -> Vec<RecoveryProperty> {
    let one = |threads, ops| Size {
        threads,
        ops,
        start_together: false,
    };
    vec![
        RecoveryProperty {
            primitive: "Lock",
            name: "lock_holder_killed",
            run: lock_holder_killed::<P>,
            exhaustive: one(2, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "RLock",
            name: "rlock_holder_killed",
            run: rlock_holder_killed::<P>,
            exhaustive: one(2, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "BoundedSemaphore",
            name: "semaphore_guard_holder_killed",
            run: semaphore_guard_holder_killed::<P>,
            exhaustive: one(1, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Condition",
            name: "condition_waiter_killed",
            run: condition_waiter_killed::<P>,
            exhaustive: one(1, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Condition",
            name: "condition_notifier_killed",
            run: condition_notifier_killed::<P>,
            exhaustive: one(1, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Pipe",
            name: "pipe_peer_killed",
            run: pipe_peer_killed::<P>,
            exhaustive: one(1, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Value",
            name: "value_update_holder_killed",
            run: value_update_holder_killed::<P>,
            exhaustive: one(2, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Queue",
            name: "queue_producer_killed",
            run: queue_producer_killed::<P>,
            exhaustive: one(2, 1),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Queue",
            name: "queue_consumer_killed",
            run: queue_consumer_killed::<P>,
            exhaustive: one(1, 2),
            idle_timeouts: false,
            cross_checked: true,
        },
        RecoveryProperty {
            primitive: "Barrier",
            name: "barrier_party_killed",
            run: barrier_party_killed::<P>,
            exhaustive: one(1, 1),
            idle_timeouts: true,
            cross_checked: false,
        },
    ]
}

/// The recovery property called `name`, instantiated for `P`.
pub fn find<P: Platform>(name: &str) -> Option<RecoveryProperty> {
    all::<P>().into_iter().find(|p| p.name == name)
}
