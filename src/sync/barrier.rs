//! [`Barrier`]: `parties` tasks wait for each other (Python's `multiprocessing.Barrier`).
//!
//! Built on a [`Lock`] and a [`Condition`], with CPython's round structure: a round *fills*
//! while tasks arrive; the last arrival runs the action and starts the *draining* phase, in which
//! the round's tasks leave; a new round starts filling only when the last of them has left. So a
//! task that arrives early for the next round can never be confused with the current one. A
//! timeout or `abort` *breaks* the barrier; `reset` breaks the current round and, once its tasks
//! have left, starts afresh.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::platform::{deadline_after, Atomic, Instant, Platform, Shareable};
use crate::{Condition, Error, Lock, Os};

/// Tasks are arriving.
const FILLING: u32 = 0;
/// Everyone arrived; the last arrival runs the action with the lock released.
const ACTION: u32 = 1;
/// The round is over; its tasks are leaving.
const DRAINING: u32 = 2;
/// `reset` broke the round; its tasks are leaving with an error.
const RESETTING: u32 = 3;
/// Broken by a timeout, `abort` or a panicking action, until `reset`.
const BROKEN: u32 = 4;

pub(crate) struct BarrierState<P: Platform> {
    /// One of the phase constants; read and written with the lock held.
    phase: P::AtomicU32,
    /// Tasks inside `wait` (arrived and not yet left); read and written with the lock held.
    count: P::AtomicU64,
    /// Immutable.
    parties: u64,
}

// SAFETY: platform atomics and a plain u64.
unsafe impl<P: Platform> Shareable for BarrierState<P> {}

type Action = Arc<dyn Fn() + Send + Sync>;

/// A barrier's action is code of this image: a barrier that has one cannot be encoded.
fn action_cannot_travel<S: serde::Serializer>(
    action: &Option<Action>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match action {
        None => serializer.serialize_unit(),
        Some(_) => Err(serde::ser::Error::custom(
            "a Barrier with an action cannot travel to another process (the action is a \
             closure of this one); make the barrier before a fork, or without an action",
        )),
    }
}

/// The action of a decoded barrier: none (see [`action_cannot_travel`]).
fn no_action<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Action>, D::Error> {
    <() as serde::Deserialize>::deserialize(deserializer)?;
    Ok(None)
}

/// A barrier for `parties` tasks with the semantics of Python's `multiprocessing.Barrier`.
///
/// `wait` returns each task's arrival index, `0..parties`, distinct within a round. If the
/// barrier has an action, the last task to arrive runs it before anyone is released. A wait that
/// times out, [`Barrier::abort`], [`Barrier::reset`] while tasks wait, or a panicking action
/// break the barrier: waiting tasks get [`Error::BrokenBarrier`], and so do later calls until
/// `reset`.
///
/// ```
/// use mpcheck::{Barrier, Os};
/// let barrier = Barrier::<Os>::new(2);
/// let other = {
///     let barrier = barrier.clone();
///     mpcheck::thread::spawn::<Os, _, _>(move || barrier.wait())
/// };
/// let mine = barrier.wait().unwrap();
/// let theirs = other.join().unwrap().unwrap();
/// assert_eq!(mine + theirs, 1); // indices 0 and 1
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Barrier<P: Platform = Os> {
    cond: Condition<P>,
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    state: P::Shared<BarrierState<P>>,
    #[serde(
        serialize_with = "action_cannot_travel",
        deserialize_with = "no_action"
    )]
    action: Option<Action>,
}

impl<P: Platform> Barrier<P> {
    /// A barrier for `parties` tasks. `wait` on a barrier for 0 parties is
    /// [`Error::InvalidArgument`].
    pub fn new(parties: usize) -> Self {
        let state: P::Shared<BarrierState<P>> = P::share(BarrierState {
            phase: P::AtomicU32::new(FILLING),
            count: P::AtomicU64::new(0),
            parties: parties as u64,
        });
        state.phase.label("Barrier.phase");
        state.count.label("Barrier.count");
        Barrier {
            cond: Condition::with_lock(Lock::new()),
            state,
            action: None,
        }
    }

    /// A barrier whose last arrival of each round runs `action` before the round is released.
    /// The action runs without the barrier's lock held, so it may call the barrier (`abort`,
    /// `n_waiting`, ...). The action lives in this handle and its clones (threads share it; a
    /// process started by fork inherits it).
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Self {
        Barrier {
            action: Some(Arc::new(action)),
            ..Barrier::new(parties)
        }
    }

    /// Waits until `parties` tasks have called `wait`; returns this task's arrival index.
    /// [`Error::BrokenBarrier`] if the barrier is or gets broken; [`Error::Panicked`] to the task
    /// that ran an action that panicked (the others get `BrokenBarrier`).
    #[track_caller]
    pub fn wait(&self) -> Result<usize, Error> {
        let _op = P::operation(|| &self.state.phase, "Barrier", "wait");
        self.wait_until(None)
    }

    /// As [`Barrier::wait`], but a wait longer than `timeout` breaks the barrier and returns
    /// [`Error::BrokenBarrier`].
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, Error> {
        let _op = P::operation(|| &self.state.phase, "Barrier", "wait_timeout");
        self.wait_until(deadline_after::<P>(timeout))
    }

    fn phase(&self) -> u32 {
        self.state.phase.load(Relaxed)
    }

