//! mpcheck's primitives between real processes on [`Os`], next to raw system-call references
//! and to CPython's `multiprocessing` running the same programs (issue 13).
//!
//! `cargo bench --bench process` runs every row below, then runs
//! `python3 benches/python/process_baseline.py --json` (the same programs in Python) and prints
//! one table: Rust, Python, the ratio, the raw reference where there is one, and the goal.
//! A plain runner rather than criterion: every sample forks fresh processes, the Python
//! figures must come from the same session, and the result is one table with ratios. Without
//! `--bench` (`cargo test --benches`) it runs tiny counts once and skips Python: a smoke test.
//!
//! Every figure is the median of [`REPS`] repetitions; each repetition starts fresh processes
//! and shared objects (made before the fork, so the child shares them).
//!
//! | row | program |
//! |---|---|
//! | `queue_1to1` | a child process puts `0..=n` (`u64`) into a `Queue::new()`; the parent gets the first untimed (the child is running), then times `n` gets. Items/s. `queue_1to1_threads`: the same with a thread as the producer |
//! | `pipe_pingpong` | duplex `pipe::<u64>`; the parent sends `i` and receives it back from a child that echoes, `n` times (the child stops on `u64::MAX`: it holds a copy of the parent's end, so it would never see end of file). Round trips/s. Raw references: the same over a `socketpair` with `libc::fork`, 8-byte `write`/`read`, blocking, and spinning on `recv(MSG_DONTWAIT)` on both sides |
//! | `pipe_oneway_1mib` | one-way `pipe`; a child sends `n + 1` messages of 1 MiB (`send_bytes`), the parent receives the first untimed, then times `n` `recv_bytes`. No reference: it shows what framing costs per byte |
//! | `pipe_oneway64` | one-way `pipe`; a child sends `n + 1` messages of 64 bytes (`send_bytes`), the parent receives the first untimed, then times `n` `recv_bytes`. Raw reference: a forked child `write`s 64-byte records to a `socketpair`, the parent `read`s them one record at a time |
//! | `lock_2proc` | 2 child processes lined up at a `Barrier` each acquire + release one `Lock` `n` times; time from the first start to the last end (`CLOCK_MONOTONIC`, system-wide), rate of both together |
//! | `value_2proc` | the same with `Value::<u64>::update(\|v\| *v += 1)` (read, add, write under its lock); the final value is checked |
//! | `start_fork`, `start_spawn` | `Process::new(noop)` (fork) / `Process::call(noop, ()).start_method(Spawn)`: `start()` then `join()`, `n` in a row. Raw reference: `libc::fork` + `_exit(0)` + `waitpid` |

use std::process::Command;
use std::time::Duration;

use mpcheck::{pipe, Barrier, Lock, Os, Process, Queue, StartMethod, Value};

/// Repetitions of each row (the median is reported).
const REPS: usize = 7;

/// Nanoseconds on `CLOCK_MONOTONIC`: one clock for every process of the machine.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn rate(n: u64, ns: u64) -> f64 {
    n as f64 / (ns as f64 / 1e9)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn join_ok(child: &Process) {
    assert_eq!(child.join(), Ok(0), "a bench child failed");
}

// ---- mpcheck rows ----

fn queue_1to1(n: u64) -> f64 {
    let q = Queue::<u64, Os>::new();
    let producer = Process::<Os>::new({
        let q = q.clone();
        move || (0..=n).for_each(|i| q.put(i).unwrap())
    });
    producer.start().unwrap();
    let mut sum = q.get().unwrap();
    let t0 = now_ns();
    for _ in 0..n {
        sum = sum.wrapping_add(q.get().unwrap());
    }
    let elapsed = now_ns() - t0;
    join_ok(&producer);
    assert_eq!(sum, n * (n + 1) / 2);
    rate(n, elapsed)
}

