//! The `Platform` trait: the small, kernel-like surface every primitive is written against.
//!
//! A primitive (Lock, Semaphore, Queue, ...) only ever talks to a `P: Platform`. Everything that
//! differs between running on the real operating system and running under an interleaving
//! explorer lives in an implementation of this trait:
//!
//! - [`Os`]: Linux, real threads, real futexes (shared, not `FUTEX_PRIVATE`).
//! - the simulator, loom and shuttle engines implement the same trait (see `docs/ARCHITECTURE.md`).
//!
//! The trait offers what a kernel offers and nothing more:
//!
//! | facility | items |
//! |---|---|
//! | atomic words | [`Platform::AtomicU32`], [`Platform::AtomicU64`], [`Platform::AtomicBool`] (std [`Ordering`]) |
//! | non-atomic shared data | [`Platform::Cell`] (`with` / `with_mut`, so a race detector sees every access) |
//! | futex | [`Platform::wait`] / [`Platform::wake`] on an `AtomicU32` |
//! | time | [`Platform::now`], [`Platform::sleep`], [`Platform::yield_now`] |
//! | tasks | [`Platform::spawn`], [`Platform::join`], [`Platform::current_task`] |
//! | placement of shared state | [`Platform::share`] and [`Platform::Shared`] |
//! | byte pipes | [`Platform::pipe`] and [`Platform::PipeEnd`] |
//! | processes | [`Platform::Child`] ([`ChildProcess`]: start, wait, signal) |
//!
//! Every function is an associated function (no `self`): a platform is a zero-sized type used as
//! a type parameter, `Lock::<Os>::new()`.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Implements [`Atomic`] (and, with `int`, [`AtomicInt`]) for an atomic type whose inherent
/// methods have std's names and signatures, by forwarding every call. `$attr` goes on every
/// method (`#[inline]` for the real OS, `#[track_caller]` for engines that report source lines);
/// `label = method, number = method` forwards [`Atomic::label`] and [`Atomic::object_number`]
/// too.
macro_rules! forward_atomic {
    ($atomic:ty, $v:ty, #[$attr:meta] $(, label = $label:ident, number = $number:ident)?) => {
        impl $crate::platform::Atomic<$v> for $atomic {
            // Inlined on every engine too (a queue makes thousands at once, each best written in
            // place), which makes `$attr` a second `#[inline]` for `Os`.
            #[inline]
            #[allow(unused_attributes)]
            #[$attr]
            fn new(value: $v) -> Self {
                <$atomic>::new(value)
            }
            #[$attr]
            fn load(&self, order: ::std::sync::atomic::Ordering) -> $v {
                <$atomic>::load(self, order)
            }
            #[$attr]
            fn store(&self, value: $v, order: ::std::sync::atomic::Ordering) {
                <$atomic>::store(self, value, order)
            }
            #[$attr]
            fn swap(&self, value: $v, order: ::std::sync::atomic::Ordering) -> $v {
                <$atomic>::swap(self, value, order)
            }
            #[$attr]
            fn compare_exchange(
                &self,
                current: $v,
                new: $v,
                success: ::std::sync::atomic::Ordering,
                failure: ::std::sync::atomic::Ordering,
            ) -> Result<$v, $v> {
                <$atomic>::compare_exchange(self, current, new, success, failure)
            }
            #[$attr]
            fn compare_exchange_weak(
                &self,
                current: $v,
                new: $v,
                success: ::std::sync::atomic::Ordering,
                failure: ::std::sync::atomic::Ordering,
            ) -> Result<$v, $v> {
                <$atomic>::compare_exchange_weak(self, current, new, success, failure)
            }
            $(
                fn label(&self, name: &'static str) {
                    <$atomic>::$label(self, name)
                }
                fn object_number(&self) -> u32 {
                    <$atomic>::$number(self)
                }
            )?
        }
    };
    ($atomic:ty, $v:ty, int, #[$attr:meta] $(, label = $label:ident, number = $number:ident)?) => {
        forward_atomic!($atomic, $v, #[$attr] $(, label = $label, number = $number)?);

        impl $crate::platform::AtomicInt<$v> for $atomic {
            #[$attr]
            fn fetch_add(&self, value: $v, order: ::std::sync::atomic::Ordering) -> $v {
                <$atomic>::fetch_add(self, value, order)
            }
            #[$attr]
            fn fetch_sub(&self, value: $v, order: ::std::sync::atomic::Ordering) -> $v {
                <$atomic>::fetch_sub(self, value, order)
            }
            #[$attr]
            fn fetch_or(&self, value: $v, order: ::std::sync::atomic::Ordering) -> $v {
                <$atomic>::fetch_or(self, value, order)
            }
            #[$attr]
            fn fetch_and(&self, value: $v, order: ::std::sync::atomic::Ordering) -> $v {
                <$atomic>::fetch_and(self, value, order)
            }
        }
    };
}

/// The [`Platform::Site`] and [`Platform::Operation`] items of a platform that reports no
/// operations: `()`, at no cost.
macro_rules! no_operations {
    () => {
        type Site = ();
        type Operation = ();

        #[inline(always)]
        fn site() {}

        #[inline(always)]
        fn operation_at<'w, V: Copy, W: $crate::platform::Atomic<V> + 'w>(
            _object: impl FnOnce() -> Option<&'w W>,
            _primitive: &'static str,
            _name: &'static str,
            _site: (),
        ) {
        }
    };
}

pub(crate) mod arena;
#[cfg(any(feature = "loom", feature = "shuttle"))]
mod emulated;
mod heap;
mod kernel_pipe;
#[cfg(feature = "loom")]
pub(crate) mod loom;
mod os;
pub(crate) mod os_liveness;
mod os_pipe;
pub(crate) mod os_process;
mod os_spawn;
mod pipe;
mod process;
mod shareable;
#[cfg(feature = "shuttle")]
mod shuttle;
mod sim;
pub(crate) mod wire;

#[cfg(feature = "loom")]
pub use self::loom::Loom;
#[cfg(feature = "shuttle")]
pub use self::shuttle::Shuttle;
pub use arena::Wire;
pub use heap::Heap;
pub use kernel_pipe::{EmulatedPipeEnd, SteppedPipeEnd, EMULATED_PIPE_CAPACITY};
pub use os::Os;
pub use os_pipe::OsPipeEnd;
pub use os_process::{active_children, current_process, parent_process, ProcessInfo};
pub use pipe::PipeEnd;
pub use process::{
    ChildProcess, Entry, Image, Launch, ProcessSpec, Signal, StartMethod, Target, TaskChild,
};
pub(crate) use shareable::Padded;
pub use shareable::Shareable;
pub use sim::Sim;

/// An atomic word of type `V` (`u32`, `u64` or `bool`), with the semantics of the std atomic of
/// the same width: each method behaves exactly as the std method of the same name.
///
/// On the real OS this is the std atomic itself; under an explorer every call is a scheduling
/// point, and under loom the orderings are checked against the C11 memory model.
pub trait Atomic<V: Copy>: Send + Sync + Shareable + Sized {
    /// A new atomic holding `value`.
    fn new(value: V) -> Self;
    /// Reads the value (see [`std::sync::atomic::AtomicU32::load`]).
    fn load(&self, order: Ordering) -> V;
    /// Writes the value (see [`std::sync::atomic::AtomicU32::store`]).
    fn store(&self, value: V, order: Ordering);
    /// Writes the value and returns the previous one.
    fn swap(&self, value: V, order: Ordering) -> V;
    /// Writes `new` if the value is `current`; `Ok(previous)` on success, `Err(actual)` otherwise.
    fn compare_exchange(
        &self,
        current: V,
        new: V,
        success: Ordering,
        failure: Ordering,
    ) -> Result<V, V>;
    /// As [`Atomic::compare_exchange`], but may fail spuriously (cheaper in a retry loop).
    fn compare_exchange_weak(
        &self,
        current: V,
        new: V,
        success: Ordering,
        failure: Ordering,
    ) -> Result<V, V>;

    /// Names the word for traces and deadlock reports ("Lock", "Semaphore", ...). A hint that
    /// costs nothing where nobody reports: the default does nothing.
    #[inline]
    fn label(&self, name: &'static str) {
        let _ = name;
    }

    /// The word's number in traces (the `2` of `Lock#2`), for naming a primitive's operation on
    /// it ([`Platform::operation`]); 0 where nobody reports (the default).
    #[inline]
    fn object_number(&self) -> u32 {
        0
    }
}

/// An atomic integer: [`Atomic`] plus wrapping arithmetic, as std's `fetch_*` methods.
pub trait AtomicInt<V: Copy>: Atomic<V> {
    /// Adds `value` (wrapping) and returns the previous value.
    fn fetch_add(&self, value: V, order: Ordering) -> V;
    /// Subtracts `value` (wrapping) and returns the previous value.
    fn fetch_sub(&self, value: V, order: Ordering) -> V;
    /// Bitwise or; returns the previous value.
    fn fetch_or(&self, value: V, order: Ordering) -> V;
    /// Bitwise and; returns the previous value.
    fn fetch_and(&self, value: V, order: Ordering) -> V;
}

/// A cell holding non-atomic data shared between tasks, like [`std::cell::UnsafeCell`].
///
/// Access goes through closures so that an engine can observe every read and write (loom reports
/// a data race when two accesses, one of them a write, are not ordered by happens-before).
pub trait SharedCell<T>: Send + Sync + Sized {
    /// A new cell holding `value`.
    fn new(value: T) -> Self;

    /// Reads the contents through a shared reference.
    ///
    /// # Safety
    /// No [`SharedCell::with_mut`] on the same cell may run at the same time, in any task
    /// (typically: the caller holds the lock that guards the cell).
    unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R;

    /// Reads or writes the contents through an exclusive reference.
    ///
    /// # Safety
    /// No other access ([`SharedCell::with`] or `with_mut`) on the same cell may run at the same
    /// time, in any task.
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// A point on the platform's monotonic clock, in nanoseconds since an arbitrary origin.
///
/// On [`Os`] the origin is the system's `CLOCK_MONOTONIC` origin, which every process on the
/// machine shares, so an `Instant` means the same thing in every process. Under a simulator it is
/// virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The instant `nanos` nanoseconds after the clock's origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant { nanos }
    }

    /// Nanoseconds since the clock's origin.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// `self + d`, or `None` when that is not representable (about 584 years after the origin).
    /// A timeout that large is treated as "no deadline" by every primitive.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_add(d).map(Instant::from_nanos)
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

/// Why [`Platform::wait`] returned. The caller must re-check its condition in every case: the
/// contract allows spurious returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The word did not hold the expected value when the wait began: nothing was waited for.
    Mismatch,
    /// Woken by [`Platform::wake`], or spuriously (a signal, an injected spurious wake-up).
    Woken,
    /// The deadline was reached without a wake-up having been delivered to this waiter.
    TimedOut,
}

