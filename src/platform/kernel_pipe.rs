//! [`EmulatedPipeEnd`]: the kernel pipe of the exploring platforms (the simulator, loom,
//! shuttle), built from the platform's own lock, conditions and cells.
//!
//! Each direction is a byte ring of [`EMULATED_PIPE_CAPACITY`] bytes in a platform cell, with
//! the number of ends open for reading and for writing it, guarded by a [`Lock`] of its own (so
//! that an explorer sees the two directions of a duplex pipe as independent); a reader waits on
//! the direction's `readable` condition, a writer on its `writable` one. So
//! every step of a pipe operation is a step the explorer schedules, and a full pipe blocks its
//! writer exactly as a kernel pipe does (only sooner: the capacity is small, so that partial
//! reads and writes and a full pipe happen in the few steps an explorer can afford).

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use super::{Atomic, AtomicInt, Instant, PipeEnd, Platform, Shareable, SharedCell};
use crate::{Condition, Error, Lock};

/// Bytes an emulated pipe holds per direction before a write blocks.
pub const EMULATED_PIPE_CAPACITY: usize = 64;

/// The reading end of a stream, in [`Stream::holders`].
const READER: usize = 0;
/// The writing end of a stream, in [`Stream::holders`].
const WRITER: usize = 1;

/// What every operation on a closed end returns.
fn closed() -> Error {
    Error::Closed { what: "connection" }
}

/// One direction: the bytes in flight and how many ends can still read and write them.
struct Stream {
    data: [u8; EMULATED_PIPE_CAPACITY],
    head: usize,
    len: usize,
    readers: u32,
    writers: u32,
    /// The process each end belongs to (a [`SteppedPipeEnd`]'s: index 0 the reading end, 1
    /// the writing end), whose death closes it.
    holders: [Holder; 2],
}

/// Which process a [`SteppedPipeEnd`]'s end of a stream belongs to: the one that last used it
/// (read, wrote, polled: a step on the stream); before its first use, the first process its
/// maker started after making it (where it was moved, in the usual program: make a pipe, start
/// a process with one end, use the other), or its maker while there is none.
#[derive(Clone, Copy)]
struct Holder {
    /// The process token of the last user, or of the maker before the first use.
    token: u32,
    used: bool,
    /// Before the first use: how many processes the maker had started when it made the end.
    mark: u32,
}

impl Holder {
    /// An end made by the calling process.
    fn made<P: Platform>() -> Self {
        Holder {
            token: P::process_token(),
            used: false,
            mark: P::processes_started(),
        }
    }

    /// The process the end belongs to now.
    fn process<P: Platform>(self) -> u32 {
        if self.used {
            self.token
        } else {
            P::process_started(self.token, self.mark).unwrap_or(self.token)
        }
    }

    /// `false` once the process the end belongs to died: the end is closed with it, as a
    /// kernel closes a dead process's descriptors. (Inside a cell access: part of its step.)
    fn alive<P: Platform>(self) -> bool {
        P::process_alive(self.process::<P>())
    }
}

// SAFETY: plain bytes and integers, no pointers.
unsafe impl Shareable for Stream {}

impl Stream {
    /// An empty stream with `open` reading and `open` writing ends.
    fn new(open: u32) -> Self {
        Stream {
            data: [0; EMULATED_PIPE_CAPACITY],
            head: 0,
            len: 0,
            readers: open,
            writers: open,
            holders: [Holder {
                token: 0,
                used: true,
                mark: 0,
            }; 2],
        }
    }

    /// Moves the oldest bytes into `buf`, as many as there are and fit; returns how many.
    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = self.len.min(buf.len());
        for (k, byte) in buf[..n].iter_mut().enumerate() {
            *byte = self.data[(self.head + k) % EMULATED_PIPE_CAPACITY];
        }
        self.head = (self.head + n) % EMULATED_PIPE_CAPACITY;
        self.len -= n;
        n
    }

    /// The end `which` ([`READER`] or [`WRITER`]) is used by process `token`: it is its now.
    fn claim(&mut self, which: usize, token: u32) {
        self.holders[which] = Holder {
            token,
            used: true,
            mark: 0,
        };
    }

    /// Appends a prefix of `buf`, as much as there is room for; returns how many bytes.
    fn put(&mut self, buf: &[u8]) -> usize {
        let n = (EMULATED_PIPE_CAPACITY - self.len).min(buf.len());
        let tail = self.head + self.len;
        for (k, byte) in buf[..n].iter().enumerate() {
            self.data[(tail + k) % EMULATED_PIPE_CAPACITY] = *byte;
        }
        self.len += n;
        n
    }
}

