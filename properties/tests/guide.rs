//! The example of docs/guide.md, compiled and run: a user's own concurrent type, written once
//! over `Platform`, its sequential model, and the check that its histories are linearizable
//! under the simulator and on real threads. Keep the two in step.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use mpcheck::platform::{Atomic, AtomicInt, Platform};
use mpcheck::sim::{self, Config, Sim};
use mpcheck::Os;
use mpcheck_model::Caller;
use mpcheck_model::Model;
use mpcheck_properties::lincheck::ModelStep;
use mpcheck_properties::{
    check, Lincheck, LoomEngine, OsThreads, Recorder, ShuttleEngine, SimEngine, Subject, Verdict,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

// --- the user's type: a counter of hits, generic over the platform -----------------------

/// Counts hits; `take` returns the count and starts again from 0. Cloning shares it.
struct Hits<P: Platform> {
    count: P::Shared<P::AtomicU64>,
}

impl<P: Platform> Clone for Hits<P> {
    fn clone(&self) -> Self {
        Hits {
            count: self.count.clone(),
        }
    }
}

impl<P: Platform> Hits<P> {
    fn new() -> Self {
        Hits {
            count: P::share(P::AtomicU64::new(0)),
        }
    }

    fn hit(&self) {
        self.count.fetch_add(1, SeqCst);
    }

    fn take(&self) -> u64 {
        self.count.swap(0, SeqCst)
    }
}

// --- its sequential model ----------------------------------------------------------------

/// The model: the count.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
struct HitsModel(u64);

#[derive(Clone, Debug, Serialize, Deserialize)]
enum HitsOp {
    Hit,
    Take,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
enum HitsRet {
    Done,
    Took(u64),
}

impl Model for HitsModel {
    type Op = HitsOp;
    type Ret = HitsRet;

    fn outcomes(&self, op: &HitsOp) -> Vec<(HitsRet, Self)> {
        match op {
            HitsOp::Hit => vec![(HitsRet::Done, HitsModel(self.0 + 1))],
            HitsOp::Take => vec![(HitsRet::Took(self.0), HitsModel(0))],
        }
    }
}

// --- the scenario: tasks hit and take, recorded, then checked ------------------------------

fn scenario<P: Platform>(tasks: u32) {
    let hits = Hits::<P>::new();
    let recorder = Recorder::<HitsModel, P>::new();
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            let (hits, recorder) = (hits.clone(), recorder.clone());
            mpcheck::thread::spawn::<P, _, _>(move || {
                recorder.record(task, HitsOp::Hit, || (hits.hit(), HitsRet::Done));
                recorder.record(task, HitsOp::Take, || {
                    let n = hits.take();
                    (n, HitsRet::Took(n))
                });
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    match check(
        &HitsModel::default(),
        &recorder.history(),
        Duration::from_secs(10),
    ) {
        Verdict::Linearizable(_) => {}
        Verdict::NotLinearizable(counterexample) => panic!("not linearizable:\n{counterexample}"),
        Verdict::Unknown => panic!("the check ran out of time"),
    }
}

#[test]
fn hits_are_linearizable_under_the_simulator() {
    // Every interleaving of 2 tasks × 2 operations (with partial-order reduction).
    let report = sim::check(Config::dfs(), || scenario::<Sim>(2));
    assert!(report.complete());
    // And 3 tasks, sampled: PCT.
    sim::check(Config::pct(3, 1_000), || scenario::<Sim>(3));
}

#[test]
fn hits_are_linearizable_on_real_threads() {
    for _ in 0..100 {
        scenario::<Os>(3);
    }
}

/// The same type with `take` written as a load and a store: a hit between them is lost, and
/// the check says where.
#[test]
fn a_take_that_loses_hits_is_caught() {
    fn lossy<P: Platform>(hits: &Hits<P>) -> u64 {
        let n = hits.count.load(SeqCst);
        hits.count.store(0, SeqCst);
        n
    }
    let failure = sim::explore(Config::dfs().ignore_env(), || {
        let hits = Hits::<Sim>::new();
        let recorder = Recorder::<HitsModel, Sim>::new();
        let taker = {
            let (hits, recorder) = (hits.clone(), recorder.clone());
            mpcheck::thread::spawn::<Sim, _, _>(move || {
                recorder.record(0, HitsOp::Take, || {
                    let n = lossy(&hits);
                    (n, HitsRet::Took(n))
                });
            })
        };
        recorder.record(1, HitsOp::Hit, || (hits.hit(), HitsRet::Done));
        taker.join().unwrap();
        recorder.record(1, HitsOp::Take, || {
            let n = hits.take();
            (n, HitsRet::Took(n))
        });
        let verdict = check(
            &HitsModel::default(),
            &recorder.history(),
            Duration::from_secs(10),
        );
        if let Verdict::NotLinearizable(counterexample) = verdict {
            panic!("not linearizable:\n{counterexample}");
        }
    })
    .expect_err("the lost hit is found");
    assert!(
        failure.message().contains("not linearizable"),
        "{}",
        failure.message()
    );
}

// --- generated workloads: the type declared as a Lincheck `Subject` ---------------------------

impl<P: Platform> Subject<P> for Hits<P> {
    type Model = HitsModel;
    type Op = HitsOp;

    fn create() -> (Self, HitsModel) {
        (Hits::new(), HitsModel::default())
    }

    fn operations() -> BoxedStrategy<HitsOp> {
        prop_oneof![Just(HitsOp::Hit), Just(HitsOp::Take)].boxed()
    }

    fn perform(&self, _caller: Caller, op: &HitsOp) -> Vec<ModelStep<HitsModel>> {
        let ret = match op {
            HitsOp::Hit => {
                self.hit();
                HitsRet::Done
            }
            HitsOp::Take => HitsRet::Took(self.take()),
        };
        vec![(op.clone(), ret)]
    }
}

#[test]
fn hits_are_linearizable_on_generated_workloads_under_every_engine() {
    let lincheck = Lincheck::new().tasks(2..=3).ops(1..=3).cases(10);
    lincheck.assert::<Hits<_>, _>(&SimEngine(Config::pct(3, 200)));
    Lincheck::new()
        .tasks(2..=2)
        .ops(1..=2)
        .cases(10)
        .assert::<Hits<_>, _>(&SimEngine(Config::dfs()));
    lincheck.assert::<Hits<_>, _>(&LoomEngine {
        preemption_bound: Some(2),
    });
    lincheck.assert::<Hits<_>, _>(&ShuttleEngine::Pct {
        iterations: 200,
        depth: 3,
        seed: 1,
    });
    lincheck.assert::<Hits<_>, _>(&OsThreads { runs: 10 });
    // A task per process (forked), the count in shared memory.
    lincheck
        .check_processes::<Hits<Os>>(2)
        .unwrap_or_else(|found| panic!("{found}"));
}
