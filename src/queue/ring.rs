//! [`Ring`]: a bounded FIFO of byte frames in shared memory, the core of every queue.
//!
//! A lock-free array of slots after D. Vyukov's bounded MPMC queue, in platform atomic words
//! (position-independent, and every engine sees each word); tasks sleep on futex event words
//! only when they have to wait.
//!
//! **Slots.** The ring has `n` slots of two words: a *stamp* and 8 bytes of data, four slots to
//! a cache line (what decides the speed: each line crosses between cores a few times per lap,
//! so the more frames a line holds, the fewer crossings per frame). Positions `p = 0, 1, 2, ...`
//! count slots since creation and map to slot `p mod n`. The stamp says which position the
//! slot is ready for:
//!
//! - `2p`: free, for position `p`;
//! - `2p + 1`: holds the (published) data of position `p`;
//! - `2(p + n)`: emptied, so free for position `p + n` of the next lap.
//!
//! (Vyukov's stamps are `p` / `p + 1` / `p + n`; with `n = 1`, "holds p" and "free for p + 1"
//! would be the same stamp and a putter would overwrite unread data. The low bit keeps them
//! apart.) A frame is its length (a LEB128 varint) followed by its bytes, spread over as many
//! consecutive positions as it needs: a frame of up to 7 bytes takes one slot.
//!
//! **Put**: check that the frame's `m` positions from the *tail* `t` are free and that a
//! *ticket* is free (the frames in the ring, or on their way in, `puts - gets`, must stay below
//! `max_frames`: that is `maxsize`, exact whatever the frames' sizes); *claim* the tail's slot
//! (one compare-and-swap of its stamp, free for `t` → `writing(token)`, below), which no other
//! putter can then claim, so that the tail stays at `t` and the claimant alone changes the
//! count of frames admitted (`puts`, which it read before the claim and which cannot have
//! changed since); take the ticket (`puts + 1`); write the frame's first data word (its
//! length); move the tail (`t → t + m`, a compare-and-swap that fails only on a close); write
//! the rest of the data; publish the stamps (the first one last, with Release, so a getter
//! acquires one word). **Get**: read the stamp at the *head* `h`; if it says
//! published, claim the frame (one compare-and-swap of the stamp, → `reading(token)`), which
//! no other getter can then claim, so that the claimant alone gives the ticket back (`gets`)
//! and moves the head (`h → h + m`, a plain store); copy the bytes out; free the stamps for
//! the next lap (Release, after the reads). A putter (getter) that finds another one's claim
//! waits for it to move the tail (head): a few instructions, so even `try_put` (`try_get`)
//! waits, and a claimant wakes the sleepers of its side once it moved the cursor.
//!
//! **Closing** sets a bit in the tail word. A reservation ends with a compare-and-swap of that
//! same word, so every put either reserved before the close (and will publish: getters wait for
//! it) or sees the bit and is refused (undoing its ticket and giving up its claim). A getter is refused once the ring is closed *and* the head has caught
//! up with the tail: nothing is left, nothing is on its way.
//!
//! **Sleeping.** Each side has an event word, `seq << 1 | waiters`. A task about to sleep sets
//! the waiters bit, issues a *heavy* fence ([`Platform::heavy_fence`]), checks again, and waits
//! on the word; a task that published (or freed) slots issues a *light* fence
//! ([`Platform::light_fence`]) and reads the other side's word: only if the bit is set does it
//! clear the bit and bump `seq` (one compare-and-swap; only its winner makes the system call)
//! and wake every sleeper, each of which re-checks. Either the sleeper's check sees the change or
//! the notifier sees the bit: the two fences order them as two SeqCst fences would (which is
//! how the explorers model them). On `Os` the light half costs nothing at run time and the
//! heavy half is a system call, paid only on the way to sleep: a SeqCst fence on every put and
//! get waited, each time, for the store before it (the stamp, whose line the other side holds)
//! to reach the cache. Before sleeping, a task spins and yields a little (crossbeam's backoff;
//! none on the explorers, whose `SPIN_LIMIT` is 0), which saves most sleeps and wake-ups when
//! the other side is running.
//!
//! **Batches.** A putter that finds the ring full waits, while it spins, for a batch of free
//! tickets (a sixteenth of `max_frames`, at most 64) or free slots (a sixteenth of the slots, at
//! most 64) rather than for one: otherwise, in a full ring, every put reads the counter or the
//! line the getter is writing at that moment, and the line crosses between the cores twice per
//! frame. Once it is done spinning, one free place is enough (a getter that stops after one get
//! still lets it in), and the explorers, which do not spin, only ever ask for one.
//!
//! A joinable ring also counts unfinished frames (put, not yet marked done by
//! [`Ring::task_done`]): `puts - done`, where `puts` counts a frame before it is published (so
//! no getter can see an uncounted frame) and `done` counts `task_done`s; `join` sleeps on a
//! third event word until they are equal.
//!
//! **Dead processes.** A process may be killed anywhere inside a put or a get; nobody waits for
//! it for good, no frame is delivered twice or torn, a live putter's frames all arrive, and the
//! frame bound stays exact. Every step of a put or a get that others could wait for is made
//! while holding a claim named in a stamp, so a dead claimant is found there: a stamp may be
//! *owned*, bit 63 set and the owner's process token ([`Platform::process_token`]) in the low
//! 30 bits.
//!
//! - **A putter's claim** of the tail's slot, `writing(token)`, stays in the frame's first
//!   stamp until the publication overwrites it. The change of `puts` under it is *journaled*:
//!   the claim itself carries the parity `puts` had, so whoever takes the claim over from a
//!   dead claimant knows from the parity `puts` has now whether the ticket was taken (only
//!   claimants change `puts`, one at a time; a claimant refused by a close undoes its ticket
//!   and keeps its claim, so no other putter reads the count in between). A putter waiting at a dead
//!   claim with the tail still at `t` takes it over by one compare-and-swap of the stamp
//!   (keeping the journal, so that a taker that dies too leaves it right for the next), undoes
//!   the ticket if it was taken, and frees the slot: nothing was put. With the tail moved on,
//!   the frame was reserved and will never be published: a getter that waits at it takes it
//!   as lost, by claiming it as if published (one compare-and-swap decides who, so exactly one
//!   getter reports it: `Refused::Lost`, `Error::ItemLost`); that getter gives its ticket back,
//!   counts it done, frees its slots (its length, written before the tail moved, says how
//!   many), and the next get takes the next frame.
//! - **A getter's claim** of the frame at the head, `reading(token, first)` in its first stamp,
//!   journals the change of `gets` the same way (the claim carries it); then the getter stores
//!   `reading(token)` in the frame's other stamps and moves the head. A getter waiting at a dead claim with the head
//!   still at `h` takes it over (the frame is intact: it gets it, nothing is lost; the journal
//!   says whether the ticket went back). With the head moved on, the dead getter had taken the
//!   frame, which is gone with it: a putter that needs one of its slots frees it with one
//!   compare-and-swap, and the first slot's freer counts the frame done; `join` does the same
//!   for the slots behind the head, so it never waits for a frame whose getter died.
//!
//! A stamp's owner alone does not say which lap it is of: before acting, a look reads the
//! cursors by read-modify-writes (their latest values) and the stamp again. An owned stamp at
//! the tail's slot is position `t`'s claim once the head passed `t - n` (the slot was emptied);
//! one at the head's slot is position `h`'s once the tail passed `h` (a reservation found it
//! free); otherwise it is the lap before's, and the other side's business.
//!
//! When to look: as for a lock's dead holder (src/sync/raw.rs), on a platform with a
//! [`Platform::LIVENESS_POLL`] (`Os`, where a death wakes nobody and a look reads `/proc`) a
//! waiter sleeps at most that long and looks once a sleep ran out (the interval, or its own
//! timeout: a `get_timeout` looks before it says `Empty`, a `put_timeout` before it says
//! `Full`, also one whose deadline passed before it ever slept) without its cursor moving;
//! without one (the explorers, where a kill wakes every sleeper) its check before every sleep
//! looks too, at the stamps it reads anyway, and only at what it could clear (else it would
//! wake for good). A `try_get` or `try_put` on `Os` looks only when it waits for a claim. A
//! look asks about liveness only for a stamp owned by another process.
//!
//! A putter holds no ticket while it waits (it takes one under its claim, once the slots are
//! free), so one killed while it waits holds no room. What remains: a getter killed after
//! `get` returned and before `task_done` leaves its item unfinished: `join` cannot tell it from
//! one still being worked on (any process may call `task_done`, so no item is tied to one),
//! and waits, as Python's does; and a second death inside a recovery's own few steps between
//! its compare-and-swap and its count of a frame done (a lost frame, a dead getter's frame)
//! leaves `join` one frame short, for good (no count there is journaled: `task_done`s change
//! `done` from anywhere).

