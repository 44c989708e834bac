//! The spawn start method of [`Os`](super::Os): a child that is a fresh image of the program
//! (`exec` of `/proc/self/exe`), which finds the target function again and decodes its
//! arguments, as Python's `spawn` does.
//!
//! # Finding the target again
//! The new image is the same binary, loaded at another address: every function sits at the
//! same distance from every other. The parent sends the distances from [`anchor`] to the
//! monomorphic [`Entry`] of the call and to the user's function; the child adds them to its own
//! `anchor`. (`/proc/self/exe` names the running binary's file even if its path was replaced or
//! deleted meanwhile.)
//!
//! # What the child receives
//! Two descriptors it inherits through the `exec` (their close-on-exec flag is cleared in the
//! child only, between its `fork` and its `exec`), named by the environment variable
//! `MPCHECK_SPAWN=1:<launch fd>:<arena fd or ->`:
//! - a memfd holding the launch: a "reached" byte the child sets first, then the encoded
//!   [`LaunchRecord`] (name, daemon flag, identity, parent, the two distances, the arguments);
//! - the family's arena memfd (see `arena.rs`), which the child maps: a handle in the
//!   arguments arrives as the same object.
//!
//! # Running before `main`
//! The child runs its target from a constructor of this library (an `.init_array` entry),
//! before the program's `main` and before a test harness, and ends with `_exit`: nothing of the
//! program's own start-up runs in it. That is why no call in `main` is needed ([`crate::init`]
//! exists for programs that want to say so). A child in which the constructor did not run
//! (a binary that does not link this library's code, which cannot happen for a binary that
//! called `Process::call`) would run the program's `main` instead: it refuses to start
//! processes of its own ([`unfinished_spawn`]), and its parent's `join` reports that the target
//! never ran.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rustix::fs::{memfd_create, MemfdFlags};
use serde::{Deserialize, Serialize};

use super::os_process::{self, OsChild};
use super::process::{Entry, Image, ProcessSpec};
use crate::Error;

/// The environment variable that tells a fresh image it is a spawned child.
const VARIABLE: &str = "MPCHECK_SPAWN";

/// A test hook: a spawned image in whose environment this is set ends (exit code 3) before it
/// marks its launch reached, as an image without this library's entry would (tests/spawn_os.rs
/// checks that its parent's `join` says so).
const EXIT_BEFORE_ENTRY: &str = "MPCHECK_TEST_EXIT_BEFORE_ENTRY";

/// The format of the launch (its first number).
const FORMAT: u32 = 1;

/// Where the encoded [`LaunchRecord`] starts in the launch memfd (the "reached" byte is at 0).
const RECORD_AT: u64 = 8;

/// What a spawned child is told.
#[derive(Serialize, Deserialize)]
struct LaunchRecord {
    name: String,
    daemon: bool,
    identity: Vec<u32>,
    parent: (String, u32),
    entry: i64,
    function: i64,
    args: Vec<u8>,
    /// The numbers of the inherited descriptors of the pipe ends in `args`, in order.
    descriptors: Vec<i32>,
}

/// The function every distance is measured from.
#[inline(never)]
fn anchor() -> usize {
    anchor as fn() -> usize as usize
}

fn distance(address: usize) -> i64 {
    (address as i64).wrapping_sub(anchor() as i64)
}

fn io_error(operation: &'static str) -> impl Fn(rustix::io::Errno) -> Error {
    move |errno| Error::Io {
        operation,
        message: std::io::Error::from(errno).to_string(),
    }
}

/// `Some(error)` in a spawned child whose target never ran (see the module docs): it must not
/// start processes, which would run the program again, and again.
pub(super) fn unfinished_spawn() -> Option<Error> {
    std::env::var_os(VARIABLE).map(|_| {
        Error::InvalidArgument(format!(
            "this process was spawned to run a target, but mpcheck's entry did not run in it \
             ({VARIABLE} is still set): it cannot start processes"
        ))
    })
}

