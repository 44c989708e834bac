//! [`pipe`] and [`Connection`]: `multiprocessing.Pipe`, messages over a platform byte pipe.
//!
//! The platform gives a kernel byte stream per direction ([`Platform::pipe`]: a Unix socket
//! pair or a kernel pipe on [`Os`], an emulated pipe under the explorers). A `Connection` frames
//! it into messages, written once here for every platform:
//!
//! - a message goes out as a **frame**: its 4-byte little-endian length and its bytes, stuffed
//!   (COBS: Cheshire and Baker, 1999) so that no byte of the frame is 0, then a 0 that ends
//!   it; one byte in 254 more than the message, plus 6. Items are encoded with postcard
//!   (`send`/`recv`), raw bytes go as they are (`send_bytes`/`recv_bytes`);
//! - each end has a send lock and a receive lock, so tasks sharing a `Connection` never
//!   interleave their messages' bytes (CPython leaves that to the user);
//! - a message goes out in one `write` (its whole frame in one buffer) when the platform
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
//!   writer that closed or died in the middle of it, with no writer left, is
//!   `Error::Truncated`, never a partial value;
//! - **a process can die anywhere**, also while it holds an end that live processes share
//!   (its lock is then taken over). Because a frame's end is a byte no frame holds, the
//!   stream can always be found again:
//!
//!   | who dies | where | what the others see |
//!   |---|---|---|
//!   | a sender | in the middle of a frame | the next sender ends the cut frame first (it counts what a frame in progress owes the stream, in shared memory, and writes that many 0s); the receive that reaches it gets `Error::ItemLost`, once, and the next one the next message |
//!   | a receiver | waiting for bytes | nothing: a receive waits in `poll`, without reading |
//!   | a receiver | in the middle of a large message, or between a read of the pipe and its record in the shared buffer | the next receive drops the stream up to the next 0 (the message, and what else that read took, went with the dead receiver) and returns `Error::ItemLost`, once; the next one the next message |
//!
//!   Every message returned is one a sender sent, whole; never two senders' bytes in one
//!   (Python's `Connection` has no lock: its readers hang on a dead one's lock in a `Queue`,
//!   or read the next sender's bytes as the rest of a dead one's message);
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

/// Bytes of a message's length header (little-endian), the first bytes of its frame before
/// stuffing.
const HEADER: usize = 4;
/// The byte that ends every frame, and that no frame holds (see [`stuff`]).
const DELIMITER: u8 = 0;
/// The most payload bytes one block of a stuffed frame carries.
const BLOCK: usize = 254;

/// Appends to `out` the frame of `payload`: its length and its bytes, stuffed so that no byte
/// of it is [`DELIMITER`] (Consistent Overhead Byte Stuffing, Cheshire and Baker, IEEE/ACM
/// Transactions on Networking 7(2), 1999: each run of up to 254 non-zero bytes goes out behind
/// a code byte, its length plus one, and a code below 255 stands for a zero after the run),
/// then the delimiter. At most one byte in 254 more than the message, plus the delimiter.
/// Runs are copied whole: a message without zeros costs a copy and a code byte per 254.
fn stuff(payload: &[u8], out: &mut Vec<u8>) {
    let header = (payload.len() as u32).to_le_bytes();
    stuff_parts(&[&header, payload], out);
}

/// Appends to `out` the bytes of `parts`, one after the other, stuffed (see [`stuff`]), then
/// the delimiter.
fn stuff_parts(parts: &[&[u8]], out: &mut Vec<u8>) {
    let mut code_at = out.len();
    out.push(0);
    for &part in parts {
        let mut rest = part;
        while !rest.is_empty() {
            let room = BLOCK - (out.len() - code_at - 1);
            let run = memchr::memchr(DELIMITER, &rest[..rest.len().min(room)]);
            let copied = run.unwrap_or(rest.len().min(room));
            out.extend_from_slice(&rest[..copied]);
            rest = &rest[copied..];
            if run.is_some() {
                // A zero ends the block; it is the code byte's to stand for.
                rest = &rest[1..];
            } else if out.len() - code_at - 1 < BLOCK {
                continue;
            }
            // Both below 256: a block holds at most 254 bytes.
            out[code_at] = (out.len() - code_at) as u8;
            code_at = out.len();
            out.push(0);
        }
    }
    out[code_at] = (out.len() - code_at) as u8;
    out.push(DELIMITER);
}

