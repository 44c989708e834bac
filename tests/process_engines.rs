//! `Process` under the explorers: one generic scenario, run by the simulator (where a process
//! is a simulated process with a number of its own), loom and shuttle (where it is a task of
//! the parent's process). Real processes are tested in tests/process_os.rs (and here, the
//! barrier's released round, which every engine runs).

use std::time::Duration;

use mpcheck::platform::Platform;
use mpcheck::platform::{Atomic, AtomicInt};
use mpcheck::{Barrier, BoundedSemaphore, Error, Process, RLock, Value};

/// A parent and a child process share a value and an RLock the parent holds: the child sees
/// the lock owned by someone else (it is not the owner: another process, or another thread of
/// the parent's), sets the value, and ends with exit code 0; every call before the start is
/// `NotStarted`.
fn parent_and_child<P: Platform>() {
    let value = Value::<u32, P>::new(0);
    let rlock = RLock::<P>::new();
    rlock.acquire().unwrap();
    let (theirs, their_lock) = (value.clone(), rlock.clone());
    let child = Process::<P>::new(move || {
        assert!(!their_lock.try_acquire(), "the parent owns it");
        assert_eq!(
            their_lock.release(),
            Err(Error::NotOwner {
                operation: "RLock::release"
            })
        );
        theirs.set(7);
    })
    .name("worker");
    assert_eq!(child.get_name(), "worker");
    assert_eq!(child.join(), Err(Error::NotStarted));
    assert_eq!(child.join_timeout(Duration::ZERO), Err(Error::NotStarted));
    assert_eq!(child.exitcode(), None);
    child.start().unwrap();
    assert_eq!(child.start(), Err(Error::AlreadyStarted));
    assert!(matches!(child.terminate(), Err(Error::Unsupported(_))));
    assert!(matches!(child.kill(), Err(Error::Unsupported(_))));
    assert_eq!(child.join(), Ok(0));
    assert_eq!(value.get(), 7);
    assert_eq!(child.exitcode(), Some(0));
    assert!(!child.is_alive());
    rlock.release().unwrap();
}

/// Two tasks wait for one process at once (one looks whether it is alive first): both learn
/// its exit code. (A join held the `Process`'s own lock while it waited, so the second caller
/// waited for that lock, not for the child: under the simulator, whose tasks take turns on
/// one thread, for ever.)
fn two_joiners<P: Platform>() {
    let child = std::sync::Arc::new(Process::<P>::new(|| ()));
    child.start().unwrap();
    let theirs = child.clone();
    let other = mpcheck::thread::spawn::<P, _, _>(move || {
        let _ = theirs.is_alive();
        theirs.join()
    });
    assert_eq!(child.join(), Ok(0));
    assert_eq!(other.join().unwrap(), Ok(0));
    assert_eq!(child.exitcode(), Some(0));
}

