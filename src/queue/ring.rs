//! [`Ring`]: a bounded FIFO of byte frames in shared memory, the core of every queue.
//!
//! The bytes live in platform atomic words (8 bytes each, as for `Value`/`Array`), so the ring is
//! position-independent and every engine sees each word. A frame is one header word (its length
//! in bytes) and its payload, padded to whole words; frames wrap around the end of the words.
//! One `Lock` guards the cursors and the words; two `Condition`s on it wake getters when a frame
//! arrives and putters when room frees up. The ring is bounded twice: by its byte capacity and by
//! a number of frames (a queue's `maxsize`).
//!
//! Closing refuses every later put at once; getters still receive the frames already in the
//! ring, and are refused only once it is empty, so a close never throws data away.
//!
//! A joinable ring also counts unfinished frames (put, not yet marked done by
//! [`Ring::task_done`]) under the same lock, so a frame is counted before any getter can see it.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::platform::{Atomic, AtomicInt, Instant, Platform, Shareable};
use crate::sync::LockGuard;
use crate::{Condition, Error, Lock};

/// Bytes per storage word.
const WORD: usize = 8;

/// Words a frame of `len` payload bytes takes: its header and its padded payload.
fn frame_words(len: usize) -> usize {
    1 + len.div_ceil(WORD)
}

/// Why a put or a get did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No room (put) or no frame (get), and the caller would not wait, or its time ran out.
    WouldBlock,
    /// The ring was closed.
    Closed,
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

/// The cursors, counted in words and frames since creation (so `tail - head` is the words in
/// use, without a wrap-around ambiguity).
struct Cursors<P: Platform> {
    head: P::AtomicU64,
    tail: P::AtomicU64,
    frames: P::AtomicU64,
    /// Frames put and not yet marked done (joinable rings only).
    unfinished: P::AtomicU64,
    closed: P::AtomicBool,
}

// SAFETY: platform atomics only.
unsafe impl<P: Platform> Shareable for Cursors<P> {}

/// A bounded FIFO of byte frames; clones are handles to the same ring.
pub(crate) struct Ring<P: Platform> {
    words: P::Shared<[P::AtomicU64]>,
    cursors: P::Shared<Cursors<P>>,
    max_frames: u64,
    joinable: bool,
    lock: Lock<P>,
    not_empty: Condition<P>,
    not_full: Condition<P>,
    all_done: Condition<P>,
}

/// What a waiting operation finds when it (re)checks the ring.
enum Check {
    Ready,
    Closed,
    Wait,
}

impl<P: Platform> Clone for Ring<P> {
    fn clone(&self) -> Self {
        Ring {
            words: self.words.clone(),
            cursors: self.cursors.clone(),
            max_frames: self.max_frames,
            joinable: self.joinable,
            lock: self.lock.clone(),
            not_empty: self.not_empty.clone(),
            not_full: self.not_full.clone(),
            all_done: self.all_done.clone(),
        }
    }
}

