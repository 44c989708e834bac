//! PCT side by side (issue 15 item 4, the measuring half): executions to the first bug, `Sim`'s
//! PCT (`mpcheck_sim::Config::pct(d, n)`) against shuttle's (`PctScheduler`) at the same depth,
//! on ports of the SCTBench "CS" programs and on three of the suite's mutants (re-expressed
//! here over mpcheck's `Platform`, run on the `Sim` and `Shuttle` platforms: see [`mutants`]).
//!
//! Run with `cargo bench --bench pct` (a few minutes); the results and how to read them are in
//! `docs/pct-bench.md`. The quantity is executions to the first failing one, so this is a plain
//! `fn main` that prints a markdown table, not a criterion bench.
//!
//! The programs are ports, written here, of the concurrent-software ("CS") set of SCTBench
//! (Thomson, Donaldson, Betts, "Concurrency testing using controlled schedulers: an empirical
//! study", PPoPP 2014 / TOPC 2016), which took them from the SV-COMP concurrency benchmarks.
//! Each is one generic function over [`Engine`], a small facade (spawn, join, a lock, racy
//! shared variables), instantiated for `Sim` ([`SimEngine`]) and for shuttle
//! ([`ShuttleEngine`]), so both engines run the same program with the same scheduling points:
//!
//! - a lock operation (acquire, release) is one scheduling point in both: mpcheck's `Lock<Sim>`
//!   at operation granularity, and shuttle's `BatchSemaphore` with one permit, which is what
//!   shuttle's own `Mutex` is (unfair), used directly so that a lock can be released in another
//!   scope than it was taken (as `carter01` needs);
//! - a racy shared variable ([`Var`]: `mpcheck_sim::AtomicU32` / `shuttle::sync::atomic::
//!   AtomicI32`) is a scheduling point at every load and store, as SCTBench makes every racy
//!   access visible to its scheduler;
//! - data only ever accessed under a lock ([`Plain`]) is a plain `std` atomic, no scheduling
//!   point for either engine (SCTBench schedules only at synchronisation and racy accesses);
//! - an ESBMC `__atomic_begin/end` block of the original is a critical section of one lock, or a
//!   single atomic read-modify-write where it covers just one.
//!
//! Every bug is an assertion (a panic whose message starts with `BUG`) or a deadlock; each
//! failure found is checked to be that, on both engines. Executions are counted by a plain
//! `std` atomic bumped first thing in every execution, outside the engines; for `Sim` the count
//! is cross-checked with `Failure::execution()` (shrinking is off: it would only run after the
//! failing execution is found, and is not needed here).
//!
//! Arguments: words filter the programs (each word must occur in the program's name, or be
//! `d1`/`d2`/`d3` for a depth); `--seeds=N` (default 50), `--cap=N` executions per run (default
//! 10,000); `--list` lists the programs; `--why` prints the first failure of each engine per
//! program. Without `--bench` (as `cargo test --benches` or `cargo test --bench pct` runs it):
//! 2 seeds, a cap of 200, a smoke test (well under a second).

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use mpcheck_properties::suite::thousands;

/// Executions started, by either engine: bumped first thing in every execution.
static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

fn execution_starts() {
    EXECUTIONS.fetch_add(1, Relaxed);
}

/// The engine facade every program is written against.
pub trait Engine: 'static {
    /// A racy shared variable: every load and store a scheduling point.
    type Var: Var;
    /// A mutual-exclusion lock; acquire and release are one scheduling point each, and it may
    /// be released by other code than took it (as a pthread mutex is, in these programs).
    type Lock: Lock;
    /// A started thread.
    type Handle;
    fn spawn(f: impl FnOnce() + Send + 'static) -> Self::Handle;
    fn join(handle: Self::Handle);
}

/// A racy shared `int`.
pub trait Var: Send + Sync + 'static {
    fn new(value: i32) -> Self;
    fn load(&self) -> i32;
    fn store(&self, value: i32);
    /// One atomic read-modify-write (an ESBMC atomic block around `x = x + n; r = x`):
    /// returns the new value.
    fn add(&self, n: i32) -> i32;
}

/// A lock.
pub trait Lock: Send + Sync + 'static {
    fn new() -> Self;
    fn lock(&self);
    fn unlock(&self);
}

/// Data accessed only under a lock: not a scheduling point for either engine.
#[derive(Default)]
pub struct Plain(AtomicI32);

impl Plain {
    fn new(value: i32) -> Self {
        Plain(AtomicI32::new(value))
    }

    fn get(&self) -> i32 {
        self.0.load(Relaxed)
    }

    fn set(&self, value: i32) {
        self.0.store(value, Relaxed)
    }
}

fn plains<const N: usize>() -> [Plain; N] {
    std::array::from_fn(|_| Plain::default())
}

/// `Sim`: `mpcheck_sim` tasks and atomics, mpcheck's `Lock<Sim>` (operation granularity, the
/// default: acquire and release one step each).
pub struct SimEngine;

pub struct SimVar(mpcheck_sim::AtomicU32);

impl Var for SimVar {
    fn new(value: i32) -> Self {
        SimVar(mpcheck_sim::AtomicU32::new(value as u32))
    }

    fn load(&self) -> i32 {
        self.0.load(SeqCst) as i32
    }

    fn store(&self, value: i32) {
        self.0.store(value as u32, SeqCst)
    }

    fn add(&self, n: i32) -> i32 {
        (self.0.fetch_add(n as u32, SeqCst) as i32).wrapping_add(n)
    }
}

impl Lock for mpcheck::Lock<mpcheck::Sim> {
    fn new() -> Self {
        mpcheck::Lock::new()
    }

