//! The scheduling points a task reaches: each announces its step, waits to be scheduled,
//! performs it and records it — atomics and cells ([`step`]), futex wait and wake, the clock,
//! sleep, spawn, join, data choices — and the marks that are not steps (operations), and the
//! end of the stack.

use super::*;
use crate::footprint::Held;

/// Opens `caller` as the running task's operation unless one is open already; `true` if it
/// did (the caller then closes it with [`leave_operation`]). Not a step.
pub(crate) fn enter_operation(caller: Caller) -> bool {
    let enter = |e: &mut Exec| {
        if e.tasks[e.current as usize].operation != 0 {
            return false;
        }
        // The object as traces show it, as a step's (`Step::obj`).
        let shown = e.objects.shown(caller.object);
        e.callers.push(Caller {
            object: shown,
            ..caller
        });
        e.tasks[e.current as usize].operation = e.callers.len() as u32;
        true
    };
    // During a teardown too: a destructor that waits forever is reported by its operation.
    with_exec(enter)
        .or_else(|| with_teardown(enter))
        .unwrap_or(false)
}

/// Closes the running task's operation (and its event, at `Granularity::Operation`).
pub(crate) fn leave_operation() {
    let leave = |e: &mut Exec| {
        let task = &mut e.tasks[e.current as usize];
        task.operation = 0;
        task.event = None;
    };
    if with_exec(leave).is_none() {
        with_teardown(leave);
    }
}

/// The running task reached the end of its stack (less than [`stack::MARGIN`] left): the
/// execution fails there, and the task never runs again (its coroutine is abandoned).
#[cold]
#[inline(never)]
pub(super) fn stack_exhausted() -> ! {
    stack::disarm();
    with_exec(|e| e.stack_overflow(e.current));
    loop {
        suspend();
    }
}

/// Suspends the running task to the driver loop. Resumed by the teardown to be unwound (see
/// [`UNWIND`]), it unwinds from here.
fn suspend() {
    let yielder = EXEC.with(|e| {
        let e = e.borrow();
        let exec = e.as_ref().expect("suspend inside an execution");
        exec.tasks[exec.current as usize].yielder
    });
    // SAFETY: the pointer was stored by this task's coroutine body from the `&Yielder` it was
    // given, and that body is still running (we are inside it), so the yielder is alive.
    unsafe { (*yielder).suspend(()) }
    if UNWIND.with(|u| u.replace(false)) {
        std::panic::resume_unwind(Box::new(TornDown));
    }
}

thread_local! {
    /// Set by the teardown (`run_execution`) as it resumes a suspended task to unwind it: the
    /// task's return from [`suspend`] unwinds its stack, running its destructors.
    pub(super) static UNWIND: Cell<bool> = const { Cell::new(false) };
    /// How many writes outside the schedule changed a value (during a teardown, what the
    /// destructors did): how the teardown tells that unwinding a task may have freed what
    /// another's destructor waits for.
    pub(super) static UNSCHEDULED_CHANGES: Cell<u64> = const { Cell::new(0) };
    /// Where the last wait that would sleep during a teardown was (see [`wait_unscheduled`]):
    /// the operation the user's code called, or else the wait itself.
    pub(super) static STUCK_AT: Cell<Option<StuckAt>> = const { Cell::new(None) };
}

/// Where a wait during a teardown would sleep for good: the operation the user's code called
/// (if any), and the wait itself.
pub(super) type StuckAt = (Option<Caller>, Loc);

/// The payload of the unwinding that tears a suspended task down (never a failure).
pub(super) struct TornDown;

