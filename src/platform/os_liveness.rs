//! Which processes of a family are alive, for [`Os`](super::Os): process tokens that a lock
//! word can hold, and a liveness check that a reused pid cannot fool.
//!
//! # Tokens
//! The family's arena holds a table of processes ([`ProcessSlot`]s). A process takes a slot
//! the first time it needs a token ([`token`]): a free one, or one whose holder is dead. Its
//! token is `generation << 10 | slot`, where `generation` counts the takings of the slot (from
//! 1, 20 bits, never 0 nor all ones, which [`UNTRACKED`] uses): the token names one process
//! for as long as the family lives, and fits in the 30 bits a lock word keeps for its holder.
//! A slot's taking writes its holder, the pid and the start time in one word, by one
//! compare-and-swap, then the new generation (`Release`); a check reads the generation first
//! (`Acquire`). (The pid and the start time were two words, written one after the other: a
//! process that looked at the slot between the two writes saw the new pid with the old start
//! time, took the slot for a dead holder's and took it too, and the two processes shared one
//! token, which the checks then found dead: a live lock holder was reported `OwnerDied`.)
//!
//! # Liveness
//! [`alive`]`(token)`: the slot's generation is still the token's, and the process with the
//! slot's pid exists, is not a zombie, and started at the slot's start time (field 22 of
//! `/proc/<pid>/stat`, in clock ticks after boot). A pid is reused only after the pid space
//! wraps around (`pid_max`, 4 million on 64-bit Linux), and a reused pid belongs to a process
//! with a later start time, so a dead holder whose pid was reused is still seen dead; two
//! processes with the same pid and the same start tick would need the whole pid space to wrap
//! within one tick (10 ms). This is why the table keeps start times rather than trusting
//! `kill(pid, 0)`; a pidfd would be as exact, but a waiter cannot open one for a process that
//! may already be gone and know it is the right one.
//!
//! The kernel's own mechanism, robust futex lists (`set_robust_list`), would mark a dead
//! holder's word at once, but a thread has one list and glibc owns it (for robust pthread
//! mutexes): entries of ours in it would have to follow glibc's layout. Waiters poll instead:
//! a task that waits on a word held by another process sleeps at most
//! [`Platform::LIVENESS_POLL`](super::Platform::LIVENESS_POLL) at a time and looks whether
//! the holder is alive, which costs nothing while nobody waits.
//!
//! More processes alive at once than the table holds (1024) get the untracked token
//! [`UNTRACKED`], which every check finds alive: their deaths are not detected (documented).

use std::sync::atomic::{AtomicU32, Ordering};

use super::arena::{self, ProcessSlot, PROCESS_SLOTS};

/// The token of a process without a slot: always alive.
pub(crate) const UNTRACKED: u32 = (1 << 30) - 1;

/// The generation field of a token: 20 bits above the slot's 10.
const GENERATIONS: u32 = 1 << 20;

/// This process's token; 0 before the first [`token`] (and again after a fork, in the
/// child).
static TOKEN: AtomicU32 = AtomicU32::new(0);

/// Pids fit in 22 bits (the kernel's `PID_MAX_LIMIT` is 2^22).
const PID_BITS: u32 = 22;

/// The pid's bits of a holder word.
const PID_MASK: u64 = (1 << PID_BITS) - 1;

/// A slot's holder word: `start << 22 | pid` (start times in clock ticks fit in the other 42
/// bits for well over a thousand years of uptime); `None` for a pid that does not fit.
fn holder(pid: u32, start: u64) -> Option<u64> {
    (pid < 1 << PID_BITS && start < 1 << (64 - PID_BITS))
        .then_some(start << PID_BITS | u64::from(pid))
}

/// This process's token (taking a slot of the family's table the first time).
#[inline]
pub(crate) fn token() -> u32 {
    match TOKEN.load(Ordering::Relaxed) {
        0 => take_slot(),
        token => token,
    }
}

/// Forgets this process's token: a fork child takes a slot of its own.
pub(crate) fn forget_token() {
    TOKEN.store(0, Ordering::Relaxed);
}

