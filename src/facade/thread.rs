//! `std::thread`'s `spawn`, `scope`, `yield_now` and `sleep` over a [`Platform`].
//!
//! `spawn` is [`Platform::spawn`]; `join` returns std's [`std::thread::Result`]. A thread that
//! panics: on `Os` its `join` returns the payload, as std's; under the simulator (and loom and
//! shuttle) the panic fails the execution where it happened, with its trace, before anyone
//! joins.
//!
//! **Scoped threads.** [`scope`] counts the threads its [`Scope`] started that have not
//! finished in a platform word, and does not return (nor unwind, when the closure panics)
//! before that count is back to 0: each thread lowers it, as the very last thing it does with
//! anything of the scope, from a drop guard that runs also when the thread's closure panics.
//! That is what lets the threads borrow from the caller's stack although
//! [`Platform::spawn`] asks for `'static` closures, and it holds whatever happens to the
//! handles (a [`ScopedJoinHandle`] may be leaked). The native handles stay with the scope: a
//! `ScopedJoinHandle::join` takes its own out and joins it, and the scope joins the others
//! once the count is 0 (when no `join` can be under way any more: a thread's joins end before
//! the thread does, the closure's before it returns), so every thread has ended, not only its
//! closure, when `scope` returns (loom, for one, ends an execution's statics with its main
//! thread). Waiting for the count is an operation ([`Platform::operation`]) whose
//! specification ([`Platform::ready_when`]) is "the count is 0": one step at the simulator's
//! operation granularity.
//!
//! As std's, `scope` panics after every thread finished if a thread panicked and nobody joined
//! it; if the closure itself panicked, its panic goes on once every thread finished.

use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use crate::platform::{Atomic, AtomicInt, Platform};
use crate::Os;

/// Starts a new thread (a task of the platform `P`) running `f`: std's `thread::spawn`.
#[track_caller]
pub fn spawn<P, F, T>(f: F) -> JoinHandle<T, P>
where
    P: Platform,
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    JoinHandle { inner: P::spawn(f) }
}

/// Owns a thread started by [`spawn`]: std's `JoinHandle<T>`. Dropping it lets the thread run
/// on, detached.
pub struct JoinHandle<T: Send + 'static, P: Platform = Os> {
    inner: P::JoinHandle<T>,
}

impl<P: Platform, T: Send + 'static> JoinHandle<T, P> {
    /// Waits for the thread to finish: its result, or `Err` with its panic's payload.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        P::join(self.inner)
    }
}

impl<P: Platform, T: Send + 'static> std::fmt::Debug for JoinHandle<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

/// Gives other threads a chance to run (a scheduling point under every engine).
#[track_caller]
pub fn yield_now<P: Platform>() {
    P::yield_now()
}

/// Sleeps for at least `duration` ([`Platform::sleep`]: real time on `Os`, virtual time under
/// the simulator).
#[track_caller]
pub fn sleep<P: Platform>(duration: Duration) {
    P::sleep(duration)
}

/// In a busy-wait loop: a hint to the processor on `Os` ([`std::hint::spin_loop`]); a yield
/// under the engines that explore ([`Platform::SPIN_LIMIT`] is 0 there), where a loop that
/// never yields would never let the task it waits for run.
#[track_caller]
pub fn spin_loop<P: Platform>() {
    if P::SPIN_LIMIT == 0 {
        P::yield_now()
    } else {
        std::hint::spin_loop()
    }
}

/// What a scope's threads share with it: the count of its threads still running.
struct ScopeData<P: Platform> {
    running: P::AtomicU32,
    /// Threads that panicked and whose panic no `join` took (yet). Bookkeeping of the scope,
    /// not of the program: a std atomic, ordered by the threads' ends and joins.
    unhandled_panics: AtomicUsize,
    /// The threads' native handles, by spawn order; `None` once joined.
    handles: StdMutex<Vec<Option<P::JoinHandle<()>>>>,
}

/// A scoped thread's result, shared by the thread and its handle.
struct Packet<T> {
    /// The thread's result, once it returned.
    result: StdMutex<Option<T>>,
}

/// std's `thread::scope`: runs `f` with a [`Scope`] whose threads may borrow from the caller,
/// and returns once every thread it started has finished.
///
/// ```
/// use mpcheck::facade::os::sync::atomic::{AtomicUsize, Ordering};
/// use mpcheck::facade::os::thread;
///
/// let words = ["a", "bb", "ccc"];
/// let letters = AtomicUsize::new(0);
/// thread::scope(|s| {
///     for word in &words {
///         s.spawn(|| letters.fetch_add(word.len(), Ordering::Relaxed));
///     }
/// });
/// assert_eq!(letters.load(Ordering::Relaxed), 6);
/// ```
#[track_caller]
pub fn scope<'env, P, F, T>(f: F) -> T
where
    P: Platform,
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env, P>) -> T,
{
    let data = Arc::new(ScopeData::<P> {
        running: P::AtomicU32::new(0),
        unhandled_panics: AtomicUsize::new(0),
        handles: StdMutex::new(Vec::new()),
    });
    data.running.label("Scope");
    let scope = Scope {
        data,
        _scope: PhantomData,
        _env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // Also when `f` panicked: no thread may outlive the scope's borrows.
    scope.wait_all();
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(_) if scope.data.unhandled_panics.load(Relaxed) > 0 => {
            panic!("a scoped thread panicked")
        }
        Ok(value) => value,
    }
}

