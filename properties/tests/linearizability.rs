//! The checker against hand-built histories of mpcheck-model's models, and against big
//! histories generated from sequential runs.

use std::time::{Duration, Instant};

use mpcheck_model::lock::{LockModel, LockOp, LockRet};
use mpcheck_model::queue::{QueueModel, QueueOp, QueueRet};
use mpcheck_model::semaphore::{SemaphoreModel, SemaphoreOp, SemaphoreRet};
use mpcheck_model::shared::{ArrayModel, ArrayOp, ArrayRet, ValueModel, ValueOp, ValueRet};
use mpcheck_model::{Model, Wait};
use mpcheck_properties::{check, check_partitioned, History, OpId, TaskId, Verdict};

const BUDGET: Duration = Duration::from_secs(10);

const ACQUIRE: LockOp = LockOp::Acquire(Wait::Forever);

/// Checks `witness` by replaying it: every returned operation once, in an order that respects
/// real time, accepted by the model (pending operations with some result it allows).
fn assert_witness<M: Model>(initial: &M, history: &History<M>, witness: &[OpId]) {
    let ops = history.operations();
    let mut seen = vec![false; ops.len()];
    let mut state = initial.clone();
    for (k, id) in witness.iter().enumerate() {
        assert!(!seen[id.0], "{id} placed twice");
        seen[id.0] = true;
        let op = history.get(*id);
        if let Some(preds) = history.predecessors(*id) {
            for p in preds {
                assert!(
                    witness[..k].contains(p),
                    "{id} placed before {p}, said to precede it"
                );
            }
        } else {
            for later in &witness[k + 1..] {
                let later = history.get(*later);
                assert!(
                    later.ret_time().is_none_or(|at| at >= op.call),
                    "{id} placed after an operation that returned before its call"
                );
            }
        }
        state = match op.result() {
            Some(ret) => state.step(&op.op, ret),
            None => state.outcomes(&op.op).into_iter().next().map(|(_, s)| s),
        }
        .unwrap_or_else(|| panic!("the model refuses {id} at position {k}"));
    }
    for (i, op) in ops.iter().enumerate() {
        assert!(
            seen[i] || op.is_pending(),
            "#{i} returned but is not in the witness"
        );
    }
}

fn linearizable<M: Model>(initial: &M, history: &History<M>) -> Vec<OpId> {
    match check(initial, history, BUDGET) {
        Verdict::Linearizable(witness) => {
            assert_witness(initial, history, &witness);
            witness
        }
        Verdict::NotLinearizable(counterexample) => {
            panic!("expected linearizable, got:\n{counterexample}")
        }
        Verdict::Unknown => panic!("expected linearizable, the budget ran out"),
    }
}

fn not_linearizable<M: Model>(
    initial: &M,
    history: &History<M>,
) -> mpcheck_properties::Counterexample<M> {
    match check(initial, history, BUDGET) {
        Verdict::NotLinearizable(counterexample) => {
            println!("{counterexample}");
            counterexample
        }
        Verdict::Linearizable(witness) => panic!("expected not linearizable, got {witness:?}"),
        Verdict::Unknown => panic!("expected not linearizable, the budget ran out"),
    }
}

#[test]
fn empty_history_is_linearizable_even_with_no_budget() {
    let history = History::<LockModel>::new();
    assert!(check(&LockModel::new(), &history, Duration::ZERO).is_linearizable());
}

#[test]
fn lock_with_overlapping_acquire_and_release_is_linearizable() {
    let mut h = History::<LockModel>::new();
    let a0 = h.op(0, ACQUIRE, LockRet::Acquired, 0, 10);
    // Task 1 waits from 5 and gets the lock once task 0's release (20..30) takes effect.
    let a1 = h.op(1, ACQUIRE, LockRet::Acquired, 5, 40);
    let r0 = h.op(0, LockOp::Release, LockRet::Released, 20, 30);
    // Task 2 reads "unlocked" in the window between the release and task 1's acquire.
    let read = h.op(2, LockOp::IsLocked, LockRet::IsLocked(false), 25, 35);
    let r1 = h.op(1, LockOp::Release, LockRet::Released, 50, 60);
    let witness = linearizable(&LockModel::new(), &h);
    assert_eq!(witness, [a0, r0, read, a1, r1]);
}

