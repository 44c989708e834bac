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
//! **Put**: take a *ticket* (the count of frames in the ring, or on their way in, must stay
//! below `max_frames`: that is `maxsize`, exact whatever the frames' sizes); reserve the
//! frame's `m` positions by one compare-and-swap of the *tail* (`t → t + m`) after checking
//! that their stamps say free; write the data; publish the stamps (the first one last, with
//! Release, so a getter acquires one word). **Get**: read the stamp at the *head*; if it says
//! published, claim the frame by one compare-and-swap of the head (`h → h + m`), give the
//! ticket back, copy the bytes out, and free the stamps for the next lap (Release, after the
//! reads).
//!
//! **Closing** sets a bit in the tail word. A reservation is a compare-and-swap of that same word,
//! so every put either reserved before the close (and will publish: getters wait for it) or sees
//! the bit and is refused. A getter is refused once the ring is closed *and* the head has caught
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
//! [`Ring::task_done`]): a put counts its frame before publishing it, so no getter can see an
//! uncounted frame, and `join` sleeps on a third event word until the count is 0.
//!
//! **Dead processes.** A process may be killed anywhere inside a put or a get; nobody waits for
//! it for good, no frame is delivered twice or torn, and a live putter's frames all arrive. A
//! stamp may be *owned*: bit 63 set, and the owner's process token
//! ([`Platform::process_token`]) in the low 30 bits:
//!
//! - right after its reservation a putter writes the frame's first data word (its length),
//!   counts the frame (in a joinable ring), and stores `writing(token)` in its first stamp,
//!   which its publication overwrites. A getter that waits at a head whose stamp names a dead
//!   putter ([`Platform::process_alive`]) takes the frame as lost: one compare-and-swap of the
//!   head past its slots (the length says how many) decides who, so exactly one getter reports
//!   it (`Refused::Lost`, `Error::ItemLost`); that getter frees the slots, gives the ticket
//!   back, and counts the frame done. The next get takes the next frame;
//! - right after its claim a getter gives its ticket back and stores `reading(token)` in each
//!   of the frame's stamps (bit 62; bit 61 on the first), which its freeing overwrites. A
//!   putter that waits for a slot whose stamp names a dead getter frees it with one
//!   compare-and-swap, and the first slot's freer counts the frame done (its item is gone with
//!   the getter, which never returned it); `join` does the same for the slots behind the head,
//!   so it never waits for a frame whose getter died.
//!
//! When to look: as for a lock's dead holder (src/sync/raw.rs), on a platform with a
//! [`Platform::LIVENESS_POLL`] (`Os`, where a death wakes nobody and a look reads `/proc`) a
//! waiter sleeps at most that long and looks once a sleep ran out (the interval, or its own
//! timeout: a `get_timeout` looks before it says `Empty`) without its cursor moving; without
//! one (the explorers, where a kill wakes every sleeper) its check before every sleep looks
//! too, at the stamp it reads anyway (no access of its own: the explorers' searches stay as
//! they were). A `try_get` or `try_put` on `Os` does not look. A look asks about liveness only
//! for a stamp owned by another process; before acting it reads the cursor by a
//! read-modify-write (its latest value) and the stamp again, so that a stale stamp of the lap
//! before is never taken for this lap's.
//!
//! A putter sleeps without a ticket (it gives its ticket back before it sleeps for slots and
//! takes one again after), so one killed while it waits holds no room. What remains, each a
//! few instructions with no wait inside: a putter killed between its reservation's
//! compare-and-swap and its `writing` store (the position names nobody, and getters wait at it
//! for good), a getter killed between its claim's compare-and-swap and its `reading` stores
//! (its slots stay published behind the head, and putters wait for them for good once the ring
//! wraps), and a putter killed between taking a ticket and reserving (it only spins there; its
//! ticket is never given back, so the bound is one lower). Closing them would take the owner's
//! token in the same word as the cursor, or a second read-modify-write per operation (claim the
//! stamp, then move the cursor); the fast path has neither. A getter killed after `get`
//! returned and before `task_done` leaves its item unfinished: `join` cannot tell it from one
//! still being worked on (any process may call `task_done`, so no item is tied to one), and
//! waits, as Python's does.