use std::cell::Cell;
use std::hint::spin_loop;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

use crate::platform::{
    poll_deadline, Atomic, AtomicInt, Instant, Padded, Platform, Shareable, WaitOutcome,
};
use crate::Error;

/// Bytes of data per slot.
const WORD: usize = 8;

/// Words per slot: the stamp and the data.
const SLOT_WORDS: usize = 2;

/// Words per cache line.
const WORDS_PER_LINE: usize = 8;

/// Frames up to this many bytes are copied out through the stack, without an allocation.
const STACK_FRAME: usize = 64;

/// The tail word's bit that says the ring is closed (positions stay far below it).
const CLOSED: u64 = 1 << 63;

/// The stamp of a slot free for position `p`.
const fn free(p: u64) -> u64 {
    p << 1
}

/// The stamp of a slot holding the published data of position `p`.
const fn full(p: u64) -> u64 {
    (p << 1) | 1
}

/// A stamp's bit that says a process owns the slot for now: a putter writing the frame that
/// starts there, or a getter reading the frame the slot is part of. The other bits say who
/// (its process token, [`Platform::process_token`]) and how. Positions stay below 2^62, so
/// no free or full stamp has it.
const OWNED: u64 = 1 << 63;

/// With [`OWNED`]: a getter is reading the slot (else a putter is writing).
const READING: u64 = 1 << 62;

/// With [`OWNED`] | [`READING`]: the slot is the first of the frame being read.
const FIRST: u64 = 1 << 61;

/// The process token in an owned stamp (30 bits).
const TOKEN: u64 = (1 << 30) - 1;

/// With [`OWNED`], in the stamp a claimant holds (a putter's claim of the tail's slot; the
/// first slot of a getter's frame): the claimant is changing a counter that only a claimant
/// changes (`puts`, `gets`) by one, and the counter was even (or, with [`ODD`], odd) before.
/// Whoever takes the claim over from a dead claimant knows from the counter's parity whether
/// the change happened.
const JOURNAL: u64 = 1 << 60;

/// With [`JOURNAL`]: the counter was odd before the change.
const ODD: u64 = 1 << 59;

/// The journal of a change of a counter that is `counter` now.
const fn journal(counter: u64) -> u64 {
    JOURNAL | if counter & 1 != 0 { ODD } else { 0 }
}

/// Whether the change journaled in `stamp` happened, the counter being `counter` now (its
/// parity changed). `false` without a journal.
const fn journaled_done(stamp: u64, counter: u64) -> bool {
    stamp & JOURNAL != 0 && (stamp & ODD != 0) != (counter & 1 != 0)
}

/// The stamp of the first slot of a frame that the process `token` reserved and is writing
/// (its first data word, with the frame's length, is written; the frame is not published).
const fn writing(token: u32) -> u64 {
    OWNED | token as u64
}

/// The stamp of a slot whose frame the process `token` claimed and is reading (`first`: the
/// frame's first slot).
const fn reading(token: u32, first: bool) -> u64 {
    OWNED | READING | if first { FIRST } else { 0 } | token as u64
}

/// The process token an owned stamp names.
const fn owner(stamp: u64) -> u32 {
    (stamp & TOKEN) as u32
}

/// Points inside a put and a get where a test may stop a process (and kill it there): see
/// [`set_stop_hook`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopPoint {
    /// A put has claimed the tail's slot, taken its ticket and written the frame's length, and
    /// has not moved the tail yet.
    Reserving,
    /// A put has reserved its frame's slots (and its owned stamp names it), and has written
    /// only the frame's length.
    Reserved,
    /// A put has written its frame's bytes, and not yet published them.
    Written,
    /// A get has claimed the frame at the head (its first stamp names it) and given its
    /// ticket back, and has not moved the head yet.
    Claiming,
    /// A get has claimed its frame (its owned stamps name it), and not yet read it.
    Claimed,
}

/// The test hook of this process, if one is set.
static STOP_HOOK: std::sync::OnceLock<fn(StopPoint)> = std::sync::OnceLock::new();

/// Sets a function that every put and get of this process calls at each [`StopPoint`] (once
/// per process; `false` if one was set already). For tests that kill a process at an exact
/// point inside a put or a get: the hook tells the test, and blocks. Costs an untaken branch
/// on every put and get; the engines never set it.
#[doc(hidden)]
pub fn set_stop_hook(hook: fn(StopPoint)) -> bool {
    STOP_HOOK.set(hook).is_ok()
}

#[inline]
fn stop_point(point: StopPoint) {
    if let Some(hook) = STOP_HOOK.get() {
        hook(point);
    }
}

/// The bytes of `len` as a LEB128 varint.
fn varint_len(len: usize) -> usize {
    (usize::BITS - (len | 1).leading_zeros()).div_ceil(7) as usize
}

/// The positions a frame of `len` bytes takes: its varint length and its bytes, in 8-byte slots.
fn slots_for(len: usize) -> u64 {
    (varint_len(len) + len).div_ceil(WORD) as u64
}

/// Up to 8 bytes as a little-endian word (zero-padded), read as at most two overlapping loads
/// of 4 or 2 bytes: no byte-by-byte copy through the stack (whose narrow stores a wide load
/// could not forward from, stalling until they reach the cache).
#[inline]
fn pack(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    debug_assert!(n <= WORD);
    if let Ok(whole) = <[u8; WORD]>::try_from(bytes) {
        u64::from_le_bytes(whole)
    } else if n >= 4 {
        let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let high = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
        u64::from(low) | u64::from(high) << (8 * (n - 4))
    } else if n >= 2 {
        let low = u16::from_le_bytes([bytes[0], bytes[1]]);
        let high = u16::from_le_bytes([bytes[n - 2], bytes[n - 1]]);
        u64::from(low) | u64::from(high) << (8 * (n - 2))
    } else {
        bytes.first().map_or(0, |&byte| u64::from(byte))
    }
}

/// The first `out.len()` (at most 8) bytes of `word` into `out`, as [`pack`] put them.
#[inline]
fn unpack(word: u64, out: &mut [u8]) {
    let word = word.to_le_bytes();
    if let Ok(whole) = <&mut [u8; WORD]>::try_from(&mut *out) {
        *whole = word;
    } else {
        for (to, from) in out.iter_mut().zip(word) {
            *to = from;
        }
    }
}

/// Why a put or a get did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No room (put) or no frame (get), and the caller would not wait, or its time ran out.
    WouldBlock,
    /// The ring was closed.
    Closed,
    /// The frame at the head was lost: the process putting it died before publishing it
    /// (gets only; the head moved past it, and the next get takes the next frame).
    Lost,
    /// The frame can never fit, however long the put waits.
    TooLarge {
        /// The frame's payload bytes.
        len: usize,
        /// The largest payload the ring holds.
        max: usize,
    },
}

/// How long a put or get may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all.
    No,
    /// Until the operation can happen.
    Forever,
    /// Until this instant (on the platform's clock).
    Until(Instant),
}

impl Wait {
    /// How long the caller may wait at most: `None` if not at all, `Some(None)` forever.
    fn limit(self) -> Option<Option<Instant>> {
        match self {
            Wait::No => None,
            Wait::Forever => Some(None),
            Wait::Until(deadline) => Some(Some(deadline)),
        }
    }

    /// The deadline to sleep until, or `Err` if the caller must not wait (any more).
    fn deadline<P: Platform>(self) -> Result<Option<Instant>, Refused> {
        match self {
            Wait::No => Err(Refused::WouldBlock),
            Wait::Forever => Ok(None),
            Wait::Until(deadline) if P::now() >= deadline => Err(Refused::WouldBlock),
            Wait::Until(deadline) => Ok(Some(deadline)),
        }
    }
}

/// Why a reservation did not happen now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// No ticket is free (the frame bound).
    Tickets,
    /// The slots at the tail still hold the lap before's frames (or a getter holds them).
    Slots,
    /// Another putter claimed the tail's slot and has not moved the tail yet (or died there).
    Busy,
    /// The ring is closed.
    Closed,
}

/// What a getter found at the head.
enum Claim {
    /// A frame it claimed: its position, its slots and its first data word.
    Frame(u64, u64, [u8; WORD]),
    /// Nothing published.
    Empty,
    /// Another getter claimed the frame there and has not moved the head yet (or died there).
    Busy,
}

/// What a getter cleared at the head from a dead process.
enum Recovered {
    /// A frame the dead process was taking, now this getter's: its slots and first data word.
    Frame(u64, [u8; WORD]),
    /// A frame the dead process was putting, lost.
    Lost,
}

/// Eight words on one cache line of their own: the slots' storage, four slots to a line, none
/// straddling two.
#[repr(C, align(64))]
struct Line<W>([W; WORDS_PER_LINE]);