/// Two tasks start one process at once: exactly one starts it, the other is refused
/// (`AlreadyStarted`), and the process runs once. Returns whether the main task started it.
/// (A start held the `Process`'s own lock across the start of the child, where the other task
/// may run: it then waited for that lock for ever under the simulator, loom and shuttle; and,
/// the lock being invisible to the explorers, the reduction never tried the other task first.)
fn two_starters<P: Platform>() -> bool {
    let runs = std::sync::Arc::new(P::AtomicU32::new(0));
    let theirs = runs.clone();
    let child = std::sync::Arc::new(Process::<P>::new(move || {
        theirs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    let other = child.clone();
    let task = mpcheck::thread::spawn::<P, _, _>(move || other.start());
    let mine = child.start();
    let theirs = task.join().unwrap();
    assert!(mine.is_ok() != theirs.is_ok(), "{mine:?}, {theirs:?}");
    assert!([&mine, &theirs].contains(&&Err(Error::AlreadyStarted)));
    assert_eq!(child.join(), Ok(0));
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 1);
    mine.is_ok()
}

/// Under the simulator, a `Process` is a simulated process: its own number, inherited by the
/// tasks it spawns, and a grandchild gets another.
fn simulated_numbers() {
    use mpcheck::Sim;
    let me = Sim::current_task().process;
    let numbers = Value::<u32, Sim>::new(0);
    let theirs = numbers.clone();
    let child = Process::<Sim>::new(move || {
        let mine = Sim::current_task().process;
        let task = mpcheck::thread::spawn::<Sim, _, _>(|| Sim::current_task().process);
        assert_eq!(task.join().unwrap(), mine, "a task stays in its process");
        let grandchild = Process::<Sim>::new(|| ());
        grandchild.start().unwrap();
        assert_ne!(grandchild.pid(), Some(mine));
        grandchild.join().unwrap();
        theirs.set(mine);
    });
    child.start().unwrap();
    child.join().unwrap();
    assert_ne!(numbers.get(), me, "the child is another process");
    assert_eq!(child.pid(), Some(numbers.get()));
}

/// Semaphore guards taken in two processes (where the semaphore records its holders by
/// process, `Platform::multiprocess`): at most one inside at a time, every unit back at the
/// end, the bound exact.
fn guards_across_processes<P: Platform>() {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::Arc;
    let sem = BoundedSemaphore::<P>::new(1);
    let inside = Arc::new(P::AtomicU32::new(0));
    let enter = |sem: &BoundedSemaphore<P>, inside: &P::AtomicU32| {
        let unit = sem.guard();
        assert!(!unit.owner_died(), "nobody dies here");
        assert_eq!(inside.fetch_add(1, Relaxed), 0, "one inside at a time");
        inside.fetch_sub(1, Relaxed);
    };
    let (s, i) = (sem.clone(), Arc::clone(&inside));
    let child = Process::<P>::new(move || enter(&s, &i));
    child.start().unwrap();
    enter(&sem, &inside);
    assert_eq!(child.join(), Ok(0));
    assert_eq!(sem.get_value(), 1);
    assert_eq!(
        sem.release(),
        Err(Error::ReleasedTooManyTimes {
            primitive: "BoundedSemaphore"
        })
    );
}

/// A barrier round between two processes (the barrier counts its parties by process).
fn barrier_across_processes<P: Platform>() {
    let barrier = Barrier::<P>::new(2);
    let theirs = barrier.clone();
    let child = Process::<P>::new(move || {
        theirs.wait().unwrap();
    });
    child.start().unwrap();
    let index = barrier.wait().unwrap();
    assert!(index < 2);
    assert_eq!(child.join(), Ok(0));
}

/// A released round stays released: the parent, released with the child (in either order of
/// arrival), aborts the barrier at once; the child, whether it has run since the release or
/// not, passes (a CPython party still leaving its round gets `BrokenBarrierError` here).
fn a_released_round_stays_released<P: Platform>() {
    let barrier = Barrier::<P>::new(2);
    let theirs = barrier.clone();
    let child = Process::<P>::new(move || {
        theirs.wait().expect("a released round stays released");
    });
    child.start().unwrap();
    barrier.wait().expect("released");
    barrier.abort();
    assert_eq!(child.join(), Ok(0), "the child passed");
    assert!(barrier.broken());
    assert_eq!(
        barrier.wait(),
        Err(Error::BrokenBarrier),
        "later rounds are broken"
    );
}

#[test]
fn a_released_round_stays_released_on_every_engine() {
    use mpcheck::sim::{self, Config, Granularity, Sim};
    for granularity in [Granularity::Step, Granularity::Operation] {
        let config = Config::dfs().granularity(granularity);
        let report = sim::explore(config, a_released_round_stays_released::<Sim>)
            .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete(), "{report}");
    }
    // (A process is a task under loom; unbounded, its search takes two minutes.)
    mpcheck::loom::model_bounded(2, a_released_round_stays_released::<mpcheck::loom::Loom>);
    mpcheck::shuttle::check_random(
        a_released_round_stays_released::<mpcheck::shuttle::Shuttle>,
        200,
    );
    a_released_round_stays_released::<mpcheck::Os>();
}

#[test]
fn guards_sim() {
    use mpcheck::sim::{self, Config, Sim};
    for scenario in [
        guards_across_processes::<Sim>,
        barrier_across_processes::<Sim>,
    ] {
        let report =
            sim::explore(Config::dfs(), scenario).unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete(), "{report}");
    }
}

#[test]
fn guards_loom() {
    // (The barrier scenario under loom is its barrier property's, already run in
    // properties_loom: a process there is a thread.)
    mpcheck::loom::model(guards_across_processes::<mpcheck::loom::Loom>);
}

#[test]
fn guards_shuttle() {
    mpcheck::shuttle::check_random(guards_across_processes::<mpcheck::shuttle::Shuttle>, 200);
    mpcheck::shuttle::check_random(barrier_across_processes::<mpcheck::shuttle::Shuttle>, 200);
}

#[test]
fn sim() {
    use mpcheck::sim::{self, Config, Sim};
    sim::check(Config::dfs(), parent_and_child::<Sim>);
    sim::check(Config::random(100).seed(3), simulated_numbers);
    for granularity in [sim::Granularity::Operation, sim::Granularity::Step] {
        let report = sim::check(Config::dfs().granularity(granularity), two_joiners::<Sim>);
        assert!(report.complete(), "{report}");
        // Both tasks win in some execution.
        let won = std::rc::Rc::new(std::cell::Cell::new([false; 2]));
        let seen = won.clone();
        let report = sim::check(Config::dfs().granularity(granularity), move || {
            let mut w = seen.get();
            w[two_starters::<Sim>() as usize] = true;
            seen.set(w);
        });
        assert!(report.complete(), "{report}");
        assert_eq!(won.get(), [true, true], "{report}");
    }
}

#[test]
fn loom() {
    mpcheck::loom::model(parent_and_child::<mpcheck::loom::Loom>);
    mpcheck::loom::model(two_joiners::<mpcheck::loom::Loom>);
    mpcheck::loom::model(|| {
        two_starters::<mpcheck::loom::Loom>();
    });
}

#[test]
fn shuttle() {
    mpcheck::shuttle::check_random(parent_and_child::<mpcheck::shuttle::Shuttle>, 100);
    mpcheck::shuttle::check_random(two_joiners::<mpcheck::shuttle::Shuttle>, 100);
    mpcheck::shuttle::check_random(
        || {
            two_starters::<mpcheck::shuttle::Shuttle>();
        },
        100,
    );
}
