//! `Process` on the real OS: real forked children with their own pids, exit codes, signals,
//! names, the family duties at exit, every error case. Synchronization is by pipes (whose
//! descriptors a forked child inherits); no sleeps, and the only timeouts are waits for a child
//! that is provably blocked.

use std::time::Duration;

use mpcheck::{
    active_children, cpu_count, current_process, parent_process, pipe, Connection, Error, Os,
    Process,
};

/// Held by every test that starts processes. A forked child inherits every descriptor of its
/// parent, also the pipe ends other tests' threads made at that moment: a test that waits for
/// end of file must not have its peer's copies kept open by another test's child. (Users meet
/// the same rule: a peer sees end of file once every process's copy is closed.)
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forks() -> std::sync::MutexGuard<'static, ()> {
    FORKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a child reports back: its name, pid, daemon flag, and its parent's name and pid.
type Report = (String, u32, bool, Option<(String, u32)>);

fn report() -> Report {
    let me = current_process();
    (
        me.name().to_owned(),
        me.pid(),
        me.is_daemon(),
        parent_process().map(|p| (p.name().to_owned(), p.pid())),
    )
}

#[test]
fn a_child_runs_its_target_in_its_own_process_and_exits_0() {
    let _forks = forks();
    let (rx, tx) = pipe::<Report, Os>(false).unwrap();
    let child = Process::<Os>::new(move || tx.send(&report()).unwrap());
    assert_eq!(child.pid(), None);
    assert_eq!(child.exitcode(), None);
    assert!(!child.is_alive());
    child.start().unwrap();
    let pid = child.pid().expect("a started process has a pid");
    let (name, child_pid, daemon, parent) = rx.recv().unwrap();
    assert_eq!(child_pid, pid);
    assert_ne!(pid, std::process::id(), "a distinct process");
    assert_eq!(name, child.get_name());
    assert!(name.starts_with("Process-"), "{name}");
    assert!(!daemon);
    let me = current_process();
    assert_eq!(parent, Some((me.name().to_owned(), std::process::id())));
    assert_eq!(child.join(), Ok(0));
    assert_eq!(child.exitcode(), Some(0));
    assert!(!child.is_alive());
    assert_eq!(child.join(), Ok(0), "joining again gives the same code");
}

#[test]
fn names_daemon_flags_and_the_first_process() {
    let _forks = forks();
    let me = current_process();
    assert_eq!(me.name(), "MainProcess");
    assert_eq!(me.pid(), std::process::id());
    assert!(!me.is_daemon());
    assert_eq!(parent_process(), None);
    assert!(cpu_count() >= 1);

    let (rx, tx) = pipe::<Report, Os>(false).unwrap();
    let child = Process::<Os>::new(move || tx.send(&report()).unwrap())
        .name("seller")
        .daemon(true);
    assert_eq!(child.get_name(), "seller");
    assert!(child.is_daemon());
    child.start().unwrap();
    let (name, _, daemon, _) = rx.recv().unwrap();
    assert_eq!((name.as_str(), daemon), ("seller", true));
    assert_eq!(child.join(), Ok(0));
}

#[test]
fn a_grandchild_is_named_after_its_parent() {
    let _forks = forks();
    let (rx, tx) = pipe::<Report, Os>(false).unwrap();
    let child = Process::<Os>::new(move || {
        let tx2 = tx.clone();
        let grandchild = Process::<Os>::new(move || tx2.send(&report()).unwrap());
        grandchild.start().unwrap();
        assert_eq!(grandchild.join(), Ok(0));
        tx.send(&report()).unwrap();
    })
    .name("Process-7");
    child.start().unwrap();
    let (grand_name, grand_pid, _, grand_parent) = rx.recv().unwrap();
    let (name, pid, _, _) = rx.recv().unwrap();
    assert_eq!(name, "Process-7");
    let number = grand_name.strip_prefix("Process-").unwrap();
    assert!(number.ends_with(":1"), "{grand_name}");
    assert_eq!(grand_parent, Some((name, pid)));
    assert_ne!(grand_pid, pid);
    assert_eq!(child.join(), Ok(0));
}

#[test]
fn a_panicking_target_exits_1() {
    let _forks = forks();
    let child = Process::<Os>::new(|| panic!("the child's own panic (expected by the test)"));
    child.start().unwrap();
    assert_eq!(child.join(), Ok(1));
    assert_eq!(child.exitcode(), Some(1));
}

/// A child that reports it is running, then blocks until its pipe closes.
fn blocked_child() -> (Process, Connection<()>) {
    let (ready_rx, ready_tx) = pipe::<(), Os>(false).unwrap();
    let (hold_rx, hold_tx) = pipe::<(), Os>(false).unwrap();
    let inherited = hold_tx.clone();
    let child = Process::<Os>::new(move || {
        // The child inherited the parent's descriptor of the sending end too: close it, or
        // the child would wait for its own copy.
        inherited.close();
        ready_tx.send(&()).unwrap();
        let _ = hold_rx.recv();
    });
    child.start().unwrap();
    ready_rx.recv().unwrap();
    (child, hold_tx)
}