    fn lock(&self) {
        self.acquire().expect("Lock::acquire");
    }

    fn unlock(&self) {
        self.release().expect("Lock::release");
    }
}

impl Engine for SimEngine {
    type Var = SimVar;
    type Lock = mpcheck::Lock<mpcheck::Sim>;
    type Handle = mpcheck_sim::JoinHandle<()>;

    fn spawn(f: impl FnOnce() + Send + 'static) -> Self::Handle {
        mpcheck_sim::spawn(f)
    }

    fn join(handle: Self::Handle) {
        handle.join()
    }
}

/// shuttle: its threads and atomics; the lock is the one-permit unfair `BatchSemaphore` that
/// shuttle's `Mutex` is made of.
pub struct ShuttleEngine;

pub struct ShuttleVar(shuttle::sync::atomic::AtomicI32);

impl Var for ShuttleVar {
    fn new(value: i32) -> Self {
        ShuttleVar(shuttle::sync::atomic::AtomicI32::new(value))
    }

    fn load(&self) -> i32 {
        self.0.load(SeqCst)
    }

    fn store(&self, value: i32) {
        self.0.store(value, SeqCst)
    }

    fn add(&self, n: i32) -> i32 {
        self.0.fetch_add(n, SeqCst).wrapping_add(n)
    }
}

pub struct ShuttleLock(shuttle::future::batch_semaphore::BatchSemaphore);

impl Lock for ShuttleLock {
    fn new() -> Self {
        use shuttle::future::batch_semaphore::{BatchSemaphore, Fairness};
        ShuttleLock(BatchSemaphore::new(1, Fairness::Unfair))
    }

    fn lock(&self) {
        self.0.acquire_blocking(1).expect("semaphore open");
    }

    fn unlock(&self) {
        self.0.release(1);
    }
}

impl Engine for ShuttleEngine {
    type Var = ShuttleVar;
    type Lock = ShuttleLock;
    type Handle = shuttle::thread::JoinHandle<()>;

    fn spawn(f: impl FnOnce() + Send + 'static) -> Self::Handle {
        shuttle::thread::spawn(f)
    }

    fn join(handle: Self::Handle) {
        handle.join().expect("a panic fails the execution first");
    }
}

/// The ports. Thread bodies are closures over an `Arc` of the program's shared state.
mod programs {
    use super::*;

    fn join_all<E: Engine>(handles: Vec<E::Handle>) {
        for h in handles {
            E::join(h);
        }
    }

    /// `account_bad`: a balance (1) under a mutex; `deposit` adds 2, `withdraw` takes 4, each
    /// setting a done flag; `check_result`, started first, asserts, once both are done, a
    /// wrong balance (`(x - y) - z`, where `x + y - z` is right). The bug is that the checker
    /// runs last: no preemption, only an order of threads (PCT depth 1).
    pub fn account_bad<E: Engine>() {
        execution_starts();
        let (x, y, z) = (1, 2, 4);
        struct S<L> {
            m: L,
            balance: Plain,
            deposit_done: Plain,
            withdraw_done: Plain,
        }
        let s = Arc::new(S {
            m: E::Lock::new(),
            balance: Plain::new(x),
            deposit_done: Plain::new(0),
            withdraw_done: Plain::new(0),
        });
        let check = s.clone();
        let t3 = E::spawn(move || {
            check.m.lock();
            if check.deposit_done.get() != 0 && check.withdraw_done.get() != 0 {
                let balance = check.balance.get();
                assert!(balance == (x - y) - z, "BUG account_bad: balance {balance}");
            }
            check.m.unlock();
        });
        let deposit = s.clone();
        let t1 = E::spawn(move || {
            deposit.m.lock();
            deposit.balance.set(deposit.balance.get() + y);
            deposit.deposit_done.set(1);
            deposit.m.unlock();
        });
        let withdraw = s;
        let t2 = E::spawn(move || {
            withdraw.m.lock();
            withdraw.balance.set(withdraw.balance.get() - z);
            withdraw.withdraw_done.set(1);
            withdraw.m.unlock();
        });
        join_all::<E>(vec![t3, t1, t2]);
    }

    /// `bluetooth_driver_bad`: the Windows Bluetooth driver model (Qadeer and Wu, KISS). The
    /// main thread adds work (`BCSP_PnpAdd`: unless the stopping flag is set, increment the
    /// pending count, assert the device is not stopped, decrement); a spawned thread stops the
    /// device (`BCSP_PnpStop`: set the flag, decrement the pending count from its initial 1,
    /// and if it reached 0 mark the device stopped). The flag, event and stopped state are
    /// racy; the count is changed in atomic blocks (one read-modify-write here). The bug: the
    /// adder checks the flag, is preempted, the stopper runs to the end, the adder increments
    /// and finds the device stopped (PCT depth 2).
    pub fn bluetooth_driver_bad<E: Engine>() {
        execution_starts();
        struct Device<V> {
            pending_io: V,
            stopping_flag: V,
            stopping_event: V,
            stopped: V,
        }
        fn io_increment<V: Var>(e: &Device<V>) -> i32 {
            if e.stopping_flag.load() != 0 {
                return -1;
            }
            e.pending_io.add(1);
            0
        }
        fn io_decrement<V: Var>(e: &Device<V>) {
            if e.pending_io.add(-1) == 0 {
                e.stopping_event.store(1);
            }
        }
        let e = Arc::new(Device {
            pending_io: E::Var::new(1),
            stopping_flag: E::Var::new(0),
            stopping_event: E::Var::new(0),
            stopped: E::Var::new(0),
        });
        let stopper = e.clone();
        let stop = E::spawn(move || {
            stopper.stopping_flag.store(1);
            io_decrement(&stopper);
            if stopper.stopping_event.load() != 0 {
                stopper.stopped.store(1);
            }
        });
        // BCSP_PnpAdd, on the main thread.
        if io_increment(&e) == 0 {
            assert!(
                e.stopped.load() == 0,
                "BUG bluetooth_driver_bad: work on a stopped device"
            );
        }
        io_decrement(&e);
        E::join(stop);
    }

