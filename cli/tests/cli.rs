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
        &["check", "--granularity", "coarse"],
        &["replay"],
    ] {
        let out = mpcheck(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// `--granularity operation` explores the properties as programs built on the primitives:
/// the lock's mutual exclusion at 3 x 2 in the orders of its critical sections.
#[test]
fn check_at_operation_granularity_runs_the_properties_as_programs() {
    let args = [
        "check",
        "--engine",
        "sim",
        "--strategy",
        "dfs",
        "--filter",
        "lock_mutual_exclusion",
        "--threads",
        "3",
        "--ops",
        "2",
        "--granularity",
        "operation",
    ];
    let out = mpcheck(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("3x2 complete"), "{text}");
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

/// Three tasks of 20 increments each: more interleavings than a search covers in a moment.
fn long_search(_: Size) {
    use mpcheck::platform::Platform;
    let counter = std::sync::Arc::new(<mpcheck::Sim as Platform>::AtomicU32::new(0));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let counter = std::sync::Arc::clone(&counter);
            mpcheck::thread::spawn::<mpcheck::Sim, _, _>(move || {
                for _ in 0..20 {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.join().expect("no panic");
    }
}

/// An exhaustive search longer than the row's time limit is no hang: it stops itself before
/// the limit and reports how many executions it covered, passing, and not complete.
#[test]
fn a_search_that_outlasts_the_time_limit_reports_what_it_covered() {
    let config = mpcheck::sim::Config::dfs().ignore_env().no_files();
    let row = check::explore(
        prop("long search", long_search),
        Size::SMALL,
        config,
        "dfs",
        Duration::from_millis(500),
    );
    assert_eq!(row.verdict, Verdict::Pass, "{row:?}");
    assert!(row.runs > 0, "{row:?}");
    assert!(row.note.ends_with("incomplete (time limit)"), "{row:?}");
    let table = check::table(&[row]);
    assert!(
        table.contains("1 passed, 0 failed (1 of the passed searches stopped at the time limit"),
        "{table}"
    );
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
    // Asked for a page of it: none, since nothing failed, and the status stays 0.
    let page = dir.join("page.html");
    let out = replay_to_page(&file, &page);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no page written"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "a page or a temporary file"
    );
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

/// A search longer than the time limit is no hang: it passes, with the executions it ran and
/// its coverage "incomplete (time limit)", in the table, the JSON and the JUnit report (a hang
/// is in `report.rs`'s tests).
#[test]
fn a_search_stopped_at_the_time_limit_passes_with_its_coverage() {
    let dir = scratch("time-limit");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let out = mpcheck(&[
        "check",
        "--engine",
        "sim",
        "--strategy",
        "dfs",
        "--filter",
        "queue_mpmc_exactly_once",
        "--threads",
        "3",
        "--ops",
        "2",
        "--time-limit",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("stopped at the time limit"), "{stdout}");
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(parsed[0]["verdict"], "pass");
    assert_eq!(parsed[0]["coverage"], "3x2 incomplete (time limit)");
    assert!(parsed[0]["runs"].as_u64().unwrap() > 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    assert_eq!(doc.root_element().attribute("errors"), Some("0"));
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
        "--filter",
        "barrier_rounds",
        "--iterations",
        "20",
        "--runs",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let engines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("barrier_rounds") && !l.starts_with('['))
        .filter_map(|l| l.split("  ").next())
        .collect();
    assert!(engines.contains(&"sim/dfs"), "{stdout}");
    // loom's search of it is a deep row.
    assert!(!engines.contains(&"loom"), "{stdout}");
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
    let file = tickets_replay_file(&dir);
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

/// `mpcheck replay FILE --html PAGE`.
fn replay_to_page(file: &std::path::Path, page: &std::path::Path) -> std::process::Output {
    mpcheck(&[
        "replay",
        file.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ])
}

/// A replay file of the demo `tickets_without_lock` (its bug found), in `dir`.
fn tickets_replay_file(dir: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_mpcheck"))
        .args(["demo", "tickets_without_lock"])
        .env("MPCHECK_FAILURE_DIR", dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// The classes of an element.
fn classes<'a>(node: &roxmltree::Node<'a, '_>) -> Vec<&'a str> {
    node.attribute("class")
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

#[test]
fn replay_writes_the_failing_execution_as_a_self_contained_page() {
    // Markup in the directory's name: the page must escape the paths it shows.
    let dir = scratch("html-<&'\"");
    let file = tickets_replay_file(&dir);
    let page = dir.join("tickets.html");
    let out = replay_to_page(&file, &page);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Writing the page leaves the status as it was: 1, the failure happens again.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>\n"));
    assert!(!html.contains(dir.to_str().unwrap()), "a path unescaped");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, options).expect("well-formed");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "html");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/1999/xhtml")
    );
    // Self-contained: nothing loaded from elsewhere, links only within the page.
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object"].contains(&tag),
            "{tag}"
        );
        assert!(node.attribute("src").is_none(), "{tag}");
        if let Some(href) = node.attribute("href") {
            assert!(href.starts_with('#'), "{href}");
        }
    }
    let text = |class: &str| {
        doc.descendants()
            .find(|n| classes(n).contains(&class))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_owned()
    };
    // The header: the message (escaped in the page, whole once parsed), how it was found,
    // and how to replay it.
    let recorded = mpcheck::sim::inspect(&file).unwrap();
    assert_eq!(text("message"), recorded.message);
    assert!(recorded.message.contains("2 tickets sold"));
    assert_eq!(text("seed"), recorded.seed.to_string());
    assert_eq!(text("replay-file"), file.to_str().unwrap());
    assert_eq!(
        text("replay-with"),
        format!("mpcheck replay {}", file.display())
    );
    let preemptions: usize = text("preemptions").parse().unwrap();
    assert!(
        stdout.contains(&format!("with {preemptions} preemption(s)")),
        "{stdout}"
    );
    // The text trace on stdout: its lanes (`| task N`) and its steps (numbered lines).
    let tasks = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("step"))
        .unwrap()
        .matches("| task ")
        .count();
    let steps = stdout
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u32>().is_ok())
        })
        .count();
    assert!(tasks == 3 && steps > 20, "{stdout}");
    let lanes: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("th") && classes(n).contains(&"lane"))
        .collect();
    assert_eq!(lanes.len(), tasks);
    assert_eq!(lanes[0].text(), Some("task 0 (main), process 1"));
    let rows: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("tr") && classes(n).contains(&"row"))
        .collect();
    assert_eq!(rows.len(), steps);
    // A row per step, each with a cell per lane, one of them the step's.
    for row in &rows {
        let cells = row.children().filter(|n| n.has_tag_name("td")).count();
        assert_eq!(cells, 2 + tasks);
    }
    // The operation and the demo's own line that called it, in full.
    let source = include_str!("../src/demo.rs");
    let check = source
        .lines()
        .position(|l| l.contains("if left.get() > 0"))
        .unwrap()
        + 1;
    let called = format!("src/demo.rs:{check}");
    let step_cells: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("td") && classes(n).contains(&"step"))
        .map(|n| {
            n.descendants()
                .filter_map(|d| d.text())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(step_cells.len(), steps);
    assert!(
        step_cells
            .iter()
            .any(|c| c.contains("RawValue#1.get") && c.contains(&called)),
        "{step_cells:#?}"
    );
    // Switches of task, and the preemption among them.
    let marked = |class: &str| rows.iter().filter(|r| classes(r).contains(&class)).count();
    assert!(marked("switch") >= 2, "{html}");
    assert_eq!(marked("preemption"), preemptions);
    assert!(preemptions >= 1);
    // The objects, with the tasks that touched them.
    assert!(doc.descendants().any(|n| n.has_tag_name("td")
        && n.text() == Some("RawValue#1")
        && n.next_sibling_element().and_then(|s| s.text()) == Some("task 0, task 1, task 2")));
    // Nothing else left beside the page (no temporary file).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_with_a_page_that_cannot_be_written_or_a_bad_file_exits_2_writing_nothing() {
    let dir = scratch("html-bad");
    let file = tickets_replay_file(&dir);
    let malformed = dir.join("malformed.json");
    std::fs::write(&malformed, "{ not a replay file").unwrap();
    let missing = dir.join("no-such-dir").join("page.html");
    let page = dir.join("page.html");
    for (replay, page) in [(&file, &dir), (&file, &missing), (&malformed, &page)] {
        let out = replay_to_page(replay, page);
        let args = (replay, page);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} replayed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("mpcheck replay: "), "{stderr}");
    }
    // Only the two replay files: no page, nothing half-written.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