/// A futex wait whose value matches, outside the schedule: it would sleep, but nothing
/// scheduled will ever wake it.
/// - During a teardown (a destructor of a task being unwound): a wait with a deadline lets
///   that time pass (the clock moves to the deadline) and times out; one without suspends its
///   task to the teardown, which unwinds the other tasks first (their destructors may release
///   what it waits for) and then resumes it, to return as a spurious wake-up.
/// - Outside an execution: nothing could ever wake it, which a panic says.
#[cold]
fn wait_unscheduled(deadline: Option<u64>, loc: Loc) -> WaitOutcome {
    let untimed = with_teardown(|e| match deadline {
        Some(d) => {
            e.clock = e.clock.max(d);
            None
        }
        None => Some(e.caller(e.tasks[e.current as usize].operation)),
    });
    match untimed {
        Some(Some(caller)) => {
            STUCK_AT.with(|s| s.set(Some((caller, loc))));
            suspend();
            WaitOutcome::TimedOut
        }
        Some(None) => WaitOutcome::TimedOut,
        None => panic!(
            "mpcheck-sim: a wait at {loc} would sleep forever: it runs outside an execution, \
             where nothing can wake it (`Sim` primitives run under `sim::check`, `sim::explore` \
             and `sim::replay`)"
        ),
    }
}

/// A scheduling point: task announces `op` on `obj`; returns when it may perform it.
/// Returns `None` (perform directly, no record) outside an execution or during teardown.
#[inline]
fn announce(op: Op, obj: Option<&ObjCell>, arg: u32, loc: Loc) -> Option<u32> {
    if PEEKING.with(Cell::get) {
        peek_misuse(op);
    }
    announce_step(op, obj, arg, loc)
}

/// A check (see [`peek`]) took a step other than a read: a bug of the primitive that made it.
#[cold]
#[inline(never)]
fn peek_misuse(op: Op) -> ! {
    panic!("a `ready_if` check took a step ({op:?}): a check may only read atomics and liveness")
}