    /// `carter01_bad`: a readers-writers style "class" lock (Carter et al.): the first thread of
    /// class A (B) to enter takes lock `l` under mutex `m`, the last to leave releases it. One
    /// thread of each class, and two threads that do nothing (as in the original). The bug is a
    /// deadlock: A takes `l` and leaves `m`; B takes `m` and waits for `l` holding it; A waits
    /// for `m` to leave (PCT depth 2).
    pub fn carter01_bad<E: Engine>() {
        execution_starts();
        struct S<L> {
            m: L,
            l: L,
            a: Plain,
            b: Plain,
        }
        let s = Arc::new(S {
            m: E::Lock::new(),
            l: E::Lock::new(),
            a: Plain::new(0),
            b: Plain::new(0),
        });
        fn class<L: Lock>(m: &L, l: &L, count: &Plain) {
            m.lock();
            count.set(count.get() + 1);
            if count.get() == 1 {
                l.lock();
            }
            m.unlock();
            // The class's operation.
            m.lock();
            count.set(count.get() - 1);
            if count.get() == 0 {
                l.unlock();
            }
            m.unlock();
        }
        let (sa, sb) = (s.clone(), s);
        let a1 = E::spawn(move || class(&sa.m, &sa.l, &sa.a));
        let b1 = E::spawn(move || class(&sb.m, &sb.l, &sb.b));
        let a2 = E::spawn(|| {});
        let b2 = E::spawn(|| {});
        join_all::<E>(vec![a1, b1, a2, b2]);
    }

    /// `circular_buffer_bad`: a 10-slot log buffer under a mutex; a sender and a receiver each
    /// run 7 rounds, the sender inserting its round number when `send` is set (then setting
    /// `receive`), the receiver removing an element when `receive` is set and asserting it is
    /// its own round number. A round in which a thread finds nothing to do shifts its count
    /// against the other's: the receiver idling through a round before the sender's first
    /// insert, then removing it in a later round, is the bug (the receiver preempted after an
    /// idle round: PCT depth 2).
    pub fn circular_buffer_bad<E: Engine>() {
        execution_starts();
        const BUFFER_MAX: i32 = 10;
        const ROUNDS: i32 = 7;
        struct S<L> {
            m: L,
            buffer: [Plain; BUFFER_MAX as usize],
            first: Plain,
            next: Plain,
            send: Plain,
            receive: Plain,
        }
        impl<L> S<L> {
            fn remove(&self) -> i32 {
                let (first, next) = (self.first.get(), self.next.get());
                if next > 0 && first < BUFFER_MAX {
                    self.first.set(first + 1);
                    self.buffer[first as usize].get()
                } else {
                    -1
                }
            }

            fn insert(&self, b: i32) {
                let next = self.next.get();
                if next < BUFFER_MAX {
                    self.buffer[next as usize].set(b);
                    self.next.set((next + 1) % BUFFER_MAX);
                }
            }
        }
        let s = Arc::new(S {
            m: E::Lock::new(),
            buffer: plains(),
            first: Plain::new(0),
            next: Plain::new(0),
            send: Plain::new(1),
            receive: Plain::new(0),
        });
        let sender = s.clone();
        let t1 = E::spawn(move || {
            for i in 0..ROUNDS {
                sender.m.lock();
                if sender.send.get() != 0 {
                    sender.insert(i);
                    sender.send.set(0);
                    sender.receive.set(1);
                }
                sender.m.unlock();
            }
        });
        let receiver = s;
        let t2 = E::spawn(move || {
            for i in 0..ROUNDS {
                receiver.m.lock();
                if receiver.receive.get() != 0 {
                    let got = receiver.remove();
                    assert!(
                        got == i,
                        "BUG circular_buffer_bad: removed {got} in round {i}"
                    );
                    receiver.receive.set(0);
                    receiver.send.set(1);
                }
                receiver.m.unlock();
            }
        });
        join_all::<E>(vec![t1, t2]);
    }

    /// `deadlock01_bad`: two threads take two mutexes in opposite orders (a then b, b then a)
    /// around an update of a counter. Deadlock when each holds its first (PCT depth 2).
    pub fn deadlock01_bad<E: Engine>() {
        execution_starts();
        struct S<L> {
            a: L,
            b: L,
            counter: Plain,
        }
        let s = Arc::new(S {
            a: E::Lock::new(),
            b: E::Lock::new(),
            counter: Plain::new(1),
        });
        let s1 = s.clone();
        let t1 = E::spawn(move || {
            s1.a.lock();
            s1.b.lock();
            s1.counter.set(s1.counter.get() + 1);
            s1.b.unlock();
            s1.a.unlock();
        });
        let s2 = s;
        let t2 = E::spawn(move || {
            s2.b.lock();
            s2.a.lock();
            s2.counter.set(s2.counter.get() - 1);
            s2.a.unlock();
            s2.b.unlock();
        });
        join_all::<E>(vec![t1, t2]);
    }

