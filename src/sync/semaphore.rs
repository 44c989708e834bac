//! [`Semaphore`] and [`BoundedSemaphore`] (Python's `multiprocessing.Semaphore` and
//! `BoundedSemaphore`).
//!
//! The count is one futex word. Acquire decrements it with a compare-and-swap while it is
//! positive; otherwise the task registers in `waiters` and sleeps while the count is 0. Release
//! increments the count and wakes one sleeper only if `waiters` says someone may sleep, so an
//! uncontended release makes no system call.
//!
//! Why no wake-up is lost: a store-then-load ("Dekker") pairing with a `fence(SeqCst)` in each
//! half. The waiter increments `waiters`, fences, then (in the futex wait) reads `count`; the
//! releaser increments `count`, fences, then reads `waiters`. Of the two fences one comes first
//! in the single total order of SeqCst fences, so either the releaser sees the waiter and wakes
//! it, or the waiter sees the new count and does not sleep. (SeqCst *accesses* alone would do in
//! C11 too, but loom models only the fences exactly, and the fences say what is meant.)
//!
//! **Units held by a process that dies.** A semaphore has no owner: a bare
//! [`acquire`](Semaphore::acquire) may be a signal consumed for good (a consumer taking what a
//! producer released), so a unit taken by `acquire` is never given back on anyone's behalf. A
//! [`guard`](Semaphore::guard) *holds* its unit for a scope, and the semaphore records which
//! process holds how many units through guards: a table of [`SLOTS`] words (holder token,
//! units, and the operation in flight), changed only under an internal robust lock
//! (`table_lock`, the lock of [`raw`](super::raw)). When a process dies holding guards, its
//! units are given back by the first waiter that notices (on `Os` after a liveness poll
//! interval of sleeping at 0; under explorers before every sleep, a kill waking every sleeper),
//! and that waiter's acquire reports [`Error::OwnerDied`] (a guard: `owner_died()`).
//!
//! A guard's acquire or release changes two words, the count and its process's slot, and the
//! process may die between the two. The operation is made recoverable as a journal would: the
//! slot first records the operation in flight with its units before the change; the count's
//! change sets [`PENDING`] (bit 31 of the count word, outside the count) in the same atomic
//! step; then the slot gets its new units and no operation; then `PENDING` is cleared. Whoever
//! takes `table_lock` over from a dead holder reads where it stopped: an operation in flight
//! with `PENDING` set happened (the slot gets its new units), without `PENDING` it did not (the
//! slot keeps its units); `PENDING` without an operation in flight is only cleared. Only the
//! holder of `table_lock` sets `PENDING`, so there is one journal entry at most. Bare
//! operations ignore the bit. When the table is full, a guard is not recorded (its units are
//! not given back if its process dies). Nor is a guard taken while the program has one process
//! ([`Platform::multiprocess`] is `false`: nobody else could be waiting for its unit, and the
//! bookkeeping is left out of single-process programs and of their exploration, where it would
//! multiply the interleavings): a process that takes a guard and *then* starts the processes
//! that wait for it does not have that unit given back if it dies.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use std::time::Duration;

use super::{raw, slots_in_use};
use crate::platform::WaitOutcome;
use crate::platform::{
    deadline_after, poll_deadline, Atomic, AtomicInt, Instant, Platform, Shareable,
};
use crate::{Error, Os};

/// Guard holders a semaphore records (processes holding units through guards at once).
pub(crate) const SLOTS: usize = 16;
/// Bit 31 of the count word: a guard's change of the count is not yet recorded in its slot.
pub(crate) const PENDING: u32 = 1 << 31;
/// The count's bits in the count word; the largest count any semaphore can hold.
const COUNT: u32 = PENDING - 1;

/// What a slot records as in flight (bits 32..34 of a slot word).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum InFlight {
    None = 0,
    /// A guard's acquire: one unit more once done.
    Acquire = 1,
    /// A guard's release: one unit less.
    Release = 2,
    /// A dead holder's units given back: none left.
    GiveBack = 3,
}

/// One slot word: holder token (bits 34..64; 0 = free), operation in flight, units.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Slot {
    token: u32,
    in_flight: InFlight,
    units: u32,
}

