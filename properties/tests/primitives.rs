//! Every primitive, as its `Subject` in `mpcheck_properties::primitives`, checked for
//! linearizability on generated workloads under every engine: the simulator's PCT and its
//! exhaustive search (small workloads), loom, shuttle's PCT, real threads and real processes
//! (a task per forked process). One generic test
//! function per engine configuration, instantiated per primitive by `primitives!`.
//!
//! Every engine is seeded (real threads excepted, whose interleavings are the machine's) and
//! no test sleeps: timed calls give up on the engine's clock (virtual under the explorers;
//! under the simulator only when nothing else can happen, `Timeouts::WhenIdle`).

use mpcheck::loom::Loom;
use mpcheck::shuttle::Shuttle;
use mpcheck::sim::{self, Config, Sim, Timeouts};
use mpcheck::{BoundedSemaphore, JoinableQueue, Os, Queue, Semaphore};
use mpcheck_properties::primitives::{
    ArraySubject, BarrierSubject, ConditionSubject, EventSubject, LockSubject, PipeSubject,
    QueueSubject, RLockSubject, SemaphoreSubject, SimpleQueueSubject, ValueSubject,
};
use mpcheck_properties::{
    lincheck, Lincheck, LoomEngine, OsThreads, ShuttleEngine, SimEngine, Subject, Workload,
};

/// Workloads of 2 or 3 tasks, 1 to 3 operations each.
fn sampled() -> Lincheck {
    Lincheck::new().tasks(2..=3).ops(1..=3).cases(8)
}

/// Workloads an exhaustive search covers quickly: 2 tasks, 1 or 2 operations each.
fn small() -> Lincheck {
    Lincheck::new().tasks(2..=2).ops(1..=2).cases(6)
}

/// The simulator's PCT (depth 3), timed waits giving up only when nothing else can happen.
fn sim_pct<S: Subject<Sim>>() {
    let config = Config::pct(3, 100)
        .granularity(mpcheck::sim::Granularity::Step)
        .timeouts(Timeouts::WhenIdle)
        .ignore_env();
    sampled().assert::<S, _>(&SimEngine(config));
}

/// The simulator's exhaustive search of small workloads, up to one preemption (timeouts when
/// idle), at most 1,000 executions per workload.
fn sim_dfs<S: Subject<Sim>>() {
    let config = Config::dfs()
        .granularity(mpcheck::sim::Granularity::Step)
        .preemption_bound(1)
        .iterations(1_000)
        .ignore_env();
    small().assert::<S, _>(&SimEngine(config));
}

/// loom's search of small workloads, up to 2 preemptions.
fn loom<S: Subject<Loom>>() {
    small().assert::<S, _>(&LoomEngine {
        preemption_bound: Some(2),
    });
}

/// shuttle's PCT scheduler (depth 3), seeded.
fn shuttle<S: Subject<Shuttle>>() {
    sampled().assert::<S, _>(&ShuttleEngine::Pct {
        iterations: 100,
        depth: 3,
        seed: 1,
    });
}

/// Real threads: each workload run a few times.
fn os<S: Subject<Os>>() {
    sampled().assert::<S, _>(&OsThreads { runs: 3 });
}

/// Real processes: each task of a workload forked from the checking process (the primitive
/// lives in shared memory), each workload run twice.
fn processes<S>()
where
    S: Subject<Os>,
    lincheck::ModelStep<S::Model>: serde::Serialize + serde::de::DeserializeOwned,
{
    sampled()
        .check_processes::<S>(2)
        .unwrap_or_else(|found| panic!("{found}"));
}

/// The platform each engine's test runs on.
macro_rules! platform {
    (sim_pct) => {
        Sim
    };
    (sim_dfs) => {
        Sim
    };
    (loom) => {
        Loom
    };
    (shuttle) => {
        Shuttle
    };
    (os) => {
        Os
    };
    (processes) => {
        Os
    };
}