/// [`announce`], for a caller that has looked at [`PEEKING`] already.
#[inline]
fn announce_step(op: Op, obj: Option<&ObjCell>, arg: u32, loc: Loc) -> Option<u32> {
    let (id, next) = with_exec(|e| {
        let id = obj.map_or(0, |o| o.id(e));
        let cur = e.current;
        let task = &mut e.tasks[cur as usize];
        task.pending = Pending {
            op,
            obj: id,
            arg,
            loc,
        };
        // Inside an operation's event (`Granularity::Operation`), a step is no scheduling
        // point, except those that wait for another task (a join) or say they do (a yield),
        // those that carry an edge of their own (a spawn), and a step past the step bound
        // (which `decide` reports).
        if task.event.is_some()
            && !matches!(op, Op::Join | Op::Yield | Op::Spawn)
            && e.trace.len() < e.settings.max_steps
        {
            return (id, Next::Continue);
        }
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
    step_with(op, obj, 0, loc, perform)
}

/// As [`step`], for a read-modify-write; `keeps_value` when its operand leaves every value as
/// it is (`fetch_add(0)`, `fetch_sub(0)`, `fetch_or(0)`, `fetch_and(!0)`): a read of the word
/// for the reduction ([`KEEPS_VALUE`]).
pub(crate) fn rmw_step<R>(
    op: Op,
    obj: &ObjCell,
    keeps_value: bool,
    loc: Loc,
    perform: impl FnOnce() -> (Option<u64>, Option<u64>, R),
) -> R {
    let arg = if keeps_value { KEEPS_VALUE } else { 0 };
    step_with(op, obj, arg, loc, perform)
}

fn step_with<R>(
    op: Op,
    obj: &ObjCell,
    arg: u32,
    loc: Loc,
    perform: impl FnOnce() -> (Option<u64>, Option<u64>, R),
) -> R {
    if PEEKING.with(Cell::get) {
        return peek_step(obj, perform);
    }
    match announce_step(op, Some(obj), arg, loc) {
        None => {
            let (read, wrote, result) = perform();
            if wrote.is_some_and(|w| read != Some(w)) {
                UNSCHEDULED_CHANGES.with(|c| c.set(c.get() + 1));
            }
            result
        }
        Some(id) => {
            let (read, wrote, result) = perform();
            let changed = with_exec(|e| {
                e.record(op, id, read, wrote, loc);
                e.checks > 0 && wrote.is_some_and(|w| read != Some(w))
            });
            if changed == Some(true) {
                recheck(id);
            }
            result
        }
    }
}

thread_local! {
    /// Set while a guard's check runs without steps (see [`peek`]).
    static PEEKING: Cell<bool> = const { Cell::new(false) };
    /// What the running check read: objects, and the liveness of processes.
    static PEEKED: RefCell<(Vec<u32>, u64)> = const { RefCell::new((Vec::new(), 0)) };
}

/// A step of a check that runs without steps: performed at once, its object noted.
#[cold]
fn peek_step<R>(obj: &ObjCell, perform: impl FnOnce() -> (Option<u64>, Option<u64>, R)) -> R {
    let id = with_exec(|e| obj.id(e)).unwrap_or(0);
    let (read, wrote, result) = perform();
    assert!(
        wrote.is_none_or(|w| read == Some(w)),
        "a `ready_if` check changed a word: a check may only read"
    );
    PEEKED.with(|p| {
        let reads = &mut p.borrow_mut().0;
        if id != 0 && !reads.contains(&id) {
            reads.push(id);
        }
    });
    result
}

/// What a check found: whether it holds, the objects it read (at most [`CHECK_READS`]; `None`
/// if it read more) and the processes whose liveness it looked at.
type Peek = (bool, Option<([u32; CHECK_READS], u8)>, u64);

/// Runs `check` as task `t` (whose process it may ask for), without steps: every atomic it
/// reads is read as it is, and noted; a look at a process's liveness too.
fn peek(check: &dyn Fn() -> bool, t: u32) -> Peek {
    struct Restore(Option<u32>);
    impl Drop for Restore {
        fn drop(&mut self) {
            PEEKING.with(|p| p.set(false));
            if let Some(current) = self.0 {
                with_exec(|e| e.current = current);
            }
        }
    }
    PEEKED.with(|p| {
        let mut p = p.borrow_mut();
        p.0.clear();
        p.1 = 0;
    });
    let _restore = Restore(with_exec(|e| std::mem::replace(&mut e.current, t)));
    PEEKING.with(|p| p.set(true));
    let holds = check();
    drop(_restore);
    PEEKED.with(|p| {
        let p = p.borrow();
        let mut reads = [0; CHECK_READS];
        let found = (p.0.len() <= CHECK_READS).then(|| {
            reads[..p.0.len()].copy_from_slice(&p.0);
            (reads, p.0.len() as u8)
        });
        (holds, found, p.1)
    })
}

/// Object `id` changed: every check that read it is evaluated again (without steps), so that
/// whether its task may go on is known at the next decision.
#[cold]
fn recheck(id: u32) {
    let tasks = with_exec(|e| e.tasks.len()).unwrap_or(0);
    for t in 0..tasks {
        let check = with_exec(|e| match e.tasks[t].guard {
            Some(Guard {
                spec: Spec::Check(check),
                ..
            }) if check.reads().contains(&id) => Some(check.ready),
            _ => None,
        })
        .flatten();
        let Some(ready) = check else { continue };
        // SAFETY: see `Check::ready`: the guard is set, so its task is suspended inside
        // `ready_if`, whose borrow keeps the closure alive.
        let (holds, found, lives) = peek(unsafe { &*ready }, t as u32);
        with_exec(|e| {
            let Some(guard) = e.tasks[t].guard.as_mut() else {
                return;
            };
            let Spec::Check(check) = &mut guard.spec else {
                return;
            };
            // A check that reads too much now passes: the operation then checks for itself.
            let holds = holds || found.is_none();
            let still_fails = !check.holds && !holds;
            if check.holds != holds {
                check.changed_by = id;
            }
            check.holds = holds;
            if let Some((reads, n)) = found {
                (check.reads, check.n) = (reads, n);
            }
            guard.watch = lives;
            // It fails again, maybe for another reason: a word it did not read before, or
            // another value, may be what keeps the task waiting now.
            if still_fails && e.wants_footprints {
                let check = *check;
                e.check_disabled(t as u32, &check, 0);
            }
        });
    }
}

/// At `Granularity::Operation`, inside an operation: the rest of the operation can only go on
/// once `check` holds, or `deadline` passes. As [`ready_when`], for a specification that reads
/// several words: `check` runs without steps (see [`peek`]), now and again whenever a word it
/// read last changes, and the task is not scheduled while it fails. What it read is the
/// event's. A check that reads more than [`CHECK_READS`] objects is no guard. Elsewhere it
/// returns at once, no step.
pub(crate) fn ready_if(check: &dyn Fn() -> bool, deadline: Option<u64>, loc: Loc) {
    let deadline = deadline.filter(|&d| d != NEVER);
    let Some((cur, event)) = with_exec(|e| {
        let task = &e.tasks[e.current as usize];
        // As in `ready_when`: an event that only read the clock so far ends at the check.
        (e.settings.granularity == crate::Granularity::Operation && task.operation != 0).then_some(
            (
                e.current,
                task.event.filter(|_| !task.event_reads_clock_only),
            ),
        )
    })
    .flatten() else {
        return;
    };
    let (holds, found, lives) = peek(check, cur);
    let Some((reads, n)) = found.filter(|&(_, n)| n > 0) else {
        return;
    };
    // SAFETY: only the lifetime is erased; the guard that keeps the pointer lives only while
    // this call is suspended (it is cleared before the task runs again), so `check` outlives
    // every use.
    let ready: *const (dyn Fn() -> bool + 'static) = unsafe { std::mem::transmute(check) };
    let next = with_exec(|e| {
        if let Some(d) = event {
            // The event read the words: whether it goes on or ends here depends on them.
            if e.wants_footprints {
                for &o in &reads[..n as usize] {
                    e.effects[d as usize].merge(&Footprint::read(o));
                }
                e.effects[d as usize].read_liveness(lives);
            }
            if holds {
                return None;
            }
        }
        let task = &mut e.tasks[cur as usize];
        task.event = None;
        task.state = State::Blocked {
            obj: reads[0],
            deadline,
        };
        task.guard = Some(Guard {
            spec: Spec::Check(Check {
                ready,
                holds,
                reads,
                n,
                changed_by: 0,
            }),
            watch: lives,
            deadline,
            passed: true,
        });
        task.pending = Pending {
            op: Op::Load,
            obj: reads[0],
            arg: 0,
            loc,
        };
        e.checks += 1;
        Some(e.decide(cur))
    })
    .flatten();
    let Some(next) = next else { return };
    if let Next::Suspend = next {
        suspend();
    }
    // What the check reads now is what it read when the task was chosen: nobody ran since.
    let (holds, found, lives) = peek(check, cur);
    with_exec(|e| {
        e.record(Op::Load, reads[0], None, None, loc);
        let Some(d) = e.tasks[e.current as usize]
            .event
            .filter(|_| e.wants_footprints)
        else {
            return;
        };
        e.effects[d as usize].guarded = true;
        let (reads, n) = found.unwrap_or((reads, n));
        let reads = &reads[..n as usize];
        for &o in reads {
            e.effects[d as usize].merge(&Footprint::read(o));
        }
        e.effects[d as usize].read_liveness(lives);
        // Whether the deadline had passed decided whether it could go on: a read of the clock.
        if deadline.is_some() {
            e.effects[d as usize].merge(&Footprint::clock_read());
        }
        // And, unless the check holds, whether a process that changed a word it read had
        // been killed (the guard is off).
        if e.settings.kills > 0 && !holds {
            let processes = e.guard_processes(reads.iter().copied(), lives);
            e.effects[d as usize].read_liveness(processes);
        }
    });
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
        // During a teardown, the clock that its timed waits moved.
        return with_teardown(|e| e.clock).unwrap_or(0);
    }
    with_exec(|e| {
        let clock = e.clock;
        e.record(Op::Now, 0, Some(clock), None, loc);
        clock
    })
    .unwrap_or(0)
}

/// Futex wait on `obj`, whose current value `read` returns. With `watching`, the wait watches
/// deaths: a kill wakes it while it sleeps, and it returns at once if a kill happened since
/// the task's last such wait (see below); without, no death wakes it (as on a real OS).
pub(crate) fn futex_wait(
    obj: &ObjCell,
    read: impl Fn() -> u32,
    expected: u32,
    deadline: Option<u64>,
    watching: bool,
    loc: Loc,
) -> WaitOutcome {
    let deadline = deadline.filter(|&d| d != NEVER);
    let arg = deadline.is_some() as u32 | if watching { WATCHING } else { 0 };
    let Some(id) = announce(Op::FutexWait, Some(obj), arg, loc) else {
        return if read() == expected {
            wait_unscheduled(deadline, loc)
        } else {
            WaitOutcome::Mismatch
        };
    };
    let value = read();
    let blocked = with_exec(|e| {
        // A kill since this task's last wait that watches deaths: the task may have looked at
        // the killed process's liveness before the kill and be about to sleep for it, where
        // the kill's wake-up can no longer reach it; so the wait returns at once, as a
        // spurious wake-up (which the futex contract allows), and the task looks again. (Only
        // a look at a process that was killed would need it, but a process may become one to
        // look at after the look: a barrier's party that joins the round and dies before it
        // notifies.) A wait that does not watch deaths sleeps on: a death wakes nobody.
        let kills = e.dead.len() as u32;
        let cur = e.current as usize;
        let killed_since =
            watching && std::mem::replace(&mut e.tasks[cur].kills_seen, kills) != kills;
        // wrote: None = mismatch, 1 = goes to sleep, 2 = deadline already passed, 3 = a kill
        // since the last wait (returns at once).
        let expired = deadline.is_some_and(|d| d <= e.clock);
        let effect = (value == expected).then_some(if killed_since {
            3
        } else if expired {
            2
        } else {
            1
        });
        e.record(Op::FutexWait, id, Some(value as u64), effect, loc);
        if value != expected {
            return None;
        }
        if killed_since {
            e.tasks[cur].spurious = true;
            return Some(Err(WaitOutcome::Woken));
        }
        if expired {
            return Some(Err(WaitOutcome::TimedOut));
        }
        let cur = e.current;
        e.objects[id].waiters.push(cur);
        let task = &mut e.tasks[cur as usize];
        task.state = State::Blocked { obj: id, deadline };
        task.sleeps_for_the_dead = watching;
        task.pending = Pending {
            op: Op::WaitReturn,
            obj: id,
            arg: 0,
            loc,
        };
        Some(Ok(e.decide(cur)))
    })
    .flatten();
    let outcome = match blocked {
        None => return WaitOutcome::Mismatch,
        // It does not sleep.
        Some(Err(outcome)) => outcome,
        Some(Ok(next)) => {
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
        e.record(Op::WaitReturn, id, None, Some(code), loc);
        e.tasks[e.current as usize].sleeps_for_the_dead = false;
    });
    outcome
}

/// At `Granularity::Operation`, inside an operation: the rest of the operation can only go on
/// once `ready` passes the word's value (`value`, of the word `obj` names) and its value when
/// the guard began, or `deadline` passes. The task is then not scheduled until it can; its next step
/// (a read of the word, recorded here) begins an event, so a blocking operation is one step,
/// taken when it can complete. Called first in an operation it is that scheduling point
/// whether or not the guard passes; later in one, only where the guard fails (the event
/// ends there). A guard whose deadline passed passes, and so does one that is off (a process
/// that changed the word was killed: see `Exec::guard_off`; the operation's algorithm then
/// looks for itself at what the dead left behind). Elsewhere (step granularity, outside an
/// operation) it returns at once, no step. Returns the word's value when the guard began if
/// it was a scheduling point (`None` if not).
///
/// A guard also passes once one of the processes of `watch` (process bits) was killed.
///
/// Where the guard is off makes no difference to where the scheduling points are, so only the
/// wait itself reads the liveness of the word's writers (and of the watched), not the events
/// before it.
pub(crate) fn ready_when(
    obj: &ObjCell,
    value: &std::sync::atomic::AtomicU32,
    ready: fn(u32, u32) -> bool,
    deadline: Option<u64>,
    watch: u64,
    holder: Option<fn(u32) -> u32>,
    loc: Loc,
) -> Option<u32> {
    let deadline = deadline.filter(|&d| d != NEVER);
    let (id, start, arrived, next) = with_exec(|e| {
        let cur = e.current;
        let task = &e.tasks[cur as usize];
        if e.settings.granularity != crate::Granularity::Operation || task.operation == 0 {
            return None;
        }
        // An event that only read the clock so far (a timed operation, for its deadline) ends
        // here as one that begins with the guard would: the wait is an event of its own, which
        // begins where the guard passes.
        let event = task.event.filter(|_| !task.event_reads_clock_only);
        let start = value.load(Relaxed);
        let id = obj.id(e);
        if holder.is_some() && e.wants_footprints && e.settings.kills == 0 {
            e.objects[id].holder = holder;
        }
        if let Some(d) = event {
            // The event read the word: whether it goes on or ends here depends on it.
            if e.wants_footprints {
                e.effects[d as usize].merge(&Footprint::read(id));
            }
            if ready(start, start) {
                return None;
            }
        }
        let task = &mut e.tasks[cur as usize];
        task.event = None;
        // Whether it passes or not, and whatever the clock says (the same steps either way):
        // the task waits here until the guard or its deadline lets it go on.
        task.state = State::Blocked { obj: id, deadline };
        task.guard = Some(Guard {
            spec: Spec::Word {
                value,
                ready,
                start,
                holder,
            },
            deadline,
            watch,
            passed: true,
        });
        task.pending = Pending {
            op: Op::Load,
            obj: id,
            arg: 0,
            loc,
        };
        // The index of the choice that lets it go on (or not): where it arrived.
        let arrived = e.schedule.len() as u32;
        Some((id, start, arrived, e.decide(cur)))
    })
    .flatten()?;
    if let Next::Suspend = next {
        suspend();
    }
    with_exec(|e| {
        let v = value.load(Relaxed);
        e.record(Op::Load, id, Some(v as u64), None, loc);
        let Some(d) = e.tasks[e.current as usize]
            .event
            .filter(|_| e.wants_footprints)
        else {
            return;
        };
        // Whether the deadline had passed decided whether it could go on: a read of the clock.
        // Not with timeouts when idle, for a guard that passed before its deadline: the clock
        // moves only while no task can run, so at no point before this event could the
        // deadline have let the guard pass, and the guard is untimed for this event (its
        // timeout is an event of its own, where every task waits, explored from the wake that
        // ended the wait as any timeout is: see `Dfs::analyze`).
        let timed = deadline.is_some_and(|d| e.settings.timeouts_race || e.clock >= d);
        let effect = &mut e.effects[d as usize];
        effect.guarded = true;
        // An untimed guard on a word that names its holder, passing because it names none
        // (a lock's acquire of a free lock): the event may take it (see `Held`).
        if e.settings.kills == 0
            && deadline.is_none()
            && effect.held == Held::None
            && e.schedule[d as usize] == Choice::Run(e.current)
            && ready(v, start)
            && holder.is_some_and(|h| h(v) == 0)
        {
            effect.held = Held::Guard(id);
        }
        if timed {
            e.effects[d as usize].merge(&Footprint::clock_read());
        } else if e.schedule[d as usize] == Choice::Run(e.current)
            && ready(v, start)
            && !e.guard_off(|| e.word_guard_processes(id, watch, holder, v))
        {
            // The event begins with the guard, which passed because of the word alone: if
            // only the word's last write let it pass, the event could not have happened
            // before that write (see `Execution::enablings`). Only for a task that arrived
            // after that write: one that waited through it judges the value before it by the
            // value it found when it arrived, and is known disabled there anyway.
            if let Some((i, disabler)) = e.objects[id]
                .log
                .enabling(ready, d)
                .filter(|&(i, _)| i < arrived)
            {
                e.enablings.push((d, i, disabler.unwrap_or(u32::MAX)));
            }
        }
        // And, unless the word passes, whether a process that changed it had been killed
        // (the guard is off).
        if e.settings.kills > 0 && !ready(v, start) {
            let processes = e.word_guard_processes(id, watch, holder, v);
            e.effects[d as usize].read_liveness(processes);
        }
    });
    Some(start)
}

/// Futex wake of up to `n` waiters on `obj`; returns how many were woken. When more tasks wait
/// than are woken, which ones is a choice the strategy makes.
pub(crate) fn futex_wake(obj: &ObjCell, n: u32, loc: Loc) -> u32 {
    let Some(id) = announce(Op::FutexWake, Some(obj), 0, loc) else {
        return 0;
    };
    with_exec(|e| {
        // Whom the wake may reach, for the reduction where kills are configured (see
        // `Exec::sleepers`).
        if e.settings.kills > 0 && e.wants_footprints {
            e.wake_sleepers = e.sleepers(id);
        }
        let mut woken = 0;
        while woken < n {
            let waiting = e.objects[id].waiters.len() as u32;
            if waiting == 0 {
                break;
            }
            let index = if waiting > n - woken {
                e.pick_value(waiting)
            } else {
                0
            };
            let t = e.objects[id].waiters[index as usize];
            e.unblock(t, WaitOutcome::Woken);
            let cur = e.current as usize;
            let by = e.release[cur].or(e.tasks[cur].event);
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

/// The end of the virtual clock (`u64::MAX` nanoseconds, about 584 years), as a deadline:
/// never. A wait or sleep that would end there or later never ends, as `sleep(Duration::MAX)`
/// does not on a real machine; were the clock moved to its end, no later deadline would fit
/// and every later timed wait would wait forever.
const NEVER: u64 = u64::MAX;

/// Sleeps `nanos` of virtual time.
pub(crate) fn sleep(nanos: u64, loc: Loc) {
    if announce(Op::Sleep, None, 0, loc).is_none() {
        return;
    }
    let next = with_exec(|e| {
        e.record(Op::Sleep, 0, None, Some(nanos), loc);
        let cur = e.current;
        let task = &mut e.tasks[cur as usize];
        // A sleep that would end at or past the clock's end never ends (see `NEVER`).
        task.state = State::Blocked {
            obj: 0,
            deadline: e.clock.checked_add(nanos).filter(|&d| d != NEVER),
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
pub(crate) fn spawn(body: Body, loc: Loc, new_process: bool) -> u32 {
    announce(Op::Spawn, None, 0, loc).expect("mpcheck-sim: spawn outside an execution");
    with_exec(|e| {
        let t = e.tasks.len() as u32;
        let parent = e.tasks[e.current as usize].process;
        let process = if new_process {
            let p = e.tasks.iter().map(|task| task.process).max().unwrap_or(1) + 1;
            e.started.push((p, parent));
            p
        } else {
            parent
        };
        e.tasks.push(TaskRec::new(loc, process));
        e.new_tasks.push((t, body));
        e.release.push(None);
        e.record(Op::Spawn, 0, None, Some(t as u64), loc);
        t
    })
    .expect("mpcheck-sim: spawn outside an execution")
}

/// How a joined task ended.
pub(crate) enum Joined {
    /// It returned this.
    Returned(Box<dyn Any>),
    /// Its process was killed.
    Killed,
}

/// Waits for task `t` to finish (or its process to be killed) and takes its result; `None`
/// outside the execution.
pub(crate) fn join(t: u32, loc: Loc) -> Option<Joined> {
    announce(Op::Join, None, t, loc)?;
    with_exec(|e| {
        e.record(Op::Join, 0, None, Some(t as u64), loc);
        let task = &mut e.tasks[t as usize];
        match task.result.take() {
            Some(value) => Some(Joined::Returned(value)),
            None if task.killed => Some(Joined::Killed),
            None => None,
        }
    })
    .flatten()
}

thread_local! {
    /// Set while a cell access runs its closure (see [`in_cell`]).
    static IN_CELL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, a cell access's closure, marked as such: a [`process_alive`] inside it is part
/// of the access's step (every cell access is ordered with every kill, see
/// `footprint::EVERY_PROCESS`), not a step of its own.
pub(crate) fn in_cell<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_CELL.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(IN_CELL.with(|c| c.replace(true)));
    f()
}

/// Whether simulated process `p` still runs (was not killed). A step (reading `p`'s liveness)
/// while kills are configured, unless inside a cell access; `true` without a step otherwise.
pub(crate) fn process_alive(p: u32, loc: Loc) -> bool {
    let (kills, alive) = match with_exec(|e| (e.settings.kills, e.alive(p))) {
        Some(found) => found,
        // During a teardown, every other process is as good as dead: none of its tasks will
        // run again, so a destructor takes over a lock one of them holds (as it would a dead
        // holder's) rather than wait for it for ever.
        None => {
            return with_teardown(|e| e.alive(p) && e.tasks[e.current as usize].process == p)
                .unwrap_or(true)
        }
    };
    if PEEKING.with(Cell::get) {
        // A look by a check (see `peek`): part of the guard's reads, no step.
        PEEKED.with(|peeked| peeked.borrow_mut().1 |= crate::footprint::process_bit(p));
        return alive;
    }
    if kills == 0 || IN_CELL.with(|c| c.get()) {
        return alive;
    }
    if announce(Op::Alive, None, p, loc).is_none() {
        return true;
    }
    with_exec(|e| {
        let alive = e.alive(p);
        e.record(Op::Alive, 0, Some(p as u64), Some(alive as u64), loc);
        alive
    })
    .unwrap_or(true)
}

/// The `index`-th process (from 0) that process `parent` started, if it started that many.
pub(crate) fn process_started(parent: u32, index: u32) -> Option<u32> {
    with_exec(|e| {
        e.started
            .iter()
            .filter(|&&(_, by)| by == parent)
            .nth(index as usize)
            .map(|&(p, _)| p)
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

/// The running task's process.
pub(crate) fn current_process() -> Option<u32> {
    with_exec(|e| e.tasks[e.current as usize].process)
}

/// The largest process number so far (processes are numbered from 1 in order).
pub(crate) fn process_count() -> Option<u32> {
    with_exec(|e| e.tasks.iter().map(|task| task.process).max().unwrap_or(1))
}

/// Task `t`'s process.
pub(crate) fn process_of(t: u32) -> Option<u32> {
    with_exec(|e| e.tasks.get(t as usize).map(|task| task.process)).flatten()
}

/// How many processes process `parent` has started.
pub(crate) fn processes_started(parent: u32) -> u32 {
    with_exec(|e| e.started.iter().filter(|&&(_, by)| by == parent).count() as u32).unwrap_or(0)
}
