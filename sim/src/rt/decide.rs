//! The decision at each scheduling point: which events may happen next (tasks that can run —
//! unless a yield holds them back —, timeouts, spurious wake-ups), what the strategy picks, how
//! the picked event happens, and the record of each step with what it touched.

use super::*;

impl Exec {
    pub(super) fn strategy(&mut self) -> &mut dyn Strategy {
        // SAFETY: `strategy` points to the strategy that `run_execution` borrows mutably for the
        // whole execution; this `Exec` lives only within that call, and the strategy is reached
        // only through here, one call at a time.
        unsafe { &mut *self.strategy }
    }

    /// Task `t` ran out of stack.
    pub(super) fn stack_overflow(&mut self, t: u32) {
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

    pub(super) fn fail(&mut self, kind: FailureKind, message: String) {
        if self.failure.is_none() {
            self.failure = Some((kind, message));
        }
    }

    pub(super) fn enabled(&self, t: usize) -> bool {
        let task = &self.tasks[t];
        match task.state {
            State::Runnable => {
                task.pending.op != Op::Join
                    || self.tasks[task.pending.arg as usize].state == State::Finished
            }
            State::Blocked { .. } => self.guard_passes(task),
            State::Finished => false,
        }
    }

    /// `true` if task `t` can take a step now, or its timed wait or sleep can end.
    pub(super) fn can_act(&self, t: usize) -> bool {
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
    pub(super) fn held_back(&self, t: usize) -> bool {
        self.yielders > 0
            && self.tasks[t]
                .behind
                .iter()
                .any(|&u| self.can_act(u as usize))
    }

    /// The tasks other than `t` that can act now.
    pub(super) fn acting_others(&self, t: u32) -> impl Iterator<Item = u32> + '_ {
        (0..self.tasks.len() as u32).filter(move |&u| u != t && self.can_act(u as usize))
    }

    /// Task `t` took a step: no task waits for it any longer, and after a yield, `t` waits for
    /// every other task that can act.
    pub(super) fn yield_bookkeeping(&mut self, t: u32, op: Op) {
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
    pub(super) fn collect_options(&mut self) {
        let mut options = std::mem::take(&mut self.options);
        options.clear();
        let mut timed = false;
        let mut blocked = false;
        let mut held = false;
        for t in 0..self.tasks.len() {
            let task = &self.tasks[t];
            match task.state {
                State::Runnable => {
                    if task.pending.op == Op::Join
                        && self.tasks[task.pending.arg as usize].state != State::Finished
                    {
                        // Not enabled: it joins a task that is still running.
                    } else if self.held_back(t) {
                        held = true;
                    } else {
                        options.push(Choice::Run(t as u32));
                    }
                }
                State::Blocked { obj, deadline } => {
                    timed |= deadline.is_some();
                    let Some(guard) = task.guard else {
                        blocked |= obj != 0;
                        continue;
                    };
                    // A guarded task is an option while its guard passes; a look that finds
                    // it failing after it passed begins a period in which it is disabled, by
                    // the last write of the word (a race the reduction reverses).
                    let passes = self.guard_passes(task);
                    if guard.passed && !passes {
                        match guard.spec {
                            Spec::Check(check) => {
                                self.check_disabled(t as u32, &check, check.changed_by)
                            }
                            Spec::Word { .. } => self.disabled.push(Disabled {
                                at: self.schedule.len() as u32,
                                task: t as u32,
                                obj,
                                cause: true,
                            }),
                        }
                    }
                    if !guard.passed && passes {
                        // The last event ended the wait, as a wake does: where the wait's
                        // timeout was offered before, it is explored too.
                        if let Some(d) = self.schedule.len().checked_sub(1) {
                            self.wakes.push((d as u32, t as u32));
                        }
                    }
                    if passes {
                        if self.held_back(t) {
                            held = true;
                        } else {
                            options.push(Choice::Run(t as u32));
                        }
                    }
                    if let Some(guard) = self.tasks[t].guard.as_mut() {
                        guard.passed = passes;
                    }
                }
                State::Finished => {}
            }
        }
        let any_runnable = !options.is_empty();
        if timed && (self.settings.timeouts_race || !any_runnable) {
            // Racing: any timed wait may time out now. Idle: the earliest deadline fires. (A
            // guard that passes is no wait: its task goes on as it is, as the operation would
            // at step granularity.)
            let waits = |task: &TaskRec| match task.state {
                State::Blocked {
                    deadline: Some(d), ..
                } if !self.guard_passes(task) => Some(d),
                _ => None,
            };
            let earliest = self.tasks.iter().filter_map(waits).min();
            for (t, task) in self.tasks.iter().enumerate() {
                if let Some(d) = waits(task) {
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
                    // A guard is no futex wait: nothing wakes it spuriously.
                    if obj != 0 && task.guard.is_none() {
                        options.push(Choice::Spurious(t as u32));
                    }
                }
            }
        }
        if self.kills_left > 0 && !options.is_empty() {
            // Every process but the first (the program's main process) that still runs a task
            // may be killed; never where nothing else can happen (that is a deadlock).
            let first = options.len();
            for task in &self.tasks {
                if task.process > 1 && task.state != State::Finished {
                    options.push(Choice::Kill(task.process));
                }
            }
            options[first..].sort_unstable();
            let mut k = first;
            for i in first..options.len() {
                if i == first || options[i] != options[k - 1] {
                    options[k] = options[i];
                    k += 1;
                }
            }
            options.truncate(k);
        }
        self.options = options;
    }

    /// Task `t`'s `check` fails (it has just stopped holding, or it failed from its start, or
    /// it was evaluated again and still fails): the last write of `changed_by` (the word whose
    /// write made it stop holding) is what disabled the task, or, for 0, any of the words it
    /// read may be. Every other word it read is context: the operation the task waits to run
    /// reads it too, after its last write (see [`Disabled`]).
    pub(super) fn check_disabled(&mut self, t: u32, check: &Check, changed_by: u32) {
        let at = self.schedule.len() as u32;
        self.disabled
            .extend(check.reads().iter().map(|&obj| Disabled {
                at,
                task: t,
                obj,
                cause: changed_by == 0 || obj == changed_by,
            }));
    }

    /// Whether a guard is off, given the processes whose death turns it off (a guard's
    /// [`Exec::guard_readers`]): one of them was killed. The guard then passes, and the
    /// operation runs its algorithm, which looks for itself at what the dead left behind (a
    /// lock's dead holder is the acquire's business).
    ///
    /// Those processes: where the word names the one process that holds what the guard waits
    /// for (a lock's holder, whose token is in the word: `Spec::Word::holder`), that process
    /// alone; otherwise every process that changed the word's value (a semaphore's unit
    /// holder took its unit from the count; a process that never changed the word holds
    /// nothing the guard waits for). A guard may also watch processes of its own
    /// ([`Guard::watch`]: a process's end word, which its process writes only as it ends,
    /// unless it dies first): it is off once one of them was killed.
    /// `processes` is asked only once a process died (every guard is on before: the
    /// question costs a look at the word and more, at every choice).
    pub(super) fn guard_off(&self, processes: impl FnOnce() -> u64) -> bool {
        !self.dead.is_empty() && processes() & self.dead_mask() != 0
    }

    /// Whether `task`'s guard passes now (see [`Guard::passes`] and [`Exec::guard_off`]);
    /// `false` for a task without one.
    pub(super) fn guard_passes(&self, task: &TaskRec) -> bool {
        match (task.guard, task.state) {
            (Some(g), State::Blocked { obj, .. }) => {
                g.passes(self.clock, self.guard_off(|| self.guard_readers(&g, obj)))
            }
            _ => false,
        }
    }

    /// The processes whose liveness guard `g`, on object `obj`, reads: whose death turns it
    /// off ([`Exec::guard_off`]).
    pub(super) fn guard_readers(&self, g: &Guard, obj: u32) -> u64 {
        match g.spec {
            Spec::Word {
                value,
                holder: Some(holder),
                ..
            } => {
                // SAFETY: as in `Guard::passes`: the word outlives the guard.
                let value = unsafe { &*value }.load(std::sync::atomic::Ordering::Relaxed);
                self.word_guard_processes(obj, g.watch, Some(holder), value)
            }
            _ => self.guard_processes(g.objects(obj), g.watch),
        }
    }

    /// [`Exec::guard_readers`] of a guard on word `obj` whose value is `value`.
    pub(super) fn word_guard_processes(
        &self,
        obj: u32,
        watch: u64,
        holder: Option<fn(u32) -> u32>,
        value: u32,
    ) -> u64 {
        match holder {
            Some(holder) => match holder(value) {
                0 => watch,
                p => watch | process_bit(p),
            },
            None => self.guard_processes([obj], watch),
        }
    }

    /// The processes killed so far ([`process_bit`]s).
    pub(super) fn dead_mask(&self) -> u64 {
        self.dead.iter().fold(0, |m, &p| m | process_bit(p))
    }

    /// The processes whose liveness a guard on the objects `objects` that watches `watch` and
    /// names no holder reads: those that changed a word (where kills are configured), and
    /// those it watches.
    pub(super) fn guard_processes(
        &self,
        objects: impl IntoIterator<Item = u32>,
        watch: u64,
    ) -> u64 {
        objects
            .into_iter()
            .fold(watch, |m, o| m | self.objects[o].writers)
    }

    /// The tasks whose guard fails now (bit `t` for task `t`, up to 62; bit 63 only if every
    /// task from 63 on has one: see [`every_member`]).
    fn guarded_mask(&self) -> u64 {
        every_member(
            self.tasks
                .iter()
                .enumerate()
                .map(|(t, task)| (t as u32, task.guard.is_some() && !self.guard_passes(task))),
        )
    }

    /// The processes among the kills of `options` whose kill here leaves the state a kill of
    /// them at an earlier point of this execution left ([`process_bit`]s, bit 63 only if that
    /// holds for every such process from 63 on: see [`every_member`]; see `tail.rs`).
    fn late_kills(&self, options: &[Choice]) -> u64 {
        every_member(options.iter().filter_map(|&c| match c {
            Choice::Kill(p) => Some((p, self.tail.changes_nothing(p))),
            _ => None,
        }))
    }

    /// The tasks of process `p` that a kill would stop (bit `t` for task `t`, up to 62).
    fn killed_mask(&self, p: u32) -> u64 {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(t, task)| *t < 63 && task.process == p && task.state != State::Finished)
            .fold(0, |m, (t, _)| m | task_bit(t as u32))
    }

    /// The footprint of task `t`'s pending event `c`.
    fn pending_footprint(&self, c: Choice, t: usize) -> Footprint {
        let pending = self.tasks[t].pending;
        let obj = match self.tasks[t].state {
            State::Blocked { obj, .. } => obj,
            _ => pending.obj,
        };
        let mut footprint = Footprint::pending(c, pending.op, obj, pending.arg);
        if c == Choice::Run(t as u32) && pending.op == Op::Yield {
            footprint.yields_to = self.acting_others(t as u32).fold(0, |m, u| m | task_bit(u));
        }
        if self.settings.kills > 0 {
            let sleepers = if pending.op == Op::FutexWake {
                self.sleepers(obj)
            } else {
                (0, false)
            };
            let for_the_dead = self.for_the_dead(c, t, pending.op, pending.arg, sleepers);
            let op = if c == Choice::Run(t as u32) {
                pending.op
            } else {
                Op::WaitReturn
            };
            let task = &self.tasks[t];
            footprint.add_for_kills(op, task.process, self.joined_process(t), for_the_dead);
            footprint.read_liveness(sleepers.0);
            if let Some(guard) = task.guard {
                // A kill of a process that wrote the word, or that the guard watches, turns
                // the guard off.
                footprint.read_liveness(self.guard_readers(&guard, obj));
            }
        }
        if let Some(Guard {
            spec: Spec::Check(check),
            ..
        }) = self.tasks[t].guard
        {
            // The check read these words: whether the task may go on depends on them all.
            for &o in check.reads() {
                footprint.merge(&Footprint::read(o));
            }
        }
        footprint
    }

    /// Whether task `t`'s next event touches anything shared
    /// ([`Footprint::touches_anything`] of its [`Exec::pending_footprint`]), without building
    /// that footprint where kills are not configured: PCT asks at every choice.
    fn pending_touches(&self, t: usize) -> bool {
        if self.settings.kills > 0 {
            return self
                .pending_footprint(Choice::Run(t as u32), t)
                .touches_anything();
        }
        let task = &self.tasks[t];
        let pending = task.pending;
        let obj = match task.state {
            State::Blocked { obj, .. } => obj,
            _ => pending.obj,
        };
        let touches =
            Footprint::pending_touches(Choice::Run(t as u32), pending.op, obj, pending.arg)
                || (pending.op == Op::Yield && self.acting_others(t as u32).next().is_some())
                || matches!(task.guard, Some(Guard { spec: Spec::Check(check), .. })
                if check.reads().iter().any(|&o| o != 0));
        debug_assert_eq!(
            touches,
            self.pending_footprint(Choice::Run(t as u32), t)
                .touches_anything()
        );
        touches
    }

    /// The process of the task that task `t`'s pending join waits for.
    fn joined_process(&self, t: usize) -> Option<u32> {
        let pending = self.tasks[t].pending;
        (pending.op == Op::Join && self.tasks[t].state == State::Runnable)
            .then(|| self.tasks[pending.arg as usize].process)
    }

    /// The sleepers a kill wakes: every task asleep in a futex wait that watches deaths (the
    /// wake a dead process was sent may be lost with it, and such a sleeper may wait for what
    /// the dead was to do: on `Os` it looks again once a liveness poll interval passed). Not
    /// a task asleep in a plain wait: on `Os` no death wakes it (a `Condition` waiter whose
    /// notifier died sleeps for ever). Not a guarded task: its guard is off when a process
    /// that changed its word dies.
    fn woken_by_kill(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.tasks.len() as u32).filter(|&t| {
            let task = &self.tasks[t as usize];
            matches!(task.state, State::Blocked { obj, .. } if obj != 0)
                && task.guard.is_none()
                && task.sleeps_for_the_dead
        })
    }

