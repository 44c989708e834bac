//! Footprints: which objects an event reads and writes, and so which events are *dependent*
//! (they touch a common object and one of them writes it). Partial-order reduction explores one
//! order of independent events only.
//!
//! Besides the atomics and cells themselves, two kinds of hidden objects carry dependences:
//! the futex queue of each word (wait blocks onto it, wake and timeouts take tasks off it) and
//! the virtual clock (timeouts advance it, `now` and `sleep` read it). And one kind of hidden
//! dependence comes from the scheduler itself: a task that yields does not run again until
//! the tasks that could act then have acted (see the runtime's `held_back`), so a yield depends
//! on the steps of those tasks: their order decides what the yielding task may do next
//! ([`Footprint::yields_to`]). Spawn and join are not
//! dependences but happens-before edges (a child starts after its spawn, a join ends after the
//! joined task), carried in `spawn` and `join`; so is a wake for the return of the wait it
//! ends (`after`): the return cannot happen before the wake, so the two never race.
//!
//! Kills (`Config::kills`) add one kind of hidden object, only while kills are configured:
//! each process's liveness ([`liveness`]: a kill writes it; every event of the process's tasks,
//! a `process_alive` of it, a join of one of its tasks and a guard on a word it changed read
//! it). Some events read every process's liveness at once ([`EVERY_PROCESS`]): those of a
//! wait that watches deaths (a kill wakes every such sleeper and makes every task's next such
//! wait return at once), the wakes of queues where such a sleeper sleeps, and every cell access
//! (it may look at any process's liveness). A wake also reads the liveness of the processes of
//! the tasks asleep on its queue: a kill takes its process's sleepers off their queues.
//! A kill's end of its tasks is a happens-before edge to the joins that wait for them
//! (`killed`).

use crate::rt::Op;
use crate::schedule::Choice;

/// The futex queue of object `o`.
pub(crate) const fn queue(obj: u32) -> u32 {
    obj | 1 << 30
}

/// The virtual clock.
pub(crate) const CLOCK: u32 = u32::MAX;

/// The liveness of simulated process `p`: a kill of `p` writes it; every event of a task of
/// `p`, a `process_alive(p)` and a join of a task of `p` read it (only while kills are
/// configured). A footprint keeps these as sets of processes ([`Footprint::live_reads`],
/// [`Footprint::live_writes`]); the race analysis sees them as these objects, process 63
/// standing for every process from 63 on ([`process_bit`]).
pub(crate) const fn liveness(p: u32) -> u32 {
    p | 3 << 30
}

/// Every process's liveness at once ([`process_bit`]s): what an event reads that a kill of any
/// process may change (only while kills are configured):
/// - an event of a wait that watches deaths (`futex_wait_watching_deaths`: the wait, its
///   timeout, its spurious wake-up) and a wake of a queue where such a sleeper sleeps: a kill
///   wakes every such sleeper and makes every task's next such wait return at once (and with
///   `Timeouts::WhenIdle` every timeout and spurious wake-up: a task a kill makes runnable
///   takes the idle timeouts away);
/// - a cell access: it may look at any process's liveness (a pipe end looks at its peer's).
///
/// (Not only the processes of the sleepers at the kill: a footprint that depends on who sleeps
/// when the kill happens would differ at the earlier points a reversal moves the kill to,
/// where the bounded rounds judge what it races with; they lost outcomes that way.) A kill of
/// `p` writes only `p`'s liveness, so kills of two processes, and the ends of two processes
/// (which carry their kill's footprint: see the runtime's `last_of_its_process`), do not race
/// with each other; each races with every such reader. (They once wrote two shared objects
/// for these readers, which made every two process ends race: at `condition_notifier_killed`
/// 2 × 2 the search ran 19,144 executions for 2,357 outcomes.)
pub(crate) const EVERY_PROCESS: u64 = u64::MAX;

/// Process `p`'s bit in a set of processes (an object's writers, the dead, the livenesses a
/// footprint reads or a kill writes): bit 63 stands for every process from 63 on.
pub(crate) const fn process_bit(p: u32) -> u64 {
    1 << if p < 63 { p } else { 63 }
}

