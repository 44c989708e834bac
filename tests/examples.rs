//! The seed programs in `examples/`, run as users run them: each example's binary is started,
//! and its exit status and output are checked for what the program guarantees (never the
//! timing, nor an order the processes do not promise).
//!
//! `cargo test` builds the package's examples along with its tests (into
//! `target/<profile>/examples/`, next to the tests' `deps/`), so the binaries are found from this
//! test's own path. A test run that did not build them (`cargo test --test examples` selects
//! this target only) fails with a message that says how to build them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous: the examples take well under a few seconds; this only turns a hang into a failure.
const TIMEOUT: Duration = Duration::from_secs(120);

/// `target/<profile>/examples/<name>`, from `target/<profile>/deps/examples-<hash>`.
fn example_binary(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("the test's own path");
    let profile_dir = me
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let how = "run the tests with `cargo test` (which builds the examples), or build them \
               first with `cargo build --examples`";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "the example {name} is not built at {}: {how}",
                binary.display()
            )
        });
    // `cargo test --test examples` builds this target only: an example edited since (or the
    // library under it) would be run stale.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [
        root.join("examples").join(format!("{name}.rs")),
        // An example of several files: `examples/<name>/main.rs` and what it includes.
        root.join("examples").join(name),
        root.join("src"),
        root.join("sim").join("src"),
    ];
    if let Some(newer) = sources.iter().find_map(|source| newer_than(source, built)) {
        panic!(
            "the example {name} at {} is older than {}: {how}",
            binary.display(),
            newer.display()
        );
    }
    binary
}

/// A file at or under `path` modified after `time`, if any.
fn newer_than(path: &std::path::Path, time: std::time::SystemTime) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        std::fs::read_dir(path)
            .ok()?
            .flatten()
            .find_map(|entry| newer_than(&entry.path(), time))
    } else {
        meta.modified()
            .is_ok_and(|modified| modified > time)
            .then(|| path.to_owned())
    }
}

/// Runs an example; its output (stdout) lines, after checking that it exited 0 within
/// [`TIMEOUT`] and wrote nothing to stderr.
fn run(name: &str, args: &[&str]) -> Vec<String> {
    let mut child = Command::new(example_binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start the example {name}: {e}"));
    // Read both streams on threads: the output ends when every process holding the pipes
    // (the example's children too) is gone, which a hang would delay forever.
    let (tx, rx) = mpsc::channel();
    for (which, mut stream) in [
        (
            "stdout",
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        ),
        ("stderr", Box::new(child.stderr.take().unwrap())),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let read = stream.read_to_string(&mut text);
            let _ = tx.send((which, read.map(|_| text)));
        });
    }
    drop(tx);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the example {name} did not end within {TIMEOUT:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut streams = BTreeMap::new();
    while streams.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((which, text)) => {
                streams.insert(which, text.expect("the output is UTF-8"));
            }
            Err(_) => panic!(
                "the example {name} exited ({status}) but its output was still open after \
                 {TIMEOUT:?}: one of its processes outlived it"
            ),
        }
    }
    let (stdout, stderr) = (&streams["stdout"], &streams["stderr"]);
    assert!(
        status.success(),
        "the example {name} failed ({status})\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stderr.is_empty(),
        "the example {name} wrote to stderr\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout.lines().map(str::to_owned).collect()
}

/// The lines that start with `prefix`, the rest of each.
fn after<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix(prefix))
        .collect()
}

/// The number between `start` and `end` in `text` (`end` empty: to the end of `text`).
fn number_in(text: &str, start: &str, end: &str) -> u64 {
    let (_, tail) = text
        .split_once(start)
        .unwrap_or_else(|| panic!("{start:?} in {text:?}"));
    let digits = match end {
        "" => tail,
        end => tail.split(end).next().unwrap(),
    };
    digits
        .parse()
        .unwrap_or_else(|_| panic!("a number between {start:?} and {end:?} in {text:?}"))
}

#[test]
fn ticket_booking_sells_exactly_the_tickets_there_were() {
    let lines = run("ticket_booking", &[]);
    assert_eq!(lines[0], "3 tickets for 10 buyers", "{lines:#?}");
    // Every buyer looks twice: once without the lock, once under it.
    assert_eq!(
        after(&lines, "user ")
            .iter()
            .filter(|l| l.contains(" is looking: "))
            .count(),
        20
    );
    let bought: Vec<&str> = after(&lines, "user ")
        .into_iter()
        .filter(|l| l.contains(" bought a ticket! "))
        .collect();
    let buyers: BTreeSet<u64> = bought
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buyers.len(), 3, "three different buyers: {lines:#?}");
    assert!(buyers.iter().all(|&b| b < 10), "{lines:#?}");
    // Under the lock, each sale saw the count the previous one left: 3, 2, 1, never 0 or below.
    let mut seen: Vec<u64> = bought.iter().map(|l| number_in(l, "(", " -> ")).collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3], "{lines:#?}");
    assert_eq!(
        lines.last().unwrap(),
        "all buyers done: 0 tickets left",
        "{lines:#?}"
    );
}

