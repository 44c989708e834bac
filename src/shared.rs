//! [`Value`] and [`Array`]: plain-old-data in shared memory, with the semantics of Python's
//! `multiprocessing.Value` / `Array` (locked) and `RawValue` / `RawArray` (the `raw`
//! constructors).
//!
//! The data lives in platform atomic words, 8 bytes each, the elements packed back to back (an
//! element may share a word with its neighbours, or span several): so an access is never a data
//! race, whatever the platform (real threads,
//! processes later, or an explorer that checks every access), and the engines see every word
//! read and written. The words are read and written with `Relaxed`: what orders them is the
//! lock (the value's own, or any other synchronization the program uses with a raw value).
//! A raw value of more than 8 bytes read while another task writes it may come out torn, as in
//! Python; a locked one never does.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::Relaxed;

use bytemuck::Pod;

use crate::platform::{out_of_memory, Atomic, Platform};
use crate::sync::RLockGuard;
use crate::{Error, Os, RLock};

/// Bytes per storage word.
const WORD: usize = 8;

/// Storage words for `len` elements of `T`, packed back to back (an `Array<u8>` of 16 elements
/// takes 2 words).
fn words_for<T>(len: usize) -> Option<usize> {
    Some(len.checked_mul(std::mem::size_of::<T>())?.div_ceil(WORD))
}

/// The words that bytes `start..start + len` of the packed storage fall in, each with the
/// range of its bytes inside the word and the range inside the element.
fn spans(start: usize, len: usize) -> impl Iterator<Item = (usize, std::ops::Range<usize>, usize)> {
    let end = start + len;
    (start / WORD..end.div_ceil(WORD)).map(move |w| {
        let from = start.max(w * WORD);
        let to = end.min((w + 1) * WORD);
        (w, from - w * WORD..to - w * WORD, from - start)
    })
}

/// How the word accesses of one public operation are marked. With a lock, the operation the
/// public method opened covers them all (`None`). Without one (a raw value or array: Python's
/// `RawValue` and `RawArray`) each word is one access on the machine, and another task may
/// write between two of them (a read of an element wider than a word can see half of a write):
/// the public method closes its own operation, and each word access is an operation of its own,
/// opened by this, so that at the simulator's operation granularity each word is an event.
type PerWord<'a, P> = Option<&'a dyn Fn() -> <P as Platform>::Operation>;

/// See [`PerWord`]: `op` and no per-word operations with a lock; without one, `op` closed and
/// `open` for each word.
fn per_word<'a, P: Platform>(
    locked: bool,
    op: P::Operation,
    open: &'a dyn Fn() -> P::Operation,
) -> (Option<P::Operation>, PerWord<'a, P>) {
    if locked {
        (Some(op), None)
    } else {
        drop(op);
        (None, Some(open))
    }
}

/// Reads element `index`.
fn read<T: Pod, P: Platform>(words: &[P::AtomicU64], index: usize, per_word: PerWord<P>) -> T {
    let mut value = T::zeroed();
    let bytes = bytemuck::bytes_of_mut(&mut value);
    let size = bytes.len();
    for (w, inside, at) in spans(index * size, size) {
        let _word = per_word.map(|open| open());
        let word = words[w].load(Relaxed).to_ne_bytes();
        bytes[at..at + inside.len()].copy_from_slice(&word[inside]);
    }
    value
}

/// Writes element `index`. A word the element shares with its neighbours is changed by a
/// compare-and-swap that keeps their bytes, so a write never disturbs another element, even
/// in a raw array written by several tasks at once.
fn write<T: Pod, P: Platform>(
    words: &[P::AtomicU64],
    index: usize,
    value: &T,
    per_word: PerWord<P>,
) {
    let bytes = bytemuck::bytes_of(value);
    let size = bytes.len();
    for (w, inside, at) in spans(index * size, size) {
        let _word = per_word.map(|open| open());
        let mut new = [0u8; WORD];
        new[inside.clone()].copy_from_slice(&bytes[at..at + inside.len()]);
        let new = u64::from_ne_bytes(new);
        if inside.len() == WORD {
            words[w].store(new, Relaxed);
            continue;
        }
        let mut mask = [0u8; WORD];
        mask[inside].fill(0xFF);
        let mask = u64::from_ne_bytes(mask);
        let mut old = words[w].load(Relaxed);
        while let Err(now) =
            words[w].compare_exchange_weak(old, old & !mask | new, Relaxed, Relaxed)
        {
            old = now;
        }
    }
}