/// Every object at once: what an event that touched more objects than a [`Footprint`] can list
/// ([`Footprint::wide`]) writes, and every event reads, in the race analysis (only when an
/// execution has such an event).
pub(crate) const WIDE: u32 = u32::MAX - 3;

/// How many distinct objects a [`Footprint`] lists; an event that touches more is
/// [`Footprint::wide`].
pub(crate) const CAPACITY: usize = 16;

// A footprint keeps which of its accesses write as the bits of a `u16`.
const _: () = assert!(CAPACITY <= 16);

/// The argument of a read-modify-write step whose operand leaves every value as it is
/// (`fetch_add(0)`, `fetch_sub(0)`, `fetch_or(0)`, `fetch_and(!0)`): whatever the word holds,
/// it returns it and leaves it unchanged, so under the simulator's sequential consistency it is
/// a load, and its footprint a read. (Code uses these to read the latest value under a weaker
/// memory model; a failed compare-and-swap stays a write: whether it fails depends on the
/// value, and a reversal may make it succeed.)
pub(crate) const KEEPS_VALUE: u32 = 1;

/// For an access's object that stands for an object numbered after the first `numbered` (a
/// word, or a word's futex queue): its kind (0: the word, 1: its queue). `None` for the
/// objects numbered before, and for the clock, liveness and the other markers.
const fn later(obj: u32, numbered: u32) -> Option<u32> {
    let kind = obj >> 30;
    if kind <= 1 && obj & ((1 << 30) - 1) > numbered {
        Some(kind)
    } else {
        None
    }
}

/// The marker of task `t`, which every event of `t` writes and a yield that waits for `t` reads
/// (an object of the race analysis only).
pub(crate) const fn marker(t: u32) -> u32 {
    t | 1 << 31
}

/// Task `t`'s bit in [`Footprint::yields_to`].
pub(crate) const fn task_bit(t: u32) -> u64 {
    1 << if t < 63 { t } else { 63 }
}

/// The set ([`process_bit`]s or [`task_bit`]s: the two number the same way) of the members
/// that `has` says are in it, of `members` (each a number and whether it is in), for a set
/// that lets the search leave something out (a kill left to an earlier node, a task whose
/// guard fails): bit 63 stands for every member from 63 on, so it is set only if each of them
/// is in. (Set for any of them, it left out a kill of another that changed what the execution
/// saw, and a search said complete without an outcome plain search found.)
pub(crate) fn every_member(members: impl IntoIterator<Item = (u32, bool)>) -> u64 {
    let (mut is, mut is_not) = (0, 0);
    for (member, has) in members {
        if has {
            is |= process_bit(member);
        } else {
            is_not |= process_bit(member);
        }
    }
    is & !is_not
}

/// The bit of a futex wait's announced argument that says the wait watches deaths (a kill
/// wakes it: `futex_wait_watching_deaths`); bit 0 says it has a deadline.
pub(crate) const WATCHING: u32 = 2;

/// One access: an object (0: none) and whether it is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// The object.
    pub obj: u32,
    /// `true` for a write (or read-modify-write).
    pub write: bool,
}

