//! The spawn start method on the real OS: a fresh image of this test binary runs a plain
//! function with decoded arguments, before the test harness's `main` (the library's
//! constructor runs it), and every failure of the way there is an error or an exit code.

use mpcheck::{current_process, parent_process, Error, Os, Process, StartMethod};

/// Held by every test that starts processes (see tests/process_os.rs).
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forks() -> std::sync::MutexGuard<'static, ()> {
    FORKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks, in the spawned child, what it was given and who it is; a failed check is exit
/// code 1.
fn check_identity((name, parent_pid, words): (String, u32, Vec<String>)) {
    assert_eq!(current_process().name(), name);
    assert_ne!(current_process().pid(), parent_pid);
    let parent = parent_process().expect("a spawned child knows its parent");
    assert_eq!(parent.pid(), parent_pid);
    assert_eq!(parent.name(), "MainProcess");
    assert_eq!(words, ["ktv", "room", "四"]);
}

fn exit_with(code: i32) {
    std::process::exit(code)
}

fn panics(message: String) {
    panic!("{message}")
}

fn spawned<A>(f: fn(A), args: A) -> Process
where
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    Process::<Os>::call(f, args).start_method(StartMethod::Spawn)
}

#[test]
fn a_spawned_child_runs_the_function_with_its_arguments() {
    let _forks = forks();
    let words = vec!["ktv".to_owned(), "room".to_owned(), "四".to_owned()];
    let child = spawned(
        check_identity,
        ("singer".to_owned(), std::process::id(), words),
    )
    .name("singer");
    child.start().unwrap();
    assert_ne!(child.pid(), Some(std::process::id()));
    assert_eq!(child.join(), Ok(0));

    // The same function, forked: `call` runs under every start method.
    let words = vec!["ktv".to_owned(), "room".to_owned(), "四".to_owned()];
    let child = Process::<Os>::call(
        check_identity,
        ("Process-x".to_owned(), std::process::id(), words),
    )
    .name("Process-x");
    child.start().unwrap();
    assert_eq!(child.join(), Ok(0));
}

#[test]
fn a_wrong_argument_or_a_panic_is_exit_code_1() {
    let _forks = forks();
    let child = spawned(check_identity, ("not my name".to_owned(), 0, vec![]));
    child.start().unwrap();
    assert_eq!(child.join(), Ok(1));
    let child = spawned(
        panics,
        "the spawned child's own panic (expected)".to_owned(),
    );
    child.start().unwrap();
    assert_eq!(child.join(), Ok(1));
    let child = spawned(exit_with, 7);
    child.start().unwrap();
    assert_eq!(child.join(), Ok(7));
}