#[test]
fn ticket_booking_removes_its_temp_dir() {
    // The example names its directory with its pid: after a run, no such directory of a
    // finished run is left (a run in progress elsewhere may have one: only ours is checked).
    let mut child = Command::new(example_binary("ticket_booking"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ticket_booking");
    let dir = std::env::temp_dir().join(format!("mpcheck-ticket-booking-{}", child.id()));
    assert!(child.wait().expect("wait").success());
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

/// KTV: every guest entered and left once, and the count inside never exceeded the rooms.
fn check_ktv(args: &[&str], rooms: u64) {
    let lines = run("ktv", args);
    assert_eq!(lines[0], format!("{rooms} rooms, 10 guests"), "{lines:#?}");
    let entered: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" is in the KTV "))
        .collect();
    let left: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" left the KTV "))
        .collect();
    let names = |of: &[&String]| -> BTreeSet<String> {
        of.iter()
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(entered.len(), 10, "{lines:#?}");
    assert_eq!(left.len(), 10, "{lines:#?}");
    assert_eq!(
        names(&entered).len(),
        10,
        "ten different guests: {lines:#?}"
    );
    assert_eq!(names(&entered), names(&left), "{lines:#?}");
    assert!(names(&entered).iter().all(|n| n.starts_with("Process-")));
    for line in &entered {
        let inside = number_in(line, "(inside: ", ")");
        assert!((1..=rooms).contains(&inside), "{line}\n{lines:#?}");
    }
    for line in &left {
        assert!(
            number_in(line, "(inside: ", ")") < rooms,
            "{line}\n{lines:#?}"
        );
    }
    let most = number_in(lines.last().unwrap(), "at most ", " guests");
    assert!((1..=rooms).contains(&most), "{lines:#?}");
}

#[test]
fn ktv_has_at_most_4_guests_inside() {
    check_ktv(&[], 4);
}

#[test]
fn ktv_with_2_rooms_has_at_most_2_guests_inside() {
    check_ktv(&["2"], 2);
}

#[test]
fn traffic_light_lets_every_vehicle_pass_and_switches_off() {
    let lines = run("traffic_light", &[]);
    // The light is one process: its lines are in its order, red first, alternating, then off.
    let light = after(&lines, "light: ");
    assert!(light.len() >= 2, "{lines:#?}");
    assert_eq!(light[light.len() - 1], "off", "{lines:#?}");
    for (i, colour) in light[..light.len() - 1].iter().enumerate() {
        assert_eq!(*colour, ["red", "green"][i % 2], "{lines:#?}");
    }
    for id in 0..10 {
        let passes = format!("car {id} passes");
        let at = lines.iter().position(|l| *l == passes);
        let at = at.unwrap_or_else(|| panic!("{passes:?} missing: {lines:#?}"));
        assert_eq!(
            lines.iter().filter(|l| **l == passes).count(),
            1,
            "{lines:#?}"
        );
        // A car that waited said so before it passed (the same process's lines).
        if let Some(waits) = lines.iter().position(|l| *l == format!("car {id} waits")) {
            assert!(waits < at, "{lines:#?}");
        }
    }
    for id in 0..3 {
        let passes = format!("police car {id} passes");
        assert_eq!(
            lines.iter().filter(|l| **l == passes).count(),
            1,
            "{lines:#?}"
        );
    }
    // Every vehicle passed before the main process said so, and the light went off after.
    let all_passed = lines
        .iter()
        .position(|l| l == "main: every vehicle passed")
        .unwrap();
    assert!(
        lines[..all_passed]
            .iter()
            .filter(|l| l.ends_with(" passes"))
            .count()
            == 13
    );
    assert_eq!(lines.last().unwrap(), "light: off", "{lines:#?}");
}

