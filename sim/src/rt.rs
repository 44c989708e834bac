//! The runtime of one execution: tasks as coroutines on this OS thread, the scheduling points,
//! futex queues, the virtual clock, and the record of every step.
//!
//! # How control moves
//!
//! Every operation a task performs on shared state goes through [`schedule`] first. There the
//! task *announces* the operation (kind, object, source location) and the runtime asks the
//! strategy which of the possible next events happens. If the answer is "this task goes on", the
//! call returns at once, without a context switch. Otherwise the task records who runs next and
//! suspends to the driver loop ([`run_execution`]), which resumes that task's coroutine. A task
//! is only ever resumed to perform the operation it announced, so an execution is fully
//! determined by the sequence of choices (the *schedule*).
//!
//! The execution state lives in a thread-local; a borrow of it is never held across a suspend or
//! a resume.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::footprint::{task_bit, Footprint};
use crate::operation::Caller;
use crate::report::{Blocked, FailureKind, Site};
use crate::schedule::Choice;
use crate::stack::{self, TaskEnd, Trap};
use crate::strategy::{Pick, PickContext, Strategy};

/// A source location, from `#[track_caller]`.
pub(crate) type Loc = &'static Location<'static>;

/// A task's body, boxed: it returns its result type-erased.
pub(crate) type Body = Box<dyn FnOnce() -> Box<dyn Any>>;

type TaskCoroutine = Coroutine<(), (), TaskEnd, DefaultStack>;

/// What a step does. Announced before the step runs and recorded after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A task's first step.
    Start,
    /// Atomic load.
    Load,
    /// Atomic store.
    Store,
    /// Atomic swap.
    Swap,
    /// Atomic compare-and-exchange (strong or weak; weak never fails spuriously here).
    CompareExchange,
    /// Atomic fetch-and-add.
    FetchAdd,
    /// Atomic fetch-and-subtract.
    FetchSub,
    /// Atomic fetch-and-or.
    FetchOr,
    /// Atomic fetch-and-and.
    FetchAnd,
    /// Read of a cell.
    CellRead,
    /// Write (or read-modify-write) of a cell.
    CellWrite,
    /// Futex wait: the value check, and the start of the sleep if it matched.
    FutexWait,
    /// Return from a futex wait or a sleep (woken, spuriously woken, or timed out).
    WaitReturn,
    /// Futex wake.
    FutexWake,
    /// Spawning a task.
    Spawn,
    /// Joining a task (enabled once it has finished).
    Join,
    /// Reading the clock.
    Now,
    /// Sleeping on the virtual clock.
    Sleep,
    /// Yielding.
    Yield,
    /// A data choice (`choose(n)`).
    Choose,
    /// A task's last step.
    Finish,
}

impl Op {
    /// `true` for operations that write the value of an atomic.
    fn writes_value(self) -> bool {
        matches!(
            self,
            Op::Store
                | Op::Swap
                | Op::CompareExchange
                | Op::FetchAdd
                | Op::FetchSub
                | Op::FetchOr
                | Op::FetchAnd
        )
    }

    /// The operation's name in traces.
    pub fn name(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Load => "load",
            Op::Store => "store",
            Op::Swap => "swap",
            Op::CompareExchange => "cas",
            Op::FetchAdd => "fetch_add",
            Op::FetchSub => "fetch_sub",
            Op::FetchOr => "fetch_or",
            Op::FetchAnd => "fetch_and",
            Op::CellRead => "cell read",
            Op::CellWrite => "cell write",
            Op::FutexWait => "futex_wait",
            Op::WaitReturn => "wait returns",
            Op::FutexWake => "futex_wake",
            Op::Spawn => "spawn",
            Op::Join => "join",
            Op::Now => "now",
            Op::Sleep => "sleep",
            Op::Yield => "yield",
            Op::Choose => "choose",
            Op::Finish => "finish",
        }
    }
}

/// How a futex wait or sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The word did not hold the expected value: no sleep.
    Mismatch,
    /// Woken by a wake, or spuriously.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// One executed step, as the trace shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The task that took the step.
    pub task: u32,
    /// What it did.
    pub op: Op,
    /// The object it touched (0: none).
    pub obj: u32,
    /// The value read, if any.
    pub read: Option<u64>,
    /// The value written (or the result, for wakes, spawns and choices), if any.
    pub wrote: Option<u64>,
    /// Where in the source: the line that took the step (inside a primitive, for a step of a
    /// primitive's operation).
    pub loc: Loc,
    /// The primitive operation the step was taken in, as the user called it (with the user's
    /// line), if any: see [`operation`](crate::operation()).
    pub caller: Option<Caller>,
    /// Virtual time when the step ran, in nanoseconds.
    pub time: u64,
    /// The index of the choice that let this step happen (`None` for steps a task takes
    /// without a choice: its start as the main task, its finish).
    pub decision: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Runnable,
    /// In a futex wait on `obj` (0: a sleep), until `deadline` if any.
    Blocked {
        obj: u32,
        deadline: Option<u64>,
    },
    Finished,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(crate) op: Op,
    /// The object the step will touch: what partial-order reduction will compare.
    #[allow(dead_code)]
    pub(crate) obj: u32,
    /// The task a `Join` waits for; 1 for a `FutexWait` with a deadline.
    pub(crate) arg: u32,
    pub(crate) loc: Loc,
}

