//! `Loom`: the platform of the loom model checker (C11 memory model, exhaustive search).
//!
//! Atomics and cells are loom's, so loom checks every memory ordering the primitives use. The
//! futex is emulated with one loom `Mutex` and a `Condvar` per word: the value check and the
//! sleep happen under the mutex, and so does every wake, so no wake-up is lost. loom has no
//! clock: a timed wait that would sleep times out at once, moving a per-execution logical
//! clock to its deadline.
//!
//! **Stacks.** loom runs every thread on a coroutine stack of its own: 32 KiB unless the
//! thread is given another size, and its model's main thread always 32 KiB (loom 0.7 has no
//! setting for it). Every task [`Loom::spawn`] starts gets [`TASK_STACK`] instead. A program
//! whose main thread needs more (making a pipe a few calls deep in an unoptimized build does:
//! its two read-ahead buffers of 4 KiB are moved by value through several frames) runs its
//! body with [`crate::loom::on_task_stack`]; an overflow ends the model with a panic that
//! says so ([`crate::loom::model`]).

use std::sync::atomic::Ordering::{self, SeqCst};
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use super::emulated::{Emulated, EngineSync};
use super::WaitOutcome;
use super::{Heap, Instant, PanicPayload, Platform, Shareable, SharedCell, TaskId};

/// The stack of every task [`Loom::spawn`] starts, in bytes: 1 MiB (reserved, not touched: a
/// page is only used once the task's calls reach it), where loom's default is 32 KiB.
pub const TASK_STACK: usize = 1 << 20;

/// [`TASK_STACK`] as loom's `thread::Builder::stack_size` takes it: loom documents bytes but
/// hands the number to its coroutines (the `generator` crate), which count `usize` words. Even:
/// an odd size makes `generator` touch every page of the stack to measure its use.
const TASK_STACK_WORDS: usize = (TASK_STACK / std::mem::size_of::<usize>()) & !1;

/// The loom platform: use `Lock::<Loom>` ... inside [`crate::loom::model`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Loom;

// SAFETY: loom's atomics are values with a handle into the current execution; loom runs one
// process, so where they live does not matter.
unsafe impl Shareable for AtomicU32 {}
// SAFETY: as above.
unsafe impl Shareable for AtomicU64 {}
// SAFETY: as above.
unsafe impl Shareable for AtomicBool {}

forward_atomic!(AtomicU32, u32, int, #[track_caller]);
forward_atomic!(AtomicU64, u64, int, #[track_caller]);
forward_atomic!(AtomicBool, bool, #[track_caller]);

/// [`Loom`]'s cell: loom's `UnsafeCell`, which reports unsynchronized accesses as data races.
#[derive(Debug)]
pub struct LoomCell<T>(loom::cell::UnsafeCell<T>);

// SAFETY: accesses go through `unsafe` methods whose callers rule out overlap (and loom checks
// that claim); sharing needs only `T: Send`.
unsafe impl<T: Send> Sync for LoomCell<T> {}

// SAFETY: the value is inline; loom runs one process.
unsafe impl<T: Shareable> Shareable for LoomCell<T> {}

impl<T: Send> SharedCell<T> for LoomCell<T> {
    fn new(value: T) -> Self {
        LoomCell(loom::cell::UnsafeCell::new(value))
    }

    #[track_caller]
    unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent `with_mut`.
        self.0.with(|p| f(unsafe { &*p }))
    }

    #[track_caller]
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent access.
        self.0.with_mut(|p| f(unsafe { &mut *p }))
    }
}

/// [`Loom`]'s mutex and condition variable, for the emulated futex.
struct LoomSync;

impl EngineSync for LoomSync {
    type Mutex = loom::sync::Mutex<()>;
    type Guard<'a> = loom::sync::MutexGuard<'a, ()>;
    type Condvar = loom::sync::Condvar;

    fn mutex() -> Self::Mutex {
        loom::sync::Mutex::new(())
    }

    fn condvar() -> Self::Condvar {
        loom::sync::Condvar::new()
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

loom::lazy_static! {
    /// The emulated futex of one execution.
    static ref FUTEX: Emulated<LoomSync> = Emulated::new();
}

loom::thread_local! {
    static TASK: u32 = FUTEX.next_task();
}

impl Platform for Loom {
    const NAME: &'static str = "loom";
    const SPIN_LIMIT: u32 = 0;

    type AtomicU32 = AtomicU32;
    type AtomicU64 = AtomicU64;
    type AtomicBool = AtomicBool;
    type Cell<T: Shareable + Send> = LoomCell<T>;
    type Shared<T: ?Sized + Shareable + Send + Sync> = Heap<T>;
    type JoinHandle<T: Send + 'static> = loom::thread::JoinHandle<T>;
    type Child = super::TaskChild<Self>;
    type PipeEnd = super::EmulatedPipeEnd<Self>;

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
        Ok(super::EmulatedPipeEnd::pair(duplex))
    }

    fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        // loom has no clock: a timed wait that would sleep times out at once.
        let addr = word as *const AtomicU32 as usize;
        FUTEX.wait(addr, || word.load(SeqCst), expected, deadline)
    }

    fn wake(word: &AtomicU32, n: u32) -> u32 {
        FUTEX.wake(word as *const AtomicU32 as usize, n)
    }

    fn fence(order: Ordering) {
        loom::sync::atomic::fence(order)
    }

    fn now() -> Instant {
        FUTEX.now()
    }

    fn sleep(duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        FUTEX.advance_by(nanos);
        loom::thread::yield_now();
    }

    fn yield_now() {
        loom::thread::yield_now();
    }

    fn spawn<F, T>(f: F) -> loom::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // A task's stack (see the module docs), not loom's 32 KiB.
        loom::thread::Builder::new()
            .stack_size(TASK_STACK_WORDS)
            .spawn(f)
            .expect("loom starts a thread (its `Builder::spawn` never fails)")
    }

    fn join<T: Send + 'static>(handle: loom::thread::JoinHandle<T>) -> Result<T, PanicPayload> {
        handle.join()
    }

    fn current_task() -> TaskId {
        TaskId {
            process: 1,
            thread: TASK.with(|t| *t),
        }
    }
}
