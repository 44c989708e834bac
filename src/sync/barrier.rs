//! [`Barrier`]: `parties` tasks wait for each other (Python's `multiprocessing.Barrier`).
//!
//! A [`Lock`] guards the round's state; the parties wait outside it, on one word, the *round*
//! word: the round's generation and its phase. A round *fills* while tasks arrive, each under
//! the lock with the next arrival index. The last arrival runs the action (if any, with the
//! lock released: the *action* phase) and releases the round with one store that moves the
//! generation on; the round's parties, asleep on the round word, see their generation gone and
//! return without taking the lock again, and the next round can fill at once. (CPython's
//! barrier has its parties leave one at a time, each taking the lock, and holds the next round
//! back until they have: a released party that an `abort` overtakes there gets
//! `BrokenBarrierError`. Here a released round is released: its parties return `Ok`, one of
//! CPython's outcomes.) A timeout or `abort` *breaks* the barrier; `reset` breaks the current
//! round and, once its tasks have left, starts afresh. The parties of a broken round leave
//! under the lock, and the barrier starts no round until they have, so a party that finds its
//! generation unchanged knows its round was not released.
//!
//! **A party whose process dies.** The barrier records, by process, how many parties are inside
//! `wait` (`members`, up to [`MEMBERS`] processes; parties of further processes are counted in
//! `unrecorded` and not watched). A party waiting in the barrier looks at the other members'
//! liveness (on `Os` once a liveness poll interval passed asleep, under explorers before every
//! sleep, a kill waking every sleeper) and when one died inside, takes the lock and looks under
//! it: while the round fills (or its action runs) the barrier breaks, so the others get
//! [`Error::BrokenBarrier`] instead of waiting for a round that cannot complete as they
//! expect. A released round's parties are no longer members (the release clears the records),
//! so a death among them breaks nothing. A party that dies holding the barrier's lock is found
//! by whoever takes the lock over. Every change of the state is one store under the lock; the
//! count of parties inside is recomputed from `members` after a death and after every takeover
//! of the lock (the dead holder may have been arriving or leaving: its record written, the
//! count not yet), and a release is one store that commits it (the generation moves on with the
//! phase *releasing*), finished by whoever takes the lock over from a releaser that died
//! before it cleared the records. So a party that died halfway through an update leaves
//! nothing inconsistent. A party that dies *before* it arrives cannot be told from a slow one
//! (as in Python): use `wait_timeout`, or watch the processes (`Process::join`).

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

use crate::platform::{
    deadline_after, poll_deadline, Atomic, AtomicInt, Instant, Platform, Shareable, WaitOutcome,
};
use crate::sync::lock::LockGuard;
use crate::sync::slots_in_use;
use crate::{Error, Lock, Os};

/// Tasks are arriving.
const FILLING: u32 = 0;
/// Everyone arrived; the last arrival runs the action with the lock released.
const ACTION: u32 = 1;
/// `reset` broke the round; its tasks are leaving with an error.
const RESETTING: u32 = 2;
/// Broken by a timeout, `abort`, a panicking action or a dead party, until `reset`.
const BROKEN: u32 = 3;
/// The round was released (its generation is gone), and its records are being cleared: seen
/// only by a task that took the lock over from a releaser that died in the middle.
const RELEASING: u32 = 4;
/// The phase's bits in the round word; the generation is in the bits above them.
const PHASE: u32 = 0b111;
/// One generation in the round word.
const GENERATION: u32 = PHASE + 1;

/// Processes whose parties inside `wait` a barrier records.
pub(crate) const MEMBERS: usize = 16;

pub(crate) struct BarrierState<P: Platform> {
    /// The generation (bits 3..32, wrapping) and the phase (bits 0..3) of the current round;
    /// written with the lock held, every change waking its sleepers; the parties of a round
    /// sleep on it without the lock.
    round: P::AtomicU32,
    /// Tasks inside `wait` in the current round (arrived, not released nor left); read and
    /// written with the lock held.
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
/// party that dies before it arrives cannot be told from a slow one: use `wait_timeout`). A
/// round once released stays released: its parties return `Ok` even if the barrier is broken
/// before they run again.
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
    lock: Lock<P>,
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

/// Why [`Barrier::await_change`] returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Woken {
    /// The round word reached what the caller waits for.
    Changed,
    /// A member of the round is dead: the caller looks under the lock.
    Death,
    /// The caller's deadline passed.
    TimedOut,
}