/// The packed words of `len` elements made by `value`, each word labelled `label` for traces,
/// by `label`'s constructor `made_by` (its name, and where the user's code called it);
/// [`Error::InvalidArgument`] if they cannot be allocated.
fn storage<T: Pod, P: Platform>(
    words: usize,
    len: usize,
    value: impl Fn(usize) -> T,
    label: &'static str,
    made_by: (&'static str, P::Site),
) -> Result<P::Shared<[P::AtomicU64]>, Error> {
    let storage = P::share_slice(words, |_| P::AtomicU64::new(0))?;
    let _op = P::operation_at(|| storage.first(), label, made_by.0, made_by.1);
    for i in 0..len {
        write::<T, P>(&storage, i, &value(i), None);
    }
    for word in storage.iter() {
        word.label(label);
    }
    Ok(storage)
}

/// Opens operation `name` of `primitive` (see [`Platform::operation`]) on the first of `words`,
/// which stands for the value or array in traces (an empty array has none).
#[track_caller]
fn operation<P: Platform>(
    words: &P::Shared<[P::AtomicU64]>,
    primitive: &'static str,
    name: &'static str,
) -> P::Operation {
    operation_at::<P>(words, primitive, name, P::site())
}

/// As [`operation`], called from `site`.
fn operation_at<P: Platform>(
    words: &P::Shared<[P::AtomicU64]>,
    primitive: &'static str,
    name: &'static str,
    site: P::Site,
) -> P::Operation {
    P::operation_at(|| words.first(), primitive, name, site)
}

/// Takes `lock` (if there is one) for an access that cannot report a takeover (`get`, `set`):
/// a lock taken over from a dead holder is noted in the mark, the last of `words` (which a
/// locked value or array has beside its data), for the next operation that can report it.
#[track_caller]
fn lock_noting_takeover<'a, P: Platform>(
    lock: Option<&'a RLock<P>>,
    words: &P::Shared<[P::AtomicU64]>,
) -> Option<RLockGuard<'a, P>> {
    let held = lock?.lock();
    if held.owner_died() {
        if let Some(mark) = words.last() {
            mark.store(1, Relaxed);
        }
    }
    Some(held)
}

/// Whether the holder of `held` must report [`Error::OwnerDied`]: it took the lock over, or
/// an access before it did and noted it (see [`lock_noting_takeover`]). Clears the mark.
fn reported_takeover<P: Platform>(
    held: &RLockGuard<'_, P>,
    words: &P::Shared<[P::AtomicU64]>,
) -> bool {
    let noted = words.last().is_some_and(|mark| {
        let noted = mark.load(Relaxed) != 0;
        if noted {
            mark.store(0, Relaxed);
        }
        noted
    });
    held.owner_died() || noted
}

