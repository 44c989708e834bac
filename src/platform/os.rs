//! `Os`: the Linux platform. Real threads, real futexes, the real monotonic clock.
//!
//! Futex calls are made *without* `FUTEX_PRIVATE_FLAG`: the kernel then keys a waiter by the
//! physical page and offset of the word rather than by (address space, address), so the same
//! primitives work between processes once their state is in a shared mapping.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{
    compiler_fence, fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering,
};
use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::{futex, membarrier, membarrier_query, MembarrierCommand};
use rustix::time::{clock_gettime, ClockId, Timespec};

use super::arena;
use super::{Instant, PanicPayload, Platform, Shareable, SharedCell, TaskId, Wire};
use super::{WaitOutcome, WaitOutcome::*};

/// The real operating system (Linux): std atomics, `futex(2)` without the private flag,
/// `CLOCK_MONOTONIC`, OS threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Os;

forward_atomic!(AtomicU32, u32, int, #[inline]);
forward_atomic!(AtomicU64, u64, int, #[inline]);
forward_atomic!(AtomicBool, bool, #[inline]);

/// [`Os`]'s [`SharedCell`]: an `UnsafeCell`, no checking.
#[derive(Debug, Default)]
pub struct OsCell<T>(UnsafeCell<T>);

// SAFETY: `OsCell` hands out `&T`/`&mut T` only inside `unsafe` methods whose callers promise
// that accesses do not overlap, so sharing it between threads only needs the contents to be
// `Send` (as for `Mutex<T>`).
unsafe impl<T: Send> Sync for OsCell<T> {}

// SAFETY: an `UnsafeCell<T>` is laid out as a `T`; shareable when its contents are.
unsafe impl<T: Shareable> Shareable for OsCell<T> {}

impl<T: Send> SharedCell<T> for OsCell<T> {
    #[inline]
    fn new(value: T) -> Self {
        OsCell(UnsafeCell::new(value))
    }

    #[inline]
    unsafe fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent `with_mut` (trait contract).
        f(unsafe { &*self.0.get() })
    }

    #[inline]
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent access at all (trait contract).
        f(unsafe { &mut *self.0.get() })
    }
}

/// [`Os`]'s [`Platform::Shared`] handle: a pointer to the value in the family's shared memory
/// arena (see `src/platform/arena.rs`), mapped at the same address by every process forked from
/// this one, and this process's registration of its block.
///
/// Clones are process-local (an `Arc` clone of the registration); the drop of the last handle
/// of a block in a process takes that process's count off the block, and the value is dropped,
/// and its block freed, when no process of the family holds it any more. A dereference is a
/// plain read through the pointer.
pub struct OsShared<T: ?Sized> {
    value: NonNull<T>,
    local: Arc<arena::Registration>,
}

// SAFETY: as for `Arc`: handles in several threads (or processes) give shared access to the `T`
// (so it must be `Sync`), and whichever drops the last handle drops the `T` (so it must be
// `Send`). The registration is `Send + Sync`.
unsafe impl<T: ?Sized + Send + Sync> Send for OsShared<T> {}
// SAFETY: as above; `&OsShared<T>` only gives `&T` and clones.
unsafe impl<T: ?Sized + Send + Sync> Sync for OsShared<T> {}

impl<T: ?Sized> Clone for OsShared<T> {
    #[inline]
    fn clone(&self) -> Self {
        OsShared {
            value: self.value,
            local: self.local.clone(),
        }
    }
}

impl<T: ?Sized> Deref for OsShared<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the registration keeps this process's count on the block, so the value is
        // alive; the mapping never moves.
        unsafe { self.value.as_ref() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OsShared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[allow(dead_code)] // used by the spawn start method
impl<T: ?Sized> OsShared<T> {
    /// The wire form of this handle, for a process of the same family (a spawn child). Counts
    /// one more holder of the block until [`OsShared::import`] takes it over; a wire never
    /// imported keeps the block alive for the family's life.
    pub(crate) fn export(&self) -> arena::Wire
    where
        T: arena::Pointee,
    {
        arena::export(self.value, &self.local)
    }

    /// The handle `wire` names, in this process. `Error::Decode` if it is a handle of another
    /// family, of another type, or names no live block of this family's arena.
    pub(crate) fn import(wire: arena::Wire) -> Result<Self, crate::Error>
    where
        T: arena::Pointee,
    {
        let (value, local) = arena::import::<T>(wire)?;
        Ok(OsShared { value, local })
    }

    /// The registration (tests check counts through it).
    #[cfg(test)]
    pub(crate) fn registration(&self) -> &arena::Registration {
        &self.local
    }
}

thread_local! {
    /// This thread's `TaskId::as_u64()`, or 0 before the first look-up. `getpid`/`gettid` are
    /// system calls; an RLock asks for its caller's identity on every acquire.
    static IDENTITY: Cell<u64> = const { Cell::new(0) };
}

/// Forgets the cached identity of the calling thread. A process engine calls it in a child right
/// after `fork`, where the surviving thread has a new pid and tid but the parent's thread-locals.
#[allow(dead_code)] // used by the process engine
pub(crate) fn forget_identity() {
    IDENTITY.with(|id| id.set(0));
}

/// Whether this process is registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, so that
/// [`Platform::light_fence`] may be a compiler fence: [`UNASKED`], [`REGISTERED`] or
/// [`UNAVAILABLE`].
static MEMBARRIER: AtomicU8 = AtomicU8::new(UNASKED);
const UNASKED: u8 = 0;
const REGISTERED: u8 = 1;
const UNAVAILABLE: u8 = 2;

/// `true` once this process is registered for expedited global memory barriers (registering
/// it on the first call). Registration is per address space: a thread that reads
/// [`REGISTERED`] is covered. Every process that uses the primitives registers before its first
/// light fence, so a heavy fence in any of them reaches every thread that relies on it.
#[inline]
fn membarrier_registered() -> bool {
    match MEMBARRIER.load(Ordering::Acquire) {
        REGISTERED => true,
        UNAVAILABLE => false,
        _ => register_membarrier(),
    }
}

#[cold]
fn register_membarrier() -> bool {
    let registered = membarrier_query().contains_command(MembarrierCommand::GlobalExpedited)
        && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
    MEMBARRIER.store(
        if registered { REGISTERED } else { UNAVAILABLE },
        Ordering::Release,
    );
    registered
}

/// Forgets whether this process is registered for membarrier: a process engine calls it in a
/// child right after `fork` (the child's address space is new, and registers on first use;
/// registering twice is harmless).
#[allow(dead_code)] // used by the process engine
pub(crate) fn forget_membarrier() {
    MEMBARRIER.store(UNASKED, Ordering::Release);
}

fn timespec(at: Instant) -> Timespec {
    let nanos = at.as_nanos();
    Timespec {
        tv_sec: (nanos / 1_000_000_000) as _,
        tv_nsec: (nanos % 1_000_000_000) as _,
    }
}

/// `FUTEX_BITSET_MATCH_ANY`: a `FUTEX_WAIT_BITSET` that any `FUTEX_WAKE` can wake.
const MATCH_ANY: NonZeroU32 = NonZeroU32::MAX;

impl Platform for Os {
    const NAME: &'static str = "os";
    const SPIN_LIMIT: u32 = 100;
    /// A dead holder is noticed by its waiters within this long (see `os_liveness.rs`).
    const LIVENESS_POLL: Option<Duration> = Some(Duration::from_millis(20));

    type AtomicU32 = AtomicU32;
    type AtomicU64 = AtomicU64;
    type AtomicBool = AtomicBool;
    type Cell<T: Shareable + Send> = OsCell<T>;
    type Shared<T: ?Sized + Shareable + Send + Sync> = OsShared<T>;
    type JoinHandle<T: Send + 'static> = std::thread::JoinHandle<T>;
    type PipeEnd = super::OsPipeEnd;
    type Child = super::os_process::OsChild;

    no_operations!();

    fn share<T: Shareable + Send + Sync>(value: T) -> OsShared<T> {
        match arena::share(value) {
            Ok((value, local)) => OsShared { value, local },
            Err(error) => super::out_of_memory(error),
        }
    }

    fn share_slice<T: Shareable + Send + Sync>(
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Result<OsShared<[T]>, crate::Error> {
        let (value, local) = arena::share_slice(len, init)?;
        Ok(OsShared { value, local })
    }

    fn pipe(duplex: bool) -> Result<(Self::PipeEnd, Self::PipeEnd), crate::Error> {
        super::os_pipe::os_pipe(duplex)
    }

    fn export<T: Shareable + Send + Sync>(shared: &OsShared<T>) -> Result<Wire, crate::Error> {
        Ok(shared.export())
    }

    fn export_slice<T: Shareable + Send + Sync>(
        shared: &OsShared<[T]>,
    ) -> Result<Wire, crate::Error> {
        Ok(shared.export())
    }

    fn import<T: Shareable + Send + Sync>(wire: Wire) -> Result<OsShared<T>, crate::Error> {
        OsShared::import(wire)
    }

    fn import_slice<T: Shareable + Send + Sync>(wire: Wire) -> Result<OsShared<[T]>, crate::Error> {
        OsShared::import(wire)
    }

    fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
        // Flags::empty(): a shared futex (see the module docs). With a deadline,
        // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, so a retry after a spurious
        // wake-up needs no recomputation of a relative timeout.
        let result = match deadline {
            None => futex::wait(word, futex::Flags::empty(), expected, None),
            Some(at) => futex::wait_bitset(
                word,
                futex::Flags::empty(),
                expected,
                Some(&timespec(at)),
                MATCH_ANY,
            ),
        };
        match result {
            Ok(()) => Woken,
            Err(Errno::AGAIN) => Mismatch,
            Err(Errno::TIMEDOUT) => TimedOut,
            // EINTR (a signal) is a spurious wake-up by contract; nothing else can happen for a
            // valid, aligned word.
            Err(_) => Woken,
        }
    }

    #[inline]
    fn wake(word: &AtomicU32, n: u32) -> u32 {
        // The kernel takes the count as an int: clamp "everyone" to i32::MAX.
        let n = n.min(i32::MAX as u32);
        futex::wake(word, futex::Flags::empty(), n).map_or(0, |woken| woken as u32)
    }

    #[inline]
    fn fence(order: Ordering) {
        std::sync::atomic::fence(order)
    }

    #[inline]
    fn light_fence() {
        if membarrier_registered() {
            // The heavy half orders this thread, wherever it is, by an interrupt: only the
            // compiler must keep the store before the load.
            compiler_fence(Ordering::SeqCst)
        } else {
            fence(Ordering::SeqCst)
        }
    }

    fn heavy_fence() {
        // The fence orders this thread's own accesses; the system call orders every other
        // running thread of every registered process (a thread that is not running has no
        // access in flight), as if each had issued a SeqCst fence at some point of the call.
        fence(Ordering::SeqCst);
        if membarrier_registered() {
            let done = membarrier(MembarrierCommand::GlobalExpedited);
            debug_assert!(done.is_ok(), "membarrier after registration: {done:?}");
        }
    }

    #[inline]
    fn now() -> Instant {
        let t = clock_gettime(ClockId::Monotonic);
        Instant::from_nanos(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64)
    }

    fn sleep(duration: Duration) {
        std::thread::sleep(duration)
    }

    #[inline]
    fn yield_now() {
        std::thread::yield_now()
    }

    fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::thread::spawn(f)
    }

    fn join<T: Send + 'static>(handle: std::thread::JoinHandle<T>) -> Result<T, PanicPayload> {
        handle.join()
    }

    #[inline]
    fn process_token() -> u32 {
        super::os_liveness::token()
    }

    fn multiprocess() -> bool {
        super::os_process::multiprocess()
    }

    fn process_alive(token: u32) -> bool {
        super::os_liveness::alive(token)
    }

    #[inline]
    fn current_task() -> TaskId {
        IDENTITY.with(|cached| {
            let word = cached.get();
            if let Some(id) = TaskId::from_u64(word) {
                return id;
            }
            let id = TaskId {
                process: rustix::process::getpid().as_raw_nonzero().get() as u32,
                thread: rustix::thread::gettid().as_raw_nonzero().get() as u32,
            };
            cached.set(id.as_u64());
            id
        })
    }
}
