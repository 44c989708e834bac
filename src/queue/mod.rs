//! [`Queue`], [`SimpleQueue`] and [`JoinableQueue`]: `multiprocessing`'s queues, on one
//! lock-free ring of byte frames in shared memory (`ring::Ring`).
//!
//! Items are any `Serialize + DeserializeOwned` type. An item is encoded with postcard inside
//! `put`, in the calling task, so an encoding error reaches the caller (CPython pickles in a
//! feeder thread, where the error is printed and the item lost), and its decoded form comes out
//! of `get`. The semantics are CPython 3.11's, except where CPython loses data or hangs:
//!
//! | situation | CPython | mpcheck |
//! |---|---|---|
//! | item larger than the pipe | `put` succeeds, feeder blocks forever | `Error::TooLarge` at once |
//! | item that cannot be encoded | printed by the feeder thread, item lost | `Error::Encode` from `put` |
//! | `put` on a full queue, no wait | `queue.Full`, item gone | `Error::Full`, item handed back |
//! | `qsize()` | approximate (`NotImplementedError` on macOS) | exact whenever no put or get is under way |
//! | `close()` | this process stops feeding | every handle: puts refused, getters drain what is left, then `Error::Closed` |
//! | a producer killed inside `put` (its feeder writing) | the others may hang for good: a half-written message, a write lock never released | the one getter that reaches its item gets `Error::ItemLost`, once; the next get returns the next item |
//! | a consumer killed inside `get` | the other consumers may hang for good on its read lock | its item is gone; its slots are freed by the put that needs them (`JoinableQueue::join` counts the item done) |
//!
//! A queue is bounded twice: by `maxsize` items (none for [`Queue::new`]) and by its byte
//! capacity ([`DEFAULT_CAPACITY`] unless [`Queue::with_capacity`] says otherwise). A `put` waits
//! while either bound is reached.
//!
//! The capacity is divided into slots of 8 bytes (each with a word of its own that says whether
//! it is free or holds data: the shared memory is twice the capacity). An item takes its
//! encoding and a 1–3 byte length in as many consecutive slots as they need: up to 7 encoded
//! bytes, one slot. `maxsize` is counted apart from the slots, so it is exact whatever the items'
//! sizes; the largest item is the capacity less its length's bytes ([`Queue::max_item_len`]).
//! Puts and gets take no lock: a put claims the slot at the tail (one compare-and-swap of its
//! stamp) and moves the tail past its slots, a get claims the item at the head and moves the
//! head; a task sleeps (on a futex) only when it has to wait, and is woken only then. (A claim
//! lasts a few instructions; a `try_put` or `try_get` that finds another one's waits for it.)
//!
//! A process killed anywhere inside a put or a get never makes another wait for good (the
//! ring's claims name the process that made them, and a waiter that finds it dead takes over;
//! see `ring`'s documentation): items put by live processes all arrive, in order per producer,
//! each once; a producer killed before its item was reserved leaves nothing behind, a consumer
//! killed before it moved the head leaves its item to the next get; `maxsize` stays exact.

pub(crate) mod ring;

#[doc(hidden)]
pub use self::ring::{set_stop_hook, StopPoint};

use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use self::ring::{Refused, Ring, Wait};
use crate::codec::{decode, encode_error};
use crate::error::Unsent;
use crate::platform::{deadline_after, out_of_memory};
use crate::{Error, Os, Platform};

/// The byte capacity of a queue made by [`Queue::new`] or [`Queue::bounded`]: 64 KiB, the size
/// of a Linux pipe's buffer, which is what bounds a CPython queue's feeder. Every item is
/// encoded in at most this many bytes, less 3 (its length, in the ring).
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// A multi-producer, multi-consumer FIFO queue of `T`s between tasks (threads, and processes
/// once they share memory), like `multiprocessing.Queue`. Clones are handles to the same queue.
///
/// ```
/// use mpcheck::{Os, Queue};
///
/// let q = Queue::<String, Os>::bounded(2)?;
/// let producer = {
///     let q = q.clone();
///     mpcheck::thread::spawn::<Os, _, _>(move || {
///         for i in 0..5 {
///             q.put(format!("ticket {i}")).unwrap();
///         }
///     })
/// };
/// for i in 0..5 {
///     assert_eq!(q.get()?, format!("ticket {i}"));
/// }
/// producer.join().unwrap();
/// assert!(q.empty());
/// # Ok::<(), mpcheck::Error>(())
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Queue<T, P: Platform = Os> {
    ring: Ring<P>,
    maxsize: Option<usize>,
    // Items cross tasks only as bytes, so the queue is `Send + Sync` whatever `T` is.
    item: PhantomData<fn(T) -> T>,
}

