//! Objects: the identity of each atomic and cell within an execution ([`ObjCell`]), its label,
//! and what the runtime keeps about it ([`ObjRec`]).

use std::ops::{Index, IndexMut};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use std::cell::Cell;

use super::{with_exec, Exec, Loc, RUNNING};
use crate::report::FailureKind;

/// The largest object number: a footprint keeps an object's kind in the two bits above it
/// (see `footprint.rs`).
const MAX_NUMBER: u32 = (1 << 30) - 1;

/// How many objects an execution numbers where they are made; it numbers those made after at
/// their first use, so that a program that makes more objects than there are numbers (a huge
/// queue, say, whose slot words it never all touches) still has numbers for those it uses.
const NUMBERED_AT_BIRTH: u32 = 1 << 24;

/// In an [`ObjCell`]'s `meta`, the bit that says the object has its [`ObjRec`] in the
/// execution the serial names (beside its number in the bits below).
const RECORDED: u64 = 1 << 31;

thread_local! {
    /// The serial of the execution running on this thread (the top 32 bits; 0: none, or its
    /// teardown) and how many object numbers it handed out (the low 32; see [`Objects`]). Here
    /// rather than in the execution, and as one word, so that making an object (a queue makes
    /// thousands) costs one look at a thread-local: an [`ObjCell`] numbered with the next
    /// number holds this word plus one.
    static NUMBERING: Cell<u64> = const { Cell::new(0) };
}

/// How many numbers a page of [`Objects`]' index covers.
const PAGE: usize = 1024;

/// The objects of an execution: the numbers handed out, and the records of those used.
///
/// An object is numbered where it is made, in the order objects are made (so two executions
/// that share a schedule's prefix agree on the number of every object made within it: the
/// search relies on that to tell that two of their events touch different objects, see
/// `Footprint::dependent_across`). Objects made outside the execution (a `static`), in its
/// teardown, or after the first [`NUMBERED_AT_BIRTH`], are numbered at their first use, which
/// is as deterministic. Only a used object gets a record: a queue makes thousands of slot
/// words it may never touch.
#[derive(Default)]
pub(crate) struct Objects {
    /// The records of the objects used so far, in the order of their first use.
    records: Vec<ObjRec>,
    /// Their numbers, in the same order.
    used: Vec<u32>,
    /// For each object used (number `n` at `n - 1`, in pages of [`PAGE`] made as numbers are
    /// used and kept from one execution to the next), where its record is in `records` plus
    /// one (0: not used yet, as is any number no page covers). Paged, so that what an
    /// execution allocates follows the objects it uses, not the numbers it handed out.
    index: Vec<Option<Box<[u32; PAGE]>>>,
}

impl Objects {
    /// Empties the table for execution `serial`, which hands out numbers from 1 (from now
    /// until [`Objects::stop_numbering`]).
    pub(crate) fn start(&mut self, serial: u32) {
        for &number in &self.used {
            let i = number as usize - 1;
            if let Some(page) = &mut self.index[i / PAGE] {
                page[i % PAGE] = 0;
            }
        }
        self.used.clear();
        self.records.clear();
        NUMBERING.with(|n| n.set((serial as u64) << 32));
    }

    /// Object `obj`'s record (new, with `label`), unless it has one.
    fn record(&mut self, obj: u32, label: Option<&'static str>) {
        if self.shown(obj) != 0 {
            return;
        }
        let i = obj as usize - 1;
        if self.index.len() <= i / PAGE {
            self.index.resize_with(i / PAGE + 1, || None);
        }
        self.records.push(ObjRec {
            label,
            ..ObjRec::default()
        });
        self.used.push(obj);
        let page = self.index[i / PAGE].get_or_insert_with(|| Box::new([0; PAGE]));
        page[i % PAGE] = self.records.len() as u32;
    }

    /// Objects made from now on (in the execution's teardown, or after it) are made outside
    /// it.
    pub(crate) fn stop_numbering() {
        NUMBERING.with(|n| n.set(0));
    }

    /// How many numbers the running execution handed out: an object numbered above was made
    /// (or first used) later.
    pub(crate) fn numbered(&self) -> u32 {
        NUMBERING.with(Cell::get) as u32
    }