fn queue_1to1_threads(n: u64) -> f64 {
    let q = Queue::<u64, Os>::new();
    let producer = std::thread::spawn({
        let q = q.clone();
        move || (0..=n).for_each(|i| q.put(i).unwrap())
    });
    let mut sum = q.get().unwrap();
    let t0 = now_ns();
    for _ in 0..n {
        sum = sum.wrapping_add(q.get().unwrap());
    }
    let elapsed = now_ns() - t0;
    producer.join().unwrap();
    assert_eq!(sum, n * (n + 1) / 2);
    rate(n, elapsed)
}

fn pipe_pingpong(n: u64) -> f64 {
    let (ours, theirs) = pipe::<u64, Os>(true).unwrap();
    let echo = Process::<Os>::new(move || loop {
        let item = theirs.recv().unwrap();
        if item == u64::MAX {
            break;
        }
        theirs.send(&item).unwrap();
    });
    echo.start().unwrap();
    let t0 = now_ns();
    for i in 0..n {
        ours.send(&i).unwrap();
        assert_eq!(ours.recv().unwrap(), i);
    }
    let elapsed = now_ns() - t0;
    ours.send(&u64::MAX).unwrap();
    join_ok(&echo);
    rate(n, elapsed)
}

fn pipe_oneway64(n: u64) -> f64 {
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    let payload: [u8; 64] = std::array::from_fn(|i| i as u8);
    let writer = Process::<Os>::new(move || {
        for _ in 0..=n {
            tx.send_bytes(&payload).unwrap();
        }
    });
    writer.start().unwrap();
    assert_eq!(rx.recv_bytes().unwrap(), payload);
    let t0 = now_ns();
    for _ in 0..n {
        assert_eq!(rx.recv_bytes().unwrap().len(), 64);
    }
    let elapsed = now_ns() - t0;
    join_ok(&writer);
    rate(n, elapsed)
}

fn pipe_oneway_1mib(n: u64) -> f64 {
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let len = payload.len();
    let writer = Process::<Os>::new(move || {
        for _ in 0..=n {
            tx.send_bytes(&payload).unwrap();
        }
    });
    writer.start().unwrap();
    assert_eq!(rx.recv_bytes().unwrap().len(), len);
    let t0 = now_ns();
    for _ in 0..n {
        assert_eq!(rx.recv_bytes().unwrap().len(), len);
    }
    let elapsed = now_ns() - t0;
    join_ok(&writer);
    rate(n, elapsed)
}

/// Two child processes, lined up at a barrier, each run `work` `n` times; the rate of both.
fn two_processes(n: u64, work: impl Fn() + Clone + Send + 'static) -> f64 {
    let start_line = Barrier::<Os>::new(2);
    let spans = Queue::<(u64, u64), Os>::new();
    let children: Vec<Process> = (0..2)
        .map(|_| {
            let (work, start_line, spans) = (work.clone(), start_line.clone(), spans.clone());
            Process::<Os>::new(move || {
                start_line.wait().unwrap();
                let t0 = now_ns();
                for _ in 0..n {
                    work();
                }
                spans.put((t0, now_ns())).unwrap();
            })
        })
        .collect();
    children.iter().for_each(|c| c.start().unwrap());
    let got: Vec<(u64, u64)> = (0..2).map(|_| spans.get().unwrap()).collect();
    children.iter().for_each(join_ok);
    let start = got.iter().map(|s| s.0).min().unwrap();
    let end = got.iter().map(|s| s.1).max().unwrap();
    rate(2 * n, end - start)
}

fn lock_2proc(n: u64) -> f64 {
    let lock = Lock::<Os>::new();
    two_processes(n, move || {
        lock.acquire().expect("no process dies in the bench");
        lock.release().unwrap();
    })
}

fn value_2proc(n: u64) -> f64 {
    let value = Value::<u64, Os>::new(0);
    let theirs = value.clone();
    let r = two_processes(n, move || theirs.update(|v| *v += 1).unwrap());
    assert_eq!(value.get(), 2 * n);
    r
}

