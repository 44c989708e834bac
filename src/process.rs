//! [`Process`]: Python's `multiprocessing.Process`, on any [`Platform`]; and the functions
//! that describe the running process ([`current_process`], [`parent_process`],
//! [`active_children`], [`cpu_count`]).
//!
//! On [`Os`] a process is a real one, started by `fork` ([`StartMethod::Fork`]); every
//! primitive made before the start (a [`Lock`](crate::Lock), a [`Queue`](crate::Queue), a
//! [`Connection`](crate::Connection), ...) and moved or cloned into the target is the same
//! object in the child. [`Process::call`] with [`StartMethod::Spawn`] starts a fresh image of
//! the program instead (for programs with threads), which gets `f` and its arguments, handles
//! included (a `Connection` only there), still naming the same objects. Under the simulator a
//! process is a simulated process with a number of its own; under loom and shuttle, a task of
//! the parent's process (see [`TaskChild`](crate::platform::TaskChild)).
//!
//! A process that dies holding a [`Lock`](crate::Lock) or [`RLock`](crate::RLock) leaves it to
//! the next acquirer, which learns it ([`Error::OwnerDied`]).
//!
//! ```no_run
//! use mpcheck::{Os, Process, Value};
//!
//! let counter = Value::<u64, Os>::new(0);
//! let children: Vec<Process> = (0..4)
//!     .map(|_| {
//!         let counter = counter.clone();
//!         Process::<Os>::new(move || {
//!             for _ in 0..1000 {
//!                 counter.update(|n| *n += 1).unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//! for child in &children {
//!     child.start().unwrap();
//! }
//! for child in &children {
//!     assert_eq!(child.join().unwrap(), 0);
//! }
//! assert_eq!(counter.get(), 4000);
//! ```
//!
//! # Exit codes
//! As Python's `Process.exitcode`: `0` when the target returned, `1` when it panicked (the
//! panic message is on the child's stderr), `-N` when signal `N` ended the process
//! (`terminate` gives `-15`, `kill` `-9`).
//!
//! # A process's end
//! A process waits for its non-daemonic children when it ends (after its target, or at
//! `exit` in the program's first process), and terminates its daemonic ones, as Python does. A
//! daemonic process cannot start processes of its own.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::platform::{
    active_children, current_process, parent_process, ProcessInfo, StartMethod,
};
use crate::platform::{
    deadline_after, Atomic, ChildProcess, Image, Instant, Launch, Platform, ProcessSpec, Signal,
    Target,
};
use crate::{Error, Os};

/// The state of a [`Process`].
enum State<P: Platform> {
    /// Made, not started: the target waits here, with what makes its image for a spawn.
    New(Target, Option<MakeImage>),
    /// Started: the platform's child, shared so that no wait holds the state's lock (a second
    /// joiner would wait for the lock, not for the child: under the simulator, whose tasks
    /// take turns on one thread, for ever).
    Started(Arc<P::Child>),
}

/// Encodes a [`Process::call`]'s arguments for a spawn (called at the start, so that an
/// encoding error reaches `start`'s caller).
type MakeImage = Box<dyn Fn() -> Result<Image, Error> + Send + 'static>;

/// The [`Entry`](crate::platform::Entry) of a `fn(A)`: decodes the arguments, calls it.
fn entry<A: DeserializeOwned>(function: usize, args: &[u8]) -> Result<(), Error> {
    // SAFETY: `function` is the address of a `fn(A)` of this binary, as `Process::call`
    // took it (the spawned image is the same binary, and the platform rebased the address
    // onto this image), and `fn(A)` has the size of a `usize`.
    let function: fn(A) = unsafe { std::mem::transmute::<usize, fn(A)>(function) };
    function(crate::codec::decode(args)?);
    Ok(())
}

