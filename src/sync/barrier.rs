//! [`Barrier`]: `parties` tasks wait for each other (Python's `multiprocessing.Barrier`).
//!
//! Built on a [`Lock`] and a [`Condition`], with CPython's round structure: a round *fills*
//! while tasks arrive; the last arrival runs the action and starts the *draining* phase, in which
//! the round's tasks leave; a new round starts filling only when the last of them has left. So a
//! task that arrives early for the next round can never be confused with the current one. A
//! timeout or `abort` *breaks* the barrier; `reset` breaks the current round and, once its tasks
//! have left, starts afresh.
//!
//! **A party whose process dies.** The barrier records, by process, how many parties are inside
//! `wait` (`members`, up to [`MEMBERS`] processes; parties of further processes are counted in
//! `unrecorded` and not watched). A party waiting in the barrier looks at the other members'
//! liveness (on `Os` once a liveness poll interval passed asleep, under explorers before every
//! sleep, a kill waking every sleeper) and when one died inside: while the round fills (or its
//! action runs) the barrier breaks, so the others get [`Error::BrokenBarrier`] instead of
//! waiting for a round that cannot complete as they expect; while the round drains, the dead
//! party is counted out, so the next round can start. A party that dies holding the barrier's
//! lock is found the same way by whoever takes the lock over. Every change of the state is one
//! store under the lock, and the count of parties inside is recomputed from `members` after a
//! death and after every takeover of the lock (the dead holder may have been leaving: its record
//! gone, the count not yet lowered), so a party that died halfway through an update leaves
//! nothing inconsistent. A party
//! that dies *before* it arrives cannot be told from a slow one (as in Python): use
//! `wait_timeout`, or watch the processes (`Process::join`).

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::platform::{deadline_after, Atomic, AtomicInt, Instant, Platform, Shareable};
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

/// Processes whose parties inside `wait` a barrier records.
pub(crate) const MEMBERS: usize = 16;