pub(crate) struct TaskRec {
    pub(crate) state: State,
    pub(crate) pending: Pending,
    pub(crate) outcome: WaitOutcome,
    /// The choice whose event (a futex wake) woke this task, for its return from the wait.
    woken_by: Option<u32>,
    /// The current wait ended with a spurious wake-up (for the trace).
    spurious: bool,
    yielder: *const Yielder<(), ()>,
    result: Option<Box<dyn Any>>,
    /// Set by a yield: the tasks that could act when this one yielded and have not taken a
    /// step since. While one of them still can, this task does not run (see [`Exec::held_back`]).
    behind: Vec<u32>,
    /// The task's outermost open operation (see `crate::operation`).
    operation: Option<Caller>,
}

#[derive(Default)]
pub(crate) struct ObjRec {
    pub(crate) label: Option<&'static str>,
    /// Tasks sleeping in a futex wait on this object, in arrival order.
    pub(crate) waiters: Vec<u32>,
    /// The last task that changed the value from zero to non-zero (took a lock, say), where,
    /// and in which operation.
    pub(crate) taken_by: Option<(u32, Loc, Option<Caller>)>,
}

/// Settings that shape an execution (not the strategy).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) max_steps: usize,
    pub(crate) spurious_wakeups: u32,
    pub(crate) timeouts_race: bool,
    pub(crate) stack_size: usize,
    /// Where the exploration was started: the main task's "start" in traces.
    pub(crate) entry: Loc,
}

/// What is left of an execution once it is over.
pub(crate) struct Ran {
    pub(crate) schedule: Vec<Choice>,
    /// For each choice, the task that could have gone on (see `PickContext::current`).
    pub(crate) currents: Vec<Option<u32>>,
    pub(crate) trace: Vec<Step>,
    pub(crate) labels: Vec<Option<&'static str>>,
    pub(crate) failure: Option<(FailureKind, String)>,
    pub(crate) blocked: Vec<Blocked>,
    pub(crate) preemptions: u32,
    /// For each choice, what the event it let happen touched.
    pub(crate) effects: Vec<Footprint>,
    /// (choice, task): the event of that choice woke that task.
    pub(crate) wakes: Vec<(u32, u32)>,
    /// The strategy stopped the execution early (it was redundant).
    pub(crate) abandoned: bool,
}

pub(crate) struct Exec {
    serial: u32,
    pub(crate) tasks: Vec<TaskRec>,
    current: u32,
    next: u32,
    pub(crate) clock: u64,
    pub(crate) objects: Vec<ObjRec>,
    schedule: Vec<Choice>,
    currents: Vec<Option<u32>>,
    trace: Vec<Step>,
    settings: Settings,
    spurious_left: u32,
    preemptions: u32,
    strategy: *mut dyn Strategy,
    failure: Option<(FailureKind, String)>,
    blocked: Vec<Blocked>,
    /// Per task: the choice that released its next step, until that step is recorded.
    release: Vec<Option<u32>>,
    effects: Vec<Footprint>,
    /// (choice, task): the event of that choice woke that task from a futex wait.
    wakes: Vec<(u32, u32)>,
    wants_footprints: bool,
    footprints: Vec<Footprint>,
    abandoned: bool,
    over: bool,
    teardown: bool,
    new_tasks: Vec<(u32, Body)>,
    options: Vec<Choice>,
    /// How many tasks have a non-empty `behind` list (0: no yield is in force).
    yielders: u32,
    /// The task stopped at the end of its stack, if any (its coroutine is abandoned).
    overflowed: Option<u32>,
}

