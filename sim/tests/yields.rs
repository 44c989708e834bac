//! `yield_now` is a hint that the task cannot progress until another task acts: a task that
//! spins with it until another task acts is not a livelock, under every strategy (fair
//! scheduling, as in CHESS). A spin that no task can ever end still is one.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use mpcheck_sim::{
    explore, sleep, spawn, yield_now, AtomicBool, AtomicU32, Config, FailureKind, Report, Timeouts,
};

/// Every strategy: exhaustive search (which must complete), PCT and a random walk, with a step
/// bound small enough that starving the acting task would be caught.
fn every_strategy(scenario: fn()) -> Vec<Report> {
    let configs = [
        Config::dfs(),
        Config::pct(3, 2_000),
        Config::pct(1, 500),
        Config::random(2_000),
    ];
    configs
        .into_iter()
        .map(|config| {
            let config = config.max_steps(2_000).no_files().ignore_env();
            explore(config.clone(), scenario).unwrap_or_else(|f| panic!("{config}: {f}"))
        })
        .collect()
}

fn spin_until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        yield_now();
    }
}

/// The main task spins until a second task sets a flag.
fn spin_on_a_flag() {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let t = spawn(move || f.store(true, SeqCst));
    spin_until(&flag);
    t.join();
}

#[test]
fn a_task_spinning_until_another_acts_is_not_a_livelock() {
    let reports = every_strategy(spin_on_a_flag);
    assert!(reports[0].complete(), "{}", reports[0]);
}

/// A spin lock: compare-and-swap, yield while taken. Two tasks and the main task count
/// through it; the count must come out right.
fn spin_lock_counts() {
    let lock = Arc::new(AtomicU32::new(0));
    let count = Arc::new(AtomicU32::new(0));
    let add = {
        let (lock, count) = (lock.clone(), count.clone());
        move || {
            while lock.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
                yield_now();
            }
            let n = count.load(SeqCst);
            count.store(n + 1, SeqCst);
            lock.store(0, SeqCst);
        }
    };
    let tasks: Vec<_> = (0..2).map(|_| spawn(add.clone())).collect();
    add();
    tasks.into_iter().for_each(|t| t.join());
    assert_eq!(count.load(SeqCst), 3);
}

#[test]
fn a_spin_lock_passes_on_its_real_assertions() {
    let reports = every_strategy(spin_lock_counts);
    assert!(reports[0].complete(), "{}", reports[0]);
}

/// Two tasks spin until a third, which takes several steps, is done: neither spinner may
/// starve it by taking turns with the other (PCT's priorities would make them).
fn two_spinners_and_a_worker() {
    let done = Arc::new(AtomicBool::new(false));
    let work = Arc::new(AtomicU32::new(0));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let done = done.clone();
            spawn(move || spin_until(&done))
        })
        .collect();
    for _ in 0..3 {
        work.fetch_add(1, SeqCst);
    }
    done.store(true, SeqCst);
    spinners.into_iter().for_each(|t| t.join());
}

#[test]
fn spinners_do_not_starve_the_task_they_wait_for() {
    let reports = every_strategy(two_spinners_and_a_worker);
    assert!(reports[0].complete(), "{}", reports[0]);
}

/// The main task spins until a task that sleeps first sets the flag: time must pass for it.
fn spin_on_a_sleeper() {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let t = spawn(move || {
        sleep(Duration::from_secs(1));
        f.store(true, SeqCst);
    });
    spin_until(&flag);
    t.join();
}

#[test]
fn a_task_spinning_until_a_sleeper_wakes_lets_time_pass() {
    let reports = every_strategy(spin_on_a_sleeper);
    assert!(reports[0].complete(), "{}", reports[0]);
    let idle = Config::dfs().timeouts(Timeouts::WhenIdle).max_steps(2_000);
    let report = explore(idle.no_files().ignore_env(), spin_on_a_sleeper).unwrap();
    assert!(report.complete(), "{report}");
}

/// Two tasks each spin until the other has set its flag, and set their own only after: a real
/// livelock, which yields do not hide.
fn each_waits_for_the_other() {
    let flags = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let f = flags.clone();
    let t = spawn(move || {
        spin_until(&f[0]);
        f[1].store(true, SeqCst);
    });
    spin_until(&flags[1]);
    flags[0].store(true, SeqCst);
    t.join();
}

#[test]
fn a_spin_nobody_can_end_is_still_a_livelock() {
    for config in [Config::dfs(), Config::pct(3, 100), Config::random(100)] {
        let config = config.max_steps(500).no_files().ignore_env();
        let failure = explore(config, each_waits_for_the_other).unwrap_err();
        assert_eq!(failure.kind(), FailureKind::StepBound, "{failure}");
    }
}