#[test]
fn lock_acquired_twice_without_a_release_is_not_linearizable() {
    let mut h = History::<LockModel>::new();
    let a0 = h.op(0, ACQUIRE, LockRet::Acquired, 0, 10);
    let a1 = h.op(1, ACQUIRE, LockRet::Acquired, 20, 30);
    h.op(0, LockOp::Release, LockRet::Released, 40, 50);
    h.op(1, LockOp::Release, LockRet::Released, 60, 70);
    let counterexample = not_linearizable(&LockModel::new(), &h);
    assert_eq!(counterexample.prefix, [(a0, LockRet::Acquired)]);
    assert_eq!(counterexample.stuck, [a1]);
    assert_eq!(counterexample.state, LockModel::locked());
    let text = counterexample.to_string();
    assert!(text.contains("no linearization"), "{text}");
    assert!(text.contains("task 1"), "{text}");
}

fn put(item: u8) -> QueueOp<u8> {
    QueueOp::Put(item, Wait::Forever)
}

const GET: QueueOp<u8> = QueueOp::Get(Wait::Forever);

#[test]
fn queue_sequential_puts_got_in_the_other_order_is_not_linearizable() {
    let mut h = History::<QueueModel<u8>>::new();
    h.op(0, put(b'A'), QueueRet::Done, 0, 10);
    h.op(0, put(b'B'), QueueRet::Done, 20, 30);
    let first = h.op(1, GET, QueueRet::Got(b'B'), 40, 50);
    h.op(1, GET, QueueRet::Got(b'A'), 60, 70);
    let counterexample = not_linearizable(&QueueModel::new(), &h);
    assert_eq!(counterexample.prefix.len(), 2);
    assert_eq!(counterexample.stuck, [first]);
}

#[test]
fn queue_overlapping_puts_got_in_either_order_is_linearizable() {
    let mut h = History::<QueueModel<u8>>::new();
    let a = h.op(0, put(b'A'), QueueRet::Done, 0, 30);
    let b = h.op(2, put(b'B'), QueueRet::Done, 10, 20);
    let got_b = h.op(1, GET, QueueRet::Got(b'B'), 40, 50);
    let got_a = h.op(1, GET, QueueRet::Got(b'A'), 60, 70);
    assert_eq!(linearizable(&QueueModel::new(), &h), [b, a, got_b, got_a]);
}

#[test]
fn semaphore_value_that_never_existed_is_not_linearizable() {
    let acquire = SemaphoreOp::Acquire(Wait::Forever);
    let history = |read: u32| {
        let mut h = History::<SemaphoreModel>::new();
        h.op(0, acquire.clone(), SemaphoreRet::Acquired, 0, 100);
        h.op(1, acquire.clone(), SemaphoreRet::Acquired, 0, 100);
        h.op(2, SemaphoreOp::GetValue, SemaphoreRet::Value(read), 10, 90);
        h
    };
    // From 2, the overlapping acquires make it 1 then 0: a read of 2, 1 or 0 is fine.
    for read in 0..=2 {
        linearizable(&SemaphoreModel::new(2), &history(read));
    }
    let counterexample = not_linearizable(&SemaphoreModel::new(2), &history(3));
    assert_eq!(counterexample.stuck, [OpId(2)]);
}

#[test]
fn pending_put_must_take_effect_to_explain_a_get() {
    let mut h = History::<QueueModel<u8>>::new();
    // Task 0's put never returned (it died, or the history ended), yet its item was got.
    let pending = h.call(0, put(b'A'), 0);
    let got = h.op(1, GET, QueueRet::Got(b'A'), 10, 20);
    assert_eq!(linearizable(&QueueModel::new(), &h), [pending, got]);
    // Without the pending put the get has nothing to explain it.
    let mut h = History::<QueueModel<u8>>::new();
    h.op(1, GET, QueueRet::Got(b'A'), 10, 20);
    not_linearizable(&QueueModel::new(), &h);
    // Nor can a put called after the get returned explain it.
    let mut h = History::<QueueModel<u8>>::new();
    h.op(1, GET, QueueRet::Got(b'A'), 10, 20);
    h.call(0, put(b'A'), 30);
    not_linearizable(&QueueModel::new(), &h);
}

#[test]
fn pending_acquire_must_be_left_out() {
    let mut h = History::<LockModel>::new();
    // Task 0's acquire never returned; task 1 took the lock and kept it. Had task 0's acquire
    // taken effect, before task 1's or after, one of them would still be waiting.
    h.call(0, ACQUIRE, 0);
    let taken = h.op(1, ACQUIRE, LockRet::Acquired, 10, 20);
    let read = h.op(1, LockOp::IsLocked, LockRet::IsLocked(true), 30, 40);
    assert_eq!(linearizable(&LockModel::new(), &h), [taken, read]);
}