    /// `lazy01_bad`: three threads under one mutex: the first adds 1 to `data`, the second 2,
    /// the third fails if `data >= 3`, i.e. if it runs last (PCT depth 1).
    pub fn lazy01_bad<E: Engine>() {
        execution_starts();
        struct S<L> {
            m: L,
            data: Plain,
        }
        let s = Arc::new(S {
            m: E::Lock::new(),
            data: Plain::new(0),
        });
        let adder = |s: Arc<S<E::Lock>>, n: i32| {
            move || {
                s.m.lock();
                s.data.set(s.data.get() + n);
                s.m.unlock();
            }
        };
        let t1 = E::spawn(adder(s.clone(), 1));
        let t2 = E::spawn(adder(s.clone(), 2));
        let t3 = E::spawn(move || {
            s.m.lock();
            let data = s.data.get();
            assert!(data < 3, "BUG lazy01_bad: data {data}");
            s.m.unlock();
        });
        join_all::<E>(vec![t1, t2, t3]);
    }

    /// `reorder_N_bad` (`SET` setters, `CHECK` checkers): each setter writes `a = 1` then
    /// `b = -1` (racy); each checker asserts `(a == 0 && b == 0) || (a == 1 && b == -1)`,
    /// evaluated as C does (short-circuit, every read a racy load). The bug: a setter is
    /// preempted between its two writes and a checker runs (PCT depth 2); more setters make it
    /// rarer (any finished setter leaves the pair consistent).
    pub fn reorder<E: Engine, const SET: usize, const CHECK: usize>() {
        execution_starts();
        struct S<V> {
            a: V,
            b: V,
        }
        let s = Arc::new(S {
            a: E::Var::new(0),
            b: E::Var::new(0),
        });
        let mut handles = Vec::new();
        for _ in 0..SET {
            let s = s.clone();
            handles.push(E::spawn(move || {
                s.a.store(1);
                s.b.store(-1);
            }));
        }
        for _ in 0..CHECK {
            let s = s.clone();
            handles.push(E::spawn(move || {
                let ok =
                    (s.a.load() == 0 && s.b.load() == 0) || (s.a.load() == 1 && s.b.load() == -1);
                assert!(ok, "BUG reorder_bad: a and b seen half set");
            }));
        }
        join_all::<E>(handles);
    }

    /// `stack_bad`: a 10-slot stack under a mutex; one thread pushes 10 values (setting a
    /// `flag` after each), the other runs 10 rounds that pop if `flag` is set and assert the
    /// pop did not underflow. `flag` is never cleared: two pops after one push underflow (the
    /// pusher preempted after a push: PCT depth 2).
    pub fn stack_bad<E: Engine>() {
        execution_starts();
        const SIZE: i32 = 10;
        const OVERFLOW: i32 = -1;
        const UNDERFLOW: i32 = -2;
        struct S<L> {
            m: L,
            top: Plain,
            arr: [Plain; SIZE as usize],
            flag: Plain,
        }
        impl<L> S<L> {
            fn push(&self, x: i32) -> i32 {
                let top = self.top.get();
                if top == SIZE {
                    return OVERFLOW;
                }
                self.arr[top as usize].set(x);
                self.top.set(top + 1);
                0
            }

            fn pop(&self) -> i32 {
                let top = self.top.get();
                if top == 0 {
                    return UNDERFLOW;
                }
                self.top.set(top - 1);
                self.arr[top as usize - 1].get()
            }
        }
        let s = Arc::new(S {
            m: E::Lock::new(),
            top: Plain::new(0),
            arr: plains(),
            flag: Plain::new(0),
        });
        let pusher = s.clone();
        let t1 = E::spawn(move || {
            for i in 0..SIZE {
                pusher.m.lock();
                assert!(pusher.push(i) != OVERFLOW, "BUG stack_bad: overflow");
                pusher.flag.set(1);
                pusher.m.unlock();
            }
        });
        let popper = s;
        let t2 = E::spawn(move || {
            for _ in 0..SIZE {
                popper.m.lock();
                if popper.flag.get() != 0 {
                    assert!(popper.pop() != UNDERFLOW, "BUG stack_bad: underflow");
                }
                popper.m.unlock();
            }
        });
        join_all::<E>(vec![t1, t2]);
    }

    /// `token_ring_bad`: three threads pass a token value around (`x1 = (x3 + 1) % 4`,
    /// `x2 = x1`, `x3 = x2`), each in an atomic block (one lock here) that also sets its flag;
    /// a fourth asserts, once all three flags are set, that the three values agree. They agree
    /// only if the three ran in ring order: the checker running last in another order is the
    /// bug (PCT depth 1).
    pub fn token_ring_bad<E: Engine>() {
        execution_starts();
        struct S<L> {
            atomic: L,
            x: [Plain; 3],
            flag: [Plain; 3],
        }
        let s = Arc::new(S {
            atomic: E::Lock::new(),
            x: [Plain::new(1), Plain::new(2), Plain::new(1)],
            flag: plains(),
        });
        let mut handles = Vec::new();
        for i in 0..3 {
            let s = s.clone();
            handles.push(E::spawn(move || {
                s.atomic.lock();
                let value = match i {
                    0 => (s.x[2].get() + 1) % 4,
                    _ => s.x[i - 1].get(),
                };
                s.x[i].set(value);
                s.flag[i].set(1);
                s.atomic.unlock();
            }));
        }
        handles.push(E::spawn(move || {
            s.atomic.lock();
            if s.flag.iter().all(|f| f.get() != 0) {
                let x = [s.x[0].get(), s.x[1].get(), s.x[2].get()];
                assert!(
                    x[0] == x[1] && x[1] == x[2],
                    "BUG token_ring_bad: tokens {x:?}"
                );
            }
            s.atomic.unlock();
        }));
        join_all::<E>(handles);
    }

