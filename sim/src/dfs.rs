//! Exhaustive search: depth-first, stateless (every execution re-runs the program from the
//! start along a recorded path), with dynamic partial-order reduction and preemption bounding.
//!
//! **Reduction.** Source-DPOR with sleep sets (Abdulla, Aronis, Jonsson, Sagonas, "Optimal
//! Dynamic Partial Order Reduction", POPL 2014, Algorithm 1). After each execution, every pair of
//! *racing* events — by different tasks, dependent (a common object, one writes: see
//! [`Footprint`]), and not ordered by happens-before through other events — asks for the
//! reversed order to be tried: at the state before the first event, one *initial* of the
//! events that do not depend on it (followed by the second event) is added to that node's
//! backtrack set, unless one is there already. Sleep sets keep an explored branch from being
//! explored again through an equivalent order. Happens-before is tracked with vector clocks;
//! spawn and join add their edges. An execution re-runs the path of the one before up to its
//! first new choice: the races among those events asked for their reversals then, so only
//! races whose later event comes from that choice on ask again.
//!
//! **Bounding.** The search runs in rounds with a growing preemption bound (Musuvathi &
//! Qadeer, PLDI 2007): first 0, then 1, then 2 preemptions, then unbounded (or up to the
//! configured bound). Early rounds are cheap, so bugs that need few preemptions are found after
//! few executions however large the whole space is. Each round is complete within its bound
//! (bounded partial-order reduction: Coons, Musuvathi, McKinley, OOPSLA 2013): a bounded round
//! asks for every initial of a reversal, also where the racing task's block of events began;
//! a wake asks for the wait's other ends also where they preempt nobody; and an option whose
//! subtree the bound cut never sleeps (see docs/sim.md, "Bounding"). A round that cuts nothing
//! ends the search as complete. Before the rounds, a trial runs the last round alone for a
//! budget of executions (1,000 by default): a space that small is covered there in the fewest
//! executions. After the trial the last round goes on in every other execution, while the
//! rounds of smaller bound run one after the other in the executions between.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::footprint::{marker, process_bit, task_bit, Access, Footprint, Held, WIDE};
use crate::schedule::Choice;
use crate::strategy::{default_pick, Disabled, Execution, Pick, PickContext, Strategy};

/// A choice point on the current path.
#[derive(Debug, Default)]
struct Node {
    options: Vec<Choice>,
    /// What each option's event may touch (from the announced operations).
    footprints: Vec<Footprint>,
    /// A value choice (`choose`, which waiter a wake reaches): every value is explored.
    value: bool,
    /// The task that could have gone on (other options preempt it).
    current: Option<u32>,
    /// Preemptions on the path before this node.
    preemptions: u32,
    /// The option taken now.
    chosen: usize,
    /// Options to explore.
    backtrack: Vec<bool>,
    /// Options explored (their subtrees finished).
    done: Vec<bool>,
    /// Options cut by the preemption bound of this round.
    cut: Vec<bool>,
    /// Options whose subtrees had options cut by the bound: they are not asleep in their
    /// siblings' subtrees (Coons, Musuvathi, McKinley, OOPSLA 2013: an execution equivalent to
    /// one of the subtree's may fit in the bound where it did not).
    tainted: Vec<bool>,
    /// Options whose events were explored from an ancestor and are independent of everything
    /// since: exploring them here would repeat an equivalent execution.
    /// Each with how many objects were numbered where its footprint was taken (see
    /// [`Footprint::dependent_across`]).
    sleep: Vec<(Choice, Footprint, u32)>,
    /// How many objects the execution had numbered here (see [`PickContext::objects`]).
    objects: u32,
    /// The tasks waiting here for a guard that fails (`ready_when`): see
    /// [`Dfs::reverse_events`].
    guarded: u64,
    /// The processes whose kill here is left to an earlier node of the path, where it leaves
    /// the same state ([`PickContext::late_kills`]; only in the unbounded round): never
    /// explored here, whatever a race asks for, and asleep below as if explored here.
    late: u64,
    /// The option that goes on (the default pick): explored right after a kill explored
    /// first here, before the options races asked for, as it would be without the kill.
    goes_on: usize,
}

/// How many rounds of growing preemption bound a search runs at most: with a larger bound
/// `b` ([`Config::preemption_bound`](crate::Config::preemption_bound)), rounds 0 to 63, then
/// one at bound `b` (each round keeps state: one per possible preemption up to `u32::MAX`
/// took 32 GiB).
const MAX_ROUNDS: u32 = 64;

impl Node {
    fn preempts(&self, option: usize) -> bool {
        // A kill is no switch of tasks.
        self.current.is_some_and(|c| {
            self.options[option] != Choice::Run(c)
                && !matches!(self.options[option], Choice::Kill(_))
        })
    }

    /// Whether `option` is a kill left to an earlier node ([`Node::late`]).
    fn is_late(&self, option: usize) -> bool {
        matches!(self.options[option], Choice::Kill(p) if self.late & process_bit(p) != 0)
    }

    /// Asks for every option to be explored (but a late kill).
    fn mark_all(&mut self) {
        for k in 0..self.options.len() {
            self.backtrack[k] = !self.is_late(k);
        }
    }

    /// Asks for `option` to be explored. A blocked task's timeout and spurious wake-up are two
    /// outcomes of one event (how its wait ends), so asking for one asks for both; so are a
    /// guarded task's going on and its timeout (`ready_when` with a deadline).
    fn mark(&mut self, option: usize) {
        if self.is_late(option) {
            return;
        }
        self.backtrack[option] = true;
        let twins = match self.options[option] {
            Choice::Timeout(t) => [Some(Choice::Spurious(t)), Some(Choice::Run(t))],
            Choice::Spurious(t) => [Some(Choice::Timeout(t)), Some(Choice::Run(t))],
            Choice::Run(t) => [Some(Choice::Timeout(t)), None],
            _ => return,
        };
        for twin in twins.into_iter().flatten() {
            if let Some(k) = self.options.iter().position(|&o| o == twin) {
                self.backtrack[k] = true;
            }
        }
    }

    /// Asks for the ways task `t`'s wait could have ended here other than by the wake that
    /// ended it: the wake disabled them, so they never race with anything later.
    fn mark_disabled_by_wake(&mut self, t: u32) {
        for k in 0..self.options.len() {
            if matches!(self.options[k], Choice::Timeout(u) | Choice::Spurious(u) if u == t) {
                self.backtrack[k] = true;
            }
        }
    }

    /// Whether task `t`'s wait could end here other than by a wake.
    fn offers_end_of_wait(&self, t: u32) -> bool {
        self.options
            .iter()
            .any(|&o| matches!(o, Choice::Timeout(u) | Choice::Spurious(u) if u == t))
    }

    /// Whether ending task `t`'s wait here (a timeout or spurious wake-up) preempts no task.
    fn ends_wait_freely(&self, t: u32) -> bool {
        (0..self.options.len()).any(|k| {
            matches!(self.options[k], Choice::Timeout(u) | Choice::Spurious(u) if u == t)
                && !self.preempts(k)
        })
    }