impl<P: Platform> Barrier<P> {
    /// A barrier for `parties` tasks. `wait` on a barrier for 0 parties is
    /// [`Error::InvalidArgument`].
    pub fn new(parties: usize) -> Self {
        let state: P::Shared<BarrierState<P>> = P::share(BarrierState {
            round: P::AtomicU32::new(FILLING),
            count: P::AtomicU64::new(0),
            parties: parties as u64,
            members: std::array::from_fn(|_| P::AtomicU64::new(0)),
            occupied: P::AtomicU32::new(0),
            unrecorded: P::AtomicU64::new(0),
        });
        state.round.label("Barrier.round");
        state.count.label("Barrier.count");
        for member in &state.members {
            member.label("Barrier.member");
        }
        state.occupied.label("Barrier.occupied");
        state.unrecorded.label("Barrier.unrecorded");
        Barrier {
            lock: Lock::new(),
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
        let _op = P::operation_at(|| Some(&self.state.round), "Barrier", "wait", site);
        self.wait_until(None, &mut Open::new(_op, "wait", site))
    }

    /// As [`Barrier::wait`], but a wait longer than `timeout` breaks the barrier and returns
    /// [`Error::BrokenBarrier`].
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, Error> {
        let site = P::site();
        let _op = P::operation_at(|| Some(&self.state.round), "Barrier", "wait_timeout", site);
        let deadline = deadline_after::<P>(timeout);
        self.wait_until(deadline, &mut Open::new(_op, "wait_timeout", site))
    }

    /// Takes the barrier's lock; from a process that died holding it, after a look.
    fn lock(&self) -> LockGuard<'_, P> {
        let held = self.lock.lock();
        if held.owner_died() {
            self.look(true);
        }
        held
    }

    fn phase(&self) -> u32 {
        self.state.round.load(Relaxed) & PHASE
    }

    /// With the lock held: the round word becomes `round`, and its sleepers are woken.
    fn set_round(&self, round: u32) {
        self.state.round.store(round, Release);
        P::wake(&self.state.round, u32::MAX);
    }

    /// With the lock held: the round's phase becomes `phase` (same generation).
    fn set_phase(&self, phase: u32) {
        let round = self.state.round.load(Relaxed);
        self.set_round(round & !PHASE | phase);
    }

    /// Without the lock: whether a process recorded as a member of the round (not this one)
    /// is dead. Reads only; a hint for a party that then looks under the lock. Nothing to read
    /// while no other process can have used the barrier.
    fn member_died(&self) -> bool {
        if !P::multiprocess() {
            return false;
        }
        let me = P::process_token();
        let mask = self.state.occupied.load(Relaxed);
        slots_in_use(mask, MEMBERS).any(|i| {
            let token = (self.state.members[i].load(Relaxed) >> 32) as u32;
            token != 0 && token != me && !P::process_alive(token)
        })
    }

    /// Without the lock: waits until `ended(round word)` holds, a member of the round died, or
    /// `deadline` passed. The sleep watches deaths, and ends at least every liveness poll
    /// interval (on `Os`) to look at the members.
    fn await_change(
        &self,
        ended: fn(u32, u32) -> bool,
        seen: u32,
        deadline: Option<Instant>,
    ) -> Woken {
        let round = &self.state.round;
        P::ready_if(
            &|| ended(round.load(Acquire), seen) || self.member_died(),
            deadline,
        );
        let mut timed_out = false;
        loop {
            let now = round.load(Acquire);
            if ended(now, seen) {
                return Woken::Changed;
            }
            if self.member_died() {
                return Woken::Death;
            }
            if timed_out {
                return Woken::TimedOut;
            }
            let until = poll_deadline::<P>(deadline);
            let outcome = P::wait_watching_deaths(round, now, until);
            timed_out = outcome == WaitOutcome::TimedOut && deadline.is_some() && until == deadline;
        }
    }

