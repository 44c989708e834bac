//! [`pipe`] and [`Connection`]: `multiprocessing.Pipe`, messages over a platform byte pipe.
//!
//! The platform gives a kernel byte stream per direction ([`Platform::pipe`]: a Unix socket
//! pair or a kernel pipe on [`Os`], an emulated pipe under the explorers). A `Connection` frames
//! it into messages, written once here for every platform:
//!
//! - a message is a 4-byte little-endian length and that many bytes; items are encoded with
//!   postcard (`send`/`recv`), raw bytes go as they are (`send_bytes`/`recv_bytes`);
//! - each end has a send lock and a receive lock, so tasks sharing a `Connection` never
//!   interleave their messages' bytes (CPython leaves that to the user);
//! - a message goes out in one `write` (header and payload in one buffer) when the platform
//!   takes it whole; a receiving end **reads ahead**: one `read` of up to [`READ_AHEAD`] bytes
//!   brings the next message and whatever follows it, and the bytes past the message wait in a
//!   buffer for the next `recv`. That buffer is shared state of the end, placed with
//!   [`Platform::share`] and guarded by the receive lock, like the lock itself: every task and
//!   every process holding the end (a forked child inherits it, a spawned one is given it) sees
//!   the same buffer, so no holder's read takes bytes another holder's `recv` needs. A message
//!   larger than the buffer is read straight into its own allocation, never ahead of its end;
//! - a `recv` that has read everything the pipe held waits for more **by watching a count
//!   first**: every write adds its length to a count of bytes written, in shared memory beside
//!   the receiving end's buffer, and a `recv` whose last read emptied the pipe, finding the
//!   count no further than the bytes read so far, spins a little until the count moves before
//!   it makes its blocking `read` (no system call per try: a writer that is running answers
//!   sooner than the kernel wakes a sleeping reader, and its `send` is cheaper when no reader
//!   sleeps). The count is only a hint: the `read` decides every result, and a writer that
//!   died, or bytes written past the count, only make the spin give up. How long it spins
//!   adapts per end; a platform that does not spin ([`Platform::SPIN_LIMIT`] 0: the
//!   explorers) neither counts nor watches;
//! - `recv` at a message boundary with every writer gone is `Error::Eof`; a message cut off by a
//!   writer that closed or died in the middle of it is `Error::Truncated`, never a partial value;
//! - sending to a closed peer is `Error::BrokenPipe` (never a `SIGPIPE` the host did not
//!   ignore); the wrong direction of a one-way pipe is `Error::ReadOnly` / `Error::WriteOnly`;
//!   after `close`, `Error::Closed`.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, TryLockError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::decode;
use crate::platform::{deadline_after, Atomic, AtomicInt, Padded, PipeEnd, Shareable, SharedCell};
use crate::{Error, Lock, Os, Platform};

/// The largest message a connection sends or accepts: 256 MiB.
pub const MAX_MESSAGE_LEN: usize = 256 << 20;

/// Bytes of a message's length header.
const HEADER: usize = 4;

/// The size of a receiving end's read-ahead buffer, in bytes: the most one `read` of the pipe
/// asks for while the message it serves fits in it (a larger message is read into its own
/// allocation, up to its last byte and no further).
pub const READ_AHEAD: usize = 4096;

/// The most rounds a `recv` waits on the writers' count before its blocking read (see
/// [`Connection::wait_for_writer`]): round `k` pauses for `2^k` spin-loop hints, at most
/// `2^`[`PAUSE_SHIFT`], then reads the count. How many rounds it makes adapts per end, between
/// 0 and this (about 1,600 hints at most, some 60 µs on a 2026 server core).
const WAIT_ROUNDS: u32 = 30;
/// The longest pause between two reads of the count: `2^PAUSE_SHIFT` spin-loop hints.
const PAUSE_SHIFT: u32 = 6;
/// The rounds a new end starts with, and an end that gave waiting up tries again with.
const WAIT_ROUNDS_START: u32 = 10;
/// After how many reads without waiting an end that gave waiting up tries it again (a probe),
/// at first; each probe that fails doubles that, up to [`WAIT_PROBE_MAX`], and a wait that
/// sees the count move sets it back.
const WAIT_PROBE: u32 = 32;
/// The most reads between two probes: a probe that fails costs a whole wait of
/// [`WAIT_ROUNDS_START`] rounds, which this makes a few nanoseconds per read.
const WAIT_PROBE_MAX: u32 = 1024;