thread_local! {
    static EXEC: RefCell<Option<Box<Exec>>> = const { RefCell::new(None) };
    /// True while this thread runs an execution: the panic hook stays quiet then.
    pub(crate) static IN_SIM: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic in a task happened (the hook records it).
    pub(crate) static PANIC_LOCATION: Cell<Option<(&'static str, u32)>> = const { Cell::new(None) };
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// Buffers of finished executions, reused by the next one (an exploration runs hundreds of
/// thousands of executions; allocating them afresh each time is a measurable cost).
#[derive(Default)]
struct Spare {
    tasks: Vec<TaskRec>,
    objects: Vec<ObjRec>,
    schedule: Vec<Choice>,
    currents: Vec<Option<u32>>,
    trace: Vec<Step>,
    release: Vec<Option<u32>>,
    effects: Vec<Footprint>,
    wakes: Vec<(u32, u32)>,
    options: Vec<Choice>,
    footprints: Vec<Footprint>,
}

thread_local! {
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

/// Gives the buffers of a finished execution's outcome back for the next execution.
pub(crate) fn recycle(outcome: Ran) {
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        fn take<T>(mut v: Vec<T>) -> Vec<T> {
            v.clear();
            v
        }
        s.schedule = take(outcome.schedule);
        s.currents = take(outcome.currents);
        s.trace = take(outcome.trace);
        s.effects = take(outcome.effects);
        s.wakes = take(outcome.wakes);
    });
}

/// Runs `f` on the current execution, unless there is none or it is being torn down.
#[inline]
fn with_exec<R>(f: impl FnOnce(&mut Exec) -> R) -> Option<R> {
    if stack::near_end() {
        stack_exhausted();
    }
    EXEC.with(|e| {
        let mut e = e.borrow_mut();
        match e.as_mut() {
            Some(exec) if !exec.teardown => Some(f(exec)),
            _ => None,
        }
    })
}

/// `true` if the calling code runs inside an execution (and not in its teardown).
pub fn in_execution() -> bool {
    with_exec(|_| ()).is_some()
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

    fn id(&self, exec: &mut Exec) -> u32 {
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
        with_exec(|e| self.id(e)).unwrap_or(0)
    }
}

/// What the deciding task does next.
enum Next {
    /// Keep running: it was chosen.
    Continue,
    /// Suspend: another task runs, or the execution is over.
    Suspend,
}

impl Exec {
    fn strategy(&mut self) -> &mut dyn Strategy {
        // SAFETY: `strategy` points to the strategy that `run_execution` borrows mutably for the
        // whole execution; this `Exec` lives only within that call, and the strategy is reached
        // only through here, one call at a time.
        unsafe { &mut *self.strategy }
    }

    /// Task `t` ran out of stack.
    fn stack_overflow(&mut self, t: u32) {
        self.overflowed = Some(t);
        let size = self.settings.stack_size;
        self.fail(
            FailureKind::StackOverflow,
            format!(
                "task {t} overflowed its stack of {} KiB (a recursion too deep, or a large value \
                 on the stack; Config::stack_size sets the size)",
                size / 1024
            ),
        );
    }

    fn fail(&mut self, kind: FailureKind, message: String) {
        if self.failure.is_none() {
            self.failure = Some((kind, message));
        }
    }

    fn enabled(&self, t: usize) -> bool {
        let task = &self.tasks[t];
        match task.state {
            State::Runnable => {
                task.pending.op != Op::Join
                    || self.tasks[task.pending.arg as usize].state == State::Finished
            }
            _ => false,
        }
    }

    /// `true` if task `t` can take a step now, or its timed wait or sleep can end.
    fn can_act(&self, t: usize) -> bool {
        self.enabled(t)
            || matches!(
                self.tasks[t].state,
                State::Blocked {
                    deadline: Some(_),
                    ..
                }
            )
    }

    /// `true` if task `t` yielded and a task that could act then has not acted since and still
    /// can. A yield is a hint that the task cannot progress until another task acts (a spin
    /// loop's wait): it runs again only once every task that could act when it yielded has
    /// taken a step, or no longer can (fair scheduling, as in CHESS: Musuvathi & Qadeer,
    /// "Fair stateless model checking", PLDI 2008). So a task spinning with `yield_now` until
    /// another acts is not a livelock.
    fn held_back(&self, t: usize) -> bool {
        self.yielders > 0
            && self.tasks[t]
                .behind
                .iter()
                .any(|&u| self.can_act(u as usize))
    }

    /// The tasks other than `t` that can act now.
    fn acting_others(&self, t: u32) -> impl Iterator<Item = u32> + '_ {
        (0..self.tasks.len() as u32).filter(move |&u| u != t && self.can_act(u as usize))
    }

    /// Task `t` took a step: no task waits for it any longer, and after a yield, `t` waits for
    /// every other task that can act.
    fn yield_bookkeeping(&mut self, t: u32, op: Op) {
        if self.yielders > 0 {
            for task in self.tasks.iter_mut() {
                if !task.behind.is_empty() {
                    task.behind.retain(|&u| u != t);
                    if task.behind.is_empty() {
                        self.yielders -= 1;
                    }
                }
            }
        }
        if op == Op::Yield {
            let mut behind = std::mem::take(&mut self.tasks[t as usize].behind);
            behind.clear();
            behind.extend(self.acting_others(t));
            if !behind.is_empty() {
                self.yielders += 1;
            }
            self.tasks[t as usize].behind = behind;
        }
    }

    /// Fills `self.options` with every event that may happen next, in canonical order: tasks
    /// that can run, then timeouts, then spurious wake-ups.
    fn collect_options(&mut self) {
        let mut options = std::mem::take(&mut self.options);
        options.clear();
        let mut timed = false;
        let mut blocked = false;
        let mut held = false;
        for (t, task) in self.tasks.iter().enumerate() {
            match task.state {
                State::Runnable => {
                    if self.held_back(t) {
                        held = true;
                    } else if self.enabled(t) {
                        options.push(Choice::Run(t as u32));
                    }
                }
                State::Blocked { obj, deadline } => {
                    timed |= deadline.is_some();
                    blocked |= obj != 0;
                }
                State::Finished => {}
            }
        }
        let any_runnable = !options.is_empty();
        if timed && (self.settings.timeouts_race || !any_runnable) {
            // Racing: any timed wait may time out now. Idle: the earliest deadline fires.
            let earliest = self
                .tasks
                .iter()
                .filter_map(|t| match t.state {
                    State::Blocked {
                        deadline: Some(d), ..
                    } => Some(d),
                    _ => None,
                })
                .min();
            for (t, task) in self.tasks.iter().enumerate() {
                if let State::Blocked {
                    deadline: Some(d), ..
                } = task.state
                {
                    if self.settings.timeouts_race || Some(d) == earliest {
                        options.push(Choice::Timeout(t as u32));
                    }
                }
            }
        }
        if options.is_empty() && held {
            // Every task that could act is itself held back: nothing to wait for after all.
            options.extend(
                (0..self.tasks.len())
                    .filter(|&t| self.enabled(t))
                    .map(|t| Choice::Run(t as u32)),
            );
        }
        if blocked && self.spurious_left > 0 {
            for (t, task) in self.tasks.iter().enumerate() {
                if let State::Blocked { obj, .. } = task.state {
                    if obj != 0 {
                        options.push(Choice::Spurious(t as u32));
                    }
                }
            }
        }
        self.options = options;
    }

    /// The scheduling decision, taken by task `cur` (which has announced its next step, blocked,
    /// or finished).
    fn decide(&mut self, cur: u32) -> Next {
        if self.failure.is_some() || self.over {
            return Next::Suspend;
        }
        if self.trace.len() >= self.settings.max_steps {
            let max = self.settings.max_steps;
            self.fail(
                FailureKind::StepBound,
                format!("the execution took more than {max} steps (a livelock?)"),
            );
            return Next::Suspend;
        }
        self.collect_options();
        if self.options.is_empty() {
            self.report_deadlock();
            return Next::Suspend;
        }
        let current_runs = self.options.contains(&Choice::Run(cur));
        let options = std::mem::take(&mut self.options);
        let mut footprints = std::mem::take(&mut self.footprints);
        footprints.clear();
        if self.wants_footprints {
            footprints.extend(options.iter().map(|&c| {
                let t = c.task().expect("scheduling choices name a task") as usize;
                let pending = self.tasks[t].pending;
                let obj = match self.tasks[t].state {
                    State::Blocked { obj, .. } => obj,
                    _ => pending.obj,
                };
                let mut footprint = Footprint::pending(c, pending.op, obj, pending.arg);
                if c == Choice::Run(t as u32) && pending.op == Op::Yield {
                    footprint.yields_to =
                        self.acting_others(t as u32).fold(0, |m, u| m | task_bit(u));
                }
                footprint
            }));
        }
        let ctx = PickContext {
            current: current_runs.then_some(cur),
            decisions: self.schedule.len(),
            footprints: &footprints,
        };
        let picked = self.strategy().pick(&options, &ctx);
        self.footprints = footprints;
        let choice = match picked {
            Pick::Take(i) => options[i],
            Pick::Abandon => {
                self.options = options;
                self.abandoned = true;
                self.over = true;
                return Next::Suspend;
            }
            Pick::Diverged => {
                self.options = options;
                self.fail(
                    FailureKind::Nondeterminism,
                    format!(
                        "at decision {} the recorded schedule asks for an event that cannot happen \
                         (the program behaved differently this time: it must not depend on \
                         anything outside the simulation, such as real time, real threads, \
                         I/O or a randomly seeded hash map)",
                        self.schedule.len() + 1
                    ),
                );
                return Next::Suspend;
            }
        };
        self.options = options;
        let decision = self.schedule.len() as u32;
        self.schedule.push(choice);
        self.currents.push(current_runs.then_some(cur));
        self.effects.push(Footprint::default());
        if current_runs && choice != Choice::Run(cur) {
            self.preemptions += 1;
        }
        let t = self.apply(choice);
        self.release[t as usize] = Some(decision);
        if t == cur {
            Next::Continue
        } else {
            self.next = t;
            Next::Suspend
        }
    }

    /// Makes `choice` happen; returns the task that runs next.
    fn apply(&mut self, choice: Choice) -> u32 {
        match choice {
            Choice::Run(t) => t,
            Choice::Timeout(t) => {
                if let State::Blocked {
                    deadline: Some(d), ..
                } = self.tasks[t as usize].state
                {
                    self.clock = self.clock.max(d);
                }
                self.unblock(t, WaitOutcome::TimedOut);
                t
            }
            Choice::Spurious(t) => {
                self.spurious_left -= 1;
                self.unblock(t, WaitOutcome::Woken);
                self.tasks[t as usize].spurious = true;
                t
            }
            Choice::Value(_) => unreachable!("value choices are not scheduling events"),
        }
    }

    fn unblock(&mut self, t: u32, outcome: WaitOutcome) {
        if let State::Blocked { obj, .. } = self.tasks[t as usize].state {
            if obj != 0 {
                let waiters = &mut self.objects[obj as usize - 1].waiters;
                waiters.retain(|&w| w != t);
            }
        }
        let task = &mut self.tasks[t as usize];
        task.state = State::Runnable;
        task.outcome = outcome;
    }

    fn report_deadlock(&mut self) {
        let mut blocked = Vec::new();
        for (t, task) in self.tasks.iter().enumerate() {
            let entry = match task.state {
                State::Blocked { obj, .. } => {
                    let rec = &self.objects[obj as usize - 1];
                    Blocked {
                        task: t as u32,
                        waits_for: self.object_name(obj),
                        at: Site::new(task.operation, task.pending.loc),
                        holder: rec.taken_by.map(|(h, loc, op)| (h, Site::new(op, loc))),
                    }
                }
                State::Runnable if task.pending.op == Op::Join => Blocked {
                    task: t as u32,
                    waits_for: format!("task {} to finish", task.pending.arg),
                    at: Site::new(task.operation, task.pending.loc),
                    holder: None,
                },
                _ => continue,
            };
            blocked.push(entry);
        }
        let lines: Vec<String> = blocked.iter().map(|b| b.to_string()).collect();
        self.blocked = blocked;
        self.fail(
            FailureKind::Deadlock,
            format!(
                "deadlock: every task is blocked and no timer is pending\n  {}",
                lines.join("\n  ")
            ),
        );
    }

    pub(crate) fn object_name(&self, obj: u32) -> String {
        object_name(
            obj,
            self.objects.get(obj as usize - 1).and_then(|o| o.label),
        )
    }

    /// A value choice among `n` (n ≥ 1), recorded in the schedule.
    fn pick_value(&mut self, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        let mut options = std::mem::take(&mut self.options);
        options.clear();
        options.extend((0..n).map(Choice::Value));
        let ctx = PickContext {
            current: None,
            decisions: self.schedule.len(),
            footprints: &[],
        };
        let picked = self.strategy().pick(&options, &ctx);
        self.options = options;
        match picked {
            Pick::Take(i) => {
                self.schedule.push(Choice::Value(i as u32));
                self.currents.push(None);
                self.effects.push(Footprint::default());
                i as u32
            }
            Pick::Diverged | Pick::Abandon => {
                self.fail(
                    FailureKind::Nondeterminism,
                    format!(
                        "at decision {} the recorded schedule does not fit a choice among {n} \
                         values (the program behaved differently this time)",
                        self.schedule.len() + 1
                    ),
                );
                0
            }
        }
    }

    fn record(&mut self, op: Op, obj: u32, read: Option<u64>, wrote: Option<u64>, loc: Loc) {
        let task = self.current;
        if self.yielders > 0 || op == Op::Yield {
            self.yield_bookkeeping(task, op);
        }
        let caller = self.tasks[task as usize].operation;
        if obj != 0 && op.writes_value() {
            let rec = &mut self.objects[obj as usize - 1];
            match (read, wrote) {
                (Some(0), Some(w)) if w != 0 => rec.taken_by = Some((task, loc, caller)),
                (_, Some(0)) => rec.taken_by = None,
                _ => {}
            }
        }
        let decision = self.release.get_mut(task as usize).and_then(Option::take);
        let step = Step {
            task,
            op,
            obj,
            read,
            wrote,
            loc,
            caller,
            time: self.clock,
            decision,
        };
        if let Some(d) = decision.filter(|_| self.wants_footprints) {
            let arg = self.tasks[task as usize].pending.arg;
            let mut effect = Footprint::executed(self.schedule[d as usize], &step, arg);
            if op == Op::WaitReturn && self.schedule[d as usize] == Choice::Run(task) {
                effect.after = self.tasks[task as usize].woken_by.take();
            }
            if op == Op::Yield {
                effect.yields_to = self.tasks[task as usize]
                    .behind
                    .iter()
                    .fold(0, |m, &u| m | task_bit(u));
            }
            self.effects[d as usize] = effect;
        }
        self.trace.push(step);
    }
}