impl<T, P: Platform> Clone for Queue<T, P> {
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            maxsize: self.maxsize,
            item: PhantomData,
        }
    }
}

impl<T, P: Platform> std::fmt::Debug for Queue<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("capacity", &self.ring.max_payload())
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> Default for Queue<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

/// How long an operation waits: `None` forever, else until `timeout` from now.
fn wait_for<P: Platform>(timeout: Option<Duration>) -> Wait {
    match timeout.map(deadline_after::<P>) {
        None | Some(None) => Wait::Forever,
        Some(Some(deadline)) => Wait::Until(deadline),
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> Queue<T, P> {
    /// A queue with no `maxsize` (Python's `Queue()`), of [`DEFAULT_CAPACITY`] bytes. Out of
    /// memory for them aborts the process, as for `Box::new`.
    pub fn new() -> Self {
        Self::with_capacity(None, DEFAULT_CAPACITY).unwrap_or_else(|e| out_of_memory(e))
    }

    /// A queue holding at most `maxsize` items (Python's `Queue(maxsize)`), of
    /// [`DEFAULT_CAPACITY`] bytes. `Error::InvalidArgument` for 0 (Python reads `maxsize <= 0`
    /// as "no bound"; use [`Queue::new`] for that).
    pub fn bounded(maxsize: usize) -> Result<Self, Error> {
        Self::with_capacity(Some(maxsize), DEFAULT_CAPACITY)
    }

    /// A queue holding at most `maxsize` items (`None`: no bound on the count) in `capacity`
    /// bytes (rounded up to whole 8-byte slots, as the module documentation says;
    /// [`Queue::max_item_len`] gives the largest item). `Error::InvalidArgument` for a `maxsize`
    /// of 0, or a capacity the system cannot give the memory for (the message names it).
    pub fn with_capacity(maxsize: Option<usize>, capacity: usize) -> Result<Self, Error> {
        Ok(Self::from_ring(
            Ring::new(capacity, maxsize.unwrap_or(usize::MAX))?,
            maxsize,
        ))
    }

    fn from_ring(ring: Ring<P>, maxsize: Option<usize>) -> Self {
        Queue {
            ring,
            maxsize,
            item: PhantomData,
        }
    }

    /// Puts `item` at the back, waiting as long as the queue is full.
    ///
    /// Errors: `Encode` (nothing was put; with the item's own message when its `Serialize`
    /// failed), `TooLarge` (the item's encoding can never fit), `Closed`.
    #[track_caller]
    pub fn put(&self, item: T) -> Result<(), Error> {
        let _op = P::operation(|| self.ring.object(), self.name(), "put");
        self.put_waiting(item, Wait::Forever)
    }

    /// As [`Queue::put`], waiting at most `timeout` for room; `Error::Full` (with the item handed
    /// back) when the time runs out.
    #[track_caller]
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Error> {
        let _op = P::operation(|| self.ring.object(), self.name(), "put_timeout");
        self.put_waiting(item, wait_for::<P>(Some(timeout)))
    }

    /// As [`Queue::put`], without waiting (Python's `put_nowait`): `Error::Full`, with the item
    /// handed back, if there is no room now.
    #[track_caller]
    pub fn try_put(&self, item: T) -> Result<(), Error> {
        let _op = P::operation(|| self.ring.object(), self.name(), "try_put");
        self.put_waiting(item, Wait::No)
    }

    fn put_waiting(&self, item: T, wait: Wait) -> Result<(), Error> {
        // Small items are encoded on the stack: no allocation on the way in.
        let mut small = StackBytes {
            bytes: [0; STACK_ITEM],
            len: 0,
        };
        let large;
        let bytes: &[u8] = match postcard::serialize_with_flavor(&item, &mut small) {
            Ok(len) => &small.bytes[..len],
            Err(postcard::Error::SerializeBufferFull) => {
                large = postcard::to_allocvec(&item).map_err(|e| encode_error(&item, e))?;
                &large
            }
            Err(e) => return Err(encode_error(&item, e)),
        };
        self.ring.put(bytes, wait).map_err(|refused| match refused {
            Refused::WouldBlock => Error::Full {
                item: Unsent(bytes.to_vec()),
            },
            Refused::Closed => Error::Closed { what: "queue" },
            Refused::Lost => unreachable!("a put loses nothing"),
            Refused::TooLarge { len, max } => Error::TooLarge {
                what: "item",
                len,
                max,
            },
        })
    }

    /// Removes and returns the item at the front, waiting as long as the queue is empty.
    ///
    /// Errors: `Closed` (closed, and no item left), `Decode` (the bytes are not a `T`: a queue
    /// shared between programs that disagree on its type; the item is consumed), `ItemLost`
    /// (the process putting the item at the front was killed inside `put`: exactly one getter
    /// learns it, and the next get returns the next item).
    #[track_caller]
    pub fn get(&self) -> Result<T, Error> {
        let _op = P::operation(|| self.ring.object(), self.name(), "get");
        self.get_waiting(Wait::Forever)
    }

    /// As [`Queue::get`], waiting at most `timeout`; `Error::Empty` when the time runs out.
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let _op = P::operation(|| self.ring.object(), self.name(), "get_timeout");
        self.get_waiting(wait_for::<P>(Some(timeout)))
    }

    /// As [`Queue::get`], without waiting (Python's `get_nowait`): `Error::Empty` if the queue
    /// is empty now.
    #[track_caller]
    pub fn try_get(&self) -> Result<T, Error> {
        let _op = P::operation(|| self.ring.object(), self.name(), "try_get");
        self.get_waiting(Wait::No)
    }

    fn get_waiting(&self, wait: Wait) -> Result<T, Error> {
        self.ring
            .get_with(wait, decode)
            .map_err(|refused| match refused {
                Refused::WouldBlock => Error::Empty,
                Refused::Closed => Error::Closed { what: "queue" },
                Refused::Lost => Error::ItemLost,
                Refused::TooLarge { .. } => unreachable!("a get has no size"),
            })?
    }
}

impl<T, P: Platform> Queue<T, P> {
    /// The queue's name in traces: its operations are also a `JoinableQueue`'s.
    fn name(&self) -> &'static str {
        if self.ring.is_joinable() {
            "JoinableQueue"
        } else {
            "Queue"
        }
    }

    /// The number of items in the queue now: exact whenever no put or get is under way (a put
    /// counts from the moment it has room, a get until it has its item), never more than
    /// `maxsize`.
    #[track_caller]
    pub fn qsize(&self) -> usize {
        let _op = P::operation(|| self.ring.object(), self.name(), "qsize");
        self.ring.len()
    }

    /// `true` if the queue holds no item now.
    #[track_caller]
    pub fn empty(&self) -> bool {
        let _op = P::operation(|| self.ring.object(), self.name(), "empty");
        self.qsize() == 0
    }

    /// `true` if the queue holds `maxsize` items now (always `false` without a `maxsize`; a put
    /// may still wait for bytes when the capacity is what runs out).
    #[track_caller]
    pub fn full(&self) -> bool {
        let _op = P::operation(|| self.ring.object(), self.name(), "full");
        self.ring.is_full()
    }

    /// The bound on the item count, if any.
    #[track_caller]
    pub fn maxsize(&self) -> Option<usize> {
        let _op = P::operation(|| self.ring.object(), self.name(), "maxsize");
        self.maxsize
    }

    /// The largest encoded item the queue takes, in bytes.
    #[track_caller]
    pub fn max_item_len(&self) -> usize {
        let _op = P::operation(|| self.ring.object(), self.name(), "max_item_len");
        self.ring.max_payload()
    }

    /// Closes the queue, for every handle: puts from now on, and puts waiting, fail with
    /// `Error::Closed`; gets still return the items left, then fail with `Error::Closed` too.
    /// Idempotent.
    #[track_caller]
    pub fn close(&self) {
        let _op = P::operation(|| self.ring.object(), self.name(), "close");
        self.ring.close();
    }

    /// `true` once [`Queue::close`] was called on any handle.
    #[track_caller]
    pub fn is_closed(&self) -> bool {
        let _op = P::operation(|| self.ring.object(), self.name(), "is_closed");
        self.ring.is_closed()
    }
}