#[test]
fn terminate_and_kill_give_minus_the_signal() {
    let _forks = forks();
    let (child, _hold) = blocked_child();
    assert!(child.is_alive());
    assert_eq!(child.exitcode(), None);
    assert_eq!(child.join_timeout(Duration::from_millis(20)), Ok(false));
    child.terminate().unwrap();
    assert_eq!(child.join(), Ok(-libc::SIGTERM));
    assert!(!child.is_alive());
    assert_eq!(
        child.terminate(),
        Ok(()),
        "terminating an ended process does nothing"
    );
    assert_eq!(child.kill(), Ok(()));
    assert_eq!(child.exitcode(), Some(-libc::SIGTERM));

    let (child, _hold) = blocked_child();
    child.kill().unwrap();
    assert_eq!(child.join_timeout(Duration::from_secs(3600)), Ok(true));
    assert_eq!(child.exitcode(), Some(-libc::SIGKILL));
}

#[test]
fn a_child_blocked_until_released_ends_when_released() {
    let _forks = forks();
    let (child, hold) = blocked_child();
    assert_eq!(child.join_timeout(Duration::ZERO), Ok(false));
    drop(hold);
    assert_eq!(child.join(), Ok(0));
}

#[test]
fn bad_calls_are_errors() {
    let _forks = forks();
    let child = Process::<Os>::new(|| ());
    assert_eq!(child.join(), Err(Error::NotStarted));
    assert_eq!(child.join_timeout(Duration::ZERO), Err(Error::NotStarted));
    assert_eq!(child.terminate(), Err(Error::NotStarted));
    assert_eq!(child.kill(), Err(Error::NotStarted));
    child.start().unwrap();
    assert_eq!(child.start(), Err(Error::AlreadyStarted));
    assert_eq!(child.join(), Ok(0));
    assert_eq!(child.start(), Err(Error::AlreadyStarted));
    assert_eq!(
        Error::AlreadyStarted.to_string(),
        "the process was already started (a process can be started once)"
    );
    assert_eq!(Error::NotStarted.to_string(), "the process was not started");
}

/// What a sibling saw of a process its parent started, through a copy of the handle.
type SiblingView = (bool, Option<String>, Option<String>, Option<i32>, bool);

#[test]
fn a_handle_in_another_process_tells_liveness_and_signals_but_cannot_join() {
    let _forks = forks();
    let (first, _hold) = blocked_child();
    let first = std::sync::Arc::new(first);
    let (rx, tx) = pipe::<SiblingView, Os>(false).unwrap();
    let handle = std::sync::Arc::clone(&first);
    let sibling = Process::<Os>::new(move || {
        let alive = handle.is_alive();
        // (Errors travel as their `Debug` form: `Error` is not a message type.)
        let join = handle.join().err().map(|e| format!("{e:?}"));
        let join_timeout = handle
            .join_timeout(Duration::ZERO)
            .err()
            .map(|e| format!("{e:?}"));
        let code = handle.exitcode();
        // Signals work from any process, as Python's do (through the pidfd: never a process
        // that reused the pid). Its end shows through the pidfd, without a join.
        handle.kill().unwrap();
        while handle.is_alive() {
            std::thread::yield_now();
        }
        tx.send(&(alive, join, join_timeout, code, handle.kill().is_ok()))
            .unwrap();
    });
    sibling.start().unwrap();
    let (alive, join, join_timeout, code, killed_again) = rx.recv().unwrap();
    assert!(alive, "a live process is alive, whoever asks");
    assert_eq!(join.as_deref(), Some("NotParent"));
    assert_eq!(join_timeout.as_deref(), Some("NotParent"));
    assert_eq!(code, None, "only the parent learns the exit code");
    assert!(killed_again, "signalling an ended process does nothing");
    assert_eq!(sibling.join(), Ok(0));
    assert_eq!(
        first.join(),
        Ok(-libc::SIGKILL),
        "the sibling's kill ended it"
    );
    assert!(!first.is_alive());
    assert_eq!(
        Error::NotParent.to_string(),
        "only the process that started a process can join it"
    );
}