    /// With the lock held: releases it, waits for the round word to change from what it is (or
    /// a member's death), and takes the lock back.
    fn sleep<'a>(&'a self, held: LockGuard<'a, P>) -> LockGuard<'a, P> {
        let seen = self.state.round.load(Relaxed);
        drop(held);
        if self.await_change(|now, seen| now != seen, seen, None) == Woken::Death {
            let held = self.lock();
            self.look(false);
            return held;
        }
        self.lock()
    }

    /// With the lock held: counts out the parties of dead processes; breaks the round if it
    /// was filling (or running its action), lets the next one start if it was resetting.
    /// `true` if a dead party was found. `took_over`: the lock was just taken over from a
    /// process that died holding it, in the middle of an update perhaps; then a release it
    /// began is finished, and the count is recomputed even if no dead party is recorded (the
    /// dead holder may have been arriving or leaving: its record written, the count not yet).
    fn look(&self, took_over: bool) -> bool {
        if took_over && self.phase() == RELEASING {
            self.clear_round();
            self.set_phase(FILLING);
        }
        let me = P::process_token();
        let mask = self.state.occupied.load(Relaxed);
        let mut found = false;
        for i in slots_in_use(mask, MEMBERS) {
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
        // Only the slots in use: a slot is marked in use before it is written, and written 0
        // before it is unmarked, so every other slot holds 0. (Reading all sixteen made the
        // look touch more words than an explorer's event lists, and so depend on everything.)
        let mask = self.state.occupied.load(Relaxed);
        let inside = self.state.unrecorded.load(Relaxed)
            + slots_in_use(mask, MEMBERS)
                .map(|i| self.state.members[i].load(Relaxed) & u64::from(u32::MAX))
                .sum::<u64>();
        self.state.count.store(inside, Relaxed);
        match self.phase() {
            // A dead holder that was no party of the round (arriving, not yet recorded) cannot
            // be told from a slow one: only a dead party breaks it.
            FILLING | ACTION if found => self.set_phase(BROKEN),
            RESETTING if inside == 0 => self.set_phase(FILLING),
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

    /// With the lock held: the round's records are cleared (its parties were released).
    fn clear_round(&self) {
        let mask = self.state.occupied.load(Relaxed);
        for i in slots_in_use(mask, MEMBERS) {
            self.state.members[i].store(0, Relaxed);
        }
        self.state.occupied.store(0, Relaxed);
        self.state.unrecorded.store(0, Relaxed);
        self.state.count.store(0, Relaxed);
    }

    /// With the lock held: this task, a party of the current round, leaves it without passing
    /// (its round broke or is reset); the last to leave a resetting round lets the next start.
    fn leave(&self) {
        self.count_member(false);
        let inside = self.state.count.load(Relaxed).saturating_sub(1);
        self.state.count.store(inside, Relaxed);
        if inside == 0 && self.phase() == RESETTING {
            self.set_phase(FILLING);
        }
    }

    fn wait_until(&self, deadline: Option<Instant>, op: &mut Open<P>) -> Result<usize, Error> {
        let parties = self.state.parties;
        if parties == 0 {
            return Err(Error::InvalidArgument(
                "a Barrier needs at least one party".to_owned(),
            ));
        }
        // A broken barrier refuses without its lock: the phase is one word, and only `reset`
        // (under the lock) leaves it. So refusals commute with each other.
        if self.state.round.load(Acquire) & PHASE == BROKEN {
            return Err(Error::BrokenBarrier);
        }
        let mut held = self.lock();
        // A new round starts only once the full one has run its action, or the reset one has
        // been left.
        while matches!(self.phase(), ACTION | RESETTING) {
            held = self.sleep(held);
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
                self.leave();
                Err(Error::BrokenBarrier)
            } else {
                self.release_round(held, op)
            }
        } else {
            self.await_round(held, deadline)
        };
        result.map(|()| index as usize)
    }

    /// The last arrival (lock held): runs the action, then releases the round.
    fn release_round<'a>(&'a self, held: LockGuard<'a, P>, op: &mut Open<P>) -> Result<(), Error> {
        let held = match &self.action {
            None => held,
            Some(action) => {
                // Nobody waits for this phase: no wake-up.
                let round = self.state.round.load(Relaxed);
                self.state.round.store(round & !PHASE | ACTION, Relaxed);
                drop(held);
                // The action is the caller's code, no part of the operation: the wait's
                // operation ends before it and goes on after it, from the caller's line.
                op.close();
                let outcome = catch_unwind(AssertUnwindSafe(|| action()));
                op.reopen(|| Some(&self.state.round), "Barrier");
                // Taken back; from a process that died holding it, after a look (which breaks
                // the round if a party died inside it).
                let held = self.lock();
                if let Err(payload) = outcome {
                    self.set_phase(BROKEN);
                    self.leave();
                    return Err(Error::from_panic(&*payload));
                }
                if self.phase() != ACTION {
                    // Aborted or reset while the action ran.
                    self.leave();
                    return Err(Error::BrokenBarrier);
                }
                held
            }
        };
        // One store releases the round: its parties see their generation gone. The records
        // are cleared after it, so a releaser that dies in between leaves the phase saying so
        // to whoever takes the lock over.
        let round = self.state.round.load(Relaxed);
        let next = (round & !PHASE).wrapping_add(GENERATION);
        self.set_round(next | RELEASING);
        self.clear_round();
        // Release as well: a party that reads this store rather than the first learns of the
        // action's effects from it.
        self.state.round.store(next | FILLING, Release);
        drop(held);
        Ok(())
    }

    /// An early arrival (lock held): waits, without the lock, for its round to be released or
    /// broken.
    fn await_round<'a>(
        &'a self,
        held: LockGuard<'a, P>,
        mut deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let mine = self.state.round.load(Relaxed);
        drop(held);
        // Ended: the generation moved on (released), or the round broke or is being reset.
        // (A generation comes back after 2^29 rounds: a party asleep through all of them
        // would wait for the next.)
        let ended = |now: u32, mine: u32| {
            now & !PHASE != mine & !PHASE || matches!(now & PHASE, BROKEN | RESETTING)
        };
        loop {
            let woken = self.await_change(ended, mine, deadline);
            let now = self.state.round.load(Acquire);
            if woken == Woken::Changed && now & !PHASE != mine & !PHASE {
                return Ok(());
            }
            let _held = self.lock();
            if woken == Woken::Death {
                self.look(false);
            }
            let now = self.state.round.load(Relaxed);
            if now & !PHASE != mine & !PHASE {
                return Ok(());
            }
            match now & PHASE {
                FILLING if woken == Woken::TimedOut => {
                    self.set_phase(BROKEN);
                    self.leave();
                    return Err(Error::BrokenBarrier);
                }
                FILLING => {}
                // Everyone has arrived: the round no longer times out, the action decides.
                ACTION => deadline = None,
                _ => {
                    self.leave();
                    return Err(Error::BrokenBarrier);
                }
            }
        }
    }