/// The most bytes an item may encode to and still be encoded on the stack.
const STACK_ITEM: usize = 64;

/// Where `put` encodes a small item: [`STACK_ITEM`] bytes on the stack, written a byte at a
/// time. (Postcard's slice output copies each varint with a call to `memcpy`, which cost a
/// small item's put more than the rest of the encoding.)
struct StackBytes {
    bytes: [u8; STACK_ITEM],
    len: usize,
}

impl postcard::ser_flavors::Flavor for &mut StackBytes {
    type Output = usize;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        let to = self
            .bytes
            .get_mut(self.len)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        *to = byte;
        self.len += 1;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.len)
    }
}

/// `multiprocessing.SimpleQueue`: an unbounded queue with only `put`, `get`, `empty` and
/// `close` (of [`DEFAULT_CAPACITY`] bytes; a `put` waits while they are in use).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct SimpleQueue<T, P: Platform = Os>(Queue<T, P>);

impl<T, P: Platform> Clone for SimpleQueue<T, P> {
    fn clone(&self) -> Self {
        SimpleQueue(self.0.clone())
    }
}

impl<T, P: Platform> std::fmt::Debug for SimpleQueue<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.0).finish()
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> Default for SimpleQueue<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> SimpleQueue<T, P> {
    /// An empty queue.
    pub fn new() -> Self {
        SimpleQueue(Queue::new())
    }

    /// As [`Queue::put`].
    #[track_caller]
    pub fn put(&self, item: T) -> Result<(), Error> {
        let _op = P::operation(|| self.0.ring.object(), "SimpleQueue", "put");
        self.0.put(item)
    }

    /// As [`Queue::get`].
    #[track_caller]
    pub fn get(&self) -> Result<T, Error> {
        let _op = P::operation(|| self.0.ring.object(), "SimpleQueue", "get");
        self.0.get()
    }

    /// As [`Queue::empty`].
    #[track_caller]
    pub fn empty(&self) -> bool {
        let _op = P::operation(|| self.0.ring.object(), "SimpleQueue", "empty");
        self.0.empty()
    }

    /// As [`Queue::close`].
    #[track_caller]
    pub fn close(&self) {
        let _op = P::operation(|| self.0.ring.object(), "SimpleQueue", "close");
        self.0.close()
    }
}

