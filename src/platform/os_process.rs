//! [`OsChild`]: [`Os`](super::Os)'s processes, started by `fork(2)` and watched through a
//! pidfd; and the family bookkeeping Python keeps per process (its name, its parent, its
//! children, what happens to them when it exits).
//!
//! # Starting
//! `fork` copies the calling thread only. Between the fork and the target the child does the
//! least it can: it resets what this crate caches per process (the task identity, the
//! membarrier registration, the arena's view of which shared blocks it holds, its own family
//! record) and calls the target. Locks held at the moment of the fork by other threads stay
//! held in the child (the allocator's are the exception: glibc resets them in the child), so a
//! target that needs a lock another thread of the parent may hold (a `std::sync::Mutex` of the
//! user's, say) can hang: that is `fork` in a threaded program, as in every language. The
//! crate's own process-wide locks (this family record, the arena's registry), and the locks of
//! stdout and stderr (which a child's exit duties take to flush them), are taken by the
//! forking thread across the fork, so they are never inherited held.
//!
//! So is the panic hook. std's default hook holds a process-wide lock while it prints (the
//! backtrace lock), and a child forked while another thread was inside it would hang at its
//! own first panic (seen: a lincheck task process, forked while a test thread beside it was
//! panicking). The first fork wraps the panic hook then installed in a gate that counts the
//! calls in progress, and a fork announces itself, waits until no call is in progress (calls
//! that begin meanwhile wait for the fork) and holds the gate across the fork: no thread of the
//! parent is inside the hook when it forks (`tests/fork_panic_os.rs`). A hook set later with
//! `std::panic::set_hook` that does not call the one it replaces drops the gate (and, if it
//! takes locks of its own, brings the hazard back); one that wraps it keeps it.
//!
//! # Watching
//! The parent opens a pidfd for the child right after the fork. `wait` polls it (it becomes
//! readable when the child ends) and reaps with `waitid(P_PIDFD)`; signals go through
//! `pidfd_send_signal`. A pidfd names one process for its whole life, so no call can reach
//! another process that reuses the pid after the child is reaped.
//!
//! # Ending
//! A child ends with `_exit` after its target: 0 when it returned, 1 when it panicked (the
//! panic message is on stderr, printed by the panic hook), after the duties every process of
//! the family has at exit, as in Python: its daemonic children are terminated (`SIGTERM`) and
//! waited for, its other children are waited for, stdout and stderr are flushed, and it lets go
//! of its shares of the arena. The first process (the program) does the same duties at
//! `exit(3)` (an `atexit` handler, registered when it first starts a process).

use std::cell::Cell;
use std::io::{StderrLock, StdoutLock, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};

use super::process::{ChildProcess, Image, Launch, ProcessSpec, Signal, StartMethod, Target};
use super::{Instant, Platform};
use crate::{Error, Os};

/// What a process knows of itself, its parent and its children.
struct Family {
    /// This process's name (`MainProcess` in the first one).
    name: String,
    /// Whether this process is daemonic.
    daemon: bool,
    /// Python's `_identity`: the numbers of the processes on the way from the first one to
    /// this one (empty in the first process; `[1, 2]` in `Process-1:2`).
    identity: Vec<u32>,
    /// How many processes this one has made (`Process::new`), for the next default name.
    made: u32,
    /// The parent's name and pid (`None` in the first process).
    parent: Option<(String, u32)>,
    /// The children started and not yet seen to have ended by `active_children`.
    children: Vec<Arc<Watched>>,
    /// Whether the exit duties are registered with `atexit`.
    at_exit: bool,
}

static FAMILY: Mutex<Family> = Mutex::new(Family {
    name: String::new(),
    daemon: false,
    identity: Vec::new(),
    made: 0,
    parent: None,
    children: Vec::new(),
    at_exit: false,
});