impl Slot {
    const FREE: u64 = 0;

    fn unpack(word: u64) -> Slot {
        Slot {
            token: (word >> 34) as u32,
            in_flight: match (word >> 32) & 3 {
                0 => InFlight::None,
                1 => InFlight::Acquire,
                2 => InFlight::Release,
                _ => InFlight::GiveBack,
            },
            units: word as u32,
        }
    }

    fn pack(self) -> u64 {
        if self.units == 0 && self.in_flight == InFlight::None {
            return Slot::FREE;
        }
        (u64::from(self.token) << 34) | ((self.in_flight as u64) << 32) | u64::from(self.units)
    }

    /// The units once the operation in flight is done.
    fn done(self) -> u32 {
        match self.in_flight {
            InFlight::None => self.units,
            InFlight::Acquire => self.units + 1,
            InFlight::Release => self.units - 1,
            InFlight::GiveBack => 0,
        }
    }
}

pub(crate) struct SemState<P: Platform> {
    /// The count (bits 0..31) and [`PENDING`].
    count: P::AtomicU32,
    /// Tasks between registering to sleep and waking up (an upper bound of the sleepers).
    waiters: P::AtomicU32,
    /// The largest count a release may produce: [`COUNT`] for a Semaphore, the initial value
    /// for a BoundedSemaphore. Immutable.
    max: u32,
    /// The robust lock under which `slots` and `occupied` change (a [`raw`] lock word).
    table_lock: P::AtomicU32,
    /// Bit `i` set: slot `i` may be in use. A hint read without the lock, so that a look for
    /// dead holders reads no slot when no guard is out.
    occupied: P::AtomicU32,
    /// Who holds units through guards (see the module docs).
    slots: [P::AtomicU64; SLOTS],
}

// SAFETY: platform atomics and a plain u32.
unsafe impl<P: Platform> Shareable for SemState<P> {}

/// How a [`SemState`] acquire ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Took {
    /// A unit is the caller's.
    Unit,
    /// A unit is the caller's, and on the way the caller gave back the units of a process
    /// that died holding guards.
    AfterGivingBack,
    /// The deadline passed first.
    TimedOut,
}

impl<P: Platform> SemState<P> {
    fn new(value: u32, max: u32, name: &'static str) -> P::Shared<Self> {
        let state: P::Shared<Self> = P::share(SemState {
            count: P::AtomicU32::new(value.min(COUNT)),
            waiters: P::AtomicU32::new(0),
            max: max.min(COUNT),
            table_lock: P::AtomicU32::new(raw::UNLOCKED),
            occupied: P::AtomicU32::new(0),
            slots: std::array::from_fn(|_| P::AtomicU64::new(Slot::FREE)),
        });
        state.count.label(name);
        state.waiters.label("Semaphore.waiters");
        state.table_lock.label("Semaphore.table_lock");
        state.occupied.label("Semaphore.occupied");
        for slot in &state.slots {
            slot.label("Semaphore.slot");
        }
        state
    }

    /// Takes a unit if there is one; never blocks. `Err` carries the count word it saw.
    #[inline]
    fn try_acquire(&self) -> Result<(), u32> {
        let mut word = self.count.load(Relaxed);
        while word & COUNT > 0 {
            match self
                .count
                .compare_exchange_weak(word, word - 1, Acquire, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => word = now,
            }
        }
        Err(word)
    }