impl<P: Platform> Ring<P> {
    /// A ring of `capacity` bytes (rounded up to whole words; at least one frame header and
    /// one word of payload) holding at most `max_frames` frames (at least 1).
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
        let words = capacity.div_ceil(WORD).max(2);
        if words
            .checked_mul(WORD)
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return Err(Error::InvalidArgument(format!(
                "a ring of {capacity} bytes does not fit in memory"
            )));
        }
        let data = P::share_slice(words, |_| P::AtomicU64::new(0));
        for w in data.iter() {
            w.label("Ring.data");
        }
        let cursors: P::Shared<Cursors<P>> = P::share(Cursors {
            head: P::AtomicU64::new(0),
            tail: P::AtomicU64::new(0),
            frames: P::AtomicU64::new(0),
            unfinished: P::AtomicU64::new(0),
            closed: P::AtomicBool::new(false),
        });
        cursors.head.label("Ring.head");
        cursors.tail.label("Ring.tail");
        cursors.frames.label("Ring.frames");
        cursors.unfinished.label("Ring.unfinished");
        cursors.closed.label("Ring.closed");
        let lock = Lock::new();
        Ok(Ring {
            words: data,
            cursors,
            max_frames: max_frames as u64,
            joinable,
            not_empty: Condition::with_lock(lock.clone()),
            not_full: Condition::with_lock(lock.clone()),
            all_done: Condition::with_lock(lock.clone()),
            lock,
        })
    }

    /// The largest payload a frame may have.
    pub(crate) fn max_payload(&self) -> usize {
        (self.words.len() - 1) * WORD
    }

    fn capacity_words(&self) -> u64 {
        self.words.len() as u64
    }

    /// Frames in the ring now.
    pub(crate) fn len(&self) -> usize {
        let _held = self.lock.lock();
        self.cursors.frames.load(Relaxed) as usize
    }

    /// `true` if no frame could be put now without waiting (for the frame count; a large frame
    /// may also wait for bytes).
    pub(crate) fn is_full(&self) -> bool {
        let _held = self.lock.lock();
        self.cursors.frames.load(Relaxed) >= self.max_frames
    }

    /// Closes the ring: every put from now on, and every one waiting, is refused with
    /// [`Refused::Closed`]; gets still take the frames left, and are refused once none is.
    pub(crate) fn close(&self) {
        let _held = self.lock.lock();
        self.cursors.closed.store(true, Relaxed);
        self.not_empty.notify_all().expect("the lock is held");
        self.not_full.notify_all().expect("the lock is held");
    }

    /// `true` once closed.
    pub(crate) fn is_closed(&self) -> bool {
        let _held = self.lock.lock();
        self.cursors.closed.load(Relaxed)
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
        let need = frame_words(frame.len()) as u64;
        if !matches!(wait, Wait::No) {
            self.spin_until(|c| c.frames.load(Relaxed) < self.max_frames);
        }
        let held = self.lock.lock();
        let c = &*self.cursors;
        let _held = self.wait_for(held, &self.not_full, wait, || {
            if c.closed.load(Relaxed) {
                return Check::Closed;
            }
            let used = c.tail.load(Relaxed) - c.head.load(Relaxed);
            if c.frames.load(Relaxed) < self.max_frames && used + need <= self.capacity_words() {
                Check::Ready
            } else {
                Check::Wait
            }
        })?;
        let tail = c.tail.load(Relaxed);
        let start = self.slot(tail);
        self.word(start, 0).store(frame.len() as u64, Relaxed);
        for (k, chunk) in frame.chunks(WORD).enumerate() {
            let mut w = [0u8; WORD];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(start, 1 + k)
                .store(u64::from_ne_bytes(w), Relaxed);
        }
        c.tail.store(tail + need, Relaxed);
        c.frames.fetch_add(1, Relaxed);
        if self.joinable {
            c.unfinished.fetch_add(1, Relaxed);
        }
        self.not_empty.notify(1).expect("the lock is held");
        Ok(())
    }

    /// Removes and returns the oldest frame, waiting for one as `wait` allows.
    #[cfg(test)]
    pub(crate) fn get(&self, wait: Wait) -> Result<Vec<u8>, Refused> {
        self.get_with(wait, <[u8]>::to_vec)
    }

    /// Removes the oldest frame, waiting for one as `wait` allows, and returns what `f` makes
    /// of its bytes. `f` runs after the lock is released, on a copy (on the stack for a small
    /// frame: no allocation).
    pub(crate) fn get_with<R>(&self, wait: Wait, f: impl FnOnce(&[u8]) -> R) -> Result<R, Refused> {
        const SMALL: usize = 256;
        if !matches!(wait, Wait::No) {
            self.spin_until(|c| c.frames.load(Relaxed) > 0 || c.closed.load(Relaxed));
        }
        let mut small = [0u8; SMALL];
        let mut large = Vec::new();
        let len = {
            let held = self.lock.lock();
            let c = &*self.cursors;
            let _held = self.wait_for(held, &self.not_empty, wait, || {
                if c.frames.load(Relaxed) > 0 {
                    Check::Ready
                } else if c.closed.load(Relaxed) {
                    Check::Closed
                } else {
                    Check::Wait
                }
            })?;
            let head = c.head.load(Relaxed);
            let start = self.slot(head);
            let len = self.word(start, 0).load(Relaxed) as usize;
            let bytes = if len <= SMALL {
                &mut small[..len]
            } else {
                large.resize(len, 0);
                &mut large[..]
            };
            for (k, chunk) in bytes.chunks_mut(WORD).enumerate() {
                let w = self.word(start, 1 + k).load(Relaxed).to_ne_bytes();
                chunk.copy_from_slice(&w[..chunk.len()]);
            }
            c.head.store(head + frame_words(len) as u64, Relaxed);
            c.frames.fetch_sub(1, Relaxed);
            // Room for one frame may be room for several small ones: wake every putter, each
            // re-checks.
            self.not_full.notify_all().expect("the lock is held");
            len
        };
        Ok(f(if len <= SMALL { &small[..len] } else { &large }))
    }

    /// The index in `words` of the word at `cursor` (a count of words since creation).
    fn slot(&self, cursor: u64) -> usize {
        (cursor % self.capacity_words()) as usize
    }

    /// The word `k` words after index `start`, wrapping around the end.
    fn word(&self, start: usize, k: usize) -> &P::AtomicU64 {
        let n = self.words.len();
        let at = start + k;
        &self.words[if at >= n { at - n } else { at }]
    }

    /// Before taking the lock to wait: re-reads the cursors up to `P::SPIN_LIMIT` times while
    /// `ready` says the operation would wait, so that a partner about to put or get saves both
    /// sides a sleep and a wake-up. Only a hint (the caller checks again under the lock); no
    /// step at all on the explorers, whose limit is 0.
    fn spin_until(&self, ready: impl Fn(&Cursors<P>) -> bool) {
        for _ in 0..P::SPIN_LIMIT {
            if ready(&self.cursors) {
                return;
            }
            std::hint::spin_loop();
        }
    }

    /// Marks one frame's work done (joinable rings); `false` if none is unfinished.
    pub(crate) fn task_done(&self) -> bool {
        let _held = self.lock.lock();
        let c = &*self.cursors;
        let left = c.unfinished.load(Relaxed);
        if left == 0 {
            return false;
        }
        c.unfinished.store(left - 1, Relaxed);
        if left == 1 {
            self.all_done.notify_all().expect("the lock is held");
        }
        true
    }

    /// Waits until every frame put has been marked done (joinable rings).
    pub(crate) fn join(&self) {
        let held = self.lock.lock();
        let c = &*self.cursors;
        let never_closed = self.wait_for(held, &self.all_done, Wait::Forever, || {
            if c.unfinished.load(Relaxed) == 0 {
                Check::Ready
            } else {
                Check::Wait
            }
        });
        debug_assert!(never_closed.is_ok());
    }

    /// Waits on `cond` (whose lock `held` is) until `check()` says ready or closed, as `wait`
    /// allows.
    fn wait_for<'a>(
        &self,
        held: LockGuard<'a, P>,
        cond: &Condition<P>,
        wait: Wait,
        check: impl Fn() -> Check,
    ) -> Result<LockGuard<'a, P>, Refused> {
        loop {
            match check() {
                Check::Ready => return Ok(held),
                Check::Closed => return Err(Refused::Closed),
                Check::Wait => {}
            }
            match wait {
                Wait::No => return Err(Refused::WouldBlock),
                Wait::Forever => cond.wait().expect("the lock is held"),
                Wait::Until(deadline) => {
                    let left = deadline.saturating_duration_since(P::now());
                    if left == Duration::ZERO {
                        return Err(Refused::WouldBlock);
                    }
                    cond.wait_timeout(left).expect("the lock is held");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::deadline_after;
    use crate::Os;

    #[test]
    fn frames_come_out_in_order_and_intact_across_the_wrap() {
        // 5 words: the two frames (2 + 3 words) fill it, and land at a new offset each round.
        let ring = Ring::<Os>::new(40, 8).unwrap();
        for round in 0..20u8 {
            let a = vec![round; (round % 7) as usize];
            let b = vec![round ^ 0xFF; 9];
            ring.put(&a, Wait::No).unwrap();
            ring.put(&b, Wait::No).unwrap();
            assert_eq!(ring.len(), 2);
            assert_eq!(ring.get(Wait::No).unwrap(), a);
            assert_eq!(ring.get(Wait::No).unwrap(), b);
        }
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn refusals() {
        let ring = Ring::<Os>::new(32, 2).unwrap();
        assert_eq!(ring.max_payload(), 24);
        assert_eq!(
            ring.put(&[0; 25], Wait::Forever),
            Err(Refused::TooLarge { len: 25, max: 24 })
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
    }

    #[test]
    fn bytes_bound_puts_too() {
        // 4 words: one frame of 17..=24 bytes (4 words) fills it.
        let ring = Ring::<Os>::new(32, 10).unwrap();
        ring.put(&[1; 20], Wait::No).unwrap();
        assert_eq!(ring.put(&[], Wait::No), Err(Refused::WouldBlock));
        assert_eq!(ring.get(Wait::No).unwrap(), [1; 20]);
        ring.put(&[], Wait::No).unwrap();
        assert_eq!(ring.get(Wait::No).unwrap(), Vec::<u8>::new());
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
