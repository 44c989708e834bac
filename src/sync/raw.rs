//! The futex mutex every lock in this module is built on.
//!
//! The mutex is mutex #3 of Ulrich Drepper, "Futexes Are Tricky" (2011): one word that is
//! `UNLOCKED`, `LOCKED` (no waiters) or `CONTENDED` (maybe waiters). Lock: compare-and-swap
//! `UNLOCKED → LOCKED`; on failure spin briefly ([`Platform::SPIN_LIMIT`]), then swap in
//! `CONTENDED` and sleep while the word is `CONTENDED`. Unlock: swap in `UNLOCKED` and wake one
//! sleeper only if the old value was `CONTENDED`, so an uncontended unlock makes no system call.
//! Acquire on lock and Release on unlock are enough: everything written under the lock is
//! published by the unlock's Release and seen after the next lock's Acquire.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::platform::{Atomic, Instant, Platform, WaitOutcome};

pub(crate) const UNLOCKED: u32 = 0;
pub(crate) const LOCKED: u32 = 1;
pub(crate) const CONTENDED: u32 = 2;

/// Takes the lock if it is free; never blocks.
#[inline]
pub(crate) fn try_lock<P: Platform>(word: &P::AtomicU32) -> bool {
    word.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
        .is_ok()
}

/// Takes the lock, waiting until `deadline` at most (`None`: forever). `true` if it was taken.
#[inline]
pub(crate) fn lock<P: Platform>(word: &P::AtomicU32, deadline: Option<Instant>) -> bool {
    try_lock::<P>(word) || lock_contended::<P>(word, deadline)
}

#[cold]
fn lock_contended<P: Platform>(word: &P::AtomicU32, deadline: Option<Instant>) -> bool {
    let mut state = spin::<P>(word);
    if state == UNLOCKED {
        match word.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed) {
            Ok(_) => return true,
            Err(now) => state = now,
        }
    }
    let mut timed_out = false;
    loop {
        // Swapping in CONTENDED (rather than LOCKED) when we take the lock here is what makes
        // the holder's unlock wake the next sleeper: we cannot know whether others still sleep.
        if state != CONTENDED && word.swap(CONTENDED, Acquire) == UNLOCKED {
            return true;
        }
        if timed_out {
            return false;
        }
        timed_out = P::wait(word, CONTENDED, deadline) == WaitOutcome::TimedOut;
        state = spin::<P>(word);
    }
}

/// Re-reads the word while it is `LOCKED` (held, nobody sleeping), at most `P::SPIN_LIMIT`
/// times, and returns what it saw last. With no spinning (`SPIN_LIMIT = 0`, as explorers set
/// it) it reads nothing and answers `LOCKED`: the caller then goes straight to the swap, which
/// is what it would do after an unsuccessful spin anyway.
#[inline]
fn spin<P: Platform>(word: &P::AtomicU32) -> u32 {
    let mut state = LOCKED;
    for _ in 0..P::SPIN_LIMIT {
        state = word.load(Relaxed);
        if state != LOCKED {
            break;
        }
        std::hint::spin_loop();
    }
    state
}

/// Releases the lock; `false` (and nothing changed) if it was not locked.
#[inline]
pub(crate) fn unlock<P: Platform>(word: &P::AtomicU32) -> bool {
    match word.swap(UNLOCKED, Release) {
        UNLOCKED => false,
        CONTENDED => {
            P::wake(word, 1);
            true
        }
        _ => true,
    }
}

/// `true` if someone holds the lock.
#[inline]
pub(crate) fn is_locked<P: Platform>(word: &P::AtomicU32) -> bool {
    word.load(Relaxed) != UNLOCKED
}
