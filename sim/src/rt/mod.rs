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

//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the execution's state ([`Exec`]), the driver loop ([`run_execution`]), teardown |
//! | `step.rs` | what a step is: [`Op`], [`WaitOutcome`], [`Step`] |
//! | `object.rs` | objects: their identity in an execution ([`ObjCell`]), labels, records |
//! | `ops.rs` | the scheduling points a task reaches: atomics and cells, futex, clock, sleep, spawn, join, choices, operations |
//! | `decide.rs` | the decision at each scheduling point: the options (with fair yields), the strategy's pick, the record of each step and what it touched |
//! | `tail.rs` | late kills: where a kill leaves the state a kill at an earlier point of the execution left |

mod decide;
mod object;
mod ops;
mod step;
mod tail;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::footprint::{every_member, process_bit, task_bit, Footprint, KEEPS_VALUE, WATCHING};
use crate::operation::Caller;
use crate::report::{Blocked, FailureKind, Site};
use crate::schedule::Choice;
use crate::stack::{self, TaskEnd, Trap};
use crate::strategy::{Disabled, Pick, PickContext, Strategy};

/// A source location, from `#[track_caller]`.
pub(crate) type Loc = &'static Location<'static>;

/// A task's body, boxed: it returns its result type-erased.
pub(crate) type Body = Box<dyn FnOnce() -> Box<dyn Any>>;

type TaskCoroutine = Coroutine<(), (), TaskEnd, DefaultStack>;

pub use object::ObjCell;
pub(crate) use object::{object_name, Objects};
use ops::stack_exhausted;
pub(crate) use ops::{
    choose, current_process, current_task, enter_operation, futex_wait, futex_wake, in_cell, join,
    leave_operation, now, plain_step, process_alive, process_count, process_of, process_started,
    processes_started, ready_if, ready_when, rmw_step, sleep, spawn, step, Joined,
};
pub(crate) use step::Record;
pub use step::{Op, Step, WaitOutcome};

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
    /// The task a `Join` waits for; for a `FutexWait`, bit 0 if it has a deadline and
    /// `WATCHING` if it watches deaths.
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
    /// The task's outermost open operation (see `crate::operation`): 1 + its index in the
    /// execution's table of operations; 0: none.
    operation: u32,
    /// The simulated process the task belongs to: 1 for the main task, its spawner's for a
    /// task, a new number for the first task of a process ([`crate::spawn_process`]).
    pub(crate) process: u32,
    /// The task's process was killed (the task is `Finished`, without a result).
    killed: bool,
    /// How many kills the execution had made when the task last began a futex wait: a wait
    /// begun after more returns at once (see `ops::futex_wait`).
    kills_seen: u32,
    /// The task's last futex wait watches deaths (`ops::futex_wait`, `watching`): a kill wakes
    /// it while it sleeps, and its timeout, spurious wake-up and return depend on kills.
    /// Cleared once that wait has returned.
    sleeps_for_the_dead: bool,
    /// At `Granularity::Operation`, inside an operation: the choice whose event the task's
    /// steps belong to. Its next steps are no scheduling points (they join that event) until
    /// the operation ends or the task blocks.
    pub(crate) event: Option<u32>,
    /// The steps of [`TaskRec::event`] so far have only read the clock (a timed operation
    /// computing its deadline): a guard met next begins the event that waits (see
    /// `ops::ready_when`).
    pub(crate) event_reads_clock_only: bool,
    /// At `Granularity::Operation`: the task waits, `Blocked` on the word, until the word's
    /// value passes the guard (`ops::ready_when`); it is an option while it does.
    pub(crate) guard: Option<Guard>,
}

/// What a guarded task waits for: its word's value to pass `ready` (`ops::ready_when`), or a
/// check over several words to hold (`ops::ready_if`).
#[derive(Clone, Copy)]
pub(crate) struct Guard {
    pub(crate) spec: Spec,
    /// Processes ([`process_bit`](crate::footprint::process_bit)s) whose death turns the
    /// guard off, besides the word's writers or holder (see `Exec::guard_off`):
    /// `ready_when_or_dead`, and the processes whose liveness a check looked at.
    pub(crate) watch: u64,
    /// Once the clock reaches it, the guard passes.
    pub(crate) deadline: Option<u64>,
    /// The guard passed when it was last looked at (or was just set): a look that finds it
    /// failing then begins a period in which the task is disabled (`Exec::disabled`).
    pub(crate) passed: bool,
}