/// One `T` in shared memory, guarded by an [`RLock`] unless made with [`Value::raw`]
/// (Python's `multiprocessing.Value` and `RawValue`).
///
/// `T` is any plain-old-data type (`bytemuck::Pod`): integers, floats, arrays of them, and
/// `#[repr(C)]` structs of them deriving `Pod`. Clones are handles to the same value.
///
/// ```
/// use mpcheck::{Os, Value};
/// let hits = Value::<u64, Os>::new(0);
/// let h = hits.clone();
/// std::thread::spawn(move || h.update(|n| *n += 1).unwrap()).join().unwrap();
/// assert_eq!(hits.get(), 1);
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Value<T: Pod, P: Platform = Os> {
    #[serde(
        serialize_with = "crate::platform::wire::ser_slice::<P, _, _>",
        deserialize_with = "crate::platform::wire::de_slice::<P, _, _>"
    )]
    words: P::Shared<[P::AtomicU64]>,
    lock: Option<RLock<P>>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Pod, P: Platform> Value<T, P> {
    const WORDS: usize = std::mem::size_of::<T>().div_ceil(WORD);

    /// A value guarded by a lock of its own: `get`, `set` and `update` take it.
    ///
    /// The memory it takes is `T`'s size, fixed at compile time: out of memory aborts the
    /// process, as for `Box::new(value)`.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::make(value, true, "new")
    }

    /// A value without a lock (Python's `RawValue`): reads and writes are an access per word
    /// (so a value wider than 8 bytes can be read half written), ordered only by whatever
    /// synchronization the program uses around them; `update` and
    /// `get_lock` return [`Error::NoLock`]. Out of memory aborts, as for [`Value::new`].
    #[track_caller]
    pub fn raw(value: T) -> Self {
        Self::make(value, false, "raw")
    }

    #[track_caller]
    fn make(value: T, locked: bool, constructor: &'static str) -> Self {
        let made_by = (constructor, P::site());
        Value {
            words: storage::<T, P>(
                Self::WORDS + locked as usize,
                1,
                |_| value,
                Self::NAMES[locked as usize],
                made_by,
            )
            .unwrap_or_else(|e| out_of_memory(e.within("a Value"))),
            lock: locked.then(RLock::new),
            _value: PhantomData,
        }
    }

    /// Its name in traces, Python's: without a lock, then with one.
    const NAMES: [&'static str; 2] = ["RawValue", "Value"];

    /// Opens its operation `name` (see [`Platform::operation`]).
    #[track_caller]
    fn operation(&self, name: &'static str) -> P::Operation {
        self.operation_at(name, P::site())
    }

    /// As [`Value::operation`], called from `site`.
    fn operation_at(&self, name: &'static str, site: P::Site) -> P::Operation {
        operation_at::<P>(
            &self.words,
            Self::NAMES[self.lock.is_some() as usize],
            name,
            site,
        )
    }

    /// The value (under the lock, if there is one). A lock taken over from a dead holder is
    /// remembered, for the next [`update`](Value::update) to report.
    #[track_caller]
    pub fn get(&self) -> T {
        let _op = self.operation("get");
        let site = P::site();
        let _held = lock_noting_takeover(self.lock.as_ref(), &self.words);
        let open = || self.operation_at("get", site);
        let (_op, per_word) = per_word::<P>(self.lock.is_some(), _op, &open);
        read::<T, P>(&self.words, 0, per_word)
    }

    /// Replaces the value (under the lock, if there is one). A lock taken over from a dead
    /// holder is remembered, for the next [`update`](Value::update) to report.
    #[track_caller]
    pub fn set(&self, value: T) {
        let _op = self.operation("set");
        let site = P::site();
        let _held = lock_noting_takeover(self.lock.as_ref(), &self.words);
        let open = || self.operation_at("set", site);
        let (_op, per_word) = per_word::<P>(self.lock.is_some(), _op, &open);
        write::<T, P>(&self.words, 0, &value, per_word);
    }

    /// Reads, changes and writes back the value under its lock, and returns what `f` returns:
    /// `counter.update(|n| *n += 1)`. [`Error::NoLock`] for a raw value. No other operation of
    /// the value comes between the read and the write; `f` itself is the caller's code, no part
    /// of the operation (what it does besides changing the value is steps of its own).
    ///
    /// [`Error::OwnerDied`] (and nothing changed, the lock released) when the lock was taken
    /// over from a process that died holding it, maybe in the middle of its own update: the
    /// value may be torn, and the caller decides what to do (the next call goes through). A
    /// takeover by [`get`](Value::get) or [`set`](Value::set), which cannot say so, is
    /// reported here too, once.
    #[track_caller]
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        let _op = self.operation("update");
        let site = P::site();
        let lock = self.lock.as_ref().ok_or(Error::NoLock {
            operation: "Value::update",
            what: "Value",
        })?;
        let held = lock.lock();
        if reported_takeover(&held, &self.words) {
            return Err(Error::OwnerDied);
        }
        let mut value = read::<T, P>(&self.words, 0, None);
        // The caller's closure is no part of the operation (it may touch other shared state,
        // whose accesses are steps of their own): the update is a read and a write under the
        // lock, two operations from the caller's line, with `f` between them.
        drop(_op);
        let result = f(&mut value);
        let _op = self.operation_at("update", site);
        write::<T, P>(&self.words, 0, &value, None);
        drop(held);
        Ok(result)
    }

    /// The lock that guards the value (a handle to it), to make several operations one step;
    /// [`Error::NoLock`] for a raw value.
    #[track_caller]
    pub fn get_lock(&self) -> Result<RLock<P>, Error> {
        let _op = self.operation("get_lock");
        self.lock.clone().ok_or(Error::NoLock {
            operation: "Value::get_lock",
            what: "Value",
        })
    }

    /// `true` if the value has a lock (it was made with [`Value::new`]).
    #[track_caller]
    pub fn has_lock(&self) -> bool {
        let _op = self.operation("has_lock");
        self.lock.is_some()
    }
}