/// Undoes [`stuff`] on a frame without its delimiter, in place: the payload is moved to the
/// front of `frame` (every payload byte stands at least a code byte and the header further on
/// in the frame), which is cut to it. `Ok(true)` if the frame is whole and says so (its blocks
/// end where the frame does and its header tells the payload's length), `Ok(false)` for a
/// frame cut off, whose sender died in the middle of it; `Err` with the length a header
/// announces over [`MAX_MESSAGE_LEN`]. A large message is decoded where it was read, with no
/// second allocation of its size.
fn unstuff_in_place(frame: &mut Vec<u8>) -> Result<bool, usize> {
    let mut header = [0; HEADER];
    let mut have = 0;
    let mut len = None;
    let mut out = 0;
    let mut at = 0;
    let end_of_frame = frame.len();
    // Counts one decoded header byte; the length once the header is whole.
    let mut header_byte = |b: u8, len: &mut Option<usize>| -> Result<(), usize> {
        header[have] = b;
        have += 1;
        if have == HEADER {
            let announced = u32::from_le_bytes(header) as usize;
            if announced > MAX_MESSAGE_LEN {
                return Err(announced);
            }
            *len = Some(announced);
        }
        Ok(())
    };
    while at < end_of_frame {
        let code = usize::from(frame[at]);
        let end = at + code;
        if code == 0 || end > end_of_frame {
            return Ok(false);
        }
        let mut from = at + 1;
        while len.is_none() && from < end {
            header_byte(frame[from], &mut len)?;
            from += 1;
        }
        frame.copy_within(from..end, out);
        out += end - from;
        at = end;
        if code != BLOCK + 1 && at < end_of_frame {
            if len.is_none() {
                header_byte(0, &mut len)?;
            } else {
                frame[out] = 0;
                out += 1;
            }
        }
    }
    frame.truncate(out);
    Ok(len == Some(out))
}

/// What a frame's start (stuffed, no delimiter in it) decodes to, as far as it goes: the
/// header's length once the header is there, and how many bytes it decodes to in all.
fn decoded_so_far(start: &[u8]) -> (Option<usize>, usize) {
    let mut header = [0; HEADER];
    let mut decoded = 0;
    let mut byte = |b: u8| {
        if let Some(slot) = header.get_mut(decoded) {
            *slot = b;
        }
        decoded += 1;
    };
    let mut at = 0;
    while at < start.len() {
        let code = usize::from(start[at]).max(1);
        let end = (at + code).min(start.len());
        start[at + 1..end].iter().for_each(|&b| byte(b));
        at = end;
        if code != BLOCK + 1 && at < start.len() {
            byte(0);
        }
    }
    let len = (decoded >= HEADER).then(|| u32::from_le_bytes(header) as usize);
    (len, decoded)
}

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
/// The rounds a new end starts with. (An end that gave waiting up tries again with
/// [`WAIT_ROUNDS`]: see [`Connection::wait_for_writer`].)
const WAIT_ROUNDS_START: u32 = 10;
/// After how many reads without waiting an end that gave waiting up tries it again (a probe),
/// at first; each probe that fails doubles that, up to [`WAIT_PROBE_MAX`], and a wait that
/// sees the count move sets it back.
const WAIT_PROBE: u32 = 32;
/// The most reads between two probes: a probe that fails costs a whole wait of
/// [`WAIT_ROUNDS`] rounds (some 60 µs), which this makes some 60 ns per read.
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
    /// A read of the pipe is in progress whose bytes are not yet recorded here (see
    /// [`Connection::read_recorded`]). Found set by the next holder, the holder died there,
    /// and how much of the stream it took is unknown: the stream is [`Buffer::adrift`].
    reading: bool,
    /// The stream's front may be inside a frame (a holder died in the middle of a read, or of
    /// a large message it read into its own allocation): everything up to the next
    /// [`DELIMITER`] is dropped before the next frame is read.
    adrift: bool,
    bytes: [u8; READ_AHEAD],
}

