//! The arena with real memory and real processes: allocation, alignment, counts, threads,
//! `fork` (as the fork start method will bracket it) and a re-executed child that attaches to
//! the family's memfd (as the spawn start method will).
//!
//! Tests that check the arena's totals ([`stats`]) or fork run [`alone`]: in a new process of
//! this test binary running only them, with an arena of their own, so that the other tests'
//! allocations (in the same arena otherwise) cannot move the numbers.

use super::*;
use crate::platform::os::{forget_identity, forget_membarrier, OsShared};
use crate::platform::{Os, Platform};
use crate::{Array, Lock, Queue, Semaphore, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::AtomicU64;

/// The variable that tells a re-executed test binary which test it runs alone.
const ALONE: &str = "MPCHECK_ARENA_TEST_ALONE";

/// `true` in a process running the test `name` of this module alone (run the test's body);
/// in any other, runs it so, checks that it passed, and returns `false`.
fn alone(name: &str) -> bool {
    let full = format!("platform::arena::tests::{name}");
    if std::env::var(ALONE).as_deref() == Ok(full.as_str()) {
        return true;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([full.as_str(), "--exact", "--test-threads=1"])
        .env(ALONE, &full)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{full} alone: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

/// Forks as the fork start method does: `before_fork`, then `in_parent` in the parent, and in
/// the child `in_child`, `child()`, `release_all` and `_exit` (status 1 if `child` panicked).
fn fork(child: impl FnOnce()) -> libc::pid_t {
    let guard = before_fork();
    // SAFETY: the child runs `child` and exits with `_exit`, never returning into the test
    // harness; the registry and the arena's lock are held across the fork (no handle is made or
    // dropped during it) and glibc's malloc is fork-safe.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        guard.in_child();
        forget_identity();
        forget_membarrier();
        let ok = catch_unwind(AssertUnwindSafe(child)).is_ok();
        release_all();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }
    assert!(pid > 0, "fork failed");
    guard.in_parent();
    pid
}

/// Waits for the child `pid` and checks that it exited with status 0.
fn join(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: `pid` is a child of this process, `status` a valid place.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child failed: status {status:#x}"
    );
}

fn share<T: Shareable + Send + Sync>(value: T) -> OsShared<T> {
    Os::share(value)
}

use crate::platform::Shareable;

#[test]
fn a_freed_block_is_reused_by_its_class_only() {
    if !alone("a_freed_block_is_reused_by_its_class_only") {
        return;
    }
    assert_eq!(stats(), Stats::default(), "no arena before the first share");
    let small = share(7u64);
    let first = block_of(small.registration());
    assert_eq!(stats().live_blocks, 1);
    assert_eq!(stats().live_bytes, 32, "8 bytes and a 16-byte header: 32");
    let big = share([1u8; 100]);
    let big_block = block_of(big.registration());
    assert_eq!(stats().live_bytes, 32 + 128);
    drop(small);
    assert_eq!(stats().live_blocks, 1);
    // Another class does not take the free 32-byte block; the same class does.
    let other = share([0u64; 8]);
    assert_ne!(block_of(other.registration()), first);
    let again = share(9u32);
    assert_eq!(block_of(again.registration()), first, "same class, reused");
    assert_eq!(*again, 9);
    drop(big);
    let big_again = Os::share_slice(90, |i| i as u8).unwrap();
    assert_eq!(block_of(big_again.registration()), big_block);
    assert_eq!(big_again[89], 89);
    drop((other, again, big_again));
    assert_eq!(stats().live_blocks, 0);
    assert_eq!(stats().live_bytes, 0);
    assert_eq!(stats().registered, 0);
}

#[test]
fn values_are_aligned_as_their_types_ask() {
    #[repr(align(64))]
    struct Line([AtomicU64; 8]);
    // SAFETY: atomics, inline.
    unsafe impl Shareable for Line {}
    #[repr(align(128))]
    struct Wide(u8);
    // SAFETY: a byte.
    unsafe impl Shareable for Wide {}
    #[repr(align(4096))]
    struct Page(u8);
    // SAFETY: a byte.
    unsafe impl Shareable for Page {}

    fn check<T>(value: &T, align: usize) {
        assert_eq!(
            (value as *const T as usize) % align,
            0,
            "aligned to {align}"
        );
    }
    for _ in 0..3 {
        let handles = (
            share(1u8),
            share(2u16),
            share(3u32),
            share(4u64),
            share(5u128),
            share(Line(Default::default())),
            share(Wide(6)),
            share(Page(7)),
        );
        check(&*handles.0, 1);
        check(&*handles.1, 2);
        check(&*handles.2, 4);
        check(&*handles.3, 8);
        check(&*handles.4, 16);
        check(&*handles.5, 64);
        check(&*handles.6, 128);
        check(&*handles.7, 4096);
        assert_eq!(*handles.4, 5);
        assert_eq!((handles.6 .0, handles.7 .0), (6, 7));
        let lines = Os::share_slice(5, |i| {
            Line(std::array::from_fn(|j| AtomicU64::new((i * 8 + j) as u64)))
        })
        .unwrap();
        for (i, line) in lines.iter().enumerate() {
            check(line, 64);
            assert_eq!(line.0[7].load(Ordering::Relaxed), (i * 8 + 7) as u64);
        }
        let empty = Os::share_slice(0, |_| 0u64).unwrap();
        assert!(empty.is_empty());
    }
}

#[test]
fn a_process_counts_once_whatever_its_handles() {
    let a = share(AtomicU64::new(1));
    let local = a.registration();
    assert_eq!(count(local), 1);
    let b = a.clone();
    assert_eq!(count(b.registration()), 1, "a clone is process-local");
    let wire = a.export();
    assert_eq!(count(local), 2, "one more in flight");
    let c = OsShared::<AtomicU64>::import(wire).unwrap();
    assert_eq!(
        count(local),
        2,
        "already held here: counted once; the wire's count stays (its bytes may be decoded \
         again)"
    );
    let again = OsShared::<AtomicU64>::import(wire).unwrap();
    assert_eq!(
        count(local),
        2,
        "a second import of the same wire changes nothing"
    );
    drop(again);
    assert!(ptr::eq(&*a, &*c));
    c.fetch_add(1, Ordering::Relaxed);
    assert_eq!(a.load(Ordering::Relaxed), 2);
    drop((b, c));
    assert_eq!(count(local), 2);
    // Imported as another type: refused.
    let error = OsShared::<u32>::import(wire).unwrap_err();
    assert!(
        matches!(&error, Error::Decode(m) if m.contains("which it is not")),
        "{error:?}"
    );

    // A slice's wire keeps its length; another family's wire is refused.
    let s = Os::share_slice(3, |i| i as u32 * 10).unwrap();
    let wire = s.export();
    let t = OsShared::<[u32]>::import(wire).unwrap();
    assert_eq!(&*t, &[0, 10, 20]);
    let mut foreign = t.export();
    foreign.family ^= 1;
    // A forged family: refused before anything is read.
    let error = OsShared::<[u32]>::import(foreign).unwrap_err();
    assert!(
        matches!(&error, Error::Decode(m) if m.starts_with("a shared handle of another family")),
        "{error:?}"
    );
    // The wires' counts stay in flight: the slice is never freed.
    foreign.family ^= 1;
    drop(OsShared::<[u32]>::import(foreign).unwrap());
    assert_eq!(count(s.registration()), 3);

    // attach refuses a second arena.
    let fd = rustix::io::dup(family_fd().unwrap()).unwrap();
    assert!(matches!(attach(fd), Err(Error::InvalidArgument(_))));
}

#[test]
fn threads_allocate_and_free_without_sharing_a_block() {
    let threads: Vec<_> = (1..=4u64)
        .map(|id| {
            std::thread::spawn(move || {
                let mut held: Vec<OsShared<[AtomicU64]>> = Vec::new();
                for round in 0..3000usize {
                    let len = 1 + (round * 7 + id as usize) % 40;
                    held.push(Os::share_slice(len, |_| AtomicU64::new(id)).unwrap());
                    if round % 3 != 0 {
                        let victim = held.swap_remove((round * 13) % held.len());
                        for word in victim.iter() {
                            assert_eq!(word.load(Ordering::Relaxed), id, "a block given twice");
                        }
                    }
                    for slice in &held {
                        for word in slice.iter() {
                            assert_eq!(word.swap(id, Ordering::Relaxed), id, "a block given twice");
                        }
                    }
                    if held.len() > 50 {
                        held.clear();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn a_request_past_the_reservation_is_an_error_and_changes_nothing() {
    let before = share(5u64);
    // 2^40 bytes: a valid layout, more than the arena reserves (64 GiB at most).
    let error = Os::share_slice(1 << 40, |_| 0u8).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidArgument(m)
            if m.starts_with("1099511627776 bytes are more than the shared memory arena holds")),
        "{error:?}"
    );
    let after = Os::share_slice(3, |i| i as u64).unwrap();
    assert_eq!(*before, 5);
    assert_eq!(&*after, &[0, 1, 2]);
}

#[test]
fn memory_that_cannot_be_committed_is_an_io_error_and_changes_nothing() {
    if !alone("memory_that_cannot_be_committed_is_an_io_error_and_changes_nothing") {
        return;
    }
    let kept = share(3u64);
    let before = stats();
    REFUSE_COMMIT.store(true, Ordering::Relaxed);
    let error = Os::share_slice(4 * COMMIT_CHUNK as usize, |_| 1u8).unwrap_err();
    assert_eq!(
        error,
        Error::Io {
            operation: "fallocate",
            message: std::io::Error::from(rustix::io::Errno::NOSPC).to_string()
        }
    );
    assert_eq!(stats(), before, "nothing handed out, nothing moved");
    // Within the committed part, allocation goes on.
    let small = share(4u64);
    REFUSE_COMMIT.store(false, Ordering::Relaxed);
    let big = Os::share_slice(4 * COMMIT_CHUNK as usize, |_| 1u8).unwrap();
    assert!(stats().committed >= stats().bump);
    assert_eq!((*kept, *small, big[big.len() - 1]), (3, 4, 1));
}

#[test]
fn a_memfd_leaves_nothing_in_dev_shm() {
    if !alone("a_memfd_leaves_nothing_in_dev_shm") {
        return;
    }
    // memfd files have no name in any file system: unlike `shm_open` (CPython's shared memory),
    // nothing appears in /dev/shm, so nothing is left there by a process that dies.
    let list = || {
        let mut names: Vec<_> = std::fs::read_dir("/dev/shm")
            .map(|dir| dir.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let before = list();
    let lock = Lock::<Os>::new();
    let array = Array::<u64, Os>::new(1000).unwrap();
    assert!(stats().reservation >= MIN_RESERVATION);
    assert_eq!(list(), before);
    drop((lock, array));
}

#[test]
fn a_lock_and_a_value_are_shared_with_a_fork_child() {
    if !alone("a_lock_and_a_value_are_shared_with_a_fork_child") {
        return;
    }
    let lock = Lock::<Os>::new();
    let total = Value::<u64, Os>::raw(0);
    let locked = Value::<u64, Os>::new(0);
    let increment = |lock: &Lock<Os>, total: &Value<u64, Os>, locked: &Value<u64, Os>| {
        for _ in 0..10_000 {
            let _guard = lock.lock();
            total.set(total.get() + 1);
            locked.update(|v| *v += 1).unwrap();
        }
    };
    let child = fork(|| increment(&lock, &total, &locked));
    increment(&lock, &total, &locked);
    join(child);
    assert_eq!(total.get(), 20_000);
    assert_eq!(locked.get(), 20_000);
    let live = stats().live_blocks;
    drop((lock, total, locked));
    assert_eq!(
        stats().live_blocks,
        live - 4,
        "lock, value, locked value and its RLock"
    );
    assert_eq!(stats().live_blocks, 0, "the child gave its counts back");
}

#[test]
fn a_semaphore_an_array_and_a_queue_are_shared_with_a_fork_child() {
    if !alone("a_semaphore_an_array_and_a_queue_are_shared_with_a_fork_child") {
        return;
    }
    let ready = Semaphore::<Os>::new(0);
    let array = Array::<u32, Os>::new(100).unwrap();
    let queue = Queue::<u64, Os>::with_capacity(Some(16), 1024).unwrap();
    let child = fork(|| {
        for i in 0..100 {
            array.set(i, i as u32 * 3).unwrap();
        }
        ready.release().unwrap();
        // More items than the queue holds: the child waits for the parent's gets.
        for item in 0..5_000u64 {
            queue.put(item * item).unwrap();
        }
    });
    ready.acquire().unwrap();
    assert_eq!(
        array.to_vec(),
        (0..100).map(|i| i * 3).collect::<Vec<u32>>()
    );
    for item in 0..5_000u64 {
        assert_eq!(queue.get(), Ok(item * item));
    }
    join(child);
    assert!(queue.empty());
    drop((ready, array, queue));
    assert_eq!(stats().live_blocks, 0, "nothing leaked in either process");
}

#[test]
fn a_child_that_drops_its_inherited_handles_frees_nothing_the_parent_holds() {
    if !alone("a_child_that_drops_its_inherited_handles_frees_nothing_the_parent_holds") {
        return;
    }
    // Naive counting (counting handles, not processes) breaks here: the fork copies the
    // parent's handle into the child uncounted, the child's drop takes the only count, and the
    // parent's lock is freed under it.
    let lock = Lock::<Os>::new();
    let word = share(AtomicU64::new(0));
    let (lock_for_child, word_for_child) = (lock.clone(), word.clone());
    let child = fork(move || {
        assert_eq!(count(word_for_child.registration()), 2, "parent and child");
        word_for_child.store(1, Ordering::Relaxed);
        drop(lock_for_child);
        drop(word_for_child);
        // The child still holds the parent's originals (copied by the fork): its count stays
        // until `release_all`.
    });
    join(child);
    assert_eq!(
        count(word.registration()),
        1,
        "the child's count was given back once"
    );
    assert_eq!(word.load(Ordering::Relaxed), 1);
    assert!(lock.acquire_timeout(std::time::Duration::ZERO));
    lock.release().unwrap();
    // New primitives do not overlap the live ones.
    let blocks = stats().live_blocks;
    let others: Vec<OsShared<AtomicU64>> = (0..100).map(|_| share(AtomicU64::new(7))).collect();
    assert_eq!(stats().live_blocks, blocks + 100);
    assert!(others
        .iter()
        .all(|o| block_of(o.registration()) != block_of(word.registration())));
    assert_eq!(word.load(Ordering::Relaxed), 1);
    let _guard = lock.lock();
    drop(others);
    assert_eq!(stats().live_blocks, blocks);
}

#[test]
fn freed_blocks_go_back_to_their_free_list_after_the_child_and_parent_let_go() {
    if !alone("freed_blocks_go_back_to_their_free_list_after_the_child_and_parent_let_go") {
        return;
    }
    let word = share(AtomicU64::new(0));
    let block = block_of(word.registration());
    // The child keeps its handle to the end: `release_all` gives its count back.
    let child = fork(|| {
        word.fetch_add(1, Ordering::Relaxed);
    });
    join(child);
    assert_eq!(count(word.registration()), 1);
    drop(word);
    assert_eq!(stats().live_blocks, 0);
    let again = share(AtomicU64::new(5));
    assert_eq!(
        block_of(again.registration()),
        block,
        "popped from the free list"
    );

    // A fork that fails takes its counts back.
    let guard = before_fork();
    assert_eq!(count(again.registration()), 2);
    guard.failed();
    assert_eq!(count(again.registration()), 1);
}

/// The variables that give a re-executed child the arena's descriptor and a handle's wire.
const ATTACH_FD: &str = "MPCHECK_ARENA_TEST_FD";
const ATTACH_WIRE: &str = "MPCHECK_ARENA_TEST_WIRE";

#[test]
fn a_spawned_process_attaches_to_the_family_and_imports_a_handle() {
    let name =
        "platform::arena::tests::a_spawned_process_attaches_to_the_family_and_imports_a_handle";
    if let (Ok(fd), Ok(wire)) = (std::env::var(ATTACH_FD), std::env::var(ATTACH_WIRE)) {
        // The child: a process of its own (re-executed), with no arena yet.
        assert!(family_fd().is_none());
        let fd: i32 = fd.parse().unwrap();
        // SAFETY: the parent left this descriptor open (not close-on-exec) for this process.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        attach(fd).unwrap();
        let bytes: Vec<u8> = (0..wire.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&wire[i..i + 2], 16).unwrap())
            .collect();
        let wire: Wire = postcard::from_bytes(&bytes).unwrap();
        // The parent exported an `OsShared<[AtomicU64]>`.
        let words = OsShared::<[AtomicU64]>::import(wire).unwrap();
        for (i, word) in words.iter().enumerate() {
            word.fetch_add(i as u64 + 100, Ordering::Relaxed);
        }
        assert_eq!(stats().registered, 1);
        release_all();
        return;
    }
    let words = Os::share_slice(4, |i| AtomicU64::new(i as u64)).unwrap();
    let wire = words.export();
    assert_eq!(count(words.registration()), 2);
    let hex: String = postcard::to_allocvec(&wire)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // Not close-on-exec: the child inherits it.
    let fd = rustix::io::dup(family_fd().unwrap()).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .env(ATTACH_FD, std::os::fd::AsRawFd::as_raw_fd(&fd).to_string())
        .env(ATTACH_WIRE, hex)
        .output()
        .unwrap();
    drop(fd);
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let values: Vec<u64> = words.iter().map(|w| w.load(Ordering::Relaxed)).collect();
    assert_eq!(values, [100, 102, 104, 106]);
    assert_eq!(
        count(words.registration()),
        2,
        "the child counted itself and gave its count back; the wire's count stays"
    );
}