/// The bytes a receiving end has read from its pipe and not yet delivered: `bytes[start..end]`,
/// the beginning of the stream's rest. Plain data in shared memory, only touched under the
/// end's receive lock.
struct Buffer {
    start: u32,
    end: u32,
    /// Bytes read from the pipe so far, by every holder of the end (wrapping): what the
    /// writers' count ([`ReadAhead::written`]) is compared with. A hint, as that count is.
    received: u64,
    /// The last read from the pipe took less than it asked for: it emptied the pipe.
    drained: bool,
    bytes: [u8; READ_AHEAD],
}

// SAFETY: integers and a byte array, inline: no pointer, no per-process handle.
unsafe impl Shareable for Buffer {}

/// What [`Buffer::take`] found at the front of the buffer.
enum Front {
    /// A whole message, now taken out of the buffer.
    Message(Vec<u8>),
    /// A message longer than the buffer: `prefix` holds the payload bytes buffered so far (the
    /// header and those bytes are taken out; the buffer is empty), `len` is the payload's length.
    Large { prefix: Vec<u8>, len: usize },
    /// A header announcing `len` bytes, over [`MAX_MESSAGE_LEN`]: the header is taken out.
    TooLarge { len: usize },
    /// No whole message yet: the buffered bytes were moved to the front, and up to `room` more
    /// bytes fit behind them. `idle` when the last read emptied the pipe and took as many bytes
    /// as were counted written by then: `received` ([`Buffer::received`]).
    NeedMore { room: usize, idle: Option<u64> },
}

impl Buffer {
    /// The buffered bytes, `start..end`; an inconsistent pair (left by a process killed in the
    /// middle of an update, since the buffer outlives it) counts as empty.
    fn range(&self) -> std::ops::Range<usize> {
        let (start, end) = (self.start as usize, self.end as usize);
        if start <= end && end <= READ_AHEAD {
            start..end
        } else {
            0..0
        }
    }

    fn len(&self) -> usize {
        self.range().len()
    }

    fn set(&mut self, range: std::ops::Range<usize>) {
        // Empty: back to the front, so the next read has the whole buffer.
        let range = if range.is_empty() { 0..0 } else { range };
        // Both at most `READ_AHEAD`.
        self.start = range.start as u32;
        self.end = range.end as u32;
    }

    /// The length a whole header at the front announces.
    fn header(&self) -> Option<usize> {
        let range = self.range();
        let header = self.bytes.get(range.start..range.start + HEADER)?;
        (range.len() >= HEADER)
            .then(|| u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize)
    }

    /// `true` when a whole message (or a header no message fits behind, which `recv` answers
    /// at once) is buffered.
    fn ready(&self) -> bool {
        self.header()
            .is_some_and(|len| len > READ_AHEAD - HEADER || HEADER + len <= self.len())
    }

    /// Takes the message at the front out of the buffer, if it is whole (see [`Front`]).
    fn take(&mut self) -> Front {
        let range = self.range();
        if let Some(len) = self.header() {
            if len > MAX_MESSAGE_LEN {
                self.set(range.start + HEADER..range.end);
                return Front::TooLarge { len };
            }
            let body = range.start + HEADER;
            if body + len <= range.end {
                let message = self.bytes[body..body + len].to_vec();
                self.set(body + len..range.end);
                return Front::Message(message);
            }
            if HEADER + len > READ_AHEAD {
                let mut prefix = Vec::with_capacity(len);
                prefix.extend_from_slice(&self.bytes[body..range.end]);
                self.set(0..0);
                return Front::Large { prefix, len };
            }
        }
        // Not whole yet: move what there is to the front, to make room behind it.
        self.bytes.copy_within(range.clone(), 0);
        self.set(0..range.len());
        Front::NeedMore {
            room: READ_AHEAD - range.len(),
            idle: self.drained.then_some(self.received),
        }
    }

    /// Appends `bytes` (at most the `room` the last [`Buffer::take`] reported).
    fn append(&mut self, bytes: &[u8]) {
        let range = self.range();
        self.bytes[range.end..range.end + bytes.len()].copy_from_slice(bytes);
        self.set(range.start..range.end + bytes.len());
    }

    /// Empties the buffer (the stream ended): the error its bytes make, a message cut off.
    fn cut_off(&mut self) -> Error {
        let got = self.len();
        let error = match self.header() {
            None if got == 0 => Error::Eof,
            None => Error::Truncated {
                got,
                expected: HEADER,
            },
            Some(len) => Error::Truncated {
                got: got - HEADER,
                expected: len,
            },
        };
        self.set(0..0);
        error
    }
}