fn noop(_: ()) {}

fn start_join(n: u64, method: StartMethod) -> f64 {
    let t0 = now_ns();
    for _ in 0..n {
        let child = Process::<Os>::call(noop, ()).start_method(method);
        child.start().unwrap();
        join_ok(&child);
    }
    rate(n, now_ns() - t0)
}

// ---- raw references (libc only) ----

fn socketpair() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: a valid array of two descriptors.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    (fds[0], fds[1])
}

/// Fills `buf` from `fd` (`spin`: by `recv(MSG_DONTWAIT)` in a loop); false at end of file.
fn read_full(fd: i32, buf: &mut [u8], spin: bool) -> bool {
    let mut at = 0;
    while at < buf.len() {
        let flags = if spin { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: the rest of `buf` is valid for writes.
        let r = unsafe { libc::recv(fd, buf[at..].as_mut_ptr().cast(), buf.len() - at, flags) };
        match r {
            0 => return false,
            r if r > 0 => at += r as usize,
            _ => {
                let e = std::io::Error::last_os_error().raw_os_error();
                assert!(matches!(e, Some(libc::EAGAIN | libc::EINTR)), "{e:?}");
                std::hint::spin_loop();
            }
        }
    }
    true
}

fn write_full(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads.
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        assert!(r > 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR));
        if r > 0 {
            buf = &buf[r as usize..];
        }
    }
}

/// Forks a child that runs `f` and `_exit(0)`s; its pid.
fn raw_fork(f: impl FnOnce()) -> i32 {
    // SAFETY: the bench is single-threaded here; the child only runs `f` (system calls) and
    // `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        f();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) }
    }
    pid
}