/// A module per primitive, with a test per engine (`$p` names the platform in the subject's
/// type): every engine, or the `run` list, and the `ignore` list ignored with a reason.
macro_rules! primitives {
    ($($name:ident: $p:ident => $subject:ty
        $(, run [$($engine:ident),*], ignore [$($ignored:ident),*] = $why:literal)?;)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                primitives!(@tests $p => $subject
                    $(, [$($engine),*], [$($ignored),*] = $why)?);
            }
        )*
    };
    (@tests $p:ident => $subject:ty) => {
        primitives!(@tests $p => $subject, [sim_pct, sim_dfs, loom, shuttle, os, processes], [] = "");
    };
    (@tests $p:ident => $subject:ty, [$($engine:ident),*], [$($ignored:ident),*] = $why:literal) => {
        $(
            #[test]
            fn $engine() {
                type $p = platform!($engine);
                super::$engine::<$subject>();
            }
        )*
        $(
            #[test]
            #[ignore = $why]
            fn $ignored() {
                type $p = platform!($ignored);
                super::$ignored::<$subject>();
            }
        )*
    };
}

primitives! {
    lock: P => LockSubject<P>;
    rlock: P => RLockSubject<P>;
    semaphore: P => SemaphoreSubject<Semaphore<P>>;
    bounded_semaphore: P => SemaphoreSubject<BoundedSemaphore<P>>;
    event: P => EventSubject<P>;
    condition: P => ConditionSubject<P>;
    barrier: P => BarrierSubject<P>;
    queue: P => QueueSubject<Queue<u8, P>>;
    bounded_queue: P => QueueSubject<Queue<u8, P>, 1>;
    simple_queue: P => SimpleQueueSubject<P>;
    joinable_queue: P => QueueSubject<JoinableQueue<u8, P>, 2>;
    duplex_pipe: P => PipeSubject<P, true>,
        run [sim_pct, sim_dfs, loom, shuttle], ignore [os, processes] =
            "on Os a close takes effect for the peer only once every call in flight on the closed \
             end (a poll waiting up to 10 ms) has returned (src/platform/os_pipe.rs); the pipe's \
             model has no step for that, so a send to the end meanwhile succeeds where the model \
             says BrokenPipe: found by the Os rows of the linearizability properties";
    one_way_pipe: P => PipeSubject<P, false>,
        run [sim_pct, sim_dfs, loom, shuttle], ignore [os, processes] =
            "on Os a close takes effect for the peer only once every call in flight on the closed \
             end (a poll waiting up to 10 ms) has returned (src/platform/os_pipe.rs); the pipe's \
             model has no step for that, so a send to the end meanwhile succeeds where the model \
             says BrokenPipe: found by the Os rows of the linearizability properties";
    value: P => ValueSubject<P>;
    array: P => ArraySubject<P>;
}

/// A workload checked once under the simulator with `config`, as `Lincheck` runs it.
fn replay_workload<S: Subject<Sim>>(config: Config, workload: Workload<S::Op>) {
    let budget = std::time::Duration::from_secs(10);
    if let Err(failure) = sim::explore(config.ignore_env().no_files(), move || {
        lincheck::run::<Sim, S>(&workload, budget)
    }) {
        panic!("{failure}");
    }
}

/// A workload checked under loom's search up to 2 preemptions, as `Lincheck` runs it.
fn replay_workload_under_loom<S: Subject<Loom>>(workload: Workload<S::Op>) {
    use mpcheck_properties::Engine;
    let budget = std::time::Duration::from_secs(10);
    let program = std::sync::Arc::new(move || lincheck::run::<Loom, S>(&workload, budget));
    let engine = LoomEngine {
        preemption_bound: Some(2),
    };
    if let Err(failure) = engine.explore(program, false) {
        panic!("{}", failure.message);
    }
}

/// A duplex pipe's workload replayed under the simulator's exhaustive search (step
/// granularity, timeouts when idle) and under loom's search, whose pipe is another
/// implementation (`EmulatedPipeEnd`, a lock per direction).
fn replay_pipe_workload_under_sim_and_loom(
    workload: fn() -> Workload<mpcheck_properties::primitives::PipeCall>,
) {
    replay_workload::<PipeSubject<Sim, true>>(
        Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .timeouts(Timeouts::WhenIdle),
        workload(),
    );
    replay_workload_under_loom::<PipeSubject<Loom, true>>(workload());
}