/// What a guard looks at.
#[derive(Clone, Copy)]
pub(crate) enum Spec {
    /// One word's value.
    Word {
        /// The word's value. Points into the word the task's `ready_when` call borrows:
        /// valid while the task is suspended in that call, which is while the guard is set.
        value: *const std::sync::atomic::AtomicU32,
        ready: fn(u32, u32) -> bool,
        /// The word's value when the guard began: `ready`'s second argument.
        start: u32,
        /// Where the word names the one process whose death turns the guard off (a lock's
        /// holder, whose token is in the word): that process's token in a value (0: none).
        /// `None`: every process that changed the word counts (see `Exec::guard_off`).
        holder: Option<fn(u32) -> u32>,
    },
    /// A check over several words, evaluated without steps whenever one of the words it
    /// read last changes (`ops::recheck`).
    Check(Check),
}

/// How many values a nondeterministic choice (`choose`) may be among: each is an option of
/// the scheduler, listed at the choice; a choice among more fails the execution
/// ([`FailureKind::InvalidInput`]).
pub(crate) const MAX_VALUES: u32 = 1 << 16;

/// How many objects a check may read: a check that reads more is no guard (the operation
/// then waits as its algorithm does).
pub(crate) const CHECK_READS: usize = 16;

/// A check's closure and what its last evaluation found.
#[derive(Clone, Copy)]
pub(crate) struct Check {
    /// Points at the closure the task's `ready_if` call borrows: valid while the task is
    /// suspended in that call, which is while the guard is set.
    pub(crate) ready: *const (dyn Fn() -> bool + 'static),
    /// What the closure returned when it was last evaluated.
    pub(crate) holds: bool,
    /// The objects it read then (`reads[..n]`), in the order it read them.
    pub(crate) reads: [u32; CHECK_READS],
    pub(crate) n: u8,
    /// The object whose write last changed what the check returns (0: none yet): the write
    /// that disabled the task, for the reduction (`Exec::disabled`).
    pub(crate) changed_by: u32,
}

impl Check {
    /// The objects the check read when it was last evaluated.
    pub(crate) fn reads(&self) -> &[u32] {
        &self.reads[..self.n as usize]
    }
}

impl Guard {
    /// Whether the word's value (or the check) passes the guard now, or the deadline passed
    /// (the clock is at `clock`), or the guard is `off` (a process that wrote the word was
    /// killed: see [`Exec::guard_off`]).
    pub(crate) fn passes(&self, clock: u64, off: bool) -> bool {
        if off || self.deadline.is_some_and(|d| d <= clock) {
            return true;
        }
        match self.spec {
            Spec::Word {
                value,
                ready,
                start,
                ..
            } => {
                // SAFETY: see `Spec::Word::value`: the guard is set only while the task that
                // set it is suspended inside `ready_when`, whose `&AtomicU32` keeps the word
                // alive.
                let value = unsafe { &*value }.load(std::sync::atomic::Ordering::Relaxed);
                ready(value, start)
            }
            Spec::Check(check) => check.holds,
        }
    }

    /// The objects the guard reads (its word, or what its check read last).
    pub(crate) fn objects(&self, obj: u32) -> impl Iterator<Item = u32> + '_ {
        let reads: &[u32] = match &self.spec {
            Spec::Word { .. } => &[],
            Spec::Check(check) => check.reads(),
        };
        std::iter::once(obj)
            .filter(move |_| reads.is_empty())
            .chain(reads.iter().copied())
    }
}

impl TaskRec {
    /// A task of process `process` about to take its first step, spawned at `loc`.
    fn new(loc: Loc, process: u32) -> Self {
        TaskRec {
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
            operation: 0,
            process,
            killed: false,
            kills_seen: 0,
            sleeps_for_the_dead: false,
            event: None,
            event_reads_clock_only: false,
            guard: None,
        }
    }
}

