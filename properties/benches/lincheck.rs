//! The linearizability checker and `Lincheck` measured (issue 14).
//!
//! Run with `cargo bench -p mpcheck-properties --bench lincheck` (about a minute); results are
//! in docs/PERFORMANCE.md. A plain `fn main` that prints two tables:
//!
//! - `checker`: the time to check one recorded queue history (`Queue<u32>` of 4 places, each
//!   task a seeded mix of `try_put` and `try_get`, recorded under a random walk of the
//!   simulator, so the histories are the same on every machine), by size (tasks × operations),
//!   the median of 9 checks (one, if it runs out of its 20 s budget and answers Unknown).
//! - `engines`: the same `Lincheck` (a lock's `Subject`-style counter: 20 workloads of 2–3
//!   tasks × 1–3 operations, the checker after every execution) under the simulator's PCT, and
//!   shuttle's PCT, 200 executions per workload each; and on 20 workloads of 2 tasks × 1–2
//!   operations, the simulator's exhaustive search against loom's (complete, and with
//!   preemption bound 2): wall time and time per workload.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpcheck::platform::{Atomic, AtomicInt, Platform};
use mpcheck::sim::{self, Config, Sim};
use mpcheck::{Error, Queue};
use mpcheck_model::queue::{QueueOp, QueueRet};
use mpcheck_model::{Caller, ErrorKind, Model, QueueModel, Wait};
use mpcheck_properties::lincheck::ModelStep;
use mpcheck_properties::{
    check, History, Lincheck, LoomEngine, Recorder, ShuttleEngine, SimEngine, Subject,
};
use proptest::prelude::*;