    /// Whether taking `option` here stays within the preemption `bound`.
    fn fits(&self, option: usize, bound: Option<u32>) -> bool {
        bound.is_none_or(|b| self.preemptions + self.preempts(option) as u32 <= b)
    }

    fn asleep(&self, option: usize) -> bool {
        self.sleep
            .iter()
            .any(|(c, _, _)| *c == self.options[option])
    }

    /// The sleep set of the child reached through the chosen option, whose event touched
    /// `taken`: what slept here, was explored here before, or is a kill left to an earlier
    /// node ([`Node::late`]), and is independent of it.
    ///
    /// An entry of the chosen event's own task never stays: that task moved on, so its choice
    /// below names its next event, not the one explored (a guarded task's going on and its
    /// timeout are two outcomes of one event, with footprints that need not overlap).
    ///
    /// The footprints kept were taken in earlier executions, which made the same choices only
    /// up to the node where each was explored: objects numbered after it may have other
    /// numbers now ([`Footprint::dependent_across`]).
    fn child_sleep(&self, taken: &Footprint, sleep: &mut Vec<(Choice, Footprint, u32)>) {
        let mover = self.options[self.chosen].task();
        let keeps = |c: &Choice, f: &Footprint, numbered: u32| {
            (mover.is_none() || c.task() != mover) && !f.dependent_across(taken, numbered)
        };
        sleep.clear();
        sleep.extend(
            self.sleep
                .iter()
                .filter(|(c, f, n)| keeps(c, f, *n))
                .copied(),
        );
        for (i, &done) in self.done.iter().enumerate() {
            if done
                && !self.tainted[i]
                && i != self.chosen
                && keeps(&self.options[i], &self.footprints[i], self.objects)
            {
                sleep.push((self.options[i], self.footprints[i], self.objects));
            }
        }
        // A late kill (left to an earlier node of the path, where it leaves the same state)
        // sleeps as one explored here does: after an event independent of it, a kill leaves
        // the state the kill here and then that event leave, which is the state the earlier
        // node's kill and then that event leave.
        for (i, option) in self.options.iter().enumerate() {
            if self.is_late(i)
                && i != self.chosen
                && keeps(option, &self.footprints[i], self.objects)
                && !sleep.iter().any(|(c, _, _)| c == option)
            {
                sleep.push((*option, self.footprints[i], self.objects));
            }
        }
    }
}

/// The race analysis's working memory, kept from one execution to the next (an exploration
/// analyzes hundreds of thousands of executions: allocating a clock per event afresh each time
/// was a tenth of its time).
#[derive(Debug, Default)]
struct Scratch {
    /// Per event: the vector clock after it.
    event_clock: Vec<Clock>,
    /// Per task: the clock after its last event, if it had one.
    task_clock: Vec<Option<Clock>>,
    /// Per object: the last write, and the reads since (reset, not dropped, per execution).
    objects: HashMap<u32, (Option<usize>, Vec<usize>), BuildHasherDefault<ObjectHasher>>,
    /// The accesses of the event being analyzed.
    accesses: Vec<Access>,
    /// The events the event being analyzed happens after through a common object.
    joins: Vec<usize>,
    /// The events it races with.
    races: Vec<usize>,
    /// One look at a task's guard that failed (see [`Execution::disabled`]).
    look: Vec<Disabled>,
}

/// The hash of an object number in the race analysis's table: one multiplication (the table
/// is looked up for every access of every event; std's SipHash, made to resist chosen keys,
/// was 3 % of an exploration's time, and these keys are the simulator's own numbers).
#[derive(Debug, Default)]
struct ObjectHasher(u64);

