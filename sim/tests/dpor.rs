//! Partial-order reduction must not lose behaviours: on generated programs, the outcomes that
//! DFS with reduction reaches are exactly those that plain DFS (every interleaving) reaches.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use mpcheck_sim::{explore, futex_wait, futex_wake, spawn, AtomicU32, Config, Report};

#[derive(Clone, Copy, Debug)]
enum Instr {
    Load(usize),
    Store(usize, u32),
    Add(usize),
    Cas(usize, u32, u32),
    /// Wait while the word is 0 (bounded by a timeout-free futex wait of one round).
    WaitNonZero(usize),
    Wake(usize),
}

/// A small deterministic generator (SplitMix64), so the test needs no dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn program(seed: u64, tasks: usize, len: usize, objects: usize, futex: bool) -> Vec<Vec<Instr>> {
    let mut g = Gen(seed);
    (0..tasks)
        .map(|_| {
            (0..len)
                .map(|_| {
                    let o = g.below(objects as u64) as usize;
                    match g.below(if futex { 6 } else { 4 }) {
                        0 => Instr::Load(o),
                        1 => Instr::Store(o, g.below(3) as u32),
                        2 => Instr::Add(o),
                        3 => Instr::Cas(o, g.below(2) as u32, 1 + g.below(2) as u32),
                        4 => Instr::WaitNonZero(o),
                        _ => Instr::Wake(o),
                    }
                })
                .collect()
        })
        .collect()
}

fn run(objects: &[AtomicU32], code: &[Instr]) -> Vec<u32> {
    let mut seen = Vec::new();
    for &i in code {
        match i {
            Instr::Load(o) => seen.push(objects[o].load(SeqCst)),
            Instr::Store(o, v) => objects[o].store(v, SeqCst),
            Instr::Add(o) => seen.push(objects[o].fetch_add(1, SeqCst)),
            Instr::Cas(o, a, b) => {
                seen.push(match objects[o].compare_exchange(a, b, SeqCst, SeqCst) {
                    Ok(v) | Err(v) => v + 100,
                })
            }
            // One wait, no loop: whether it slept and was woken, or never slept, is an outcome.
            Instr::WaitNonZero(o) => seen.push(futex_wait(&objects[o], 0, Some(1_000)) as u32),
            Instr::Wake(o) => seen.push(futex_wake(&objects[o], 1)),
        }
    }
    seen
}

type Outcomes = Rc<RefCell<BTreeSet<Vec<Vec<u32>>>>>;

fn outcomes(
    config: Config,
    code: &[Vec<Instr>],
    objects: usize,
) -> (BTreeSet<Vec<Vec<u32>>>, Report) {
    let set: Outcomes = Rc::default();
    let sink = set.clone();
    let code: Arc<Vec<Vec<Instr>>> = Arc::new(code.to_vec());
    // The closure is only ever called on this thread; `Rc` is fine.
    let sink = std::sync::Mutex::new(Some(sink));
    let store = Rc::new(sink);
    let store2 = store.clone();
    let report = explore(config.no_files(), move || {
        let objs: Arc<Vec<AtomicU32>> = Arc::new((0..objects).map(|_| AtomicU32::new(0)).collect());
        let handles: Vec<_> = code[1..]
            .iter()
            .map(|c| {
                let (objs, c) = (objs.clone(), c.clone());
                spawn(move || run(&objs, &c))
            })
            .collect();
        let mut all = vec![run(&objs, &code[0])];
        all.extend(handles.into_iter().map(|h| h.join()));
        all.push(objs.iter().map(|o| o.load(SeqCst)).collect());
        let guard = store2.lock().unwrap();
        guard.as_ref().unwrap().borrow_mut().insert(all);
    })
    .expect("generated programs do not fail");
    drop(store);
    let result = set.borrow().clone();
    (result, report)
}

/// How many generated programs a test checks: `default`, or `MPCHECK_DPOR_SEEDS` for a longer
/// run (`MPCHECK_DPOR_SEEDS=2000 cargo test --release -p mpcheck-sim --test dpor`).
fn seeds(default: u64) -> u64 {
    std::env::var("MPCHECK_DPOR_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn compare(seed: u64, tasks: usize, len: usize, objects: usize, futex: bool) -> (u64, u64) {
    compare_with(seed, tasks, len, objects, futex, 0)
}

fn compare_with(
    seed: u64,
    tasks: usize,
    len: usize,
    objects: usize,
    futex: bool,
    spurious: u32,
) -> (u64, u64) {
    let code = program(seed, tasks, len, objects, futex);
    let config = || Config::dfs().spurious_wakeups(spurious);
    let (plain, plain_report) = outcomes(config().reduction(false), &code, objects);
    let (reduced, reduced_report) = outcomes(config(), &code, objects);
    assert!(plain_report.complete() && reduced_report.complete());
    assert_eq!(
        plain, reduced,
        "seed {seed}: reduction lost or invented outcomes for {code:?}"
    );
    (plain_report.executions(), reduced_report.executions())
}

#[test]
fn reduction_keeps_every_outcome_of_atomic_programs() {
    let (mut plain, mut reduced) = (0, 0);
    for seed in 0..seeds(60) {
        let (p, r) = compare(seed, 2 + (seed % 2) as usize, 3, 2, false);
        plain += p;
        reduced += r;
    }
    assert!(reduced < plain, "{reduced} vs {plain}");
}

#[test]
fn reduction_keeps_every_outcome_of_futex_programs() {
    for seed in 1000..1000 + seeds(60) {
        compare(seed, 2 + (seed % 2) as usize, 3, 2, true);
    }
}

#[test]
fn reduction_keeps_every_outcome_with_spurious_wakeups() {
    for seed in 2000..2000 + seeds(40) {
        compare_with(seed, 2 + (seed % 2) as usize, 3, 2, true, 1);
    }
}