// SAFETY: words, inline.
unsafe impl<W: Shareable> Shareable for Line<W> {}

/// The ring's cursors, counters and event words.
struct Control<P: Platform> {
    /// The position of the next frame to take (written by getters only).
    head: Padded<P::AtomicU64>,
    /// The position of the next slot to reserve, `| CLOSED` once closed (written by putters and
    /// `close` only).
    tail: Padded<P::AtomicU64>,
    /// Frames admitted since creation, less those undone (rings with a frame bound, where it
    /// counts tickets, and joinable rings). Only the putter that holds the claim of the tail's
    /// slot changes it.
    puts: Padded<P::AtomicU64>,
    /// Frames taken at the head since creation (rings with a frame bound only). Only the getter
    /// that holds the claim of the head's slot changes it. `puts - gets` is the frames in the
    /// ring or on their way in (the tickets held): at most `max_frames`.
    gets: Padded<P::AtomicU64>,
    /// Getters sleep here for a frame: `seq << 1 | waiters`.
    not_empty: Padded<P::AtomicU32>,
    /// Putters sleep here for a ticket or for slots: `seq << 1 | waiters`.
    not_full: Padded<P::AtomicU32>,
    /// Frames marked done (joinable rings only), by `task_done` and for frames nobody will
    /// get: `puts - done` are unfinished.
    done: P::AtomicU64,
    /// `join` sleeps here for `unfinished` to reach 0: `seq << 1 | waiters`.
    all_done: P::AtomicU32,
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for Control<P> {}

/// A bounded FIFO of byte frames; clones are handles to the same ring.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub(crate) struct Ring<P: Platform> {
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    control: P::Shared<Control<P>>,
    /// `n` slots of two words each, in whole lines.
    #[serde(
        serialize_with = "crate::platform::wire::ser_slice::<P, _, _>",
        deserialize_with = "crate::platform::wire::de_slice::<P, _, _>"
    )]
    lines: P::Shared<[Line<P::AtomicU64>]>,
    /// The number of slots.
    n: u64,
    /// At most this many frames at once (a queue's `maxsize`, or `u64::MAX`).
    max_frames: u64,
    /// The largest payload a frame may have: the slots' bytes, less its varint length.
    max_payload: usize,
    joinable: bool,
    /// The last value of `gets` this handle read: `gets` only grows, so `puts - gets_seen`
    /// bounds the frames in the ring from above, and a putter reads the getters' counter (a
    /// cache line they write) only when this bound says the ring may be full. Local to the
    /// handle (a hint, not shared state: any value at most `gets` is correct).
    #[serde(skip)]
    gets_seen: std::sync::atomic::AtomicU64,
}

impl<P: Platform> Clone for Ring<P> {
    fn clone(&self) -> Self {
        Ring {
            control: self.control.clone(),
            lines: self.lines.clone(),
            n: self.n,
            max_frames: self.max_frames,
            max_payload: self.max_payload,
            joinable: self.joinable,
            gets_seen: self.gets_seen.load(Relaxed).into(),
        }
    }
}

/// Crossbeam's backoff: spin 1, 2, 4, ... 64 times, then yield the processor 4 times; after
/// that, or at once on a platform that does not spin (the explorers), it is time to sleep.
struct Backoff(u32);

impl Backoff {
    /// Waits a little and returns `true`, or returns `false` when the caller should sleep.
    fn snooze<P: Platform>(&mut self) -> bool {
        if P::SPIN_LIMIT == 0 || self.0 > 10 {
            return false;
        }
        if self.0 <= 6 {
            for _ in 0..1u32 << self.0 {
                spin_loop();
            }
        } else {
            P::yield_now();
        }
        self.0 += 1;
        true
    }
}

impl<P: Platform> Ring<P> {
    /// A ring of `capacity` bytes of data (rounded up to whole 8-byte slots; frames also store
    /// their length) holding at most `max_frames` frames (at least 1).
    pub(crate) fn new(capacity: usize, max_frames: usize) -> Result<Self, Error> {
        Self::make(capacity, max_frames, false)
    }

    /// As [`Ring::new`], counting unfinished frames for [`Ring::task_done`] and [`Ring::join`].
    pub(crate) fn joinable(capacity: usize, max_frames: usize) -> Result<Self, Error> {
        Self::make(capacity, max_frames, true)
    }

    fn make(capacity: usize, max_frames: usize, joinable: bool) -> Result<Self, Error> {
        if max_frames == 0 {
            return Err(Error::InvalidArgument(
                "a queue must hold at least one item".to_owned(),
            ));
        }
        let n = capacity.div_ceil(WORD).max(1);
        let lines = P::share_slice((n * SLOT_WORDS).div_ceil(WORDS_PER_LINE), |line| {
            Line(std::array::from_fn(|j| {
                let i = line * WORDS_PER_LINE + j;
                P::AtomicU64::new(if i % SLOT_WORDS == 0 {
                    free((i / SLOT_WORDS) as u64)
                } else {
                    0
                })
            }))
        })
        .map_err(|e| e.within(format_args!("a queue of {capacity} bytes")))?;
        for (i, word) in lines.iter().flat_map(|line| &line.0).enumerate() {
            word.label(if i % SLOT_WORDS == 0 {
                "Queue.stamp"
            } else {
                "Queue.data"
            });
        }
        // No ordering needed here: this is for `Os`, whose first light fence registers the
        // process for the heavy half. That takes 2 µs in a process without threads yet (where
        // rings are usually made), and about 10 ms once it has some (the kernel waits for an
        // RCU grace period): better paid here than by the first put.
        P::light_fence();
        let control: P::Shared<Control<P>> = P::share(Control {
            head: Padded(P::AtomicU64::new(0)),
            tail: Padded(P::AtomicU64::new(0)),
            puts: Padded(P::AtomicU64::new(0)),
            gets: Padded(P::AtomicU64::new(0)),
            not_empty: Padded(P::AtomicU32::new(0)),
            not_full: Padded(P::AtomicU32::new(0)),
            done: P::AtomicU64::new(0),
            all_done: P::AtomicU32::new(0),
        });
        control.head.label("Queue.head");
        control.tail.label("Queue.tail");
        control.puts.label("Queue.puts");
        control.gets.label("Queue.gets");
        control.not_empty.label("Queue.not_empty");
        control.not_full.label("Queue.not_full");
        control.done.label("Queue.done");
        control.all_done.label("Queue.all_done");
        Ok(Ring {
            control,
            lines,
            n: n as u64,
            max_frames: max_frames as u64,
            max_payload: {
                let bytes = n * WORD;
                let mut len = bytes - 1;
                while len + varint_len(len) > bytes {
                    len -= 1;
                }
                len
            },
            joinable,
            gets_seen: 0.into(),
        })
    }

    /// The word that stands for the ring's queue in traces (its head).
    pub(crate) fn object(&self) -> &P::AtomicU64 {
        &self.control.head
    }

    /// `true` for a ring made by [`Ring::joinable`].
    pub(crate) fn is_joinable(&self) -> bool {
        self.joinable
    }

    /// The largest payload a frame may have: the slots' bytes, less its varint length.
    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The index in the storage of the stamp of position `p`'s slot (its data word is next).
    #[inline]
    fn slot(&self, p: u64) -> usize {
        let i = if self.n.is_power_of_two() {
            p & (self.n - 1)
        } else {
            p % self.n
        };
        i as usize * SLOT_WORDS
    }

    /// The word at index `i` of the slots' storage.
    #[inline]
    fn word(&self, i: usize) -> &P::AtomicU64 {
        &self.lines[i / WORDS_PER_LINE].0[i % WORDS_PER_LINE]
    }

    #[inline]
    fn stamp(&self, p: u64) -> &P::AtomicU64 {
        self.word(self.slot(p))
    }

    #[inline]
    fn data(&self, p: u64) -> &P::AtomicU64 {
        self.word(self.slot(p) + 1)
    }

    /// How many free tickets a putter that found the ring full waits for while it spins (see
    /// [`Ring::put`]): a sixteenth of `max_frames`, between 1 and 64.
    fn batch(&self) -> u64 {
        (self.max_frames / 16).clamp(1, 64)
    }

    /// How many free slots beyond its frame's a putter that found the slots full waits for
    /// while it spins: a sixteenth of the slots, at most 64.
    fn batch_slots(&self) -> u64 {
        (self.n / 16).min(64)
    }

    /// `true` if the ring counts tickets: it has a frame bound.
    #[inline]
    fn bounded(&self) -> bool {
        self.max_frames != u64::MAX
    }

    /// `true` if the ring counts the frames put (`puts`): it has a frame bound, or is joinable.
    #[inline]
    fn counts_puts(&self) -> bool {
        self.bounded() || self.joinable
    }