/// What both ends share.
struct Core<P: Platform> {
    streams: [P::Cell<Stream>; 2],
    locks: [Lock<P>; 2],
    readable: [Condition<P>; 2],
    writable: [Condition<P>; 2],
}

/// One end of an emulated pipe: per direction, a byte ring of [`EMULATED_PIPE_CAPACITY`] bytes
/// in a platform cell, guarded by a [`Lock`] with two [`Condition`]s; [`PipeEnd`]'s contract.
pub struct EmulatedPipeEnd<P: Platform> {
    core: Arc<Core<P>>,
    /// The direction this end reads, if any.
    reads: Option<usize>,
    /// The direction this end writes, if any.
    writes: Option<usize>,
    /// Set by `close` before it takes the locks, so a task that checked it under a direction's
    /// lock before that and went to sleep is woken by `close`'s notification.
    closed: P::AtomicBool,
}

impl<P: Platform> std::fmt::Debug for EmulatedPipeEnd<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedPipeEnd")
            .field("reads", &self.reads)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

impl<P: Platform> EmulatedPipeEnd<P> {
    /// A pipe: two ends that each read what the other writes (`duplex`), or a one-way pipe
    /// whose first end reads what its second end writes.
    pub(crate) fn pair(duplex: bool) -> (Self, Self) {
        let stream = |open: u32| P::Cell::new(Stream::new(open));
        let locks = [Lock::<P>::new(), Lock::<P>::new()];
        let condition = |d: usize| Condition::with_lock(locks[d].clone());
        let core = Arc::new(Core {
            // Direction 0 goes from the second end to the first; direction 1 the other way (in a
            // duplex pipe only).
            streams: [stream(1), stream(u32::from(duplex))],
            readable: [condition(0), condition(1)],
            writable: [condition(0), condition(1)],
            locks,
        });
        let end = |reads, writes| EmulatedPipeEnd {
            core: Arc::clone(&core),
            reads,
            writes,
            closed: P::AtomicBool::new(false),
        };
        let first = end(Some(0), duplex.then_some(1));
        let second = end(duplex.then_some(1), Some(0));
        (first, second)
    }

    /// Runs `f` on direction `d`'s stream. The caller holds the direction's lock.
    fn stream<R>(&self, d: usize, f: impl FnOnce(&mut Stream) -> R) -> R {
        // SAFETY: every access to a stream happens with its direction's lock held, so none
        // overlaps another.
        unsafe { self.core.streams[d].with_mut(f) }
    }
}