/// std's `thread::Scope`: starts threads that may borrow what lives longer than the scope
/// (`'env`). Made by [`scope`].
pub struct Scope<'scope, 'env: 'scope, P: Platform = Os> {
    data: Arc<ScopeData<P>>,
    /// Invariant in `'scope` and `'env`, as std's.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, P: Platform> Scope<'scope, '_, P> {
    /// Starts a thread running `f`, which may borrow anything that outlives the scope; the
    /// scope waits for it before it returns.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T, P>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let _op = P::operation(|| &self.data.running, "Scope", "spawn");
        let packet = Arc::new(Packet {
            result: StdMutex::new(None),
        });
        let finished = Finished {
            data: self.data.clone(),
            site: P::site(),
        };
        let theirs = packet.clone();
        let main = move || {
            // Declared first, dropped last: whatever happens below, the count is lowered only
            // once nothing of the scope is used any more.
            let finished = finished;
            let theirs = theirs;
            let value = f();
            *theirs.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
            drop(theirs);
            drop(finished);
        };
        let main: Box<dyn FnOnce() + Send + 'scope> = Box::new(main);
        // SAFETY: only the lifetime changes (same type otherwise). The closure, and everything
        // it borrows for `'scope`, is used only until its `Finished` guard lowers the scope's
        // count (the guard is dropped last, on return and on unwinding alike: nothing of the
        // closure is used after it); `scope` does not return, nor unwind, before the count is 0
        // (`Scope::wait_all` runs after `f`, whether or not it panicked). The packet the
        // closure shares with the handle may hold a `T: 'scope`, but the closure drops its
        // reference before the guard, and the handle lives at most for `'scope`.
        let main: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(main) };
        self.data.running.fetch_add(1, Relaxed);
        let handle = P::spawn(main);
        let mut handles = self.data.handles();
        handles.push(Some(handle));
        ScopedJoinHandle {
            index: handles.len() - 1,
            packet,
            data: self.data.clone(),
            _scope: PhantomData,
        }
    }

    /// Waits until every thread of the scope has finished, then joins those nobody joined.
    #[track_caller]
    fn wait_all(&self) {
        let running = &self.data.running;
        let op = P::operation(|| running, "Scope", "wait");
        P::ready_when(running, |count, _| count == 0, None);
        loop {
            let count = running.load(Acquire);
            if count == 0 {
                break;
            }
            P::wait(running, count, None);
        }
        drop(op);
        let unjoined: Vec<_> = self.data.handles().drain(..).flatten().collect();
        for handle in unjoined {
            // A panic is counted already (`unhandled_panics`).
            let _ = P::join(handle);
        }
    }
}

impl<P: Platform> ScopeData<P> {
    fn handles(&self) -> std::sync::MutexGuard<'_, Vec<Option<P::JoinHandle<()>>>> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends a scoped thread (see [`scope`]): records a panic, then lowers the count.
struct Finished<P: Platform> {
    data: Arc<ScopeData<P>>,
    site: P::Site,
}

impl<P: Platform> Drop for Finished<P> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.data.unhandled_panics.fetch_add(1, Relaxed);
        }
        let running = &self.data.running;
        let _op = P::operation_at(|| Some(running), "Scope", "thread ends", self.site);
        // Release: the thread's writes before the scope's Acquire load of 0.
        if running.fetch_sub(1, Release) == 1 {
            P::wake(running, u32::MAX);
        }
    }
}

/// std's `ScopedJoinHandle`: owns a thread of a [`Scope`].
pub struct ScopedJoinHandle<'scope, T, P: Platform = Os> {
    /// The thread's native handle in the scope's list.
    index: usize,
    packet: Arc<Packet<T>>,
    data: Arc<ScopeData<P>>,
    _scope: PhantomData<&'scope ()>,
}

impl<P: Platform, T> ScopedJoinHandle<'_, T, P> {
    /// Waits for the thread to finish: its result, or `Err` with its panic's payload (which
    /// the scope then does not report again).
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        let handle = self.data.handles()[self.index]
            .take()
            .expect("a scoped thread is joined once, by its handle or by the scope's end");
        let joined = P::join(handle);
        if joined.is_err() {
            // Taken here: the scope does not report it again.
            self.data.unhandled_panics.fetch_sub(1, Relaxed);
        }
        joined.map(|()| {
            self.packet
                .result
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .expect("a thread that returned left its result")
        })
    }
}

impl<P: Platform, T> std::fmt::Debug for ScopedJoinHandle<'_, T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}