/// `multiprocessing.JoinableQueue`: a [`Queue`] (all its methods, through `Deref`) that also
/// counts unfinished items. Every `put` counts one; [`JoinableQueue::task_done`] marks one
/// finished; [`JoinableQueue::join`] waits until none is unfinished.
///
/// ```
/// use mpcheck::{JoinableQueue, Os};
///
/// let jobs = JoinableQueue::<u32, Os>::new();
/// let worker = {
///     let jobs = jobs.clone();
///     mpcheck::thread::spawn::<Os, _, _>(move || {
///         while let Ok(job) = jobs.get() {
///             let _ = job * 2; // the work
///             jobs.task_done().unwrap();
///         }
///     })
/// };
/// for job in 0..10 {
///     jobs.put(job)?;
/// }
/// jobs.join(); // every job was done
/// jobs.close(); // the worker's next get fails: it ends
/// worker.join().unwrap();
/// # Ok::<(), mpcheck::Error>(())
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct JoinableQueue<T, P: Platform = Os>(Queue<T, P>);

impl<T, P: Platform> Clone for JoinableQueue<T, P> {
    fn clone(&self) -> Self {
        JoinableQueue(self.0.clone())
    }
}

impl<T, P: Platform> std::fmt::Debug for JoinableQueue<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JoinableQueue").field(&self.0).finish()
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> Default for JoinableQueue<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, P: Platform> Deref for JoinableQueue<T, P> {
    type Target = Queue<T, P>;
    fn deref(&self) -> &Queue<T, P> {
        &self.0
    }
}

