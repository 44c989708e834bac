//! The `Sim` platform's contract where it differs from `Os`: virtual time. What a sleep lasts
//! under each `Timeouts` mode, as `Platform::sleep` documents it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpcheck::sim::{self, Config, Sim, Timeouts};
use mpcheck::Platform;

const HOUR: Duration = Duration::from_secs(3600);

/// Every duration, in hours of virtual time, that a 1-hour sleep lasted while another task
/// slept 2 hours, over a complete search with `timeouts`.
fn one_hour_sleeps(timeouts: Timeouts) -> BTreeSet<u64> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let record = seen.clone();
    let report = sim::explore(
        Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .ignore_env()
            .timeouts(timeouts),
        move || {
            let other = mpcheck::thread::spawn::<Sim, _, _>(|| Sim::sleep(2 * HOUR));
            let start = Sim::now();
            Sim::sleep(HOUR);
            let slept = Sim::now().saturating_duration_since(start);
            record.lock().unwrap().insert(slept.as_secs() / 3600);
            other.join().unwrap();
        },
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete());
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn a_sleep_lasts_exactly_its_duration_when_timeouts_fire_only_when_idle() {
    assert_eq!(one_hour_sleeps(Timeouts::WhenIdle), BTreeSet::from([1]));
}

#[test]
fn a_sleep_lasts_at_least_its_duration_when_timeouts_race() {
    // The other task's 2-hour sleep may end first: the clock is then past this one's deadline.
    let seen = one_hour_sleeps(Timeouts::Race);
    assert_eq!(seen.first(), Some(&1), "{seen:?}");
    assert!(seen.len() > 1, "never longer than 1 hour: {seen:?}");
}
