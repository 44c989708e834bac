//! The futex mutex every lock in this module is built on, robust to the death of its holder's
//! process.
//!
//! The mutex is mutex #3 of Ulrich Drepper, "Futexes Are Tricky" (2011), with the holder's
//! identity in the word, as the kernel's robust futexes keep it: the word is `UNLOCKED` (0), or
//! the holder's process token ([`Platform::process_token`], 30 bits) with the `CONTENDED` bit
//! (bit 31) set once someone may sleep on it. Lock: compare-and-swap `UNLOCKED → token`; on
//! failure spin briefly ([`Platform::SPIN_LIMIT`]), then set `CONTENDED` and sleep while the
//! word is unchanged. Unlock: swap in `UNLOCKED` and wake one sleeper only if `CONTENDED` was
//! set, so an uncontended unlock makes no system call. Acquire on lock and Release on unlock
//! are enough: everything written under the lock is published by the unlock's Release and seen
//! after the next lock's Acquire.
//!
//! **A dead holder.** A waiter that sees the holder's process dead
//! ([`Platform::process_alive`]) swaps its own token in for the dead one's and has the lock,
//! reporting [`Acquired::TakenOver`]: what the lock guarded may be half updated. On `Os`, where
//! a death wakes nobody and a look reads a file, a waiter sleeps at most
//! [`Platform::LIVENESS_POLL`] at a time and looks once a whole interval passed without the
//! lock changing hands (a contended lock whose holder lives costs no look; a dead holder is
//! noticed within about two intervals); where no interval is set, it looks before every sleep.
//! A dead holder never leaves its waiters waiting for good. The lock has no owner in Python's sense (any task
//! may release it): the token only says which process took it last.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::platform::{poll_deadline, Atomic, Instant, Platform, WaitOutcome};

pub(crate) const UNLOCKED: u32 = 0;
/// Someone may sleep on the word: the unlock must wake one.
pub(crate) const CONTENDED: u32 = 1 << 31;
/// The holder's process token.
const HOLDER: u32 = (1 << 30) - 1;

/// How [`lock`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Acquired {
    /// The lock was free, or released to us.
    Taken,
    /// The lock was held by a process that died: it is ours now.
    TakenOver,
    /// The deadline passed first; the lock is not ours.
    TimedOut,
}

impl Acquired {
    /// Whether the caller holds the lock now.
    #[inline]
    pub(crate) fn held(self) -> bool {
        self != Acquired::TimedOut
    }
}

/// Takes the lock if it is free; never blocks (and never takes over a dead holder's lock: only
/// a waiting `lock` does).
#[inline]
pub(crate) fn try_lock<P: Platform>(word: &P::AtomicU32) -> bool {
    word.compare_exchange(UNLOCKED, P::process_token(), Acquire, Relaxed)
        .is_ok()
}

/// Takes the lock, waiting until `deadline` at most (`None`: forever).
#[inline]
pub(crate) fn lock<P: Platform>(word: &P::AtomicU32, deadline: Option<Instant>) -> Acquired {
    // The specification: the acquire can complete once the lock is free (or, where processes
    // die, once the holder the word names is dead: it then takes the lock over).
    P::ready_when_held(
        word,
        |word, _| word == UNLOCKED,
        deadline,
        |word| word & HOLDER,
    );
    let me = P::process_token();
    match word.compare_exchange(UNLOCKED, me, Acquire, Relaxed) {
        Ok(_) => Acquired::Taken,
        Err(state) => lock_contended::<P>(word, me, state, deadline),
    }
}

#[cold]
fn lock_contended<P: Platform>(
    word: &P::AtomicU32,
    me: u32,
    state: u32,
    deadline: Option<Instant>,
) -> Acquired {
    let mut state = spin::<P>(word, state);
    let mut timed_out = false;
    // Whether to look at the holder's liveness before sleeping: always where a death wakes the
    // waiters (no `LIVENESS_POLL`); on `Os`, where a look reads a file, only once a whole poll
    // interval passed without the lock changing hands.
    let mut look_now = P::LIVENESS_POLL.is_none();
    loop {
        if state == UNLOCKED {
            // Taking it with CONTENDED set (rather than bare) is what makes our unlock wake the
            // next sleeper: we cannot know whether others still sleep.
            match word.compare_exchange(UNLOCKED, me | CONTENDED, Acquire, Relaxed) {
                Ok(_) => return Acquired::Taken,
                Err(now) => {
                    state = now;
                    continue;
                }
            }
        }
        // A holder of this process is alive (no need to ask).
        if look_now && state & HOLDER != me && !P::process_alive(state & HOLDER) {
            match word.compare_exchange(state, me | CONTENDED, Acquire, Relaxed) {
                Ok(_) => return Acquired::TakenOver,
                Err(now) => {
                    state = now;
                    continue;
                }
            }
        }
        if state & CONTENDED == 0 {
            match word.compare_exchange(state, state | CONTENDED, Relaxed, Relaxed) {
                Ok(_) => state |= CONTENDED,
                Err(now) => {
                    state = now;
                    continue;
                }
            }
        }
        if timed_out {
            if look_now {
                return Acquired::TimedOut;
            }
            // Out of time before it ever looked at the holder (a zero timeout): one look, as
            // a waiting acquire makes, so that a dead holder's lock is taken over (a loop of
            // zero-timeout acquires got `false` for good).
            look_now = true;
            state = word.load(Relaxed);
            continue;
        }
        // Sleep until woken, the deadline, or the next look at the holder's liveness.
        let until = poll_deadline::<P>(deadline);
        let outcome = P::wait_watching_deaths(word, state, until);
        timed_out = outcome == WaitOutcome::TimedOut && deadline.is_some_and(|d| until == Some(d));
        look_now |= outcome == WaitOutcome::TimedOut && until != deadline;
        // Woken: most likely the lock was released to us; the compare-and-swap says.
        state = UNLOCKED;
    }
}

/// Re-reads the word while it is held with nobody sleeping, at most `P::SPIN_LIMIT` times,
/// and returns what it saw last (`state`, the word's value the caller saw, when it does not
/// spin: explorers set `SPIN_LIMIT = 0`, where spinning only enlarges the search).
#[inline]
fn spin<P: Platform>(word: &P::AtomicU32, mut state: u32) -> u32 {
    for _ in 0..P::SPIN_LIMIT {
        if state == UNLOCKED || state & CONTENDED != 0 {
            break;
        }
        std::hint::spin_loop();
        state = word.load(Relaxed);
    }
    state
}

/// Releases the lock; `false` (and nothing changed) if it was not locked.
#[inline]
pub(crate) fn unlock<P: Platform>(word: &P::AtomicU32) -> bool {
    match word.swap(UNLOCKED, Release) {
        UNLOCKED => false,
        old => {
            if old & CONTENDED != 0 {
                P::wake(word, 1);
            }
            true
        }
    }
}

/// `true` if someone holds the lock.
#[inline]
pub(crate) fn is_locked<P: Platform>(word: &P::AtomicU32) -> bool {
    word.load(Relaxed) != UNLOCKED
}