fn raw_wait(pid: i32) {
    let mut status = 0;
    // SAFETY: `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}

fn close(fd: i32) {
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
}

fn raw_pingpong(n: u64, spin: bool) -> f64 {
    let (a, b) = socketpair();
    let child = raw_fork(|| {
        close(a);
        let mut buf = [0u8; 8];
        while read_full(b, &mut buf, spin) {
            write_full(b, &buf);
        }
    });
    close(b);
    let mut buf = [0u8; 8];
    let t0 = now_ns();
    for i in 0..n {
        write_full(a, &i.to_le_bytes());
        assert!(read_full(a, &mut buf, spin));
        assert_eq!(u64::from_le_bytes(buf), i);
    }
    let elapsed = now_ns() - t0;
    close(a); // end of file for the child: it holds no copy of `a`
    raw_wait(child);
    rate(n, elapsed)
}

fn raw_oneway64(n: u64) -> f64 {
    let (a, b) = socketpair();
    let child = raw_fork(|| {
        close(a);
        let record = [7u8; 64];
        for _ in 0..=n {
            write_full(b, &record);
        }
    });
    close(b);
    let mut buf = [0u8; 64];
    assert!(read_full(a, &mut buf, false));
    let t0 = now_ns();
    for _ in 0..n {
        assert!(read_full(a, &mut buf, false));
    }
    let elapsed = now_ns() - t0;
    close(a);
    raw_wait(child);
    rate(n, elapsed)
}

fn raw_fork_wait(n: u64) -> f64 {
    let t0 = now_ns();
    for _ in 0..n {
        raw_wait(raw_fork(|| {}));
    }
    rate(n, now_ns() - t0)
}

// ---- the table ----

struct Row {
    key: &'static str,
    what: &'static str,
    unit: &'static str,
    n: u64,
    run: fn(u64) -> f64,
}

fn rows() -> Vec<Row> {
    fn r(
        key: &'static str,
        what: &'static str,
        unit: &'static str,
        n: u64,
        run: fn(u64) -> f64,
    ) -> Row {
        Row {
            key,
            what,
            unit,
            n,
            run,
        }
    }
    vec![
        r(
            "queue_1to1",
            "Queue, 1 producer process -> 1 consumer process",
            "items/s",
            1_000_000,
            queue_1to1,
        ),
        r(
            "queue_1to1_threads",
            "  (the same Queue between 2 threads)",
            "items/s",
            1_000_000,
            queue_1to1_threads,
        ),
        r(
            "pipe_pingpong",
            "Pipe ping-pong, 2 processes",
            "round trips/s",
            30_000,
            pipe_pingpong,
        ),
        r(
            "raw_pingpong_blocking",
            "  (raw socketpair ping-pong, blocking)",
            "round trips/s",
            30_000,
            |n| raw_pingpong(n, false),
        ),
        r(
            "raw_pingpong_spinning",
            "  (raw socketpair ping-pong, spinning)",
            "round trips/s",
            100_000,
            |n| raw_pingpong(n, true),
        ),
        r(
            "pipe_oneway64",
            "Pipe one-way, 64-byte messages",
            "msg/s",
            300_000,
            pipe_oneway64,
        ),
        r(
            "raw_oneway64",
            "  (raw socketpair one-way, 64-byte records)",
            "msg/s",
            300_000,
            raw_oneway64,
        ),
        r(
            "pipe_oneway_1mib",
            "Pipe one-way, 1 MiB messages",
            "msg/s",
            2_000,
            pipe_oneway_1mib,
        ),
        r(
            "lock_2proc",
            "Lock contended by 2 processes",
            "acq+rel/s",
            2_000_000,
            lock_2proc,
        ),
        r(
            "value_2proc",
            "Value += under its lock, 2 processes",
            "increments/s",
            1_000_000,
            value_2proc,
        ),
        r(
            "start_fork",
            "Process start + join, fork",
            "processes/s",
            1_000,
            |n| start_join(n, StartMethod::Fork),
        ),
        r(
            "raw_fork_wait",
            "  (raw fork + _exit + waitpid)",
            "processes/s",
            1_000,
            raw_fork_wait,
        ),
        r(
            "start_spawn",
            "Process start + join, spawn",
            "processes/s",
            60,
            |n| start_join(n, StartMethod::Spawn),
        ),
    ]
}

/// The goals of issue 13: (row, description, met?).
fn goals(rust: &dyn Fn(&str) -> f64, py: &dyn Fn(&str) -> Option<f64>) -> Vec<(String, String)> {
    let ratio = |a: f64, b: Option<f64>| b.map(|b| a / b);
    let fmt = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.2}x"));
    let yes = |ok: Option<bool>| match ok {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "n/a (no Python figure)",
    };
    let mut out = Vec::new();
    let q = rust("queue_1to1");
    let qp = ratio(q, py("queue_1to1"));
    let qt = q / rust("queue_1to1_threads");
    out.push((
        "Queue processes >= 50x Python, within 2x of threads".to_owned(),
        format!(
            "{} Python, {qt:.2}x threads: {}",
            fmt(qp),
            yes(qp.map(|r| r >= 50.0 && qt >= 0.5))
        ),
    ));
    for (key, what, min) in [
        ("pipe_pingpong", "Pipe ping-pong >= 5x Python", 5.0),
        ("lock_2proc", "Lock 2 processes >= 5x Python", 5.0),
        ("value_2proc", "Value += 2 processes >= 20x Python", 20.0),
        ("start_spawn", "spawn start+join >= 3x Python", 3.0),
    ] {
        let r = ratio(rust(key), py(key));
        out.push((
            what.to_owned(),
            format!("{}: {}", fmt(r), yes(r.map(|r| r >= min))),
        ));
    }
    let r = rust("pipe_oneway64") / rust("raw_oneway64");
    out.push((
        "Pipe one-way >= 1.0x raw socketpair".to_owned(),
        format!("{r:.2}x: {}", yes(Some(r >= 1.0))),
    ));
    let r = rust("start_fork") / rust("raw_fork_wait");
    out.push((
        "fork start+join >= 0.5x raw fork+waitpid".to_owned(),
        format!("{r:.2}x: {}", yes(Some(r >= 0.5))),
    ));
    out
}