impl Hasher for ObjectHasher {
    fn finish(&self) -> u64 {
        // The table takes the low bits for the bucket: fold the well-mixed high ones in (a
        // futex queue's number differs from its word's in a high bit only).
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(b as u32);
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Fibonacci hashing: the high bits of the product mix every bit of the key.
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// How many executions the trial before the rounds runs alone by default (see [`Dfs::new`]).
pub(crate) const TRIAL: u64 = 1_000;

/// Exhaustive depth-first search with partial-order reduction and preemption bounding.
#[derive(Debug)]
pub struct Dfs {
    reduction: bool,
    /// The preemption bound of each round, growing; `None` is unbounded.
    rounds: Vec<Option<u32>>,
    /// The round that runs the current execution.
    round: usize,
    /// The active round's path.
    stack: Vec<Node>,
    preemptions: u32,
    /// The bound cut something in the active round.
    cut: bool,
    /// Per round, while another one is active: its path (ready for its next execution) and
    /// whether its bound cut something.
    parked: Vec<(Vec<Node>, bool)>,
    /// Per round: it has explored everything within its bound.
    over: Vec<bool>,
    /// The trial: the last round runs alone for this many executions, then takes every other
    /// execution while the rounds of smaller bound run in order (see [`Dfs::new`]); `None`
    /// without a trial (the rounds run one after the other).
    trial: Option<u64>,
    /// Executions of the last round.
    last_runs: u64,
    started: bool,
    finished: bool,
    complete: bool,
    scratch: Scratch,
    /// Nodes popped off a path, whose buffers the next nodes reuse (an exploration makes
    /// millions of nodes, each with seven vectors).
    spare: Vec<Node>,
    /// The depth of the first node whose choice the coming execution makes anew: the ones
    /// above it are followed as before, and their events touch what they touched before.
    fresh: usize,
    /// The locks of the execution being analyzed whose critical sections commute where what
    /// they touch does (see [`Dfs::find_lazy`]).
    lazy: Lazy,
    /// Critical sections that touch different objects commute (see [`Dfs::find_lazy`]).
    commute: bool,
}

/// The locks of an execution whose critical sections the race analysis lets commute (lazy
/// happens-before: Thomson, Donaldson, Betts, "The lazy happens-before relation: better
/// partial-order reduction for systematic concurrency testing", PPoPP 2015): their words
/// carry no happens-before edge and race with nothing, so two sections are ordered only by
/// what their events touch.
#[derive(Debug, Default)]
struct Lazy {
    /// The locks' words, sorted.
    words: Vec<u32>,
    /// Their critical sections.
    sections: Vec<Section>,
    /// Per event: the lock among them it acquires (0: none).
    acquires: Vec<u32>,
    /// Per event: the lock among them it releases (0: none).
    releases: Vec<u32>,
    /// Per event that acquires one of them: the event that releases it.
    closes: Vec<usize>,
}

/// Where [`Dfs::reverse_events`] asks for a reversal, with locks whose sections commute.
enum Plan {
    /// At the racing event: these events after it, then the target, can run before it.
    Here(Vec<usize>),
    /// Where these sections began: at the racing event a lock they hold keeps the target
    /// waiting.
    Move(Vec<usize>),
    /// Nowhere: no execution runs the target before the racing event with what the target
    /// read (another race asks for what it reads otherwise).
    Never,
}

/// Who holds a lock in [`Lazy::plan`]'s run of a reversal.
#[derive(Clone, Copy)]
enum Holder {
    /// The section that holds it at the racing event.
    Before(Section),
    /// The section whose acquire is this event of the reversal.
    Here(usize),
}

impl Lazy {
    fn clear(&mut self) {
        self.words.clear();
        self.sections.clear();
        self.acquires.clear();
        self.releases.clear();
        self.closes.clear();
    }

    /// For each event that acquires one of the locks: the sections under that lock before it
    /// (their acquire and release) that events of its section depend on through what they
    /// touch (with `clocks` computed without the locks' edges), latest first. Such a section
    /// must run before it (an edge), and its acquire races with this one (the two sections
    /// in the other order are another execution); the others commute with it.
    fn induced(
        &self,
        n: usize,
        task: &impl Fn(usize) -> Option<usize>,
        clocks: &[Clock],
    ) -> Vec<Vec<(usize, usize)>> {
        let mut induced = vec![Vec::new(); n];
        for (x, b) in self.sections.iter().enumerate() {
            let tb = task(b.acquire);
            // The sections are in the order of their releases: the earlier ones under the
            // same lock, latest first.
            for a in self.sections[..x].iter().rev() {
                let ta = task(a.acquire).expect("events have tasks");
                if a.word == b.word
                    && Some(ta) != tb
                    && clocks[a.acquire].before(ta, &clocks[b.release])
                {
                    induced[b.acquire].push((a.acquire, a.release));
                }
            }
        }
        induced
    }

    /// Where the reversal of the race between event `i` and `target` (its choice, clock and
    /// index if it ran, before `end`; `guarded`: it did not run, and its task waits at `i`)
    /// can be asked for. Without the locks' edges, the events after `i` that do not depend on
    /// it may not run before it as a sequence: two of them may take one lock, the first
    /// keeping it over `i`. So the reversal runs only what the target needs (the events that
    /// happen before it), and with it the rest of every section they leave open, up to its
    /// release, where that release does not depend on `i`. Run in the execution's order from
    /// `i`, a lock that one of them takes may be held:
    /// - by a section that holds it at `i` and releases it after `i`: no order of the
    ///   events from `i` on runs the target before `i`, and the reversal is asked for where
    ///   that section began (where the lock was free);
    /// - by a section the reversal opened whose release depends on `i`: the later section can
    ///   run first only if it ends and does not depend on the earlier one; else the target
    ///   cannot run before `i` with what it read.
    fn plan(
        &self,
        i: usize,
        end: usize,
        target: (Choice, &Clock, Option<usize>),
        guarded: bool,
        task: &impl Fn(usize) -> Option<usize>,
        clocks: &[Clock],
    ) -> Plan {
        let q = task(i).expect("events have tasks");
        let after_i = |k: usize| clocks[i].before(q, &clocks[k]);
        let before = |k: usize, c: &Clock| task(k).is_some_and(|t| clocks[k].before(t, c));
        let holding: Vec<Section> = self
            .sections
            .iter()
            .filter(|s| s.acquire < i && i <= s.release)
            .copied()
            .collect();
        if guarded {
            let starts: Vec<usize> = holding
                .iter()
                .filter(|s| after_i(s.release))
                .map(|s| s.acquire)
                .collect();
            if !starts.is_empty() {
                return Plan::Move(starts);
            }
        }
        let at = |k: usize| k - i - 1;
        let mut chosen = vec![false; end.saturating_sub(i + 1)];
        // Adds the events up to `r` that happen before it (and not after `i`).
        let add = |chosen: &mut Vec<bool>, r: usize, c: &Clock| {
            for k in i + 1..=r.min(end - 1) {
                if !chosen[at(k)] && !after_i(k) && before(k, c) {
                    chosen[at(k)] = true;
                }
            }
        };
        if end > i + 1 {
            add(&mut chosen, end - 1, target.1);
        }
        // A release the reversal can include: between `i` and `end`, not after `i`, not
        // included yet.
        let can_close =
            |chosen: &Vec<bool>, r: usize| i < r && r < end && !chosen[at(r)] && !after_i(r);
        'run: loop {
            let mut held: Vec<(u32, Holder)> = holding
                .iter()
                .map(|s| (s.word, Holder::Before(*s)))
                .collect();
            let run: Vec<usize> = (i + 1..end)
                .filter(|&k| chosen[at(k)])
                .chain(target.2)
                .collect();
            for &k in &run {
                let w = self.acquires.get(k).copied().unwrap_or(0);
                if w != 0 {
                    match held.iter().position(|h| h.0 == w) {
                        None => held.push((w, Holder::Here(k))),
                        Some(x) => match held[x].1 {
                            Holder::Before(s) if can_close(&chosen, s.release) => {
                                add(&mut chosen, s.release, &clocks[s.release]);
                                continue 'run;
                            }
                            Holder::Before(s) => return Plan::Move(vec![s.acquire]),
                            Holder::Here(k1) => {
                                let r1 = self.closes[k1];
                                if can_close(&chosen, r1) {
                                    add(&mut chosen, r1, &clocks[r1]);
                                    continue 'run;
                                }
                                // The section of `k` must run whole before `k1`'s.
                                let r = self.closes[k];
                                if can_close(&chosen, r) {
                                    add(&mut chosen, r, &clocks[r]);
                                    continue 'run;
                                }
                                let t1 = task(k1).expect("events have tasks");
                                if r >= end || !chosen[at(r)] || clocks[k1].before(t1, &clocks[r]) {
                                    return Plan::Never;
                                }
                            }
                        },
                    }
                }
                let w = self.releases.get(k).copied().unwrap_or(0);
                if w != 0 {
                    held.retain(|h| match h.1 {
                        Holder::Here(a) => !(h.0 == w && task(a) == task(k)),
                        Holder::Before(s) => s.release != k,
                    });
                }
            }
            return Plan::Here((i + 1..end).filter(|&k| chosen[at(k)]).collect());
        }
    }

    /// Whether `obj` is one of the words, or its futex queue.
    fn covers(&self, obj: u32) -> bool {
        obj >> 30 <= 1 && self.words.binary_search(&(obj & ((1 << 30) - 1))).is_ok()
    }
}

/// A critical section: a lock's word, the event that acquired it and the one that released it
/// (by the same task).
#[derive(Clone, Copy, Debug)]
struct Section {
    word: u32,
    acquire: usize,
    release: usize,
}

/// Where a lock's word stands in [`Dfs::find_lazy`]'s pass over an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holding {
    Free,
    /// Held by the task since the event.
    By(usize, usize),
    /// Not a lock whose sections may commute in this execution.
    No,
}

/// An event that may run inside a critical section that commutes: it touches words only (no
/// futex queue, clock or liveness), waits for nothing (no guard, join, wake's return or yield)
/// and makes no task and no other lock's move.
fn plain(effect: &Footprint) -> bool {
    !effect.guarded
        && !effect.wide
        && effect.held == Held::None
        && effect.join.is_none()
        && effect.spawn.is_none()
        && effect.after.is_none()
        && effect.yields_to == 0
        && effect.killed == 0
        && effect.live_reads | effect.live_writes == 0
        && effect.accesses().all(|a| a.obj >> 30 == 0)
}

