//! Processes as a platform offers them: [`ChildProcess`], the handle to a started child, and
//! [`TaskChild`], the child of an engine that has no processes of its own (a task standing in
//! for the process).
//!
//! [`crate::Process`] is written once over this trait. [`Os`](super::Os) starts real processes
//! (`fork`); the explorers run a process's target as a task of the same simulated program
//! ([`TaskChild`], written over the platform's own tasks and futex, so it is explored like any
//! other code).

use std::fmt;
use std::sync::atomic::Ordering;

use super::{Atomic, Instant, Platform, Shareable, WaitOutcome};
use crate::Error;

/// How a started process is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `SIGTERM`: the polite request (`Process::terminate`).
    Terminate,
    /// `SIGKILL`: the process ends at once, wherever it is (`Process::kill`).
    Kill,
}

/// What a process is started with, besides its target.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// The process's name (`Process-1`, or the name the user gave).
    pub name: String,
    /// A daemonic process is terminated when its parent exits; a parent waits for the others.
    pub daemon: bool,
    /// Its number among the processes its parent made, from 1 (the `2` of `Process-2`; the
    /// last number of Python's `_identity`).
    pub number: u32,
}

/// The code a process runs: a closure, called once in the child.
pub type Target = Box<dyn FnOnce() + Send + 'static>;

/// The entry of a target that a fresh image of the program can find again: a monomorphic
/// function that decodes the arguments and calls the user's function.
pub type Entry = fn(function: usize, args: &[u8]) -> Result<(), Error>;

/// A target as a fresh image of the program finds it: the addresses of [`Entry`] and of the
/// user's function in this image (the new image is the same binary, so each is at the same
/// distance from any other function of it), and the encoded arguments.
#[derive(Debug)]
pub struct Image {
    /// The entry that decodes `args` and calls `function`.
    pub entry: Entry,
    /// The address of the user's `fn(A)`.
    pub function: usize,
    /// The arguments, encoded (postcard).
    pub args: Vec<u8>,
    /// The descriptors the new image inherits: the pipe ends among the arguments, in the
    /// numbers [`PipeEnd::export`](super::PipeEnd::export) gave them.
    pub descriptors: Vec<std::os::fd::OwnedFd>,
}

/// How a process starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// `fork(2)`: the child is a copy of the parent at the moment of the start, and runs the
    /// target there. Fast; the target may be any closure. Only the forking thread is copied:
    /// see [`Process`](crate::Process) on threads.
    #[default]
    Fork,
    /// A fresh image of the program (`exec` of the running binary), which finds the target
    /// function again and decodes its arguments: for programs with threads. Only
    /// [`Process::call`](crate::Process::call) can use it (a closure cannot travel to a new
    /// image).
    Spawn,
}

/// What [`ChildProcess::start`] runs: the target as a closure, and, for a target made by
/// [`Process::call`](crate::Process::call), as an [`Image`] too.
pub struct Launch {
    /// The target, for a start in this image (fork, or a task).
    pub target: Target,
    /// The target for a fresh image (spawn); `None` for a closure.
    pub image: Option<Image>,
    /// How to start it.
    pub method: StartMethod,
}

/// A started child process, as a platform keeps it.
///
/// Contract: [`ChildProcess::wait`] returns `Ok(Some(code))` once the child has ended, with
/// Python's exit code convention (0 after the target returned, 1 after it panicked, `-N` when
/// signal `N` ended it), and the same code on every later call; `Ok(None)` when `deadline` passed
/// first. It never hangs past `deadline` and never fails because another thread waited too.
pub trait ChildProcess: Send + Sync + Sized + 'static {
    /// The spec of a new process, as `Process::new` makes it before the user's builder calls:
    /// its number, its default name (`Process-N`), the caller's daemon flag.
    fn next_spec() -> ProcessSpec;

    /// Makes the image of a target for a spawn: calls `make`, which encodes the arguments,
    /// while the platform lets what travels by other means (a pipe end's descriptor) do so.
    /// By default, `make()`.
    fn image(make: impl FnOnce() -> Result<Image, Error>) -> Result<Image, Error> {
        make()
    }

    /// Starts a process running `launch`'s target, by `launch.method` where the platform has
    /// start methods. When nothing started, the error comes with the target (`Some`), so that
    /// the process can be started again.
    fn start(spec: &ProcessSpec, launch: Launch) -> Result<Self, (Error, Option<Target>)>;

    /// The child's process id.
    fn pid(&self) -> u32;

    /// Waits until the child ends or `deadline` passes (`None`: no deadline); its exit code.
    fn wait(&self, deadline: Option<Instant>) -> Result<Option<i32>, Error>;

    /// Sends `signal` to the child; nothing (and `Ok`) once it has ended.
    fn signal(&self, signal: Signal) -> Result<(), Error>;

    /// Whether the child has ended, without waiting; from any process that holds the child,
    /// where [`ChildProcess::wait`] may be the parent's alone. By default, a `wait` whose
    /// deadline has passed already (the clock's origin, so that it reads no clock).
    fn ended(&self) -> Result<bool, Error> {
        Ok(self.wait(Some(Instant::from_nanos(0)))?.is_some())
    }
}

