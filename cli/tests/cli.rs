//! The `mpcheck` binary and the runner behind it.

use std::process::Command;
use std::time::Duration;

use mpcheck_properties::suite::{self as check, Property, Size, Verdict};

fn mpcheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mpcheck"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn check_runs_every_property_and_succeeds() {
    let out = mpcheck(&["check", "--engine", "os", "--runs", "1", "--ops", "200"]);
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
    let out = mpcheck(&[
        "check", "--engine", "os", "--runs", "1", "--ops", "10", "--filter", "Barrier",
    ]);
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
        &["check", "--strategy", "nonsense"],
        &["check", "--iterations", "0"],
        &["replay"],
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
    lock.acquire().unwrap();
    lock.acquire().unwrap(); // a self-deadlock
}

fn passing(_: Size) {}

fn prop(name: &'static str, run: fn(Size)) -> Property {
    Property {
        primitive: "Test",
        name,
        run,
        exhaustive: Size::SMALL,
        loom_bound: Some(2),
    }
}

#[test]
fn runner_reports_a_failure_with_its_message() {
    let row = check::run(
        prop("failing", failing),
        Size::SMALL,
        3,
        Duration::from_secs(60),
    );
    assert_eq!(row.verdict, Verdict::Fail("deliberately broken".into()));
    assert_eq!(row.runs, 0);
    let table = check::table(&[row]);
    assert!(table.contains("FAILED"));
    assert!(table.contains("os Test / failing: deliberately broken"));
    assert!(table.contains("0 passed, 1 failed"));
}

#[test]
fn runner_reports_a_hang() {
    let row = check::run(
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
        prop("passing", passing),
        Size::SMALL,
        5,
        Duration::from_secs(60),
    );
    assert_eq!(row.verdict, Verdict::Pass);
    assert_eq!(row.runs, 5);
}