impl<P: Platform> PipeEnd for EmulatedPipeEnd<P> {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let Some(d) = self.reads else {
            // The sending end of a one-way pipe: end of file at once, as the Os pipe.
            return Ok(0);
        };
        let _held = self.core.locks[d].lock();
        loop {
            if self.closed.load(SeqCst) {
                return Err(closed());
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let (n, eof) = self.stream(d, |s| (s.take(buf), s.writers == 0));
            if n > 0 {
                self.core.writable[d]
                    .notify_all()
                    .expect("the lock is held");
                return Ok(n);
            }
            if eof {
                return Ok(0);
            }
            self.core.readable[d].wait().expect("the lock is held");
        }
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Error> {
        let Some(d) = self.writes else {
            // The receiving end of a one-way pipe: nobody reads what it would write.
            return Err(Error::BrokenPipe);
        };
        let _held = self.core.locks[d].lock();
        loop {
            if self.closed.load(SeqCst) {
                return Err(closed());
            }
            let (n, broken) = self.stream(d, |s| {
                if s.readers == 0 {
                    return (0, true);
                }
                (s.put(buf), false)
            });
            if broken {
                return Err(Error::BrokenPipe);
            }
            if n > 0 || buf.is_empty() {
                self.core.readable[d]
                    .notify_all()
                    .expect("the lock is held");
                return Ok(n);
            }
            self.core.writable[d].wait().expect("the lock is held");
        }
    }

    fn poll(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let Some(d) = self.reads else {
            return Ok(true);
        };
        let _held = self.core.locks[d].lock();
        loop {
            if self.closed.load(SeqCst) {
                return Err(closed());
            }
            if self.stream(d, |s| s.len > 0 || s.writers == 0) {
                return Ok(true);
            }
            match deadline {
                None => self.core.readable[d].wait().expect("the lock is held"),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(P::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.core.readable[d]
                        .wait_timeout(left)
                        .expect("the lock is held");
                }
            }
        }
    }

    fn close(&self) {
        // Under the locks of both directions this end touches (taken in the order of their
        // numbers; nobody else holds two), so that a duplex end closes in one step for its
        // peer, whose every look at a direction is under that direction's lock: never a
        // broken pipe one way and no end of file the other (see `PipeEnd`'s contract). The
        // flag too, which this end's own operations look at under the same locks: they are
        // refused from that step on, not before the peer can see it, and a second `close`
        // returns only once the first is done.
        let mut directions: Vec<(usize, bool)> = [(self.reads, true), (self.writes, false)]
            .into_iter()
            .filter_map(|(d, reading)| Some((d?, reading)))
            .collect();
        directions.sort_unstable();
        let _held: Vec<_> = directions
            .iter()
            .map(|&(d, _)| self.core.locks[d].lock())
            .collect();
        if self.closed.swap(true, SeqCst) {
            return;
        }
        // Everyone waiting on a direction this end touches re-checks: its own tasks see the
        // close, the peer's see end of file or a broken pipe.
        for (d, reading) in directions {
            self.stream(d, |s| {
                if reading {
                    s.readers -= 1;
                } else {
                    s.writers -= 1;
                }
            });
            self.core.readable[d]
                .notify_all()
                .expect("the lock is held");
            self.core.writable[d]
                .notify_all()
                .expect("the lock is held");
        }
    }
}

impl<P: Platform> Drop for EmulatedPipeEnd<P> {
    fn drop(&mut self) {
        self.close();
    }
}

/// What both ends of a [`SteppedPipeEnd`] share: per direction, the stream and an event word
/// that is bumped (and woken) after every change of the stream.
struct SteppedCore<P: Platform> {
    streams: [P::Cell<Stream>; 2],
    events: [P::AtomicU32; 2],
}

/// One end of a pipe whose every operation is **one step** of the explorer, as a system call
/// is one step for a program: the check and the update of a direction happen inside a single
/// access to its cell, and a task that must wait sleeps on the direction's event word (futex).
///
/// Only for platforms that run a cell access without switching tasks in the middle of it and
/// do not report unsynchronized cell accesses: the simulator and shuttle (loom reports such
/// accesses as races; it uses [`EmulatedPipeEnd`]). Compared with [`EmulatedPipeEnd`], a small
/// message costs an explorer a handful of steps instead of a lock's and a condition's dozens,
/// so complete searches of pipe programs stay within reach.
///
/// **Dead processes.** Each end of a direction belongs to a process (`Holder`): the one that
/// last used it, or, before its first use, the first process its maker started after making
/// it (where it went, in the usual program), else its maker. Once that process is dead
/// ([`Platform::process_alive`]; the simulator's kills), the end counts as closed: a read
/// that finds no bytes is at end of file, a poll is ready, a write is `BrokenPipe`. The look
/// is part of the step on the stream, and a kill wakes every task waiting on the direction's
/// event word, so nobody waits for a dead peer.
pub struct SteppedPipeEnd<P: Platform> {
    core: Arc<SteppedCore<P>>,
    reads: Option<usize>,
    writes: Option<usize>,
}

impl<P: Platform> std::fmt::Debug for SteppedPipeEnd<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteppedPipeEnd")
            .field("reads", &self.reads)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

/// What one step on a stream found.
enum Step {
    /// Done, with this many bytes moved; the stream changed.
    Moved(usize),
    /// Done without moving a byte (end of file, a zero-length call, a `poll` that is ready).
    Unchanged,
    /// Nothing to do yet: wait for the next change.
    Wait,
    Fail(Error),
}

impl<P: Platform> SteppedPipeEnd<P> {
    /// As [`EmulatedPipeEnd::pair`].
    pub(crate) fn pair(duplex: bool) -> (Self, Self) {
        // Each direction has one reading and one writing end: the counts are 0 or 1. Both
        // ends belong to the calling process until they are used (see `Holder`).
        let stream = |open: bool| {
            let mut stream = Stream::new(u32::from(open));
            stream.holders = [Holder::made::<P>(); 2];
            P::Cell::new(stream)
        };
        let events = [P::AtomicU32::new(0), P::AtomicU32::new(0)];
        events[0].label("Pipe.events[0]");
        events[1].label("Pipe.events[1]");
        let core = Arc::new(SteppedCore {
            streams: [stream(true), stream(duplex)],
            events,
        });
        let first = SteppedPipeEnd {
            core: Arc::clone(&core),
            reads: Some(0),
            writes: duplex.then_some(1),
        };
        let second = SteppedPipeEnd {
            core,
            reads: duplex.then_some(1),
            writes: Some(0),
        };
        (first, second)
    }