    /// `twostage_bad` (`T` writers, `R` readers): a writer sets `data1 = 1` under one mutex,
    /// then `data2 = data1 + 1` under another; a reader reads `data1` under the first and, if
    /// set, `data2` under the second and asserts `data2 == data1 + 1`. The two stages are not
    /// atomic together: a writer preempted between them and a reader running is the bug (PCT
    /// depth 2).
    pub fn twostage<E: Engine, const T: usize, const R: usize>() {
        execution_starts();
        struct S<L> {
            lock1: L,
            lock2: L,
            data1: Plain,
            data2: Plain,
        }
        let s = Arc::new(S {
            lock1: E::Lock::new(),
            lock2: E::Lock::new(),
            data1: Plain::new(0),
            data2: Plain::new(0),
        });
        let mut handles = Vec::new();
        for _ in 0..T {
            let s = s.clone();
            handles.push(E::spawn(move || {
                s.lock1.lock();
                s.data1.set(1);
                s.lock1.unlock();
                s.lock2.lock();
                s.data2.set(s.data1.get() + 1);
                s.lock2.unlock();
            }));
        }
        for _ in 0..R {
            let s = s.clone();
            handles.push(E::spawn(move || {
                s.lock1.lock();
                let t1 = s.data1.get();
                s.lock1.unlock();
                if t1 == 0 {
                    return;
                }
                s.lock2.lock();
                let t2 = s.data2.get();
                s.lock2.unlock();
                assert!(t2 == t1 + 1, "BUG twostage_bad: data2 {t2}, data1 {t1}");
            }));
        }
        join_all::<E>(handles);
    }

    /// `wronglock_bad` (`A` checking threads, `B` incrementing threads): the checkers increment
    /// a racy `dataValue` under `dataLock` and assert it went up by exactly one; the
    /// incrementers increment it under another lock, `thisLock`, so nothing excludes them. An
    /// incrementer running inside a checker's critical section is the bug (PCT depth 2).
    pub fn wronglock<E: Engine, const A: usize, const B: usize>() {
        execution_starts();
        struct S<L, V> {
            data_lock: L,
            this_lock: L,
            data_value: V,
        }
        let s = Arc::new(S {
            data_lock: E::Lock::new(),
            this_lock: E::Lock::new(),
            data_value: E::Var::new(0),
        });
        let mut handles = Vec::new();
        for _ in 0..A {
            let s = s.clone();
            handles.push(E::spawn(move || {
                s.data_lock.lock();
                let x = s.data_value.load();
                s.data_value.store(s.data_value.load() + 1);
                let now = s.data_value.load();
                assert!(now == x + 1, "BUG wronglock_bad: {x} became {now}");
                s.data_lock.unlock();
            }));
        }
        for _ in 0..B {
            let s = s.clone();
            handles.push(E::spawn(move || {
                s.this_lock.lock();
                s.data_value.store(s.data_value.load() + 1);
                s.this_lock.unlock();
            }));
        }
        join_all::<E>(handles);
    }
}

/// Three of the suite's mutants (`tests/mutants/`), re-expressed here: the mutants are modules
/// of the `mutants` test crate (with its scenarios and helpers), not importable from a bench,
/// so their wrong algorithms and scenarios are written again, generic over mpcheck's
/// `Platform` as the originals are, and run on the `Sim` and `Shuttle` platforms. Unlike the
/// SCTBench ports they use the platform's own futex `wait`/`wake` (each a scheduling point) and
/// every atomic access is a scheduling point: what the suite's mutants are.
mod mutants {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;

    use mpcheck::platform::{Atomic, AtomicInt};
    use mpcheck::Platform;

    use super::execution_starts;

    const FREE: u32 = 0;
    const TAKEN: u32 = 1;

