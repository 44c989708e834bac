//! A lock whose holder process dies: the next acquirer takes it over and learns it
//! (`Error::OwnerDied`), whether it comes after the death or was already waiting; by both
//! start methods, for Lock, RLock, Condition and Value. Real processes, killed with SIGKILL
//! while they hold the lock (or ended without releasing it); synchronized by pipes, no sleeps.

use mpcheck::{pipe, Condition, Connection, Error, Lock, Os, Process, RLock, StartMethod, Value};

/// Held by every test that starts processes (see tests/process_os.rs).
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forks() -> std::sync::MutexGuard<'static, ()> {
    FORKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts `child`, waits for its word that it holds the lock, kills it and reaps it.
fn kill_holder(child: Process, held: Connection<()>) {
    child.start().unwrap();
    held.recv().expect("the child says it holds the lock");
    child.kill().unwrap();
    assert_eq!(child.join(), Ok(-9));
}

/// In a child that holds a lock: says so on `tx`, then blocks until it is killed.
fn say_held_and_wait(tx: &Connection<()>) -> ! {
    tx.send(&()).unwrap();
    loop {
        std::thread::park();
    }
}

/// A child that takes `lock`, says so on `tx`, and then blocks forever (until killed).
fn holding_child(lock: Lock, tx: Connection<()>) -> Process {
    Process::<Os>::new(move || {
        lock.acquire().unwrap();
        say_held_and_wait(&tx)
    })
}

#[test]
fn the_next_acquirer_of_a_dead_holders_lock_takes_it_over() {
    let _forks = forks();
    let lock = Lock::<Os>::new();
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    kill_holder(holding_child(lock.clone(), tx), rx);
    assert!(lock.is_locked(), "what the dead holder held stays held");
    assert!(!lock.try_acquire(), "try_acquire does not take a lock over");
    assert_eq!(lock.acquire(), Err(Error::OwnerDied));
    assert!(lock.is_locked(), "taken over: the caller holds it");
    lock.release().unwrap();
    assert_eq!(lock.acquire(), Ok(()), "recovered: an ordinary lock again");
    lock.release().unwrap();
    assert!(Error::OwnerDied.to_string().contains("died holding it"));
}

#[test]
fn a_waiter_is_released_when_the_holder_dies() {
    let _forks = forks();
    let lock = Lock::<Os>::new();
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    let child = holding_child(lock.clone(), tx);
    child.start().unwrap();
    rx.recv().unwrap();
    // A thread of this process waits for the lock while the child holds it.
    let (waiting_rx, waiting_tx) = pipe::<(), Os>(false).unwrap();
    let theirs = lock.clone();
    let waiter = std::thread::spawn(move || {
        waiting_tx.send(&()).unwrap();
        let guard = theirs.lock();
        guard.owner_died()
    });
    waiting_rx.recv().unwrap();
    child.kill().unwrap();
    assert!(waiter.join().unwrap(), "the waiter took it over");
    assert_eq!(child.join(), Ok(-9));
    assert!(!lock.is_locked(), "the guard released it");
}

#[test]
fn a_holder_that_ends_without_releasing_counts_as_dead_too() {
    let _forks = forks();
    let lock = Lock::<Os>::new();
    let theirs = lock.clone();
    let child = Process::<Os>::new(move || theirs.acquire().unwrap());
    child.start().unwrap();
    assert_eq!(child.join(), Ok(0));
    assert!(lock.acquire_timeout(std::time::Duration::from_secs(3600)));
    lock.release().unwrap();
}

fn hold_rlock_twice((lock, tx): (RLock, Connection<()>)) {
    lock.acquire().unwrap();
    lock.acquire().unwrap();
    say_held_and_wait(&tx)
}

#[test]
fn an_rlock_taken_over_is_owned_once() {
    let _forks = forks();
    for method in [StartMethod::Fork, StartMethod::Spawn] {
        let lock = RLock::<Os>::new();
        let (rx, tx) = pipe::<(), Os>(false).unwrap();
        let child = Process::<Os>::call(hold_rlock_twice, (lock.clone(), tx)).start_method(method);
        kill_holder(child, rx);
        assert!(!lock.is_owned());
        assert_eq!(lock.acquire(), Err(Error::OwnerDied), "{method:?}");
        assert!(lock.is_owned());
        lock.release().unwrap();
        assert!(
            !lock.is_locked(),
            "one level: the dead owner's depth is gone"
        );
    }
}

#[test]
fn a_condition_and_a_value_report_their_dead_holder() {
    let _forks = forks();
    let condition = Condition::<Os>::new();
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    let theirs = condition.clone();
    let child = Process::<Os>::new(move || {
        theirs.acquire().unwrap();
        say_held_and_wait(&tx)
    });
    kill_holder(child, rx);
    let guard = condition.lock();
    assert!(guard.owner_died());
    drop(guard);
    assert_eq!(condition.acquire(), Ok(()));
    condition.release().unwrap();

    let value = Value::<u64, Os>::new(5);
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    let theirs = value.clone();
    let child = Process::<Os>::new(move || {
        theirs.get_lock().unwrap().acquire().unwrap();
        say_held_and_wait(&tx)
    });
    kill_holder(child, rx);
    assert_eq!(value.update(|v| *v += 1), Err(Error::OwnerDied));
    assert_eq!(value.get(), 5, "nothing changed by the refused update");
    assert_eq!(value.update(|v| *v += 1), Ok(()));
    assert_eq!(value.get(), 6);
}