    /// The tasks asleep on object `obj`'s futex queue: their processes ([`process_bit`]s),
    /// and whether one of them watches deaths. A wake of the queue reads the liveness of
    /// those processes (a kill takes its process's sleepers off the queue) and, if one
    /// watches deaths, every process's ([`EVERY_PROCESS`](crate::footprint::EVERY_PROCESS): a
    /// kill wakes it).
    pub(super) fn sleepers(&self, obj: u32) -> (u64, bool) {
        if obj == 0 {
            return (0, false);
        }
        self.objects[obj]
            .waiters
            .iter()
            .fold((0, false), |(processes, watching), &w| {
                let task = &self.tasks[w as usize];
                (
                    processes | process_bit(task.process),
                    watching | task.sleeps_for_the_dead,
                )
            })
    }

    /// Whether the event of `choice`, task `t`'s step `op` announced with `arg`, depends on
    /// the wake-ups a kill gives (it reads every process's liveness,
    /// [`EVERY_PROCESS`](crate::footprint::EVERY_PROCESS)): a futex wait
    /// that watches deaths (it returns at once after a kill), the timeout or spurious wake-up
    /// of a sleeper in such a wait (a kill wakes it first), a wake of a queue where such a
    /// sleeper sleeps (`sleepers`, as [`Exec::sleepers`] gives them: the kill may have woken
    /// it). With
    /// `Timeouts::WhenIdle`, every timeout and spurious wake-up: it is offered only while no
    /// task can run, and a kill that wakes a sleeper or turns a guard off makes one runnable.
    pub(super) fn for_the_dead(
        &self,
        choice: Choice,
        t: usize,
        op: Op,
        arg: u32,
        sleepers: (u64, bool),
    ) -> bool {
        match choice {
            Choice::Timeout(_) | Choice::Spurious(_) => {
                !self.settings.timeouts_race || self.tasks[t].sleeps_for_the_dead
            }
            _ => match op {
                Op::FutexWait => arg & WATCHING != 0,
                Op::FutexWake => sleepers.1,
                _ => false,
            },
        }
    }

