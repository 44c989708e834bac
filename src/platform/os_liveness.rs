//! Which processes of a family are alive, for [`Os`](super::Os): process tokens that a lock
//! word can hold, and a liveness check that a reused pid cannot fool.
//!
//! # Tokens
//! The family's arena holds a table of processes ([`ProcessSlot`]s). A process takes a slot
//! the first time it needs a token ([`token`]): a free one, or one whose holder is dead. Its
//! token is `generation << 10 | slot`, where `generation` counts the takings of the slot (from
//! 1, 20 bits, never 0 nor all ones, which [`UNTRACKED`] uses): the token names one process
//! for as long as the family lives, and fits in the 30 bits a lock word keeps for its holder. A slot's taking writes the pid, then the
//! start time, then the new generation (`Release`); a check reads the generation first
//! (`Acquire`).
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
        let slot = &slots[(token & 1023) as usize];
        let _ = slot
            .pid
            .compare_exchange(pid_now(), 0, Ordering::Release, Ordering::Relaxed);
    }
}

fn pid_now() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

#[cold]
fn take_slot() -> u32 {
    let me = pid_now();
    let token = match (arena::process_slots(), start_time(me)) {
        (Ok(slots), Some(start)) => claim(slots, me, start).unwrap_or(UNTRACKED),
        _ => UNTRACKED,
    };
    TOKEN.store(token, Ordering::Relaxed);
    token
}

/// Takes a free slot, or one whose holder is dead; its token.
fn claim(slots: &[ProcessSlot; PROCESS_SLOTS], me: u32, start: u64) -> Option<u32> {
    for (index, slot) in slots.iter().enumerate() {
        let holder = slot.pid.load(Ordering::Acquire);
        let free = holder == 0 || !same_process(holder, slot.start.load(Ordering::Relaxed));
        if free
            && slot
                .pid
                .compare_exchange(holder, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            slot.start.store(start, Ordering::Relaxed);
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
    let pid = slot.pid.load(Ordering::Relaxed);
    let start = slot.start.load(Ordering::Relaxed);
    // Taken again since the generation was read: the token's process is dead.
    if slot.generation.load(Ordering::Acquire) != token >> 10 {
        return false;
    }
    pid != 0 && same_process(pid, start)
}

/// Whether process `pid` runs (not a zombie) and started at `start`.
fn same_process(pid: u32, start: u64) -> bool {
    match stat(pid) {
        Some((state, started)) => !matches!(state, 'Z' | 'X' | 'x') && started == start,
        None => false,
    }
}

/// The start time of process `pid`, in clock ticks after boot.
fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// The state letter and start time of process `pid`, from `/proc/<pid>/stat`; `None` if it
/// does not exist.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses: the
    // fields after it start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 3 (state) .. 22 (starttime): 19 more after the state.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
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
    fn a_token_of_a_slot_taken_again_is_dead() {
        let token = token();
        // The same slot, a later taking of it.
        let stale = token + (1 << 10);
        assert!(!alive(stale), "another generation of the same slot");
    }

    #[test]
    fn a_process_that_does_not_exist_is_dead() {
        assert!(!same_process(u32::MAX >> 1, 0));
        assert_eq!(stat(u32::MAX >> 1), None);
        let (state, _) = stat(pid_now()).unwrap();
        assert!(state.is_ascii_alphabetic());
        assert!(
            !same_process(pid_now(), start_time(pid_now()).unwrap() + 1),
            "a pid with another start time is another process"
        );
    }
}