impl Dfs {
    /// Exhaustive search with reduction (`reduction = false`: every interleaving). Rounds with
    /// preemption bounds 0, 1, 2, then unbounded; or 0 ..= `max_bound` if one is given.
    ///
    /// With a `trial` (nonzero), the last round runs first, alone, for `trial` executions: a
    /// small space is covered there in the fewest executions (the rounds would explore each of
    /// its orders of few preemptions again, round after round). After that it goes on, taking
    /// every other execution, while the rounds of smaller bound run one after the other in
    /// the executions between: a bug that needs `k` preemptions is still found in round `k`
    /// (after at most twice the executions the rounds alone would take), and a space the last
    /// round covers takes at most twice its executions, where rounds run to their end before
    /// it resumed would take their sum (a bounded round can take more executions than the
    /// unbounded one: its sleep sets are weaker). Without a trial the rounds run one after the
    /// other, each to its end.
    pub fn new(max_bound: Option<u32>, reduction: bool, trial: u64) -> Self {
        let rounds: Vec<Option<u32>> = match max_bound {
            Some(b) if b < MAX_ROUNDS => (0..=b).map(Some).collect(),
            Some(b) => (0..MAX_ROUNDS).map(Some).chain([Some(b)]).collect(),
            None => vec![Some(0), Some(1), Some(2), None],
        };
        let trial = (rounds.len() > 1 && trial > 0).then_some(trial);
        let n = rounds.len();
        Dfs {
            reduction,
            round: if trial.is_some() { n - 1 } else { 0 },
            rounds,
            trial,
            stack: Vec::new(),
            preemptions: 0,
            cut: false,
            parked: (0..n).map(|_| (Vec::new(), false)).collect(),
            over: vec![false; n],
            last_runs: 0,
            started: false,
            finished: false,
            complete: false,
            scratch: Scratch::default(),
            spare: Vec::new(),
            fresh: 0,
            lazy: Lazy::default(),
            commute: false,
        }
    }

    /// Critical sections under one lock that touch different objects commute
    /// ([`Config::sections_commute`](crate::Config::sections_commute); docs/sim.md, "Critical
    /// sections that commute").
    pub fn sections_commute(mut self, on: bool) -> Self {
        self.commute = on;
        self
    }

    /// One round only, at the largest bound: the fewest executions to cover the space (or
    /// the bound), where the rounds of growing bound find bugs that need few preemptions
    /// first.
    pub fn one_round(mut self) -> Self {
        let last = self.rounds.last().copied().flatten();
        self.rounds = vec![last];
        self.parked.truncate(1);
        self.over.truncate(1);
        self.round = 0;
        self.trial = None;
        self
    }

    /// The round to run next, after the active one ran an execution (and is not over):
    /// during the trial the last round; after it, the last round every other execution and
    /// the first round not over between; without a trial, the active round until it is over,
    /// then the next.
    fn next_round(&self) -> usize {
        let last = self.rounds.len() - 1;
        let first_open = (0..last).find(|&r| !self.over[r]);
        match (self.trial, first_open) {
            (Some(budget), Some(r)) if self.last_runs >= budget && self.round == last => r,
            (Some(_), _) => last,
            (None, Some(r)) if self.over[self.round] => r,
            (None, None) if self.over[self.round] => last,
            (None, _) => self.round,
        }
    }

    /// Makes round `r` the active one, parking the active round's state.
    fn activate(&mut self, r: usize) {
        if r == self.round {
            return;
        }
        let stack = std::mem::take(&mut self.stack);
        self.parked[self.round] = (stack, self.cut);
        let (stack, cut) = std::mem::take(&mut self.parked[r]);
        self.stack = stack;
        self.cut = cut;
        self.round = r;
    }

    fn bound(&self) -> Option<u32> {
        self.rounds[self.round]
    }

    /// The next option to explore at the deepest node that has one; `false` if none is left.
    fn backtrack(&mut self) -> bool {
        let bound = self.bound();
        while let Some(node) = self.stack.last_mut() {
            node.done[node.chosen] = true;
            let mut cut = false;
            let mut next = None;
            let order = std::iter::once(node.goes_on).chain(0..node.options.len());
            for k in order {
                if !node.backtrack[k] || node.done[k] || node.cut[k] {
                    continue;
                }
                if self.reduction && node.asleep(k) {
                    continue;
                }
                if !node.fits(k, bound) {
                    node.cut[k] = true;
                    cut = true;
                    continue;
                }
                next = Some(k);
                break;
            }
            if cut {
                self.cut = true;
                let depth = self.stack.len() - 1;
                for above in &mut self.stack[..depth] {
                    above.tainted[above.chosen] = true;
                }
            }
            if let Some(k) = next {
                let node = self.stack.last_mut().expect("the node is on the stack");
                node.chosen = k;
                return true;
            }
            if let Some(node) = self.stack.pop() {
                self.spare.push(node);
            }
        }
        false
    }

    /// The node where the block of events of node `i`'s task that `i` belongs to began: the
    /// latest node at or before `i` where that task was not simply going on. `None` if `i`
    /// is no scheduling choice, or the block began at `i`.
    fn block_start(&self, i: usize) -> Option<usize> {
        let q = self.stack[i].options[self.stack[i].chosen].task()?;
        let mut k = i;
        while k > 0 {
            let node = &self.stack[k];
            if !node.value && node.current != Some(q) {
                break;
            }
            k -= 1;
        }
        (k != i).then_some(k)
    }