/// Fixed bug (src/queue/ring.rs, `Ring::put`): on a queue bounded to 1, two `try_put`s. One
/// claimed the tail's slot; the other found the claim (`Blocked::Busy`) and, if the first had
/// filled the queue and moved the tail before it looked again, slept on `not_full` with no
/// deadline until there was room: the `try_put` never returned (nobody gets). `put_timeout`
/// did the same, ignoring its timeout. On `Os` the liveness poll (20 ms) woke it, so it
/// returned `Full` after a sleep it should not have taken; under the simulator and loom it was
/// a deadlock. Found by `bounded_queue::sim_dfs` and `bounded_queue::loom`; a waiter for a
/// claim now waits only for the claim to go.
#[test]
fn try_put_meeting_a_claim_on_a_full_queue_returns() {
    use mpcheck_properties::primitives::{Attempt, QueueCall};
    let put = QueueCall::Put(1, Attempt::Try);
    replay_workload::<QueueSubject<Queue<u8, Sim>, 1>>(
        Config::dfs().granularity(mpcheck::sim::Granularity::Step),
        Workload::new(vec![vec![put], vec![put]]),
    );
}

/// Fixed bug (src/queue/ring.rs, `Ring::get_with`), the getters' side of the one above: a
/// `get_timeout` that found another getter's claim of the last item slept with no deadline
/// until an item was published, if the claimant had moved the head before it looked again.
/// Found by Lincheck under the simulator's PCT (on the `queue_stale_qsize` mutant, which wraps
/// the real queue); here every interleaving of the shrunk workload with up to 2 preemptions (the bug needs 2).
#[test]
fn get_meeting_a_claim_of_the_last_item_returns() {
    use mpcheck_properties::primitives::{Attempt, QueueCall};
    replay_workload::<QueueSubject<Queue<u8, Sim>>>(
        Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .preemption_bound(2)
            .timeouts(Timeouts::WhenIdle),
        Workload::new(vec![
            vec![QueueCall::Get(Attempt::Timeout)],
            vec![
                QueueCall::Put(1, Attempt::Try),
                QueueCall::Get(Attempt::Try),
            ],
        ]),
    );
}

/// Fixed bug (src/pipe.rs, `Connection::send_bytes`, and the platforms' `PipeEnd::close`):
/// `close` on a duplex end set the connection's `closed` flag, then closed the end's two
/// directions one step at a time; `send_bytes` did not look at the flag (`poll` and `recv` did).
/// Task 0's send on the peer `A` was refused with `BrokenPipe` (the close had let go of the
/// direction `B` reads), and then its send on the closing end `B` succeeded (the direction `B`
/// writes was not closed yet): no order of the close and the two sends explains that. Found by
/// `duplex_pipe::sim_pct` and `duplex_pipe::shuttle`. A send on a closed end is now refused
/// with `Closed`, as `recv` and `poll` are (CPython: "handle is closed"); and since the peer
/// could also see half a close the other way (its send refused, then a `poll` finding nothing
/// and no end of file yet), a duplex end's close is now atomic for its peer: it lets go of
/// the direction it reads first, and the peer's `poll` is ready from then on (the emulated
/// pipes and `Os`'s pairs of kernel pipes; loom's lock-based pipe closes both directions
/// under both locks).
#[test]
fn send_on_a_duplex_end_being_closed_is_refused_once_the_peer_saw_the_close() {
    use mpcheck_model::pipe::End;
    use mpcheck_properties::primitives::PipeCall;
    replay_workload::<PipeSubject<Sim, true>>(
        Config::pct(3, 100)
            .granularity(mpcheck::sim::Granularity::Step)
            .timeouts(Timeouts::WhenIdle),
        Workload::new(vec![
            vec![PipeCall::Send(End::A, 1), PipeCall::Send(End::B, 1)],
            vec![PipeCall::Close(End::B)],
        ]),
    );
}