/// Whether this program has started a process or is one (see `Platform::multiprocess`).
static MULTIPROCESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `Platform::multiprocess` for `Os`.
pub(crate) fn multiprocess() -> bool {
    MULTIPROCESS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Notes that this program has more processes than this one (before starting one, and in a
/// spawned child: a forked one inherits the note).
pub(crate) fn note_multiprocess() {
    MULTIPROCESS.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn family() -> MutexGuard<'static, Family> {
    // The record stays consistent whatever panicked while holding it (every update is one
    // assignment or push).
    FAMILY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A started child: its pid, the pidfd that watches it, and its exit code once reaped.
#[derive(Debug)]
struct Watched {
    pid: u32,
    name: String,
    daemon: bool,
    pidfd: OwnedFd,
    /// A spawned child's launch memfd, which tells whether its entry ran.
    launch: Option<OwnedFd>,
    /// The exit code, once `waitid` reaped the child (only ever set once).
    code: Mutex<Option<i32>>,
    /// The process that started the child: the only one that can reap it (a forked child
    /// holds a copy of this record, and of the pidfd).
    parent: u32,
}

/// [`Os`]'s [`ChildProcess`]: a process started by `fork(2)`, watched through a pidfd. See the
/// [module docs](self).
#[derive(Debug)]
pub struct OsChild(Arc<Watched>);

fn io_error(operation: &'static str, errno: Errno) -> Error {
    Error::Io {
        operation,
        message: std::io::Error::from(errno).to_string(),
    }
}

/// What [`current_process`], [`parent_process`] and [`active_children`] tell of a process
/// (of the real operating system: these describe the program's own processes, whatever
/// engine a `Process` runs on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    name: String,
    pid: u32,
    daemon: bool,
}

impl ProcessInfo {
    /// Its name: `MainProcess` for the program's first process, else the name its
    /// [`Process`](crate::Process) was given (`Process-1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it is daemonic.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }
}

fn pid_now() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The running process: `MainProcess`, or the name of the [`Process`](crate::Process) that
/// started it.
pub fn current_process() -> ProcessInfo {
    let family = family();
    ProcessInfo {
        name: if family.identity.is_empty() && family.name.is_empty() {
            "MainProcess".to_owned()
        } else {
            family.name.clone()
        },
        pid: pid_now(),
        daemon: family.daemon,
    }
}

/// The process that started this one, if a [`Process`](crate::Process) did.
pub fn parent_process() -> Option<ProcessInfo> {
    family().parent.clone().map(|(name, pid)| ProcessInfo {
        name,
        pid,
        daemon: false,
    })
}

/// The children of this process that are still running; those that have ended are reaped
/// and forgotten, as Python's `active_children` does.
pub fn active_children() -> Vec<ProcessInfo> {
    let children: Vec<Arc<Watched>> = family().children.clone();
    let mut alive = Vec::new();
    let mut ended = Vec::new();
    for child in children {
        match child.reap() {
            Ok(None) => alive.push(child),
            _ => ended.push(child),
        }
    }
    family()
        .children
        .retain(|c| !ended.iter().any(|e| Arc::ptr_eq(c, e)));
    alive
        .iter()
        .map(|c| ProcessInfo {
            name: c.name.clone(),
            pid: c.pid,
            daemon: c.daemon,
        })
        .collect()
}

/// The spec of the next process this one makes: number `N`, named `Process-N` (or
/// `Process-1:N` in process `Process-1`, as Python names them), daemonic if this one is.
fn next_spec() -> ProcessSpec {
    let mut family = family();
    family.made += 1;
    let numbers: Vec<String> = family
        .identity
        .iter()
        .chain(std::iter::once(&family.made))
        .map(u32::to_string)
        .collect();
    ProcessSpec {
        name: format!("Process-{}", numbers.join(":")),
        daemon: family.daemon,
        number: family.made,
    }
}

impl Watched {
    /// Whether the calling process is the child's parent (see [`Watched::parent`]).
    fn ours(&self) -> bool {
        std::process::id() == self.parent
    }

    /// Whether the child has ended, from any process: its pidfd is readable once it has
    /// (reaped or not). No exit code: only the parent can reap it.
    fn ended_from_afar(&self) -> Result<bool, Error> {
        let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
        loop {
            match rustix::event::poll(&mut fds, Some(&Timespec::default())) {
                Ok(n) => return Ok(n > 0),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io_error("poll", e)),
            }
        }
    }

    /// Reaps the child if it has ended: its exit code, or `None` while it runs.
    /// `Err(NotParent)` in another process than its parent (see [`Watched::parent`]).
    fn reap(&self) -> Result<Option<i32>, Error> {
        let mut code = self.code.lock().unwrap_or_else(PoisonError::into_inner);
        if code.is_none() && !self.ours() {
            return Err(Error::NotParent);
        }
        if code.is_some() {
            if self
                .launch
                .as_ref()
                .is_some_and(|l| !super::os_spawn::reached(l))
            {
                return Err(super::os_spawn::never_reached(&self.name));
            }
            return Ok(*code);
        }
        let status = loop {
            match rustix::process::waitid(
                WaitId::PidFd(self.pidfd.as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            ) {
                Ok(status) => break status,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io_error("waitid", e)),
            }
        };
        let Some(status) = status else {
            return Ok(None);
        };
        // Python's convention: the exit status, or minus the signal that ended the process.
        let ended = match (status.exit_status(), status.terminating_signal()) {
            (Some(exit), _) if status.exited() => exit,
            (_, Some(signal)) => -signal,
            (Some(exit), None) => exit,
            (None, None) => return Ok(None),
        };
        *code = Some(ended);
        if self
            .launch
            .as_ref()
            .is_some_and(|l| !super::os_spawn::reached(l))
        {
            return Err(super::os_spawn::never_reached(&self.name));
        }
        Ok(*code)
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<Option<i32>, Error> {
        loop {
            if let Some(code) = self.reap()? {
                return Ok(Some(code));
            }
            let timeout = match deadline {
                None => None,
                Some(at) => {
                    let left = at.saturating_duration_since(Os::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(Timespec {
                        tv_sec: left.as_secs() as _,
                        tv_nsec: left.subsec_nanos() as _,
                    })
                }
            };
            let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(io_error("poll", e)),
            }
        }
    }
}

impl ChildProcess for OsChild {
    fn start(spec: &ProcessSpec, launch: Launch) -> Result<Self, (Error, Option<Target>)> {
        let Launch {
            target,
            image,
            method,
        } = launch;
        if let Some(refusal) = super::os_spawn::unfinished_spawn() {
            return Err((refusal, Some(target)));
        }
        // Before the child exists: what the parent records from now on, the child sees.
        note_multiprocess();
        match (method, image) {
            // The target stays here (a spawned image runs its function, not this closure).
            (StartMethod::Spawn, Some(image)) => {
                super::os_spawn::spawn(spec, image).map_err(|error| (error, Some(target)))
            }
            _ => fork(spec, target),
        }
    }

    fn next_spec() -> ProcessSpec {
        next_spec()
    }

    fn image(make: impl FnOnce() -> Result<Image, Error>) -> Result<Image, Error> {
        let (image, descriptors) = super::os_pipe::collecting(make);
        let mut image = image?;
        image.descriptors = descriptors;
        Ok(image)
    }

    fn pid(&self) -> u32 {
        self.0.pid
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<Option<i32>, Error> {
        let code = self.0.wait(deadline);
        if matches!(code, Ok(Some(_))) {
            // Reaped: no longer one of the children to list or wait
            // for at exit, as Python's `join` discards it. Otherwise the list (and its open
            // pidfds, which every later fork copies) would grow with every child ever joined.
            family()
                .children
                .retain(|child| !Arc::ptr_eq(child, &self.0));
        }
        code
    }

    fn ended(&self) -> Result<bool, Error> {
        if self.0.ours() {
            return Ok(self.0.reap()?.is_some());
        }
        self.0.ended_from_afar()
    }

    fn signal(&self, signal: Signal) -> Result<(), Error> {
        // In the parent, a child that has ended is reaped first, so that its pid is never
        // signalled once it could be reused. Elsewhere the pidfd alone is safe: it refers to
        // the child, never to a process that reused its pid.
        if self.0.ours() && self.0.reap()?.is_some() {
            return Ok(());
        }
        let signal = match signal {
            Signal::Terminate => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
        };
        match rustix::process::pidfd_send_signal(&self.0.pidfd, signal) {
            // ESRCH: it has ended meanwhile (not yet reaped): nothing to signal.
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(e) => Err(io_error("pidfd_send_signal", e)),
        }
    }
}

/// The family record, locked, for a process about to start a child: refuses in a daemonic
/// process, registers the exit duties, flushes what the child would write again.
fn family_for_start() -> Result<MutexGuard<'static, Family>, Error> {
    // What the parent has buffered would be written twice, by each process (fork).
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let mut family = family();
    if family.daemon {
        return Err(Error::InvalidArgument(
            "a daemonic process cannot start processes (they would be orphaned when it is \
             terminated with its parent)"
                .to_owned(),
        ));
    }
    if !family.at_exit {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds out (it catches).
        family.at_exit = unsafe { libc::atexit(at_exit) } == 0;
    }
    Ok(family)
}

/// This process's name as its children know it.
fn name_of(family: &Family) -> String {
    if family.identity.is_empty() && family.name.is_empty() {
        "MainProcess".to_owned()
    } else {
        family.name.clone()
    }
}

/// Watches the child `pid` just started (a pidfd), and lists it among the children.
fn watch(
    family: &mut Family,
    spec: &ProcessSpec,
    pid: u32,
    launch: Option<OwnedFd>,
) -> Result<OsChild, Error> {
    let pidfd = match rustix::process::pidfd_open(
        Pid::from_raw(pid as i32).expect("a started child has a positive pid"),
        PidfdFlags::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            // No way to watch it safely: end it now rather than leave it unwatched.
            // SAFETY: `pid` is our child, not yet reaped, so the pid is still its.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
                libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
            }
            return Err(io_error("pidfd_open", e));
        }
    };
    let watched = Arc::new(Watched {
        pid,
        name: spec.name.clone(),
        daemon: spec.daemon,
        pidfd,
        launch,
        code: Mutex::new(None),
        parent: std::process::id(),
    });
    // As Python's `start` does: the children that have ended are reaped and forgotten first,
    // so that children started and never joined leave neither zombies nor open pidfds (every
    // later fork copies the pidfds) behind, however many there are.
    family
        .children
        .retain(|child| matches!(child.reap(), Ok(None)));
    family.children.push(watched.clone());
    Ok(OsChild(watched))
}