/// Gives this process's slot back (at its end): its token is then seen dead at once.
pub(crate) fn leave() {
    let token = TOKEN.swap(0, Ordering::Relaxed);
    if token == 0 || token == UNTRACKED {
        return;
    }
    if let Ok(slots) = arena::process_slots() {
        // The slot still holds this process's word: nobody takes a live holder's slot.
        let slot = &slots[(token & 1023) as usize];
        let held = slot.holder.load(Ordering::Relaxed);
        if held & PID_MASK == u64::from(pid_now()) {
            let _ = slot
                .holder
                .compare_exchange(held, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

fn pid_now() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

#[cold]
fn take_slot() -> u32 {
    let me = pid_now();
    let mine = start_time(me).and_then(|start| holder(me, start));
    let token = match (arena::process_slots(), mine) {
        (Ok(slots), Some(mine)) => claim(slots, mine).unwrap_or(UNTRACKED),
        _ => UNTRACKED,
    };
    TOKEN.store(token, Ordering::Relaxed);
    token
}

/// Takes a free slot, or one whose holder is dead, for the holder word `mine`; its token.
fn claim(slots: &[ProcessSlot; PROCESS_SLOTS], mine: u64) -> Option<u32> {
    for (index, slot) in slots.iter().enumerate() {
        let holder = slot.holder.load(Ordering::Acquire);
        let free = holder == 0 || !holds(holder);
        if free
            && slot
                .holder
                .compare_exchange(holder, mine, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // 1 ..= 2^20 - 2: never 0 (a token is nonzero), and never the generation that
            // would make slot 1023's token `UNTRACKED`.
            let generation = slot.generation.load(Ordering::Relaxed) % (GENERATIONS - 2) + 1;
            slot.generation.store(generation, Ordering::Release);
            return Some(generation << 10 | index as u32);
        }
    }
    None
}

/// Whether the process `token` names is alive (see the module docs).
pub(crate) fn alive(token: u32) -> bool {
    if token == UNTRACKED || token == 0 {
        return true;
    }
    let Ok(slots) = arena::process_slots() else {
        return true;
    };
    let slot = &slots[(token & 1023) as usize];
    if slot.generation.load(Ordering::Acquire) != token >> 10 {
        return false;
    }
    let holder = slot.holder.load(Ordering::Relaxed);
    // Taken again since the generation was read: the token's process is dead.
    if slot.generation.load(Ordering::Acquire) != token >> 10 {
        return false;
    }
    holder != 0 && holds(holder)
}

/// Whether the process of holder word `holder` is alive: its pid runs and started then.
fn holds(holder: u64) -> bool {
    let pid = (holder & PID_MASK) as u32;
    same_process(pid, holder >> PID_BITS)
}

/// Whether process `pid` runs (not a zombie) and started at `start`. A look that cannot tell
/// (`/proc` unreadable for another reason than the process being gone: no file descriptor
/// left, say) says alive: a waiter looks again later, where a wrong "dead" would hand a live
/// holder's lock to another.
fn same_process(pid: u32, start: u64) -> bool {
    match stat(pid) {
        Ok(Some((state, started))) => !matches!(state, 'Z' | 'X' | 'x') && started == start,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The start time of process `pid`, in clock ticks after boot.
fn start_time(pid: u32) -> Option<u64> {
    stat(pid).ok().flatten().map(|(_, start)| start)
}

/// The state letter and start time of process `pid`, from `/proc/<pid>/stat`; `Ok(None)` if
/// it does not exist, `Err` if that cannot be told (the file could not be read or parsed).
fn stat(pid: u32) -> std::io::Result<Option<(char, u64)>> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text,
        // Gone (or never there): ENOENT; ESRCH when it went while the file was read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let unreadable = || std::io::Error::other(format!("/proc/{pid}/stat: {text:?}"));
    // The command name (field 2) is in parentheses and may hold spaces or parentheses: the
    // fields after it start after the last ')'.
    let parse = || {
        let rest = &text[text.rfind(')')? + 1..];
        let mut fields = rest.split_ascii_whitespace();
        let state = fields.next()?.chars().next()?;
        // Fields 3 (state) .. 22 (starttime): 19 more after the state.
        let start = fields.nth(18)?.parse().ok()?;
        Some((state, start))
    };
    parse().map(Some).ok_or_else(unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_has_a_token() {
        let token = token();
        assert_ne!(token, 0);
        assert!(token < 1 << 30);
        assert_eq!(super::token(), token, "cached");
        assert!(alive(token));
        assert!(start_time(pid_now()).is_some());
    }

    #[test]
    fn a_holder_word_keeps_the_pid_and_the_start_time() {
        let word = holder(4_194_303, 123_456_789).unwrap();
        assert_eq!(word & PID_MASK, 4_194_303);
        assert_eq!(word >> PID_BITS, 123_456_789);
        assert_eq!(
            holder(1 << PID_BITS, 1),
            None,
            "a pid beyond the kernel's limit"
        );
        let me = pid_now();
        assert!(holds(holder(me, start_time(me).unwrap()).unwrap()));
        assert!(!holds(holder(me, start_time(me).unwrap() + 1).unwrap()));
    }

    #[test]
    fn a_claim_takes_the_first_slot_not_held_by_a_live_process() {
        let slots: [ProcessSlot; PROCESS_SLOTS] = std::array::from_fn(|_| ProcessSlot {
            holder: std::sync::atomic::AtomicU64::new(0),
            generation: AtomicU32::new(0),
        });
        let me = pid_now();
        let mine = holder(me, start_time(me).unwrap()).unwrap();
        let first = claim(&slots, mine).unwrap();
        assert_eq!(first & 1023, 0);
        assert_eq!(slots[0].holder.load(Ordering::Relaxed), mine);
        // Slot 0's holder lives: the next claim takes slot 1, with a token of its own.
        let second = claim(&slots, mine).unwrap();
        assert_eq!(second & 1023, 1);
        // A holder that does not run (this pid, but another start time: a process that had
        // the pid before) leaves its slot to be taken, with the next generation, so that its
        // token is dead.
        let gone = holder(me, start_time(me).unwrap() + 1).unwrap();
        slots[0].holder.store(gone, Ordering::Relaxed);
        let third = claim(&slots, mine).unwrap();
        assert_eq!(third & 1023, 0);
        assert_eq!(third >> 10, (first >> 10) + 1);
    }

    #[test]
    fn a_token_of_a_slot_taken_again_is_dead() {
        let token = token();
        // The same slot, a later taking of it.
        let stale = token + (1 << 10);
        assert!(!alive(stale), "another generation of the same slot");
    }

    #[test]
    fn a_process_that_does_not_exist_is_dead() {
        assert!(!same_process(u32::MAX >> 1, 0));
        assert!(matches!(stat(u32::MAX >> 1), Ok(None)));
        let (state, _) = stat(pid_now()).unwrap().unwrap();
        assert!(state.is_ascii_alphabetic());
        assert!(
            !same_process(pid_now(), start_time(pid_now()).unwrap() + 1),
            "a pid with another start time is another process"
        );
    }
}