    /// Kills process `p` (the event of choice `decision`): its tasks stop where they are and
    /// never run again (nothing of theirs runs: a lock they hold stays held), and every task
    /// asleep in a futex wait that watches deaths wakes, spuriously, so that it looks again
    /// at what it waits for (the liveness of a lock's holder, say), and the next such wait of
    /// every task it did not wake returns at once (see `ops::futex_wait`). A guard on a word
    /// that `p` changed is off from now on ([`Exec::guard_off`]).
    fn kill(&mut self, p: u32, decision: u32) {
        self.kills_left -= 1;
        self.dead.push(p);
        self.tail.reset();
        for t in 0..self.tasks.len() {
            let task = &self.tasks[t];
            if task.process != p || task.state == State::Finished {
                continue;
            }
            if let State::Blocked { obj, .. } = task.state {
                if obj != 0 {
                    self.objects[obj].waiters.retain(|&w| w != t as u32);
                }
            }
            let task = &mut self.tasks[t];
            if !task.behind.is_empty() {
                task.behind.clear();
                self.yielders -= 1;
            }
            task.state = State::Finished;
            task.killed = true;
            if let Some(Guard {
                spec: Spec::Check(_),
                ..
            }) = task.guard.take()
            {
                self.checks -= 1;
            }
            let (loc, caller) = (task.pending.loc, task.operation);
            self.trace.push(Record {
                task: t as u32,
                op: Op::Kill,
                obj: 0,
                caller,
                read: None,
                wrote: None,
                loc,
                time: self.clock,
                decision: Some(decision),
            });
        }
        let woken: Vec<u32> = self.woken_by_kill().collect();
        let kills = self.dead.len() as u32;
        for t in woken {
            self.unblock(t, WaitOutcome::Woken);
            let task = &mut self.tasks[t as usize];
            task.spurious = true;
            task.woken_by = Some(decision);
            // Woken after the kill, it looks again before it sleeps again: its next wait
            // need not return at once as well.
            task.kills_seen = kills;
            self.wakes.push((decision, t));
        }
    }