/// Starts a child by `fork`, running `target` in it.
/// Forks a child running `target`; when no child was made, the error comes with the target
/// (`None`: a child was made, and runs it, but could not be watched).
fn fork(spec: &ProcessSpec, target: Target) -> Result<OsChild, (Error, Option<Target>)> {
    // stdout's and stderr's locks are held by this thread across the fork: a child forked
    // while another thread held one would inherit it held by a thread it does not have, and
    // hang at its first print or in its exit duties' flush. (Taken first: nothing takes them
    // while holding the family record.)
    // And no other thread is inside the panic hook (module docs).
    let quiet = Quiet::take();
    let mut family = match family_for_start() {
        Ok(family) => family,
        Err(error) => return Err((error, Some(target))),
    };
    let parent_pid = pid_now();
    // The arena's counts for the handles the child inherits; its locks, like the family's,
    // are held by this thread across the fork.
    let shares = super::arena::before_fork();
    // SAFETY: the child runs only the code below before the target: it touches this crate's
    // per-process caches, the family record (whose lock this thread holds, so no other
    // thread's update is half done in the copy) and the target. See the module docs on what
    // other threads' locks mean for the target.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        shares.failed();
        return Err((
            io_error("fork", Errno::from_raw_os_error(errno())),
            Some(target),
        ));
    }
    if pid == 0 {
        shares.in_child();
        super::os::forget_identity();
        super::os::forget_membarrier();
        super::os_liveness::forget_token();
        family.parent = Some((name_of(&family), parent_pid));
        family.name = spec.name.clone();
        family.daemon = spec.daemon;
        family.identity.push(spec.number);
        family.made = 0;
        // The parent's children are not this process's (their pidfds close here).
        family.children.clear();
        drop(family);
        // Held by this very thread (the child's only one): released as in the parent.
        quiet.release_in_child();
        let code = match catch_unwind(AssertUnwindSafe(target)) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        end(code)
    }
    shares.in_parent();
    drop(quiet);
    // The child runs the target: this image's copy goes (what it captured is dropped here, as
    // the parent's copies of what it moved into the child).
    drop(target);
    watch(&mut family, spec, pid as u32, None).map_err(|error| (error, None))
}