#[test]
fn check_on_the_simulator_covers_the_lock_completely() {
    let out = mpcheck(&["check", "--engine", "sim", "--filter", "Lock"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("sim/dfs"), "{stdout}");
    assert!(stdout.contains("sim/pct"), "{stdout}");
    assert!(stdout.contains("2x2 complete"), "{stdout}");
}

fn failing_at_once(_: Size) {
    panic!("broken from the start");
}

#[test]
fn explore_reports_a_failure_and_replay_runs_its_file() {
    let dir = std::env::temp_dir().join(format!("mpcheck-cli-{}", std::process::id()));
    // A stand-in that fails under the name of a real property: its replay file names that
    // property, which passes when replayed.
    let standin = Property {
        primitive: "Lock",
        name: "lock_mutual_exclusion",
        run: failing_at_once,
        exhaustive: Size::SMALL,
        loom_bound: Some(2),
    };
    let config = mpcheck::sim::Config::dfs().ignore_env().failure_dir(&dir);
    let row = check::explore(standin, Size::SMALL, config, "dfs", Duration::from_secs(60));
    let Verdict::Fail(message) = &row.verdict else {
        panic!("{row:?}");
    };
    assert!(message.contains("broken from the start"), "{message}");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("lock_mutual_exclusion@2x2"));
    // The row names its replay file, and so do both reports.
    assert_eq!(row.replay.as_deref(), Some(file.as_path()));
    let json: serde_json::Value =
        serde_json::from_str(&mpcheck_cli::report::json(std::slice::from_ref(&row))).unwrap();
    assert_eq!(json[0]["verdict"], "fail");
    assert_eq!(json[0]["replay"], file.to_str().unwrap());
    let junit = mpcheck_cli::report::junit(std::slice::from_ref(&row));
    let doc = roxmltree::Document::parse(&junit).expect("well-formed XML");
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a <failure>");
    assert!(failure.text().unwrap().contains("broken from the start"));
    let out_text = doc
        .descendants()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(out_text.contains(file.to_str().unwrap()), "{out_text}");
    let out = mpcheck(&["replay", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no longer happens"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A directory of this test's own, removed at the end.
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mpcheck-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `(engine, property)` of every record of a `--json` report.
fn json_rows(path: &std::path::Path) -> Vec<(String, String)> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["engine"].as_str().unwrap().to_owned(),
                r["property"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn check_writes_json_and_junit_reports_and_shows_progress() {
    let dir = scratch("reports");
    let (json, junit) = (dir.join("report.json"), dir.join("report.xml"));
    let out = mpcheck(&[
        "check",
        "--engine",
        "sim",
        "--filter",
        "Event",
        "--iterations",
        "50",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let rows = json_rows(&json);
    let table_rows = stdout.lines().filter(|l| l.starts_with("sim/")).count();
    assert!(!rows.is_empty());
    assert_eq!(rows.len(), table_rows, "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(
        root.attribute("tests"),
        Some(rows.len().to_string().as_str())
    );
    assert_eq!(root.attribute("failures"), Some("0"));
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase"));
    assert_eq!(cases.count(), rows.len());
    // Not a terminal: a plain progress line per row on standard error.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("[{0}/{0}] ", rows.len())),
        "{stderr}"
    );
    // Nothing else left in the directory (no temporary files).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_hung_row_is_hang_in_json_and_an_error_in_junit() {
    let dir = scratch("hang");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let out = mpcheck(&[
        "check",
        "--engine",
        "sim",
        "--strategy",
        "dfs",
        "--filter",
        "queue_mpmc_exactly_once",
        "--time-limit",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(parsed[0]["verdict"], "hang");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    assert_eq!(doc.root_element().attribute("errors"), Some("1"));
    assert!(doc.descendants().any(|n| n.has_tag_name("error")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shards_are_disjoint_and_together_the_whole_matrix() {
    let dir = scratch("shards");
    let run = |shard: Option<&str>| {
        let path = dir.join(format!("{}.json", shard.unwrap_or("all").replace('/', "-")));
        let mut args = vec![
            "check",
            "--engine",
            "sim",
            "--strategy",
            "pct",
            "--iterations",
            "5",
            "--json",
            path.to_str().unwrap(),
        ];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        let out = mpcheck(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        json_rows(&path)
    };
    let all = run(None);
    let shards: Vec<_> = ["1/3", "2/3", "3/3"]
        .into_iter()
        .map(|s| run(Some(s)))
        .collect();
    let mut union: Vec<_> = shards.concat();
    assert_eq!(union.len(), all.len(), "shards overlap or miss rows");
    union.sort();
    let mut whole = all.clone();
    whole.sort();
    assert_eq!(union, whole);
    assert!(shards.iter().all(|s| !s.is_empty()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_report_that_cannot_be_written_or_a_bad_shard_exits_2_before_running() {
    let dir = scratch("unwritable");
    let missing = dir.join("no-such-dir").join("r.json");
    for args in [
        vec!["check", "--json", missing.to_str().unwrap()],
        vec!["check", "--junit", missing.to_str().unwrap()],
        vec!["check", "--json", dir.to_str().unwrap()],
        vec!["check", "--shard", "3/2"],
        vec!["check", "--shard", "0/2"],
        vec!["check", "--shard", "two"],
    ] {
        let out = mpcheck(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} ran rows");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "{args:?}");
    }
    // Nothing half-written.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_default_run_leaves_the_deep_rows_out() {
    let out = mpcheck(&[
        "check",
        "--engine",
        "sim",
        "--filter",
        "barrier_party_killed",
        "--iterations",
        "20",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("sim/pct, 1 kill"), "{stdout}");
    assert!(!stdout.contains("sim/dfs, 1 kill"), "{stdout}");
}

#[test]
fn replay_of_a_missing_file_exits_2() {
    let out = mpcheck(&["replay", "/nonexistent/replay.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read replay file"));
}

#[test]
fn check_runs_loom_and_shuttle_on_the_same_properties() {
    let out = mpcheck(&["check", "--engine", "loom", "--filter", "Event"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("loom"), "{stdout}");
    assert!(stdout.contains("event_wakes_all"), "{stdout}");
    assert!(stdout.contains("2x2 complete"), "{stdout}");

    let out = mpcheck(&[
        "check",
        "--engine",
        "shuttle",
        "--strategy",
        "pct",
        "--iterations",
        "200",
        "--filter",
        "BoundedSemaphore",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("shuttle/pct"), "{stdout}");
    assert!(!stdout.contains("shuttle/random"), "{stdout}");
    assert!(stdout.contains(" 200 "), "{stdout}");
}

#[test]
fn check_takes_a_preemption_bound() {
    let out = mpcheck(&[
        "check",
        "--engine",
        "loom",
        "--preemption-bound",
        "1",
        "--filter",
        "lock_mutual",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("bounded (pb 1)"), "{stdout}");
    let out = mpcheck(&["check", "--preemption-bound", "many"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn loom_and_shuttle_rows_report_failures() {
    let limit = Duration::from_secs(60);
    let row = check::loom(prop("failing", failing), Size::SMALL, Some(1), limit);
    assert!(
        matches!(&row.verdict, Verdict::Fail(m) if m.contains("deliberately broken")),
        "{:?}",
        row.verdict
    );
    for strategy in [check::ShuttleStrategy::Random, check::ShuttleStrategy::Pct] {
        let row = check::shuttle(
            prop("failing", failing),
            Size::SMALL,
            strategy,
            10,
            1,
            limit,
        );
        assert!(
            matches!(&row.verdict, Verdict::Fail(m) if m.contains("deliberately broken")),
            "{:?}",
            row.verdict
        );
    }
}

fn loom_self_deadlock(_: Size) {
    let lock = mpcheck::Lock::<mpcheck::loom::Loom>::new();
    lock.acquire().unwrap();
    lock.acquire().unwrap();
}

#[test]
fn loom_reports_a_deadlock_as_a_failure() {
    let row = check::loom(
        prop("self-deadlock", loom_self_deadlock),
        Size::SMALL,
        None,
        Duration::from_secs(60),
    );
    assert!(matches!(row.verdict, Verdict::Fail(_)), "{:?}", row.verdict);
}

#[test]
fn jobs_run_side_by_side_and_keep_the_order() {
    let passing_row = |name: &'static str| -> check::Job {
        Box::new(move || check::run(prop(name, passing), Size::SMALL, 1, Duration::from_secs(60)))
    };
    let jobs: Vec<check::Job> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(passing_row)
        .collect();
    let rows = check::run_jobs(jobs, 3);
    let names: Vec<_> = rows.iter().map(|r| r.property).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert!(check::run_jobs(Vec::new(), 2).is_empty());
    let out = mpcheck(&["check", "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_with_jobs_prints_the_same_rows() {
    let out = mpcheck(&[
        "check",
        "--engine",
        "sim",
        "--jobs",
        "2",
        "--filter",
        "Event",
        "--iterations",
        "100",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let dfs = stdout.find("sim/dfs").expect("a dfs row");
    let pct = stdout.find("sim/pct").expect("a pct row");
    assert!(dfs < pct, "{stdout}");
}

#[test]
fn demo_finds_each_tutorial_bug_and_verifies_each_fix() {
    let out = mpcheck(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for d in mpcheck_cli::demo::all() {
        assert!(stdout.contains(&format!("== {}: ", d.name)), "{}", d.name);
    }
    let found = stdout.matches("-> the bug is found").count();
    let buggy = mpcheck_cli::demo::all().iter().filter(|d| d.buggy).count();
    assert_eq!(found, buggy, "{stdout}");
    assert!(stdout.contains("2 tickets sold, 1 there were"), "{stdout}");
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
}

#[test]
fn a_demo_s_replay_file_replays_and_an_unknown_demo_exits_2() {
    let dir = scratch("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_mpcheck"))
        .args(["demo", "tickets_without_lock"])
        .env("MPCHECK_FAILURE_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let replayed = mpcheck(&["replay", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(
        replayed.status.code(),
        Some(1),
        "the bug happens again: {stdout}"
    );
    assert!(stdout.contains("2 tickets sold"), "{stdout}");
    let unknown = mpcheck(&["demo", "no-such-demo"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("tickets_with_lock"));
    std::fs::remove_dir_all(&dir).unwrap();
}