#[test]
fn spawn_needs_a_function() {
    let _forks = forks();
    let child = Process::<Os>::new(|| ()).start_method(StartMethod::Spawn);
    match child.start() {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains("Process::call"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(child.join(), Err(Error::NotStarted));
}

#[test]
fn spawn_from_a_program_with_threads_holding_locks() {
    let _forks = forks();
    // A thread holds a mutex for the whole start: a fresh image inherits no memory, so no
    // held lock either.
    let held = std::sync::Arc::new(std::sync::Mutex::new(()));
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let held = held.clone();
        std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            locked_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let words = vec!["ktv".to_owned(), "room".to_owned(), "四".to_owned()];
    let child = spawned(check_identity, ("t".to_owned(), std::process::id(), words)).name("t");
    child.start().unwrap();
    assert_eq!(child.join(), Ok(0));
    done_tx.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn a_malformed_launch_is_reported_by_the_child() {
    // This binary, started with a launch variable that names nothing: the library's entry
    // reports it and ends the image with exit code 1 before the test harness runs.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("MPCHECK_SPAWN", "1:not-a-descriptor:-")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a spawned process could not start") && stderr.contains("MPCHECK_SPAWN"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "the test harness did not run");
}

/// The handles a spawned child gets: every one is the parent's object.
type Handles = (
    mpcheck::Value<u64>,
    mpcheck::Array<u32>,
    mpcheck::Lock,
    mpcheck::RLock,
    mpcheck::Semaphore,
    mpcheck::Event,
    mpcheck::Condition,
    mpcheck::Barrier,
    mpcheck::Queue<String>,
    mpcheck::JoinableQueue<u32>,
);

fn use_handles(handles: Handles) {
    let (value, array, lock, rlock, semaphore, event, condition, barrier, queue, jobs) = handles;
    for _ in 0..1000 {
        value.update(|v| *v += 1).unwrap();
    }
    array.set(1, 42).unwrap();
    lock.release().unwrap(); // the parent acquired it: any process may release a Lock
    assert!(!rlock.try_acquire(), "the parent holds the RLock");
    semaphore.release().unwrap();
    assert!(barrier.wait().is_ok());
    {
        let _g = condition.lock();
        condition.notify_all().unwrap();
    }
    queue
        .put(format!("from {}", mpcheck::current_process().name()))
        .unwrap();
    while let Ok(job) = jobs.get() {
        if job == 0 {
            jobs.task_done().unwrap();
            break;
        }
        jobs.task_done().unwrap();
    }
    event.set();
}

#[test]
fn handles_in_the_arguments_arrive_as_the_same_objects() {
    let _forks = forks();
    let handles: Handles = (
        mpcheck::Value::new(0),
        mpcheck::Array::new(3).unwrap(),
        mpcheck::Lock::new(),
        mpcheck::RLock::new(),
        mpcheck::Semaphore::new(0),
        mpcheck::Event::new(),
        mpcheck::Condition::new(),
        mpcheck::Barrier::new(2),
        mpcheck::Queue::new(),
        mpcheck::JoinableQueue::new(),
    );
    let (value, array, lock, rlock, semaphore, event, _condition, barrier, queue, jobs) =
        handles.clone();
    lock.acquire().unwrap();
    rlock.acquire().unwrap();
    for job in [3, 2, 1, 0] {
        jobs.put(job).unwrap();
    }
    let child = spawned(use_handles, handles).name("handles");
    child.start().unwrap();
    assert!(
        barrier.wait().is_ok(),
        "the child waits at the same barrier"
    );
    semaphore.acquire().unwrap(); // released by the child
    assert_eq!(queue.get().unwrap(), "from handles");
    jobs.join();
    event.wait();
    assert_eq!(child.join(), Ok(0));
    assert_eq!(value.get(), 1000);
    assert_eq!(array.to_vec(), [0, 42, 0]);
    assert!(!lock.is_locked(), "released by the child");
    rlock.release().unwrap();
}

#[test]
fn a_handle_decoded_as_another_type_or_from_another_engine_is_an_error() {
    let value = mpcheck::Value::<u64, Os>::new(5);
    let bytes = postcard::to_allocvec(&value).unwrap();
    let again: mpcheck::Value<u64, Os> = postcard::from_bytes(&bytes).unwrap();
    again.set(6);
    assert_eq!(value.get(), 6, "decoded, it is the same value");
    let twice: mpcheck::Value<u64, Os> = postcard::from_bytes(&bytes).unwrap();
    drop((again, twice));
    assert_eq!(value.get(), 6, "decoding the same bytes twice is safe");
    let wrong = postcard::from_bytes::<mpcheck::Lock<Os>>(&bytes);
    let message = wrong.unwrap_err().to_string();
    assert!(!message.is_empty());
    let queue = mpcheck::Queue::<mpcheck::Lock<Os>, Os>::new();
    let lock = mpcheck::Lock::<Os>::new();
    queue.put(lock.clone()).unwrap();
    let travelled = queue.get().unwrap();
    travelled.acquire().unwrap();
    assert!(lock.is_locked(), "a lock through a queue is the same lock");
    // A queue whose items claim to be locks, fed the bytes of a value: refused, not misread.
    let raw = mpcheck::Queue::<mpcheck::Value<u64, Os>, Os>::new();
    raw.put(value.clone()).unwrap();
    let bytes_queue: mpcheck::Queue<mpcheck::Value<u64, Os>, Os> = raw;
    assert_eq!(bytes_queue.get().unwrap().get(), 6);

    let report = mpcheck::sim::explore(mpcheck::sim::Config::random(1), || {
        let lock = mpcheck::Lock::<mpcheck::Sim>::new();
        match postcard::to_allocvec(&lock) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(_) => panic!("a simulated handle cannot leave its program"),
        }
        let queue = mpcheck::Queue::<mpcheck::Lock<mpcheck::Sim>, mpcheck::Sim>::new();
        match queue.put(lock) {
            Err(Error::Encode(message)) => assert!(message.contains("cannot leave"), "{message}"),
            other => panic!("{other:?}"),
        }
    });
    assert!(report.is_ok());
}

fn echo_upper(conn: mpcheck::Connection<String>) {
    while let Ok(word) = conn.recv() {
        conn.send(&word.to_uppercase()).unwrap();
    }
}

fn send_three(tx: mpcheck::Connection<u32>) {
    for n in 1..=3 {
        tx.send(&n).unwrap();
    }
}

#[test]
fn pipe_ends_in_the_arguments_arrive_as_the_same_ends() {
    let _forks = forks();
    let (mine, theirs) = mpcheck::pipe::<String, Os>(true).unwrap();
    let child = spawned(echo_upper, theirs);
    child.start().unwrap();
    for word in ["ktv", "room", "open"] {
        mine.send(&word.to_owned()).unwrap();
        assert_eq!(mine.recv().unwrap(), word.to_uppercase());
    }
    mine.close();
    assert_eq!(
        child.join(),
        Ok(0),
        "the child saw end of file and returned"
    );

    // One way, child to parent: the parent's copy of the sending end went with the
    // arguments, so end of file comes once the child has ended.
    let (rx, tx) = mpcheck::pipe::<u32, Os>(false).unwrap();
    let child = spawned(send_three, tx);
    child.start().unwrap();
    assert_eq!(
        [rx.recv().unwrap(), rx.recv().unwrap(), rx.recv().unwrap()],
        [1, 2, 3]
    );
    assert_eq!(rx.recv(), Err(Error::Eof));
    assert_eq!(child.join(), Ok(0));
}

#[test]
fn a_pipe_end_cannot_travel_but_in_a_spawn() {
    let (rx, _tx) = mpcheck::pipe::<u32, Os>(false).unwrap();
    let queue = mpcheck::Queue::<mpcheck::Connection<u32>, Os>::new();
    match queue.put(rx) {
        Err(Error::Encode(message)) => {
            assert!(
                message.contains("travels only in the arguments"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(queue.empty());
}

fn never_runs(_: ()) {
    unreachable!("the image ends before its entry")
}

#[test]
fn a_child_whose_entry_never_ran_is_an_error_of_join() {
    let _forks = forks();
    // The library's test hook: the new image ends (exit code 3) before its entry runs, as an
    // image without mpcheck's entry would. Set only while this test, holding FORKS, spawns.
    std::env::set_var("MPCHECK_TEST_EXIT_BEFORE_ENTRY", "1");
    let child = spawned(never_runs, ()).name("lost");
    let started = child.start();
    std::env::remove_var("MPCHECK_TEST_EXIT_BEFORE_ENTRY");
    started.unwrap();
    match child.join() {
        Err(Error::Io { operation, message }) => {
            assert_eq!(operation, "spawn");
            assert!(
                message.contains("process lost ended before mpcheck's entry ran"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!child.is_alive());
}

fn takes_a_barrier((barrier,): (mpcheck::Barrier,)) {
    let _ = barrier;
    unreachable!("a barrier with an action cannot travel: the process never starts")
}

#[test]
fn a_spawn_whose_arguments_cannot_travel_starts_nothing_and_says_so_again() {
    let _forks = forks();
    let barrier = mpcheck::Barrier::<Os>::with_action(2, || ());
    let child = Process::<Os>::call(takes_a_barrier, (barrier,)).start_method(StartMethod::Spawn);
    for attempt in 0..2 {
        match child.start() {
            Err(Error::Encode(message)) => {
                assert!(message.contains("cannot travel"), "{attempt}: {message}")
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
        assert_eq!(child.join(), Err(Error::NotStarted));
        assert_eq!(child.pid(), None);
    }
}