    /// Frames in the ring now: exact whenever no put or get is under way; never more than
    /// `max_frames`. With a frame bound, the tickets taken (a put counts from the moment it has
    /// a place, a get until it has its frame); without one, the frames between the head and the
    /// tail, walked from one frame's start to the next (a frame still being written counts one
    /// per slot).
    pub(crate) fn len(&self) -> usize {
        let c = &*self.control;
        if self.bounded() {
            return self.tickets() as usize;
        }
        let mut p = c.head.load(Acquire);
        let tail = c.tail.load(Acquire) & !CLOSED;
        let mut frames = 0;
        while p < tail {
            frames += 1;
            p += if self.stamp(p).load(Acquire) == full(p) {
                slots_for(read_varint(&self.data(p).load(Relaxed).to_le_bytes()).0)
            } else {
                1
            };
        }
        frames
    }

    /// `true` if the ring holds its `max_frames` frames now.
    pub(crate) fn is_full(&self) -> bool {
        self.bounded() && self.tickets() >= self.max_frames
    }

    /// Closes the ring: every put from now on, and every one waiting, is refused with
    /// [`Refused::Closed`]; gets still take the frames left, and are refused once none is.
    pub(crate) fn close(&self) {
        let c = &*self.control;
        c.tail.fetch_or(CLOSED, SeqCst);
        notify::<P>(&c.not_empty);
        notify::<P>(&c.not_full);
    }