    /// The next number's `meta` word (serial and number), if an execution runs and has
    /// numbers left below `limit`.
    #[inline]
    fn assign(limit: u32) -> Option<u64> {
        NUMBERING.with(|n| {
            let word = n.get();
            (word >> 32 != 0 && (word as u32) < limit).then(|| {
                n.set(word + 1);
                word + 1
            })
        })
    }

    /// The record of object `obj`, if it was used in this execution.
    pub(crate) fn get(&self, obj: u32) -> Option<&ObjRec> {
        self.records.get((self.shown(obj) as usize).checked_sub(1)?)
    }

    /// The number traces show for object `obj` (a number this execution handed out; 0 for
    /// none, or one not used yet): its place in the order of first use, which keeps traces
    /// short (a queue made first would otherwise push every later object's number past its
    /// thousands of slots). It is also where its record is in `records`, plus one.
    #[inline]
    pub(crate) fn shown(&self, obj: u32) -> u32 {
        let i = (obj as usize).wrapping_sub(1);
        match self.index.get(i / PAGE) {
            Some(Some(page)) => page[i % PAGE],
            _ => 0,
        }
    }

    /// The labels of the objects used, by the number traces show (at `shown - 1`).
    pub(crate) fn labels(&self) -> impl Iterator<Item = Option<&'static str>> + '_ {
        self.records.iter().map(|r| r.label)
    }

    /// `Lock#3` for object `obj` (a number this execution handed out), as traces show it.
    pub(crate) fn name(&self, obj: u32) -> String {
        object_name(self.shown(obj), self.get(obj).and_then(|r| r.label))
    }
}

impl Index<u32> for Objects {
    type Output = ObjRec;

    /// The record of object `obj`, which a step has used.
    fn index(&self, obj: u32) -> &ObjRec {
        &self.records[self.shown(obj) as usize - 1]
    }
}

impl IndexMut<u32> for Objects {
    fn index_mut(&mut self, obj: u32) -> &mut ObjRec {
        let at = self.shown(obj) as usize;
        &mut self.records[at - 1]
    }
}

#[derive(Default)]
pub(crate) struct ObjRec {
    pub(crate) label: Option<&'static str>,
    /// Tasks sleeping in a futex wait on this object, in arrival order.
    pub(crate) waiters: Vec<u32>,
    /// The last task that changed the value from zero to non-zero (took a lock, say), where,
    /// and in which operation.
    /// (The operation as in [`Record::caller`](super::Record).)
    pub(crate) taken_by: Option<(u32, Loc, u32)>,
    /// The processes that changed the value ([`process_bit`](crate::footprint::process_bit)s;
    /// kept only where kills are configured): a guard on the word is off once one of them
    /// was killed (see `Exec::guard_off`).
    pub(crate) writers: u64,
    /// The value last read or written, if a step has shown it (kept only where kills are
    /// configured; see `tail.rs`).
    pub(crate) value: Option<u64>,
    /// The last writes of the value (kept only for strategies that ask for footprints).
    pub(crate) log: WriteLog,
    /// Where a guard named the word's holder (`ready_when_held`, a lock's word): who that is
    /// in a value (kept only for strategies that ask for footprints; see `Held`).
    pub(crate) holder: Option<fn(u32) -> u32>,
}

/// How many writes a [`WriteLog`] keeps: a lock's word needs two (the release that let a
/// guard pass, the acquire that made it fail before).
const LOGGED: usize = 4;

/// The last writes of an object's value, each with the event it belongs to and the values
/// before and after: from them a guard that passes at the start of an event tells whether the
/// last write is what let it pass ([`WriteLog::enabling`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WriteLog {
    /// (event, value before if known, value after if known), oldest first.
    entries: [(u32, Option<u64>, Option<u64>); LOGGED],
    len: usize,
    /// Writes before the oldest entry fell off (or one had no event): what the value was
    /// before the oldest entry is not known to have held since the execution began.
    partial: bool,
}