#[test]
fn counterexample_prints_one_column_per_task() {
    let mut h = History::<LockModel>::new();
    h.op(0, ACQUIRE, LockRet::Acquired, 0, 10);
    h.op(1, LockOp::IsLocked, LockRet::IsLocked(false), 5, 8);
    h.call(2, LockOp::Release, 12);
    h.op(1, LockOp::IsLocked, LockRet::IsLocked(false), 20, 30);
    h.op(0, LockOp::Release, LockRet::Released, 40, 50);
    let counterexample = not_linearizable(&LockModel::new(), &h);
    let text = counterexample.to_string();
    let header = text
        .lines()
        .find(|l| l.trim_start().starts_with("time"))
        .unwrap();
    assert!(header.contains("task 0") && header.contains("task 1") && header.contains("task 2"));
    assert!(text.contains("never returned"), "{text}");
    assert!(text.contains("[x]"), "{text}");
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// An operation of a sequential run, its result and when it takes effect.
type Step<M> = (<M as Model>::Op, <M as Model>::Ret, u64);

/// A linearizable history of `tasks` × `per_task` operations: a sequential run of the model
/// (operations chosen by `pick`, with a random allowed result) whose k-th step takes effect at
/// time 10k + 10, each operation's interval drawn at random around its step, at most `spread`
/// before and after it and between its task's neighbouring steps. The last operation of the
/// first `pending` tasks never returns.
fn generate<M: Model>(
    initial: &M,
    tasks: u32,
    per_task: usize,
    pending: u32,
    spread: u64,
    seed: u64,
    mut pick: impl FnMut(&mut Rng, &M) -> M::Op,
) -> History<M> {
    let mut rng = Rng(seed);
    let mut order: Vec<TaskId> = (0..tasks)
        .flat_map(|t| std::iter::repeat_n(t, per_task))
        .collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut state = initial.clone();
    // Each task's steps: (operation, result, when it takes effect).
    let mut steps: Vec<Vec<Step<M>>> = vec![Vec::new(); tasks as usize];
    for (k, &task) in order.iter().enumerate() {
        let op = pick(&mut rng, &state);
        let mut outcomes = state.outcomes(&op);
        assert!(
            !outcomes.is_empty(),
            "pick chose {op:?}, not enabled in {state:?}"
        );
        let (ret, after) = outcomes.swap_remove(rng.below(outcomes.len() as u64) as usize);
        state = after;
        steps[task as usize].push((op, ret, 10 * k as u64 + 10));
    }
    let mut history = History::new();
    for (task, steps) in steps.into_iter().enumerate() {
        let mut free_from = 0;
        let points: Vec<u64> = steps.iter().map(|s| s.2).collect();
        for (j, (op, ret, point)) in steps.into_iter().enumerate() {
            let call = rng.between(free_from.max(point.saturating_sub(spread)), point);
            let id = history.call(task as TaskId, op, call);
            let last = j + 1 == points.len();
            if last && (task as u32) < pending {
                continue;
            }
            let until = points.get(j + 1).map_or(point + 40, |next| next - 1);
            let returned = rng.between(point, until.min(point.saturating_add(spread)));
            history.ret(id, ret, returned);
            free_from = returned + 1;
        }
    }
    history
}

fn lock_op(rng: &mut Rng, state: &LockModel) -> LockOp {
    match rng.below(4) {
        0 if !state.is_locked() => ACQUIRE,
        0 | 1 => LockOp::Acquire(Wait::Bounded),
        2 => LockOp::Release,
        _ => LockOp::IsLocked,
    }
}

fn queue_op(counter: &mut u32) -> impl FnMut(&mut Rng, &QueueModel<u32>) -> QueueOp<u32> + '_ {
    move |rng, state| match rng.below(5) {
        // The queue stays short (at most 4 items): a history where items wait long in the
        // queue behind puts of uncertain order can be exponential for the search: a wrong order
        // of two puts shows only when their items are got, and everything in between is
        // searched again for each such guess.
        0 | 1 if state.items().len() < 4 => {
            *counter += 1;
            QueueOp::Put(*counter, Wait::Forever)
        }
        0..=2 if !state.items().is_empty() => QueueOp::Get(Wait::Forever),
        0..=3 => QueueOp::Get(Wait::Bounded),
        _ => QueueOp::Qsize,
    }
}