    /// Sleeps while the count word still reads `seen` (a count of 0), until `deadline` or
    /// the next look at the holders' liveness. Returns whether the deadline passed and
    /// whether it is time to look.
    fn sleep(&self, seen: u32, deadline: Option<Instant>) -> (bool, bool) {
        let until = poll_deadline::<P>(deadline);
        self.waiters.fetch_add(1, Relaxed);
        P::fence(SeqCst);
        let outcome = P::wait_watching_deaths(&self.count, seen, until);
        self.waiters.fetch_sub(1, Relaxed);
        let timed_out = outcome == WaitOutcome::TimedOut;
        let expired = timed_out && deadline.is_some_and(|d| until == Some(d));
        (
            expired,
            P::LIVENESS_POLL.is_none() || (timed_out && until != deadline),
        )
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Took {
        // The specification: the acquire can complete once the count is above 0.
        P::ready_when(&self.count, |word, _| word & COUNT > 0, deadline);
        let Err(mut seen) = self.try_acquire() else {
            return Took::Unit;
        };
        let mut gave_back = false;
        let mut look_now = P::LIVENESS_POLL.is_none();
        let mut looked = false;
        loop {
            looked |= look_now;
            if look_now && self.give_back_dead() {
                gave_back = true;
                // The count changed: take a unit before sleeping.
                match self.try_acquire() {
                    Ok(()) => return Took::AfterGivingBack,
                    Err(now) => seen = now,
                }
            }
            let (expired, look) = self.sleep(seen, deadline);
            look_now = look;
            // Try before looking at the outcome: a wake-up that reached us is ours to use even if
            // the deadline has passed meanwhile (the platform reports it as Woken, not TimedOut).
            match self.try_acquire() {
                Ok(()) if gave_back => return Took::AfterGivingBack,
                Ok(()) => return Took::Unit,
                Err(now) => seen = now,
            }
            if expired {
                if looked {
                    return Took::TimedOut;
                }
                // Out of time before it ever looked at the holders (a zero timeout): one
                // look, as a waiting acquire makes, so that a dead holder's units come back
                // (a loop of zero-timeout acquires got `false` for good).
                look_now = true;
            }
        }
    }

    /// Adds one to the count unless it is at `max`; `Err(())` at `max`.
    fn release(&self) -> Result<(), ()> {
        let mut word = self.count.load(Relaxed);
        loop {
            if word & COUNT >= self.max {
                return Err(());
            }
            match self
                .count
                .compare_exchange_weak(word, word + 1, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        self.wake(1);
        Ok(())
    }

    /// Wakes `n` sleepers if any may sleep (after the count grew).
    fn wake(&self, n: u32) {
        P::fence(SeqCst);
        if self.waiters.load(Relaxed) > 0 {
            P::wake(&self.count, n);
        }
    }

    // ---- guards: the holder table ----

    /// Takes `table_lock`; when its holder died, finishes or undoes what it was doing first.
    fn lock_table(&self) {
        if raw::lock::<P>(&self.table_lock, None) == raw::Acquired::TakenOver {
            self.repair();
        }
    }

    fn unlock_table(&self) {
        raw::unlock::<P>(&self.table_lock);
    }

    /// Under `table_lock` taken over from a dead holder: reads the journal (module docs).
    fn repair(&self) {
        let word = self.count.load(Acquire);
        let happened = word & PENDING != 0;
        // Only the slots that may be in use: a slot is marked before it is claimed, and
        // unmarked only once free, so every other slot is free. (Reading all sixteen made the
        // repair touch more words than an explorer's event lists, and so depend on everything.)
        let occupied = self.occupied.load(Relaxed);
        for i in slots_in_use(occupied, SLOTS) {
            let s = Slot::unpack(self.slots[i].load(Relaxed));
            if s.in_flight != InFlight::None {
                let units = if happened { s.done() } else { s.units };
                self.store_slot(
                    i,
                    Slot {
                        in_flight: InFlight::None,
                        units,
                        ..s
                    },
                );
            } else if s.units == 0 {
                // Claimed but never used (the holder died right after claiming it).
                self.store_slot(i, s);
            }
        }
        if happened {
            self.count.fetch_and(!PENDING, Relaxed);
            self.wake(u32::MAX);
        }
    }

    /// Writes slot `i` (under `table_lock`), keeping `occupied` in step.
    fn store_slot(&self, i: usize, s: Slot) {
        let word = s.pack();
        self.slots[i].store(word, Relaxed);
        if word == Slot::FREE {
            self.occupied.fetch_and(!(1 << i), Relaxed);
        }
    }

    /// Under `table_lock`: a slot of this process, or a free one claimed for it; `None` when
    /// the table is full.
    fn find_slot(&self, me: u32) -> Option<(usize, Slot)> {
        let start = me as usize % SLOTS;
        for k in 0..SLOTS {
            let i = (start + k) % SLOTS;
            let word = self.slots[i].load(Relaxed);
            let s = Slot::unpack(word);
            if word == Slot::FREE {
                self.occupied.fetch_or(1 << i, Relaxed);
                return Some((
                    i,
                    Slot {
                        token: me,
                        in_flight: InFlight::None,
                        units: 0,
                    },
                ));
            }
            if s.token == me {
                return Some((i, s));
            }
        }
        None
    }

    /// Under `table_lock`: does `op` to the count and slot `i` (holding `s`), journaled.
    /// `Err` carries the count word when an acquire found the count at 0 (nothing changed).
    fn change(&self, i: usize, s: Slot, op: InFlight) -> Result<(), u32> {
        let flight = Slot { in_flight: op, ..s };
        self.slots[i].store(flight.pack(), Relaxed);
        let mut word = self.count.load(Relaxed);
        let changed = loop {
            let count = word & COUNT;
            let new = match op {
                InFlight::Acquire if count == 0 => {
                    self.store_slot(i, s);
                    return Err(word);
                }
                InFlight::Acquire => count - 1,
                // A unit out cannot make a full count, unless the user released by hand
                // meanwhile: then the slot's unit is dropped without touching the count.
                InFlight::Release if count >= self.max => break false,
                InFlight::Release => count + 1,
                InFlight::GiveBack => count.saturating_add(s.units).min(self.max),
                InFlight::None => unreachable!("a change is an operation"),
            };
            match self
                .count
                .compare_exchange_weak(word, new | PENDING, AcqRel, Relaxed)
            {
                Ok(_) => break true,
                Err(now) => word = now,
            }
        };
        self.store_slot(
            i,
            Slot {
                in_flight: InFlight::None,
                units: flight.done(),
                ..s
            },
        );
        if changed {
            self.count.fetch_and(!PENDING, Relaxed);
            match op {
                InFlight::Release => self.wake(1),
                InFlight::GiveBack => self.wake(u32::MAX),
                _ => {}
            }
        }
        Ok(())
    }

    /// Gives back the units of every process that died holding guards. `true` if there were
    /// some. Reads only the `occupied` hint when no guard is out.
    fn give_back_dead(&self) -> bool {
        let me = P::process_token();
        let dead = |s: Slot| s.token != 0 && s.token != me && !P::process_alive(s.token);
        let mask = self.occupied.load(Relaxed);
        if mask == 0 {
            return false;
        }
        let any = (0..SLOTS)
            .filter(|i| mask & (1 << i) != 0)
            .any(|i| dead(Slot::unpack(self.slots[i].load(Relaxed))));
        if !any {
            return false;
        }
        self.lock_table();
        let mut gave = false;
        // The slots that may be in use, as `repair` reads them.
        let mask = self.occupied.load(Relaxed);
        for i in slots_in_use(mask, SLOTS) {
            let s = Slot::unpack(self.slots[i].load(Relaxed));
            if s.units > 0 && dead(s) {
                // A give-back never finds the count at 0 unacceptable.
                let _ = self.change(i, s, InFlight::GiveBack);
                gave = true;
            }
        }
        self.unlock_table();
        gave
    }

    /// A guard's acquire: the unit is recorded in a slot of this process (its index is
    /// returned; `None` when the table is full and the unit is not recorded).
    fn acquire_recorded(&self) -> (Option<usize>, Took) {
        if !P::multiprocess() {
            // One process: nobody could give the unit back on its behalf (module docs).
            return (None, self.acquire_until(None));
        }
        // The specification, as for a plain acquire: the guard can be had once the count is
        // above 0 (where a holder that took a unit died, the engine lets the search for dead
        // holders below run).
        P::ready_when(&self.count, |word, _| word & COUNT > 0, None);
        let me = P::process_token();
        let mut gave_back = false;
        let mut look_now = P::LIVENESS_POLL.is_none();
        loop {
            if look_now {
                gave_back |= self.give_back_dead();
            }
            self.lock_table();
            let Some((i, s)) = self.find_slot(me) else {
                self.unlock_table();
                let took = match self.acquire_until(None) {
                    Took::Unit if gave_back => Took::AfterGivingBack,
                    took => took,
                };
                return (None, took);
            };
            let seen = self.change(i, s, InFlight::Acquire);
            self.unlock_table();
            match seen {
                Ok(()) if gave_back => return (Some(i), Took::AfterGivingBack),
                Ok(()) => return (Some(i), Took::Unit),
                Err(seen) => look_now = self.sleep(seen, None).1,
            }
        }
    }

    /// A recorded guard's release, from slot `i`.
    fn release_recorded(&self, i: usize) -> Result<(), ()> {
        self.lock_table();
        let s = Slot::unpack(self.slots[i].load(Relaxed));
        let result = if s.units > 0 && s.token == P::process_token() {
            let _ = self.change(i, s, InFlight::Release);
            Ok(())
        } else {
            // Not this process's unit any more (the guard crossed a fork): a plain release.
            self.unlock_table();
            return self.release();
        };
        self.unlock_table();
        result
    }

    fn value(&self) -> u32 {
        self.count.load(Relaxed) & COUNT
    }
}

macro_rules! semaphore {
    (
        $(#[$doc:meta])*
        $name:ident, $guard:ident, max = |$value:ident| $max:expr,
        release_error = $err:expr, release_doc = $release_doc:literal
    ) => {
        $(#[$doc])*
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
        pub struct $name<P: Platform = Os> {
    #[serde(
                serialize_with = "crate::platform::wire::ser::<P, _, _>",
                deserialize_with = "crate::platform::wire::de::<P, _, _>"
                    )]
            state: P::Shared<SemState<P>>,
        }

        impl<P: Platform> $name<P> {
            /// The largest count (2³¹ − 1; bit 31 of the count word is the holder table's).
            pub const MAX: u32 = COUNT;

            #[doc = concat!("A new ", stringify!($name), " whose count starts at `value`.")]
            ///
            /// A `value` above [`Self::MAX`] (2³¹ − 1) is taken as `MAX`: bit 31 of the count
            /// word belongs to the holder table.
            pub fn new($value: u32) -> Self {
                $name {
                    state: SemState::<P>::new($value, $max, stringify!($name)),
                }
            }

            /// Decrements the count, first waiting while it is 0.
            ///
            /// `Err(OwnerDied)` when, while waiting, the caller gave back the units of a
            /// process that died holding guards ([`Self::guard`]); the caller has its unit all
            /// the same (see [`Error::OwnerDied`]). A dead holder never leaves its waiters
            /// waiting.
            #[track_caller]
            pub fn acquire(&self) -> Result<(), Error> {
                let _op = P::operation(|| &self.state.count, stringify!($name), "acquire");
                match self.state.acquire_until(None) {
                    Took::AfterGivingBack => Err(Error::OwnerDied),
                    _ => Ok(()),
                }
            }

            /// Decrements the count if it is positive; never blocks. `true` if it did.
            #[track_caller]
            pub fn try_acquire(&self) -> bool {
                let _op = P::operation(|| &self.state.count, stringify!($name), "try_acquire");
                self.state.try_acquire().is_ok()
            }

            /// Waits at most `timeout` for a positive count and decrements it. `false` on timeout.
            /// Units of a dead guard holder are given back on the way, even with a zero
            /// timeout, silently (only [`Self::acquire`] and [`Self::guard`] say so).
            #[track_caller]
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                let _op = P::operation(|| &self.state.count, stringify!($name), "acquire_timeout");
                self.state.acquire_until(deadline_after::<P>(timeout)) != Took::TimedOut
            }

            #[doc = $release_doc]
            #[track_caller]
            pub fn release(&self) -> Result<(), Error> {
                let _op = P::operation(|| &self.state.count, stringify!($name), "release");
                self.state.release().map_err(|()| $err)
            }

            /// The current count.
            #[track_caller]
            pub fn get_value(&self) -> u32 {
                let _op = P::operation(|| &self.state.count, stringify!($name), "get_value");
                self.state.value()
            }

            /// Acquires and returns a guard that releases when dropped. The unit is *held* by
            /// this process while the guard lives: if the process dies first, the unit is given
            /// back by the first waiter that notices, whose acquire learns it
            /// ([`Error::OwnerDied`], or the guard's `owner_died()`).
            #[track_caller]
            pub fn guard(&self) -> $guard<'_, P> {
                let site = P::site();
                let _op = P::operation_at(|| Some(&self.state.count), stringify!($name), "guard", site);
                let (slot, took) = self.state.acquire_recorded();
                $guard {
                    semaphore: self,
                    site,
                    slot,
                    owner_died: took == Took::AfterGivingBack,
                    _platform: PhantomData,
                }
            }
        }

        impl<P: Platform> Clone for $name<P> {
            fn clone(&self) -> Self {
                $name {
                    state: self.state.clone(),
                }
            }
        }

        impl<P: Platform> fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("value", &self.get_value())
                    .finish()
            }
        }