#[test]
fn a_daemonic_process_cannot_start_processes() {
    let _forks = forks();
    let (rx, tx) = pipe::<String, Os>(false).unwrap();
    let child = Process::<Os>::new(move || {
        let grandchild = Process::<Os>::new(|| ());
        assert!(
            grandchild.is_daemon(),
            "a daemon's processes are daemonic by default"
        );
        // Refused twice the same way: a refused start keeps the target (nothing ran, nothing
        // is started), it does not swallow it.
        for _ in 0..2 {
            let message = match grandchild.start() {
                Err(Error::InvalidArgument(m)) => m,
                other => format!("unexpected: {other:?}"),
            };
            tx.send(&message).unwrap();
            assert_eq!(grandchild.join(), Err(Error::NotStarted));
        }
    })
    .daemon(true);
    child.start().unwrap();
    assert!(rx.recv().unwrap().contains("daemonic process cannot start"));
    assert!(rx.recv().unwrap().contains("daemonic process cannot start"));
    assert_eq!(child.join(), Ok(0));
}

#[test]
fn a_parent_terminates_its_daemons_and_waits_for_its_other_children_when_it_ends() {
    let _forks = forks();
    // The parent (a child of the test) starts a daemon that blocks forever and an ordinary
    // child that blocks until the test releases it, waits until both run, and returns. Each
    // grandchild holds a copy of `alive_tx`; the test sees end of file on `alive_rx` once every
    // copy is gone, that is, once both ended.
    let (alive_rx, alive_tx) = pipe::<(), Os>(false).unwrap();
    let (release_rx, release_tx) = pipe::<(), Os>(false).unwrap();
    let (ready_rx, ready_tx) = pipe::<(), Os>(false).unwrap();
    let parent = Process::<Os>::new(move || {
        let (started_rx, started_tx) = pipe::<u32, Os>(false).unwrap();
        let (forever_rx, forever_tx) = pipe::<(), Os>(false).unwrap();
        let (daemon_alive, daemon_started) = (alive_tx.clone(), started_tx.clone());
        let daemon = Process::<Os>::new(move || {
            let _keep = (daemon_alive, forever_tx);
            daemon_started.send(&1).unwrap();
            let _ = forever_rx.recv(); // never: this process holds the sender too
        })
        .daemon(true);
        let worker = Process::<Os>::new(move || {
            let _keep = alive_tx;
            started_tx.send(&2).unwrap();
            release_rx.recv().unwrap();
        });
        daemon.start().unwrap();
        worker.start().unwrap();
        let mut started = [started_rx.recv().unwrap(), started_rx.recv().unwrap()];
        started.sort();
        assert_eq!(started, [1, 2]);
        ready_tx.send(&()).unwrap();
        // Neither is joined: the parent's end does it.
    });
    parent.start().unwrap();
    ready_rx.recv().unwrap();
    // The worker is blocked until released, so the parent cannot have ended.
    assert_eq!(parent.join_timeout(Duration::from_millis(20)), Ok(false));
    release_tx.send(&()).unwrap();
    assert_eq!(parent.join(), Ok(0));
    assert_eq!(
        alive_rx.recv(),
        Err(Error::Eof),
        "the daemon was terminated too"
    );
}

/// Whether `pid` is a zombie: ended, not yet reaped (`/proc/<pid>/stat`'s state `Z`).
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Children started and never joined leave no zombies and no open descriptors behind: a
/// `start` first reaps the children that have ended, as Python's does. (300 such children
/// left 300 zombies and 300 open pidfds; found by a review.)
#[test]
fn children_never_joined_are_reaped_by_the_next_start() {
    let _forks = forks();
    // The pidfds open in this process (other tests' descriptors come and go meanwhile; their
    // children are started only under `forks`, which this test holds).
    let fds = || {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().contains("pidfd"))
            .count()
    };
    let before = fds();
    let pids: Vec<u32> = (0..20)
        .map(|_| {
            let child = Process::<Os>::new(|| ());
            child.start().unwrap();
            child.pid().unwrap()
        })
        .collect();
    // Every one has ended: a zombie, or reaped already by a later child's start.
    let gone = |pid: u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
    for &pid in &pids {
        while !zombie(pid) && !gone(pid) {
            std::thread::yield_now();
        }
    }
    let next = Process::<Os>::new(|| ());
    next.start().unwrap();
    for &pid in &pids {
        assert!(!zombie(pid), "child {pid} was reaped by the next start");
    }
    assert_eq!(next.join(), Ok(0));
    drop(next);
    assert_eq!(fds(), before, "no pidfd of a child is left open");
}

#[test]
fn active_children_lists_the_running_ones() {
    let _forks = forks();
    let (child, hold) = blocked_child();
    let pid = child.pid().unwrap();
    assert!(active_children().iter().any(|c| c.pid() == pid));
    drop(hold);
    assert_eq!(child.join(), Ok(0));
    assert!(!active_children().iter().any(|c| c.pid() == pid));
}