impl WriteLog {
    /// A write of event `event` (`None`: a step outside any event, which makes the log
    /// forget what came before).
    pub(crate) fn push(&mut self, event: Option<u32>, before: Option<u64>, after: Option<u64>) {
        let Some(event) = event else {
            self.len = 0;
            self.partial = true;
            return;
        };
        if self.len == LOGGED {
            self.entries.copy_within(1.., 0);
            self.len -= 1;
            self.partial = true;
        }
        self.entries[self.len] = (event, before, after);
        self.len += 1;
    }

    /// For a guard `ready` that passes at the start of event `event`: `Some((i, d))` if the
    /// last write, by event `i`, let it pass (the value before `i` fails the guard: the event
    /// could not have happened before `i`), with `d` the write that made the guard fail last
    /// before `i` (`None`: it failed since the execution began). `None` if the last write
    /// did not let it pass, is the event's own, or the log cannot tell.
    pub(crate) fn enabling(
        &self,
        ready: fn(u32, u32) -> bool,
        event: u32,
    ) -> Option<(u32, Option<u32>)> {
        // Whether the guard fails on a value (the task arriving there: `start` is the value).
        let fails = |v: Option<u64>| v.map(|v| !ready(v as u32, v as u32));
        let entries = &self.entries[..self.len];
        let (&(i, before, after), earlier) = entries.split_last()?;
        if i == event || fails(before) != Some(true) || fails(after) != Some(false) {
            return None;
        }
        for &(d, before, _) in earlier.iter().rev() {
            match fails(before) {
                Some(true) => {}
                Some(false) => return Some((i, Some(d))),
                None => return None,
            }
        }
        (!self.partial).then_some((i, None))
    }
}

/// The identity of an object (an atomic, a cell) within the current execution: its number,
/// assigned where it is made (see [`Objects`]), so it is the same in every execution that
/// follows the same schedule. And its label, kept here until the object is first used
/// (labelling is not a use: a queue labels thousands of slot words it may never touch).
#[derive(Debug)]
pub struct ObjCell {
    /// The serial of the execution that numbered it (the top 32 bits), [`RECORDED`], and its
    /// number there (the low 30).
    meta: AtomicU64,
    /// The label, packed into one word (see [`pack`]; 0: none).
    label: AtomicU64,
}

/// A `&'static str` in one word: its length in the top 16 bits, its address in the low 48
/// (where every user-space address of Linux on x86-64 and AArch64 lies); 0 if it does not fit.
fn pack(name: &'static str) -> u64 {
    let (address, len) = (name.as_ptr() as u64, name.len() as u64);
    if address < 1 << 48 && len < 1 << 16 {
        len << 48 | address
    } else {
        0
    }
}

/// The label [`pack`] packed into `word`.
fn unpack(word: u64) -> Option<&'static str> {
    if word == 0 {
        return None;
    }
    let (address, len) = ((word & ((1 << 48) - 1)) as *const u8, (word >> 48) as usize);
    // SAFETY: `word` was packed from a `&'static str` (one atomic word, so never torn): its
    // address and length, whose bytes live forever.
    Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(address, len)) })
}

impl Default for ObjCell {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjCell {
    /// An object to be numbered at its first use in each execution.
    #[inline]
    pub const fn unnumbered() -> Self {
        ObjCell {
            meta: AtomicU64::new(0),
            label: AtomicU64::new(0),
        }
    }

    /// A new object: numbered now if an execution runs (see [`Objects`]).
    #[inline]
    pub fn new() -> Self {
        let cell = Self::unnumbered();
        if let Some(meta) = Objects::assign(NUMBERED_AT_BIRTH) {
            cell.meta.store(meta, Relaxed);
        }
        cell
    }

    /// The object's number in `exec`, which has its record from now on.
    #[inline]
    pub(super) fn id(&self, exec: &mut Exec) -> u32 {
        let meta = self.meta.load(Relaxed);
        if meta >> 31 == (exec.serial as u64) << 1 | 1 {
            return meta as u32 & MAX_NUMBER;
        }
        self.first_use(exec, meta)
    }