    /// What the scenarios need of a lock or a semaphore.
    pub trait Gate<P: Platform>: Send + Sync + 'static {
        fn new(units: u32) -> Self;
        fn enter(&self);
        fn leave(&self);
    }

    /// Counts the tasks inside a critical section; more than `allowed` is the bug.
    struct Inside<P: Platform> {
        count: P::AtomicU32,
        allowed: u32,
    }

    impl<P: Platform> Inside<P> {
        fn pass(&self) {
            let now = self.count.fetch_add(1, SeqCst) + 1;
            assert!(
                now <= self.allowed,
                "BUG mutant: {now} tasks inside a critical section that admits {}",
                self.allowed
            );
            self.count.fetch_sub(1, SeqCst);
        }
    }

    /// The suite's `mutual_exclusion` scenario: two tasks each pass once through a section
    /// guarded by the lock `L`; never more than one inside.
    pub fn mutual_exclusion<P: Platform, L: Gate<P>>() {
        execution_starts();
        let lock = Arc::new(L::new(1));
        let inside = Arc::new(Inside::<P> {
            count: P::AtomicU32::new(0),
            allowed: 1,
        });
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                mpcheck::thread::spawn::<P, _, _>(move || {
                    lock.enter();
                    inside.pass();
                    lock.leave();
                })
            })
            .collect();
        for task in tasks {
            task.join().expect("a task of the scenario");
        }
    }

    /// The suite's `at_most_k_inside` scenario: a semaphore of 2 units, the main task and two
    /// others each pass once through the section it guards; never more than 2 inside.
    pub fn at_most_k_inside<P: Platform, S: Gate<P>>() {
        const K: u32 = 2;
        execution_starts();
        let sem = Arc::new(S::new(K));
        let inside = Arc::new(Inside::<P> {
            count: P::AtomicU32::new(0),
            allowed: K,
        });
        let pass = move || {
            sem.enter();
            inside.pass();
            sem.leave();
        };
        let others: Vec<_> = (0..K)
            .map(|_| mpcheck::thread::spawn::<P, _, _>(pass.clone()))
            .collect();
        pass();
        for task in others {
            task.join().expect("a task of the scenario");
        }
    }

    /// `lock_load_store` (mutant 1): a lock that loads its word and then stores "taken"
    /// instead of one compare-and-swap; two tasks both see it free and both enter.
    pub struct LoadStoreLock<P: Platform> {
        word: P::AtomicU32,
    }

    impl<P: Platform> Gate<P> for LoadStoreLock<P> {
        fn new(_: u32) -> Self {
            LoadStoreLock {
                word: P::AtomicU32::new(FREE),
            }
        }

        fn enter(&self) {
            loop {
                if self.word.load(SeqCst) == FREE {
                    self.word.store(TAKEN, SeqCst);
                    return;
                }
                P::wait(&self.word, TAKEN, None);
            }
        }

        fn leave(&self) {
            self.word.store(FREE, SeqCst);
            P::wake(&self.word, 1);
        }
    }

    /// `lock_forgets_wake` (mutant 2): a compare-and-swap lock whose release does not wake a
    /// waiter: a task that went to sleep while the lock was taken sleeps for ever (deadlock).
    pub struct ForgetfulLock<P: Platform> {
        word: P::AtomicU32,
    }

    impl<P: Platform> Gate<P> for ForgetfulLock<P> {
        fn new(_: u32) -> Self {
            ForgetfulLock {
                word: P::AtomicU32::new(FREE),
            }
        }

        fn enter(&self) {
            while self
                .word
                .compare_exchange(FREE, TAKEN, SeqCst, SeqCst)
                .is_err()
            {
                P::wait(&self.word, TAKEN, None);
            }
        }

        fn leave(&self) {
            self.word.store(FREE, SeqCst);
        }
    }

    /// `semaphore_check_then_decrement` (mutant 3): a semaphore whose acquire checks that the
    /// count is positive and then decrements it, in two steps: tasks that all saw the last
    /// unit free all take it.
    pub struct CheckThenDecrement<P: Platform> {
        count: P::AtomicU32,
    }

    impl<P: Platform> Gate<P> for CheckThenDecrement<P> {
        fn new(units: u32) -> Self {
            CheckThenDecrement {
                count: P::AtomicU32::new(units),
            }
        }

        fn enter(&self) {
            loop {
                if self.count.load(SeqCst) > 0 {
                    self.count.fetch_sub(1, SeqCst);
                    return;
                }
                P::wait(&self.count, 0, None);
            }
        }

        fn leave(&self) {
            self.count.fetch_add(1, SeqCst);
            P::wake(&self.count, 1);
        }
    }
}

/// One program, instantiated for both engines.
struct Program {
    name: &'static str,
    /// What SCTBench's original is called, and the bug's depth as a PCT depth (priority
    /// change points + 1) by our reading of the program.
    bug_depth: u32,
    sim: fn(),
    shuttle: fn(),
}

macro_rules! program {
    ($name:literal, $depth:literal, $($f:tt)+) => {
        Program {
            name: $name,
            bug_depth: $depth,
            sim: $($f)+::<SimEngine>,
            shuttle: $($f)+::<ShuttleEngine>,
        }
    };
}

fn all_programs() -> Vec<Program> {
    use mpcheck::shuttle::Shuttle;
    use mpcheck::Sim;
    use programs::*;
    vec![
        program!("account_bad", 1, account_bad),
        program!("bluetooth_driver_bad", 2, bluetooth_driver_bad),
        program!("carter01_bad", 2, carter01_bad),
        program!("circular_buffer_bad", 2, circular_buffer_bad),
        program!("deadlock01_bad", 2, deadlock01_bad),
        program!("lazy01_bad", 1, lazy01_bad),
        Program {
            name: "reorder_3_bad",
            bug_depth: 2,
            sim: reorder::<SimEngine, 2, 1>,
            shuttle: reorder::<ShuttleEngine, 2, 1>,
        },
        Program {
            name: "reorder_5_bad",
            bug_depth: 2,
            sim: reorder::<SimEngine, 4, 1>,
            shuttle: reorder::<ShuttleEngine, 4, 1>,
        },
        Program {
            name: "reorder_10_bad",
            bug_depth: 2,
            sim: reorder::<SimEngine, 9, 1>,
            shuttle: reorder::<ShuttleEngine, 9, 1>,
        },
        program!("stack_bad", 2, stack_bad),
        program!("token_ring_bad", 1, token_ring_bad),
        Program {
            name: "twostage_bad",
            bug_depth: 2,
            sim: twostage::<SimEngine, 1, 1>,
            shuttle: twostage::<ShuttleEngine, 1, 1>,
        },
        Program {
            name: "wronglock_bad",
            bug_depth: 2,
            sim: wronglock::<SimEngine, 1, 7>,
            shuttle: wronglock::<ShuttleEngine, 1, 7>,
        },
        Program {
            name: "wronglock_3_bad",
            bug_depth: 2,
            sim: wronglock::<SimEngine, 1, 3>,
            shuttle: wronglock::<ShuttleEngine, 1, 3>,
        },
        Program {
            name: "mutant_lock_load_store",
            bug_depth: 3,
            sim: mutants::mutual_exclusion::<Sim, mutants::LoadStoreLock<Sim>>,
            shuttle: mutants::mutual_exclusion::<Shuttle, mutants::LoadStoreLock<Shuttle>>,
        },
        Program {
            name: "mutant_lock_forgets_wake",
            bug_depth: 2,
            sim: mutants::mutual_exclusion::<Sim, mutants::ForgetfulLock<Sim>>,
            shuttle: mutants::mutual_exclusion::<Shuttle, mutants::ForgetfulLock<Shuttle>>,
        },
        Program {
            name: "mutant_semaphore_check_then_decrement",
            bug_depth: 4,
            sim: mutants::at_most_k_inside::<Sim, mutants::CheckThenDecrement<Sim>>,
            shuttle: mutants::at_most_k_inside::<Shuttle, mutants::CheckThenDecrement<Shuttle>>,
        },
    ]
}