    /// Breaks the barrier: tasks waiting now, and every later `wait` until [`Barrier::reset`],
    /// get [`Error::BrokenBarrier`].
    #[track_caller]
    pub fn abort(&self) {
        let _op = P::operation(|| &self.state.round, "Barrier", "abort");
        let _held = self.lock();
        self.set_phase(BROKEN);
    }

    /// Returns the barrier to its initial state. Tasks waiting now get
    /// [`Error::BrokenBarrier`]; new arrivals start a fresh round once they have left.
    #[track_caller]
    pub fn reset(&self) {
        let _op = P::operation(|| &self.state.round, "Barrier", "reset");
        let _held = self.lock();
        if self.state.count.load(Relaxed) > 0 {
            self.set_phase(RESETTING);
        } else {
            self.set_phase(FILLING);
        }
    }

    /// The number of tasks the barrier waits for.
    #[track_caller]
    pub fn parties(&self) -> usize {
        let _op = P::operation(|| &self.state.round, "Barrier", "parties");
        self.state.parties as usize
    }

    /// The number of tasks waiting in the current round.
    #[track_caller]
    pub fn n_waiting(&self) -> usize {
        let _op = P::operation(|| &self.state.round, "Barrier", "n_waiting");
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
        let _op = P::operation(|| &self.state.round, "Barrier", "broken");
        let _held = self.lock();
        self.phase() == BROKEN
    }
}

impl<P: Platform> Clone for Barrier<P> {
    fn clone(&self) -> Self {
        Barrier {
            lock: self.lock.clone(),
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