    /// `true` once closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.control.tail.load(Acquire) & CLOSED != 0
    }

    /// Appends `frame`, waiting for room as `wait` allows.
    pub(crate) fn put(&self, frame: &[u8], wait: Wait) -> Result<(), Refused> {
        let max = self.max_payload();
        if frame.len() > max {
            return Err(Refused::TooLarge {
                len: frame.len(),
                max,
            });
        }
        let m = slots_for(frame.len());
        let (first, rest) = first_word(frame);
        let c = &*self.control;
        // The specification: a put that waits can complete once its frame fits (or the ring
        // is closed).
        if let Some(deadline) = wait.limit() {
            P::ready_if(&|| self.can_put(m, false, &Cell::new(false)), deadline);
        }
        let attempt = |room, spare| match self.reserve(m, first, room, spare) {
            Ok(t) => {
                self.publish(t, m, rest);
                Ok(None)
            }
            Err(Blocked::Closed) => Err(Refused::Closed),
            Err(blocked) => Ok(Some(blocked)),
        };
        // Whether to look for a dead process in the way: once a sleep ran out without the
        // tail moving, or (where a kill wakes the sleepers) once the check before sleeping saw
        // one.
        let mut look_now = false;
        let mut backoff = Backoff(0);
        let (mut room, mut spare) = (1, 0);
        loop {
            let Some(mut blocked) = attempt(room, spare)? else {
                return Ok(());
            };
            // Another putter's claim lasts a few instructions (unless it died there, which a
            // look finds): every put waits for it, even one that would not wait for room.
            if (blocked == Blocked::Busy || !matches!(wait, Wait::No)) && backoff.snooze::<P>() {
                // While it spins, a putter that found the ring full waits for a batch of free
                // places, not one: it then reads the getters' counter once per batch instead
                // of once per frame (each read takes the counter's cache line from the getter
                // about to write it), and writes lines the getters have left rather than the
                // one they are freeing.
                match blocked {
                    Blocked::Tickets => room = self.batch(),
                    Blocked::Slots => spare = self.batch_slots(),
                    Blocked::Busy | Blocked::Closed => {}
                }
                continue;
            }
            backoff = Backoff(0);
            if room > 1 || spare > 0 {
                // Done spinning: one free place will do, and it sleeps if there is none.
                (room, spare) = (1, 0);
                match attempt(1, 0)? {
                    None => return Ok(()),
                    Some(now) => blocked = now,
                }
            }
            let t = c.tail.load(Relaxed);
            if look_now && self.recover_at_tail(t, m) {
                continue;
            }
            let deadline = if blocked == Blocked::Busy {
                None
            } else {
                match wait.deadline::<P>() {
                    // Out of time before any look: a timed put looks once before it says so
                    // (however short its timeout, or late it ran), so that the slots a dead
                    // getter held, or a dead putter's claim, do not keep the ring full.
                    Err(refused) if !look_now && matches!(wait, Wait::Until(_)) => {
                        look_now = true;
                        if self.recover_at_tail(t, m) {
                            continue;
                        }
                        return Err(refused);
                    }
                    deadline => deadline?,
                }
            };
            let until = poll_deadline::<P>(deadline);
            let dead = Cell::new(false);
            let busy = blocked == Blocked::Busy;
            let timed_out = sleep::<P>(&c.not_full, until, || self.can_put(m, busy, &dead));
            look_now |= dead.get() || (timed_out && c.tail.load(Relaxed) == t);
        }
    }

    /// Reserves `m` positions at the tail and writes the frame's `first` data word there:
    /// `Ok(first position)`, or why not (see [`Blocked`]; `Tickets` and `Slots` also when
    /// fewer than `room` tickets, or not the `spare` slots after the frame's, are free).
    ///
    /// The putter first claims the tail's slot (its stamp, free for this position, becomes
    /// `writing(token)`), which no other putter can then claim: it alone takes the ticket
    /// (`puts`, journaled in the stamp) and moves the tail past the frame. A putter that finds
    /// the claim waits for the tail to move ([`Blocked::Busy`]).
    #[inline]
    fn reserve(&self, m: u64, first: u64, room: u64, spare: u64) -> Result<u64, Blocked> {
        let c = &*self.control;
        let mut t = c.tail.load(Acquire);
        'retry: loop {
            if t & CLOSED != 0 {
                return Err(Blocked::Closed);
            }
            if spare > 0 && m + spare <= self.n {
                // Getters free slots in order, near enough: the last spare one stands for all.
                let last = t + m + spare - 1;
                if self.stamp(last).load(Relaxed) != free(last) {
                    return Err(Blocked::Slots);
                }
            }
            for i in 0..m {
                let stamp = self.stamp(t + i).load(Acquire);
                if stamp != free(t + i) {
                    let now = c.tail.load(Acquire);
                    if now != t {
                        // Another putter moved the tail: try again there.
                        t = now;
                        continue 'retry;
                    }
                    if i == 0 && stamp & (OWNED | READING) == OWNED && self.taken(t) {
                        return Err(Blocked::Busy);
                    }
                    if stamp & OWNED != 0 || (stamp.wrapping_sub(free(t + i)) as i64) < 0 {
                        // The slot still holds the previous lap's frame (or a process is
                        // writing or reading it): full.
                        return Err(Blocked::Slots);
                    }
                    continue 'retry;
                }
            }
            // `puts`, read after the slot was found free (whose freer released it after any
            // change of its own), stays as read until this putter's claim: only a claimant of
            // the tail's slot changes it, and such a claimant moves the tail or keeps its claim
            // (the ring closed) unless it gives the claim up unchanged.
            let puts = if self.counts_puts() {
                c.puts.load(Relaxed)
            } else {
                0
            };
            if self.bounded() && !self.may_have_room(puts, room) {
                return Err(Blocked::Tickets);
            }
            // The claim journals the ticket it is about to take: whoever takes the claim of a
            // dead putter over knows from `puts`'s parity whether it was taken.
            let mut claim = writing(P::process_token());
            if self.counts_puts() {
                claim |= journal(puts);
            }
            if self
                .stamp(t)
                .compare_exchange(free(t), claim, Acquire, Relaxed)
                .is_err()
            {
                t = c.tail.load(Acquire);
                continue;
            }
            if self.counts_puts() {
                c.puts.store(puts + 1, Release);
            }
            // The length first, so that whoever finds the frame lost knows its slots.
            self.data(t).store(first, Relaxed);
            stop_point(StopPoint::Reserving);
            // Release: the data word, the count and the claim before the new tail (a getter
            // that finds the frame lost reads the tail first).
            if c.tail.compare_exchange(t, t + m, AcqRel, Relaxed).is_err() {
                // Closed meanwhile (nobody else moves the tail while the claim holds it): the
                // ticket is undone and the claim kept (no put will use the slot again, and so
                // no putter ever reads the count between the two).
                if self.counts_puts() {
                    c.puts.store(puts, Release);
                    if self.joinable {
                        notify::<P>(&c.all_done);
                    }
                }
                return Err(Blocked::Closed);
            }
            // Putters that found the claim and went to sleep wait for the tail to move.
            notify::<P>(&c.not_full);
            return Ok(t);
        }
    }

    /// `true` if the slot of position `t` was emptied of the lap before's frame (the head
    /// passed `t - n`): an owned stamp there at the tail is a putter's claim for `t`, and a
    /// reading stamp is a frame the dead getter had taken. (Its freer moved the head past
    /// `t - n` before it freed the slot, and the stamp read carries that, by its release
    /// sequence.)
    #[inline]
    fn taken(&self, t: u64) -> bool {
        self.control.head.load(Acquire) + self.n > t
    }

    /// Whether there is room for `room` more frames with `puts` tickets taken, by what this
    /// handle last saw of the getters' counter, then (if that says no) by its latest value.
    #[inline]
    fn may_have_room(&self, puts: u64, room: u64) -> bool {
        if puts.saturating_sub(self.gets_seen.load(Relaxed)) + room <= self.max_frames {
            return true;
        }
        let gets = self.control.gets.load(Acquire);
        self.gets_seen.fetch_max(gets, Relaxed);
        puts.saturating_sub(gets) + room <= self.max_frames
    }

    /// Gives up the claim of the tail's slot (position `t`) that a dead putter made, after
    /// undoing its ticket: the slot is free for `t` again, and the putters waiting for it are
    /// woken (and `join`, if the count went down: `undone`).
    fn release_claim(&self, t: u64, undone: bool) {
        let c = &*self.control;
        self.stamp(t).store(free(t), Release);
        notify::<P>(&c.not_full);
        if undone {
            notify::<P>(&c.all_done);
        }
    }

    /// Writes the rest of the frame (`rest`, the bytes after those in its first word) into the
    /// reserved positions `t + 1 .. t + m` and publishes it.
    #[inline]
    fn publish(&self, t: u64, m: u64, rest: &[u8]) {
        stop_point(StopPoint::Reserved);
        for (i, chunk) in rest.chunks(WORD).enumerate() {
            self.data(t + 1 + i as u64).store(pack(chunk), Relaxed);
        }
        stop_point(StopPoint::Written);
        for i in (1..m).rev() {
            self.stamp(t + i).store(full(t + i), Release);
        }
        self.stamp(t).store(full(t), Release);
        notify::<P>(&self.control.not_empty);
    }

    /// Can a put of `m` slots go on, or is the ring closed (a putter's check before it sleeps)?
    /// Reads the tail by a read-modify-write, which sees the latest value. A putter that found
    /// another's claim of the tail's slot (`busy`) waits only for that claim to go: it then
    /// tries again, and waits for room (if it may wait at all) with its own deadline. (Were
    /// it to wait for room here, a claimant that filled the ring and moved the tail before
    /// this check would leave it asleep with no deadline.)
    ///
    /// Where a kill wakes the sleepers (no [`Platform::LIVENESS_POLL`]) it also looks at the
    /// liveness of a process in the way that [`Ring::recover_at_tail`] can clear (the
    /// claimant of the tail's slot; a getter holding a slot it needs, once the head moved
    /// past it): a dead one makes it `true`, with `dead` set (the look costs no access of its
    /// own there; on `Os` a look reads `/proc`, and the putter looks only once a sleep ran
    /// out).
    fn can_put(&self, m: u64, busy: bool, dead: &Cell<bool>) -> bool {
        let c = &*self.control;
        let t = c.tail.fetch_add(0, AcqRel);
        if t & CLOSED != 0 {
            return true;
        }
        let looks = |stamp: u64| {
            P::LIVENESS_POLL.is_none()
                && owner(stamp) != P::process_token()
                && !P::process_alive(owner(stamp))
        };
        // First a claim of the tail's slot: a dead claimant may hold the last ticket.
        let stamp = self.stamp(t).load(Acquire);
        if stamp & (OWNED | READING) == OWNED && self.taken(t) {
            if looks(stamp) {
                dead.set(true);
                return true;
            }
            return false;
        }
        if busy {
            return true;
        }
        if self.bounded() && self.tickets() >= self.max_frames {
            return false;
        }
        (0..m).all(|i| {
            let stamp = self.stamp(t + i).load(Acquire);
            if stamp & OWNED == 0 {
                return (stamp.wrapping_sub(free(t + i)) as i64) >= 0;
            }
            if stamp & READING != 0 && self.taken(t + i) && looks(stamp) {
                dead.set(true);
            }
            dead.get()
        })
    }

    /// Clears what a dead process left in the way of a put of `m` slots at the tail `t`: its
    /// claim of the tail's slot ([`Ring::free_dead_claim`]) or the slots its getter held
    /// ([`Ring::free_dead_readers`]). `true` if it cleared something.
    #[cold]
    fn recover_at_tail(&self, t: u64, m: u64) -> bool {
        self.free_dead_claim(t) | self.free_dead_readers(t, m)
    }

    /// Frees the claim of the slot of the tail `t` that a putter of a dead process made and
    /// died before moving the tail, and undoes its ticket if it took one (the journal in its
    /// stamp says). `true` if this call freed it.
    #[cold]
    fn free_dead_claim(&self, t: u64) -> bool {
        let c = &*self.control;
        let me = P::process_token();
        let stamp = self.stamp(t).load(Acquire);
        if stamp & (OWNED | READING) != OWNED
            || owner(stamp) == me
            || P::process_alive(owner(stamp))
        {
            return false;
        }
        // The claim is position `t`'s (not the lap before's frame, reserved and never
        // published) if the slot was emptied, and the dead putter did not move the tail if it
        // is still at `t` (latest value).
        if c.tail.fetch_add(0, AcqRel) & !CLOSED != t || !self.taken(t) {
            return false;
        }
        // One compare-and-swap decides who takes the claim over, keeping its journal (so that
        // a taker that dies too leaves it for the next).
        let taken = writing(me) | (stamp & (JOURNAL | ODD));
        if self
            .stamp(t)
            .compare_exchange(stamp, taken, Acquire, Relaxed)
            .is_err()
        {
            return false;
        }
        let puts = c.puts.load(Relaxed);
        let undo = journaled_done(stamp, puts);
        if undo {
            c.puts.store(puts - 1, Relaxed);
        }
        self.release_claim(t, undo && self.joinable);
        true
    }

    /// Frees the slots of positions `t .. t + m` (for this lap) that a getter of a dead process
    /// holds: it took their frame (of the lap before), moved the head past it, and died before
    /// freeing them. Only while the tail is still at `t` (a stale `t` frees nothing). `true` if
    /// it freed one.
    #[cold]
    fn free_dead_readers(&self, t: u64, m: u64) -> bool {
        let c = &*self.control;
        let me = P::process_token();
        let mut dead = None;
        let mut freed = false;
        for p in t..t + m {
            // First the stamp alone (a putter about to sleep usually finds no reader there).
            let stamp = self.stamp(p).load(Acquire);
            if stamp & (OWNED | READING) != OWNED | READING || owner(stamp) == me {
                continue;
            }
            let who = owner(stamp);
            let is_dead = match dead {
                Some((token, is_dead)) if token == who => is_dead,
                _ => {
                    let is_dead = !P::process_alive(who);
                    dead = Some((who, is_dead));
                    is_dead
                }
            };
            // Then read-modify-writes of the tail and the head (their latest values):
            // positions from `t` on are not reserved, so the reading stamp is the lap before's,
            // and if the head passed that position the dead getter had taken the frame (else
            // it died while claiming it, and the getters take it over). One compare-and-swap
            // decides who frees the slot (a token is never reused: a dead reader's stamp never
            // comes back).
            if is_dead
                && c.tail.fetch_add(0, AcqRel) == t
                && c.head.fetch_add(0, AcqRel) + self.n > p
                && self.free_dead_reader(p, stamp, p)
            {
                freed = true;
            }
        }
        if freed {
            notify::<P>(&c.not_full);
        }
        freed
    }

    /// The tickets held now (`puts - gets`; read in that order, so never more than
    /// `max_frames`).
    fn tickets(&self) -> u64 {
        let c = &*self.control;
        let puts = c.puts.load(Acquire);
        puts.saturating_sub(c.gets.load(Acquire))
    }

    /// Removes and returns the oldest frame, waiting for one as `wait` allows.
    #[cfg(test)]
    pub(crate) fn get(&self, wait: Wait) -> Result<Vec<u8>, Refused> {
        self.get_with(wait, <[u8]>::to_vec)
    }

    /// Removes the oldest frame, waiting for one as `wait` allows, and returns what `f` makes
    /// of its bytes. `f` runs on a copy (on the stack for a small frame: no allocation), after
    /// the frame's slots were freed.
    pub(crate) fn get_with<R>(&self, wait: Wait, f: impl FnOnce(&[u8]) -> R) -> Result<R, Refused> {
        let c = &*self.control;
        let mut backoff = Backoff(0);
        // Whether to look at the liveness of the process that holds the head's slot: once a
        // sleep ran out without the head moving, or (where a kill wakes the sleepers) once the
        // check before sleeping saw it dead.
        let mut look_now = false;
        // The specification: a get that waits can complete once a frame is published at the
        // head (or the ring is drained).
        if let Some(deadline) = wait.limit() {
            P::ready_if(&|| self.can_get(false, &Cell::new(false)), deadline);
        }
        let (h, m, first) = loop {
            let busy = match self.claim() {
                Claim::Frame(h, m, first) => break (h, m, first),
                Claim::Busy => true,
                Claim::Empty => false,
            };
            // While spinning, only the slot is read: the tail (the putters' line) only once it
            // is time to give up or sleep. Another getter's claim lasts a few instructions:
            // every get waits for it, even one that would not wait for a frame.
            if (busy || !matches!(wait, Wait::No)) && backoff.snooze::<P>() {
                continue;
            }
            let h = c.head.load(Relaxed);
            if self.drained(h) {
                return Err(Refused::Closed);
            }
            // A look at the head's holder: its frame taken over, or its item reported lost.
            let look = |h| match self.recover_at_head(h)? {
                Recovered::Frame(m, first) => Some(Ok((h, m, first))),
                Recovered::Lost => Some(Err(Refused::Lost)),
            };
            if look_now {
                if let Some(found) = look(h) {
                    break found?;
                }
            }
            let deadline = if busy {
                None
            } else {
                match wait.deadline::<P>() {
                    // Out of time before any look: a timed get looks once before it says so
                    // (however short its timeout, or late it ran), so that a dead putter's
                    // item is reported, not left to the next get.
                    Err(refused) if !look_now && matches!(wait, Wait::Until(_)) => {
                        if let Some(found) = look(h) {
                            break found?;
                        }
                        return Err(refused);
                    }
                    deadline => deadline?,
                }
            };
            backoff = Backoff(0);
            let until = poll_deadline::<P>(deadline);
            let dead = Cell::new(false);
            let timed_out = sleep::<P>(&c.not_empty, until, || self.can_get(busy, &dead));
            look_now |= dead.get() || (timed_out && c.head.load(Relaxed) == h);
        };
        stop_point(StopPoint::Claimed);
        let (len, at) = read_varint(&first);
        let head_len = len.min(WORD - at);
        // A small frame is copied out a whole word at a time (no byte loops, which the compiler
        // makes into calls to `memcpy`): the buffer has a word to spare for the last one's tail.
        let mut small = [0u8; STACK_FRAME + WORD];
        let mut large = Vec::new();
        let bytes: &[u8] = if len <= STACK_FRAME {
            small[..WORD].copy_from_slice(&(u64::from_le_bytes(first) >> (8 * at)).to_le_bytes());
            let mut to = head_len;
            for i in 1..m {
                let word = self.data(h + i).load(Relaxed);
                small[to..to + WORD].copy_from_slice(&word.to_le_bytes());
                to += WORD;
            }
            &small[..len]
        } else {
            large.resize(len, 0);
            let (head, rest) = large.split_at_mut(head_len);
            head.copy_from_slice(&first[at..at + head_len]);
            for (i, chunk) in rest.chunks_mut(WORD).enumerate() {
                unpack(self.data(h + 1 + i as u64).load(Relaxed), chunk);
            }
            &large
        };
        self.free_slots(h, m);
        Ok(f(bytes))
    }

    /// Frees the slots of the frame at positions `h .. h + m`, which this getter holds, for
    /// the next lap (Release: after its reads of the data), and wakes the putters waiting.
    fn free_slots(&self, h: u64, m: u64) {
        for i in (0..m).rev() {
            self.stamp(h + i).store(free(h + i + self.n), Release);
        }
        notify::<P>(&self.control.not_full);
    }

    /// Claims the frame at the head if one is published there: its first slot's stamp becomes
    /// `reading(token, first)` by one compare-and-swap, which no other getter can then make,
    /// and [`Ring::hold_head`] moves the head past the frame.
    #[inline]
    fn claim(&self) -> Claim {
        let c = &*self.control;
        // Acquire: `gets` as the getter that moved the head here left it.
        let mut h = c.head.load(Acquire);
        loop {
            let stamp = self.stamp(h).load(Acquire);
            let lag = stamp.wrapping_sub(full(h)) as i64;
            if lag == 0 {
                // The claim journals the ticket it is about to give back (`gets` stays as read
                // until the claim: only the claimant at the head changes it).
                let mut mine = reading(P::process_token(), true);
                if self.bounded() {
                    mine |= journal(c.gets.load(Relaxed));
                }
                // Acquire: the publisher's data (and every later slot of the frame).
                if self
                    .stamp(h)
                    .compare_exchange(full(h), mine, Acquire, Relaxed)
                    .is_ok()
                {
                    let first = self.data(h).load(Relaxed).to_le_bytes();
                    let m = slots_for(read_varint(&first).0);
                    self.hold_head(h, m, mine);
                    return Claim::Frame(h, m, first);
                }
                h = c.head.load(Acquire);
            } else if lag < 0 || stamp & OWNED != 0 {
                // Nothing published at h (yet; or a process writes or reads the slot): empty,
                // unless the head moved meanwhile, or another getter is taking the frame at h
                // (a claim of h's frame, not the lap before's, once the tail passed h: the
                // stamp read carries the tail's move, by its release sequence).
                let now = c.head.load(Acquire);
                if now != h {
                    h = now;
                    continue;
                }
                if stamp & (OWNED | READING | FIRST) == OWNED | READING | FIRST
                    && c.tail.load(Acquire) & !CLOSED > h
                {
                    return Claim::Busy;
                }
                return Claim::Empty;
            } else {
                // Another getter took position h: try again at the new head.
                h = c.head.load(Acquire);
            }
        }
    }

    /// With the claim of the frame at the head `h` (`m` slots; `mine`, the first slot's stamp
    /// as claimed, with the journal of a dead claimant taken over): gives its ticket back
    /// (journaled in the first stamp, unless the journal says it was given), names this
    /// process in its other slots, and moves the head past it. No other getter moves the head
    /// meanwhile: the claim holds it at `h`, and `gets` is this getter's alone to change.
    fn hold_head(&self, h: u64, m: u64, mine: u64) {
        let c = &*self.control;
        if self.bounded() {
            let gets = c.gets.load(Relaxed);
            if !journaled_done(mine, gets) {
                if mine & JOURNAL == 0 {
                    self.stamp(h).store(mine | journal(gets), Relaxed);
                }
                c.gets.store(gets + 1, Release);
            }
        }
        stop_point(StopPoint::Claiming);
        let me = P::process_token();
        for i in 1..m {
            self.stamp(h + i).store(reading(me, false), Relaxed);
        }
        // Release: the reading stamps before the head (a putter that frees a dead getter's
        // slots reads the head first).
        c.head.store(h + m, Release);
        // Getters that found the claim and went to sleep wait for the head to move.
        notify::<P>(&c.not_empty);
    }

    /// Clears what a dead process left at the head `h`: a frame it reserved and never
    /// published (taken as lost: [`Recovered::Lost`], the frame's slots freed, its ticket given
    /// back, its count done), or its claim of a published frame it had not taken yet (taken
    /// over: [`Recovered::Frame`], which the caller reads as its own). One compare-and-swap of
    /// the stamp decides who, so exactly one getter reports a lost frame.
    #[cold]
    fn recover_at_head(&self, h: u64) -> Option<Recovered> {
        let c = &*self.control;
        let me = P::process_token();
        // First the stamp alone (a getter about to sleep usually finds no owner there).
        let stamp = self.stamp(h).load(Acquire);
        let lost = stamp & (OWNED | READING) == OWNED;
        let claimed = stamp & (OWNED | READING | FIRST) == OWNED | READING | FIRST;
        if !(lost || claimed) || owner(stamp) == me || P::process_alive(owner(stamp)) {
            return None;
        }
        // Then read-modify-writes of the tail and the head, and the stamp again: once the tail
        // passed `h`, the stamp read after it is position h's (a reservation found its slot
        // free), a frame reserved or claimed; the head still at `h` says the dead claimant had
        // not moved it (only a claimant moves the head).
        if (c.tail.fetch_add(0, AcqRel) & !CLOSED) <= h
            || c.head.fetch_add(0, AcqRel) != h
            || self.stamp(h).load(Acquire) != stamp
        {
            return None;
        }
        let mine = reading(me, true) | if claimed { stamp & (JOURNAL | ODD) } else { 0 };
        if self
            .stamp(h)
            .compare_exchange(stamp, mine, Acquire, Relaxed)
            .is_err()
        {
            return None;
        }
        // The dead putter wrote the frame's length before it moved the tail (whose Release the
        // read-modify-write above acquired).
        let first = self.data(h).load(Relaxed).to_le_bytes();
        let m = slots_for(read_varint(&first).0);
        self.hold_head(h, m, mine);
        if claimed {
            return Some(Recovered::Frame(m, first));
        }
        // Counted by the dead putter with its ticket: done now, as nobody gets it.
        self.finish_one();
        self.free_slots(h, m);
        Some(Recovered::Lost)
    }

    /// Counts one frame done that nobody will mark done (joinable rings; lost frames).
    fn finish_one(&self) {
        if self.joinable {
            // `false` cannot happen: the frame was counted.
            let _ = self.task_done();
        }
    }

    /// Is the ring closed with the head at `h` caught up with its tail: nothing left, and no put
    /// that reserved before the close still to publish? Then nothing will ever be published at
    /// `h`. (A closed tail never moves again, so a stale `h` only makes this `false`, and the
    /// caller tries again.)
    fn drained(&self, h: u64) -> bool {
        let tail = self.control.tail.load(Acquire);
        tail & CLOSED != 0 && tail & !CLOSED == h
    }

    /// Is a frame published at the head, or is the ring drained (a getter's check before it
    /// sleeps)? Reads the head by a read-modify-write, which sees the latest value. A closed
    /// ring that still waits for a put's frame is not ready: that put's publication wakes the
    /// getter. A getter that found another's claim of the head's frame (`busy`) waits only for
    /// that claim to go, then tries again (with its own deadline, if it waits at all): the
    /// claimant may have taken the last frame and moved the head before this check.
    ///
    /// Where a kill wakes the sleepers (no [`Platform::LIVENESS_POLL`]) it also looks at the
    /// liveness of the process holding the head's slot, where [`Ring::recover_at_head`] can
    /// clear it (the tail passed the head): a dead one makes it `true`, with `dead` set (as
    /// [`Ring::can_put`]).
    fn can_get(&self, busy: bool, dead: &Cell<bool>) -> bool {
        let c = &*self.control;
        let h = c.head.fetch_add(0, AcqRel);
        let stamp = self.stamp(h).load(Acquire);
        if stamp & OWNED == 0 {
            return busy || (stamp.wrapping_sub(full(h)) as i64) >= 0 || self.drained(h);
        }
        if busy && stamp & (OWNED | READING | FIRST) != OWNED | READING | FIRST {
            // A putter's slot now: the claim it waited for is gone.
            return true;
        }
        let clearable = stamp & READING == 0 || stamp & FIRST != 0;
        if P::LIVENESS_POLL.is_none()
            && clearable
            && owner(stamp) != P::process_token()
            && c.tail.load(Acquire) & !CLOSED > h
            && !P::process_alive(owner(stamp))
        {
            dead.set(true);
            return true;
        }
        self.drained(h)
    }

    /// Marks one frame's work done (joinable rings); `false` if none is unfinished.
    pub(crate) fn task_done(&self) -> bool {
        let c = &*self.control;
        let mut done = c.done.load(Relaxed);
        loop {
            // The latest count of frames put (a stale one could refuse wrongly).
            let puts = c.puts.fetch_add(0, AcqRel);
            if done >= puts {
                return false;
            }
            match c.done.compare_exchange(done, done + 1, AcqRel, Relaxed) {
                Ok(_) => {
                    if done + 1 == puts {
                        notify::<P>(&c.all_done);
                    }
                    return true;
                }
                Err(now) => done = now,
            }
        }
    }

    /// The frames put and not yet marked done (joinable rings): `done` first, then the latest
    /// `puts`, so that a 0 was true at the moment `done` was read.
    fn unfinished(&self) -> u64 {
        let c = &*self.control;
        let done = c.done.load(Acquire);
        c.puts.fetch_add(0, AcqRel).saturating_sub(done)
    }

    /// Waits until every frame put has been marked done (joinable rings).
    ///
    /// A frame whose getter died inside `get` can never be marked done: it counts done once its
    /// slots are freed, by the putter that needs them or by `join` itself, which looks for such
    /// frames whenever a sleep ends with the count unchanged (on `Os`, a poll interval; where
    /// a kill wakes the sleepers, that wake-up). Not before its first sleep: the look reads
    /// every slot behind the head, which would multiply the explorers' searches of `join`.
    pub(crate) fn join(&self) {
        let c = &*self.control;
        let mut look_now = false;
        // The specification: `join` can complete once every frame put was marked done.
        P::ready_if(&|| self.unfinished() == 0, None);
        loop {
            let left = self.unfinished();
            if left == 0 {
                return;
            }
            if look_now && self.free_dead_readers_behind_head() {
                continue;
            }
            let until = poll_deadline::<P>(None);
            let timed_out = sleep::<P>(&c.all_done, until, || self.unfinished() == 0);
            look_now = (timed_out || P::LIVENESS_POLL.is_none()) && self.unfinished() == left;
        }
    }

    /// Frees slot `p`, which a getter of a dead process holds (`stamp`, its reading stamp),
    /// for position `to`: one compare-and-swap decides who frees it, and the freer of the
    /// frame's first slot counts the frame done (its item is lost to everyone). `true` if this
    /// call freed it.
    fn free_dead_reader(&self, p: u64, stamp: u64, to: u64) -> bool {
        if self
            .stamp(p)
            .compare_exchange(stamp, free(to), Release, Relaxed)
            .is_err()
        {
            return false;
        }
        if stamp & FIRST != 0 {
            self.finish_one();
        }
        true
    }

    /// Frees the slots behind the head (positions taken in the last lap) that a getter of a
    /// dead process holds, counting its frame done (see [`Ring::join`]). `true` if it freed one.
    #[cold]
    fn free_dead_readers_behind_head(&self) -> bool {
        let c = &*self.control;
        let me = P::process_token();
        let head = c.head.fetch_add(0, AcqRel);
        let mut freed = false;
        for p in head.saturating_sub(self.n)..head {
            let stamp = self.stamp(p).load(Acquire);
            if stamp & (OWNED | READING) != OWNED | READING
                || owner(stamp) == me
                || P::process_alive(owner(stamp))
            {
                continue;
            }
            // The stamp is position p's unless the head passed `p + n` meanwhile (the slot was
            // freed, used again, and its next frame taken by a getter that died too): the
            // latest head says. Then one compare-and-swap decides who frees it.
            if c.head.fetch_add(0, AcqRel) <= p + self.n
                && self.free_dead_reader(p, stamp, p + self.n)
            {
                freed = true;
            }
        }
        if freed {
            notify::<P>(&c.not_full);
        }
        freed
    }
}