/// The state a [`TaskChild`] shares with the task that runs its target.
struct TaskState<P: Platform> {
    /// 0 while the target runs, 1 once it returned: the futex word [`TaskChild::wait`] waits
    /// on.
    done: P::AtomicU32,
}

// SAFETY: one platform atomic, position-independent.
unsafe impl<P: Platform> Shareable for TaskState<P> {}

/// The child process of an engine without real processes: its target runs as a task of the
/// same program, started by [`Platform::spawn_process`] (under the simulator, the first task
/// of a simulated process with a number of its own; elsewhere a task of the parent's process,
/// whose number it shares), and it cannot be signalled.
///
/// A panic in the target is what it is in any task of that engine: under an explorer, a failed
/// execution (the explorer reports it with its trace), so a `TaskChild` ends with exit code 0,
/// or with -9 (`SIGKILL`) once the engine killed its process ([`Platform::process_alive`] is
/// false for it: the simulator's `Config::kills`), even after its target returned, as a real
/// process killed before it exited. It cannot be signalled by the program.
pub struct TaskChild<P: Platform> {
    state: P::Shared<TaskState<P>>,
    pid: u32,
    /// The task, joined by the first `wait` that sees it done (loom wants its threads
    /// joined), and then the exit code that wait found, which every later one returns.
    task: std::sync::Mutex<Ended<P>>,
}

/// A [`TaskChild`]'s task, until a wait found it ended; then its exit code.
enum Ended<P: Platform> {
    Running(P::JoinHandle<()>),
    With(i32),
}

impl<P: Platform> fmt::Debug for TaskChild<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskChild")
            .field("platform", &P::NAME)
            .field("pid", &self.pid)
            .finish()
    }
}

impl<P: Platform> ChildProcess for TaskChild<P> {
    /// Every process is `Process`: a count kept by the program would differ from one explored
    /// execution to the next.
    fn next_spec() -> ProcessSpec {
        ProcessSpec {
            name: "Process".to_owned(),
            daemon: false,
            number: 0,
        }
    }

    /// Every start method starts a task running the closure.
    fn start(_spec: &ProcessSpec, launch: Launch) -> Result<Self, (Error, Option<Target>)> {
        let target = launch.target;
        let state = P::share(TaskState {
            done: P::AtomicU32::new(0),
        });
        Atomic::<u32>::label(&state.done, "Process");
        let theirs = state.clone();
        // `wait` watches the word, which also gives it a deadline, and joins the task once the
        // word says it is done.
        let (handle, pid) = P::spawn_process(move || {
            target();
            let done: &P::AtomicU32 = &theirs.done;
            // One operation: the end is one event, as a real process's exit.
            let _op = P::operation(|| done, "Process", "exit");
            done.store(1, Ordering::Release);
            P::wake(done, u32::MAX);
        });
        Ok(TaskChild {
            state,
            pid,
            task: std::sync::Mutex::new(Ended::Running(handle)),
        })
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<Option<i32>, Error> {
        let done: &P::AtomicU32 = &self.state.done;
        // The specification of a join (for an engine that runs operations as one step): it
        // can complete once the word says the process is done, or the process died (then it
        // never will), or the deadline passed.
        P::ready_when_or_dead(done, |word, _| word == 1, deadline, self.pid);
        loop {
            // The process number is its token. A kill wakes this wait (and a wait begun after
            // a kill returns at once), so the look happens again after a death.
            let killed = !P::process_alive(self.pid);
            if killed || done.load(Ordering::Acquire) == 1 {
                let code = if killed { -9 } else { 0 };
                // The first wait to see the end keeps its code; the lock is not held across the
                // join (a scheduling point).
                let ended = {
                    let mut task = self
                        .task
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match *task {
                        Ended::With(code) => Err(code),
                        Ended::Running(_) => Ok(std::mem::replace(&mut *task, Ended::With(code))),
                    }
                };
                return Ok(Some(match ended {
                    Ok(Ended::Running(handle)) => {
                        // Done or killed: the join returns at once (a panic would have failed
                        // the run; a killed task has no result).
                        let _ = P::join(handle);
                        code
                    }
                    Ok(Ended::With(code)) | Err(code) => code,
                }));
            }
            if P::wait_watching_deaths(done, 0, deadline) == WaitOutcome::TimedOut
                && done.load(Ordering::Acquire) == 0
            {
                return Ok(None);
            }
        }
    }

    fn signal(&self, signal: Signal) -> Result<(), Error> {
        Err(Error::Unsupported(format!(
            "{signal:?}: the {} engine runs a process as a task, which cannot be signalled",
            P::NAME
        )))
    }
}
