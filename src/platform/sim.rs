//! `Sim`: the platform of our deterministic simulator, `mpcheck-sim`.
//!
//! Every platform call is a scheduling point of the current simulated execution: the atomics are
//! `mpcheck_sim`'s (sequentially consistent, each operation one step), the futex is its futex
//! (with virtual-time deadlines and, when configured, spurious wake-ups), tasks are its
//! coroutines. Shared state lives on the heap: every task runs in one OS thread.
//!
//! Run code on it with [`crate::sim::explore`] / [`crate::sim::check`].

use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mpcheck_sim as engine;

use super::WaitOutcome;
use super::{Atomic, Heap, Instant, PanicPayload, Platform, Shareable, SharedCell, TaskId};

/// The simulator platform: use `Lock::<Sim>`, `Semaphore::<Sim>`, ... inside
/// [`crate::sim::explore`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Sim;

// SAFETY: a simulated atomic holds its value inline plus an object number; no pointers.
unsafe impl Shareable for engine::AtomicU32 {}
// SAFETY: as above.
unsafe impl Shareable for engine::AtomicU64 {}
// SAFETY: as above.
unsafe impl Shareable for engine::AtomicBool {}

forward_atomic!(engine::AtomicU32, u32, int, #[track_caller], label = label, number = object_number);
forward_atomic!(engine::AtomicU64, u64, int, #[track_caller], label = label, number = object_number);
forward_atomic!(engine::AtomicBool, bool, #[track_caller], label = label, number = object_number);

/// [`Sim`]'s cell: every access is a recorded step.
#[derive(Debug)]
pub struct SimCell<T>(engine::Cell<T>);

// SAFETY: the engine's cell holds its value inline; shareable when the value is.
unsafe impl<T: Shareable> Shareable for SimCell<T> {}

impl<T: Send> SharedCell<T> for SimCell<T> {
    fn new(value: T) -> Self {
        SimCell(engine::Cell::new(value))
    }

    #[track_caller]
    unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: the caller upholds the trait's contract, which is the engine cell's.
        unsafe { self.0.with(f) }
    }

    #[track_caller]
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: as above.
        unsafe { self.0.with_mut(f) }
    }
}

/// The engine's outcome of a futex wait, as the platform's.
fn outcome(outcome: engine::WaitOutcome) -> WaitOutcome {
    match outcome {
        engine::WaitOutcome::Mismatch => WaitOutcome::Mismatch,
        engine::WaitOutcome::Woken => WaitOutcome::Woken,
        engine::WaitOutcome::TimedOut => WaitOutcome::TimedOut,
    }
}

impl Platform for Sim {
    const NAME: &'static str = "sim";
    const SPIN_LIMIT: u32 = 0;

    type AtomicU32 = engine::AtomicU32;
    type AtomicU64 = engine::AtomicU64;
    type AtomicBool = engine::AtomicBool;
    type Cell<T: Shareable + Send> = SimCell<T>;
    type Shared<T: ?Sized + Shareable + Send + Sync> = Heap<T>;
    type JoinHandle<T: Send + 'static> = engine::JoinHandle<T>;
    type Child = super::TaskChild<Self>;
    type PipeEnd = super::SteppedPipeEnd<Self>;
    type Site = &'static Location<'static>;
    type Operation = engine::Operation;

    fn share<T: Shareable + Send + Sync>(value: T) -> Heap<T> {
        Heap::new(value)
    }

    fn share_slice<T: Shareable + Send + Sync>(
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Result<Heap<[T]>, crate::Error> {
        Heap::try_from_fn(len, init)
    }

    #[track_caller]
    fn pipe(duplex: bool) -> Result<(Self::PipeEnd, Self::PipeEnd), crate::Error> {
        Ok(super::SteppedPipeEnd::pair(duplex))
    }

    #[track_caller]
    fn wait(word: &engine::AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        outcome(engine::futex_wait(
            word,
            expected,
            deadline.map(Instant::as_nanos),
        ))
    }

    /// Woken by a kill, and returns at once after a kill it slept through (see
    /// `mpcheck_sim::futex_wait_watching_deaths`).
    #[track_caller]
    fn wait_watching_deaths(
        word: &engine::AtomicU32,
        expected: u32,
        deadline: Option<Instant>,
    ) -> WaitOutcome {
        let deadline = deadline.map(Instant::as_nanos);
        outcome(engine::futex_wait_watching_deaths(word, expected, deadline))
    }

    /// At operation granularity, inside an operation: the task is not scheduled until `ready`
    /// holds or `deadline` passes (see `mpcheck_sim::ready_when`); elsewhere nothing.
    #[track_caller]
    fn ready_when(
        word: &engine::AtomicU32,
        ready: fn(u32, u32) -> bool,
        deadline: Option<Instant>,
    ) -> Option<u32> {
        engine::ready_when(word, ready, deadline.map(Instant::as_nanos))
    }

    /// As `ready_when`, for a word that names its holder (see `mpcheck_sim::ready_when_held`).
    #[track_caller]
    fn ready_when_held(
        word: &engine::AtomicU32,
        ready: fn(u32, u32) -> bool,
        deadline: Option<Instant>,
        holder: fn(u32) -> u32,
    ) -> Option<u32> {
        engine::ready_when_held(word, ready, deadline.map(Instant::as_nanos), holder)
    }

    /// As `ready_when`, also passing once process `process` was killed (see
    /// `mpcheck_sim::ready_when_or_dead`).
    #[track_caller]
    fn ready_when_or_dead(
        word: &engine::AtomicU32,
        ready: fn(u32, u32) -> bool,
        deadline: Option<Instant>,
        process: u32,
    ) -> bool {
        engine::ready_when_or_dead(word, ready, deadline.map(Instant::as_nanos), process)
    }

    /// Inside an execution at operation granularity.
    #[inline]
    fn operations_are_events() -> bool {
        engine::operations_are_events()
    }

    /// As `ready_when`, for a check over several words (see `mpcheck_sim::ready_if`).
    #[track_caller]
    fn ready_if(ready: &dyn Fn() -> bool, deadline: Option<Instant>) {
        engine::ready_if(ready, deadline.map(Instant::as_nanos))
    }

    #[track_caller]
    fn wake(word: &engine::AtomicU32, n: u32) -> u32 {
        engine::futex_wake(word, n)
    }

    /// Every simulated atomic operation is sequentially consistent: nothing to do.
    fn fence(_order: Ordering) {}

    #[track_caller]
    fn now() -> Instant {
        Instant::from_nanos(engine::now())
    }

    #[track_caller]
    fn sleep(duration: Duration) {
        engine::sleep(duration)
    }

    #[track_caller]
    fn yield_now() {
        engine::yield_now()
    }

    #[track_caller]
    fn spawn<F, T>(f: F) -> engine::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        engine::spawn(f)
    }

    #[track_caller]
    fn spawn_process<F>(f: F) -> (engine::JoinHandle<()>, u32)
    where
        F: FnOnce() + Send + 'static,
    {
        let handle = engine::spawn_process(f);
        let process = handle.process();
        (handle, process)
    }

    /// A panic in any task fails the execution before anyone can join it; a task whose
    /// process was killed ([`crate::sim::Config::kills`]) gives the payload `"killed"`.
    #[track_caller]
    fn join<T: Send + 'static>(handle: engine::JoinHandle<T>) -> Result<T, PanicPayload> {
        handle
            .try_join()
            .ok_or_else(|| Box::new("killed") as PanicPayload)
    }

    /// `false` once the simulated process was killed ([`crate::sim::Config::kills`]): a step
    /// that reads its liveness while kills are configured (no step otherwise, nor inside a
    /// cell access). A kill wakes every sleeper in a `wait_watching_deaths`, and a task's next
    /// such wait after a kill returns at once, so a look before every such sleep (no
    /// `LIVENESS_POLL`) misses no death.
    #[track_caller]
    fn process_alive(token: u32) -> bool {
        engine::process_alive(token)
    }

    fn processes_started() -> u32 {
        engine::current_process().map_or(0, engine::processes_started)
    }

    fn process_started(parent: u32, index: u32) -> Option<u32> {
        engine::process_started(parent, index)
    }

    fn multiprocess() -> bool {
        engine::process_count() > 1
    }

    /// The task's simulated process (1 unless started by [`Platform::spawn_process`], as a
    /// `Process` is); thread = the engine's task index + 1, since thread 0 means "nobody" (so
    /// task 2 of a trace is `TaskId { process: 1, thread: 3 }` in the first process).
    fn current_task() -> TaskId {
        TaskId {
            process: engine::current_process().unwrap_or(1),
            thread: engine::current_task().map_or(1, |t| t + 1),
        }
    }

    /// Read without a scheduling point or an access: by the contract, no other task's write
    /// changes the answer.
    fn holds_own_id(word: &engine::AtomicU64, me: u64) -> bool {
        word.peek() == me
    }

    #[track_caller]
    fn site() -> &'static Location<'static> {
        Location::caller()
    }

    fn operation_at<'w, V: Copy, W: Atomic<V> + 'w>(
        object: impl FnOnce() -> Option<&'w W>,
        primitive: &'static str,
        name: &'static str,
        site: &'static Location<'static>,
    ) -> engine::Operation {
        let object = object().map_or(0, Atomic::object_number);
        engine::operation(object, primitive, name, site)
    }
}