// SAFETY: integers, flags and a byte array, inline: no pointer, no per-process handle.
unsafe impl Shareable for Buffer {}

/// What [`Buffer::take`] found at the front of the buffer.
enum Front {
    /// A whole message, now taken out of the buffer.
    Message(Vec<u8>),
    /// A frame longer than the buffer, no delimiter in it yet: `prefix` holds its bytes so
    /// far (taken out; the buffer is empty and adrift until the frame is read), and `len` is
    /// the payload's length once the header is among them.
    Large { prefix: Vec<u8>, len: Option<usize> },
    /// A header announcing `len` bytes, over [`MAX_MESSAGE_LEN`]: its frame is dropped (the
    /// buffer is adrift, if the frame's end is not there yet).
    TooLarge { len: usize },
    /// A frame whose sender died in the middle of it, or bytes dropped to find the next frame
    /// after a receiver died in the middle of one: taken out.
    Lost,
    /// No whole frame yet: the buffered bytes were moved to the front, and up to `room` more
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

    fn set(&mut self, range: std::ops::Range<usize>) {
        // Empty: back to the front, so the next read has the whole buffer.
        let range = if range.is_empty() { 0..0 } else { range };
        // Both at most `READ_AHEAD`.
        self.start = range.start as u32;
        self.end = range.end as u32;
    }

    /// Where the next delimiter is, in the buffered bytes.
    fn delimiter(&self) -> Option<usize> {
        let range = self.range();
        memchr::memchr(DELIMITER, &self.bytes[range.clone()]).map(|at| range.start + at)
    }

    /// `true` when a `recv` would answer from the buffer at once: a whole frame is buffered
    /// (or a header no message fits behind), and the stream is not adrift.
    fn ready(&self) -> bool {
        if self.reading || self.adrift {
            return false;
        }
        // After the empty frames at the front (0s a sender wrote after a dead one's frame),
        // which a `recv` skips.
        let range = self.range();
        let bytes = &self.bytes[range.clone()];
        let empty = bytes.iter().take_while(|&&b| b == DELIMITER).count();
        memchr::memchr(DELIMITER, &bytes[empty..]).is_some() || range.len() == READ_AHEAD
    }