/// Opens `caller` as the running task's operation unless one is open already; `true` if it
/// did (the caller then closes it with [`leave_operation`]). Not a step.
pub(crate) fn enter_operation(caller: Caller) -> bool {
    with_exec(|e| {
        let operation = &mut e.tasks[e.current as usize].operation;
        if operation.is_some() {
            return false;
        }
        *operation = Some(caller);
        true
    })
    .unwrap_or(false)
}

/// Closes the running task's operation.
pub(crate) fn leave_operation() {
    with_exec(|e| e.tasks[e.current as usize].operation = None);
}

/// `Lock#3`, or `object#3` without a label.
pub(crate) fn object_name(obj: u32, label: Option<&'static str>) -> String {
    format!("{}#{obj}", label.unwrap_or("object"))
}

/// The running task reached the end of its stack (less than [`stack::MARGIN`] left): the
/// execution fails there, and the task never runs again (its coroutine is abandoned).
#[cold]
#[inline(never)]
fn stack_exhausted() -> ! {
    stack::disarm();
    with_exec(|e| e.stack_overflow(e.current));
    loop {
        suspend();
    }
}

/// Suspends the running task to the driver loop.
fn suspend() {
    let yielder = EXEC.with(|e| {
        let e = e.borrow();
        let exec = e.as_ref().expect("suspend inside an execution");
        exec.tasks[exec.current as usize].yielder
    });
    // SAFETY: the pointer was stored by this task's coroutine body from the `&Yielder` it was
    // given, and that body is still running (we are inside it), so the yielder is alive.
    unsafe { (*yielder).suspend(()) }
}