impl<T: Pod, P: Platform> Clone for Value<T, P> {
    fn clone(&self) -> Self {
        Value {
            words: self.words.clone(),
            lock: self.lock.clone(),
            _value: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug, P: Platform> fmt::Debug for Value<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("value", &self.get())
            .field("lock", &self.lock.is_some())
            .finish()
    }
}

/// A fixed number of `T`s in shared memory, guarded by an [`RLock`] unless made with
/// [`Array::raw`] (Python's `multiprocessing.Array` and `RawArray`).
///
/// Every access is bounds-checked: an index past the end is [`Error::IndexOutOfRange`], never a
/// panic. [`Array::locked`] holds the lock across several accesses. Clones are handles to the
/// same array.
///
/// ```
/// use mpcheck::{Array, Os};
/// let a = Array::<f64, Os>::from_slice(&[1.0, 2.0, 3.0])?;
/// a.set(1, 20.0)?;
/// assert_eq!(a.to_vec(), [1.0, 20.0, 3.0]);
/// assert!(a.get(3).is_err());
/// # Ok::<(), mpcheck::Error>(())
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Array<T: Pod, P: Platform = Os> {
    #[serde(
        serialize_with = "crate::platform::wire::ser_slice::<P, _, _>",
        deserialize_with = "crate::platform::wire::de_slice::<P, _, _>"
    )]
    words: P::Shared<[P::AtomicU64]>,
    len: usize,
    lock: Option<RLock<P>>,
    _element: PhantomData<fn() -> T>,
}

impl<T: Pod, P: Platform> Array<T, P> {
    /// `len` zeroed elements, guarded by a lock of their own (Python's `Array(typecode, len)`).
    /// [`Error::InvalidArgument`], naming the length, if the system cannot give the memory
    /// (or no address space could hold it).
    #[track_caller]
    pub fn new(len: usize) -> Result<Self, Error> {
        Self::make(len, |_| T::zeroed(), true, "new")
    }

    /// The elements of `items`, guarded by a lock of their own. [`Error::InvalidArgument`] if
    /// the system cannot give the memory for a copy of them.
    #[track_caller]
    pub fn from_slice(items: &[T]) -> Result<Self, Error> {
        Self::make(items.len(), |i| items[i], true, "from_slice")
    }

    /// `len` zeroed elements without a lock (Python's `RawArray`); errors as [`Array::new`].
    #[track_caller]
    pub fn raw(len: usize) -> Result<Self, Error> {
        Self::make(len, |_| T::zeroed(), false, "raw")
    }