pub(crate) struct BarrierState<P: Platform> {
    /// One of the phase constants; read and written with the lock held.
    phase: P::AtomicU32,
    /// Tasks inside `wait` (arrived and not yet left); read and written with the lock held.
    count: P::AtomicU64,
    /// Immutable.
    parties: u64,
    /// Parties inside `wait` by process: token (bits 32..64, 0 = free) and how many (bits
    /// 0..32); changed with the lock held. `count` is their sum plus `unrecorded`.
    members: [P::AtomicU64; MEMBERS],
    /// Bit `i` set: `members[i]` is in use (so a look reads only those).
    occupied: P::AtomicU32,
    /// Parties inside `wait` whose process found no free member slot.
    unrecorded: P::AtomicU64,
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
/// `reset`. So does the death of a party's process inside `wait` while the round fills: the
/// others are released with `BrokenBarrier` rather than left waiting (see the module docs; a
/// party that dies before it arrives cannot be told from a slow one: use `wait_timeout`).
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
            members: std::array::from_fn(|_| P::AtomicU64::new(0)),
            occupied: P::AtomicU32::new(0),
            unrecorded: P::AtomicU64::new(0),
        });
        state.phase.label("Barrier.phase");
        state.count.label("Barrier.count");
        for member in &state.members {
            member.label("Barrier.member");
        }
        state.occupied.label("Barrier.occupied");
        state.unrecorded.label("Barrier.unrecorded");
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
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.phase), "Barrier", "wait", site);
        self.wait_until(None, &mut Open::new(_op, "wait", site))
    }

    /// As [`Barrier::wait`], but a wait longer than `timeout` breaks the barrier and returns
    /// [`Error::BrokenBarrier`].
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, Error> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.phase), "Barrier", "wait_timeout", site);
        let deadline = deadline_after::<P>(timeout);
        self.wait_until(deadline, &mut Open::new(_op, "wait_timeout", site))
    }

    /// Takes the barrier's lock; from a process that died holding it, after a look.
    fn lock(&self) -> crate::sync::condition::ConditionGuard<'_, P> {
        let held = self.cond.lock();
        if held.owner_died() {
            self.look(true);
        }
        held
    }

    fn phase(&self) -> u32 {
        self.state.phase.load(Relaxed)
    }

    fn set_phase(&self, phase: u32) {
        self.state.phase.store(phase, Relaxed);
    }

    /// With the lock held: waits on the condition; `false` if the deadline passed. Looks for
    /// dead parties before sleeping (explorers) or once a liveness poll interval passed (`Os`);
    /// `true` without sleeping when the look changed the state.
    fn sleep(&self, deadline: Option<Instant>) -> bool {
        if P::LIVENESS_POLL.is_none() && self.look(false) {
            return true;
        }
        let tick = P::LIVENESS_POLL.and_then(|poll| P::now().checked_add(poll));
        let until = match (deadline, tick) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        };
        // A party looks at the others' liveness: the sleep watches deaths.
        match self.cond.wait_until_or_death(until, "Barrier::wait", true) {
            Ok(true) => true,
            Ok(false) if deadline.is_some() && until == deadline => false,
            // A poll tick.
            Ok(false) => {
                self.look(false);
                true
            }
            // The lock taken back from a process that died holding it (the only error: this
            // task holds the lock).
            Err(_) => {
                self.look(true);
                true
            }
        }
    }

    /// With the lock held: counts out the parties of dead processes; breaks the round if it
    /// was filling (or running its action), lets the next one start if it was draining.
    /// `true` if a dead party was found. `took_over`: the lock was just taken over from a
    /// process that died holding it, in the middle of an update perhaps; then the count is
    /// recomputed even if no dead party is recorded (the dead holder may have been leaving:
    /// its record already gone, the count not yet lowered, which would keep a draining round
    /// from ever ending).
    fn look(&self, took_over: bool) -> bool {
        let me = P::process_token();
        let mask = self.state.occupied.load(Relaxed);
        let mut found = false;
        for i in (0..MEMBERS).filter(|i| mask & (1 << i) != 0) {
            let word = self.state.members[i].load(Relaxed);
            let token = (word >> 32) as u32;
            if token != 0 && token != me && !P::process_alive(token) {
                self.state.members[i].store(0, Relaxed);
                self.state.occupied.fetch_and(!(1 << i), Relaxed);
                found = true;
            }
        }
        if !found && !took_over {
            return false;
        }
        let inside = self.state.unrecorded.load(Relaxed)
            + self
                .state
                .members
                .iter()
                .map(|m| m.load(Relaxed) & u64::from(u32::MAX))
                .sum::<u64>();
        self.state.count.store(inside, Relaxed);
        match self.phase() {
            // A dead holder that was no party of the round (arriving, not yet recorded) cannot
            // be told from a slow one: only a dead party breaks it.
            FILLING | ACTION if found => self.break_barrier(),
            DRAINING | RESETTING if inside == 0 => {
                self.set_phase(FILLING);
                self.wake_all();
            }
            _ => {}
        }
        found
    }

    /// With the lock held: one more (`up`) or one fewer party of this process inside.
    fn count_member(&self, up: bool) {
        let me = P::process_token();
        let start = me as usize % MEMBERS;
        let mut free = None;
        for k in 0..MEMBERS {
            let i = (start + k) % MEMBERS;
            let word = self.state.members[i].load(Relaxed);
            if (word >> 32) as u32 == me {
                let n = (word & u64::from(u32::MAX)) as u32;
                let n = if up { n + 1 } else { n - 1 };
                self.state.members[i].store(Self::member(me, n), Relaxed);
                if n == 0 {
                    self.state.occupied.fetch_and(!(1 << i), Relaxed);
                }
                return;
            }
            if word == 0 && free.is_none() {
                free = Some(i);
                if up {
                    break;
                }
            }
        }
        match free {
            Some(i) if up => {
                self.state.occupied.fetch_or(1 << i, Relaxed);
                self.state.members[i].store(Self::member(me, 1), Relaxed);
            }
            _ => {
                let n = self.state.unrecorded.load(Relaxed);
                let n = if up { n + 1 } else { n.saturating_sub(1) };
                self.state.unrecorded.store(n, Relaxed);
            }
        }
    }

    fn member(token: u32, n: u32) -> u64 {
        if n == 0 {
            0
        } else {
            (u64::from(token) << 32) | u64::from(n)
        }
    }

    /// With the lock held: wakes every task sleeping on the condition.
    fn wake_all(&self) {
        // Only NotOwner can come back, and this task holds the lock.
        let _ = self.cond.notify_all();
    }

    fn wait_until(&self, deadline: Option<Instant>, op: &mut Open<P>) -> Result<usize, Error> {
        let parties = self.state.parties;
        if parties == 0 {
            return Err(Error::InvalidArgument(
                "a Barrier needs at least one party".to_owned(),
            ));
        }
        let held = self.lock();
        // A new round starts only when the previous one has drained or been reset.
        while matches!(self.phase(), ACTION | DRAINING | RESETTING) {
            self.sleep(None);
        }
        if self.phase() == BROKEN {
            return Err(Error::BrokenBarrier);
        }
        let index = self.state.count.load(Relaxed);
        self.count_member(true);
        self.state.count.store(index + 1, Relaxed);
        let result = if index + 1 == parties {
            // The last arrival completes the round only if no party died inside it: a dead
            // party's round cannot complete as its parties expect (it breaks, as it would
            // have for a task still waiting; the last arrival never sleeps, so it looks now).
            if self.look(false) {
                Err(Error::BrokenBarrier)
            } else {
                self.release_round(op)
            }
        } else {
            self.await_round(deadline)
        };
        self.count_member(false);
        let inside = self.state.count.load(Relaxed) - 1;
        self.state.count.store(inside, Relaxed);
        if inside == 0 && matches!(self.phase(), DRAINING | RESETTING) {
            self.set_phase(FILLING);
            self.wake_all();
        }
        drop(held);
        result.map(|()| index as usize)
    }

    /// The last arrival (lock held): runs the action, then releases the round.
    fn release_round(&self, op: &mut Open<P>) -> Result<(), Error> {
        if let Some(action) = &self.action {
            self.set_phase(ACTION);
            // Released and re-taken by hand inside the caller's guard: this task holds the lock.
            let _ = self.cond.release();
            // The action is the caller's code, no part of the operation: the wait's operation
            // ends before it and goes on after it, from the caller's line.
            op.close();
            let outcome = catch_unwind(AssertUnwindSafe(|| action()));
            op.reopen(|| Some(&self.state.phase), "Barrier");
            // Taken back; from a process that died holding it, after a look (which breaks the
            // round if a party died inside it).
            if self.cond.acquire().is_err() {
                self.look(true);
            }
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
        let _held = self.lock();
        self.break_barrier();
    }

    /// Returns the barrier to its initial state. Tasks waiting now get
    /// [`Error::BrokenBarrier`]; new arrivals start a fresh round once they have left.
    #[track_caller]
    pub fn reset(&self) {
        let _op = P::operation(|| &self.state.phase, "Barrier", "reset");
        let _held = self.lock();
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
        let _held = self.lock();
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
        let _held = self.lock();
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

/// A public operation that runs the caller's code in its middle (a barrier's action): it is
/// closed around that code, which is no part of it, and opened again after it, under the same
/// name and at the same line of the caller's.
struct Open<P: Platform> {
    op: Option<P::Operation>,
    name: &'static str,
    site: P::Site,
}

impl<P: Platform> Open<P> {
    fn new(op: P::Operation, name: &'static str, site: P::Site) -> Self {
        Open {
            op: Some(op),
            name,
            site,
        }
    }

    /// Ends the operation (until [`Open::reopen`]).
    fn close(&mut self) {
        self.op = None;
    }

    /// Opens the operation again, on the word `object` returns.
    fn reopen<'w, W: Atomic<u32> + 'w>(
        &mut self,
        object: impl FnOnce() -> Option<&'w W>,
        primitive: &'static str,
    ) {
        self.op = Some(P::operation_at(object, primitive, self.name, self.site));
    }
}