/// Starts a fresh image of the program running `image` (see the module docs).
pub(super) fn spawn(spec: &ProcessSpec, image: Image) -> Result<OsChild, Error> {
    let (identity, parent) = os_process::spawn_identity(spec);
    let record = LaunchRecord {
        name: spec.name.clone(),
        daemon: spec.daemon,
        identity,
        parent,
        entry: distance(image.entry as usize),
        function: distance(image.function),
        args: image.args,
        descriptors: image.descriptors.iter().map(|fd| fd.as_raw_fd()).collect(),
    };
    let bytes = crate::codec::encode(&record)?;
    let launch = memfd_create("mpcheck-spawn", MemfdFlags::CLOEXEC).map_err(io_error("memfd"))?;
    rustix::io::pwrite(&launch, &[0], 0).map_err(io_error("pwrite"))?;
    let mut at = 0;
    while at < bytes.len() {
        at += rustix::io::pwrite(&launch, &bytes[at..], RECORD_AT + at as u64)
            .map_err(io_error("pwrite"))?;
    }
    let arena = super::arena::family_fd().map(|fd| fd.as_raw_fd());
    let launch_fd = launch.as_raw_fd();
    let mut command = std::process::Command::new("/proc/self/exe");
    if let Some(argv0) = std::env::args_os().next() {
        command.arg0(argv0);
    }
    command.env(
        VARIABLE,
        format!(
            "{FORMAT}:{launch_fd}:{}",
            arena.map_or("-".to_owned(), |fd| fd.to_string())
        ),
    );
    let inherited: Vec<RawFd> = std::iter::once(launch_fd)
        .chain(arena)
        .chain(image.descriptors.iter().map(|fd| fd.as_raw_fd()))
        .collect();
    // SAFETY: the closure runs in the forked child before `exec`; it only calls `fcntl`, which
    // is async-signal-safe, on descriptors the parent keeps open for the whole call.
    unsafe {
        command.pre_exec(move || {
            for &fd in &inherited {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let started = os_process::start_spawned(spec, launch, || {
        let child = command.spawn().map_err(|e| Error::Io {
            operation: "spawn",
            message: e.to_string(),
        })?;
        Ok(child.id())
    });
    // The child has its copies (or was never started): the parent's duplicates close here.
    drop(image.descriptors);
    started
}

/// Whether the child of a launch memfd reached its entry (set the "reached" byte).
pub(super) fn reached(launch: &OwnedFd) -> bool {
    let mut byte = [0u8];
    matches!(rustix::io::pread(launch, &mut byte, 0), Ok(1) if byte[0] == 1)
}

/// The message for a spawned child that ended without reaching its entry.
pub(super) fn never_reached(name: &str) -> Error {
    Error::Io {
        operation: "spawn",
        message: format!(
            "process {name} ended before mpcheck's entry ran in its fresh image: its target \
             never ran (was the program built without mpcheck's code?)"
        ),
    }
}

/// The constructor every image of a program linking this library runs before `main`: in a
/// spawned child, runs the target and ends the process; elsewhere, nothing.
extern "C" fn at_load() {
    if std::env::var_os(VARIABLE).is_some() {
        run_spawned()
    }
}

/// Registers [`at_load`] as a constructor of the image.
#[used]
#[link_section = ".init_array"]
static AT_LOAD: extern "C" fn() = at_load;

/// `mpcheck::init()`: in a spawned child, runs the target and never returns (the constructor
/// normally did it already); elsewhere, nothing.
pub(crate) fn init() {
    at_load()
}

/// The spawned child's life: read the launch, map the arena, run the target, end.
fn run_spawned() -> ! {
    let code = match take_launch() {
        Ok((record, name)) => {
            os_process::note_multiprocess();
            os_process::become_spawned(record.name, record.daemon, record.identity, record.parent);
            let entry = anchor().wrapping_add(record.entry as usize);
            // SAFETY: the distance is the parent's, from its `anchor` to an `Entry` of the
            // same binary; this image is that binary, so the address is that `Entry` here.
            let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(entry) };
            let function = anchor().wrapping_add(record.function as usize);
            match catch_unwind(AssertUnwindSafe(|| entry(function, &record.args))) {
                Ok(Ok(())) => 0,
                Ok(Err(error)) => {
                    eprintln!("mpcheck: process {name}: its arguments: {error}");
                    1
                }
                Err(_) => 1,
            }
        }
        Err(error) => {
            eprintln!("mpcheck: a spawned process could not start: {error}");
            1
        }
    };
    os_process::end(code)
}

/// Reads the launch named by the environment, marks it reached, attaches the arena.
fn take_launch() -> Result<(LaunchRecord, String), Error> {
    let value: OsString = std::env::var_os(VARIABLE).unwrap_or_default();
    // Before `main`, no other thread runs: nothing reads the environment meanwhile.
    std::env::remove_var(VARIABLE);
    let value = value.to_string_lossy().into_owned();
    let bad = || {
        Error::Decode(format!(
            "{VARIABLE}={value:?} is not a launch of this format"
        ))
    };
    let mut parts = value.split(':');
    let (Some(format), Some(launch), Some(arena), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if format.parse::<u32>().ok() != Some(FORMAT) {
        return Err(bad());
    }
    let launch: RawFd = launch.parse().map_err(|_| bad())?;
    let arena: Option<RawFd> = match arena {
        "-" => None,
        fd => Some(fd.parse().map_err(|_| bad())?),
    };
    // SAFETY: the parent made these descriptors inheritable for this image and named them in
    // the variable, which this function removed: nothing else in the process owns them.
    let launch = unsafe { OwnedFd::from_raw_fd(launch) };
    // SAFETY: as above.
    let arena = arena.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    for fd in std::iter::once(&launch).chain(arena.as_ref()) {
        rustix::io::fcntl_setfd(fd.as_fd(), rustix::io::FdFlags::CLOEXEC)
            .map_err(io_error("fcntl"))?;
    }
    if std::env::var_os(EXIT_BEFORE_ENTRY).is_some() {
        // The test hook (see `EXIT_BEFORE_ENTRY`): an image that never reaches the entry.
        // SAFETY: ends this image at once; nothing of it has run but this function.
        unsafe { libc::_exit(3) }
    }
    rustix::io::pwrite(&launch, &[1], 0).map_err(io_error("pwrite"))?;
    let size = rustix::fs::fstat(&launch)
        .map_err(io_error("fstat"))?
        .st_size as u64;
    let mut bytes = vec![0u8; size.saturating_sub(RECORD_AT) as usize];
    let mut at = 0;
    while at < bytes.len() {
        match rustix::io::pread(&launch, &mut bytes[at..], RECORD_AT + at as u64) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) => return Err(io_error("pread")(e)),
        }
    }
    let record: LaunchRecord = crate::codec::decode(&bytes[..at])?;
    let mut descriptors = Vec::with_capacity(record.descriptors.len());
    for &fd in &record.descriptors {
        // SAFETY: the parent made this descriptor inheritable for this image and named it in
        // the launch; nothing else in this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC).map_err(io_error("fcntl"))?;
        descriptors.push(fd);
    }
    super::os_pipe::receive(descriptors);
    if let Some(arena) = arena {
        super::arena::attach(arena)?;
    }
    let name = record.name.clone();
    Ok((record, name))
}