/// A frame's first data word (its varint length, then as many of its bytes as fit) and the
/// rest of its bytes.
#[inline]
fn first_word(frame: &[u8]) -> (u64, &[u8]) {
    let mut first = 0u64;
    let mut len = frame.len() as u64;
    let mut at = 0;
    loop {
        let more = len >= 0x80;
        first |= ((len & 0x7F) | if more { 0x80 } else { 0 }) << (8 * at);
        at += 1;
        len >>= 7;
        if !more {
            break;
        }
    }
    let (head, rest) = frame.split_at(frame.len().min(WORD - at));
    if !head.is_empty() {
        first |= pack(head) << (8 * at);
    }
    (first, rest)
}

/// A frame's length and the bytes it takes, from the start of its first data word (written by
/// [`Ring::reserve`]: at most 8 bytes, as lengths stay below 2^56).
#[inline]
fn read_varint(first: &[u8; WORD]) -> (usize, usize) {
    if first[0] < 0x80 {
        return (usize::from(first[0]), 1);
    }
    let mut len = 0usize;
    for (at, byte) in first.iter().enumerate() {
        len |= usize::from(byte & 0x7F) << (7 * at);
        if byte & 0x80 == 0 {
            return (len, at + 1);
        }
    }
    (len, WORD)
}