/// Settings that shape an execution (not the strategy).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) max_steps: usize,
    pub(crate) spurious_wakeups: u32,
    pub(crate) timeouts_race: bool,
    pub(crate) stack_size: usize,
    /// How many simulated processes an execution may kill (`Config::kills`).
    pub(crate) kills: u32,
    /// Where the exploration was started: the main task's "start" in traces.
    pub(crate) entry: Loc,
    /// What one step is: at `Granularity::Operation` a primitive's operation runs as one step
    /// up to where it blocks (see [`TaskRec::event`]).
    pub(crate) granularity: crate::Granularity,
}

/// What is left of an execution once it is over.
pub(crate) struct Ran {
    pub(crate) schedule: Vec<Choice>,
    /// For each choice, the task that could have gone on (see `PickContext::current`).
    pub(crate) currents: Vec<Option<u32>>,
    pub(crate) trace: Vec<Record>,
    /// The operations the steps were taken in (see [`Record::caller`]).
    pub(crate) callers: Vec<Caller>,
    pub(crate) labels: Vec<Option<&'static str>>,
    /// For each task, its simulated process: recorded for a failed execution only (empty for
    /// one that passed, which nobody shows).
    pub(crate) processes: Vec<u32>,
    pub(crate) failure: Option<(FailureKind, String)>,
    pub(crate) blocked: Vec<Blocked>,
    pub(crate) preemptions: u32,
    /// For each choice, what the event it let happen touched.
    pub(crate) effects: Vec<Footprint>,
    /// (choice, task): the event of that choice woke that task.
    pub(crate) wakes: Vec<(u32, u32)>,
    /// Tasks seen disabled by a guard that fails (see
    /// [`Execution::disabled`](crate::strategy::Execution)).
    pub(crate) disabled: Vec<Disabled>,
    /// (choice, write, disabler): the event of that choice passed a guard at its start that
    /// only the write let pass (see [`Execution::enablings`](crate::strategy::Execution)).
    pub(crate) enablings: Vec<(u32, u32, u32)>,
    /// The strategy stopped the execution early (it was redundant).
    pub(crate) abandoned: bool,
}

impl Ran {
    /// The steps as traces and observers see them.
    pub(crate) fn steps(&self) -> Vec<Step> {
        self.trace.iter().map(|r| r.step(&self.callers)).collect()
    }

    /// `true` if the two executions took the same steps.
    pub(crate) fn same_trace(&self, other: &Ran) -> bool {
        self.trace == other.trace && self.callers == other.callers
    }
}

pub(crate) struct Exec {
    serial: u32,
    pub(crate) tasks: Vec<TaskRec>,
    current: u32,
    next: u32,
    pub(crate) clock: u64,
    pub(crate) objects: Objects,
    schedule: Vec<Choice>,
    currents: Vec<Option<u32>>,
    trace: Vec<Record>,
    /// Every operation opened in this execution, in order (steps refer to them by index).
    callers: Vec<Caller>,
    settings: Settings,
    spurious_left: u32,
    /// How many more processes this execution may kill.
    kills_left: u32,
    /// The processes killed so far.
    dead: Vec<u32>,
    /// (process, the process that started it), in the order they were started.
    started: Vec<(u32, u32)>,
    preemptions: u32,
    strategy: *mut dyn Strategy,
    failure: Option<(FailureKind, String)>,
    blocked: Vec<Blocked>,
    /// Per task: the choice that released its next step, until that step is recorded.
    release: Vec<Option<u32>>,
    effects: Vec<Footprint>,
    /// (choice, task): the event of that choice woke that task from a futex wait.
    wakes: Vec<(u32, u32)>,
    /// See [`Ran::disabled`].
    disabled: Vec<Disabled>,
    /// See [`Ran::enablings`].
    enablings: Vec<(u32, u32, u32)>,
    /// How many tasks wait for a guard's check (`ops::ready_if`): while any does, a write
    /// evaluates again the checks that read its word.
    checks: u32,
    wants_footprints: bool,
    /// See [`crate::strategy::Strategy::footprints_from`].
    footprints_from: usize,
    /// See [`crate::strategy::Strategy::wants_current_touches`].
    wants_current_touches: bool,
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
    /// The last steps, all of one process (see `tail.rs`; only where kills are configured).
    tail: tail::Tail,
    /// For the futex wake being recorded: the processes of the tasks asleep on its queue as
    /// it began, and whether one of them watches deaths (see `Exec::sleepers`).
    wake_sleepers: (u64, bool),
}