/// A scheduling point: task announces `op` on `obj`; returns when it may perform it.
/// Returns `None` (perform directly, no record) outside an execution or during teardown.
#[inline]
fn announce(op: Op, obj: Option<&ObjCell>, arg: u32, loc: Loc) -> Option<u32> {
    let (id, next) = with_exec(|e| {
        let id = obj.map_or(0, |o| o.id(e));
        let cur = e.current;
        e.tasks[cur as usize].pending = Pending {
            op,
            obj: id,
            arg,
            loc,
        };
        (id, e.decide(cur))
    })?;
    if let Next::Suspend = next {
        suspend();
    }
    Some(id)
}

/// Performs one step: announce, wait to be scheduled, run `perform` (which returns the values
/// read and written for the trace, and the result), and record it.
#[inline]
pub(crate) fn step<R>(
    op: Op,
    obj: &ObjCell,
    loc: Loc,
    perform: impl FnOnce() -> (Option<u64>, Option<u64>, R),
) -> R {
    match announce(op, Some(obj), 0, loc) {
        None => perform().2,
        Some(id) => {
            let (read, wrote, result) = perform();
            with_exec(|e| e.record(op, id, read, wrote, loc));
            result
        }
    }
}

/// A scheduling point on no object (yield): announce and record.
pub(crate) fn plain_step(op: Op, loc: Loc) {
    if announce(op, None, 0, loc).is_some() {
        with_exec(|e| e.record(op, 0, None, None, loc));
    }
}

