//! `Process` under the explorers: one generic scenario, run by the simulator (where a process
//! is a simulated process with a number of its own), loom and shuttle (where it is a task of
//! the parent's process). Real processes are tested in tests/process_os.rs.

use std::time::Duration;

use mpcheck::platform::Platform;
use mpcheck::{Error, Process, RLock, Value};

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

#[test]
fn sim() {
    use mpcheck::sim::{self, Config, Sim};
    sim::check(Config::dfs(), parent_and_child::<Sim>);
    sim::check(Config::random(100).seed(3), simulated_numbers);
}

#[test]
fn loom() {
    mpcheck::loom::model(parent_and_child::<mpcheck::loom::Loom>);
}

#[test]
fn shuttle() {
    mpcheck::shuttle::check_random(parent_and_child::<mpcheck::shuttle::Shuttle>, 100);
}