    /// The locks of `execution`'s first `n` events whose critical sections may commute, into
    /// `self.lazy` (only with [`Dfs::sections_commute`]): in the unbounded round, in an
    /// execution that ran to its end without kills or events too wide to list (but the last,
    /// where the main task ends the program), a word that only untimed acquires of a free lock
    /// ([`Held::Acquire`]) and releases by the same task ([`Held::Release`]) touch, each
    /// section ended, each made of [`plain`] events only, and every task that waited for it
    /// took it. Two such sections, run in the other
    /// order, leave the lock as they found it and every other object as their events do; a
    /// section that waits, or takes another lock, could deadlock in the other order, and so
    /// keeps the lock's edges.
    fn find_lazy(&mut self, execution: &Execution, n: usize) {
        let bounded = self.bound().is_some();
        let lazy = &mut self.lazy;
        lazy.clear();
        if !self.commute {
            return;
        }
        let effects = &execution.effects[..n];
        let candidates = effects.iter().any(|e| matches!(e.held, Held::Acquire(_)));
        if !candidates
            || bounded
            || execution.abandoned
            || n != execution.schedule.len()
            || effects[..n.saturating_sub(1)].iter().any(|e| e.wide)
            || execution
                .schedule
                .iter()
                .any(|c| matches!(c, Choice::Kill(_)))
        {
            return;
        }
        let mut words: HashMap<u32, Holding, BuildHasherDefault<ObjectHasher>> = HashMap::default();
        for e in effects {
            if let Held::Acquire(w) = e.held {
                words.insert(w, Holding::Free);
            }
        }
        // The words each task holds.
        let mut held: Vec<Vec<u32>> = Vec::new();
        for (j, effect) in effects.iter().enumerate() {
            let Some(p) = execution.schedule[j].task().map(|t| t as usize) else {
                continue;
            };
            if held.len() <= p {
                held.resize_with(p + 1, Vec::new);
            }
            // The words the task holds, if the event runs inside their sections.
            if !held[p].is_empty() && !plain(effect) {
                for w in &held[p] {
                    if effect.held != Held::Release(*w) {
                        words.insert(*w, Holding::No);
                    }
                }
            }
            for access in effect.accesses() {
                if access.obj >> 30 > 1 {
                    continue;
                }
                let w = access.obj & ((1 << 30) - 1);
                let Some(&state) = words.get(&w) else {
                    continue;
                };
                let next = match (effect.held, state) {
                    (_, Holding::No) => Holding::No,
                    // The event's other access of the word (its queue, say).
                    (Held::Acquire(o), Holding::By(t, a)) if o == w && (t, a) == (p, j) => state,
                    (Held::Acquire(o), Holding::Free) if o == w => {
                        held[p].push(w);
                        Holding::By(p, j)
                    }
                    (Held::Release(o), Holding::By(t, a)) if o == w && t == p && a != j => {
                        held[p].retain(|&h| h != w);
                        lazy.sections.push(Section {
                            word: w,
                            acquire: a,
                            release: j,
                        });
                        Holding::Free
                    }
                    (Held::Release(o), Holding::Free) if o == w => {
                        // The same event's other access, after its release.
                        if lazy
                            .sections
                            .last()
                            .is_some_and(|s| s.release == j && s.word == w)
                        {
                            Holding::Free
                        } else {
                            Holding::No
                        }
                    }
                    _ => Holding::No,
                };
                words.insert(w, next);
            }
        }
        // A task that waited for one of the locks and never took it (the program ended
        // first): its section, never run, may touch anything, and the lock keeps its edges.
        for d in execution.disabled {
            if words.get(&d.obj).is_some_and(|&state| state != Holding::No) {
                let task = Some(d.task);
                let takes = (d.at as usize..n).any(|k| {
                    execution.schedule[k].task() == task && effects[k].held == Held::Acquire(d.obj)
                });
                if !takes {
                    words.insert(d.obj, Holding::No);
                }
            }
        }
        lazy.words.extend(
            words
                .iter()
                .filter(|&(_, &state)| state == Holding::Free)
                .map(|(&w, _)| w),
        );
        if lazy.words.is_empty() {
            lazy.sections.clear();
            return;
        }
        lazy.words.sort_unstable();
        let words = &lazy.words;
        lazy.sections
            .retain(|s| words.binary_search(&s.word).is_ok());
        lazy.acquires.extend(effects.iter().map(|e| match e.held {
            Held::Acquire(w) if words.binary_search(&w).is_ok() => w,
            _ => 0,
        }));
        lazy.releases.extend(effects.iter().map(|e| match e.held {
            Held::Release(w) if words.binary_search(&w).is_ok() => w,
            _ => 0,
        }));
        lazy.closes.resize(n, usize::MAX);
        for s in &lazy.sections {
            lazy.closes[s.acquire] = s.release;
        }
    }