/// What one event touches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The task whose event it is (`None` for a value choice).
    pub task: Option<u32>,
    /// The objects of up to 16 accesses (`CAPACITY`), each distinct (a read and a write of
    /// one object are one access that writes): the first `len` entries.
    objects: [u32; CAPACITY],
    /// Bit `i`: the access of `objects[i]` writes.
    writes: u16,
    /// How many entries of `objects` are accesses.
    len: u8,
    /// The event touched more objects than `objects` can list (an operation run as one step
    /// at [`Granularity::Operation`](crate::Granularity::Operation)): it counts as dependent
    /// on every event.
    pub wide: bool,
    /// For a yield: the tasks it waits for (bit `t` for task `t`; bit 63 stands for every task
    /// from 63 on). The yield depends on every event of these tasks.
    pub yields_to: u64,
    /// The task this event joins (happens-after its end).
    pub join: Option<u32>,
    /// The task this event spawns (which happens-after it).
    pub spawn: Option<u32>,
    /// The choice whose event this one happens after without depending on it (the futex wake
    /// that a wait's return follows).
    pub after: Option<u32>,
    /// For a kill: the tasks it stopped (bit `t` for task `t`, up to task 62), whose ends (and
    /// so the joins that wait for them) happen after it.
    pub killed: u64,
    /// The processes whose liveness the event reads, as a set (bit `p` for process `p`, bit 63
    /// for every process from 63 on): not among `accesses`, where an operation that looks at
    /// several holders would run out of room and become [`Footprint::wide`].
    pub live_reads: u64,
    /// For a kill: its process, whose liveness it writes (as a set, as `live_reads`).
    pub live_writes: u64,
    /// What the event did to a word that names its holder (a lock's): see [`Held`].
    pub(crate) held: Held,
    /// The event began with a guard (`ready_when`, `ready_if`): the task may have waited
    /// there.
    pub(crate) guarded: bool,
}

/// What an event did to a word that names its holder (a lock's word: a guard on it was
/// `ready_when_held`), for the reduction that lets critical sections commute (see the race
/// analysis, `dfs.rs`). Kept only at operation granularity, without kills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Held {
    /// Nothing of the kind.
    #[default]
    None,
    /// The event began with an untimed guard on that word that passed because the word named
    /// no holder (the lock was free); it has not written the word yet.
    Guard(u32),
    /// It then took the word: from naming no holder to naming one (the lock's acquire).
    Acquire(u32),
    /// Without a guard, it wrote the word from naming a holder to naming none (a release).
    Release(u32),
    /// Anything else with such a word: another write, two words, a takeover.
    Other,
}

impl Footprint {
    fn with(list: &[Access]) -> Self {
        let mut footprint = Footprint::default();
        for &access in list {
            footprint.add(access);
        }
        footprint
    }

    fn one(obj: u32, write: bool) -> Self {
        Self::with(&[Access { obj, write }])
    }

    /// Adds an access: merged into the one of the same object if there is one, else in the
    /// first free place; the footprint becomes [`Footprint::wide`] when there is none.
    fn add(&mut self, access: Access) {
        if access.obj == 0 {
            return;
        }
        let len = self.len as usize;
        let i = match self.objects[..len].iter().position(|&o| o == access.obj) {
            Some(i) => i,
            None if len < CAPACITY => {
                self.objects[len] = access.obj;
                self.len += 1;
                len
            }
            None => {
                self.wide = true;
                return;
            }
        };
        self.writes |= u16::from(access.write) << i;
    }

    /// A read of the virtual clock.
    pub(crate) fn clock_read() -> Footprint {
        Footprint::one(CLOCK, false)
    }

    /// A read of object `obj`.
    pub(crate) fn read(obj: u32) -> Footprint {
        Footprint::one(obj, false)
    }

    /// What a kill of process `p` touches: its liveness (which the events of its tasks read,
    /// and those that look at every process's: [`EVERY_PROCESS`]); `killed` are the tasks it
    /// stops.
    pub(crate) fn kill(p: u32, killed: u64) -> Footprint {
        Footprint {
            killed,
            live_writes: process_bit(p),
            ..Footprint::default()
        }
    }

    /// Adds a read of the liveness of every process of `processes` (a set of
    /// [`process_bit`]s).
    pub(crate) fn read_liveness(&mut self, processes: u64) {
        self.live_reads |= processes;
    }