#[test]
fn children_forked_while_another_thread_prints_end() {
    let _forks = forks();
    // A child flushes stdout and stderr when it ends. Were it forked while another thread of
    // the parent held stdout's lock (the test harness printing a result, say), it would inherit
    // the lock held by a thread it does not have, and hang in that flush. Here a thread takes
    // and lets go of stdout's lock over and over while children start and end; each must end.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let held = std::io::stdout().lock();
                for _ in 0..1_000 {
                    std::hint::spin_loop();
                }
                drop(held);
                // Lets the forking thread have the lock now and then (std's mutex is not fair:
                // on an idle core this loop took it back at once, and each start waited
                // ~80 ms for it).
                std::thread::yield_now();
            }
        })
    };
    let ended = (0..100).all(|_| {
        let child = Process::<Os>::new(|| ());
        child.start().unwrap();
        // Generous: a child that ends at all ends within milliseconds.
        let ended = child.join_timeout(Duration::from_secs(30)) == Ok(true);
        if !ended {
            child.kill().unwrap();
            let _ = child.join();
        }
        ended
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    printer.join().unwrap();
    assert!(ended, "a child hung in its exit flush of stdout");
}

#[test]
fn fork_with_other_threads_running() {
    let _forks = forks();
    // Another thread holds a std mutex across the fork. The child is a copy of the forking
    // thread only: it can allocate, use pipes and mpcheck's primitives, and return; the held
    // mutex is simply never touched there (it would stay locked: documented on `Process`).
    let held = std::sync::Arc::new(std::sync::Mutex::new(0u32));
    let (locked_rx, locked_tx) = pipe::<(), Os>(false).unwrap();
    let (done_rx, done_tx) = pipe::<(), Os>(false).unwrap();
    let holder = {
        let held = held.clone();
        std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            locked_tx.send(&()).unwrap();
            done_rx.recv().unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let (rx, tx) = pipe::<Vec<u64>, Os>(false).unwrap();
    let child = Process::<Os>::new(move || {
        let squares: Vec<u64> = (0..1000u64).map(|i| i * i).collect();
        let lock = mpcheck::Lock::<Os>::new();
        let _g = lock.lock();
        tx.send(&squares).unwrap();
    });
    child.start().unwrap();
    assert_eq!(rx.recv().unwrap().len(), 1000);
    assert_eq!(child.join(), Ok(0));
    done_tx.send(&()).unwrap();
    holder.join().unwrap();
}

#[test]
fn an_exit_code_of_the_targets_own_exit() {
    let _forks = forks();
    let child = Process::<Os>::new(|| std::process::exit(3));
    child.start().unwrap();
    assert_eq!(child.join(), Ok(3));
}

#[test]
fn many_children_and_joins_from_several_threads() {
    let _forks = forks();
    let children: Vec<std::sync::Arc<Process>> = (0..40)
        .map(|i| std::sync::Arc::new(Process::<Os>::new(move || std::process::exit(i % 7))))
        .collect();
    for child in &children {
        child.start().unwrap();
    }
    // Two threads join every child at once: each gets every exit code.
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let children = children.clone();
            std::thread::spawn(move || {
                children
                    .iter()
                    .map(|c| c.join().unwrap())
                    .collect::<Vec<i32>>()
            })
        })
        .collect();
    let expected: Vec<i32> = (0..40).map(|i| i % 7).collect();
    for joiner in joiners {
        assert_eq!(joiner.join().unwrap(), expected);
    }
    assert_eq!(
        children[0].join_timeout(Duration::MAX),
        Ok(true),
        "a timeout too far to represent waits without a deadline"
    );
}

#[test]
fn a_process_dropped_unjoined_runs_on_and_is_reaped_later() {
    let _forks = forks();
    let (rx, tx) = pipe::<u32, Os>(false).unwrap();
    let pid = {
        let child = Process::<Os>::new(move || tx.send(&7).unwrap());
        child.start().unwrap();
        child.pid().unwrap()
    };
    assert_eq!(rx.recv(), Ok(7), "the dropped process ran");
    assert_eq!(rx.recv(), Err(Error::Eof), "and closed its end");
    // Its descriptors close a moment before it ends: `active_children` lists it until it has
    // ended, then reaps it and lists it no more (it ends: the loop ends).
    while active_children().iter().any(|c| c.pid() == pid) {
        std::thread::yield_now();
    }
}

/// Run by `a_panicking_child_says_why_on_its_stderr` in a fresh test process with
/// `--nocapture` (the harness's capture of this thread's output would otherwise hold the
/// child's message).
#[test]
#[ignore = "run by a_panicking_child_says_why_on_its_stderr"]
fn panicking_child_program() {
    let child = Process::<Os>::new(|| panic!("the sellers ran out of tickets")).name("seller-3");
    child.start().unwrap();
    assert_eq!(child.join(), Ok(1));
}

#[test]
fn a_panicking_child_says_why_on_its_stderr() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "panicking_child_program",
            "--ignored",
            "--nocapture",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the sellers ran out of tickets"),
        "{stderr}"
    );
}