impl<T: Serialize + DeserializeOwned, P: Platform> JoinableQueue<T, P> {
    /// As [`Queue::new`].
    pub fn new() -> Self {
        Self::with_capacity(None, DEFAULT_CAPACITY).unwrap_or_else(|e| out_of_memory(e))
    }

    /// As [`Queue::bounded`].
    pub fn bounded(maxsize: usize) -> Result<Self, Error> {
        Self::with_capacity(Some(maxsize), DEFAULT_CAPACITY)
    }

    /// As [`Queue::with_capacity`].
    pub fn with_capacity(maxsize: Option<usize>, capacity: usize) -> Result<Self, Error> {
        let ring = Ring::joinable(capacity, maxsize.unwrap_or(usize::MAX))?;
        Ok(JoinableQueue(Queue::from_ring(ring, maxsize)))
    }

    /// Marks one item finished. `Error::TaskDoneTooManyTimes` if every item put is already
    /// marked (nothing changes then).
    #[track_caller]
    pub fn task_done(&self) -> Result<(), Error> {
        let _op = P::operation(|| self.0.ring.object(), "JoinableQueue", "task_done");
        if self.0.ring.task_done() {
            Ok(())
        } else {
            Err(Error::TaskDoneTooManyTimes)
        }
    }

    /// Waits until every item put has been marked finished by [`JoinableQueue::task_done`].
    ///
    /// An item that can never be marked counts as finished: one lost by a producer killed
    /// inside `put` (its getter got `Error::ItemLost`), and one a consumer was getting when it
    /// was killed inside `get` (`join` itself finds it). An item whose consumer was killed
    /// after `get` returned and before `task_done` is still unfinished, and `join` waits for
    /// it, as Python's does: any process may call `task_done`, so no item is tied to a
    /// consumer, and nothing tells that item from one still being worked on.
    #[track_caller]
    pub fn join(&self) {
        let _op = P::operation(|| self.0.ring.object(), "JoinableQueue", "join");
        self.0.ring.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Os;

    /// Items on both sides of the stack buffers' size (64 bytes): encoded a byte at a time on
    /// the stack or, past it, into a `Vec`; copied out of the ring a word at a time, or into a
    /// `Vec`. And a `u64` at every varint length.
    #[test]
    fn items_of_every_small_size_come_back_whole() {
        let q = Queue::<Vec<u8>, Os>::new();
        for len in 0..=140usize {
            let item: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ 0xA5)
                .collect();
            q.put(item.clone()).unwrap();
            assert_eq!(q.get().unwrap(), item, "an item of {len} bytes");
        }
        let q = Queue::<u64, Os>::new();
        for value in (0..64).map(|shift| 1u64 << shift | 1).chain([0, u64::MAX]) {
            q.put(value).unwrap();
            assert_eq!(q.get().unwrap(), value);
        }
        assert!(q.empty());
    }

    #[test]
    fn leftover_and_foreign_bytes_do_not_decode() {
        // Two programs that disagree on the item type: the bytes of a (u8, u8) read as a u8.
        let q = Queue::<(u8, u8), Os>::new();
        let misread: Queue<u8, Os> = Queue::from_ring(q.ring.clone(), None);
        q.put((1, 2)).unwrap();
        assert!(matches!(misread.get(), Err(Error::Decode(m)) if m.contains("1 bytes left over")));
        // A truncated encoding: a String that claims more bytes than there are.
        let strings: Queue<String, Os> = Queue::from_ring(q.ring.clone(), None);
        misread.put(200).unwrap(); // the byte 0xC8: a varint length cut off after its first byte
        assert!(matches!(strings.get(), Err(Error::Decode(_))));
        assert!(q.empty(), "a bad item is consumed, not stuck at the front");
    }
}
