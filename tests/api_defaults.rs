//! The API contract (shared/API.md): every public generic type defaults its platform to `Os`,
//! so a program on real threads never names it. This file compiles only if that holds.

use std::any::{type_name, TypeId};

use mpcheck::pipe::Ends;
use mpcheck::shared::ArrayGuard;
use mpcheck::sync::{
    BoundedSemaphoreGuard, ConditionGuard, ConditionLock, LockGuard, RLockGuard, SemaphoreGuard,
};
use mpcheck::thread::JoinHandle;
use mpcheck::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Error, Event, JoinableQueue, Lock, Os,
    Queue, RLock, Semaphore, SimpleQueue, Value,
};

/// Asserts that `A` (the platform left out) is `B` (the platform named).
fn same<A: 'static, B: 'static>() {
    assert_eq!(
        TypeId::of::<A>(),
        TypeId::of::<B>(),
        "{} is not {}",
        type_name::<A>(),
        type_name::<B>()
    );
}

#[test]
fn every_public_generic_type_defaults_to_os() {
    same::<Lock, Lock<Os>>();
    same::<LockGuard<'static>, LockGuard<'static, Os>>();
    same::<RLock, RLock<Os>>();
    same::<RLockGuard<'static>, RLockGuard<'static, Os>>();
    same::<Semaphore, Semaphore<Os>>();
    same::<SemaphoreGuard<'static>, SemaphoreGuard<'static, Os>>();
    same::<BoundedSemaphore, BoundedSemaphore<Os>>();
    same::<BoundedSemaphoreGuard<'static>, BoundedSemaphoreGuard<'static, Os>>();
    same::<Event, Event<Os>>();
    same::<Condition, Condition<Os>>();
    same::<ConditionLock, ConditionLock<Os>>();
    same::<ConditionGuard<'static>, ConditionGuard<'static, Os>>();
    same::<Barrier, Barrier<Os>>();
    same::<Queue<u8>, Queue<u8, Os>>();
    same::<SimpleQueue<u8>, SimpleQueue<u8, Os>>();
    same::<JoinableQueue<u8>, JoinableQueue<u8, Os>>();
    same::<Connection<u8>, Connection<u8, Os>>();
    same::<Ends<u8>, Ends<u8, Os>>();
    same::<Value<u8>, Value<u8, Os>>();
    same::<Array<u8>, Array<u8, Os>>();
    same::<ArrayGuard<'static, u8>, ArrayGuard<'static, u8, Os>>();
    same::<JoinHandle<u8>, JoinHandle<u8, Os>>();
}

/// The std-shaped facade's generic types too (the platform last, as in every primitive).
#[test]
fn the_facades_generic_types_default_to_os() {
    use mpcheck::facade::{self, thread};
    same::<facade::Mutex<u8>, facade::Mutex<u8, Os>>();
    same::<facade::MutexGuard<'static, u8>, facade::MutexGuard<'static, u8, Os>>();
    same::<facade::RwLock<u8>, facade::RwLock<u8, Os>>();
    same::<facade::RwLockReadGuard<'static, u8>, facade::RwLockReadGuard<'static, u8, Os>>();
    same::<facade::RwLockWriteGuard<'static, u8>, facade::RwLockWriteGuard<'static, u8, Os>>();
    same::<facade::Condvar, facade::Condvar<Os>>();
    same::<facade::Barrier, facade::Barrier<Os>>();
    same::<facade::Once, facade::Once<Os>>();
    same::<facade::AtomicBool, facade::AtomicBool<Os>>();
    same::<facade::AtomicU8, facade::AtomicU8<Os>>();
    same::<facade::AtomicI16, facade::AtomicI16<Os>>();
    same::<facade::AtomicUsize, facade::AtomicUsize<Os>>();
    same::<facade::AtomicPtr<u8>, facade::AtomicPtr<u8, Os>>();
    same::<thread::JoinHandle<u8>, thread::JoinHandle<u8, Os>>();
    same::<thread::ScopedJoinHandle<'static, u8>, thread::ScopedJoinHandle<'static, u8, Os>>();
    // The `os` module's one-parameter names are the same types.
    same::<facade::os::sync::Mutex<u8>, facade::Mutex<u8>>();
    same::<facade::os::sync::atomic::AtomicU64, facade::AtomicU64>();
}

#[test]
fn a_program_on_real_threads_never_names_the_platform() -> Result<(), Error> {
    // `pipe` is a function (no defaults there): the annotation picks `Os`.
    let (rx, tx): (Connection<String>, Connection<String>) = mpcheck::pipe(false)?;
    let jobs: JoinableQueue<u32> = JoinableQueue::new();
    let results = Queue::<u32>::bounded(4)?;
    let done: SimpleQueue<String> = SimpleQueue::new();
    let worker: JoinHandle<()> = {
        let (jobs, results, done) = (jobs.clone(), results.clone(), done.clone());
        mpcheck::thread::spawn(move || {
            let order = rx.recv().unwrap();
            while let Ok(job) = jobs.get() {
                results.put(job * 2).unwrap();
                jobs.task_done().unwrap();
            }
            done.put("closed".to_owned()).unwrap();
            assert_eq!(order, "double them");
        })
    };
    tx.send(&"double them".to_owned())?;
    for job in 1..=3 {
        jobs.put(job)?;
    }
    jobs.join();
    jobs.close();
    assert_eq!(done.get()?, "closed");
    worker.join()?;
    let doubled: Vec<u32> = (0..3).map(|_| results.get()).collect::<Result<_, _>>()?;
    assert_eq!(doubled, [2, 4, 6]);
    let totals: Array<u32> = Array::from_slice(&doubled)?;
    let count: Value<u32> = Value::new(3);
    assert_eq!(totals.to_vec().iter().sum::<u32>(), 12);
    assert_eq!(count.get(), 3);
    Ok(())
}