/// A process, as Python's `multiprocessing.Process`: made with a target, configured with the
/// builder methods ([`name`](Process::name), [`daemon`](Process::daemon),
/// [`start_method`](Process::start_method)), then [`start`](Process::start)ed and
/// [`join`](Process::join)ed.
///
/// # Fork and threads
/// `fork` copies only the thread that calls [`Process::start`]. A lock that another thread of
/// the parent held at that moment stays held in the child (the memory allocator's locks are
/// the exception: the C library resets them), so a target that takes such a lock (one of the
/// user's `std::sync::Mutex`es, say) can hang; mpcheck's own primitives, the allocator, and
/// stdout and stderr (whose locks `start` holds across the fork) are safe to use. A program whose threads hold locks at the moment it starts processes should
/// use [`StartMethod::Spawn`].
pub struct Process<P: Platform = Os> {
    spec: ProcessSpec,
    method: StartMethod,
    /// 1 from the moment a `start` claimed the process (until a start that failed before a
    /// child existed gives it back): a word every engine sees, so that two racing starts race
    /// where the explorers look, and only the claimant touches the state until it is done.
    claimed: P::AtomicU32,
    state: Mutex<State<P>>,
}

impl<P: Platform> fmt::Debug for Process<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Process");
        d.field("name", &self.spec.name)
            .field("daemon", &self.spec.daemon)
            .field("start_method", &self.method);
        match &*self.state() {
            State::New(..) => d.field("state", &"not started"),
            State::Started(child) => d.field("pid", &child.pid()),
        };
        d.finish()
    }
}

impl<P: Platform> Process<P> {
    /// A process that will run `target` (not started yet). Its name is `Process-N` (N counts
    /// the processes this process made), and it is daemonic if the calling process is.
    pub fn new(target: impl FnOnce() + Send + 'static) -> Self {
        let claimed = P::AtomicU32::new(0);
        Atomic::<u32>::label(&claimed, "Process.start");
        Process {
            spec: P::Child::next_spec(),
            method: StartMethod::Fork,
            claimed,
            state: Mutex::new(State::New(Box::new(target), None)),
        }
    }