/// Runs the Python baseline; its `results` object as (key, rate) pairs.
fn python(quick: bool) -> Result<(String, Vec<(String, f64)>), String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/python/process_baseline.py"
    );
    let mut command = Command::new("python3");
    command.arg(script).arg("--json");
    if quick {
        command.arg("--quick");
    }
    let output = command.output().map_err(|e| format!("python3: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    // A flat parse of `"results": {"key": number, ...}`: enough for what the script prints.
    let results = text
        .split("\"results\": {")
        .nth(1)
        .and_then(|s| s.split('}').next())
        .ok_or_else(|| format!("unexpected output: {text}"))?;
    let pairs = results
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((
                k.trim().trim_matches('"').to_owned(),
                v.trim().parse().ok()?,
            ))
        })
        .collect();
    let info = text
        .split("\"info\": ")
        .nth(1)
        .and_then(|s| s.split("}, \"results\"").next());
    Ok((info.unwrap_or("").to_owned() + "}", pairs))
}

fn shm_entries() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, |d| d.count())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (reps, scale) = if full { (REPS, 1) } else { (1, 1000) };
    let shm_before = shm_entries();
    let started = std::time::Instant::now();

    let mut results: Vec<(&'static str, f64)> = Vec::new();
    let all = rows();
    println!(
        "mpcheck process bench: median of {reps} repetitions per row{}",
        if full {
            ""
        } else {
            " (smoke test: tiny counts)"
        }
    );
    for row in &all {
        if !filter.is_empty() && !filter.iter().any(|f| row.key.contains(f.as_str())) {
            continue;
        }
        let n = (row.n / scale).max(2);
        let samples: Vec<f64> = (0..reps).map(|_| (row.run)(n)).collect();
        let m = median(samples.clone());
        let lo = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = samples.iter().copied().fold(0.0, f64::max);
        println!(
            "  {:<24} n={n:<9} median {m:>14.0} {} (min {lo:.0}, max {hi:.0})",
            row.key, row.unit
        );
        results.push((row.key, m));
    }
    let rust_secs = started.elapsed().as_secs_f64();

    let (py_info, py) = if full && filter.is_empty() {
        match python(false) {
            Ok(p) => p,
            Err(e) => {
                println!("(no Python baseline: {e})");
                (String::new(), Vec::new())
            }
        }
    } else {
        (String::new(), Vec::new())
    };
    let rust = |k: &str| results.iter().find(|r| r.0 == k).map_or(f64::NAN, |r| r.1);
    let pyv = |k: &str| py.iter().find(|r| r.0 == k).map(|r| r.1);

    println!();
    println!("Rust: {rust_secs:.1} s; Python: {py_info}");
    println!("| measure | unit | Rust (mpcheck / raw) | Python | Rust / Python |");
    println!("|---|---|---:|---:|---:|");
    for row in &all {
        let r = rust(row.key);
        if r.is_nan() {
            continue;
        }
        let p = pyv(row.key);
        println!(
            "| {} | {} | {} | {} | {} |",
            row.what.trim(),
            row.unit,
            group(r),
            p.map_or("-".to_owned(), group),
            p.map_or("-".to_owned(), |p| format!("{:.1}x", r / p)),
        );
    }
    if filter.is_empty() {
        println!();
        println!("| goal | result |");
        println!("|---|---|");
        for (goal, result) in goals(&rust, &pyv) {
            println!("| {goal} | {result} |");
        }
    }

    // Nothing left behind: every child joined, no new entries in /dev/shm.
    let left = mpcheck::active_children();
    assert!(left.is_empty(), "children left running: {left:?}");
    let shm_after = shm_entries();
    println!("\nchildren left: 0; /dev/shm entries before {shm_before}, after {shm_after}");
    std::thread::sleep(Duration::from_millis(1));
}

/// `1234567.8` as `1,234,568`.
fn group(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