    /// Task `t` finishes: if it is the last task of a process that could still be killed, its
    /// last event ends the chance of that kill, and so races with whatever the kill races
    /// with. The search explores a kill before the option that goes on (`Dfs::pick`), so in
    /// that option's subtree the kill sleeps until an event that depends on it; were the
    /// process to end first, the kill after such an event of another task (which needs the
    /// process still alive then) would never be explored. As a race, the end asks for those
    /// events to be tried before it, where the kill wakes.
    pub(super) fn last_of_its_process(&mut self, t: u32) {
        let p = self.tasks[t as usize].process;
        if self.kills_left == 0 || !self.wants_footprints || p <= 1 {
            return;
        }
        let last =
            self.tasks.iter().enumerate().all(|(u, task)| {
                u == t as usize || task.process != p || task.state == State::Finished
            });
        if let (true, Some(d)) = (last, self.schedule.len().checked_sub(1)) {
            self.effects[d].merge(&Footprint::kill(p, 0));
        }
    }

    /// `true` unless process `p` was killed.
    pub(super) fn alive(&self, p: u32) -> bool {
        !self.dead.contains(&p)
    }

    /// The scheduling decision, taken by task `cur` (which has announced its next step, blocked,
    /// or finished).
    pub(super) fn decide(&mut self, cur: u32) -> Next {
        if self.failure.is_some() || self.over {
            return Next::Suspend;
        }
        if self.trace.len() >= self.settings.max_steps {
            let max = self.settings.max_steps;
            self.fail(
                FailureKind::StepBound,
                format!(
                    "the execution took more than {max} step{} (a livelock, or a program \
                     longer than the bound: `Config::max_steps` sets it)",
                    if max == 1 { "" } else { "s" }
                ),
            );
            return Next::Suspend;
        }
        loop {
            self.collect_options();
            if self.options.is_empty() {
                self.report_deadlock();
                return Next::Suspend;
            }
            match self.decide_once(cur) {
                Some(next) => return next,
                // A kill happened: the next event is decided afresh.
                None => continue,
            }
        }
    }