    /// The liveness accesses ([`Footprint::live_reads`], [`Footprint::live_writes`]) as
    /// accesses of [`liveness`] objects (bit 63, every process from 63 on, as the object of
    /// process 63), for the race analysis: the reads only of the processes of `written` (the
    /// livenesses some event of the execution writes; a read of one nobody writes races with
    /// nothing, and a read of [`EVERY_PROCESS`] would be 64 accesses).
    pub(crate) fn liveness_accesses(&self, written: u64) -> impl Iterator<Item = Access> + '_ {
        let mut rest = self.live_reads & written | self.live_writes;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Access {
                    obj: liveness(bit),
                    write: self.live_writes & 1 << bit != 0,
                }
            })
        })
    }

    /// Whether the event touches anything shared: an object, a liveness, or every object.
    pub fn touches_anything(&self) -> bool {
        self.wide || self.yields_to != 0 || self.live_reads | self.live_writes != 0 || self.len != 0
    }

    /// The accesses that only matter while kills are configured, added to the footprint of an
    /// event of a task of `process` doing `op`: the process's liveness (a kill of it stops
    /// the task), every process's ([`EVERY_PROCESS`]) where `for_the_dead` (an event of a wait
    /// that watches deaths, or a wake of a queue where such a sleeper sleeps) and for a cell
    /// access, and the liveness of `joined`, the process of the task a join waits for (a kill
    /// ends it).
    pub(crate) fn add_for_kills(
        &mut self,
        op: Op,
        process: u32,
        joined: Option<u32>,
        for_the_dead: bool,
    ) {
        if for_the_dead || matches!(op, Op::CellRead | Op::CellWrite) {
            self.live_reads = EVERY_PROCESS;
        }
        if process != 0 {
            self.live_reads |= process_bit(process);
        }
        if let Some(j) = joined {
            self.live_reads |= process_bit(j);
        }
    }

    /// The event wrote word `obj`, whose holder `holder` names, from `before` to `after`
    /// (`None`: not known): what it did to the holder (see [`Held`]).
    pub(crate) fn held_write(
        &mut self,
        obj: u32,
        holder: fn(u32) -> u32,
        before: Option<u64>,
        after: Option<u64>,
    ) {
        let names = |v: Option<u64>| v.map(|v| holder(v as u32) != 0);
        self.held = match (self.held, names(before), names(after)) {
            (Held::Guard(o), Some(false), Some(true)) if o == obj => Held::Acquire(obj),
            (Held::None, Some(true), Some(false)) => Held::Release(obj),
            _ => Held::Other,
        };
    }

    /// The accesses that touch an object.
    pub fn accesses(&self) -> impl Iterator<Item = Access> + '_ {
        self.objects[..self.len as usize]
            .iter()
            .enumerate()
            .map(|(i, &obj)| Access {
                obj,
                write: self.writes & 1 << i != 0,
            })
    }

    /// Adds what `other`, a later step of the same event, touched (an operation run as one
    /// step: [`Granularity::Operation`](crate::Granularity::Operation)). The edges (`spawn`,
    /// `join`, `after`, `yields_to`) are the first step's: the steps that carry them are never
    /// merged into an event (they are scheduling points of their own).
    pub(crate) fn merge(&mut self, other: &Footprint) {
        for access in other.accesses() {
            self.add(access);
        }
        self.wide |= other.wide;
        self.live_reads |= other.live_reads;
        self.live_writes |= other.live_writes;
    }

    /// `true` if the two events must not be reordered: a common object, one write; or one is a
    /// yield that waits for the other's task; or one is [`Footprint::wide`].
    pub fn dependent(&self, other: &Footprint) -> bool {
        self.wide
            || other.wide
            || self.waits_for(other)
            || other.waits_for(self)
            || self.live_reads & other.live_writes != 0
            || self.live_writes & (other.live_reads | other.live_writes) != 0
            || self.accesses().any(|a| {
                other
                    .accesses()
                    .any(|b| a.obj == b.obj && (a.write || b.write))
            })
    }

    /// As [`Footprint::dependent`], for `self` taken in another execution that made the same
    /// choices up to a point where `numbered` objects had numbers: an object numbered later
    /// (made, or first used, after that point) may have another number in each execution
    /// (objects are numbered in the order they are made, some at first use), so any two
    /// accesses of objects numbered
    /// later, of the same kind (a word, a word's futex queue), one of them a write, may be of
    /// the same object. (Comparing the numbers alone, a sleep set kept an operation asleep
    /// across a write of a word it read mid-event, which the other execution had numbered
    /// differently, and the search lost that order.)
    pub(crate) fn dependent_across(&self, other: &Footprint, numbered: u32) -> bool {
        self.dependent(other)
            || self.accesses().any(|a| {
                later(a.obj, numbered).is_some_and(|kind| {
                    other
                        .accesses()
                        .any(|b| later(b.obj, numbered) == Some(kind) && (a.write || b.write))
                })
            })
    }

    /// `true` if this event is a yield that waits for `other`'s task.
    pub fn waits_for(&self, other: &Footprint) -> bool {
        self.yields_to != 0
            && other
                .task
                .is_some_and(|t| self.yields_to & task_bit(t) != 0)
    }

    /// What the event of `choice` may touch, before it runs, judged from the announced
    /// operation (conservatively: a compare-and-swap may write).
    /// `timed` has bit 0 set for a futex wait with a deadline (which reads the clock: whether
    /// the deadline has passed decides if it sleeps) and [`WATCHING`] for one that watches
    /// deaths.
    pub(crate) fn pending(choice: Choice, op: Op, obj: u32, timed: u32) -> Footprint {
        let mut footprint = Footprint {
            task: choice.task(),
            ..Footprint::default()
        };
        footprint.add_touched(choice, op, obj, timed);
        footprint
    }

    /// Adds what the event of `choice` touches at a step `op` on `obj` (as
    /// [`Footprint::pending`] judges it), in place: an operation's event gathers the accesses
    /// of its steps one after the other.
    pub(crate) fn add_touched(&mut self, choice: Choice, op: Op, obj: u32, timed: u32) {
        let (accesses, live_reads) = Footprint::touched(choice, op, obj, timed);
        self.live_reads |= live_reads;
        for access in accesses {
            self.add(access);
        }
    }

    /// Whether [`Footprint::pending`] of the same arguments touches anything
    /// ([`Footprint::touches_anything`]), without building it.
    pub(crate) fn pending_touches(choice: Choice, op: Op, obj: u32, timed: u32) -> bool {
        let (accesses, live_reads) = Footprint::touched(choice, op, obj, timed);
        live_reads != 0 || accesses.iter().any(|a| a.obj != 0)
    }

    /// What a step `op` on `obj` of the event of `choice` touches: up to three accesses (one
    /// of object 0 is none) and the processes whose liveness it reads.
    fn touched(choice: Choice, op: Op, obj: u32, timed: u32) -> ([Access; 3], u64) {
        let read = |o| Access {
            obj: o,
            write: false,
        };
        let write = |o| Access {
            obj: o,
            write: true,
        };
        let none = Access::default();
        let nothing = ([none; 3], 0);
        let accesses = match choice {
            Choice::Timeout(_) if obj != 0 => [write(queue(obj)), write(CLOCK), none],
            Choice::Timeout(_) => [write(CLOCK), none, none],
            Choice::Spurious(_) => [write(queue(obj)), none, none],
            Choice::Value(_) | Choice::Kill(_) => return nothing,
            Choice::Run(_) => match op {
                Op::Load | Op::CellRead => [read(obj), none, none],
                // `timed` carries `KEEPS_VALUE` for a read-modify-write that writes nothing.
                Op::FetchAdd | Op::FetchSub | Op::FetchOr | Op::FetchAnd
                    if timed == KEEPS_VALUE =>
                {
                    [read(obj), none, none]
                }
                Op::Store
                | Op::Swap
                | Op::CompareExchange
                | Op::FetchAdd
                | Op::FetchSub
                | Op::FetchOr
                | Op::FetchAnd
                | Op::CellWrite => [write(obj), none, none],
                Op::FutexWait if timed & 1 != 0 => [read(obj), write(queue(obj)), read(CLOCK)],
                Op::FutexWait => [read(obj), write(queue(obj)), none],
                Op::FutexWake => [write(queue(obj)), none, none],
                Op::Now | Op::Sleep => [read(CLOCK), none, none],
                // `timed` carries the process asked about.
                Op::Alive => return ([none; 3], process_bit(timed)),
                Op::WaitReturn
                | Op::Start
                | Op::Spawn
                | Op::Join
                | Op::Yield
                | Op::Choose
                | Op::Finish
                | Op::Kill => return nothing,
            },
        };
        (accesses, 0)
    }

    /// What the event of `choice` touched, from the step it ran: the same conservative
    /// footprint as [`Footprint::pending`] (a failed compare-and-swap counts as a write, a futex
    /// wait that did not sleep as one that did), plus the spawn and join edges.
    ///
    /// Conservative on purpose: when a race is reversed, an event may do more than it did here
    /// (the compare-and-swap succeeds, the wait sleeps), and the choice of which task to try
    /// first at the reversal point must already account for that, or an ordering is lost.
    pub(crate) fn executed(
        choice: Choice,
        op: Op,
        obj: u32,
        wrote: Option<u64>,
        timed: u32,
    ) -> Footprint {
        match (choice, op) {
            (Choice::Run(t), Op::Spawn) => Footprint {
                task: Some(t),
                spawn: wrote.map(|t| t as u32),
                ..Footprint::default()
            },
            (Choice::Run(t), Op::Join) => Footprint {
                task: Some(t),
                join: wrote.map(|t| t as u32),
                ..Footprint::default()
            },
            _ => Footprint::pending(choice, op, obj, timed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(obj: u32, write: bool) -> Access {
        Access { obj, write }
    }

    #[test]
    fn accesses_merge_per_object_and_overflow_into_wide() {
        let mut f = Footprint::with(&[access(3, false), access(0, true), access(3, true)]);
        assert_eq!(f.accesses().collect::<Vec<_>>(), [access(3, true)]);
        assert!(f.touches_anything() && !f.wide);
        for obj in 4..4 + CAPACITY as u32 - 1 {
            f.add(access(obj, obj % 2 == 0));
        }
        assert!(!f.wide);
        let listed: Vec<_> = f.accesses().collect();
        assert_eq!(listed.len(), CAPACITY);
        assert!(listed
            .iter()
            .all(|a| a.write == (a.obj == 3 || a.obj % 2 == 0)));
        f.add(access(100, false));
        assert!(f.wide, "a seventeenth object makes the footprint wide");
        assert!(
            f.dependent(&Footprint::read(7)),
            "a wide footprint depends on everything"
        );
        assert!(!Footprint::default().touches_anything());
        assert!(!Footprint::read(5).dependent(&Footprint::read(5)));
        assert!(Footprint::read(5).dependent(&Footprint::one(5, true)));
    }

    /// `pending_touches` says what `pending(..).touches_anything()` says, for every operation,
    /// every kind of choice, object 0 or another, and every flag `timed` carries.
    #[test]
    fn pending_touches_agrees_with_the_pending_footprint() {
        use Op::*;
        let ops = [
            Start,
            Load,
            Store,
            Swap,
            CompareExchange,
            FetchAdd,
            FetchSub,
            FetchOr,
            FetchAnd,
            CellRead,
            CellWrite,
            FutexWait,
            WaitReturn,
            FutexWake,
            Spawn,
            Join,
            Now,
            Sleep,
            Yield,
            Choose,
            Finish,
            Alive,
            Kill,
        ];
        let choices = [
            Choice::Run(1),
            Choice::Timeout(1),
            Choice::Spurious(1),
            Choice::Value(0),
            Choice::Kill(1),
        ];
        for op in ops {
            for choice in choices {
                for obj in [0, 7] {
                    for timed in [0, 1, KEEPS_VALUE, WATCHING, WATCHING | 1, 5] {
                        let footprint = Footprint::pending(choice, op, obj, timed);
                        assert_eq!(
                            Footprint::pending_touches(choice, op, obj, timed),
                            footprint.touches_anything(),
                            "{choice:?} {op:?} on {obj}, timed {timed}: {footprint:?}"
                        );
                    }
                }
            }
        }
    }
}