    /// One step on direction `d`'s stream.
    fn step<R>(&self, d: usize, f: impl FnOnce(&mut Stream) -> R) -> R {
        // SAFETY: the platforms this type is for run the closure without a task switch (see
        // the type's docs), so no other access to the cell overlaps it.
        unsafe { self.core.streams[d].with_mut(f) }
    }

    /// One attempt of a read of `buf` from stream `s`, by the process `me`.
    fn read_from(s: &mut Stream, buf: &mut [u8], me: u32) -> Step {
        if s.readers == 0 {
            return Step::Fail(closed());
        }
        s.claim(READER, me);
        match s.take(buf) {
            0 if !buf.is_empty() && s.writers > 0 && s.holders[WRITER].alive::<P>() => Step::Wait,
            0 => Step::Unchanged,
            n => Step::Moved(n),
        }
    }

    /// Signals a change of direction `d` to every task waiting on it.
    fn changed(&self, d: usize) {
        self.core.events[d].fetch_add(1, SeqCst);
        P::wake(&self.core.events[d], u32::MAX);
    }

    /// Repeats `attempt` on direction `d` until it is done, sleeping between attempts until the
    /// direction changes; `Ok(None)` once `deadline` passed with nothing done.
    fn until_done(
        &self,
        d: usize,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&mut Stream) -> Step,
    ) -> Result<Option<usize>, Error> {
        loop {
            let seen = self.core.events[d].load(SeqCst);
            match self.step(d, &mut attempt) {
                Step::Moved(n) => {
                    self.changed(d);
                    return Ok(Some(n));
                }
                Step::Unchanged => return Ok(Some(0)),
                Step::Fail(e) => return Err(e),
                Step::Wait => {
                    // The peer's death ends the wait (its end closes).
                    let event = &self.core.events[d];
                    if P::wait_watching_deaths(event, seen, deadline)
                        == super::WaitOutcome::TimedOut
                        && event.load(SeqCst) == seen
                    {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// `true` once this end was closed (a step on a stream it touches).
    fn is_closed(&self) -> bool {
        match (self.reads, self.writes) {
            (Some(d), _) => self.step(d, |s| s.readers == 0),
            (None, Some(d)) => self.step(d, |s| s.writers == 0),
            (None, None) => true,
        }
    }
}

impl<P: Platform> PipeEnd for SteppedPipeEnd<P> {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let Some(d) = self.reads else {
            return if self.is_closed() {
                Err(closed())
            } else {
                Ok(0)
            };
        };
        // Without a deadline there is no timeout: the result is always `Some`.
        let me = P::process_token();
        self.until_done(d, None, |s| Self::read_from(s, buf, me))
            .map(|n| n.unwrap_or(0))
    }

    fn try_read(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let Some(d) = self.reads else {
            return self.read(buf).map(Some);
        };
        let me = P::process_token();
        match self.step(d, |s| Self::read_from(s, buf, me)) {
            Step::Moved(n) => {
                self.changed(d);
                Ok(Some(n))
            }
            Step::Unchanged => Ok(Some(0)),
            Step::Fail(e) => Err(e),
            Step::Wait => Ok(None),
        }
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Error> {
        let Some(d) = self.writes else {
            return Err(if self.is_closed() {
                closed()
            } else {
                Error::BrokenPipe
            });
        };
        // Without a deadline there is no timeout: the result is always `Some`.
        let me = P::process_token();
        let written = self.until_done(d, None, |s| {
            if s.writers == 0 {
                return Step::Fail(closed());
            }
            s.claim(WRITER, me);
            if s.readers == 0 || !s.holders[READER].alive::<P>() {
                return Step::Fail(Error::BrokenPipe);
            }
            match s.put(buf) {
                0 if !buf.is_empty() => Step::Wait,
                0 => Step::Unchanged,
                n => Step::Moved(n),
            }
        });
        match (written, self.reads) {
            // A duplex end is closed from its close's first step, on the direction it reads
            // (the one its peer sees), while this write looked at the direction it writes,
            // closed a step later: a broken pipe found meanwhile may come from a peer that
            // closed after this end (found by `duplex_pipe` under the simulator's PCT). One
            // more step, on the direction read, tells: still open now, the broken pipe stands.
            (Err(Error::BrokenPipe), Some(r)) if self.step(r, |s| s.readers == 0) => Err(closed()),
            (written, _) => written.map(|n| n.unwrap_or(0)),
        }
    }

    fn poll(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let Some(d) = self.reads else {
            return if self.is_closed() {
                Err(closed())
            } else {
                Ok(true)
            };
        };
        let me = P::process_token();
        let ready = self
            .until_done(d, deadline, |s| {
                if s.readers == 0 {
                    return Step::Fail(closed());
                }
                s.claim(READER, me);
                if s.len > 0 || s.writers == 0 || !s.holders[WRITER].alive::<P>() {
                    Step::Unchanged
                } else {
                    Step::Wait
                }
            })?
            .is_some();
        // Nothing to read by the deadline. A duplex peer whose `close` let go of the direction
        // this end writes (its first step) is closing: the end of file follows, so a `poll`
        // now is ready, as it is after the close (see `PipeEnd`'s contract). A duplex end's
        // two directions are closed only together, so no reader there means exactly that. A
        // look at the direction written, in a step of its own: its reader still there now
        // means the close had not begun a step ago, when the read direction had nothing.
        if ready {
            return Ok(true);
        }
        if !self
            .writes
            .is_some_and(|w| self.step(w, |s| s.readers == 0))
        {
            return Ok(false);
        }
        // The peer is closing; this end may have been closed too since the read direction was
        // last looked at (found by `duplex_pipe` under the simulator's PCT: a `poll` waiting
        // through both ends' closes answered ready). Ready only if it is still open now, when
        // the peer's close has begun: one more step, on the direction read.
        if self.step(d, |s| s.readers == 0) {
            return Err(closed());
        }
        Ok(true)
    }

    /// Reading direction first, then the writing one: one step each. A duplex peer sees the
    /// first step at once (`BrokenPipe`, and a `poll` that is ready: see `poll`), so the close
    /// is atomic for it.
    fn close(&self) {
        for (d, reading) in [(self.reads, true), (self.writes, false)] {
            let Some(d) = d else { continue };
            let was_open = self.step(d, |s| {
                let open = if reading {
                    &mut s.readers
                } else {
                    &mut s.writers
                };
                std::mem::replace(open, 0) > 0
            });
            if was_open {
                self.changed(d);
            }
        }
    }
}

impl<P: Platform> Drop for SteppedPipeEnd<P> {
    fn drop(&mut self) {
        self.close();
    }
}