    /// Race analysis of a finished execution (see the module docs).
    fn analyze(&mut self, execution: &Execution) {
        let schedule = execution.schedule;
        let n = schedule.len().min(self.stack.len());
        // Kills are events of an actor of their own, after every task.
        let killer = schedule
            .iter()
            .filter_map(|c| c.task())
            .chain(execution.effects.iter().filter_map(|e| e.spawn))
            .max()
            .map_or(0, |t| t as usize + 1);
        let task = |j: usize| match schedule[j] {
            Choice::Kill(_) => Some(killer),
            c => c.task().map(|t| t as usize),
        };
        for &(d, t) in execution.wakes {
            // The other ways the wait could have ended: where they were last offered (with
            // timeouts when idle, that can be before the wake: a task that became runnable
            // took them off the options).
            let Some(last) = Some(d as usize).filter(|&d| d < self.stack.len()) else {
                continue;
            };
            // The nodes that offered them since the wait began, latest first.
            let offers: Vec<usize> = (0..=last)
                .rev()
                .take_while(|&d| {
                    let node = &self.stack[d];
                    node.options[node.chosen] != Choice::Run(t)
                })
                .filter(|&d| self.stack[d].offers_end_of_wait(t))
                .collect();
            let Some(&latest) = offers.first() else {
                continue;
            };
            self.stack[latest].mark_disabled_by_wake(t);
            // In a bounded round, also where ending the wait costs least: the latest offer
            // can be a preemption of the waking task where an earlier one (where the waiter
            // had just blocked) is none (Coons, Musuvathi, McKinley, OOPSLA 2013).
            if self.bound().is_some() {
                let cheapest = offers
                    .iter()
                    .copied()
                    .find(|&d| self.stack[d].ends_wait_freely(t))
                    .or(offers.last().copied());
                if let Some(d) = cheapest {
                    self.stack[d].mark_disabled_by_wake(t);
                }
            }
        }
        // With a yield in the execution, every event also writes a marker of its task, which a
        // yield reads for each task it waits for (see `Footprint::yields_to`).
        let yields = execution.effects[..n].iter().any(|e| e.yields_to != 0);
        // With an event too wide to list its objects, every event also reads one object that
        // a wide event writes: a wide event depends on every event.
        let wide = execution.effects[..n].iter().any(|e| e.wide);
        self.find_lazy(execution, n);
        let lazy = !self.lazy.words.is_empty();
        let tasks = (0..n).filter_map(task).max().map_or(0, |t| t as u32 + 1);
        // The livenesses some event writes (a kill's, a process end's): the only ones whose
        // reads can race.
        let written = execution.effects[..n]
            .iter()
            .fold(0, |m, e| m | e.live_writes);
        let mut scratch = std::mem::take(&mut self.scratch);
        let Scratch {
            event_clock,
            task_clock,
            objects,
            accesses,
            joins,
            races,
            look,
        } = &mut scratch;
        let mut spawn_clock: HashMap<usize, Clock> = HashMap::new();
        let bounded = self.bound();
        // With locks whose sections commute, a first pass finds which sections depend on
        // which (see `Lazy`), and the second reports the races.
        let passes = if lazy { 2 } else { 1 };
        let mut induced: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut lock_races: Vec<usize> = Vec::new();
        for pass in 0..passes {
            let report = pass + 1 == passes;
            if pass == 1 {
                induced = self.lazy.induced(n, &task, event_clock);
            }
            task_clock.clear();
            event_clock.resize_with(n.max(event_clock.len()), Clock::default);
            for (last_write, reads) in objects.values_mut() {
                *last_write = None;
                reads.clear();
            }
            spawn_clock.clear();
            // The events before the first new choice are the previous execution's of this path,
            // which asked for their races' reversals already (asking again changes nothing):
            // they are analyzed only for the clocks and accesses that later events meet.
            let known = self.fresh;
            let mut disabled = execution.disabled.iter().peekable();
            let mut enablings = execution.enablings.iter().peekable();
            for j in 0..=n {
                // A task whose guard stopped passing before event `j` (or at the end, where an
                // abandoned execution stopped): the last write of the word disabled it, and races
                // with the operation it waits to run (see `reverse_to`).
                while let Some(&&first) = disabled.peek().filter(|d| d.at as usize <= j) {
                    // One look at one task's guard: the words whose last writes may have made it
                    // fail, and the others its check read.
                    look.clear();
                    while let Some(&d) =
                        disabled.next_if(|d| (d.at, d.task) == (first.at, first.task))
                    {
                        look.push(d);
                    }
                    let p = first.task as usize;
                    let own = task_clock
                        .get(p)
                        .cloned()
                        .flatten()
                        .or_else(|| spawn_clock.get(&p).cloned())
                        .unwrap_or_default();
                    // A lock whose sections commute orders nothing (see `Lazy`).
                    if lazy {
                        look.retain(|d| !self.lazy.covers(d.obj));
                    }
                    for cause in look.iter().filter(|d| d.cause) {
                        let Some(&(Some(i), _)) = objects.get(&cause.obj) else {
                            continue;
                        };
                        let q = task(i).expect("events have tasks");
                        // The operation, run before `i`, would read every other word as it is
                        // now: after its last write (a check that failed because a word was 0
                        // passes before `i` only after the write that set it).
                        let mut clock = own.clone();
                        for other in look.iter().filter(|d| d.obj != cause.obj) {
                            if let Some(&(Some(w), _)) = objects.get(&other.obj) {
                                if w != i {
                                    clock.join(&event_clock[w]);
                                }
                            }
                        }
                        if report && j >= known && q != p && !event_clock[i].before(q, &clock) {
                            self.reverse_to(i, j, p, &clock, schedule, event_clock, killer);
                        }
                    }
                }
                if j == n {
                    break;
                }
                let Some(p) = task(j) else {
                    event_clock[j].0.clear();
                    continue;
                };
                let effect = execution.effects[j];
                accesses.clear();
                accesses.extend(effect.accesses());
                if lazy {
                    accesses.retain(|a| !self.lazy.covers(a.obj));
                }
                accesses.extend(effect.liveness_accesses(written));
                if yields {
                    accesses.push(Access {
                        obj: marker(p as u32),
                        write: true,
                    });
                    // A spawn adds a task for later yields to wait for.
                    if let Some(child) = effect.spawn {
                        accesses.push(Access {
                            obj: marker(child),
                            write: true,
                        });
                    }
                    accesses.extend(
                        (0..tasks)
                            .filter(|&u| u != p as u32 && effect.yields_to & task_bit(u) != 0)
                            .map(|u| Access {
                                obj: marker(u),
                                write: false,
                            }),
                    );
                }
                if wide {
                    accesses.push(Access {
                        obj: WIDE,
                        write: effect.wide,
                    });
                }
                if task_clock.len() <= p {
                    task_clock.resize(p + 1, None);
                }
                // Its task's clock, written back below (nothing reads it meanwhile: a task joins
                // no clock of its own, and a kill is an actor's that stops others).
                let mut clock = task_clock[p]
                    .take()
                    .or_else(|| spawn_clock.get(&p).cloned())
                    .unwrap_or_default();
                // The event's guard passed only because of a write (see `Execution::enablings`):
                // that write, the one that made the guard fail before it, and the task's clock
                // before the event.
                while enablings.peek().is_some_and(|e| (e.0 as usize) < j) {
                    enablings.next();
                }
                let enabled = enablings.next_if(|e| e.0 as usize == j).map(|&(_, i, d)| {
                    (
                        i as usize,
                        (d != u32::MAX).then_some(d as usize),
                        clock.clone(),
                    )
                });
                joins.clear();
                for access in accesses.iter() {
                    let (last_write, reads) = objects.entry(access.obj).or_default();
                    let readers = if access.write { &reads[..] } else { &[] };
                    for &i in last_write.iter().chain(readers) {
                        let q = task(i).expect("events have tasks");
                        if report && j >= known && q != p && !event_clock[i].before(q, &clock) {
                            races.push(i);
                        }
                        joins.push(i);
                    }
                }
                for &i in joins.iter() {
                    clock.join(&event_clock[i]);
                }
                if let Some(d) = effect.after {
                    if let Some(c) = event_clock.get(d as usize) {
                        clock.join(c);
                    }
                }
                if let Some(t) = effect.join {
                    if let Some(Some(c)) = task_clock.get(t as usize) {
                        clock.join(c);
                    }
                }
                // A section whose events depend on an earlier section's under the same lock (see
                // `Lazy`) runs after it: the lock's edge, and the race of the two acquires.
                lock_races.clear();
                for &(a, r) in induced.get(j).map_or(&[][..], |v| &v[..]) {
                    let t = task(a).expect("events have tasks");
                    if report && j >= known && !event_clock[a].before(t, &clock) {
                        lock_races.push(a);
                    }
                    clock.join(&event_clock[r]);
                }
                clock.tick(p);
                event_clock[j].0.clone_from(&clock.0);
                // The tasks a kill stopped end there: a join of one happens after the kill.
                let mut killed = effect.killed;
                while killed != 0 {
                    let t = killed.trailing_zeros() as usize;
                    killed &= killed - 1;
                    if task_clock.len() <= t {
                        task_clock.resize(t + 1, None);
                    }
                    let mut c = task_clock[t]
                        .clone()
                        .or_else(|| spawn_clock.get(&t).cloned())
                        .unwrap_or_default();
                    c.join(&clock);
                    task_clock[t] = Some(c);
                }
                if let Some(child) = effect.spawn {
                    spawn_clock.insert(child as usize, clock.clone());
                }
                task_clock[p] = Some(clock);
                for access in accesses.iter() {
                    let (last_write, reads) = objects.entry(access.obj).or_default();
                    if access.write {
                        *last_write = Some(j);
                        reads.clear();
                    } else {
                        reads.push(j);
                    }
                }
                for &a in lock_races.iter() {
                    self.reverse(a, j, schedule, event_clock, killer);
                }
                for i in races.drain(..) {
                    match &enabled {
                        // The write that let the guard pass: the event could not have happened
                        // before it. It races with the write that made the guard fail before, as
                        // two acquires of a lock do (what `reverse` would try through an execution
                        // that blocks the task and stops, asleep, is tried at once). Only in the
                        // unbounded round: in a bounded one, the other initials `reverse` asks for
                        // at `i` can fit in the bound where the reversal at the disabler does not.
                        Some((e, disabler, before)) if *e == i && bounded.is_none() => {
                            if let Some(d) = disabler.filter(|&d| {
                                let q = task(d).expect("events have tasks");
                                q != p && !event_clock[d].before(q, before)
                            }) {
                                self.reverse_to(d, j, p, before, schedule, event_clock, killer);
                            }
                        }
                        _ => self.reverse(i, j, schedule, event_clock, killer),
                    }
                }
            }
        }
        // The main task ended the program while other tasks could still act (its last event
        // is wide: see the runtime, where the main task ends): the next event of each of them
        // races with that end, which stops them. It is tried where it was last offered since
        // the task last ran: at the main task's last event, or earlier (a timeout that tied
        // with the main task's own under `Timeouts::WhenIdle` is offered only while every
        // task waits). A task that never ran that event has nothing else to race with:
        // without this, a task that is never joined was never tried before the main task's
        // end.
        if let Some(last) = n.checked_sub(1).filter(|&last| {
            !execution.abandoned && execution.effects[last].wide && task(last) == Some(0)
        }) {
            let mut pending: Vec<(usize, Choice)> = Vec::new();
            let mut done: Vec<u32> = vec![0];
            let task_of = |c: Choice| c.task().filter(|_| !matches!(c, Choice::Kill(_)));
            for k in (0..=last).rev() {
                // A task that ran here or later offered its next event here no more.
                if let Some(t) = task_of(schedule[k]).filter(|t| !done.contains(t)) {
                    done.push(t);
                }
                for &c in &self.stack[k].options {
                    let Some(t) = task_of(c).filter(|t| !done.contains(t)) else {
                        continue;
                    };
                    if pending
                        .iter()
                        .all(|&(at, o)| at == k || o.task() != Some(t))
                    {
                        pending.push((k, c));
                    }
                }
            }
            for (k, c) in pending {
                let t = c.task().expect("a task's option") as usize;
                let mut clock = task_clock
                    .get(t)
                    .cloned()
                    .flatten()
                    .or_else(|| spawn_clock.get(&t).cloned())
                    .unwrap_or_default();
                clock.tick(t);
                let target = (c, &clock, None);
                self.reverse_events(k, k + 1, target, schedule, event_clock, killer);
            }
        }
        self.scratch = scratch;
    }