/// Panics inside the engines are the bugs being looked for: while `QUIET`, the hook prints
/// nothing.
static QUIET: AtomicBool = AtomicBool::new(false);

fn quietly<R>(f: impl FnOnce() -> R) -> R {
    QUIET.store(true, SeqCst);
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.store(false, SeqCst);
    r.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Runs `f` with stderr sent to `/dev/null`: shuttle prints a line there for every failing
/// execution, whatever the panic hook (`test panicked in task ...`).
fn without_stderr<R>(f: impl FnOnce() -> R) -> R {
    let saved = rustix::io::dup(std::io::stderr()).expect("dup stderr");
    let null = std::fs::File::create("/dev/null").expect("/dev/null");
    rustix::stdio::dup2_stderr(&null).expect("dup2 over stderr");
    let r = catch_unwind(AssertUnwindSafe(f));
    rustix::stdio::dup2_stderr(&saved).expect("stderr restored");
    r.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Whether a failure's message is one of the programs' bugs (an assertion `BUG ...`, or a
/// deadlock), not something else going wrong.
fn is_the_bug(message: &str) -> bool {
    message.contains("BUG") || message.to_lowercase().contains("deadlock")
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// `Sim` PCT from `seed`: the execution that failed first, if one did within `cap`, and its
/// message.
fn sim_pct(program: fn(), depth: u32, cap: u64, seed: u64) -> (Option<u64>, String) {
    use mpcheck_sim::{explore, Config, FailureKind};
    EXECUTIONS.store(0, SeqCst);
    let config = Config::pct(depth, cap)
        .seed(seed)
        .no_files()
        .no_shrink()
        .ignore_env();
    match quietly(|| explore(config, program)) {
        Ok(_) => (None, String::new()),
        Err(failure) => {
            let counted = EXECUTIONS.load(SeqCst);
            assert_eq!(
                failure.execution(),
                counted,
                "Sim's failing execution is the last one the program started"
            );
            let message = format!(
                "{:?}: {} [the failing execution made {} choices]",
                failure.kind(),
                failure.message(),
                failure.schedule().len()
            );
            assert!(
                matches!(failure.kind(), FailureKind::Panic | FailureKind::Deadlock)
                    && is_the_bug(&message),
                "Sim failed for another reason than the program's bug: {message}"
            );
            (Some(failure.execution()), message)
        }
    }
}

/// A shuttle scheduler that counts, per execution, its scheduling points and those at which
/// more than one task could run (for `--why`).
struct Counting<S> {
    inner: S,
    counts: std::rc::Rc<std::cell::Cell<(u64, u64)>>,
}

impl<S: shuttle::scheduler::Scheduler> shuttle::scheduler::Scheduler for Counting<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        self.counts.set((0, 0));
        self.inner.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        is_yielding: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        let (points, choices) = self.counts.get();
        self.counts
            .set((points + 1, choices + u64::from(runnable.len() > 1)));
        self.inner.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

/// shuttle's PCT from `seed`: likewise.
fn shuttle_pct(program: fn(), depth: u32, cap: u64, seed: u64) -> (Option<u64>, String) {
    use shuttle::scheduler::PctScheduler;
    EXECUTIONS.store(0, SeqCst);
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.silence_warnings = true;
    let counts = std::rc::Rc::new(std::cell::Cell::new((0, 0)));
    let scheduler = Counting {
        inner: PctScheduler::new_from_seed(seed, depth as usize, cap as usize),
        counts: counts.clone(),
    };
    let result = quietly(|| {
        without_stderr(|| {
            catch_unwind(AssertUnwindSafe(|| {
                shuttle::Runner::new(scheduler, config).run(program)
            }))
        })
    });
    match result {
        Ok(ran) => {
            assert_eq!(ran as u64, EXECUTIONS.load(SeqCst));
            (None, String::new())
        }
        Err(payload) => {
            let (points, choices) = counts.get();
            let message = format!(
                "{} [the failing execution had {points} scheduling points, {choices} with more \
                 than one runnable task]",
                payload_text(payload.as_ref())
            );
            assert!(
                is_the_bug(&message),
                "shuttle failed for another reason than the program's bug: {message}"
            );
            (Some(EXECUTIONS.load(SeqCst)), message)
        }
    }
}

/// The median of the runs, a run that found nothing counting as more than any that did:
/// `None` if at least half found nothing.
fn median(found: &[Option<u64>]) -> Option<f64> {
    let mut v: Vec<u64> = found.iter().map(|f| f.unwrap_or(u64::MAX)).collect();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (lo, hi) = (v[(n - 1) / 2], v[n / 2]);
    (hi != u64::MAX).then(|| (lo as f64 + hi as f64) / 2.0)
}

fn median_text(m: Option<f64>, cap: u64) -> String {
    match m {
        Some(m) if m.fract() == 0.0 => thousands(m as u64),
        Some(m) => format!("{m:.1}"),
        None => format!("> {}", thousands(cap)),
    }
}

struct Options {
    filters: Vec<String>,
    seeds: u64,
    cap: u64,
    list: bool,
    why: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let mut o = Options {
        filters: Vec::new(),
        seeds: if bench { 50 } else { 2 },
        cap: if bench { 10_000 } else { 200 },
        list: false,
        why: false,
    };
    for arg in args {
        if let Some(v) = arg.strip_prefix("--seeds=") {
            o.seeds = v.parse().expect("--seeds=N");
        } else if let Some(v) = arg.strip_prefix("--cap=") {
            o.cap = v.parse().expect("--cap=EXECUTIONS");
        } else if arg == "--list" {
            o.list = true;
        } else if arg == "--why" {
            o.why = true;
        } else if !arg.starts_with('-') {
            o.filters.push(arg.to_lowercase());
        }
    }
    o
}

const DEPTHS: [u32; 3] = [1, 2, 3];

fn selected(name: &str, depth: u32, filters: &[String]) -> bool {
    filters
        .iter()
        .all(|f| name.contains(f.as_str()) || *f == format!("d{depth}"))
}

/// Installs both engines' own panic hooks (each wraps the hook it finds, once per process)
/// under a quiet one: shuttle's prints the failing schedule, so it is replaced; `Sim`'s
/// notes the panic's location and passes other threads' panics on.
fn install_quiet_hook() {
    shuttle::check_random(|| {}, 1);
    let _shuttle_hook = std::panic::take_hook();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.load(SeqCst) {
            default(info);
        }
    }));
    let _ = mpcheck_sim::explore(mpcheck_sim::Config::random(1).ignore_env(), || {});
}

fn main() {
    let o = options();
    let programs: Vec<Program> = all_programs()
        .into_iter()
        .filter(|p| DEPTHS.iter().any(|&d| selected(p.name, d, &o.filters)))
        .collect();
    if o.list {
        for p in &programs {
            println!("{} (bug depth {})", p.name, p.bug_depth);
        }
        return;
    }
    install_quiet_hook();
    println!(
        "pct: {} program(s), depths {DEPTHS:?}, {} seed(s) per engine, at most {} executions \
         per run",
        programs.len(),
        o.seeds,
        thousands(o.cap)
    );
    println!();
    println!(
        "| program | depth | sim median | sim found | shuttle median | shuttle found | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let started = Instant::now();
    let (mut sim_seconds, mut shuttle_seconds) = (0.0, 0.0);
    let (mut pairs, mut sim_no_worse, mut neither) = (0, 0, 0);
    let mut worse = Vec::new();
    let mut whys = String::new();
    for p in &programs {
        for depth in DEPTHS {
            if !selected(p.name, depth, &o.filters) {
                continue;
            }
            let mut sim = Vec::new();
            let mut shuttle = Vec::new();
            let clock = Instant::now();
            for seed in 1..=o.seeds {
                let (found, message) = sim_pct(p.sim, depth, o.cap, seed);
                if o.why && found.is_some() && sim.iter().all(Option::is_none) {
                    let _ = writeln!(whys, "- {} d={depth} sim: {message}", p.name);
                }
                sim.push(found);
            }
            sim_seconds += clock.elapsed().as_secs_f64();
            let clock = Instant::now();
            for seed in 1..=o.seeds {
                let (found, message) = shuttle_pct(p.shuttle, depth, o.cap, seed);
                if o.why && found.is_some() && shuttle.iter().all(Option::is_none) {
                    let _ = writeln!(whys, "- {} d={depth} shuttle: {message}", p.name);
                }
                shuttle.push(found);
            }
            shuttle_seconds += clock.elapsed().as_secs_f64();
            let (ms, mh) = (median(&sim), median(&shuttle));
            let count = |v: &[Option<u64>]| v.iter().filter(|f| f.is_some()).count();
            let ratio = match (ms, mh) {
                (Some(s), Some(h)) => format!("{:.2}", s / h),
                (None, Some(_)) => "∞".to_owned(),
                (Some(_), None) => "0".to_owned(),
                (None, None) => "-".to_owned(),
            };
            // Sim needs no more than shuttle: its median is at most shuttle's (a median
            // beyond the cap counting as larger than any within it). Pairs where neither
            // median is within the cap are counted apart.
            let no_worse = match (ms, mh) {
                (Some(s), Some(h)) => s <= h,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if ms.is_none() && mh.is_none() {
                neither += 1;
            } else if no_worse {
                pairs += 1;
                sim_no_worse += 1;
            } else {
                pairs += 1;
                worse.push(format!("{} d={depth} ({ratio}×)", p.name));
            }
            println!(
                "| {} | {depth} | {} | {}/{} | {} | {}/{} | {ratio} |",
                p.name,
                median_text(ms, o.cap),
                count(&sim),
                o.seeds,
                median_text(mh, o.cap),
                count(&shuttle),
                o.seeds,
            );
        }
    }
    println!();
    println!(
        "Sim's median ≤ shuttle's in {sim_no_worse} of {pairs} (program, depth) pairs where a \
         median is within the cap ({neither} more pairs: neither engine's median within the \
         cap){}.",
        if worse.is_empty() {
            String::new()
        } else {
            format!("; more executions in: {}", worse.join(", "))
        }
    );
    println!(
        "Time: Sim {sim_seconds:.1} s, shuttle {shuttle_seconds:.1} s, all {:.1} s. median: \
         executions to the first failing one (that one included) over the seeds, a seed that \
         found nothing within the cap counting as more than any that did; found: seeds that \
         found the bug within the cap; ratio: Sim's median ÷ shuttle's (≤ 1: Sim needs no \
         more).",
        started.elapsed().as_secs_f64()
    );
    if o.why {
        println!("\nFirst failure per engine:\n\n{whys}");
    }
}