    /// The elements of `items`, without a lock; errors as [`Array::from_slice`].
    #[track_caller]
    pub fn raw_from_slice(items: &[T]) -> Result<Self, Error> {
        Self::make(items.len(), |i| items[i], false, "raw_from_slice")
    }

    /// Its name in traces, Python's: without a lock, then with one.
    const NAMES: [&'static str; 2] = ["RawArray", "Array"];

    /// Opens its operation `name` (see [`Platform::operation`]).
    #[track_caller]
    fn operation(&self, name: &'static str) -> P::Operation {
        self.operation_at(name, P::site())
    }

    /// As [`Array::operation`], called from `site`.
    fn operation_at(&self, name: &'static str, site: P::Site) -> P::Operation {
        operation_at::<P>(
            &self.words,
            Self::NAMES[self.lock.is_some() as usize],
            name,
            site,
        )
    }

    #[track_caller]
    fn make(
        len: usize,
        value: impl Fn(usize) -> T,
        locked: bool,
        constructor: &'static str,
    ) -> Result<Self, Error> {
        let made_by = (constructor, P::site());
        let array = || {
            format!(
                "an array of {len} elements of {} bytes",
                std::mem::size_of::<T>()
            )
        };
        let Some(words) = words_for::<T>(len) else {
            return Err(Error::InvalidArgument(format!(
                "{} is more than an address space holds",
                array()
            )));
        };
        Ok(Array {
            words: storage::<T, P>(
                words + locked as usize,
                len,
                value,
                Self::NAMES[locked as usize],
                made_by,
            )
            .map_err(|e| e.within(array()))?,
            len,
            lock: locked.then(RLock::new),
            _element: PhantomData,
        })
    }

    /// The number of elements.
    #[track_caller]
    pub fn len(&self) -> usize {
        let _op = self.operation("len");
        self.len
    }

    /// `true` for an array of no elements.
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        let _op = self.operation("is_empty");
        self.len == 0
    }

    /// Element `index` (under the lock, if there is one). A lock taken over from a dead
    /// holder is remembered, for the next [`locked`](Array::locked) view to report.
    #[track_caller]
    pub fn get(&self, index: usize) -> Result<T, Error> {
        let _op = self.operation("get");
        let site = P::site();
        let _held = lock_noting_takeover(self.lock.as_ref(), &self.words);
        let open = || self.operation_at("get", site);
        let (_op, per_word) = per_word::<P>(self.lock.is_some(), _op, &open);
        self.read(index, per_word)
    }

    /// Replaces element `index` (under the lock, if there is one); a takeover is remembered
    /// as by [`get`](Array::get).
    #[track_caller]
    pub fn set(&self, index: usize, value: T) -> Result<(), Error> {
        let _op = self.operation("set");
        let site = P::site();
        let _held = lock_noting_takeover(self.lock.as_ref(), &self.words);
        let open = || self.operation_at("set", site);
        let (_op, per_word) = per_word::<P>(self.lock.is_some(), _op, &open);
        self.write(index, value, per_word)
    }

    /// Every element, read under the lock (if there is one) as one consistent snapshot; a
    /// takeover is remembered as by [`get`](Array::get).
    #[track_caller]
    pub fn to_vec(&self) -> Vec<T> {
        let _op = self.operation("to_vec");
        let site = P::site();
        let _held = lock_noting_takeover(self.lock.as_ref(), &self.words);
        let open = || self.operation_at("to_vec", site);
        let (_op, per_word) = per_word::<P>(self.lock.is_some(), _op, &open);
        self.snapshot(per_word)
    }