#[test]
fn queue_consumers_get_every_item() {
    let lines = run("queue_producer_consumer", &[]);
    let seed_end = lines
        .iter()
        .position(|l| l.starts_with("-- producers"))
        .unwrap();
    assert_eq!(
        lines[..seed_end],
        [
            "-- the seed: Queue(5) --",
            "2",
            "[1, 2, 3]",
            "[2, 4, 6]",
            "0"
        ],
    );
    let join_start = lines
        .iter()
        .position(|l| l.starts_with("-- a JoinableQueue"))
        .unwrap();
    let sentinel = &lines[seed_end..join_start];
    let all: BTreeSet<(u64, u64)> = (0..2).flat_map(|p| (0..5).map(move |k| (p, k))).collect();
    let got: Vec<(u64, u64)> = sentinel
        .iter()
        .filter(|l| l.contains(" got item "))
        .map(|l| {
            (
                number_in(l, "from producer ", ""),
                number_in(l, " got item ", " "),
            )
        })
        .collect();
    assert_eq!(got.len(), 10, "each item once: {sentinel:#?}");
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        all,
        "{sentinel:#?}"
    );
    for consumer in ["consumer-0", "consumer-1"] {
        let done = format!("{consumer} got None: done");
        assert_eq!(
            sentinel.iter().filter(|l| **l == done).count(),
            1,
            "{sentinel:#?}"
        );
    }
    assert_eq!(sentinel.last().unwrap(), "consumed 10 of 10 items");

    // Every task was done (its line written) before `join` returned in the main process.
    let joinable = &lines[join_start..];
    let all_done = joinable
        .iter()
        .position(|l| l == "main: every task is done")
        .unwrap();
    assert_eq!(
        all_done,
        joinable.len() - 1,
        "the daemonic workers printed after the end: {joinable:#?}"
    );
    let did: BTreeSet<(u64, u64)> = joinable[..all_done]
        .iter()
        .filter(|l| l.contains(" did task "))
        .map(|l| {
            (
                number_in(l, "from producer ", ""),
                number_in(l, " did task ", " "),
            )
        })
        .collect();
    assert_eq!(did, all, "{joinable:#?}");
    assert_eq!(all_done, 1 + 10, "{joinable:#?}");
}

#[test]
fn pipe_conversation_goes_both_ways_then_ends_at_end_of_file() {
    assert_eq!(
        run("pipe_conversation", &[]),
        [
            "greeting from the son: have you eaten?",
            "greeting from the father: mm",
            "Hello World",
            "the son closed his end: end of file",
        ]
    );
}

#[test]
fn counters_with_the_lock_are_exact_and_without_never_gain() {
    let lines = run("value_array_counters", &[]);
    assert_eq!(
        lines[..3],
        [
            "-- the seed: Value('d', 0.0), Array('i', range(10)) --",
            "3.14",
            "[5, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
        ]
    );
    let total = |how: &str| {
        let line = lines
            .iter()
            .find(|l| l.starts_with(how))
            .unwrap_or_else(|| panic!("{how:?} in {lines:#?}"));
        (number_in(line, ": ", " of "), number_in(line, " of ", " "))
    };
    for racy in ["RawValue, get then set", "Value, get then set, each locked"] {
        let (counted, expected) = total(racy);
        assert_eq!(expected, 80_000);
        // Lost updates may happen (or not): a count is never more than the increments.
        assert!((1..=expected).contains(&counted), "{racy}: {counted}");
    }
    for exact in [
        "Value, get then set under get_lock()",
        "Value, update",
        "Array total, under locked()",
    ] {
        assert_eq!(total(exact), (80_000, 80_000), "{exact}");
    }
    assert!(
        lines.contains(&"Array, under locked(): [20000, 20000, 20000, 20000, 80000]".to_owned())
    );
}

#[test]
fn data_isolation_leaves_the_parents_copy_and_shares_the_value() {
    assert_eq!(
        run("data_isolation", &[]),
        [
            "child: global n = 99",
            "parent: global n = 100",
            "child: local = [1, 2, 3, 4]",
            "parent: local = [1, 2, 3, 0]",
            "child: shared Value = 99",
            "parent: shared Value = 99",
        ]
    );
}

#[test]
fn the_daemons_heartbeat_stops_when_the_main_process_ends() {
    let lines = run("daemon_heartbeat", &[]);
    let main_done = lines
        .iter()
        .position(|l| l == "main done")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        !lines[main_done..].iter().any(|l| l.contains("heartbeat")),
        "a heartbeat after the main process's end: {lines:#?}"
    );
    // The ordinary child was waited for: it said both its lines (in its order).
    let start = lines
        .iter()
        .position(|l| l == "start")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let weather = lines.iter().position(|l| l == "nice weather today");
    assert!(weather.is_some_and(|w| w > start), "{lines:#?}");
    assert!(
        lines.iter().all(|l| [
            "start",
            "nice weather today",
            "main done",
            "in fun2 (heartbeat)"
        ]
        .contains(&l.as_str())),
        "{lines:#?}"
    );
}

/// The std program of `examples/std_port/` gives the same count under std's paths and the
/// facade's on `Os`, and the simulator explores it completely at operation granularity.
#[test]
fn std_port_runs_one_program_under_std_os_and_sim() {
    let lines = run("std_port", &[]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "std: 24 letters");
    assert_eq!(lines[1], "facade on Os: 24 letters");
    let sim = after(&lines, "facade under Sim: ");
    assert_eq!(sim.len(), 1, "{lines:?}");
    assert!(sim[0].ends_with("executions, complete: true"), "{lines:?}");
}