/// A receiving end's read-ahead, in shared memory (see the [module docs](self)), and the count
/// of bytes written to it.
struct ReadAhead<P: Platform> {
    /// Bytes written into this end's stream by the other end's `send`s (any task, any
    /// process), added after each write, wrapping; on its own cache lines, since the writers
    /// change it while readers watch it and use the buffer. A hint for a waiting `recv`
    /// ([`Connection::wait_for_writer`]), never a fact a result depends on. Only used where
    /// the platform spins ([`Platform::SPIN_LIMIT`] above 0).
    written: Padded<P::AtomicU64>,
    buffer: P::Cell<Buffer>,
}

// SAFETY: an atomic word (padded) and one platform cell of a `Shareable` value, each
// `Shareable` by its bound.
unsafe impl<P: Platform> Shareable for ReadAhead<P> {}

impl<P: Platform> ReadAhead<P> {
    fn new() -> P::Shared<Self> {
        P::share(ReadAhead {
            written: Padded(P::AtomicU64::new(0)),
            buffer: P::Cell::new(Buffer {
                start: 0,
                end: 0,
                received: 0,
                drained: false,
                bytes: [0; READ_AHEAD],
            }),
        })
    }
}

/// The two ends [`pipe`] returns.
pub type Ends<T, P = Os> = (Connection<T, P>, Connection<T, P>);

/// A pipe between tasks, like `multiprocessing.Pipe(duplex)`: two connected ends.
///
/// With `duplex`, each end sends to and receives from the other. Otherwise the pipe is one-way,
/// and, as in Python, the **first** end only receives and the second only sends.
///
/// ```
/// use mpcheck::{pipe, Os};
///
/// let (parent, child) = pipe::<String, Os>(true)?;
/// let worker = mpcheck::thread::spawn::<Os, _, _>(move || {
///     let order = child.recv().unwrap();
///     child.send(&format!("{order}: done")).unwrap();
/// });
/// parent.send(&"ticket 7".to_owned())?;
/// assert_eq!(parent.recv()?, "ticket 7: done");
/// worker.join().unwrap();
/// // The child's end was dropped with its thread: nothing more will come.
/// assert_eq!(parent.recv(), Err(mpcheck::Error::Eof));
/// # Ok::<(), mpcheck::Error>(())
/// ```
#[track_caller]
pub fn pipe<T, P: Platform>(duplex: bool) -> Result<Ends<T, P>, Error> {
    let site = P::site();
    let (first, second) = P::pipe(duplex)?;
    // Each end's writes are counted in the other's read-ahead.
    let (first_ahead, second_ahead) = (ReadAhead::<P>::new(), ReadAhead::<P>::new());
    Ok((
        Connection::new(
            first,
            true,
            duplex,
            site,
            first_ahead.clone(),
            second_ahead.clone(),
        ),
        Connection::new(second, duplex, true, site, second_ahead, first_ahead),
    ))
}

struct Inner<P: Platform> {
    /// Dropped by hand, inside an operation (see `Drop`).
    end: ManuallyDrop<P::PipeEnd>,
    readable: bool,
    writable: bool,
    send_lock: Lock<P>,
    recv_lock: Lock<P>,
    /// Bytes read ahead, under `recv_lock`.
    read_ahead: P::Shared<ReadAhead<P>>,
    /// The other end's read-ahead, whose count of bytes written this end's sends add to.
    peer_ahead: P::Shared<ReadAhead<P>>,
    /// How many rounds the next wait on the writers' count makes (at most [`WAIT_ROUNDS`]):
    /// this process's, adapted as [`Connection::wait_for_writer`] says.
    wait_rounds: AtomicU32,
    /// Reads made without waiting since waiting was given up, or since the last probe.
    unwaited: AtomicU32,
    /// After how many such reads the next probe comes ([`WAIT_PROBE`] to [`WAIT_PROBE_MAX`]).
    probe_gap: AtomicU32,
    /// Set by `close`: this process's handles are closed, even where a buffered message would
    /// let a `recv` or `poll` answer without the end. A plain atomic: it is this process's
    /// state, like the end's own descriptor, and a `recv` racing with `close` may see either.
    closed: AtomicBool,
    /// Where a `recv` of this process reads before it appends to the buffer ([`READ_AHEAD`]
    /// bytes once used): kept rather than zeroed on the stack at every read. Only taken under
    /// `recv_lock`, and only tried (see `recv_bytes`).
    scratch: std::sync::Mutex<Vec<u8>>,
    /// Where the pipe was made: dropping the last handle of this end (which closes it) is
    /// reported there.
    site: P::Site,
}