        #[doc = concat!("Holds one unit of a [`", stringify!($name), "`]; releases it when dropped.")]
        #[must_use = "the unit is released as soon as the guard is dropped"]
        pub struct $guard<'a, P: Platform = Os> {
            semaphore: &'a $name<P>,
            /// Where the guard was made: its release is reported there.
            site: P::Site,
            /// The holder-table slot its unit is recorded in (`None`: not recorded).
            slot: Option<usize>,
            owner_died: bool,
            _platform: PhantomData<P>,
        }

        impl<P: Platform> $guard<'_, P> {
            /// Whether, while waiting for this unit, the caller gave back the units of a
            /// process that died holding guards (see [`Error::OwnerDied`]).
            #[track_caller]
            pub fn owner_died(&self) -> bool {
                let _op = P::operation(|| &self.semaphore.state.count, stringify!($name), "owner_died (guard)");
                self.owner_died
            }
        }

        impl<P: Platform> Drop for $guard<'_, P> {
            fn drop(&mut self) {
                let count = || Some(&self.semaphore.state.count);
                let _op = P::operation_at(count, stringify!($name), "release (guard)", self.site);
                // The guard took one unit, so giving it back stays within the bound unless the
                // user released by hand meanwhile; that error has nowhere to go.
                let _ = match self.slot {
                    Some(i) => self.semaphore.state.release_recorded(i),
                    None => self.semaphore.state.release(),
                };
            }
        }

        impl<P: Platform> fmt::Debug for $guard<'_, P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($guard))
            }
        }
    };
}