/// Who is inside the panic hook and who waits to fork (see the module docs).
struct Gate {
    /// Calls of the panic hook in progress.
    hooks: usize,
    /// Threads waiting to fork or forking: a hook that begins meanwhile waits (a while) for
    /// them, so that a stream of panics cannot keep a fork out.
    forkers: usize,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    hooks: 0,
    forkers: 0,
});

/// Signalled when the last hook in progress ends and when a fork is done.
static GATE_CHANGED: Condvar = Condvar::new();

/// How long a hook waits for an announced fork before it goes in all the same: a safety
/// valve. The fork waits for nothing a panicking thread could hold (it holds the stdio locks
/// already, and takes only this crate's own locks after, under which no user code runs), so
/// the wait ends when the fork is made; should something unforeseen hold the fork up, a panic
/// is delayed, not hung. (A fork that finds a hook running starts over, so going in is safe.)
const HOOK_PATIENCE: Duration = Duration::from_millis(50);

/// How long a fork, holding the stdio locks, waits for the hooks that run to end before it
/// lets go of the locks (a hook may wait for one) and tries again.
const FORK_PATIENCE: Duration = Duration::from_millis(5);

thread_local! {
    /// This thread is inside the gated panic hook (a fork from there must not wait for itself).
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

fn gate() -> MutexGuard<'static, Gate> {
    GATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` as a call of the panic hook: counted in [`GATE`], after the forks in progress.
fn gated(f: impl FnOnce()) {
    {
        let begun = std::time::Instant::now();
        let mut gate = gate();
        while gate.forkers > 0 {
            let Some(left) = HOOK_PATIENCE.checked_sub(begun.elapsed()) else {
                break;
            };
            gate = GATE_CHANGED
                .wait_timeout(gate, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        gate.hooks += 1;
    }
    let outer = IN_HOOK.replace(true);
    f();
    IN_HOOK.set(outer);
    let mut gate = gate();
    gate.hooks -= 1;
    if gate.hooks == 0 {
        GATE_CHANGED.notify_all();
    }
}

/// Wraps the panic hook installed now in [`gated`], once per process. Not from a thread that
/// is panicking (std refuses to change the hook there): the next fork does it.
fn gate_panic_hook() {
    static INSTALL: Once = Once::new();
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| gated(|| previous(info))));
    });
}

/// What a fork holds across it: the locks of stdout and stderr, and the [`GATE`] with no hook
/// inside (`None` when the forking thread is itself inside the hook). Both processes let go of
/// it after the fork (dropping it).
struct Quiet {
    gate: Option<MutexGuard<'static, Gate>>,
    /// Dropped after the gate (fields drop after `Drop::drop`).
    _stdio: (StdoutLock<'static>, StderrLock<'static>),
}

impl Quiet {
    /// Takes what a fork holds across it: the stdio locks, then (announcing the fork, so that
    /// hooks that begin now wait for it) the gate once no hook runs. A hook that runs may print
    /// through `stderr()`'s lock, which this thread holds: if the hooks do not end within
    /// [`FORK_PATIENCE`], let go of everything and start over.
    fn take() -> Quiet {
        gate_panic_hook();
        let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
        loop {
            let stdio = (stdout.lock(), stderr.lock());
            if IN_HOOK.get() {
                return Quiet {
                    gate: None,
                    _stdio: stdio,
                };
            }
            let mut gate = gate();
            gate.forkers += 1;
            let (mut gate, _) = GATE_CHANGED
                .wait_timeout_while(gate, FORK_PATIENCE, |gate| gate.hooks > 0)
                .unwrap_or_else(PoisonError::into_inner);
            if gate.hooks == 0 {
                return Quiet {
                    gate: Some(gate),
                    _stdio: stdio,
                };
            }
            gate.forkers -= 1;
            drop(gate);
            GATE_CHANGED.notify_all();
            drop(stdio);
            // Let the hook that waits for a stdio lock take it before this thread does again.
            std::thread::yield_now();
        }
    }

    /// In the child, whose only thread is the forking one: nobody else forks (the parent's
    /// other forkers, counted in the copy, are not here). No hook runs: `take` held the gate
    /// with none in progress.
    fn release_in_child(mut self) {
        if let Some(gate) = self.gate.as_mut() {
            gate.forkers = 1;
        }
    }
}

/// After the fork (or when none was made), in each process: the hooks waiting may begin.
impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(mut gate) = self.gate.take() {
            gate.forkers -= 1;
            drop(gate);
            GATE_CHANGED.notify_all();
        }
    }
}

/// The identity and parent a spawned child of this process takes (its own family record is
/// a fresh image's: it is told them).
pub(super) fn spawn_identity(spec: &ProcessSpec) -> (Vec<u32>, (String, u32)) {
    let family = family();
    let mut identity = family.identity.clone();
    identity.push(spec.number);
    (identity, (name_of(&family), pid_now()))
}

/// Starts a child by `start` (which returns its pid), for the spawn start method, and watches
/// it; `launch` is the memfd the child marks when its entry runs.
pub(super) fn start_spawned(
    spec: &ProcessSpec,
    launch: OwnedFd,
    start: impl FnOnce() -> Result<u32, Error>,
) -> Result<OsChild, Error> {
    let mut family = family_for_start()?;
    let pid = start()?;
    watch(&mut family, spec, pid, Some(launch))
}

/// Makes this fresh image the spawned process it was told it is.
pub(super) fn become_spawned(
    name: String,
    daemon: bool,
    identity: Vec<u32>,
    parent: (String, u32),
) {
    let mut family = family();
    family.name = name;
    family.daemon = daemon;
    family.identity = identity;
    family.parent = Some(parent);
    if !family.at_exit {
        // SAFETY: as in `family_for_start`.
        family.at_exit = unsafe { libc::atexit(at_exit) } == 0;
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A child process's end, after its target: the exit duties, its shares of the arena, `_exit`.
pub(super) fn end(code: i32) -> ! {
    exit_duties();
    super::os_liveness::leave();
    // The counts of every shared block this process holds: its handles are never dropped.
    super::arena::release_all();
    // SAFETY: `_exit` ends the process at once, without running the parent's `atexit`
    // handlers or destructors of the copied state (which belong to the parent).
    unsafe { libc::_exit(code) }
}

/// What a process of the family does when it exits (see the module docs).
fn exit_duties() {
    let _ = catch_unwind(|| {
        let children: Vec<Arc<Watched>> = family().children.clone();
        for child in children.iter().filter(|c| c.daemon) {
            let _ = OsChild(child.clone()).signal(Signal::Terminate);
        }
        for child in &children {
            let _ = child.wait(None);
        }
        family().children.clear();
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    });
}

/// A process's exit duties when it ends by `exit(3)` (the program's first process at the end
/// of `main`, or a child whose target called `std::process::exit`); a child also lets go of its
/// shares of the arena, as after its target.
extern "C" fn at_exit() {
    exit_duties();
    super::os_liveness::leave();
    if family().parent.is_some() {
        super::arena::release_all();
    }
}