impl<P: Platform> Drop for Inner<P> {
    fn drop(&mut self) {
        let _op = P::operation_at(
            || Some(self.send_lock.word()),
            "Connection",
            "drop",
            self.site,
        );
        // SAFETY: `end` is dropped once, here, and `self` is never used again.
        unsafe { ManuallyDrop::drop(&mut self.end) }
    }
}

/// One end of a [`pipe`], sending and receiving `T`s (or raw byte messages). Clones are handles
/// to the same end; tasks may share it (messages stay whole). Dropping the last handle closes the
/// end.
pub struct Connection<T, P: Platform = Os> {
    inner: Arc<Inner<P>>,
    // Items cross as bytes: the connection is `Send + Sync` whatever `T` is.
    item: PhantomData<fn(T) -> T>,
}

impl<T, P: Platform> Clone for Connection<T, P> {
    fn clone(&self) -> Self {
        Connection {
            inner: Arc::clone(&self.inner),
            item: PhantomData,
        }
    }
}

/// A [`Connection`] in the form that travels in a spawned process's arguments: its end (as the
/// platform exports it), its directions, and the locks that keep messages whole and the
/// read-ahead buffer (shared with the parent's handles, so senders in both processes still take
/// turns, and a message the parent's `recv` read ahead is still there for the child's).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
struct ConnectionWire<P: Platform> {
    end: u32,
    readable: bool,
    writable: bool,
    send_lock: Lock<P>,
    recv_lock: Lock<P>,
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    read_ahead: P::Shared<ReadAhead<P>>,
    #[serde(
        serialize_with = "crate::platform::wire::ser::<P, _, _>",
        deserialize_with = "crate::platform::wire::de::<P, _, _>"
    )]
    peer_ahead: P::Shared<ReadAhead<P>>,
}

/// Only in the arguments of a spawned process (`Process::call` with `StartMethod::Spawn`),
/// where the new image inherits the end's descriptor; anywhere else (a queue item, a message)
/// an encoding error, as in Python (a connection travels by inheritance).
impl<T, P: Platform> serde::Serialize for Connection<T, P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let end = self
            .inner
            .end
            .export()
            .map_err(<S::Error as serde::ser::Error>::custom)?;
        ConnectionWire::<P> {
            end,
            readable: self.inner.readable,
            writable: self.inner.writable,
            send_lock: self.inner.send_lock.clone(),
            recv_lock: self.inner.recv_lock.clone(),
            read_ahead: self.inner.read_ahead.clone(),
            peer_ahead: self.inner.peer_ahead.clone(),
        }
        .serialize(serializer)
    }
}

/// The connection a spawned process was given in its arguments (each once).
impl<'de, T, P: Platform> serde::Deserialize<'de> for Connection<T, P> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ConnectionWire::<P>::deserialize(deserializer)?;
        let end = P::PipeEnd::import(wire.end).map_err(<D::Error as serde::de::Error>::custom)?;
        Ok(Connection::with_locks(
            end,
            wire.readable,
            wire.writable,
            P::site(),
            (wire.send_lock, wire.recv_lock),
            wire.read_ahead,
            wire.peer_ahead,
        ))
    }
}

impl<T, P: Platform> std::fmt::Debug for Connection<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.inner.readable)
            .field("writable", &self.inner.writable)
            .finish_non_exhaustive()
    }
}

impl<T, P: Platform> Connection<T, P> {
    fn new(
        end: P::PipeEnd,
        readable: bool,
        writable: bool,
        site: P::Site,
        read_ahead: P::Shared<ReadAhead<P>>,
        peer_ahead: P::Shared<ReadAhead<P>>,
    ) -> Self {
        let locks = (Lock::new(), Lock::new());
        Self::with_locks(end, readable, writable, site, locks, read_ahead, peer_ahead)
    }

    fn with_locks(
        end: P::PipeEnd,
        readable: bool,
        writable: bool,
        site: P::Site,
        (send_lock, recv_lock): (Lock<P>, Lock<P>),
        read_ahead: P::Shared<ReadAhead<P>>,
        peer_ahead: P::Shared<ReadAhead<P>>,
    ) -> Self {
        Connection {
            inner: Arc::new(Inner {
                end: ManuallyDrop::new(end),
                readable,
                writable,
                send_lock,
                recv_lock,
                read_ahead,
                peer_ahead,
                wait_rounds: AtomicU32::new(WAIT_ROUNDS_START),
                unwaited: AtomicU32::new(0),
                probe_gap: AtomicU32::new(WAIT_PROBE),
                closed: AtomicBool::new(false),
                scratch: std::sync::Mutex::default(),
                site,
            }),
            item: PhantomData,
        }
    }

