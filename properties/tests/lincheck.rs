//! A user's own type, declared with its model, checked on generated workloads under every
//! engine: a counter that increments with one atomic step passes; one that loads then stores
//! is caught, shrunk to the smallest workload, and its replay file repeats the failure.

use std::time::Duration;

use mpcheck::platform::{Atomic, AtomicInt, Platform};
use mpcheck::sim::{Config, Granularity, Sim};
use mpcheck_model::{Caller, Model};
use mpcheck_properties::lincheck::{self, ModelStep};
use mpcheck_properties::{
    Lincheck, LoomEngine, OsThreads, ShuttleEngine, SimEngine, Subject, Workload,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// The sequential specification: a number.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
struct CounterModel(u32);

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
enum CounterOp {
    Increment,
    Get,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
enum CounterRet {
    /// The value before the increment.
    Was(u32),
    Value(u32),
}

impl Model for CounterModel {
    type Op = CounterOp;
    type Ret = CounterRet;

    fn outcomes(&self, op: &CounterOp) -> Vec<(CounterRet, Self)> {
        match op {
            CounterOp::Increment => vec![(CounterRet::Was(self.0), CounterModel(self.0 + 1))],
            CounterOp::Get => vec![(CounterRet::Value(self.0), self.clone())],
        }
    }
}

/// The counter, generic over the platform, in memory that processes share (`P::share`);
/// `RACY`: an increment that loads, then stores.
struct Counter<P: Platform, const RACY: bool> {
    value: P::Shared<P::AtomicU32>,
}

impl<P: Platform, const RACY: bool> Subject<P> for Counter<P, RACY> {
    type Model = CounterModel;
    type Op = CounterOp;

    fn create() -> (Self, CounterModel) {
        let counter = Counter {
            value: P::share(P::AtomicU32::new(0)),
        };
        (counter, CounterModel::default())
    }

    fn operations() -> BoxedStrategy<CounterOp> {
        prop_oneof![Just(CounterOp::Increment), Just(CounterOp::Get)].boxed()
    }

    fn perform(&self, _caller: Caller, op: &CounterOp) -> Vec<ModelStep<CounterModel>> {
        use std::sync::atomic::Ordering::SeqCst;
        let ret = match op {
            CounterOp::Increment if RACY => {
                let was = self.value.load(SeqCst);
                self.value.store(was + 1, SeqCst);
                CounterRet::Was(was)
            }
            CounterOp::Increment => CounterRet::Was(self.value.fetch_add(1, SeqCst)),
            CounterOp::Get => CounterRet::Value(self.value.load(SeqCst)),
        };
        vec![(op.clone(), ret)]
    }
}

type Good<P> = Counter<P, false>;
type Racy<P> = Counter<P, true>;

#[test]
fn a_correct_counter_passes_under_every_engine() {
    let lincheck = Lincheck::new().cases(10);
    lincheck.assert::<Good<Sim>, _>(&SimEngine(Config::pct(3, 100).ignore_env()));
    lincheck
        .clone()
        .tasks(2..=2)
        .ops(1..=2)
        .assert::<Good<Sim>, _>(&SimEngine(Config::dfs().ignore_env()));
    lincheck
        .clone()
        .tasks(2..=2)
        .ops(1..=2)
        .assert::<Good<_>, _>(&LoomEngine {
            preemption_bound: Some(2),
        });
    lincheck.assert::<Good<_>, _>(&ShuttleEngine::Pct {
        iterations: 100,
        depth: 3,
        seed: 1,
    });
    lincheck.assert::<Good<_>, _>(&OsThreads { runs: 10 });
}

/// At operation granularity the recorder keeps a clock of returns per task (its returns
/// commute): the racy counter is still caught, and its replay file (which keeps the
/// granularity, and so the clocks) fails the same way.
#[test]
fn a_racy_counter_is_caught_at_operation_granularity_and_replays() {
    let dir = std::env::temp_dir().join(format!("mpcheck-lincheck-op-{}", std::process::id()));
    let config = Config::dfs()
        .ignore_env()
        .granularity(Granularity::Operation)
        .failure_dir(&dir);
    let found = Lincheck::new()
        .cases(20)
        .tasks(2..=3)
        .ops(1..=2)
        .check::<Racy<Sim>, _>(&SimEngine(config))
        .expect_err("two increments that both read 0");
    assert!(found.to_string().contains("not linearizable"), "{found}");
    let file = found.failed.file.clone().expect("a replay file");
    let replayed =
        lincheck::replay::<Racy<Sim>>(&file, found.workload.clone(), Duration::from_secs(10))
            .expect_err("the replay fails the same way");
    assert!(replayed.message().contains("not linearizable"));
    std::fs::remove_dir_all(&dir).expect("remove the replay files");
}

#[test]
fn a_racy_counter_is_caught_and_shrunk_under_the_explorers() {
    let lincheck = Lincheck::new().cases(20);
    let dir = std::env::temp_dir().join(format!("mpcheck-lincheck-{}", std::process::id()));
    let sim = SimEngine(Config::pct(3, 200).ignore_env().failure_dir(&dir));
    let found = lincheck
        .check::<Racy<Sim>, _>(&sim)
        .expect_err("two increments that both read 0");
    // The smallest failing workload: two tasks, one increment each.
    assert_eq!(
        found.workload,
        Workload::new(vec![vec![CounterOp::Increment], vec![CounterOp::Increment]]),
        "{found}"
    );
    let report = found.to_string();
    assert!(report.contains("not linearizable"), "{report}");
    assert!(report.contains("task 1: [Increment]"), "{report}");
    // The replay file repeats it.
    let file = found
        .failed
        .file
        .clone()
        .expect("the simulator writes a replay file");
    let replayed =
        lincheck::replay::<Racy<Sim>>(&file, found.workload.clone(), Duration::from_secs(10))
            .expect_err("the replay fails the same way");
    assert!(replayed.message().contains("not linearizable"));
    std::fs::remove_dir_all(&dir).expect("remove the replay files");

    for found in [
        lincheck
            .clone()
            .tasks(2..=2)
            .ops(1..=2)
            .check::<Racy<_>, _>(&LoomEngine {
                preemption_bound: Some(2),
            })
            .map(drop)
            .map_err(|found| (found.workload.len(), found.failed.message)),
        lincheck
            .check::<Racy<_>, _>(&ShuttleEngine::Random {
                iterations: 200,
                seed: 1,
            })
            .map(drop)
            .map_err(|found| (found.workload.len(), found.failed.message)),
    ] {
        let (len, message) = found.expect_err("caught");
        assert_eq!(len, 2, "{message}");
        assert!(message.contains("not linearizable"), "{message}");
    }
}

#[test]
fn a_counter_in_shared_memory_passes_across_processes() {
    Lincheck::new()
        .cases(5)
        .check_processes::<Good<mpcheck::Os>>(2)
        .unwrap_or_else(|found| panic!("{found}"));
}

/// A counter in the memory of one process: each forked task increments its own copy.
struct Private<P: Platform>(P::AtomicU32);

impl<P: Platform> Subject<P> for Private<P> {
    type Model = CounterModel;
    type Op = CounterOp;

    fn create() -> (Self, CounterModel) {
        (Private(P::AtomicU32::new(0)), CounterModel::default())
    }

    fn operations() -> BoxedStrategy<CounterOp> {
        Just(CounterOp::Increment).boxed()
    }

    fn perform(&self, _caller: Caller, op: &CounterOp) -> Vec<ModelStep<CounterModel>> {
        let was = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        vec![(op.clone(), CounterRet::Was(was))]
    }
}

#[test]
fn a_counter_in_private_memory_is_not_linearizable_across_processes() {
    let found = Lincheck::new()
        .cases(5)
        .check_processes::<Private<mpcheck::Os>>(1)
        .expect_err("every process increments its own copy");
    assert_eq!(found.workload.len(), 2, "{found}");
    assert!(found.failed.message.contains("not linearizable"), "{found}");
    // On threads it is a good counter.
    Lincheck::new()
        .cases(5)
        .assert::<Private<_>, _>(&OsThreads { runs: 2 });
}

/// A value's `update` recorded with its function (`ValueOp::Update`), which cannot be
/// serialized: across processes each task's process says so, and the report carries it.
struct UpdatedByFunction<P: Platform>(mpcheck::Value<u32, P>);

impl<P: Platform> Subject<P> for UpdatedByFunction<P> {
    type Model = mpcheck_model::ValueModel<u32>;
    type Op = ();

    fn create() -> (Self, Self::Model) {
        let value = mpcheck::Value::new(0);
        (UpdatedByFunction(value), mpcheck_model::ValueModel::new(0))
    }

    fn operations() -> BoxedStrategy<()> {
        Just(()).boxed()
    }

    fn perform(&self, _caller: Caller, _op: &()) -> Vec<ModelStep<Self::Model>> {
        use mpcheck_model::shared::{ValueOp, ValueRet};
        fn add_one(n: &u32) -> u32 {
            n + 1
        }
        let old = self
            .0
            .update(|n| std::mem::replace(n, *n + 1))
            .expect("locked");
        vec![(ValueOp::Update(add_one), ValueRet::Updated(old))]
    }
}

#[test]
fn an_operation_that_cannot_be_sent_back_is_reported() {
    let found = Lincheck::new()
        .cases(1)
        .check_processes::<UpdatedByFunction<mpcheck::Os>>(1)
        .expect_err("the update cannot be serialized");
    assert!(
        found
            .failed
            .message
            .contains("could not send its operations back"),
        "{found}"
    );
}