/// Reads the virtual clock, in nanoseconds (a step that reads the clock; 0 outside an
/// execution).
pub(crate) fn now(loc: Loc) -> u64 {
    if announce(Op::Now, None, 0, loc).is_none() {
        return 0;
    }
    with_exec(|e| {
        let clock = e.clock;
        e.record(Op::Now, 0, Some(clock), None, loc);
        clock
    })
    .unwrap_or(0)
}

/// Futex wait on `obj`, whose current value `read` returns.
pub(crate) fn futex_wait(
    obj: &ObjCell,
    read: impl Fn() -> u32,
    expected: u32,
    deadline: Option<u64>,
    loc: Loc,
) -> WaitOutcome {
    let Some(id) = announce(Op::FutexWait, Some(obj), deadline.is_some() as u32, loc) else {
        // Outside an execution nothing can wake us, and during teardown nobody may block.
        return if read() == expected {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Mismatch
        };
    };
    let value = read();
    let blocked = with_exec(|e| {
        // wrote: None = mismatch, 1 = goes to sleep, 2 = deadline already passed.
        let expired = deadline.is_some_and(|d| d <= e.clock);
        let effect = (value == expected).then_some(if expired { 2 } else { 1 });
        e.record(Op::FutexWait, id, Some(value as u64), effect, loc);
        if value != expected {
            return None;
        }
        if expired {
            return Some((Next::Continue, true));
        }
        let cur = e.current;
        e.objects[id as usize - 1].waiters.push(cur);
        let task = &mut e.tasks[cur as usize];
        task.state = State::Blocked { obj: id, deadline };
        task.pending = Pending {
            op: Op::WaitReturn,
            obj: id,
            arg: 0,
            loc,
        };
        Some((e.decide(cur), false))
    })
    .flatten();
    let outcome = match blocked {
        None => return WaitOutcome::Mismatch,
        Some((_, true)) => WaitOutcome::TimedOut,
        Some((next, false)) => {
            if let Next::Suspend = next {
                suspend();
            }
            match with_exec(|e| e.tasks[e.current as usize].outcome) {
                Some(outcome) => outcome,
                // Torn down while asleep: unwinding follows.
                None => WaitOutcome::Woken,
            }
        }
    };
    with_exec(|e| {
        let spurious = std::mem::take(&mut e.tasks[e.current as usize].spurious);
        let code = match outcome {
            WaitOutcome::Mismatch => 0,
            WaitOutcome::Woken if spurious => 3,
            WaitOutcome::Woken => 1,
            WaitOutcome::TimedOut => 2,
        };
        e.record(Op::WaitReturn, id, None, Some(code), loc)
    });
    outcome
}