/// A queue history of `tasks` × `ops`, recorded under the simulator's random walk `seed`.
fn queue_history(tasks: u32, ops: u32, seed: u64) -> History<QueueModel<u32>> {
    let out = Arc::new(Mutex::new(None));
    let program = {
        let out = Arc::clone(&out);
        move || {
            let queue = Queue::<u32, Sim>::bounded(4).expect("a queue of 4");
            let recorder = Recorder::<QueueModel<u32>, Sim>::new();
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let (queue, recorder) = (queue.clone(), recorder.clone());
                    mpcheck::thread::spawn::<Sim, _, _>(move || {
                        for i in 0..ops {
                            if (i + t) % 2 == 0 {
                                let item = t * 1_000 + i;
                                let me = Caller::new(0, t);
                                recorder.record_with(t, || {
                                    let steps = match queue.try_put(item) {
                                        Ok(()) => vec![
                                            (
                                                QueueOp::Reserve(me, item, Wait::Bounded),
                                                QueueRet::Done,
                                            ),
                                            (QueueOp::Publish(me, item), QueueRet::Done),
                                        ],
                                        Err(Error::Full { .. }) => vec![(
                                            QueueOp::Reserve(me, item, Wait::Bounded),
                                            QueueRet::Err(ErrorKind::Full),
                                        )],
                                        Err(e) => panic!("try_put: {e}"),
                                    };
                                    ((), steps)
                                });
                            } else {
                                recorder.record(t, QueueOp::Get(Wait::Bounded), || {
                                    match queue.try_get() {
                                        Ok(item) => ((), QueueRet::Got(item)),
                                        Err(Error::Empty) => ((), QueueRet::Err(ErrorKind::Empty)),
                                        Err(e) => panic!("try_get: {e}"),
                                    }
                                });
                            }
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().expect("a task returns");
            }
            *out.lock().unwrap() = Some(recorder.history());
        }
    };
    sim::explore(Config::random(1).seed(seed).ignore_env(), program).expect("a run");
    let history = out.lock().unwrap().take().expect("recorded");
    history
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn checker() {
    println!("checker: one recorded queue history (Queue<u32> of 4), median of 9 checks");
    println!("| tasks × ops | operations in the history | verdict | median check |");
    println!("|---|---|---|---|");
    for (tasks, ops) in [(3, 10), (3, 30), (4, 50), (6, 50), (8, 100)] {
        let history = queue_history(tasks, ops, 7);
        let model = QueueModel::<u32>::bounded(4);
        let mut verdict = String::new();
        // Nine checks, or one if it runs out of its budget (a longer wait measures nothing).
        let mut samples = Vec::new();
        for _ in 0..9 {
            let start = Instant::now();
            let result = check(&model, &history, BUDGET);
            samples.push(start.elapsed());
            verdict = match result {
                mpcheck_properties::Verdict::Linearizable(_) => "linearizable".into(),
                mpcheck_properties::Verdict::NotLinearizable(_) => "NOT linearizable".into(),
                mpcheck_properties::Verdict::Unknown => {
                    format!("unknown after the {} s budget", BUDGET.as_secs())
                }
            };
            if verdict.starts_with("unknown") {
                break;
            }
        }
        println!(
            "| {tasks} × {ops} | {} | {verdict} | {:.3} ms |",
            history.len(),
            median(samples).as_secs_f64() * 1e3
        );
    }
}

/// The checker's budget per history in the `checker` table.
const BUDGET: Duration = Duration::from_secs(20);

/// A counter on a platform atomic.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
struct CounterModel(u32);

impl Model for CounterModel {
    type Op = bool;
    type Ret = u32;

    /// `true`: increment, returning the old value; `false`: read.
    fn outcomes(&self, increment: &bool) -> Vec<(u32, Self)> {
        if *increment {
            vec![(self.0, CounterModel(self.0 + 1))]
        } else {
            vec![(self.0, self.clone())]
        }
    }
}

struct Counter<P: Platform>(P::AtomicU32);

impl<P: Platform> Subject<P> for Counter<P> {
    type Model = CounterModel;
    type Op = bool;

    fn create() -> (Self, CounterModel) {
        (Counter(P::AtomicU32::new(0)), CounterModel::default())
    }

    fn operations() -> BoxedStrategy<bool> {
        any::<bool>().boxed()
    }

    fn perform(&self, _caller: Caller, increment: &bool) -> Vec<ModelStep<CounterModel>> {
        use std::sync::atomic::Ordering::SeqCst;
        let ret = if *increment {
            self.0.fetch_add(1, SeqCst)
        } else {
            self.0.load(SeqCst)
        };
        vec![(*increment, ret)]
    }
}

fn engines() {
    println!();
    println!("engines: one Lincheck (20 workloads of 2-3 tasks × 1-3 ops, a counter), median of 3");
    println!("| engine | executions per workload | wall | per workload |");
    println!("|---|---|---|---|");
    let lincheck = Lincheck::new().cases(20);
    let row = |name: &str, per: &str, run: &dyn Fn()| {
        let samples = (0..3)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed()
            })
            .collect();
        let took = median(samples);
        println!(
            "| {name} | {per} | {:.1} ms | {:.2} ms |",
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e3 / 20.0
        );
    };
    row("sim pct(3)", "200", &|| {
        lincheck.assert::<Counter<Sim>, _>(&SimEngine(Config::pct(3, 200).ignore_env()));
    });
    row("shuttle pct(3)", "200", &|| {
        lincheck.assert::<Counter<_>, _>(&ShuttleEngine::Pct {
            iterations: 200,
            depth: 3,
            seed: 1,
        });
    });
    // Exhaustive search takes small workloads (2 tasks × 1-2 operations): at 3 × 3 on one
    // counter word every order of 27 conflicting accesses (the call and return stamps too) is a
    // trace of its own, which no search covers in minutes (issue 15).
    let small = Lincheck::new().cases(20).tasks(2..=2).ops(1..=2);
    row("sim dfs (2 × 1-2)", "all", &|| {
        small.assert::<Counter<Sim>, _>(&SimEngine(Config::dfs().ignore_env()));
    });
    row("loom (2 × 1-2)", "all", &|| {
        small.assert::<Counter<_>, _>(&LoomEngine {
            preemption_bound: None,
        });
    });
    row(
        "loom, preemption bound 2 (2 × 1-2)",
        "all (bounded)",
        &|| {
            small.assert::<Counter<_>, _>(&LoomEngine {
                preemption_bound: Some(2),
            });
        },
    );
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("checker") {
        checker();
    }
    if wanted("engines") {
        engines();
    }
}