semaphore! {
    /// A counting semaphore with the semantics of Python's `multiprocessing.Semaphore`.
    ///
    /// `acquire` waits while the count is 0, then decrements it; `release` increments it and
    /// wakes one waiter. Past `Semaphore::MAX` (2³¹ − 1), `release` is [`Error::Overflow`]; a larger initial
    /// value is clamped to it.
    ///
    /// ```
    /// let room = mpcheck::Semaphore::<mpcheck::Os>::new(4); // a KTV room for 4
    /// let _seat = room.guard();
    /// assert_eq!(room.get_value(), 3);
    /// ```
    Semaphore, SemaphoreGuard, max = |value| u32::MAX,
    release_error = Error::Overflow { what: "Semaphore value" },
    release_doc = "Increments the count and wakes one waiter. [`Error::Overflow`] at `Semaphore::MAX`."
}

semaphore! {
    /// A semaphore that may not be released above its initial value, as Python's
    /// `multiprocessing.BoundedSemaphore` — but checked exactly: the check and the increment are
    /// one atomic step, so two racing over-releases cannot both succeed (CPython's check is racy).
    ///
    /// ```
    /// let s = mpcheck::BoundedSemaphore::<mpcheck::Os>::new(1);
    /// assert!(s.release().is_err()); // already at its initial value
    /// ```
    BoundedSemaphore, BoundedSemaphoreGuard, max = |value| value,
    release_error = Error::ReleasedTooManyTimes { primitive: "BoundedSemaphore" },
    release_doc = "Increments the count and wakes one waiter. [`Error::ReleasedTooManyTimes`] if the count is already at the initial value."
}
