//! `Shuttle`: the platform of the shuttle randomized scheduler (random walk, PCT, DFS).
//!
//! Atomics are shuttle's (sequentially consistent, each a scheduling point). The futex is
//! emulated as on loom: one shuttle `Mutex` per execution and a `Condvar` per word, so the value
//! check, the sleep and every wake are ordered and no wake-up is lost. Time is a per-execution
//! logical clock. A timed wait is a loop of scheduler-controlled choices (shuttle's `thread_rng`,
//! which its schedulers drive): either time out now — the clock moves to the deadline — or give
//! the other tasks a turn and look at the word again; a changed word ends the wait as woken. So
//! both outcomes of a timed wait get explored, and a wait nobody ends still ends.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering::{self, SeqCst};
use std::time::Duration;

use shuttle::rand::Rng;
use shuttle::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use super::emulated::{Emulated, EngineSync};
use super::WaitOutcome;
use super::{Heap, Instant, PanicPayload, Platform, Shareable, SharedCell, TaskId};

/// The shuttle platform: use `Lock::<Shuttle>` ... inside [`crate::shuttle::check_random`],
/// [`crate::shuttle::check_pct`] or [`crate::shuttle::check_dfs`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Shuttle;

// SAFETY: shuttle's atomics hold their value and an object handle of the current execution;
// shuttle runs one process.
unsafe impl Shareable for AtomicU32 {}
// SAFETY: as above.
unsafe impl Shareable for AtomicU64 {}
// SAFETY: as above.
unsafe impl Shareable for AtomicBool {}

forward_atomic!(AtomicU32, u32, int, #[track_caller]);
forward_atomic!(AtomicU64, u64, int, #[track_caller]);
forward_atomic!(AtomicBool, bool, #[track_caller]);

/// [`Shuttle`]'s cell: an `UnsafeCell` (shuttle does not check data races).
#[derive(Debug)]
pub struct ShuttleCell<T>(UnsafeCell<T>);

// SAFETY: accesses go through `unsafe` methods whose callers rule out overlap; sharing needs
// only `T: Send`.
unsafe impl<T: Send> Sync for ShuttleCell<T> {}

// SAFETY: the value is inline; shuttle runs one process.
unsafe impl<T: Shareable> Shareable for ShuttleCell<T> {}

impl<T: Send> SharedCell<T> for ShuttleCell<T> {
    fn new(value: T) -> Self {
        ShuttleCell(UnsafeCell::new(value))
    }

    unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent `with_mut`.
        f(unsafe { &*self.0.get() })
    }

    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent access.
        f(unsafe { &mut *self.0.get() })
    }
}

/// [`Shuttle`]'s mutex and condition variable, for the emulated futex.
struct ShuttleSync;

impl EngineSync for ShuttleSync {
    type Mutex = shuttle::sync::Mutex<()>;
    type Guard<'a> = shuttle::sync::MutexGuard<'a, ()>;
    type Condvar = shuttle::sync::Condvar;

    fn mutex() -> Self::Mutex {
        shuttle::sync::Mutex::new(())
    }

    fn condvar() -> Self::Condvar {
        shuttle::sync::Condvar::new()
    }

    fn lock(mutex: &Self::Mutex) -> Self::Guard<'_> {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(condvar: &Self::Condvar, guard: Self::Guard<'a>) -> Self::Guard<'a> {
        condvar.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    fn notify(condvar: &Self::Condvar, all: bool) {
        if all {
            condvar.notify_all();
        } else {
            condvar.notify_one();
        }
    }
}

shuttle::lazy_static! {
    /// The emulated futex of one execution.
    static ref FUTEX: Emulated<ShuttleSync> = Emulated::new();
}

shuttle::thread_local! {
    static TASK: u32 = FUTEX.next_task();
}

impl Platform for Shuttle {
    const NAME: &'static str = "shuttle";
    const SPIN_LIMIT: u32 = 0;

    type AtomicU32 = AtomicU32;
    type AtomicU64 = AtomicU64;
    type AtomicBool = AtomicBool;
    type Cell<T: Shareable + Send> = ShuttleCell<T>;
    type Shared<T: ?Sized + Shareable + Send + Sync> = Heap<T>;
    type JoinHandle<T: Send + 'static> = shuttle::thread::JoinHandle<T>;
    type Child = super::TaskChild<Self>;
    type PipeEnd = super::SteppedPipeEnd<Self>;

    no_operations!();

    fn share<T: Shareable + Send + Sync>(value: T) -> Heap<T> {
        Heap::new(value)
    }

    fn share_slice<T: Shareable + Send + Sync>(
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Result<Heap<[T]>, crate::Error> {
        Heap::try_from_fn(len, init)
    }

    fn pipe(duplex: bool) -> Result<(Self::PipeEnd, Self::PipeEnd), crate::Error> {
        Ok(super::SteppedPipeEnd::pair(duplex))
    }

    fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        if let Some(at) = deadline {
            // A scheduler-driven choice at every look: time out now, or let others run.
            loop {
                if word.load(SeqCst) != expected {
                    return WaitOutcome::Woken;
                }
                if shuttle::rand::thread_rng().gen::<bool>() {
                    FUTEX.advance_to(at);
                    return WaitOutcome::TimedOut;
                }
                shuttle::thread::yield_now();
            }
        }
        let addr = word as *const AtomicU32 as usize;
        FUTEX.wait(addr, || word.load(SeqCst), expected, None)
    }

    fn wake(word: &AtomicU32, n: u32) -> u32 {
        FUTEX.wake(word as *const AtomicU32 as usize, n)
    }

    fn fence(order: Ordering) {
        shuttle::sync::atomic::fence(order)
    }

    fn now() -> Instant {
        FUTEX.now()
    }

    fn sleep(duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        FUTEX.advance_by(nanos);
        shuttle::thread::yield_now();
    }

    fn yield_now() {
        shuttle::thread::yield_now();
    }

    fn spawn<F, T>(f: F) -> shuttle::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        shuttle::thread::spawn(f)
    }

    fn join<T: Send + 'static>(handle: shuttle::thread::JoinHandle<T>) -> Result<T, PanicPayload> {
        handle.join()
    }

    fn current_task() -> TaskId {
        TaskId {
            process: 1,
            thread: TASK.with(|t| *t),
        }
    }
}