    /// A process that will run `f(args)`: the form every start method can run, since a plain
    /// function can be found again in a fresh image of the program and `args` travel encoded.
    pub fn call<A>(f: fn(A), args: A) -> Self
    where
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        let shared = std::sync::Arc::new(Mutex::new(Some(args)));
        let theirs = shared.clone();
        let take = move || {
            theirs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        };
        let run = move || {
            if let Some(args) = take() {
                f(args)
            }
        };
        let image: MakeImage = Box::new(move || {
            let args = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let args = args
                .as_ref()
                .expect("the arguments are encoded before the start");
            Ok(Image {
                entry: entry::<A>,
                function: f as usize,
                args: crate::codec::encode(args)?,
                descriptors: Vec::new(),
            })
        });
        let mut process = Self::new(run);
        if let State::New(_, slot) = process
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            *slot = Some(image);
        }
        process
    }

    /// Names the process (what [`current_process`] says in it).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.spec.name = name.into();
        self
    }

    /// Makes the process daemonic (or not): a daemonic process is terminated when its parent
    /// ends, and cannot start processes of its own.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.spec.daemon = daemon;
        self
    }

    /// Chooses how the process is started ([`StartMethod::Fork`] by default).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = method;
        self
    }

    /// The process's name.
    pub fn get_name(&self) -> &str {
        &self.spec.name
    }

    /// Whether the process is daemonic.
    pub fn is_daemon(&self) -> bool {
        self.spec.daemon
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<P>> {
        // Every update of the state is one assignment: a panic elsewhere cannot leave it torn.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the process: its target runs in the child from now on.
    ///
    /// `Err(AlreadyStarted)` the second time; `Err(Io)` when the system refuses a process;
    /// `Err(InvalidArgument)` in a daemonic process, or for [`StartMethod::Spawn`] on a
    /// process made by [`Process::new`].
    #[track_caller]
    pub fn start(&self) -> Result<(), Error> {
        let _op = Self::operation("start");
        // The caller whose compare-and-swap claims the process starts it; the state's lock is
        // then never held across the start, where another task may run (and, under the
        // simulator, whose tasks share one thread, would wait for that lock for ever).
        if self
            .claimed
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::AlreadyStarted);
        }
        // Nothing started: the process keeps its target and can be started again.
        let unclaim = |state: State<P>| {
            *self.state() = state;
            self.claimed.store(0, Ordering::Release);
        };
        let taken = std::mem::replace(&mut *self.state(), State::New(Box::new(|| ()), None));
        let (target, make_image) = match taken {
            State::New(target, image) => (target, image),
            // Not reached (a started process keeps its claim); refused as it would be.
            started @ State::Started(_) => {
                *self.state() = started;
                return Err(Error::AlreadyStarted);
            }
        };
        let image = match (self.method, &make_image) {
            (StartMethod::Spawn, None) => {
                unclaim(State::New(target, None));
                return Err(Error::InvalidArgument(
                    "the spawn start method runs a function in a fresh image of the program, \
                     and a closure cannot travel there: make the process with Process::call"
                        .to_owned(),
                ));
            }
            (StartMethod::Spawn, Some(make)) => match P::Child::image(make) {
                Ok(image) => Some(image),
                Err(error) => {
                    // It fails the same way while its arguments cannot be encoded.
                    unclaim(State::New(target, make_image));
                    return Err(error);
                }
            },
            (StartMethod::Fork, _) => None,
        };
        let launch = Launch {
            target,
            image,
            method: self.method,
        };
        match P::Child::start(&self.spec, launch) {
            Ok(child) => {
                *self.state() = State::Started(Arc::new(child));
                Ok(())
            }
            Err((error, Some(target))) => {
                unclaim(State::New(target, make_image));
                Err(error)
            }
            // A child was made but cannot be watched: it is not started again (the claim
            // stays), and the process is never started.
            Err((error, None)) => Err(error),
        }
    }

    /// The child, for an operation that needs a started process (called without the state's
    /// lock held: the child's operations may wait, and several tasks may call them at once).
    fn with_child<R>(&self, f: impl FnOnce(&P::Child) -> Result<R, Error>) -> Result<R, Error> {
        let child = match &*self.state() {
            State::New(..) => return Err(Error::NotStarted),
            State::Started(child) => Arc::clone(child),
        };
        f(&child)
    }

    /// Waits until the process ends; its exit code (see the [module docs](self)).
    /// `Err(NotStarted)` before [`start`](Process::start); `Err(NotParent)` in a process other
    /// than the one that started it (a forked child that holds this handle), as Python refuses.
    #[track_caller]
    pub fn join(&self) -> Result<i32, Error> {
        let _op = Self::operation("join");
        let code = self.with_child(|child| child.wait(None))?;
        Ok(code.expect("a wait without a deadline returns once the process ended"))
    }

    /// Waits until the process ends or `timeout` passes; `Ok(true)` if it ended. Errors as
    /// [`join`](Process::join).
    #[track_caller]
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        let _op = Self::operation("join_timeout");
        let deadline = deadline_after::<P>(timeout);
        Ok(self.with_child(|child| child.wait(deadline))?.is_some())
    }

    /// Whether the process has started and not yet ended (in any process that holds this
    /// handle).
    #[track_caller]
    pub fn is_alive(&self) -> bool {
        let _op = Self::operation("is_alive");
        self.with_child(|child| child.ended())
            .is_ok_and(|ended| !ended)
    }

    /// A look at whether the process ended: a wait whose deadline has passed already (the
    /// clock's origin), so that it reads no clock.
    fn exit_code_now(&self) -> Result<Option<i32>, Error> {
        self.with_child(|child| child.wait(Some(Instant::from_nanos(0))))
    }

    /// One operation of a process (see [`Platform::operation`]): a join is one step where the
    /// engine takes operations as steps.
    #[track_caller]
    fn operation(name: &'static str) -> P::Operation {
        P::operation_at(|| None::<&P::AtomicU32>, "Process", name, P::site())
    }

    /// The exit code once the process has ended; `None` before it starts and while it runs,
    /// and in a process other than the one that started it (only the parent learns the code).
    #[track_caller]
    pub fn exitcode(&self) -> Option<i32> {
        let _op = Self::operation("exitcode");
        self.exit_code_now().ok().flatten()
    }

    /// The process id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.with_child(|child| Ok(child.pid())).ok()
    }

    /// Asks the process to end (`SIGTERM`); nothing once it has ended.
    /// `Err(NotStarted)` before [`start`](Process::start).
    pub fn terminate(&self) -> Result<(), Error> {
        self.with_child(|child| child.signal(Signal::Terminate))
    }

    /// Ends the process at once (`SIGKILL`); nothing once it has ended.
    /// `Err(NotStarted)` before [`start`](Process::start).
    pub fn kill(&self) -> Result<(), Error> {
        self.with_child(|child| child.signal(Signal::Kill))
    }
}

/// The number of CPUs this process may run on (at least 1).
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