use std::cell::Cell;
use std::hint::spin_loop;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

use crate::platform::{Atomic, AtomicInt, Instant, Platform, Shareable, WaitOutcome};
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
    /// A put has reserved its frame's slots (and its owned stamp names it), and has written
    /// only the frame's length.
    Reserved,
    /// A put has written its frame's bytes, and not yet published them.
    Written,
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

/// A value alone on its cache lines (128 bytes: two lines, as adjacent-line prefetchers pair
/// them), so that words written by different sides do not bounce one line between cores.
#[repr(align(128))]
struct Padded<T>(T);

// SAFETY: a `T` and padding, nothing else.
unsafe impl<T: Shareable> Shareable for Padded<T> {}

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
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
    /// Tickets taken by putters since creation, less those given back (rings with a frame
    /// bound only; written by putters only).
    puts: Padded<P::AtomicU64>,
    /// Frames claimed by getters since creation (rings with a frame bound only; written by
    /// getters only). `puts - gets` is the frames in the ring or on their way in: at most
    /// `max_frames`.
    gets: Padded<P::AtomicU64>,
    /// Getters sleep here for a frame: `seq << 1 | waiters`.
    not_empty: Padded<P::AtomicU32>,
    /// Putters sleep here for a ticket or for slots: `seq << 1 | waiters`.
    not_full: Padded<P::AtomicU32>,
    /// Frames put and not yet marked done (joinable rings only).
    unfinished: P::AtomicU64,
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
            unfinished: P::AtomicU64::new(0),
            all_done: P::AtomicU32::new(0),
        });
        control.head.label("Queue.head");
        control.tail.label("Queue.tail");
        control.puts.label("Queue.puts");
        control.gets.label("Queue.gets");
        control.not_empty.label("Queue.not_empty");
        control.not_full.label("Queue.not_full");
        control.unfinished.label("Queue.unfinished");
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
    fn counted(&self) -> bool {
        self.max_frames != u64::MAX
    }

    /// Frames in the ring now: exact whenever no put or get is under way; never more than
    /// `max_frames`. With a frame bound, the tickets taken (a put counts from the moment it has
    /// a place, a get until it has its frame); without one, the frames between the head and the
    /// tail, walked from one frame's start to the next (a frame still being written counts one
    /// per slot).
    pub(crate) fn len(&self) -> usize {
        let c = &*self.control;
        if self.counted() {
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
        self.counted() && self.tickets() >= self.max_frames
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
        let c = &*self.control;
        // Whether to look at the liveness of the getters that hold the slots this put waits
        // for: once a sleep ran out without the tail moving, or (where a kill wakes the
        // sleepers) once the check before sleeping saw a dead one.
        let mut look_now = false;
        'ticket: loop {
            let mut backoff = Backoff(0);
            let mut room = 1;
            loop {
                if self.take_ticket(room)? {
                    break;
                }
                let deadline = wait.deadline::<P>()?;
                // While it spins, a putter that found the ring full waits for a batch of free
                // places, not one: it then reads the getters' counter once per batch instead
                // of once per frame, and each read takes the counter's cache line from the
                // getter that is about to write it.
                if backoff.snooze::<P>() {
                    room = self.batch();
                    continue;
                }
                // Done spinning: one free place will do, and it sleeps if there is none.
                backoff = Backoff(0);
                if room > 1 && self.take_ticket(1)? {
                    break;
                }
                room = 1;
                sleep::<P>(&c.not_full, deadline, || {
                    self.is_closed() || self.tickets() < self.max_frames
                });
            }
            let mut backoff = Backoff(0);
            let mut spare = 0;
            let refused = loop {
                match self.reserve(m, spare) {
                    Ok(Some(t)) => {
                        self.publish(t, m, frame);
                        return Ok(());
                    }
                    Ok(None) => {}
                    Err(refused) => break refused,
                }
                // As for tickets: while it spins, a putter waits for a batch of free slots
                // beyond its frame's, so that it writes lines the getters have left rather
                // than the one they are freeing.
                if !matches!(wait, Wait::No) && backoff.snooze::<P>() {
                    spare = self.batch_slots();
                    continue;
                }
                let t = c.tail.load(Relaxed);
                if look_now && self.free_dead_readers(t, m) {
                    backoff = Backoff(0);
                    spare = 0;
                    continue;
                }
                let deadline = match wait.deadline::<P>() {
                    Ok(deadline) => deadline,
                    Err(refused) => break refused,
                };
                // About to sleep: a putter holds no ticket while it sleeps, so that one killed
                // while it waits for slots takes none with it. It wakes nobody (a putter that
                // kept its ticket asleep would not have either): the next get wakes them all.
                if self.counted() {
                    c.puts.fetch_sub(1, Relaxed);
                }
                let until = poll_deadline::<P>(deadline);
                let dead = Cell::new(false);
                let timed_out = sleep::<P>(&c.not_full, until, || self.can_put(m, &dead));
                look_now |= dead.get() || (timed_out && c.tail.load(Relaxed) == t);
                continue 'ticket;
            };
            self.give_ticket_back();
            return Err(refused);
        }
    }

    /// Gives a ticket back (rings with a frame bound), and wakes a putter that may be waiting
    /// for one.
    fn give_ticket_back(&self) {
        if self.counted() {
            self.control.puts.fetch_sub(1, Relaxed);
            notify::<P>(&self.control.not_full);
        }
    }

    /// Frees the slots of positions `t .. t + m` (for this lap) that a getter of a dead process
    /// holds: it claimed their frame (of the lap before) and died before freeing them. Only
    /// while the tail is still at `t` (a stale `t` frees nothing). `true` if it freed one.
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
            // Then a read-modify-write of the tail (its latest value): positions from `t` on
            // are not reserved, so the reading stamp is the lap before's. One compare-and-swap
            // decides who frees the slot (a token is never reused: a dead reader's stamp never
            // comes back).
            if is_dead && c.tail.fetch_add(0, AcqRel) == t && self.free_dead_reader(p, stamp, p) {
                freed = true;
            }
        }
        if freed {
            notify::<P>(&c.not_full);
        }
        freed
    }

    /// Takes a ticket if at least `room` are free: `true` if it took one (`count < max_frames`;
    /// always, without a frame bound), `Closed` if the ring is closed.
    #[inline]
    fn take_ticket(&self, room: u64) -> Result<bool, Refused> {
        let c = &*self.control;
        if !self.counted() {
            // Nothing to take; the reservation sees a close.
            return Ok(true);
        }
        if self.is_closed() {
            return Err(Refused::Closed);
        }
        let mut puts = c.puts.load(Relaxed);
        let mut gets = self.gets_seen.load(Relaxed);
        loop {
            if puts.saturating_sub(gets) + room > self.max_frames {
                // Too full by what this handle last saw: look at the getters' counter.
                gets = c.gets.load(Acquire);
                self.gets_seen.fetch_max(gets, Relaxed);
                if puts.saturating_sub(gets) + room > self.max_frames {
                    return Ok(false);
                }
            }
            match c.puts.compare_exchange(puts, puts + 1, Relaxed, Relaxed) {
                Ok(_) => return Ok(true),
                Err(now) => puts = now,
            }
        }
    }

    /// The tickets held now (`puts - gets`; read in that order, so never more than
    /// `max_frames`).
    fn tickets(&self) -> u64 {
        let c = &*self.control;
        let puts = c.puts.load(Acquire);
        puts.saturating_sub(c.gets.load(Acquire))
    }

    /// Reserves `m` positions at the tail: `Some(first)`, or `None` when the slots are full, or
    /// when the `spare` positions after them are not free too.
    #[inline]
    fn reserve(&self, m: u64, spare: u64) -> Result<Option<u64>, Refused> {
        let tail = &self.control.tail;
        let mut t = tail.load(Relaxed);
        'retry: loop {
            if t & CLOSED != 0 {
                return Err(Refused::Closed);
            }
            if spare > 0 && m + spare <= self.n {
                // Getters free slots in order, near enough: the last spare one stands for all.
                let last = t + m + spare - 1;
                if self.stamp(last).load(Relaxed) != free(last) {
                    return Ok(None);
                }
            }
            for i in 0..m {
                let stamp = self.stamp(t + i).load(Acquire);
                if stamp != free(t + i) {
                    let now = tail.load(Relaxed);
                    if now == t
                        && (stamp & OWNED != 0 || (stamp.wrapping_sub(free(t + i)) as i64) < 0)
                    {
                        // The slot still holds the previous lap's frame (or a process is
                        // writing or reading it): full.
                        return Ok(None);
                    }
                    // Another putter took the position: try again at the new tail.
                    t = now;
                    continue 'retry;
                }
            }
            // Acquire and Release: a getter that reads this tail (by a read-modify-write) and
            // then this slot's stamp sees it free for `t` or later (see `take_lost`).
            match tail.compare_exchange(t, t + m, AcqRel, Relaxed) {
                Ok(_) => return Ok(Some(t)),
                Err(now) => t = now,
            }
        }
    }

    /// Writes `frame` (its varint length, then its bytes) into the reserved positions
    /// `t .. t + m` and publishes it.
    #[inline]
    fn publish(&self, t: u64, m: u64, frame: &[u8]) {
        let c = &*self.control;
        // The first word: the varint length, then as many of the frame's bytes as fit.
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
        // The length first, so that whoever finds the frame lost knows its slots.
        self.data(t).store(first, Relaxed);
        if self.joinable {
            // Counted before the stamp names this process, so that whoever finds the frame
            // lost (this process dead) counts it done; and before a getter can see it (the
            // stamps' Release orders it first).
            c.unfinished.fetch_add(1, Relaxed);
        }
        // The first stamp names the writer until the frame is published (Release: after the
        // length and the count).
        self.stamp(t).store(writing(P::process_token()), Release);
        stop_point(StopPoint::Reserved);
        for (i, chunk) in rest.chunks(WORD).enumerate() {
            self.data(t + 1 + i as u64).store(pack(chunk), Relaxed);
        }
        stop_point(StopPoint::Written);
        for i in (1..m).rev() {
            self.stamp(t + i).store(full(t + i), Release);
        }
        self.stamp(t).store(full(t), Release);
        notify::<P>(&c.not_empty);
    }

    /// Is there room for `m` positions at the tail now, or is the ring closed (a putter's check
    /// before it sleeps)? Reads the tail by a read-modify-write, which sees the latest value.
    ///
    /// Where a kill wakes the sleepers (no [`Platform::LIVENESS_POLL`]) it also looks at the
    /// liveness of a getter holding a slot it reads: a dead one makes it `true`, with `dead`
    /// set (the look costs no access of its own there; on `Os` a look reads `/proc`, and the
    /// putter looks only once a sleep ran out).
    fn can_put(&self, m: u64, dead: &Cell<bool>) -> bool {
        let t = self.control.tail.fetch_add(0, AcqRel);
        t & CLOSED != 0
            || (0..m).all(|i| {
                let stamp = self.stamp(t + i).load(Acquire);
                if stamp & OWNED == 0 {
                    return (stamp.wrapping_sub(free(t + i)) as i64) >= 0;
                }
                if P::LIVENESS_POLL.is_none()
                    && stamp & READING != 0
                    && owner(stamp) != P::process_token()
                    && !P::process_alive(owner(stamp))
                {
                    dead.set(true);
                }
                dead.get()
            })
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
        // Whether to look at the liveness of the putter writing the frame at the head: once a
        // sleep ran out without the head moving, or (where a kill wakes the sleepers) once the
        // check before sleeping saw it dead.
        let mut look_now = false;
        let (h, m, first) = loop {
            if let Some(claimed) = self.claim() {
                break claimed;
            }
            // While spinning, only the slot is read: the tail (the putters' line) only once it
            // is time to give up or sleep.
            if !matches!(wait, Wait::No) && backoff.snooze::<P>() {
                continue;
            }
            let h = c.head.load(Relaxed);
            if self.drained(h) {
                return Err(Refused::Closed);
            }
            if look_now && self.take_lost(h) {
                return Err(Refused::Lost);
            }
            let deadline = wait.deadline::<P>()?;
            backoff = Backoff(0);
            let until = poll_deadline::<P>(deadline);
            let dead = Cell::new(false);
            let timed_out = sleep::<P>(&c.not_empty, until, || self.can_get(&dead));
            look_now |= dead.get() || (timed_out && c.head.load(Relaxed) == h);
        };
        // The ticket goes back at once (a putter that takes it may wait for the slots): a
        // getter killed from here on has given it back.
        if self.counted() {
            c.gets.fetch_add(1, Relaxed);
        }
        // The stamps name this process until it frees them: a putter that needs the slots
        // frees them itself if it dies first.
        let me = P::process_token();
        for i in 0..m {
            self.stamp(h + i).store(reading(me, i == 0), Relaxed);
        }
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
        // Free the slots for the next lap, after the reads (Release).
        for i in (0..m).rev() {
            self.stamp(h + i).store(free(h + i + self.n), Release);
        }
        notify::<P>(&c.not_full);
        Ok(f(bytes))
    }

    /// Takes the frame at the head `h` as lost if the process that reserved it died before
    /// publishing it: one compare-and-swap of the head past it decides who (so exactly one
    /// getter reports it), which then frees its slots, gives its ticket back and counts it
    /// done. `true` for that getter.
    #[cold]
    fn take_lost(&self, h: u64) -> bool {
        let c = &*self.control;
        // First the stamp alone (a getter about to sleep usually finds no owner there).
        let stamp = self.stamp(h).load(Acquire);
        if stamp & (OWNED | READING) != OWNED {
            return false;
        }
        let who = owner(stamp);
        if who == P::process_token() || P::process_alive(who) {
            return false;
        }
        // Then a read-modify-write of the tail (its latest value) and the stamp again: if the
        // position `h` is reserved, the stamp read after it is this lap's (the reservation's
        // Release orders it), not the lap before's.
        if (c.tail.fetch_add(0, AcqRel) & !CLOSED) <= h || self.stamp(h).load(Acquire) != stamp {
            return false;
        }
        // The dead putter wrote the frame's length before its stamp (whose Release the loads
        // above acquired).
        let m = slots_for(read_varint(&self.data(h).load(Relaxed).to_le_bytes()).0);
        if c.head.compare_exchange(h, h + m, Relaxed, Relaxed).is_err() {
            return false;
        }
        if self.counted() {
            c.gets.fetch_add(1, Relaxed);
        }
        let me = P::process_token();
        for i in 0..m {
            self.stamp(h + i).store(reading(me, i == 0), Relaxed);
        }
        // Counted by the dead putter before its stamp named it: done now, as nobody gets it.
        self.finish_one();
        for i in (0..m).rev() {
            self.stamp(h + i).store(free(h + i + self.n), Release);
        }
        notify::<P>(&c.not_full);
        true
    }

    /// Counts one frame done that nobody will mark done (joinable rings; lost frames).
    fn finish_one(&self) {
        if self.joinable {
            // `false` cannot happen: the frame was counted.
            let _ = self.task_done();
        }
    }

    /// Claims the frame at the head: `Some((position, slots, first data word))`, or `None` if
    /// no frame is published there.
    #[inline]
    fn claim(&self) -> Option<(u64, u64, [u8; WORD])> {
        let c = &*self.control;
        let mut h = c.head.load(Relaxed);
        loop {
            let stamp = self.stamp(h).load(Acquire);
            let lag = stamp.wrapping_sub(full(h)) as i64;
            if lag == 0 {
                // Published: its data (and every later slot of the frame) is visible.
                let first = self.data(h).load(Relaxed).to_le_bytes();
                let m = slots_for(read_varint(&first).0);
                match c.head.compare_exchange(h, h + m, Relaxed, Relaxed) {
                    Ok(_) => return Some((h, m, first)),
                    Err(now) => h = now,
                }
            } else if lag < 0 || stamp & OWNED != 0 {
                // Nothing published at h (yet; or a process writes or reads the slot): empty,
                // unless the head moved meanwhile.
                let now = c.head.load(Relaxed);
                if now == h {
                    return None;
                }
                h = now;
            } else {
                // Another getter took position h: try again at the new head.
                h = c.head.load(Relaxed);
            }
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

    /// Is a frame published at the head (or did the head move), or is the ring drained (a
    /// getter's check before it sleeps)? Reads the head by a read-modify-write, which sees the
    /// latest value. A closed ring that still waits for a put's frame is not ready: that put's
    /// publication wakes the getter.
    ///
    /// Where a kill wakes the sleepers (no [`Platform::LIVENESS_POLL`]) it also looks at the
    /// liveness of the putter writing the frame at the head: a dead one makes it `true`, with
    /// `dead` set (as [`Ring::can_put`]).
    fn can_get(&self, dead: &Cell<bool>) -> bool {
        let h = self.control.head.fetch_add(0, AcqRel);
        let stamp = self.stamp(h).load(Acquire);
        if stamp & OWNED == 0 {
            return (stamp.wrapping_sub(full(h)) as i64) >= 0 || self.drained(h);
        }
        if P::LIVENESS_POLL.is_none()
            && stamp & READING == 0
            && owner(stamp) != P::process_token()
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
        let mut left = c.unfinished.load(Relaxed);
        loop {
            if left == 0 {
                return false;
            }
            match c
                .unfinished
                .compare_exchange(left, left - 1, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(now) => left = now,
            }
        }
        if left == 1 {
            notify::<P>(&c.all_done);
        }
        true
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
        loop {
            let left = c.unfinished.load(Acquire);
            if left == 0 {
                return;
            }
            if look_now && self.free_dead_readers_behind_head() {
                continue;
            }
            let until = poll_deadline::<P>(None);
            let timed_out = sleep::<P>(&c.all_done, until, || c.unfinished.load(Acquire) == 0);
            look_now =
                (timed_out || P::LIVENESS_POLL.is_none()) && c.unfinished.load(Acquire) == left;
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

    /// Frees the slots behind the head (positions claimed in the last lap) that a getter of a
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
            // freed, used again, and its next frame claimed by a getter that died too): the
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

/// A frame's length and the bytes it takes, from the start of its first data word (written by
/// [`Ring::publish`]: at most 8 bytes, as lengths stay below 2^56).
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
    let seen = event.fetch_or(1, Relaxed) | 1;
    P::heavy_fence();
    !ready() && P::wait(event, seen, deadline) == WaitOutcome::TimedOut
}

/// Until when a task that waits for another process (the putter of the frame at the head, the
/// getter holding a slot) sleeps: its `deadline`, or sooner its next look at that process's
/// liveness, a [`Platform::LIVENESS_POLL`] from now where one is set.
fn poll_deadline<P: Platform>(deadline: Option<Instant>) -> Option<Instant> {
    match P::LIVENESS_POLL.and_then(|poll| P::now().checked_add(poll)) {
        Some(look) if deadline.is_none_or(|deadline| look < deadline) => Some(look),
        _ => deadline,
    }
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