fn big_queue_history(seed: u64) -> History<QueueModel<u32>> {
    let mut counter = 0;
    generate(
        &QueueModel::new(),
        8,
        200,
        3,
        u64::MAX,
        seed,
        queue_op(&mut counter),
    )
}

fn timed<M: Model>(name: &str, initial: &M, history: &History<M>) -> Verdict<M> {
    let start = Instant::now();
    let verdict = check(initial, history, BUDGET);
    let kind = match &verdict {
        Verdict::Linearizable(_) => "linearizable",
        Verdict::NotLinearizable(_) => "not linearizable",
        Verdict::Unknown => "unknown",
    };
    println!(
        "{name}: {} operations, {kind} in {:?}",
        history.len(),
        start.elapsed()
    );
    verdict
}

#[test]
fn big_generated_histories_are_linearizable() {
    for seed in 1..=3 {
        let history = generate(&LockModel::new(), 8, 200, 3, u64::MAX, seed, lock_op);
        let verdict = timed(&format!("lock, seed {seed}"), &LockModel::new(), &history);
        let Verdict::Linearizable(witness) = verdict else {
            panic!("not linearizable: {verdict:?}")
        };
        assert_witness(&LockModel::new(), &history, &witness);

        let history = big_queue_history(seed);
        let verdict = timed(&format!("queue, seed {seed}"), &QueueModel::new(), &history);
        let Verdict::Linearizable(witness) = verdict else {
            panic!("not linearizable: {verdict:?}")
        };
        assert_witness(&QueueModel::new(), &history, &witness);
    }
}

#[test]
fn big_history_with_one_wrong_result_is_not_linearizable() {
    let mut history = big_queue_history(7);
    // Swap the items of two gets far apart, by different tasks.
    let gets: Vec<usize> = history
        .operations()
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op.result(), Some(QueueRet::Got(_))))
        .map(|(i, _)| i)
        .collect();
    let (a, b) = (gets[10], gets[gets.len() - 10]);
    let mut mutated = History::new();
    for (i, op) in history.operations().iter().enumerate() {
        let id = mutated.call(op.task, op.op.clone(), op.call);
        if let Some((at, ret)) = &op.ret {
            let other = [(a, b), (b, a)].into_iter().find(|(x, _)| *x == i);
            let ret = other.map_or(ret.clone(), |(_, y)| {
                history.get(OpId(y)).result().unwrap().clone()
            });
            mutated.ret(id, ret, *at);
        }
    }
    history = mutated;
    let verdict = timed("queue with two gets swapped", &QueueModel::new(), &history);
    assert!(verdict.counterexample().is_some(), "{verdict:?}");
}

#[test]
fn zero_budget_gives_unknown() {
    let history = big_queue_history(1);
    assert!(matches!(
        check(&QueueModel::new(), &history, Duration::ZERO),
        Verdict::Unknown
    ));
}

fn array_key(op: &ArrayOp<u32>) -> usize {
    match op {
        ArrayOp::Get(i) | ArrayOp::Set(i, _) => *i,
        ArrayOp::Len | ArrayOp::ToVec => usize::MAX,
    }
}

#[test]
fn big_array_history_checked_per_element() {
    let initial = ArrayModel::new(vec![0u32; 8]);
    let history = generate(
        &initial,
        8,
        200,
        3,
        u64::MAX,
        5,
        |rng, _: &ArrayModel<u32>| {
            let index = rng.below(8) as usize;
            match rng.below(2) {
                0 => ArrayOp::Get(index),
                _ => ArrayOp::Set(index, rng.below(4) as u32),
            }
        },
    );
    let start = Instant::now();
    let verdict = check_partitioned(&initial, &history, array_key, BUDGET);
    println!(
        "array of 8, per element: {} operations in {:?}",
        history.len(),
        start.elapsed()
    );
    let Verdict::Linearizable(witness) = verdict else {
        panic!("not linearizable: {verdict:?}")
    };
    // The merged witness is one order of the whole array's history.
    assert_witness(&initial, &history, &witness);
}