/// Wakes the tasks sleeping on `event`, if any: after a light fence (ordering what the caller
/// just wrote before the read of the waiters bit), the first notifier to see the bit clears it
/// and bumps the sequence, and only it makes the system call.
#[inline]
fn notify<P: Platform>(event: &P::AtomicU32) {
    P::light_fence();
    let mut seen = event.load(Relaxed);
    if seen & 1 != 0 {
        wake_sleepers::<P>(event, &mut seen);
    }
}

#[cold]
fn wake_sleepers<P: Platform>(event: &P::AtomicU32, seen: &mut u32) {
    while *seen & 1 != 0 {
        match event.compare_exchange(*seen, seen.wrapping_add(2) & !1, Release, Relaxed) {
            Ok(_) => {
                P::wake(event, u32::MAX);
                return;
            }
            Err(now) => *seen = now,
        }
    }
}

/// Sleeps on `event` (until `deadline` at most) unless `ready()` holds once the waiters bit is
/// set: the bit, a heavy fence, the check, then the futex wait on the word as it was (a
/// notifier changes it, so a wake-up between the check and the wait is not lost). May return
/// early; the caller checks again. `true` if the sleep ran until the deadline.
#[cold]
fn sleep<P: Platform>(
    event: &P::AtomicU32,
    deadline: Option<Instant>,
    ready: impl Fn() -> bool,
) -> bool {
    // The specification (an engine that runs an operation as one step holds the task until
    // the check holds, and only then does it sleep: it then returns at once).
    P::ready_if(&ready, deadline);
    let seen = event.fetch_or(1, Relaxed) | 1;
    P::heavy_fence();
    !ready() && P::wait_watching_deaths(event, seen, deadline) == WaitOutcome::TimedOut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::deadline_after;
    use crate::Os;
    use std::time::Duration;

    #[test]
    fn varints() {
        assert_eq!(
            [0, 127, 128, 16_383, 16_384, (1 << 21) - 1, 1 << 21, 1 << 40].map(varint_len),
            [1, 1, 2, 2, 3, 3, 4, 6]
        );
        assert_eq!(
            [0, 7, 8, 15, 127, 128].map(slots_for),
            [1, 1, 2, 2, 16, 17],
            "the length's bytes count: 128 bytes and a 2-byte length take 17 slots"
        );
        // Each length as the first data word holds it, and each frame back whole.
        let ring = Ring::<Os>::new(32 * 1024, usize::MAX).unwrap();
        for len in [0, 1, 6, 7, 8, 127, 128, 16_383, 16_384] {
            let frame: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5A).collect();
            ring.put(&frame, Wait::No).unwrap();
            let head = ring.control.head.load(Relaxed);
            let first = ring.data(head).load(Relaxed).to_le_bytes();
            assert_eq!(read_varint(&first), (len, varint_len(len)), "length {len}");
            assert_eq!(ring.get(Wait::No).unwrap(), frame);
        }
    }

    #[test]
    fn frames_come_out_in_order_and_intact_across_the_wrap() {
        // 7 slots: frames of 0..=7 bytes take one, 8..=15 two, ..., and land at a new offset
        // each round, often wrapping the end.
        let ring = Ring::<Os>::new(56, 8).unwrap();
        assert_eq!(ring.n, 7);
        for round in 0..40u8 {
            let a = vec![round; (round % 8) as usize];
            let b = vec![round ^ 0xFF; 8 + round as usize % 15];
            ring.put(&a, Wait::No).unwrap();
            ring.put(&b, Wait::No).unwrap();
            assert_eq!(ring.len(), 2);
            assert_eq!(ring.get(Wait::No).unwrap(), a);
            assert_eq!(ring.get(Wait::No).unwrap(), b);
        }
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn one_slot_never_overwrites_its_frame() {
        let ring = Ring::<Os>::new(8, usize::MAX).unwrap();
        assert_eq!(ring.n, 1);
        for i in 0..5u8 {
            ring.put(&[i], Wait::No).unwrap();
            assert_eq!(ring.put(&[99], Wait::No), Err(Refused::WouldBlock));
            assert_eq!(ring.len(), 1, "the refused put gave its ticket back");
            assert_eq!(ring.get(Wait::No).unwrap(), [i]);
        }
    }

    #[test]
    fn maxsize_is_exact_whatever_the_frame_sizes() {
        let ring = Ring::<Os>::new(64 * 1024, 3).unwrap();
        assert_eq!(ring.max_payload(), 64 * 1024 - 3);
        ring.put(&[1; 1000], Wait::No).unwrap();
        ring.put(&[], Wait::No).unwrap();
        ring.put(&[3; 20], Wait::No).unwrap();
        assert!(ring.is_full());
        assert_eq!(ring.put(&[4], Wait::No), Err(Refused::WouldBlock));
        assert_eq!(ring.get(Wait::No).unwrap(), [1; 1000]);
        ring.put(&[4], Wait::No).unwrap();
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn refusals() {
        let ring = Ring::<Os>::new(32, 2).unwrap();
        assert_eq!(ring.max_payload(), 31);
        assert_eq!(
            ring.put(&[0; 32], Wait::Forever),
            Err(Refused::TooLarge { len: 32, max: 31 })
        );
        assert_eq!(ring.get(Wait::No), Err(Refused::WouldBlock));
        ring.put(b"a", Wait::No).unwrap();
        ring.put(b"b", Wait::No).unwrap();
        assert!(ring.is_full(), "two frames is the most it holds");
        assert_eq!(ring.put(b"c", Wait::No), Err(Refused::WouldBlock));
        let soon = deadline_after::<Os>(Duration::from_millis(1)).unwrap();
        assert_eq!(ring.put(b"c", Wait::Until(soon)), Err(Refused::WouldBlock));
        ring.close();
        assert!(ring.is_closed());
        assert_eq!(ring.put(b"d", Wait::Forever), Err(Refused::Closed));
        // The frames put before the close are still delivered, then the ring refuses.
        assert_eq!(ring.get(Wait::Forever).unwrap(), b"a");
        assert_eq!(ring.get(Wait::Forever).unwrap(), b"b");
        assert_eq!(ring.get(Wait::Forever), Err(Refused::Closed));
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn a_large_frame_waits_for_enough_slots() {
        // 8 slots: a 60-byte frame (and its 1-byte length) needs all of them.
        let ring = Ring::<Os>::new(64, usize::MAX).unwrap();
        ring.put(&[1; 20], Wait::No).unwrap();
        assert_eq!(ring.put(&[2; 60], Wait::No), Err(Refused::WouldBlock));
        assert_eq!(ring.len(), 1, "the refused put gave its ticket back");
        assert_eq!(ring.get(Wait::No).unwrap(), [1; 20]);
        ring.put(&[2; 60], Wait::No).unwrap();
        assert_eq!(ring.put(&[], Wait::No), Err(Refused::WouldBlock));
        assert_eq!(ring.get(Wait::No).unwrap(), [2; 60]);
        // Longer than the stack buffer, and with a 2-byte length.
        let ring = Ring::<Os>::new(1024, usize::MAX).unwrap();
        let big: Vec<u8> = (0..=255).cycle().take(1000).collect();
        ring.put(&big, Wait::No).unwrap();
        assert_eq!(ring.get(Wait::No).unwrap(), big);
    }

    /// A putter blocked on a full ring waits, while it spins, for a batch of free places; one
    /// get must still be enough to let it through, whether the ring is full by its frame bound
    /// (tickets) or by its slots.
    #[test]
    fn one_free_place_lets_a_waiting_putter_in() {
        // Full by tickets: 64 frames (a batch of 4 while spinning).
        let by_tickets = Ring::<Os>::new(1024, 64).unwrap();
        // Full by slots: 64 one-slot frames fill 64 slots (a batch of 4 more while spinning).
        let by_slots = Ring::<Os>::new(64 * WORD, usize::MAX).unwrap();
        for ring in [by_tickets, by_slots] {
            assert!(ring.batch() > 1 || ring.batch_slots() > 0);
            for i in 0..64u8 {
                ring.put(&[i], Wait::No).unwrap();
            }
            assert_eq!(ring.put(&[64], Wait::No), Err(Refused::WouldBlock));
            let r = ring.clone();
            let putter = std::thread::spawn(move || r.put(&[64], Wait::Forever));
            assert_eq!(ring.get(Wait::No).unwrap(), [0]);
            assert_eq!(putter.join().unwrap(), Ok(()));
            for i in 1..=64u8 {
                assert_eq!(ring.get(Wait::No).unwrap(), [i]);
            }
        }
    }

    #[test]
    fn close_wakes_a_waiting_getter() {
        let ring = Ring::<Os>::new(64, 4).unwrap();
        let r = ring.clone();
        let getter = std::thread::spawn(move || r.get(Wait::Forever));
        // Whether the getter is already asleep or not, it must end with Closed.
        ring.close();
        assert_eq!(getter.join().unwrap(), Err(Refused::Closed));
    }

    #[test]
    fn joinable_counts_unfinished_frames() {
        let ring = Ring::<Os>::joinable(64, 4).unwrap();
        assert!(!ring.task_done(), "nothing was put");
        ring.join(); // nothing unfinished: returns at once
        ring.put(b"x", Wait::No).unwrap();
        ring.put(b"y", Wait::No).unwrap();
        ring.get(Wait::No).unwrap();
        assert!(ring.task_done());
        let r = ring.clone();
        let worker = std::thread::spawn(move || {
            r.get(Wait::Forever).unwrap();
            assert!(r.task_done());
        });
        ring.join();
        worker.join().unwrap();
        assert!(!ring.task_done(), "both were marked done");
    }

    #[test]
    fn invalid_rings() {
        assert!(matches!(
            Ring::<Os>::new(64, 0),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Ring::<Os>::new(usize::MAX, 1),
            Err(Error::InvalidArgument(_))
        ));
    }
}
