//! The `mpcheck` binary and the runner behind it.

use std::process::Command;
use std::time::Duration;

use mpcheck::check::{self, Property, Size, Verdict};

fn mpcheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mpcheck"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn check_runs_every_property_and_succeeds() {
    let out = mpcheck(&["check", "--runs", "1", "--ops", "200"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for p in check::properties::all::<mpcheck::Os>() {
        assert!(
            stdout.contains(p.name),
            "{} missing from:\n{stdout}",
            p.name
        );
    }
    assert!(stdout.contains("engine primitive"));
    assert!(stdout.contains(" 0 failed"));
}

#[test]
fn check_filter_selects_properties() {
    let out = mpcheck(&["check", "--runs", "1", "--ops", "10", "--filter", "Barrier"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("barrier_rounds"));
    assert!(!stdout.contains("lock_mutual_exclusion"));
}

#[test]
fn check_with_a_filter_matching_nothing_exits_2() {
    let out = mpcheck(&["check", "--filter", "no-such-property"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no property matches"));
}

#[test]
fn check_rejects_bad_arguments() {
    for args in [
        &["check", "--threads", "1"][..],
        &["check", "--threads", "65"],
        &["check", "--runs", "0"],
        &["check", "--ops", "0"],
        &["check", "--engine", "nonsense"],
    ] {
        let out = mpcheck(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

fn failing(_: Size) {
    panic!("deliberately broken");
}

fn hanging(_: Size) {
    let lock = mpcheck::Lock::<mpcheck::Os>::new();
    lock.acquire();
    lock.acquire(); // a self-deadlock
}

fn passing(_: Size) {}

fn prop(name: &'static str, run: fn(Size)) -> Property {
    Property {
        primitive: "Test",
        name,
        run,
    }
}

#[test]
fn runner_reports_a_failure_with_its_message() {
    let row = check::run(
        "os",
        prop("failing", failing),
        Size::SMALL,
        3,
        Duration::from_secs(60),
    );
    assert_eq!(row.verdict, Verdict::Fail("deliberately broken".into()));
    assert_eq!(row.runs, 0);
    let table = check::table(&[row]);
    assert!(table.contains("FAILED"));
    assert!(table.contains("Test / failing: deliberately broken"));
    assert!(table.contains("0 passed, 1 failed"));
}

#[test]
fn runner_reports_a_hang() {
    let row = check::run(
        "os",
        prop("hanging", hanging),
        Size::SMALL,
        1,
        Duration::from_millis(200),
    );
    assert_eq!(row.verdict, Verdict::Hang);
    assert!(check::table(&[row]).contains("HUNG"));
}

#[test]
fn runner_counts_passing_runs() {
    let row = check::run(
        "os",
        prop("passing", passing),
        Size::SMALL,
        5,
        Duration::from_secs(60),
    );
    assert_eq!(row.verdict, Verdict::Pass);
    assert_eq!(row.runs, 5);
}