    /// [`ObjCell::id`] at the object's first use in `exec` (`meta`: the cell's word).
    #[cold]
    #[inline(never)]
    fn first_use(&self, exec: &mut Exec, meta: u64) -> u32 {
        let number = if (meta >> 32) as u32 == exec.serial {
            meta as u32 & MAX_NUMBER
        } else if let Some(meta) = Objects::assign(MAX_NUMBER) {
            meta as u32
        } else {
            // Out of numbers: the execution fails, and until it stops, this object shares the
            // last number (and its record) with any others in the same case.
            exec.fail(
                FailureKind::InvalidInput,
                format!("an execution used more than {MAX_NUMBER} objects (atomics and cells)"),
            );
            MAX_NUMBER
        };
        exec.objects
            .record(number, unpack(self.label.load(Relaxed)));
        self.meta.store(
            (exec.serial as u64) << 32 | RECORDED | number as u64,
            Relaxed,
        );
        number
    }

    /// Gives the object a name for traces and deadlock reports ("Lock", "Semaphore"...). Not a
    /// use: the object gets its record when it is first used (a queue labels thousands of slot
    /// words it may never touch).
    pub fn label(&self, name: &'static str) {
        let packed = pack(name);
        self.label.store(packed, Relaxed);
        if packed == 0 || self.recorded() {
            // Used already, or a label that does not pack: into its record now.
            with_exec(|e| {
                let id = self.id(e);
                e.objects[id].label = Some(name);
            });
        }
    }

    /// `true` if the object has its record in the running execution.
    #[inline]
    fn recorded(&self) -> bool {
        let meta = self.meta.load(Relaxed);
        // (A made object has no record: no need to look at the thread-local.)
        meta & RECORDED != 0 && meta >> 31 == (RUNNING.with(Cell::get) as u64) << 1 | 1
    }

    /// The object's number in the current execution (it is used from now on; 0 outside an
    /// execution). Not a step. Traces show another: its place in the order of first use
    /// ([`Objects::shown`]), which an operation opened on this number shows too.
    pub fn number(&self) -> u32 {
        // Used in the running execution already (the usual case): no need to look at it.
        if self.recorded() {
            return self.meta.load(Relaxed) as u32 & MAX_NUMBER;
        }
        with_exec(|e| self.id(e)).unwrap_or(0)
    }
}

/// `Lock#3`, or `object#3` without a label.
pub(crate) fn object_name(obj: u32, label: Option<&'static str>) -> String {
    format!("{}#{obj}", label.unwrap_or("object"))
}

#[cfg(test)]
mod tests {
    use super::{Cell, NUMBERED_AT_BIRTH, NUMBERING};
    use crate::{explore, AtomicU32, Config, FailureKind};
    use std::sync::atomic::Ordering::SeqCst;

    /// Moves the running execution's count of numbers handed out to `count`.
    fn pretend_handed_out(count: u32) {
        NUMBERING.with(|n| n.set(n.get() >> 32 << 32 | count as u64));
    }

    /// Past the first `NUMBERED_AT_BIRTH` objects of an execution, an object is numbered at
    /// its first use, and works as any other.
    #[test]
    fn objects_made_past_the_numbered_ones_are_numbered_at_first_use() {
        let report = explore(Config::dfs().no_files(), || {
            pretend_handed_out(NUMBERED_AT_BIRTH);
            let late = AtomicU32::new(0);
            assert_eq!(NUMBERING.with(Cell::get) as u32, NUMBERED_AT_BIRTH);
            late.store(1, SeqCst);
            assert_eq!(NUMBERING.with(Cell::get) as u32, NUMBERED_AT_BIRTH + 1);
            assert_eq!(late.load(SeqCst), 1);
        })
        .unwrap();
        assert!(report.complete());
    }

    /// An execution that runs out of object numbers fails with a typed error, not a panic.
    #[test]
    fn an_execution_out_of_object_numbers_fails_with_invalid_input() {
        let failure = explore(Config::dfs().no_files(), || {
            let first = AtomicU32::new(0);
            first.store(1, SeqCst);
            pretend_handed_out(super::MAX_NUMBER);
            let late = AtomicU32::new(0);
            late.store(2, SeqCst);
        })
        .unwrap_err();
        assert_eq!(failure.kind(), FailureKind::InvalidInput, "{failure}");
        assert!(failure.message().contains("objects"), "{failure}");
    }
}