#[test]
fn partitioned_counterexample_is_the_failing_elements() {
    let initial = ArrayModel::new(vec![0u32; 3]);
    let mut h = History::<ArrayModel<u32>>::new();
    h.op(0, ArrayOp::Set(0, 7), ArrayRet::Done, 0, 10);
    h.op(1, ArrayOp::Set(2, 9), ArrayRet::Done, 0, 10);
    // Element 1 was never set, yet reads 9: element 2's value.
    let read = h.op(2, ArrayOp::Get(1), ArrayRet::Value(9), 20, 30);
    h.op(2, ArrayOp::Get(0), ArrayRet::Value(7), 40, 50);
    let whole = not_linearizable(&initial, &h);
    assert_eq!(whole.stuck, [read]);
    let Verdict::NotLinearizable(part) = check_partitioned(&initial, &h, array_key, BUDGET) else {
        panic!("expected not linearizable")
    };
    println!("{part}");
    // Element 1's history alone: the read is its only operation.
    assert_eq!(part.history.len(), 1);
    assert_eq!(part.stuck, [OpId(0)]);
}

/// A write of `v`.
fn set(v: u32) -> ValueOp<u32> {
    ValueOp::Set(v)
}

/// A history with an explicit order of `ops` (task, operation, result), laid out one after
/// another in time, and the pairs of `order` (by index) said to be ordered.
fn explicit(
    ops: &[(TaskId, ValueOp<u32>, ValueRet<u32>)],
    order: &[(usize, usize)],
) -> History<ValueModel<u32>> {
    let mut history = History::with_explicit_order();
    for (k, (task, op, ret)) in ops.iter().enumerate() {
        let at = 2 * k as u64;
        history.op(*task, op.clone(), ret.clone(), at, at + 1);
    }
    for &(a, b) in order {
        history.precedes(OpId(a), OpId(b));
    }
    history
}

/// Two writes then two reads, in time: with the times' order, the reads must see the second
/// write; with an explicit order that leaves the writes unordered, either may be last.
#[test]
fn an_explicit_order_orders_only_what_it_says() {
    let ops = [
        (0, set(1), ValueRet::Done),
        (1, set(2), ValueRet::Done),
        (2, ValueOp::Get, ValueRet::Value(1)),
        (3, ValueOp::Get, ValueRet::Value(1)),
    ];
    let initial = ValueModel::new(0);
    let mut timed = History::new();
    for (k, (task, op, ret)) in ops.iter().enumerate() {
        timed.op(
            *task,
            op.clone(),
            ret.clone(),
            2 * k as u64,
            2 * k as u64 + 1,
        );
    }
    not_linearizable(&initial, &timed);
    let unordered_writes = [(0, 2), (1, 2), (0, 3), (1, 3)];
    linearizable(&initial, &explicit(&ops, &unordered_writes));
    // Ordered, they are as with times; and through a chain of two as well as directly.
    not_linearizable(&initial, &explicit(&ops, &[(0, 1), (1, 2), (1, 3)]));
}

/// Two pairs, each ordered, and nothing across them: an order no intervals give (a "2 + 2").
/// The checker takes it as it is: a write and a read of each value is linearizable; reads
/// that each see the other pair's write are not.
#[test]
fn an_explicit_order_need_not_be_one_of_intervals() {
    let initial = ValueModel::new(0);
    let read = |v| ValueRet::Value(v);
    let pairs = [(0, 1), (2, 3)];
    let own = [
        (0, set(1), ValueRet::Done),
        (1, ValueOp::Get, read(1)),
        (2, set(2), ValueRet::Done),
        (3, ValueOp::Get, read(2)),
    ];
    linearizable(&initial, &explicit(&own, &pairs));
    let crossed = [
        (0, set(1), ValueRet::Done),
        (1, ValueOp::Get, read(2)),
        (2, set(2), ValueRet::Done),
        (3, ValueOp::Get, read(1)),
    ];
    let counterexample = not_linearizable(&initial, &explicit(&crossed, &pairs));
    assert!(counterexample.to_string().contains("no linearization"));
    // The same history checked by parts is checked whole: one part, the same verdict.
    let verdict = check_partitioned(&initial, &explicit(&crossed, &pairs), |_| 0, BUDGET);
    assert!(verdict.counterexample().is_some());
}

#[test]
#[should_panic(expected = "#1 returned at 3, not before #0 was called at 0")]
fn an_explicit_order_against_the_times_is_refused() {
    let ops = [
        (0, set(1), ValueRet::Done),
        (1, ValueOp::Get, ValueRet::Value(1)),
    ];
    explicit(&ops, &[(1, 0)]);
}

#[test]
#[should_panic(expected = "the order is not explicit")]
fn a_history_of_times_takes_no_explicit_order() {
    let mut history = History::<ValueModel<u32>>::new();
    history.op(0, set(1), ValueRet::Done, 0, 1);
    history.op(1, ValueOp::Get, ValueRet::Value(1), 2, 3);
    history.precedes(OpId(0), OpId(1));
}