    /// One choice among `self.options` (not empty); `None` after a kill, which is followed by
    /// another choice.
    fn decide_once(&mut self, cur: u32) -> Option<Next> {
        // The running task could go on if it is an option (a yield may hold it back).
        let current_runs = self.enabled(cur as usize)
            && (self.yielders == 0 || self.options.contains(&Choice::Run(cur)));
        let options = std::mem::take(&mut self.options);
        let mut footprints = std::mem::take(&mut self.footprints);
        footprints.clear();
        // What the strategy reads only at choices it has not made before.
        let fresh = self.wants_footprints && self.schedule.len() >= self.footprints_from;
        if fresh {
            footprints.extend(options.iter().map(|&c| match c {
                Choice::Kill(p) => Footprint::kill(p, self.killed_mask(p)),
                _ => {
                    let t = c.task().expect("scheduling choices name a task") as usize;
                    self.pending_footprint(c, t)
                }
            }));
        }
        let current_touches = (self.wants_current_touches && current_runs && options.len() > 1)
            .then(|| self.pending_touches(cur as usize));
        let ctx = PickContext {
            objects: self.objects.numbered(),
            current: current_runs.then_some(cur),
            current_touches,
            decisions: self.schedule.len(),
            footprints: &footprints,
            effects: if self.wants_footprints {
                &self.effects
            } else {
                &[]
            },
            guarded: if fresh { self.guarded_mask() } else { 0 },
            late_kills: if fresh { self.late_kills(&options) } else { 0 },
        };
        // SAFETY: as in `Exec::strategy`; the strategy is not part of `self`, so borrowing
        // `self.effects` for the context alongside it is sound.
        let picked = unsafe { &mut *self.strategy }.pick(&options, &ctx);
        self.footprints = footprints;
        let choice = match picked {
            Pick::Take(i) => options[i],
            Pick::Abandon => {
                self.options = options;
                self.abandoned = true;
                self.over = true;
                return Some(Next::Suspend);
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
                return Some(Next::Suspend);
            }
        };
        self.options = options;
        let decision = self.schedule.len() as u32;
        self.schedule.push(choice);
        if let Choice::Kill(p) = choice {
            // Not a switch of tasks: no preemption, and nothing for the shrinker to undo.
            self.currents.push(None);
            if self.wants_footprints {
                self.effects.push(Footprint::kill(p, self.killed_mask(p)));
            }
            self.kill(p, decision);
            return None;
        }
        self.currents.push(current_runs.then_some(cur));
        if self.wants_footprints {
            self.effects.push(Footprint::default());
        }
        if current_runs && choice != Choice::Run(cur) {
            self.preemptions += 1;
        }
        let t = self.apply(choice);
        self.release[t as usize] = Some(decision);
        if t == cur {
            Some(Next::Continue)
        } else {
            self.next = t;
            Some(Next::Suspend)
        }
    }