thread_local! {
    static EXEC: RefCell<Option<Box<Exec>>> = const { RefCell::new(None) };
    /// True while this thread runs an execution: the panic hook stays quiet then.
    pub(crate) static IN_SIM: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic in a task happened (the hook records it).
    pub(crate) static PANIC_LOCATION: Cell<Option<(&'static str, u32)>> = const { Cell::new(None) };
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The serial number of the execution running on this thread, outside its teardown (0:
    /// none; serials start at 1).
    static RUNNING: Cell<u32> = const { Cell::new(0) };
}

/// Buffers of finished executions, reused by the next one (an exploration runs hundreds of
/// thousands of executions; allocating them afresh each time is a measurable cost).
#[derive(Default)]
struct Spare {
    tasks: Vec<TaskRec>,
    objects: Objects,
    schedule: Vec<Choice>,
    currents: Vec<Option<u32>>,
    trace: Vec<Record>,
    callers: Vec<Caller>,
    release: Vec<Option<u32>>,
    effects: Vec<Footprint>,
    wakes: Vec<(u32, u32)>,
    options: Vec<Choice>,
    footprints: Vec<Footprint>,
    labels: Vec<Option<&'static str>>,
    disabled: Vec<Disabled>,
    enablings: Vec<(u32, u32, u32)>,
    coroutines: Vec<Option<(TaskCoroutine, Trap)>>,
    new_tasks: Vec<(u32, Body)>,
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
        s.callers = take(outcome.callers);
        s.effects = take(outcome.effects);
        s.wakes = take(outcome.wakes);
        s.labels = take(outcome.labels);
        s.disabled = take(outcome.disabled);
        s.enablings = take(outcome.enablings);
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

/// Runs `f` on the current execution while it is being torn down (its suspended tasks
/// unwound, outside the schedule); `None` otherwise.
fn with_teardown<R>(f: impl FnOnce(&mut Exec) -> R) -> Option<R> {
    EXEC.with(|e| match e.borrow_mut().as_mut() {
        Some(exec) if exec.teardown => Some(f(exec)),
        _ => None,
    })
}

/// `true` if an execution runs on this thread, in its teardown too: no other can begin here.
pub(crate) fn execution_installed() -> bool {
    EXEC.with(|e| e.borrow().is_some())
}

/// `true` if the calling code runs inside an execution (and not in its teardown).
pub fn in_execution() -> bool {
    with_exec(|_| ()).is_some()
}

/// `true` if the calling code runs inside an execution at
/// [`Granularity::Operation`](crate::Granularity::Operation): each operation
/// ([`operation`](crate::operation)) is one event, and events that touch different words
/// commute.
pub fn operations_are_events() -> bool {
    with_exec(|e| e.settings.granularity == crate::Granularity::Operation).unwrap_or(false)
}

/// What the deciding task does next.
enum Next {
    /// Keep running: it was chosen.
    Continue,
    /// Suspend: another task runs, or the execution is over.
    Suspend,
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
                e.last_of_its_process(t);
                let task = &mut e.tasks[t as usize];
                task.result = Some(value);
                task.state = State::Finished;
                if t == 0 {
                    // The main task's end ends the program and stops every task still
                    // running, as a process's exit stops its threads: its last event depends
                    // on every event of theirs, and the reduction tries theirs before it too
                    // (`Dfs::analyze`).
                    if e.wants_footprints && e.tasks.iter().any(|t| t.state != State::Finished) {
                        if let Some(d) = e.schedule.len().checked_sub(1) {
                            e.effects[d].wide = true;
                        }
                    }
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

/// The tasks whose destructors cannot finish during a teardown (`stuck`: each with where it
/// waits forever, for what a task that will never run again holds; or `None`, at the end of
/// its stack). Their stacks are abandoned halfway through their unwinding: the values left on
/// them are leaked, and so is each stack (something may still point into it); and the
/// execution fails, saying so (it hung, or crashed, before). The unwinding under way is never
/// finished, so this thread stays marked as panicking (`std::thread::panicking`): the failure
/// ends the exploration.
#[cold]
fn abandon_stuck(
    coroutines: &mut [Option<(TaskCoroutine, Trap)>],
    stuck: &[(usize, Option<ops::StuckAt>)],
) {
    for &(t, at) in stuck {
        if let Some((co, _)) = coroutines[t].take() {
            std::mem::forget(co);
        }
        let Some((caller, loc)) = at else {
            overflowed_in_teardown(t);
            continue;
        };
        let place = match caller {
            Some(c) => format!(
                "in {}::{} at {}:{}",
                c.primitive,
                c.operation,
                c.loc.file(),
                c.loc.line()
            ),
            None => format!("at {}:{}", loc.file(), loc.line()),
        };
        fail_in_teardown(
            FailureKind::Deadlock,
            format!(
                "the destructors of task {t} wait forever {place}, for what a task that will \
                 never run again holds"
            ),
        );
    }
}

/// Task `t` overflowed its stack in its destructors during a teardown.
#[cold]
fn overflowed_in_teardown(t: usize) {
    fail_in_teardown(
        FailureKind::StackOverflow,
        format!("the destructors of task {t} overflowed its stack"),
    );
}

/// A failure found during a teardown: the execution's, or a note added to the failure it has.
fn fail_in_teardown(kind: FailureKind, what: String) {
    let note = format!(
        "when the execution ended, the destructors of its suspended tasks ran (a task left \
         blocked, killed, or cut short by the search is unwound then, outside the schedule), \
         and {what}"
    );
    EXEC.with(|e| {
        if let Some(exec) = e.borrow_mut().as_mut() {
            match &mut exec.failure {
                Some((_, message)) => {
                    message.push_str("\n(then, ");
                    message.push_str(&note);
                    message.push(')');
                }
                None => exec.failure = Some((kind, note)),
            }
        }
    });
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
    spare.objects.start(serial);
    spare.release.clear();
    spare.release.push(None);
    spare.tasks.push(TaskRec::new(here, 1));
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
        callers: spare.callers,
        settings: settings.clone(),
        spurious_left: settings.spurious_wakeups,
        kills_left: settings.kills,
        dead: Vec::new(),
        started: Vec::new(),
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
        disabled: spare.disabled,
        enablings: spare.enablings,
        checks: 0,
        wants_footprints: strategy.wants_footprints(),
        footprints_from: strategy.footprints_from(),
        wants_current_touches: strategy.wants_current_touches(),
        footprints: spare.footprints,
        abandoned: false,
        over: false,
        teardown: false,
        new_tasks: Vec::new(),
        options: spare.options,
        yielders: 0,
        overflowed: None,
        tail: tail::Tail::default(),
        wake_sleepers: (0, false),
    });
    EXEC.with(|e| *e.borrow_mut() = Some(exec));
    IN_SIM.with(|s| s.set(true));
    RUNNING.with(|r| r.set(serial));

    // The coroutines live here, outside the thread-local, so that a running task can borrow
    // the execution state; tasks spawned meanwhile wait in `new_tasks`.
    let mut coroutines = spare.coroutines;
    let mut next = 0u32;
    let mut new_tasks = spare.new_tasks;
    new_tasks.push((0, main));
    loop {
        for (t, body) in new_tasks.drain(..) {
            let t = t as usize;
            if coroutines.len() <= t {
                coroutines.resize_with(t + 1, || None);
            }
            coroutines[t] = Some(make_coroutine(t as u32, body, settings.stack_size));
        }
        let slot = &mut coroutines[next as usize];
        let (co, trap) = slot.as_mut().expect("the chosen task has a coroutine");
        stack::running(Some(*trap));
        let result = co.resume(());
        stack::running(None);
        if let CoroutineResult::Return(end) = result {
            let (co, _) = slot.take().expect("the task's coroutine");
            stack::give_back(settings.stack_size, co.into_stack());
            if end == TaskEnd::Overflow {
                with_exec(|e| e.stack_overflow(next));
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
    // That includes the tasks of killed processes: a killed task never ran again in its
    // execution, and its destructors run only now, when nothing they do can be seen (so
    // nothing it owned leaks from one execution to the next). Newest first, as nested scopes
    // unwind: a task's destructors may wait for the tasks it started (a scope joins its
    // threads) — never the other way round. A destructor that would sleep in a wait without a
    // deadline suspends its task (`ops::wait_unscheduled`): the others are unwound first,
    // and it is resumed to look again while unwinding them changed something.
    RUNNING.with(|r| r.set(0));
    Objects::stop_numbering();
    let (overflowed, callers) = with_exec(|e| {
        e.teardown = true;
        (e.overflowed, e.callers.len())
    })
    .unwrap_or_default();
    let mut left: Vec<usize> = (0..coroutines.len())
        .rev()
        .filter(|&t| coroutines[t].is_some())
        .collect();
    // (Nothing to allocate in an execution that ran every task to its end.)
    let mut unwinding = vec![false; if left.is_empty() { 0 } else { coroutines.len() }];
    let mut stuck: Vec<(usize, Option<ops::StuckAt>)> = Vec::new();
    while !left.is_empty() {
        let changes = ops::UNSCHEDULED_CHANGES.with(Cell::get);
        let before = left.len();
        stuck.clear();
        for &t in &left {
            let Some((mut co, trap)) = coroutines[t].take() else {
                continue;
            };
            if overflowed == Some(t as u32) {
                // SAFETY: the task stopped at the end of its stack, where unwinding it could
                // fault again; its stack is abandoned instead: the values on it are leaked
                // (never dropped, never used again). Nothing else points into that stack: the
                // runtime's pointer to its yielder dies with this execution.
                unsafe { co.force_reset() };
            } else if !co.started() {
                // Never ran: only its closure to drop.
                co.force_unwind();
            } else {
                with_teardown(|e| e.current = t as u32);
                ops::UNWIND.with(|u| u.set(!std::mem::replace(&mut unwinding[t], true)));
                stack::running(Some(trap));
                let result = co.resume(());
                stack::running(None);
                match result {
                    CoroutineResult::Yield(()) => {
                        // Suspended by a wait that would sleep (`STUCK_AT`), or at the end of
                        // its stack (`ops::stack_exhausted`: none).
                        let at = ops::STUCK_AT.with(Cell::take);
                        coroutines[t] = Some((co, trap));
                        stuck.push((t, at));
                        continue;
                    }
                    CoroutineResult::Return(TaskEnd::Overflow) => {
                        // Its guard page: the trap ended it halfway through its unwinding.
                        std::mem::forget(co);
                        overflowed_in_teardown(t);
                        continue;
                    }
                    CoroutineResult::Return(TaskEnd::Done) => {}
                }
            }
            stack::give_back(settings.stack_size, co.into_stack());
        }
        left.clear();
        left.extend(stuck.iter().map(|&(t, _)| t));
        let moved = ops::UNSCHEDULED_CHANGES.with(Cell::get) != changes;
        if left.len() == before && !moved {
            break;
        }
    }
    if !stuck.is_empty() {
        abandon_stuck(&mut coroutines, &stuck);
    }
    // The operations the destructors opened are no part of the execution's record.
    with_teardown(|e| e.callers.truncate(callers));
    IN_SIM.with(|s| s.set(false));
    let mut exec = EXEC
        .with(|e| e.borrow_mut().take())
        .expect("the execution is still installed");
    let processes = match exec.failure {
        Some(_) => exec.tasks.iter().map(|t| t.process).collect(),
        None => Vec::new(),
    };
    SPARE.with(|s| {
        let s = &mut *s.borrow_mut();
        s.tasks = std::mem::take(&mut exec.tasks);
        s.objects = std::mem::take(&mut exec.objects);
        s.release = std::mem::take(&mut exec.release);
        s.options = std::mem::take(&mut exec.options);
        s.footprints = std::mem::take(&mut exec.footprints);
        coroutines.clear();
        s.coroutines = coroutines;
        new_tasks.clear();
        s.new_tasks = new_tasks;
        s.labels.clear();
        s.labels.extend(s.objects.labels());
    });
    Ran {
        schedule: exec.schedule,
        currents: exec.currents,
        trace: exec.trace,
        callers: exec.callers,
        labels: SPARE.with(|s| std::mem::take(&mut s.borrow_mut().labels)),
        processes,
        failure: exec.failure,
        blocked: exec.blocked,
        preemptions: exec.preemptions,
        effects: exec.effects,
        wakes: exec.wakes,
        disabled: exec.disabled,
        enablings: exec.enablings,
        abandoned: exec.abandoned,
    }
}