    /// Events `i` and `j` race: make sure the node before `i` will try an initial of
    /// `notdep(i).j` (the events after `i` that do not depend on it, then `j`).
    fn reverse(
        &mut self,
        i: usize,
        j: usize,
        schedule: &[Choice],
        clocks: &[Clock],
        killer: usize,
    ) {
        let target = (schedule[j], &clocks[j], Some(j));
        self.reverse_events(i, j, target, schedule, clocks, killer);
    }

    /// Event `i` disabled task `p` (its write made `p`'s guard fail) before event `k`, and `p`
    /// had not seen `i` (its clock `clock` does not include it): the operation `p` waits to
    /// run races with `i`, as two acquires of a lock do even though the release between them
    /// orders them. Make sure the node before `i` will try an initial of `notdep(i)` up to
    /// `k`, then `p`'s operation.
    #[allow(clippy::too_many_arguments)]
    fn reverse_to(
        &mut self,
        i: usize,
        k: usize,
        p: usize,
        clock: &Clock,
        schedule: &[Choice],
        clocks: &[Clock],
        killer: usize,
    ) {
        let mut clock = clock.clone();
        clock.tick(p);
        let target = (Choice::Run(p as u32), &clock, None);
        self.reverse_events(i, k, target, schedule, clocks, killer);
    }

    /// The common part of [`Dfs::reverse`] and [`Dfs::reverse_to`]: `target` is the event
    /// that races with `i` (its choice, its clock, and its index if it ran), after the events
    /// before `end`.
    fn reverse_events(
        &mut self,
        i: usize,
        end: usize,
        target: (Choice, &Clock, Option<usize>),
        schedule: &[Choice],
        clocks: &[Clock],
        killer: usize,
    ) {
        let task = |k: usize| match schedule[k] {
            Choice::Kill(_) => Some(killer),
            c => c.task().map(|t| t as usize),
        };
        let q = task(i).expect("events have tasks");
        let after_i = |k: usize| clocks[i].before(q, &clocks[k]);
        let target_task = match target.0 {
            Choice::Kill(_) => killer,
            c => c.task().expect("events have tasks") as usize,
        };
        // With a lock whose sections commute in the execution, the events after `i` to run
        // before it are those the target needs (see `Lazy::plan`), or the reversal is asked
        // for elsewhere; else those that do not depend on `i`.
        let needed = if self.lazy.words.is_empty() {
            None
        } else {
            let guarded =
                target.2.is_none() && self.stack[i].guarded & task_bit(target_task as u32) != 0;
            match self.lazy.plan(i, end, target, guarded, &task, clocks) {
                Plan::Here(events) => Some(events),
                Plan::Move(starts) => {
                    for a in starts {
                        self.reverse_events(a, end, target, schedule, clocks, killer);
                    }
                    return;
                }
                Plan::Never => return,
            }
        };
        let event = |k: usize| (task(k).expect("events have tasks"), schedule[k], &clocks[k]);
        // (task, choice, clock) of those events, then of the target.
        let v: Vec<(usize, Choice, &Clock)> = match needed {
            None => (i + 1..end)
                .filter(|&k| task(k).is_some() && !after_i(k))
                .map(event)
                .chain([(target_task, target.0, target.1)])
                .collect(),
            Some(events) => events
                .into_iter()
                .map(event)
                .chain([(target_task, target.0, target.1)])
                .collect(),
        };
        let mut initials = Vec::new();
        let mut seen = Vec::new();
        for (x, &(r, choice, clock)) in v.iter().enumerate() {
            if seen.contains(&r) {
                continue;
            }
            seen.push(r);
            let preceded = v[..x].iter().any(|&(tm, _, cm)| cm.before(tm, clock));
            if !preceded {
                initials.push(choice);
            }
        }
        // In a bounded round, which initial is taken matters: one can fit in the bound where
        // another does not, or leave fewer preemptions for what follows. So every initial is
        // asked for, at `i` and where `i`'s task's block of events began, where taking
        // another task costs no more than at `i` (Coons, Musuvathi, McKinley, "Bounded
        // partial-order reduction", OOPSLA 2013: the bound makes independent events dependent).
        if let Some(bound) = self.bound() {
            let node = &mut self.stack[i];
            for c in &initials {
                if let Some(k) = node.options.iter().position(|o| o == c) {
                    node.mark(k);
                }
            }
            if let Some(start) = self.block_start(i) {
                let node = &mut self.stack[start];
                for c in &initials {
                    // The same choice there, or its task's (a task that did not run since can
                    // only have been woken or disabled by the block).
                    let k = node.options.iter().position(|o| o == c).or_else(|| {
                        let t = c.task();
                        node.options
                            .iter()
                            .position(|o| t.is_some() && o.task() == t)
                    });
                    if let Some(k) = k.filter(|&k| node.fits(k, Some(bound))) {
                        node.mark(k);
                    }
                }
            }
        }
        let node = &mut self.stack[i];
        let index = |c: &Choice| node.options.iter().position(|o| o == c);
        // An initial explored already covers the reversal, unless the bound cut its subtree.
        if initials.iter().any(|c| {
            index(c).is_some_and(|ix| node.backtrack[ix] && !(node.done[ix] && node.tainted[ix]))
        }) {
            return;
        }
        let wanted = initials
            .iter()
            .find(|&&c| c == target.0)
            .or(initials.first())
            .copied();
        match wanted.and_then(|c| index(&c)) {
            Some(ix) => node.mark(ix),
            // The initial waits there for a guard that fails: the write that made it fail
            // races with its operation, and that race asks for the reversal where it can be
            // made (`reverse_to`).
            None if wanted
                .and_then(|c| c.task())
                .is_some_and(|t| node.guarded & task_bit(t) != 0) =>
            {
                // Unless a lock whose sections commute keeps it waiting, which orders
                // nothing: another initial that can run there, if any.
                if !self.lazy.words.is_empty() {
                    let runs =
                        |c: &&Choice| c.task().is_none_or(|t| node.guarded & task_bit(t) == 0);
                    if let Some(ix) = initials.iter().filter(runs).find_map(index) {
                        node.mark(ix);
                    }
                }
            }
            // The initial cannot run from that state (it was blocked there): try everything.
            None => node.mark_all(),
        }
    }
}