/// Futex wake of up to `n` waiters on `obj`; returns how many were woken. When more tasks wait
/// than are woken, which ones is a choice the strategy makes.
pub(crate) fn futex_wake(obj: &ObjCell, n: u32, loc: Loc) -> u32 {
    let Some(id) = announce(Op::FutexWake, Some(obj), 0, loc) else {
        return 0;
    };
    with_exec(|e| {
        let mut woken = 0;
        while woken < n {
            let waiting = e.objects[id as usize - 1].waiters.len() as u32;
            if waiting == 0 {
                break;
            }
            let index = if waiting > n - woken {
                e.pick_value(waiting)
            } else {
                0
            };
            let t = e.objects[id as usize - 1].waiters[index as usize];
            e.unblock(t, WaitOutcome::Woken);
            let by = e.release[e.current as usize];
            e.tasks[t as usize].woken_by = by;
            if let Some(d) = by {
                e.wakes.push((d, t));
            }
            woken += 1;
        }
        e.record(Op::FutexWake, id, None, Some(woken as u64), loc);
        woken
    })
    .unwrap_or(0)
}

/// Sleeps `nanos` of virtual time.
pub(crate) fn sleep(nanos: u64, loc: Loc) {
    if announce(Op::Sleep, None, 0, loc).is_none() {
        return;
    }
    let next = with_exec(|e| {
        e.record(Op::Sleep, 0, None, Some(nanos), loc);
        let cur = e.current;
        let task = &mut e.tasks[cur as usize];
        task.state = State::Blocked {
            obj: 0,
            deadline: Some(e.clock.saturating_add(nanos)),
        };
        task.pending = Pending {
            op: Op::WaitReturn,
            obj: 0,
            arg: 0,
            loc,
        };
        e.decide(cur)
    });
    if let Some(Next::Suspend) = next {
        suspend();
    }
    // The end of the sleep is a step of its own: the timeout that ended it moved the clock, and
    // partial-order reduction must see that write where it happened.
    with_exec(|e| e.record(Op::WaitReturn, 0, None, Some(2), loc));
}

/// Spawns a task running `body`; returns its index.
pub(crate) fn spawn(body: Body, loc: Loc) -> u32 {
    announce(Op::Spawn, None, 0, loc).expect("mpcheck-sim: spawn outside an execution");
    with_exec(|e| {
        let t = e.tasks.len() as u32;
        e.tasks.push(TaskRec {
            state: State::Runnable,
            pending: Pending {
                op: Op::Start,
                obj: 0,
                arg: 0,
                loc,
            },
            outcome: WaitOutcome::Woken,
            woken_by: None,
            spurious: false,
            yielder: std::ptr::null(),
            result: None,
            behind: Vec::new(),
            operation: None,
        });
        e.new_tasks.push((t, body));
        e.release.push(None);
        e.record(Op::Spawn, 0, None, Some(t as u64), loc);
        t
    })
    .expect("mpcheck-sim: spawn outside an execution")
}

/// Waits for task `t` to finish and takes its result.
pub(crate) fn join(t: u32, loc: Loc) -> Option<Box<dyn Any>> {
    announce(Op::Join, None, t, loc)?;
    with_exec(|e| {
        e.record(Op::Join, 0, None, Some(t as u64), loc);
        e.tasks[t as usize].result.take()
    })
    .flatten()
}

/// A data choice among `n` values.
pub(crate) fn choose(n: u32, loc: Loc) -> u32 {
    with_exec(|e| {
        let v = e.pick_value(n);
        e.record(Op::Choose, 0, None, Some(v as u64), loc);
        v
    })
    .unwrap_or(0)
}

/// The running task's index.
pub(crate) fn current_task() -> Option<u32> {
    with_exec(|e| e.current)
}