    /// Makes `choice` happen; returns the task that runs next.
    pub(super) fn apply(&mut self, choice: Choice) -> u32 {
        match choice {
            Choice::Run(t) => {
                if self.tasks[t as usize].guard.is_some() {
                    // Its guard passes: it goes on.
                    self.unblock(t, WaitOutcome::Woken);
                }
                t
            }
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
            Choice::Kill(_) => unreachable!("a kill is made where it is chosen"),
        }
    }

    pub(super) fn unblock(&mut self, t: u32, outcome: WaitOutcome) {
        if let State::Blocked { obj, .. } = self.tasks[t as usize].state {
            if obj != 0 {
                let waiters = &mut self.objects[obj].waiters;
                waiters.retain(|&w| w != t);
            }
        }
        let task = &mut self.tasks[t as usize];
        task.state = State::Runnable;
        task.outcome = outcome;
        if let Some(Guard {
            spec: Spec::Check(_),
            ..
        }) = task.guard.take()
        {
            self.checks -= 1;
        }
    }

    pub(super) fn report_deadlock(&mut self) {
        let mut blocked = Vec::new();
        for (t, task) in self.tasks.iter().enumerate() {
            let entry = match task.state {
                State::Blocked { obj: 0, .. } => Blocked {
                    task: t as u32,
                    waits_for: "the end of a sleep that never ends".to_owned(),
                    at: Site::new(self.caller(task.operation), task.pending.loc),
                    holder: None,
                },
                State::Blocked { obj, .. } => {
                    let rec = &self.objects[obj];
                    Blocked {
                        task: t as u32,
                        waits_for: self.object_name(obj),
                        at: Site::new(self.caller(task.operation), task.pending.loc),
                        holder: rec
                            .taken_by
                            .map(|(h, loc, op)| (h, Site::new(self.caller(op), loc))),
                    }
                }
                State::Runnable if task.pending.op == Op::Join => Blocked {
                    task: t as u32,
                    waits_for: format!("task {} to finish", task.pending.arg),
                    at: Site::new(self.caller(task.operation), task.pending.loc),
                    holder: None,
                },
                _ => continue,
            };
            blocked.push(entry);
        }
        let lines: Vec<String> = blocked
            .iter()
            .map(|b| match b.holder {
                Some((h, _)) if self.tasks[h as usize].killed => {
                    format!("{b} (its process was killed)")
                }
                _ => b.to_string(),
            })
            .collect();
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
        self.objects.name(obj)
    }