    fn set_phase(&self, phase: u32) {
        self.state.phase.store(phase, Relaxed);
    }

    /// With the lock held: waits on the condition; `false` if the deadline passed.
    fn sleep(&self, deadline: Option<Instant>) -> bool {
        // Only NotOwner can come back, and this task holds the lock.
        self.cond
            .wait_until(deadline, "Barrier::wait")
            .unwrap_or(true)
    }

    /// With the lock held: wakes every task sleeping on the condition.
    fn wake_all(&self) {
        // Only NotOwner can come back, and this task holds the lock.
        let _ = self.cond.notify_all();
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, Error> {
        let parties = self.state.parties;
        if parties == 0 {
            return Err(Error::InvalidArgument(
                "a Barrier needs at least one party".to_owned(),
            ));
        }
        let _held = self.cond.lock();
        // A new round starts only when the previous one has drained or been reset.
        while matches!(self.phase(), ACTION | DRAINING | RESETTING) {
            self.sleep(None);
        }
        if self.phase() == BROKEN {
            return Err(Error::BrokenBarrier);
        }
        let index = self.state.count.load(Relaxed);
        self.state.count.store(index + 1, Relaxed);
        let result = if index + 1 == parties {
            self.release_round()
        } else {
            self.await_round(deadline)
        };
        let inside = self.state.count.load(Relaxed) - 1;
        self.state.count.store(inside, Relaxed);
        if inside == 0 && matches!(self.phase(), DRAINING | RESETTING) {
            self.set_phase(FILLING);
            self.wake_all();
        }
        result.map(|()| index as usize)
    }

    /// The last arrival (lock held): runs the action, then releases the round.
    fn release_round(&self) -> Result<(), Error> {
        if let Some(action) = &self.action {
            self.set_phase(ACTION);
            // Released and re-taken by hand inside the caller's guard: this task holds the lock.
            let _ = self.cond.release();
            let outcome = catch_unwind(AssertUnwindSafe(|| action()));
            // Taken back (also from a dead process: the barrier's state is atomics, each
            // whole, and this task goes on to release the round).
            let _ = self.cond.acquire();
            if let Err(payload) = outcome {
                self.break_barrier();
                return Err(Error::from_panic(&*payload));
            }
            if self.phase() != ACTION {
                // Aborted or reset while the action ran.
                return Err(Error::BrokenBarrier);
            }
        }
        self.set_phase(DRAINING);
        self.wake_all();
        Ok(())
    }

    /// An early arrival (lock held): waits for the round to be released or broken.
    fn await_round(&self, deadline: Option<Instant>) -> Result<(), Error> {
        let mut timed_out = false;
        loop {
            match self.phase() {
                FILLING if timed_out => {
                    self.break_barrier();
                    return Err(Error::BrokenBarrier);
                }
                FILLING => timed_out = !self.sleep(deadline),
                // Everyone has arrived: the round no longer times out, the action decides.
                ACTION => {
                    self.sleep(None);
                }
                DRAINING => return Ok(()),
                _ => return Err(Error::BrokenBarrier),
            }
        }
    }

    /// With the lock held: breaks the barrier and wakes everyone.
    fn break_barrier(&self) {
        self.set_phase(BROKEN);
        self.wake_all();
    }

    /// Breaks the barrier: tasks waiting now, and every later `wait` until [`Barrier::reset`],
    /// get [`Error::BrokenBarrier`].
    #[track_caller]
    pub fn abort(&self) {
        let _op = P::operation(|| &self.state.phase, "Barrier", "abort");
        let _held = self.cond.lock();
        self.break_barrier();
    }

    /// Returns the barrier to its initial state. Tasks waiting now get
    /// [`Error::BrokenBarrier`]; new arrivals start a fresh round once they have left.
    #[track_caller]
    pub fn reset(&self) {
        let _op = P::operation(|| &self.state.phase, "Barrier", "reset");
        let _held = self.cond.lock();
        if self.state.count.load(Relaxed) > 0 {
            if matches!(self.phase(), FILLING | ACTION | BROKEN) {
                self.set_phase(RESETTING);
            }
        } else {
            self.set_phase(FILLING);
        }
        self.wake_all();
    }

    /// The number of tasks the barrier waits for.
    #[track_caller]
    pub fn parties(&self) -> usize {
        let _op = P::operation(|| &self.state.phase, "Barrier", "parties");
        self.state.parties as usize
    }

    /// The number of tasks waiting in the current round.
    #[track_caller]
    pub fn n_waiting(&self) -> usize {
        let _op = P::operation(|| &self.state.phase, "Barrier", "n_waiting");
        let _held = self.cond.lock();
        if self.phase() == FILLING {
            self.state.count.load(Relaxed) as usize
        } else {
            0
        }
    }

    /// `true` if the barrier is broken.
    #[track_caller]
    pub fn broken(&self) -> bool {
        let _op = P::operation(|| &self.state.phase, "Barrier", "broken");
        let _held = self.cond.lock();
        self.phase() == BROKEN
    }
}

impl<P: Platform> Clone for Barrier<P> {
    fn clone(&self) -> Self {
        Barrier {
            cond: self.cond.clone(),
            state: self.state.clone(),
            action: self.action.clone(),
        }
    }
}

impl<P: Platform> fmt::Debug for Barrier<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("has_action", &self.action.is_some())
            .finish()
    }
}