/// Fixed bug (src/pipe.rs, `Connection::close`), a third of the family above, found by
/// `duplex_pipe::sim_pct` once PCT drew its change points where they matter (issue 15): `close`
/// sets the connection's flag, then closes the platform end. Task 0's send on the closing end
/// `A` found the flag and was refused (`Closed`), and then its send on the peer `B` succeeded
/// (the platform end was not closed yet): the close came before the first send and not before
/// the second. An operation that finds the flag now finishes the close (idempotent) before it
/// is refused, so the peer sees the close before anyone is refused. Under loom's pipe too, whose
/// `close` set its own flag before taking the locks that make it one step for the peer.
#[test]
fn a_send_refused_on_a_closing_end_is_followed_by_a_broken_pipe_on_its_peer() {
    use mpcheck_model::pipe::End;
    use mpcheck_properties::primitives::PipeCall;
    replay_pipe_workload_under_sim_and_loom(|| {
        Workload::new(vec![
            vec![PipeCall::Send(End::A, 1), PipeCall::Send(End::B, 1)],
            vec![PipeCall::Close(End::A)],
        ])
    });
}

/// Fixed bug (src/platform/kernel_pipe.rs, `SteppedPipeEnd::poll`), found while stressing the
/// fix above with more seeds: a `poll` on `B` waited through both ends' closes (`B`'s, then
/// `A`'s), gave up at its deadline, saw the peer closing and answered ready, though `B` itself
/// was closed by then (`Closed`). A `poll` that answers ready because the peer is closing now
/// looks again at its own end.
#[test]
fn poll_through_both_closes_is_refused() {
    use mpcheck_model::pipe::End;
    use mpcheck_properties::primitives::{Attempt, PipeCall};
    replay_pipe_workload_under_sim_and_loom(|| {
        Workload::new(vec![
            vec![PipeCall::Close(End::B), PipeCall::Close(End::A)],
            vec![PipeCall::Receive(End::B, Attempt::Try)],
        ])
    });
}

/// Fixed bug (src/platform/kernel_pipe.rs, `SteppedPipeEnd::write`), found with the one above:
/// a send on `A` in flight while `A` closed; its peer `B` sent (refused, `BrokenPipe`: `A`'s
/// close had begun) and closed; then the send on `A` was refused with `BrokenPipe` too — but
/// `B` closed after `A`, so the send must have met `A` closed (`Closed`). The write looked only
/// at the direction it writes, whose writer `A`'s close lets go of in its second step; a broken
/// pipe now looks at the end's own reading direction (its close's first step) before it stands.
#[test]
fn a_send_on_a_closing_end_is_not_a_broken_pipe_when_its_peer_closed_later() {
    use mpcheck_model::pipe::End;
    use mpcheck_properties::primitives::PipeCall;
    replay_workload::<PipeSubject<Sim, true>>(
        Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .preemption_bound(3)
            .timeouts(Timeouts::WhenIdle),
        Workload::new(vec![
            vec![PipeCall::Close(End::A)],
            vec![PipeCall::Send(End::A, 1)],
            vec![PipeCall::Send(End::B, 1), PipeCall::Close(End::B)],
        ]),
    );
}

/// Fixed bug (src/platform/kernel_pipe.rs, `SteppedPipeEnd`), the other half of the one above:
/// with sends on a closing end refused, a peer could still see half a close. Task 0's send on
/// `A` was refused with `BrokenPipe` (the close of `B` had let go of the direction `B` reads),
/// and then its `poll(Some(ZERO))` on `A` found nothing and no end of file (the direction `B`
/// writes was not closed yet): after the close a poll is ready. The peer's `poll` that finds
/// nothing now looks at the direction it writes: no reader there is a close under way. Under
/// loom too, whose pipe closed its two directions under one lock after the other.
#[test]
fn poll_on_the_peer_of_a_duplex_end_being_closed_is_ready_once_its_send_was_refused() {
    use mpcheck_model::pipe::End;
    use mpcheck_properties::primitives::{Attempt, PipeCall};
    // loom's pipe (`EmulatedPipeEnd`, a lock per direction) closes under both locks.
    replay_pipe_workload_under_sim_and_loom(|| {
        Workload::new(vec![
            vec![
                PipeCall::Send(End::A, 1),
                PipeCall::Receive(End::A, Attempt::Try),
            ],
            vec![PipeCall::Close(End::B)],
        ])
    });
}