    /// Holds the lock until the returned view is dropped: reads and writes through it are one
    /// step for every other task that uses the lock. [`Error::NoLock`] for a raw array.
    #[track_caller]
    pub fn locked(&self) -> Result<ArrayGuard<'_, T, P>, Error> {
        let site = P::site();
        let _op = P::operation_at(
            || self.words.first(),
            Self::NAMES[self.lock.is_some() as usize],
            "locked",
            site,
        );
        let lock = self.lock.as_ref().ok_or(Error::NoLock {
            operation: "Array::locked",
            what: "Array",
        })?;
        let held = lock.lock_at(site);
        Ok(ArrayGuard {
            array: self,
            owner_died: reported_takeover(&held, &self.words),
            _held: held,
        })
    }

    /// The lock that guards the array (a handle to it); [`Error::NoLock`] for a raw array.
    #[track_caller]
    pub fn get_lock(&self) -> Result<RLock<P>, Error> {
        let _op = self.operation("get_lock");
        self.lock.clone().ok_or(Error::NoLock {
            operation: "Array::get_lock",
            what: "Array",
        })
    }

    /// `true` if the array has a lock (it was made with [`Array::new`] or
    /// [`Array::from_slice`]).
    #[track_caller]
    pub fn has_lock(&self) -> bool {
        let _op = self.operation("has_lock");
        self.lock.is_some()
    }

    /// `index`, or [`Error::IndexOutOfRange`].
    fn check(&self, index: usize) -> Result<usize, Error> {
        if index < self.len {
            Ok(index)
        } else {
            Err(Error::IndexOutOfRange {
                index,
                len: self.len,
            })
        }
    }

    fn read(&self, index: usize, per_word: PerWord<P>) -> Result<T, Error> {
        Ok(read::<T, P>(&self.words, self.check(index)?, per_word))
    }

    fn write(&self, index: usize, value: T, per_word: PerWord<P>) -> Result<(), Error> {
        write::<T, P>(&self.words, self.check(index)?, &value, per_word);
        Ok(())
    }

    fn snapshot(&self, per_word: PerWord<P>) -> Vec<T> {
        (0..self.len)
            .map(|i| {
                self.read(i, per_word)
                    .expect("every index below len is in range")
            })
            .collect()
    }
}

impl<T: Pod, P: Platform> Clone for Array<T, P> {
    fn clone(&self) -> Self {
        Array {
            words: self.words.clone(),
            len: self.len,
            lock: self.lock.clone(),
            _element: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug, P: Platform> fmt::Debug for Array<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("elements", &self.to_vec())
            .field("lock", &self.lock.is_some())
            .finish()
    }
}

/// An [`Array`] with its lock held (from [`Array::locked`]); the lock is released on drop.
pub struct ArrayGuard<'a, T: Pod, P: Platform = Os> {
    array: &'a Array<T, P>,
    /// The lock was taken over, by this view or, unreported, by an access since the last view.
    owner_died: bool,
    _held: RLockGuard<'a, P>,
}

impl<T: Pod, P: Platform> ArrayGuard<'_, T, P> {
    /// Whether the lock was taken over from a process that died holding it (see
    /// [`Error::OwnerDied`]): the elements may be half updated. Also when the takeover was
    /// made by an [`Array::get`], `set` or `to_vec` since the last view, which could not say so.
    #[track_caller]
    pub fn owner_died(&self) -> bool {
        let _op = operation::<P>(&self.array.words, "Array", "owner_died (guard)");
        self.owner_died
    }

    /// The number of elements.
    #[track_caller]
    pub fn len(&self) -> usize {
        let _op = operation::<P>(&self.array.words, "Array", "len");
        self.array.len
    }

    /// `true` for an array of no elements.
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        let _op = operation::<P>(&self.array.words, "Array", "is_empty");
        self.array.len == 0
    }

    /// Element `index`.
    #[track_caller]
    pub fn get(&self, index: usize) -> Result<T, Error> {
        let _op = operation::<P>(&self.array.words, "Array", "get");
        self.array.read(index, None)
    }

    /// Replaces element `index`.
    #[track_caller]
    pub fn set(&self, index: usize, value: T) -> Result<(), Error> {
        let _op = operation::<P>(&self.array.words, "Array", "set");
        self.array.write(index, value, None)
    }

    /// Every element.
    #[track_caller]
    pub fn to_vec(&self) -> Vec<T> {
        let _op = operation::<P>(&self.array.words, "Array", "to_vec");
        self.array.snapshot(None)
    }
}