    /// `true` if this end can receive (Python's `readable`).
    #[track_caller]
    pub fn readable(&self) -> bool {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "readable");
        self.inner.readable
    }

    /// `true` if this end can send (Python's `writable`).
    #[track_caller]
    pub fn writable(&self) -> bool {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "writable");
        self.inner.writable
    }

    /// Sends `bytes` as one message.
    ///
    /// Errors: `ReadOnly` (the receiving end of a one-way pipe),
    /// `TooLarge` (over [`MAX_MESSAGE_LEN`]), `BrokenPipe` (the peer is closed; part of the
    /// message may have been written, which the peer can no longer read), `Closed`.
    #[track_caller]
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), Error> {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "send_bytes");
        if !self.inner.writable {
            return Err(Error::ReadOnly);
        }
        // As `recv` and `poll` do: a closed end sends nothing, even where its platform end
        // could still write (a `close` in progress has let go of its reading direction first,
        // see `PipeEnd::close`, and the peer may already have seen that).
        self.refuse_if_closed()?;
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge {
                what: "message",
                len: bytes.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let mut message = Vec::with_capacity(HEADER + bytes.len());
        message.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        message.extend_from_slice(bytes);
        let _held = self.inner.send_lock.lock();
        let mut sent = 0;
        while sent < message.len() {
            let n = self.inner.end.write(&message[sent..])?;
            if P::SPIN_LIMIT > 0 {
                // A hint for a reader waiting on the count (see `wait_for_writer`), which orders
                // nothing: the bytes themselves travel through the pipe.
                self.inner.peer_ahead.written.0.fetch_add(n as u64, Relaxed);
            }
            sent += n;
        }
        Ok(())
    }

    /// Receives one message's bytes, waiting for it.
    ///
    /// Errors: `WriteOnly` (the sending end of a one-way pipe), `Eof` (no message left and every
    /// writing end closed), `Truncated` (the writer went away in the middle of a message; its
    /// bytes are discarded), `TooLarge` (a header announcing more than [`MAX_MESSAGE_LEN`]: not a
    /// connection's stream), `Closed`.
    #[track_caller]
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "recv_bytes");
        if !self.inner.readable {
            return Err(Error::WriteOnly);
        }
        self.refuse_if_closed()?;
        let _held = self.inner.recv_lock.lock();
        let buffer = &self.inner.read_ahead.buffer;
        loop {
            // SAFETY (every `with_mut` on `buffer` here): the receive lock is held, and every
            // access to the buffer, in any task or process, is made under it.
            let (room, idle) = match unsafe { buffer.with_mut(Buffer::take) } {
                Front::Message(message) => return Ok(message),
                Front::TooLarge { len } => {
                    return Err(Error::TooLarge {
                        what: "message",
                        len,
                        max: MAX_MESSAGE_LEN,
                    })
                }
                Front::Large { mut prefix, len } => {
                    // Read up to the message's last byte, not beyond: nothing is read ahead.
                    let have = prefix.len();
                    prefix.resize(len, 0);
                    let read = self.read_exact(&mut prefix[have..]);
                    if P::SPIN_LIMIT > 0 {
                        // Counted for `wait_for_writer` (bytes an error cut short are not: the
                        // count is a hint); these reads are not known to have emptied the pipe.
                        let n = *read.as_ref().unwrap_or(&0) as u64;
                        // SAFETY: as above.
                        unsafe {
                            buffer.with_mut(|b| {
                                b.received = b.received.wrapping_add(n);
                                b.drained = false;
                            })
                        }
                    }
                    let got = have + read?;
                    if got < len {
                        return Err(Error::Truncated { got, expected: len });
                    }
                    return Ok(prefix);
                }
                Front::NeedMore { room, idle } => (room, idle),
            };
            // Read into this process's scratch, outside the cell's access (an explorer's cell
            // access is one step, which a blocking read must not sit inside), then append. The
            // scratch's lock is never waited for: under the receive lock it is free, unless this
            // process was forked while another thread held it (in the middle of a read, in the
            // parent), and then this copy stays locked for good; a fresh scratch does as well.
            let mut kept = match self.inner.scratch.try_lock() {
                Ok(scratch) => Some(scratch),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            let mut fresh = Vec::new();
            let scratch = kept.as_deref_mut().unwrap_or(&mut fresh);
            scratch.resize(READ_AHEAD, 0);
            if let Some(received) = idle {
                self.wait_for_writer(received);
            }
            let n = self.inner.end.read(&mut scratch[..room])?;
            // SAFETY: as above.
            unsafe {
                buffer.with_mut(|b| {
                    // For `wait_for_writer`: less than asked for means the pipe is empty now.
                    b.received = b.received.wrapping_add(n as u64);
                    b.drained = n < room;
                    match n {
                        // End of file: whatever is buffered is a message cut off.
                        0 => Err(b.cut_off()),
                        n => {
                            b.append(&scratch[..n]);
                            Ok(())
                        }
                    }
                })
            }?;
        }
    }

    /// Before a `recv`'s read of the pipe (under the receive lock), when the last read emptied
    /// the pipe: if the writers' count ([`ReadAhead::written`]) is no further than the bytes
    /// read so far (`received`), nothing was written since and the read would block, so first
    /// watch the count for a while, spinning, without a system call, until it moves. The read
    /// that follows decides what happens whatever the count says: a writer that died (before
    /// or after its count), or bytes written past the count, only make a wait end
    /// empty-handed. Where the platform does not spin it does nothing, not even read the count.
    ///
    /// How many rounds it waits adapts, per end and process, as `OsPipeEnd`'s spin does: one
    /// more after a wait that saw the count move, half after one that did not; from none it
    /// probes again with [`WAIT_ROUNDS_START`] after [`WAIT_PROBE`] reads without waiting, and
    /// after twice as many (up to [`WAIT_PROBE_MAX`]) each time a probe fails. On a machine
    /// with more runnable tasks than processors the writer a `recv` waits for is often queued
    /// behind the waiter on its own processor (a woken task is placed near its waker), where
    /// waiting only delays it: there waits fail, and die out. It never yields: on a busy
    /// machine a yield hands the processor to other work for a time slice, far longer than a
    /// wake-up.
    fn wait_for_writer(&self, received: u64) {
        if P::SPIN_LIMIT == 0 {
            return;
        }
        // First whether to wait at all, from this process's own state: where waits have died
        // out, the count is not even read, so that its cache line stays with the writers.
        let inner = &*self.inner;
        let mut rounds = inner.wait_rounds.load(Relaxed);
        let probe = rounds == 0;
        if probe {
            if inner.unwaited.fetch_add(1, Relaxed) + 1 < inner.probe_gap.load(Relaxed) {
                return;
            }
            inner.unwaited.store(0, Relaxed);
            rounds = WAIT_ROUNDS_START;
        }
        let written = &inner.read_ahead.written.0;
        let start = written.load(Relaxed);
        // Signed: a count behind the bytes read (a writer died between its write and its
        // count) is "nothing new" too.
        if (start.wrapping_sub(received) as i64) > 0 {
            // Bytes were written since (or a reader died before counting what it read): read.
            return;
        }
        for round in 0..rounds {
            for _ in 0..1u32 << round.min(PAUSE_SHIFT) {
                std::hint::spin_loop();
            }
            if written.load(Relaxed) != start {
                inner
                    .wait_rounds
                    .store((rounds + 1).min(WAIT_ROUNDS), Relaxed);
                inner.probe_gap.store(WAIT_PROBE, Relaxed);
                return;
            }
        }
        if probe {
            let gap = inner.probe_gap.load(Relaxed);
            inner
                .probe_gap
                .store((gap * 2).min(WAIT_PROBE_MAX), Relaxed);
        } else {
            inner.wait_rounds.store(rounds / 2, Relaxed);
        }
    }

    /// Fills `buf` unless end of file comes first; returns the bytes read.
    fn read_exact(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.end.read(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    }

    /// `true` as soon as a `recv` would not wait (a message, or end of file, is there), `false`
    /// once `timeout` passed without that; `None` waits as long as it takes, `Some(ZERO)` does
    /// not wait at all. Errors: `WriteOnly`, `Closed`.
    ///
    /// It looks under the receive lock (a message may be read ahead, see the
    /// [module docs](self)): while another task's `recv` holds it, waiting for a message, `poll`
    /// waits for the lock as well, within the same `timeout`.
    #[track_caller]
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "poll");
        if !self.inner.readable {
            return Err(Error::WriteOnly);
        }
        self.refuse_if_closed()?;
        // A timeout too far away to be a deadline waits as long as it takes.
        let deadline = timeout.and_then(deadline_after::<P>);
        // Under the receive lock, so that a `recv` moving bytes from the pipe into the buffer
        // cannot hide them from this poll (which would then wait on a pipe they have left). A
        // `recv` holding the lock while it waits means no message is there yet: waiting for the
        // lock is waiting for one (and a dead holder's lock is taken over).
        let recv_lock = &self.inner.recv_lock;
        match (timeout, deadline) {
            (Some(timeout), Some(_)) => {
                if !recv_lock.acquire_timeout(timeout) {
                    return Ok(false);
                }
            }
            _ => {
                let _ = recv_lock.acquire();
            }
        }
        struct Release<'a, P: Platform>(&'a Lock<P>);
        impl<P: Platform> Drop for Release<'_, P> {
            fn drop(&mut self) {
                let _ = self.0.release();
            }
        }
        let _held = Release(recv_lock);
        // SAFETY: the receive lock is held (see `recv_bytes`).
        if unsafe { self.inner.read_ahead.buffer.with(Buffer::ready) } {
            return Ok(true);
        }
        self.inner.end.poll(deadline)
    }

    /// Closes this end, for every handle: later operations on it (`send`, `recv`, `poll`) fail
    /// with `Closed`; the peer receives what was sent, then `Eof`, and its sends fail with
    /// `BrokenPipe`. Idempotent.
    ///
    /// One step for everyone else: the flag that refuses this end's later operations is set
    /// before the platform end closes, and the platform closes a duplex end so that its peer
    /// never sees half of it (a send refused with `BrokenPipe`, then a `poll` that finds
    /// nothing and no end of file: see [`PipeEnd::close`]); an operation of this end that finds
    /// the flag finishes the close before it is refused. An operation of this end already past
    /// its check when `close` begins may still complete, as if it came first.
    #[track_caller]
    pub fn close(&self) {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "close");
        self.inner.closed.store(true, SeqCst);
        self.inner.end.close();
    }

    /// `Err(Closed)` once `close` began on this end, returned only once the platform end is
    /// closed too. The flag is set before the end closes (so that a `recv` with a buffered
    /// message refuses it from the close's first step on), and the peer sees the close only
    /// when the end closes: an operation that found the flag and returned at once would be
    /// refused before the peer could tell, and a send on the peer after it could succeed
    /// (found by `duplex_pipe::sim_pct`). So it finishes the close itself (`PipeEnd::close` is
    /// idempotent and returns once the end is closed, whoever began it): a refusal is never
    /// seen before the peer can see the close.
    fn refuse_if_closed(&self) -> Result<(), Error> {
        if self.inner.closed.load(SeqCst) {
            self.inner.end.close();
            return Err(Error::Closed { what: "connection" });
        }
        Ok(())
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> Connection<T, P> {
    /// Sends `item` as one message (postcard-encoded here, so an `Encode` error, with the item's
    /// own message when its `Serialize` failed, reaches the caller and nothing is sent). Other
    /// errors as [`Connection::send_bytes`].
    #[track_caller]
    pub fn send(&self, item: &T) -> Result<(), Error> {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "send");
        if !self.inner.writable {
            return Err(Error::ReadOnly);
        }
        // Before encoding, so that a closed end says so whatever the item (`send_bytes` checks
        // again).
        self.refuse_if_closed()?;
        let bytes = crate::codec::encode(item)?;
        self.send_bytes(&bytes)
    }

    /// Receives one item, waiting for it. Errors as [`Connection::recv_bytes`], plus `Decode`
    /// (the message is not a `T`: sent by `send_bytes`, or by a program with another type; the
    /// message is consumed).
    #[track_caller]
    pub fn recv(&self) -> Result<T, Error> {
        let _op = P::operation(|| self.inner.send_lock.word(), "Connection", "recv");
        decode(&self.recv_bytes()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{explore, Config};
    use crate::{Os, Sim};

    /// A reading connection on the first end of a one-way pipe, and its raw sending end: a
    /// writer that dies in the middle of a message (as a killed process would) is simulated by
    /// writing part of a frame and dropping the end.
    fn raw<P: Platform>() -> (Connection<u8, P>, P::PipeEnd) {
        let (first, second) = P::pipe(false).expect("a pipe");
        let ahead = ReadAhead::<P>::new();
        let rx = Connection::new(first, true, false, P::site(), ahead.clone(), ahead);
        (rx, second)
    }

    fn write_all<P: Platform>(end: &P::PipeEnd, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = &bytes[end.write(bytes).expect("the reader is open")..];
        }
    }

    /// Cut-off messages and impossible headers, on platform `P`.
    fn cut_off<P: Platform>() {
        // The payload cut off: 2 of 10 bytes.
        let (rx, tx) = raw::<P>();
        write_all::<P>(&tx, &[10, 0, 0, 0, 1, 2]);
        drop(tx);
        assert_eq!(
            rx.recv_bytes(),
            Err(Error::Truncated {
                got: 2,
                expected: 10
            })
        );
        assert_eq!(rx.recv_bytes(), Err(Error::Eof));

        // The header cut off.
        let (rx, tx) = raw::<P>();
        write_all::<P>(&tx, &[1, 0]);
        tx.close();
        assert_eq!(
            rx.recv(),
            Err(Error::Truncated {
                got: 2,
                expected: HEADER
            })
        );

        // A header no connection writes: refused, nothing allocated.
        let (rx, tx) = raw::<P>();
        write_all::<P>(&tx, &u32::MAX.to_le_bytes());
        assert_eq!(
            rx.recv_bytes(),
            Err(Error::TooLarge {
                what: "message",
                len: u32::MAX as usize,
                max: MAX_MESSAGE_LEN
            })
        );
    }

    /// Whole messages read ahead together with a cut-off one, then the writer gone: the whole
    /// ones come out, then the cut-off one's error, then end of file.
    fn buffered_then_cut_off<P: Platform>() {
        let (rx, tx) = raw::<P>();
        let mut stream = Vec::new();
        for body in [&b"one"[..], b"", b"three"] {
            stream.extend_from_slice(&(body.len() as u32).to_le_bytes());
            stream.extend_from_slice(body);
        }
        stream.extend_from_slice(&[5, 0, 0, 0, b'f', b'o']);
        write_all::<P>(&tx, &stream);
        drop(tx);
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"one"[..]));
        assert_eq!(rx.poll(None), Ok(true));
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&b""[..]));
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"three"[..]));
        assert_eq!(rx.poll(None), Ok(true));
        assert_eq!(
            rx.recv_bytes(),
            Err(Error::Truncated {
                got: 2,
                expected: 5
            })
        );
        assert_eq!(rx.recv_bytes(), Err(Error::Eof));
    }

    /// A message larger than the read-ahead buffer, behind a small one and cut off: its
    /// buffered start and the rest read straight both count. (More than an emulated pipe holds,
    /// so one task could not write it all first there.)
    fn large_cut_off<P: Platform>() {
        let (rx, tx) = raw::<P>();
        let mut stream = vec![1, 0, 0, 0, 42];
        stream.extend_from_slice(&(2 * READ_AHEAD as u32).to_le_bytes());
        stream.extend(std::iter::repeat_n(7, READ_AHEAD + 10));
        write_all::<P>(&tx, &stream);
        drop(tx);
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&[42][..]));
        assert_eq!(
            rx.recv_bytes(),
            Err(Error::Truncated {
                got: READ_AHEAD + 10,
                expected: 2 * READ_AHEAD
            })
        );
        assert_eq!(rx.recv_bytes(), Err(Error::Eof));
    }

    /// The writers' count is a hint: bytes written past it (a raw write here; a writer that
    /// died between its write and its count), and a count that is behind the bytes read or
    /// ahead of them (a reader that died between its read and its count), cost at most a wait
    /// that gives up, never a message or the end of file. (The count only exists where the
    /// platform spins: on `Os`.)
    #[test]
    fn a_count_that_lies_changes_no_result_on_os() {
        for lie in [0, 1000u64.wrapping_neg(), 1000] {
            let (rx, tx) = raw::<Os>();
            rx.inner.read_ahead.written.0.fetch_add(lie, Relaxed);
            for body in 0..40u8 {
                write_all::<Os>(&tx, &[1, 0, 0, 0, body]);
                assert_eq!(rx.recv_bytes().as_deref(), Ok(&[body][..]));
            }
            write_all::<Os>(&tx, &[1, 0, 0]);
            drop(tx);
            assert_eq!(
                rx.recv_bytes(),
                Err(Error::Truncated {
                    got: 3,
                    expected: HEADER
                })
            );
            assert_eq!(rx.recv_bytes(), Err(Error::Eof));
        }
    }

    #[test]
    fn buffered_messages_come_before_a_cut_off_one_on_os() {
        buffered_then_cut_off::<Os>();
        large_cut_off::<Os>();
    }

    #[test]
    fn buffered_messages_come_before_a_cut_off_one_under_the_simulator() {
        let report = explore(
            Config::dfs()
                .granularity(crate::sim::Granularity::Step)
                .ignore_env(),
            buffered_then_cut_off::<Sim>,
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete());
    }

    #[test]
    fn a_message_cut_off_is_an_error_never_a_partial_value_on_os() {
        cut_off::<Os>();
        let error = Error::Truncated {
            got: 2,
            expected: 10,
        };
        assert!(
            error.to_string().contains("after 2 of its 10 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_message_cut_off_is_an_error_never_a_partial_value_under_the_simulator() {
        let report = explore(
            Config::dfs()
                .granularity(crate::sim::Granularity::Step)
                .ignore_env(),
            cut_off::<Sim>,
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete());
    }
}