    /// Takes the message at the front out of the buffer, if it is whole (see [`Front`]).
    /// First what a holder that died left: after a read in progress, or inside a large frame,
    /// the bytes up to the next delimiter are dropped.
    fn take(&mut self) -> Front {
        if self.reading {
            self.reading = false;
            self.adrift = true;
        }
        let range = self.range();
        if self.adrift {
            let Some(at) = self.delimiter() else {
                self.set(0..0);
                return Front::NeedMore {
                    room: READ_AHEAD,
                    idle: self.drained.then_some(self.received),
                };
            };
            self.adrift = false;
            self.set(at + 1..range.end);
            // Dropped: the end of a frame a dead receiver had begun (a message it took),
            // maybe all of the next one.
            return Front::Lost;
        }
        // Empty frames (a sender's delimiter after a dead one's frame that was whole) end
        // nothing.
        let mut range = range;
        while range.start < range.end && self.bytes[range.start] == DELIMITER {
            range.start += 1;
        }
        self.set(range.clone());
        let range = self.range();
        if let Some(at) = self.delimiter() {
            let mut message = self.bytes[range.start..at].to_vec();
            self.set(at + 1..range.end);
            return match unstuff_in_place(&mut message) {
                Ok(true) => Front::Message(message),
                Ok(false) => Front::Lost,
                Err(len) => Front::TooLarge { len },
            };
        }
        let (len, _) = decoded_so_far(&self.bytes[range.clone()]);
        if let Some(len) = len.filter(|&len| len > MAX_MESSAGE_LEN) {
            // Its end is not buffered: dropped when it comes.
            self.set(0..0);
            self.adrift = true;
            return Front::TooLarge { len };
        }
        // A frame that cannot fit (its header says so, or it filled the buffer without
        // ending): read into its own allocation.
        if len.is_some_and(|len| HEADER + len + 2 > READ_AHEAD) || range.len() == READ_AHEAD {
            let prefix = self.bytes[range].to_vec();
            self.set(0..0);
            self.adrift = true;
            return Front::Large { prefix, len };
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
        let range = self.range();
        let error = if range.is_empty() || self.adrift {
            Error::Eof
        } else {
            truncated(&self.bytes[range])
        };
        self.set(0..0);
        self.adrift = false;
        error
    }
}

/// The error for the start of a frame (no delimiter in it) that the stream ended inside.
fn truncated(start: &[u8]) -> Error {
    match decoded_so_far(start) {
        (Some(len), decoded) => Error::Truncated {
            got: (decoded - HEADER).min(len),
            expected: len,
        },
        (None, got) => Error::Truncated {
            got,
            expected: HEADER,
        },
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
    /// Bytes the senders into this end's stream may still owe it: a sender adds its frame's
    /// length before its first write and sets this back to 0 after its last, under the
    /// sending end's lock. Found above 0 by a sender, the one before it died in the middle of
    /// its frame (or failed there), and the stream is owed at most that many bytes: the sender
    /// writes them as delimiters first (see [`Connection::send_bytes`]). On its own cache
    /// lines: only senders touch it, while receivers write the buffer beside it.
    owed: Padded<P::AtomicU64>,
    buffer: P::Cell<Buffer>,
}

// SAFETY: an atomic word (padded) and one platform cell of a `Shareable` value, each
// `Shareable` by its bound.
unsafe impl<P: Platform> Shareable for ReadAhead<P> {}

impl<P: Platform> ReadAhead<P> {
    fn new() -> P::Shared<Self> {
        P::share(ReadAhead {
            written: Padded(P::AtomicU64::new(0)),
            owed: Padded(P::AtomicU64::new(0)),
            buffer: P::Cell::new(Buffer {
                start: 0,
                end: 0,
                received: 0,
                drained: false,
                reading: false,
                adrift: false,
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
        let mut frame = Vec::with_capacity(HEADER + bytes.len() + bytes.len() / BLOCK + 3);
        stuff(bytes, &mut frame);
        let _held = self.inner.send_lock.lock();
        // What this frame owes the stream until its last byte is written, on top of what a
        // sender before it may owe: a sender that dies anywhere from here on leaves at least
        // what is missing counted.
        let owed = &self.inner.peer_ahead.owed.0;
        let debt = owed.fetch_add(frame.len() as u64, Relaxed);
        if debt > 0 {
            self.pay(debt)?;
        }
        self.write_all(&frame)?;
        owed.store(0, Relaxed);
        Ok(())
    }

    /// Ends the frame a sender that died left cut off, with `debt` delimiters: at least the
    /// bytes its frame still missed. The first ends the frame, which does not decode (its
    /// receiver gets `ItemLost`; one that was whole after all decodes whole); the rest are
    /// empty frames, skipped. So the next frame starts where a receiver looks for one, and a
    /// receiver reading the cut frame up to the least length its header allows (see
    /// [`Connection::read_large`]) reads no further than these delimiters.
    fn pay(&self, debt: u64) -> Result<(), Error> {
        const DELIMITERS: [u8; READ_AHEAD] = [DELIMITER; READ_AHEAD];
        let mut left = debt;
        while left > 0 {
            // At most `READ_AHEAD`, which fits.
            let chunk = left.min(READ_AHEAD as u64) as usize;
            self.write_all(&DELIMITERS[..chunk])?;
            left -= chunk as u64;
        }
        Ok(())
    }

    /// Writes `bytes` whole (under the send lock).
    fn write_all(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut sent = 0;
        while sent < bytes.len() {
            let n = self.inner.end.write(&bytes[sent..])?;
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
    /// bytes are discarded), `ItemLost` (a message lost to a process that died in the middle
    /// of sending or receiving it, on an end others share: see the [module docs](self)),
    /// `TooLarge` (a header announcing more than [`MAX_MESSAGE_LEN`]: not a connection's
    /// stream), `Closed`.
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
                Front::Lost => return Err(Error::ItemLost),
                Front::Large { prefix, len } => return self.read_large(prefix, len),
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
            let mut ended = None;
            self.read_recorded(&mut scratch[..room], |b, bytes| {
                // For `wait_for_writer`: less than asked for means the pipe is empty now.
                b.received = b.received.wrapping_add(bytes.len() as u64);
                b.drained = bytes.len() < room;
                match bytes.len() {
                    // End of file: whatever is buffered is a message cut off.
                    0 => ended = Some(b.cut_off()),
                    _ => b.append(bytes),
                }
            })?;
            if let Some(error) = ended {
                return Err(error);
            }
        }
    }

    /// Reads the rest of a frame too large for the buffer, whose start is `frame` (the buffer
    /// is empty and adrift meanwhile: a receiver that dies in here leaves the frame's rest to
    /// be dropped), into the message's own allocation. Up to the least length a frame of `len`
    /// payload bytes has, it reads no further (a whole frame is at least that long, and a cut
    /// one is followed by as many delimiters, see [`Connection::pay`]); past that, a buffer's
    /// worth at a time until the delimiter, and the bytes after it go back into the buffer.
    fn read_large(&self, mut frame: Vec<u8>, mut len: Option<usize>) -> Result<Vec<u8>, Error> {
        // `frame[..got]` is read; the rest of `frame` room for the next read (grown once to
        // the least length, then a buffer's worth at a time, never zeroed twice).
        let mut got = frame.len();
        loop {
            if len.is_none() {
                len = decoded_so_far(&frame[..got]).0;
                if let Some(len) = len.filter(|&len| len > MAX_MESSAGE_LEN) {
                    return Err(Error::TooLarge {
                        what: "message",
                        len,
                        max: MAX_MESSAGE_LEN,
                    });
                }
            }
            // A frame has at least one code byte before its header and payload.
            let least = len.map_or(0, |len| 1 + HEADER + len);
            let most = len.map_or(usize::MAX, |len| {
                HEADER + len + (HEADER + len).div_ceil(BLOCK) + 1
            });
            if got > most {
                // No delimiter where one must be: not a connection's stream (the buffer stays
                // adrift, so the next receive drops up to the next delimiter).
                return Err(Error::ItemLost);
            }
            let have = got;
            let until = if have < least {
                least
            } else {
                have + READ_AHEAD
            };
            if frame.len() < until {
                frame.resize(until, 0);
            }
            let mut ended = false;
            let n = self.read_recorded(&mut frame[have..until], |b, bytes| {
                if P::SPIN_LIMIT > 0 {
                    // Counted for `wait_for_writer`; these reads are not known to have emptied
                    // the pipe.
                    b.received = b.received.wrapping_add(bytes.len() as u64);
                    b.drained = false;
                }
                if let Some(at) = memchr::memchr(DELIMITER, bytes) {
                    // The frame's end: what came after it is the stream's rest, less the empty
                    // frames at its front. (A read up to the least length ends early only
                    // inside a cut frame, whose sender's successor wrote delimiters at least as
                    // far: all of its rest is empty frames. A read past the least length asks
                    // for a buffer's worth, which the buffer, empty meanwhile, holds.)
                    let rest = &bytes[at + 1..];
                    let empty = rest.iter().take_while(|&&b| b == DELIMITER).count();
                    // (More than the buffer holds only in a stream no connection wrote.)
                    let rest = &rest[empty..];
                    b.append(&rest[..rest.len().min(READ_AHEAD)]);
                    b.adrift = false;
                    ended = true;
                } else if bytes.is_empty() {
                    // End of file inside the frame: nothing more comes.
                    b.adrift = false;
                }
            })?;
            got += n;
            if n == 0 {
                return Err(truncated(&frame[..got]));
            }
            if ended {
                let at = have
                    + memchr::memchr(DELIMITER, &frame[have..got]).expect("the record found it");
                frame.truncate(at);
                return match unstuff_in_place(&mut frame) {
                    Ok(true) => Ok(frame),
                    Ok(false) => Err(Error::ItemLost),
                    Err(len) => Err(Error::TooLarge {
                        what: "message",
                        len,
                        max: MAX_MESSAGE_LEN,
                    }),
                };
            }
        }
    }

    /// One read of the pipe into `buf` (under the receive lock), that `record` accounts for in
    /// the buffer, in the same access that ends it; its count, 0 at end of file.
    ///
    /// A receiver can die at any instruction, and the kernel's pipe takes bytes out before
    /// the buffer can record them. So the read is marked in the buffer ([`Buffer::reading`])
    /// from just before it until its record, and the read never waits while marked: it takes
    /// what is there without waiting ([`PipeEnd::try_read`]); when nothing is, the mark is
    /// cleared, and the wait for bytes ([`PipeEnd::wait_readable`]) reads nothing. A receiver that dies
    /// while it waits leaves the stream whole; one that dies from a read to its record is
    /// found by the next holder of the end, which cannot know how much it took, and drops the
    /// stream up to the next delimiter ([`Buffer::adrift`]).
    fn read_recorded(
        &self,
        buf: &mut [u8],
        record: impl FnOnce(&mut Buffer, &[u8]),
    ) -> Result<usize, Error> {
        let buffer = &self.inner.read_ahead.buffer;
        let mark = |reading: bool| {
            // SAFETY: under the receive lock (see `recv_bytes`).
            unsafe { buffer.with_mut(|b| b.reading = reading) }
        };
        let n = loop {
            mark(true);
            match self.inner.end.try_read(buf) {
                Ok(Some(n)) => break n,
                Ok(None) => {
                    mark(false);
                    self.inner.end.wait_readable()?;
                }
                Err(error) => {
                    mark(false);
                    return Err(error);
                }
            }
        };
        // SAFETY: as above.
        unsafe {
            buffer.with_mut(|b| {
                b.reading = false;
                record(b, &buf[..n]);
            })
        };
        Ok(n)
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
    /// probes again with [`WAIT_ROUNDS`] after [`WAIT_PROBE`] reads without waiting, and
    /// after twice as many (up to [`WAIT_PROBE_MAX`]) each time a probe fails. A probe waits
    /// the longest wait there is: once both ends of a ping-pong have given waiting up, each
    /// writes only after a wake-up in the kernel (tens of µs here), and a probe of 10 rounds
    /// (1–2 µs) never saw the count move, so neither end ever came back (measured: 21 bench
    /// repetitions of 30,000 round trips, each at 20–25 k/s with the count never seen moving,
    /// or at 235–263 k/s with it seen moving in nearly every wait; see docs/PERFORMANCE.md). On a machine
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
            rounds = WAIT_ROUNDS;
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

    /// A whole message's frame, as `send_bytes` writes it.
    fn frame(body: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        stuff(body, &mut frame);
        frame
    }

    /// The start of `frame` that decodes to `decoded` bytes (header included): the bytes a
    /// sender cut off there had written.
    fn cut(frame: &[u8], decoded: usize) -> &[u8] {
        let at = (0..frame.len())
            .find(|&at| decoded_so_far(&frame[..at]).1 == decoded)
            .expect("a prefix decodes to that many bytes");
        &frame[..at]
    }

    /// Stuffing round-trips every message, and no start of a frame cut off by its sender (then
    /// ended by the next sender's delimiter) decodes to another message: a cut frame is lost,
    /// never wrong. Around the block size: runs of 253 to 255 non-zero bytes, zeros at each
    /// end, only zeros.
    #[test]
    fn stuffed_frames_round_trip_and_a_cut_one_never_decodes_to_another_message() {
        let mut bodies: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0; 600], vec![1; 600]];
        for len in [
            1, 2, 249, 250, 251, 252, 253, 254, 255, 256, 507, 508, 509, 600,
        ] {
            bodies.push((0..len).map(|i| (i % 255 + 1) as u8).collect());
            bodies.push((0..len).map(|i| (i % 7) as u8).collect());
            let mut zero_ends = vec![9u8; len];
            zero_ends[0] = 0;
            zero_ends[len - 1] = 0;
            bodies.push(zero_ends);
        }
        for body in &bodies {
            let frame = frame(body);
            assert_eq!(frame.last(), Some(&DELIMITER));
            let stuffed = &frame[..frame.len() - 1];
            assert!(!stuffed.contains(&DELIMITER), "{} bytes", body.len());
            assert!(
                stuffed.len() <= HEADER + body.len() + (HEADER + body.len()).div_ceil(BLOCK) + 1
            );
            let mut decoded = stuffed.to_vec();
            assert_eq!(unstuff_in_place(&mut decoded), Ok(true));
            assert_eq!(&decoded, body);
            for at in 0..stuffed.len() {
                let mut cut = stuffed[..at].to_vec();
                match unstuff_in_place(&mut cut) {
                    Ok(false) => {}
                    Ok(true) => assert_eq!(&cut, body, "a cut at {at} of {}", body.len()),
                    Err(len) => panic!("a cut at {at} announced {len}"),
                }
            }
        }
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
        write_all::<P>(
            &tx,
            cut(&frame(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), HEADER + 2),
        );
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
        write_all::<P>(&tx, cut(&frame(&[1]), 2));
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
        let mut foreign = Vec::new();
        stuff_parts(&[&u32::MAX.to_le_bytes()], &mut foreign);
        write_all::<P>(&tx, &foreign);
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
            stream.extend_from_slice(&frame(body));
        }
        stream.extend_from_slice(cut(&frame(b"fofof"), HEADER + 2));
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
        let mut stream = frame(&[42]);
        stream.extend_from_slice(cut(
            &frame(&vec![7; 2 * READ_AHEAD]),
            HEADER + READ_AHEAD + 10,
        ));
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
                write_all::<Os>(&tx, &frame(&[body]));
                assert_eq!(rx.recv_bytes().as_deref(), Ok(&[body][..]));
            }
            write_all::<Os>(&tx, cut(&frame(&[1]), 3));
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

    /// Empty frames (the 0s a sender writes after a dead one's frame) are no message: a
    /// `poll` that finds only them in the buffer does not say a `recv` would not wait.
    fn empty_frames_are_not_ready<P: Platform>() {
        let (rx, tx) = raw::<P>();
        let mut stream = frame(b"one");
        stream.extend_from_slice(&[DELIMITER; 3]);
        write_all::<P>(&tx, &stream);
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"one"[..]));
        assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(false));
        write_all::<P>(&tx, &frame(b"two"));
        assert_eq!(rx.poll(None), Ok(true));
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"two"[..]));
    }

    #[test]
    fn empty_frames_are_not_ready_on_os() {
        empty_frames_are_not_ready::<Os>();
    }

    #[test]
    fn empty_frames_are_not_ready_under_the_simulator() {
        let report = explore(
            Config::dfs().ignore_env(),
            empty_frames_are_not_ready::<Sim>,
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete());
    }

    /// A sender that died after `written` bytes of a message's frame (as a killed process
    /// would: the frame counted owed), then the next sender's message: the receiver gets
    /// `ItemLost` once for a frame cut off (in its header or its payload), the message for one
    /// that was whole after all, nothing for one not begun; then the next message, whole.
    fn a_dead_senders_frame_is_ended_by_the_next<P: Platform>() {
        let body = [7u8; 10];
        let dead = frame(&body);
        for written in 0..=dead.len() {
            let (rx, tx) = pipe::<u8, P>(false).expect("a pipe");
            write_all::<P>(&tx.inner.end, &dead[..written]);
            tx.inner
                .peer_ahead
                .owed
                .0
                .fetch_add(dead.len() as u64, Relaxed);
            tx.send_bytes(b"next").expect("the receiver is open");
            match written {
                0 => {}
                w if w + 1 >= dead.len() => {
                    assert_eq!(rx.recv_bytes().as_deref(), Ok(&body[..]), "{w}")
                }
                w => assert_eq!(rx.recv_bytes(), Err(Error::ItemLost), "{w} bytes"),
            }
            assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"next"[..]), "{written}");
            drop(tx);
            assert_eq!(rx.recv_bytes(), Err(Error::Eof));
        }
    }

    #[test]
    fn a_dead_senders_frame_is_ended_by_the_next_on_os() {
        a_dead_senders_frame_is_ended_by_the_next::<Os>();
    }

    #[test]
    fn a_dead_senders_frame_is_ended_by_the_next_under_the_simulator() {
        let report = explore(
            Config::dfs()
                .granularity(crate::sim::Granularity::Step)
                .ignore_env(),
            a_dead_senders_frame_is_ended_by_the_next::<Sim>,
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete());
    }

    /// A receiver that died in the middle of a large frame, after `taken` of its bytes (the
    /// buffer adrift): the next receive drops the frame's rest (`ItemLost`: the message went
    /// with the receiver), then returns the next message.
    #[test]
    fn the_rest_of_a_dead_receivers_large_frame_is_dropped_on_os() {
        let large = frame(&vec![3; 3 * READ_AHEAD]);
        for taken in [
            1,
            HEADER + 1,
            READ_AHEAD,
            2 * READ_AHEAD + 5,
            large.len() - 1,
        ] {
            let (rx, tx) = raw::<Os>();
            write_all::<Os>(&tx, &large);
            write_all::<Os>(&tx, &frame(b"next"));
            let mut gone = vec![0; taken];
            let mut got = 0;
            while got < taken {
                got += rx.inner.end.read(&mut gone[got..]).expect("open");
            }
            // SAFETY: no other access to the buffer (one task).
            unsafe { rx.inner.read_ahead.buffer.with_mut(|b| b.adrift = true) };
            assert_eq!(rx.recv_bytes(), Err(Error::ItemLost), "{taken}");
            assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"next"[..]), "{taken}");
        }
    }

    /// A receiver that died between a read and its record: the next receive cannot know where
    /// the stream is, drops it up to the next delimiter (`ItemLost`), and goes on from there.
    fn a_receiver_dead_inside_a_read_costs_a_frame<P: Platform>() {
        let (rx, tx) = raw::<P>();
        write_all::<P>(&tx, &frame(b"one"));
        write_all::<P>(&tx, &frame(b"two"));
        // SAFETY: no other access to the buffer (one task).
        unsafe { rx.inner.read_ahead.buffer.with_mut(|b| b.reading = true) };
        assert_eq!(rx.recv_bytes(), Err(Error::ItemLost));
        assert_eq!(rx.recv_bytes().as_deref(), Ok(&b"two"[..]));
        drop(tx);
        assert_eq!(rx.recv_bytes(), Err(Error::Eof));
    }

    #[test]
    fn a_receiver_dead_inside_a_read_costs_a_frame_on_os() {
        a_receiver_dead_inside_a_read_costs_a_frame::<Os>();
    }

    #[test]
    fn a_receiver_dead_inside_a_read_costs_a_frame_under_the_simulator() {
        let report = explore(
            Config::dfs().ignore_env(),
            a_receiver_dead_inside_a_read_costs_a_frame::<Sim>,
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete());
    }
}