/// A vector clock: events of each task seen.
#[derive(Clone, Debug, Default)]
struct Clock(Vec<u32>);

impl Clock {
    fn get(&self, t: usize) -> u32 {
        self.0.get(t).copied().unwrap_or(0)
    }

    /// `true` if the event with this clock, by task `t`, happens before a point with clock
    /// `other`.
    fn before(&self, t: usize, other: &Clock) -> bool {
        self.get(t) <= other.get(t)
    }

    fn join(&mut self, other: &Clock) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, &b) in self.0.iter_mut().zip(&other.0) {
            *a = (*a).max(b);
        }
    }

    fn tick(&mut self, t: usize) {
        if self.0.len() <= t {
            self.0.resize(t + 1, 0);
        }
        self.0[t] += 1;
    }
}

impl Strategy for Dfs {
    fn name(&self) -> String {
        let reduction = if self.reduction { "dpor" } else { "dfs" };
        match self.rounds.last() {
            Some(Some(b)) => format!("{reduction}(preemption bound {b})"),
            _ => reduction.to_owned(),
        }
    }

    fn begin(&mut self) -> bool {
        if self.finished {
            return false;
        }
        if !self.started {
            self.started = true;
            return true;
        }
        // The round that ran the last execution moves on to its next path.
        if !self.backtrack() {
            // Over: a round its bound cut nothing in covered the whole space; the last round
            // is the largest bound.
            if !self.cut || self.round == self.rounds.len() - 1 {
                self.finished = true;
                self.complete = !self.cut;
                return false;
            }
            self.over[self.round] = true;
        }
        let next = self.next_round();
        self.activate(next);
        // The last node's choice is new (a round's first execution has none).
        self.fresh = self.stack.len().saturating_sub(1);
        true
    }

    fn pick(&mut self, options: &[Choice], ctx: &PickContext) -> Pick {
        let d = ctx.decisions;
        if d == 0 {
            self.preemptions = 0;
        }
        let chosen = if d < self.stack.len() {
            let node = &self.stack[d];
            if node.options != options {
                return Pick::Diverged;
            }
            node.chosen
        } else {
            let n = options.len();
            let value = matches!(options[0], Choice::Value(_));
            // The sleep set comes from the nearest scheduling choice above (a value choice has
            // none: its options are values, never asleep), filtered by what that choice's
            // event touched, now complete (an event ends where the next scheduling choice is
            // made; at `Granularity::Operation` it may be many steps).
            let mut node = self.spare.pop().unwrap_or_default();
            let parent = self.stack.iter().rposition(|node| !node.value);
            match parent {
                Some(p) if self.reduction && !value => {
                    let above = &self.stack[p];
                    let taken = ctx
                        .effects
                        .get(p)
                        .unwrap_or(&above.footprints[above.chosen]);
                    above.child_sleep(taken, &mut node.sleep);
                }
                _ => node.sleep.clear(),
            }
            node.footprints.clear();
            if value || ctx.footprints.len() != n {
                node.footprints.resize(n, Footprint::default());
            } else {
                node.footprints.extend_from_slice(ctx.footprints);
            }
            // A late kill (see `PickContext::late_kills`) is left to the earlier point, in
            // the unbounded round: there the earlier kill is tried too, where in a bounded one
            // it may cost a preemption more than this one.
            let late = if self.reduction && self.bound().is_none() {
                ctx.late_kills
            } else {
                0
            };
            node.options.clear();
            node.options.extend_from_slice(options);
            node.value = value;
            node.current = if value { None } else { ctx.current };
            node.preemptions = self.preemptions;
            node.chosen = 0;
            // A kill is an event that need not ever happen: no race asks for it, so it is
            // tried at every point (where the sleep set lets it: a kill asleep here is
            // equivalent to one made before).
            node.backtrack.clear();
            node.backtrack.extend(options.iter().map(|&c| match c {
                Choice::Kill(p) => late & process_bit(p) == 0,
                _ => !self.reduction || value,
            }));
            for flags in [&mut node.done, &mut node.cut, &mut node.tainted] {
                flags.clear();
                flags.resize(n, false);
            }
            node.guarded = ctx.guarded;
            node.late = late;
            node.objects = ctx.objects;
            let first = default_pick(options, ctx);
            let Some(goes_on) = std::iter::once(first)
                .chain(0..n)
                .find(|&k| !node.asleep(k))
            else {
                // Every option sleeps: whatever follows is equivalent to something explored.
                self.spare.push(node);
                return Pick::Abandon;
            };
            // A kill to explore here goes first, before the option that goes on (which is
            // explored after it, as every option asked for). Explored after that option, the
            // kill would be tried again at every node of its subtree (nothing explored there
            // yet keeps it asleep), and the kill's own subtree would find that option asleep
            // and end early, over and over; explored first, it sleeps in its siblings'
            // subtrees until an event that depends on it (`condition_waiter_killed` at 2 x 2:
            // 839,265 executions, 43 % of them ended early, before). Asleep, the kill is asked
            // for by no race, and its process may end before such an event comes; so the
            // event that ends a process races with what its kill races with (the runtime adds
            // the kill's footprint to it), and the search tries those events before the end,
            // where the kill wakes. Only in the unbounded round: in a bounded one, a kill
            // explored first and asleep after it in the subtree of the option that goes on
            // wakes at an event whose reversal may cost a preemption more than the bound
            // allows, where explored after that option it is tried at every node of its
            // subtree (a bounded round lost an outcome within bound 1 that way).
            let first_kill = (0..n).find(|&k| {
                matches!(options[k], Choice::Kill(_)) && node.backtrack[k] && !node.asleep(k)
            });
            let chosen = match first_kill {
                Some(k) if self.bound().is_none() => k,
                _ => goes_on,
            };
            node.chosen = chosen;
            node.goes_on = goes_on;
            node.mark(chosen);
            node.mark(goes_on);
            self.stack.push(node);
            chosen
        };
        self.preemptions += self.stack[d].preempts(chosen) as u32;
        Pick::Take(chosen)
    }

    fn end(&mut self, execution: &Execution) {
        if self.round == self.rounds.len() - 1 {
            self.last_runs += 1;
        }
        let keep = execution.schedule.len();
        if self.stack.len() > keep {
            self.spare.extend(self.stack.drain(keep..));
        }
        // What each chosen event touched, as it ran: the footprint a sleep set keeps for it
        // once it is explored (the announced one names only an operation's first step). The
        // nodes above the first new choice ran the same events as before.
        let fresh = self.fresh;
        for (node, effect) in self.stack.iter_mut().zip(execution.effects).skip(fresh) {
            if !node.value {
                node.footprints[node.chosen] = *effect;
            }
        }
        if self.reduction {
            self.analyze(execution);
        }
    }

    fn wants_footprints(&self) -> bool {
        self.reduction
    }

    fn footprints_from(&self) -> usize {
        // Every node on the stack has its footprints: the coming execution follows them up to
        // the last one, whose next option it takes.
        self.stack.len()
    }

    fn complete(&self) -> bool {
        self.complete
    }
}