/// The identity of the running task: the process it belongs to and its thread in that process.
///
/// Packed into a nonzero `u64` (see [`TaskId::as_u64`]) so that an owner can be stored in one
/// atomic word; `0` is free to mean "nobody".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskId {
    /// Process id (on [`Os`], the kernel's pid).
    pub process: u32,
    /// Thread id, nonzero (on [`Os`], the kernel's tid, unique on the machine while it runs).
    pub thread: u32,
}

impl TaskId {
    /// The identity packed into one word: `process << 32 | thread`. Never zero, because the
    /// thread id is never zero.
    pub const fn as_u64(self) -> u64 {
        ((self.process as u64) << 32) | self.thread as u64
    }

    /// Unpacks [`TaskId::as_u64`]; `None` for `0` ("nobody").
    pub const fn from_u64(word: u64) -> Option<TaskId> {
        if word as u32 == 0 {
            None
        } else {
            Some(TaskId {
                process: (word >> 32) as u32,
                thread: word as u32,
            })
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} tid {}", self.process, self.thread)
    }
}

/// What a task's panic left behind, as [`std::thread::JoinHandle::join`] returns it.
pub type PanicPayload = Box<dyn Any + Send + 'static>;

/// The scheduler and kernel that primitives run on. See the [module docs](self).
///
/// A platform is a zero-sized marker type; all its functions are associated functions.
pub trait Platform: Sized + Send + Sync + 'static {
    /// A short name for reports ("os", "sim", ...). Primitives never look at it.
    const NAME: &'static str;

    /// How many times a lock's slow path re-reads the lock word before it sleeps. On real
    /// hardware a short spin saves a system call when the holder is about to release; under an
    /// explorer every spin step is a scheduling point and only grows the state space, so
    /// explorers set it to 0. It never changes what a primitive does, only how soon it sleeps.
    /// Where it is 0 no primitive spins at all (the queue's backoff, a pipe's wait on its
    /// writers' count), nor keeps what only a spin would read.
    const SPIN_LIMIT: u32;

    /// How long a task waiting for a word that another process holds (a lock) sleeps at most
    /// before it looks whether that process is still alive ([`Platform::process_alive`]):
    /// `Some` where a death wakes nobody ([`Os`], whose waiters poll), `None` where processes
    /// never die or the engine wakes the waiters of a process that dies — every task asleep in
    /// a [`Platform::wait_watching_deaths`], and a task that looked before the death and waits
    /// after it (the simulator: such a wait begun after a kill the task has not waited through
    /// returns at once).
    const LIVENESS_POLL: Option<Duration> = None;

    /// A 32-bit atomic word; also the word futex operations act on.
    type AtomicU32: AtomicInt<u32>;
    /// A 64-bit atomic word (owners, counters that must not wrap).
    type AtomicU64: AtomicInt<u64>;
    /// An atomic flag.
    type AtomicBool: Atomic<bool>;

    /// A cell for non-atomic, position-independent shared data (see [`SharedCell`]).
    type Cell<T: Shareable + Send>: SharedCell<T> + Shareable;

    /// A handle to a `T` placed where every task of the program can reach it (see
    /// [`Platform::share`]). Cloning the handle does not clone the `T`; the `T` is dropped when
    /// the last handle is dropped.
    type Shared<T: ?Sized + Shareable + Send + Sync>: Clone + Deref<Target = T> + Send + Sync;

    /// One end of a byte pipe made by [`Platform::pipe`].
    type PipeEnd: PipeEnd;

    /// The handle [`Platform::spawn`] returns and [`Platform::join`] consumes.
    type JoinHandle<T: Send + 'static>: Send;

    /// A started child process ([`crate::Process`] is written over it): a real process on
    /// [`Os`], a task standing in for one ([`TaskChild`]) on an engine without processes.
    type Child: ChildProcess;

    /// Where the user's code called a primitive's public operation ([`Platform::site`]): a
    /// source location under an engine that reports it, `()` elsewhere.
    type Site: Copy + Send + Sync;

    /// An open operation ([`Platform::operation`]), closed when dropped; `()` where nobody
    /// reports.
    type Operation;

    /// Places `value` where every task can reach it and returns the first handle to it.
    ///
    /// Contract: the returned handle, and every clone of it, dereferences to the same `T` from
    /// every task the platform can run (threads today; processes where the platform supports
    /// them, which is why `T` must be [`Shareable`]: position-independent, no heap pointers).
    /// The size is the type's, fixed at compile time: out of memory aborts the process, as for
    /// `Box::new`.
    fn share<T: Shareable + Send + Sync>(value: T) -> Self::Shared<T>;

    /// As [`Platform::share`], for `len` values made by `init(0)`, `init(1)`, ...: a slice whose
    /// length is known only at run time (an `Array`'s elements, a queue's slots).
    ///
    /// The length comes from the user, so the allocation is fallible: when `len` elements are
    /// more than an address space holds, or than the platform's memory for shared state holds
    /// (`Os`: its arena's reservation), or the system refuses the memory, the result is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) saying so (and `init` is not
    /// called), never an abort. On `Os`, shared memory the system cannot commit is an
    /// [`Error::Io`](crate::Error::Io) of `"fallocate"` (the arena stays usable).
    fn share_slice<T: Shareable + Send + Sync>(
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Result<Self::Shared<[T]>, crate::Error>;

    /// The form in which a handle travels to another process of the family (a spawn's
    /// arguments, a queue item): a [`Wire`] naming the same `T`. It keeps the `T` alive for
    /// good (the same bytes may be decoded any number of times). Engines whose shared state is
    /// one program's heap cannot let a handle leave it: `Err(Unsupported)` (the default).
    fn export<T: Shareable + Send + Sync>(shared: &Self::Shared<T>) -> Result<Wire, crate::Error> {
        let _ = shared;
        Err(cannot_travel::<Self>())
    }

    /// As [`Platform::export`], for a slice.
    fn export_slice<T: Shareable + Send + Sync>(
        shared: &Self::Shared<[T]>,
    ) -> Result<Wire, crate::Error> {
        let _ = shared;
        Err(cannot_travel::<Self>())
    }

    /// The handle a [`Wire`] names, in this process: `Err(Decode)` when it names nothing of
    /// this family of processes, or not a `T`; `Err(Unsupported)` by default.
    fn import<T: Shareable + Send + Sync>(wire: Wire) -> Result<Self::Shared<T>, crate::Error> {
        let _ = wire;
        Err(cannot_travel::<Self>())
    }

    /// As [`Platform::import`], for a slice.
    fn import_slice<T: Shareable + Send + Sync>(
        wire: Wire,
    ) -> Result<Self::Shared<[T]>, crate::Error> {
        let _ = wire;
        Err(cannot_travel::<Self>())
    }

    /// A kernel byte pipe (see [`PipeEnd`] for the contract): with `duplex`, each end reads
    /// what the other writes; otherwise the first end only reads and the second only writes.
    fn pipe(duplex: bool) -> Result<(Self::PipeEnd, Self::PipeEnd), crate::Error>;

    /// Futex wait: if `word` still holds `expected`, sleeps until woken by [`Platform::wake`] on
    /// the same word, or until `deadline` (absolute, on [`Platform::now`]'s clock) if one is given.
    ///
    /// Contract:
    /// - the check of the value and the start of the sleep are atomic with respect to `wake`: a
    ///   `wake` that follows a change of the word cannot be missed;
    /// - the call may return spuriously, at any time, with [`WaitOutcome::Woken`]; callers loop
    ///   and re-check their condition;
    /// - [`WaitOutcome::TimedOut`] is returned only once `now() >= deadline`, and only if no wake
    ///   was delivered to this waiter (a wake that reached it is reported as `Woken`, so a caller
    ///   that consumes a wake-up never drops it because of a timeout).
    fn wait(word: &Self::AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome;

    /// As [`Platform::wait`], for a task that waits for another process and looks at its
    /// liveness ([`Platform::process_alive`]) before it sleeps, and again when it wakes (a
    /// lock's waiter looks at the holder, a queue's getter at the putter of the frame it waits
    /// for, a barrier's party at the others): where a death wakes such waiters (no
    /// [`Platform::LIVENESS_POLL`]: the simulator), a death wakes this one, spuriously. A plain
    /// [`Platform::wait`] is woken by no death, as on a real OS (a `Condition` waiter whose
    /// notifier died sleeps for ever). By default [`Platform::wait`]: where waiters poll,
    /// the caller's deadline is its next look.
    #[inline]
    fn wait_watching_deaths(
        word: &Self::AtomicU32,
        expected: u32,
        deadline: Option<Instant>,
    ) -> WaitOutcome {
        Self::wait(word, expected, deadline)
    }

    /// The specification of a blocking operation, for an engine that runs each operation of a
    /// primitive as one step: the operation the caller is in cannot go on until
    /// `ready(value, start)` holds for the word's value and its value when the wait began, or
    /// `deadline` passes (`Lock::acquire`: until the lock is free; `Event::wait`: until the
    /// flag is set or was set since `start`). Called once per operation, at its start. Such an engine (the simulator at its operation granularity) does not schedule
    /// the task until then, so that the operation is one step, taken when it can complete,
    /// rather than an attempt that sleeps and one that completes once woken. Returns the word's
    /// value when the wait began (`start`) if it waited, `None` if not: the word may have
    /// changed since, and an operation whose specification looks at `start` (`Event::wait`: a
    /// flag set and cleared again while the task waited) must go on judging by it.
    ///
    /// A hint, never a promise: it may return at any time, and the operation goes on to check
    /// and wait as its algorithm does. By default (`Os`, loom, shuttle, the simulator at step
    /// granularity) it returns `false` at once and costs nothing: the futex algorithm is the
    /// generic implementation of every operation.
    #[inline(always)]
    fn ready_when(
        word: &Self::AtomicU32,
        ready: fn(u32, u32) -> bool,
        deadline: Option<Instant>,
    ) -> Option<u32> {
        let _ = (word, ready, deadline);
        None
    }

    /// As [`Platform::ready_when`], for a word that names the one process holding what the
    /// operation waits for: `holder(value)` is its token ([`Platform::process_token`]; 0:
    /// nobody), as a lock's word holds its holder's. An engine that kills processes (the
    /// simulator) lets the operation go on, to look for itself, once *that* process died (a
    /// lock's holder), where after `ready_when` it does once any process that changed the word
    /// died (a semaphore's count, which names nobody). By default `ready_when`.
    #[inline(always)]
    fn ready_when_held(
        word: &Self::AtomicU32,
        ready: fn(u32, u32) -> bool,
        deadline: Option<Instant>,
        holder: fn(u32) -> u32,
    ) -> Option<u32> {
        let _ = holder;
        Self::ready_when(word, ready, deadline)
    }

    /// As [`Platform::ready_when`], for a word that process `process` (its token, as
    /// [`Platform::process_alive`] takes it) writes as it ends, unless it dies first: the
    /// operation can also go on once that process died (a join of a process waits on its exit
    /// word until it is written or the process is dead). By default nothing, at no cost.
    #[inline(always)]
    fn ready_when_or_dead(
        word: &Self::AtomicU32,
        ready: fn(u32, u32) -> bool,
        deadline: Option<Instant>,
        process: u32,
    ) -> bool {
        let _ = (word, ready, deadline, process);
        false
    }

    /// Whether each operation ([`Platform::operation`]) runs as one event of an explorer whose
    /// events commute where they touch different words (the simulator at its operation
    /// granularity). Code that observes operations from outside can then afford more words to
    /// keep them apart (a recorder of histories with a clock of returns per task, whose returns
    /// commute), where elsewhere each word read is one more point to explore. By default
    /// `false`.
    #[inline(always)]
    fn operations_are_events() -> bool {
        false
    }

    /// As [`Platform::ready_when`], for a specification that reads several words (a queue's
    /// `get`: a frame is published at the head's slot, wherever the head is, or the queue is
    /// drained): the operation cannot go on until `ready()` holds or `deadline` passes.
    /// `ready` only reads: loads, read-modify-writes that keep the value (`fetch_add(0)`),
    /// and [`Platform::process_alive`]. An engine that runs each operation as one step may run
    /// it without steps, as often as it likes, and hold the task while it fails. A hint, never
    /// a promise, as `ready_when` is. By default nothing, at no cost: `ready` never runs.
    #[inline(always)]
    fn ready_if(ready: &dyn Fn() -> bool, deadline: Option<Instant>) {
        let _ = (ready, deadline);
    }

    /// Futex wake: wakes up to `n` tasks waiting on `word` and returns how many were woken.
    /// `u32::MAX` wakes every waiter.
    fn wake(word: &Self::AtomicU32, n: u32) -> u32;

    /// A memory fence, as [`std::sync::atomic::fence`]. The store-then-load pairings of the
    /// primitives (a waiter registers, then checks; a releaser publishes, then checks for
    /// waiters) use `fence(SeqCst)` between the two, the form every engine models exactly.
    fn fence(order: Ordering);

    /// The frequent half of an asymmetric fence pair. For a store-then-load pairing whose one
    /// side runs on every operation (a releaser publishes, then checks for waiters) and whose
    /// other side runs only on a slow path (a waiter registers, then checks), the frequent side
    /// calls `light_fence` and the rare side [`Platform::heavy_fence`]: whenever one task
    /// issues a light fence and another a heavy fence, the two are ordered as if both had issued
    /// `fence(SeqCst)` (so at least one of the two sees the other's store).
    ///
    /// By default both halves are `fence(SeqCst)`, which is how every explorer models the pair.
    /// [`Os`] makes the light half a compiler fence only, and the heavy half a
    /// `membarrier(2)` that orders every running thread at once (where the kernel offers it).
    ///
    /// There the pairing is the kernel's promise, which a virtual machine of our CI once broke
    /// (one round of tests/platform_os.rs's litmus test, among many millions). So a primitive
    /// stakes only latency on it, never a wake-up for good: the queue's sleeps, the pair's
    /// one user, end at least every [`Platform::LIVENESS_POLL`] and check again.
    #[inline]
    fn light_fence() {
        Self::fence(Ordering::SeqCst)
    }

    /// The rare half of an asymmetric fence pair: see [`Platform::light_fence`].
    #[inline]
    fn heavy_fence() {
        Self::fence(Ordering::SeqCst)
    }

    /// The current time on the platform's monotonic clock. Never goes backwards.
    fn now() -> Instant;

    /// Sleeps for at least `duration`.
    ///
    /// On [`Os`], at least `duration` of real time (more when the system is busy). Under our
    /// simulator ([`Sim`]) a sleep takes no real time and at least `duration` of virtual time:
    /// - with [`Timeouts::WhenIdle`](crate::sim::Timeouts::WhenIdle), exactly `duration`:
    ///   timeouts fire only when no task can run, earliest deadline first, so the clock reaches
    ///   this sleep's deadline before any later one;
    /// - with [`Timeouts::Race`](crate::sim::Timeouts::Race) (the default), possibly more: a
    ///   timed wait or a sleep may end at any point after it starts, the clock then jumping to
    ///   its deadline if that is later, so another task's later deadline may have been reached
    ///   first (a sleep of 1 hour may end after 2 hours, when a task that slept 2 hours ended
    ///   its sleep first).
    ///
    /// loom and shuttle move a logical clock of their own forward by `duration` at once (other
    /// tasks may move it further before the sleeper runs again).
    fn sleep(duration: Duration);

    /// Gives other tasks a chance to run; a scheduling point with no other effect.
    fn yield_now();

    /// Starts a new task (a thread in the current process) running `f`.
    fn spawn<F, T>(f: F) -> Self::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// Starts a task running `f` as the first task of a new process, where the engine models
    /// processes as identities of their own (the simulator: [`Platform::current_task`] gives
    /// the new number in it and in the tasks it spawns); returns its handle and the process's
    /// number. By default a task of the calling process (engines without processes; [`Os`]
    /// starts real processes through [`Platform::Child`] instead).
    fn spawn_process<F>(f: F) -> (Self::JoinHandle<()>, u32)
    where
        F: FnOnce() + Send + 'static,
    {
        (Self::spawn(f), Self::current_task().process)
    }

    /// Waits for the task to finish; `Err` with the panic payload if it panicked.
    fn join<T: Send + 'static>(handle: Self::JoinHandle<T>) -> Result<T, PanicPayload>;

    /// The identity of the running task.
    fn current_task() -> TaskId;

    /// Whether `word` holds `me`, for a word that every task writes only with its own
    /// [`TaskId::as_u64`] or 0 (an `RLock`'s owner): the answer depends on the caller's own
    /// writes alone, never on the order of other tasks' steps, so an engine may read it without
    /// a scheduling point or a dependence on what other tasks write. The simulator does, so
    /// that a contended `RLock::acquire` is one step, the guarded wait for the lock, as
    /// `Lock::acquire` is (with the re-entry check an event of its own before it, the search
    /// explored 34 executions for two tasks' two acquire-and-release pairs, against `Lock`'s 8).
    /// By default a `Relaxed` load.
    fn holds_own_id(word: &Self::AtomicU64, me: u64) -> bool {
        word.load(Ordering::Relaxed) == me
    }

    /// A number naming the calling process for as long as its family lives (never reused by
    /// another process of it), nonzero and below 2^30, so that a lock word can hold its holder
    /// with two flag bits. By default the process number of [`Platform::current_task`].
    fn process_token() -> u32 {
        Self::current_task().process
    }

    /// Whether the process `token` ([`Platform::process_token`]) names is still running; a
    /// lock it holds is taken over by the next acquirer once it is not ([`Error::OwnerDied`]).
    /// By default always `true` (engines whose processes never die).
    ///
    /// [`Error::OwnerDied`]: crate::Error::OwnerDied
    ///
    /// It may be called inside a cell access ([`SharedCell::with_mut`]), where it is part of
    /// that access (under the simulator every cell access is ordered with every kill).
    #[track_caller]
    fn process_alive(token: u32) -> bool {
        let _ = token;
        true
    }

    /// How many processes the calling process has started ([`Platform::spawn_process`]) so
    /// far, where the engine keeps count (the simulator); 0 elsewhere. With
    /// [`Platform::process_started`], it lets a pipe end that its maker had not used yet when
    /// it started a process count as that process's (see the simulator's pipe).
    fn processes_started() -> u32 {
        0
    }

    /// The token of the `index`-th process (from 0) that process `parent` started, if it
    /// started that many and the engine keeps count (the simulator); `None` elsewhere.
    fn process_started(parent: u32, index: u32) -> Option<u32> {
        let _ = (parent, index);
        None
    }

    /// Whether another process may use this program's primitives: `true` once this program
    /// started a process, and in every started process. Until then no other process can wait
    /// on a primitive, nor die holding one, so a primitive need not record what a dead process
    /// would leave behind (a semaphore's guard holders). By default `false` (engines whose
    /// processes never die).
    fn multiprocess() -> bool {
        false
    }

    /// Where the caller of the `#[track_caller]` function that calls this was called from:
    /// what a guard keeps, so that its release (in `Drop`, which has no caller location) can
    /// name the line that made it.
    #[track_caller]
    fn site() -> Self::Site;

    /// Marks a public operation of a primitive: every public method of every primitive is
    /// `#[track_caller]` and starts with `let _op = P::operation(|| &self.<main word>, "Lock",
    /// "acquire");`, so that an engine that reports can name, for each step the operation
    /// takes, the operation (`Lock#2.acquire`) and the line of the user's code that called it,
    /// besides the line inside the primitive that took the step. The operation lasts until the
    /// returned value is dropped; one called inside another (a `Condition` taking its `Lock`)
    /// counts as the outer one. It is not a step and changes nothing the primitive does: a
    /// no-op on [`Os`] (and under loom and shuttle).
    ///
    /// `object` returns the word; only an engine that reports calls it, so on [`Os`] the
    /// operation reads nothing.
    #[track_caller]
    #[inline]
    fn operation<'w, V: Copy, W: Atomic<V> + 'w>(
        object: impl FnOnce() -> &'w W,
        primitive: &'static str,
        name: &'static str,
    ) -> Self::Operation {
        Self::operation_at(|| Some(object()), primitive, name, Self::site())
    }

    /// As [`Platform::operation`], called from `site` (a guard's release: the line that made
    /// the guard), on the word `object` returns, if the primitive has one (an empty `Array` has
    /// none).
    fn operation_at<'w, V: Copy, W: Atomic<V> + 'w>(
        object: impl FnOnce() -> Option<&'w W>,
        primitive: &'static str,
        name: &'static str,
        site: Self::Site,
    ) -> Self::Operation;
}

/// The refusal of [`Platform::export`] and [`Platform::import`] on an engine without
/// processes of its own.
fn cannot_travel<P: Platform>() -> crate::Error {
    crate::Error::Unsupported(format!(
        "a handle of the {} engine cannot leave its program (encoded into a message or a \
         spawn's arguments): its state is on one program's heap",
        P::NAME
    ))
}

/// `mpcheck::init()`: see [`crate::init`].
pub(crate) fn os_spawn_init() {
    os_spawn::init()
}

/// Ends the process for a failed [`Platform::share_slice`] whose size the program fixed (a
/// type's size, a default capacity), as `Box::new` does when memory runs out: printing the
/// error, which names the size, then aborting. Sizes that come from the user are reported as
/// the error instead.
#[cold]
pub(crate) fn out_of_memory(error: crate::Error) -> ! {
    eprintln!("mpcheck: out of memory: {error}");
    std::process::abort()
}

/// Until when a task that waits on another process (a lock's holder, a queue's putter, a
/// barrier's parties) sleeps: its `deadline`, or sooner its next look at that process's
/// liveness, a [`Platform::LIVENESS_POLL`] from now where one is set.
pub(crate) fn poll_deadline<P: Platform>(deadline: Option<Instant>) -> Option<Instant> {
    match P::LIVENESS_POLL.and_then(|poll| P::now().checked_add(poll)) {
        Some(look) if deadline.is_none_or(|deadline| look < deadline) => Some(look),
        _ => deadline,
    }
}

/// The absolute deadline `timeout` from now, or `None` (no deadline) when it is too far away to
/// be represented, which primitives treat as "wait forever".
pub(crate) fn deadline_after<P: Platform>(timeout: Duration) -> Option<Instant> {
    P::now().checked_add(timeout)
}
