//! Objects: the identity of each atomic and cell within an execution ([`ObjCell`]), its label,
//! and what the runtime keeps about it ([`ObjRec`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use std::cell::Cell;

use super::{with_exec, Exec, Loc, RUNNING};

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

/// The identity of an object (an atomic, a cell) within the current execution: assigned on first
/// use, in the order of first use, so it is the same in every execution that follows the same
/// schedule. And its label, kept here until the object is first used (labelling is not a use:
/// a queue labels thousands of slot words it may never touch).
#[derive(Debug, Default)]
pub struct ObjCell {
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

impl ObjCell {
    /// An object with no identity yet.
    pub const fn new() -> Self {
        ObjCell {
            meta: AtomicU64::new(0),
            label: AtomicU64::new(0),
        }
    }

    pub(super) fn id(&self, exec: &mut Exec) -> u32 {
        let meta = self.meta.load(Relaxed);
        if (meta >> 32) as u32 == exec.serial {
            return meta as u32;
        }
        exec.objects.push(ObjRec {
            label: unpack(self.label.load(Relaxed)),
            ..ObjRec::default()
        });
        let id = exec.objects.len() as u32;
        self.meta
            .store(((exec.serial as u64) << 32) | id as u64, Relaxed);
        id
    }

    /// Gives the object a name for traces and deadlock reports ("Lock", "Semaphore"...). Not a
    /// use: the object gets its number when it is first used (a queue labels thousands of slot
    /// words it may never touch).
    pub fn label(&self, name: &'static str) {
        let packed = pack(name);
        self.label.store(packed, Relaxed);
        if packed == 0 || self.meta.load(Relaxed) != 0 {
            // Numbered already, or a label that does not pack: into its record now.
            with_exec(|e| {
                let id = self.id(e);
                e.objects[id as usize - 1].label = Some(name);
            });
        }
    }

    /// The object's number in the current execution (assigned now if it has none yet; 0
    /// outside an execution). Not a step.
    pub fn number(&self) -> u32 {
        // Numbered in the running execution already (the usual case): no need to look at it.
        let meta = self.meta.load(Relaxed);
        if (meta >> 32) as u32 == RUNNING.with(Cell::get) {
            return meta as u32;
        }
        with_exec(|e| self.id(e)).unwrap_or(0)
    }
}

/// `Lock#3`, or `object#3` without a label.
pub(crate) fn object_name(obj: u32, label: Option<&'static str>) -> String {
    format!("{}#{obj}", label.unwrap_or("object"))
}