/// Task `t`'s coroutine running `body`, on a stack of `stack_size` bytes, and the trap of that
/// stack.
fn make_coroutine(t: u32, body: Body, stack_size: usize) -> (TaskCoroutine, Trap) {
    let stack = stack::take(stack_size);
    let limit = stack::limit(&stack);
    let co = Coroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
        let loc = with_exec(|e| {
            e.tasks[t as usize].yielder = yielder as *const _;
            let loc = e.tasks[t as usize].pending.loc;
            e.record(Op::Start, 0, None, None, loc);
            loc
        });
        let Some(loc) = loc else { return TaskEnd::Done };
        let result = catch_unwind(AssertUnwindSafe(body));
        with_exec(|e| match result {
            Ok(value) => {
                e.record(Op::Finish, 0, None, None, loc);
                let task = &mut e.tasks[t as usize];
                task.result = Some(value);
                task.state = State::Finished;
                if t == 0 {
                    e.over = true;
                } else {
                    // Whoever runs next is decided here; the driver resumes it.
                    e.decide(t);
                }
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                let place = PANIC_LOCATION
                    .with(|p| p.take())
                    .map(|(file, line)| format!(" at {file}:{line}"))
                    .unwrap_or_default();
                e.fail(
                    FailureKind::Panic,
                    format!("task {t} panicked{place}: {message}"),
                );
            }
        });
        TaskEnd::Done
    });
    let trap = Trap::new(co.trap_handler(), limit);
    (co, trap)
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs one execution of `body` as task 0, with `strategy` making every choice.
pub(crate) fn run_execution(
    body: Rc<dyn Fn()>,
    strategy: &mut dyn Strategy,
    settings: &Settings,
) -> Ran {
    crate::hook::install();
    stack::install();
    let serial = SERIAL.fetch_add(1, Relaxed) as u32;
    let main: Body = Box::new(move || {
        body();
        Box::new(())
    });
    let here = settings.entry;
    let mut spare = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    spare.tasks.clear();
    spare.objects.clear();
    spare.release.clear();
    spare.release.push(None);
    spare.tasks.push(TaskRec {
        state: State::Runnable,
        pending: Pending {
            op: Op::Start,
            obj: 0,
            arg: 0,
            loc: here,
        },
        outcome: WaitOutcome::Woken,
        woken_by: None,
        spurious: false,
        yielder: std::ptr::null(),
        result: None,
        behind: Vec::new(),
        operation: None,
    });
    let exec = Box::new(Exec {
        serial,
        tasks: spare.tasks,
        current: 0,
        next: 0,
        clock: 0,
        objects: spare.objects,
        schedule: spare.schedule,
        currents: spare.currents,
        trace: spare.trace,
        settings: settings.clone(),
        spurious_left: settings.spurious_wakeups,
        preemptions: 0,
        // SAFETY: erases the borrow's lifetime; the pointer is used only while this function
        // runs (the Exec is taken out of the thread-local before it returns).
        strategy: unsafe {
            std::mem::transmute::<*mut (dyn Strategy + '_), *mut (dyn Strategy + 'static)>(
                strategy as *mut dyn Strategy,
            )
        },
        failure: None,
        blocked: Vec::new(),
        release: spare.release,
        effects: spare.effects,
        wakes: spare.wakes,
        wants_footprints: strategy.wants_footprints(),
        footprints: spare.footprints,
        abandoned: false,
        over: false,
        teardown: false,
        new_tasks: Vec::new(),
        options: spare.options,
        yielders: 0,
        overflowed: None,
    });
    EXEC.with(|e| *e.borrow_mut() = Some(exec));
    IN_SIM.with(|s| s.set(true));

    // The coroutines live here, outside the thread-local, so that a running task can borrow
    // the execution state; tasks spawned meanwhile wait in `new_tasks`.
    let mut coroutines: Vec<Option<(TaskCoroutine, Trap)>> = Vec::new();
    let mut next = 0u32;
    let mut new_tasks = vec![(0, main)];
    loop {
        for (t, body) in new_tasks.drain(..) {
            let t = t as usize;
            if coroutines.len() <= t {
                coroutines.resize_with(t + 1, || None);
            }
            coroutines[t] = Some(make_coroutine(t as u32, body, settings.stack_size));
        }
        let (mut co, trap) = coroutines[next as usize]
            .take()
            .expect("the chosen task has a coroutine");
        stack::running(Some(trap));
        let result = co.resume(());
        stack::running(None);
        match result {
            CoroutineResult::Yield(()) => coroutines[next as usize] = Some((co, trap)),
            CoroutineResult::Return(end) => {
                stack::give_back(settings.stack_size, co.into_stack());
                if end == TaskEnd::Overflow {
                    with_exec(|e| e.stack_overflow(next));
                }
            }
        }
        // One look at the state: who runs next, and who was spawned.
        let stop = with_exec(|e| {
            next = e.next;
            e.current = next;
            if !e.new_tasks.is_empty() {
                std::mem::swap(&mut new_tasks, &mut e.new_tasks);
            }
            e.over || e.failure.is_some()
        })
        .unwrap_or(true);
        if stop {
            break;
        }
    }

    // Teardown: unwind every task still suspended; their destructors run without scheduling.
    let overflowed = with_exec(|e| {
        e.teardown = true;
        e.overflowed
    })
    .flatten();
    for (t, slot) in coroutines.into_iter().enumerate() {
        let Some((mut co, _)) = slot else { continue };
        if overflowed == Some(t as u32) {
            // SAFETY: the task stopped at the end of its stack, where unwinding it could fault
            // again; its stack is abandoned instead: the values on it are leaked (never
            // dropped, never used again). Nothing else points into that stack: the runtime's
            // pointer to its yielder dies with this execution.
            unsafe { co.force_reset() };
        } else {
            co.force_unwind();
        }
        stack::give_back(settings.stack_size, co.into_stack());
    }
    IN_SIM.with(|s| s.set(false));
    let mut exec = EXEC
        .with(|e| e.borrow_mut().take())
        .expect("the execution is still installed");
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        s.tasks = std::mem::take(&mut exec.tasks);
        s.objects = std::mem::take(&mut exec.objects);
        s.release = std::mem::take(&mut exec.release);
        s.options = std::mem::take(&mut exec.options);
        s.footprints = std::mem::take(&mut exec.footprints);
    });
    Ran {
        schedule: exec.schedule,
        currents: exec.currents,
        trace: exec.trace,
        labels: SPARE.with(|s| s.borrow().objects.iter().map(|o| o.label).collect()),
        failure: exec.failure,
        blocked: exec.blocked,
        preemptions: exec.preemptions,
        effects: exec.effects,
        wakes: exec.wakes,
        abandoned: exec.abandoned,
    }
}