    /// A value choice among `n` (n ≥ 1), recorded in the schedule.
    pub(super) fn pick_value(&mut self, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        if n > MAX_VALUES {
            self.fail(
                FailureKind::InvalidInput,
                format!("choose({n}): a choice is among at most {MAX_VALUES} values"),
            );
            return 0;
        }
        let mut options = std::mem::take(&mut self.options);
        options.clear();
        options.extend((0..n).map(Choice::Value));
        let ctx = PickContext {
            objects: self.objects.numbered(),
            current: None,
            current_touches: None,
            decisions: self.schedule.len(),
            footprints: &[],
            effects: &[],
            guarded: 0,
            late_kills: 0,
        };
        let picked = self.strategy().pick(&options, &ctx);
        self.options = options;
        match picked {
            Pick::Take(i) => {
                self.schedule.push(Choice::Value(i as u32));
                self.currents.push(None);
                if self.wants_footprints {
                    self.effects.push(Footprint::default());
                }
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

    /// The operation numbered `index` as in [`Record::caller`].
    pub(super) fn caller(&self, index: u32) -> Option<Caller> {
        index.checked_sub(1).map(|i| self.callers[i as usize])
    }

    pub(super) fn record(
        &mut self,
        op: Op,
        obj: u32,
        read: Option<u64>,
        wrote: Option<u64>,
        loc: Loc,
    ) {
        let task = self.current;
        let decision = self.release.get_mut(task as usize).and_then(Option::take);
        if self.wants_footprints && obj != 0 && op.writes_value() {
            // A write for the reduction (not a read-modify-write that keeps the value, which
            // is a read: see `Footprint::executed`), into the object's log.
            let t = &self.tasks[task as usize];
            let keeps = matches!(op, Op::FetchAdd | Op::FetchSub | Op::FetchOr | Op::FetchAnd)
                && t.pending.arg == KEEPS_VALUE;
            if !keeps {
                let event = decision.or(t.event);
                self.objects[obj].log.push(event, read, wrote);
            }
        }
        let replaced = read;
        // A store's step reports the value it replaced, for the log only: everything else
        // sees a store as a write that read nothing.
        let read = if op == Op::Store { None } else { read };
        if self.settings.kills > 0 {
            self.extend_tail(op, obj, read, wrote, decision);
        }
        if self.yielders > 0 || op == Op::Yield {
            self.yield_bookkeeping(task, op);
        }
        let caller = self.tasks[task as usize].operation;
        // A word that names its holder (a lock's), written: see below.
        let mut holder = None;
        if obj != 0 && op.writes_value() {
            let rec = &mut self.objects[obj];
            holder = rec.holder;
            match (read, wrote) {
                (Some(0), Some(w)) if w != 0 => rec.taken_by = Some((task, loc, caller)),
                (_, Some(0)) => rec.taken_by = None,
                _ => {}
            }
            if self.settings.kills > 0 && wrote.is_some_and(|w| read != Some(w)) {
                rec.writers |= process_bit(self.tasks[task as usize].process);
            }
        }
        if self.settings.granularity == crate::Granularity::Operation {
            let t = &mut self.tasks[task as usize];
            if decision.is_some() {
                // A scheduled step inside an operation begins its event; one outside ends any.
                t.event = decision.filter(|_| t.operation != 0);
                t.event_reads_clock_only = op == Op::Now;
            } else if t.event.is_some() {
                t.event_reads_clock_only &= op == Op::Now;
            }
            let event = self.tasks[task as usize].event;
            if let Some(d) = event.filter(|_| decision.is_none() && self.wants_footprints) {
                let t = &self.tasks[task as usize];
                // A later step of the event: what it touches is the event's.
                let (arg, process) = (t.pending.arg, t.process);
                let run = Choice::Run(task);
                let kills = (self.settings.kills > 0).then(|| {
                    let sleepers = self.wake_sleepers_of(op);
                    (
                        self.for_the_dead(run, task as usize, op, arg, sleepers),
                        sleepers.0,
                    )
                });
                let effect = &mut self.effects[d as usize];
                effect.add_touched(run, op, obj, arg);
                if let Some((for_the_dead, sleepers)) = kills {
                    effect.add_for_kills(op, process, None, for_the_dead);
                    effect.read_liveness(sleepers);
                }
            }
        }
        self.trace.push(Record {
            task,
            op,
            obj: self.objects.shown(obj),
            caller,
            read,
            wrote,
            loc,
            time: self.clock,
            decision,
        });
        if let Some(d) = decision.filter(|_| self.wants_footprints) {
            let arg = self.tasks[task as usize].pending.arg;
            let choice = self.schedule[d as usize];
            let mut effect = Footprint::executed(choice, op, obj, wrote, arg);
            if choice != Choice::Run(task) && op != Op::WaitReturn {
                // A timeout that ended a guard (`ready_when`): the step it let happen is an
                // access of its own too.
                effect.add_touched(Choice::Run(task), op, obj, arg);
            }
            if self.settings.kills > 0 {
                let joined = (op == Op::Join).then(|| self.tasks[arg as usize].process);
                let sleepers = self.wake_sleepers_of(op);
                let for_the_dead = self.for_the_dead(choice, task as usize, op, arg, sleepers);
                let op = if choice == Choice::Run(task) {
                    op
                } else {
                    Op::WaitReturn
                };
                let t = &self.tasks[task as usize];
                effect.add_for_kills(op, t.process, joined, for_the_dead);
                effect.read_liveness(sleepers.0);
            }
            if op == Op::WaitReturn && choice == Choice::Run(task) {
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
        // A write of a word that names its holder: what the event did to the holder (kept
        // only for strategies that ask for footprints).
        if let Some(holder) = holder {
            let event = decision.or(self.tasks[task as usize].event);
            if let Some(d) = event {
                self.effects[d as usize].held_write(obj, holder, replaced, wrote);
            }
        }
    }

    /// For a futex wake's step, the sleepers it could reach as it began (see
    /// [`Exec::sleepers`]), taken once; nothing for any other step.
    fn wake_sleepers_of(&mut self, op: Op) -> (u64, bool) {
        if op == Op::FutexWake {
            std::mem::take(&mut self.wake_sleepers)
        } else {
            (0, false)
        }
    }
}
