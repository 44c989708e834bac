//! The arena: where [`Os`](super::Os) places shared state, in memory that every process of a
//! family maps (the family: a process and every process it forks or spawns).
//!
//! # Design
//!
//! **The mapping.** One `memfd` per family (`MFD_CLOEXEC`, no name in `/dev/shm`, gone with the
//! last descriptor of the last process), made by the first [`share`] of a process that has none.
//! The file is `ftruncate`d once to a large size (the *reservation*: 64 GiB, halved on failure
//! down to 64 MiB) and mapped whole, `MAP_SHARED | MAP_NORESERVE`, once per process: the mapping
//! never moves and never grows, so a pointer into it stays valid for the life of the process.
//! memfd files are sparse: untouched pages cost nothing. The *committed* prefix of the file is
//! allocated with `fallocate` in chunks of [`COMMIT_CHUNK`] as the bump pointer passes them, so
//! that running out of memory is an [`Error::Io`] of `"fallocate"` returned by [`share_slice`]
//! (nothing changed, the arena still usable), never a `SIGBUS` when a page is first touched: no
//! block is handed out before the memory under it is committed. A fork child inherits the
//! mapping at the same address; a spawn child receives the descriptor ([`family_fd`]) and maps
//! it ([`attach`]).
//!
//! **The allocator lives in the arena and is lock-free**, because a process can be killed at any
//! instruction and must never leave a lock held that would hang the others. At offset 0 a
//! [`Header`]: a magic number, a random 64-bit family id, the reservation, the bump offset, the
//! committed size, one free-list head per size class. Then blocks, each starting with a 16-byte
//! [`BlockHeader`] (its size class, the cross-process reference count, the free-list link). Size
//! classes are powers of two, from 16 bytes to the reservation; a block never changes class.
//! A value of alignment `a` sits at the first multiple of `a` after the block header; a block
//! holds `size + max(16, a)` bytes, enough wherever the (16-aligned) block starts. Allocation
//! pops the class's free list, or else moves the bump offset by CAS. Free lists are Treiber
//! stacks whose head packs (block offset in 16-byte units, ABA tag) in one `AtomicU64`; reading
//! the stale link of a block being popped concurrently is harmless, the memory being always
//! mapped, and the tag makes the CAS fail if the head changed meanwhile.
//!
//! Every change to the shared structure is one CAS (or `fetch_*`) on one word, so a process that
//! dies between two of them leaves the structure consistent: the worst a death mid-operation
//! does is **leak a block** (taken from the bump or a free list but not yet handed out; or a
//! count not yet given back). It never corrupts a list, and nobody ever waits for it.
//!
//! **Reference counts across processes.** `fork` copies handles without counting them, so the
//! arena does not count handles but processes. Invariant: *a block's count is the number of
//! processes that hold at least one handle to it, plus one for every [`Wire`] ever exported*.
//! A wire's count is never taken back: the same encoded bytes may be decoded any number of
//! times (an item a full queue hands back, a message decoded twice), so no import can know it
//! is the last; a block whose handle once travelled (in a spawn's arguments, a queue item) is
//! never freed. An import adds the importing process's own count if it holds no handle to the
//! block yet, and only while the count is not 0; it checks the wire names a live block of this
//! family with the fingerprint of the expected type (kept in the live block's header), so any
//! bytes are safe to decode. In a process, a handle ([`OsShared`](super::os::OsShared)) is
//! a pointer to the value and an `Arc<Registration>`: clones are process-local `Arc` clones,
//! and the process-wide registry (a `Mutex<BTreeMap>`, keyed by block) lists the blocks this
//! process holds. The drop of the last local handle of a block removes it from the registry and
//! takes one off the arena count; the process that takes the count to zero drops the value in
//! place and pushes the block on its free list. The fork start method brackets `fork` with
//! [`before_fork`] (locks the registry, adds one count per registered block: the child inherits
//! a handle to each) and [`ForkGuard::in_parent`], [`ForkGuard::in_child`] or
//! [`ForkGuard::failed`]; a child ends with [`release_all`] before `_exit`, so that a child that
//! exits without running destructors leaks nothing. A process killed by a signal leaks its
//! counts (its blocks are never freed); the memory returns to the system when the last process
//! of the family closes the memfd (at its exit).
//!
//! A cost to know: a block is its value's size rounded up to a power of two, and the committed
//! memory is the bump pointer's high-water mark, so a large array can commit up to twice its
//! size.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::mem::{align_of, size_of};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use rustix::fs::{fallocate, fstat, ftruncate, memfd_create, FallocateFlags, MemfdFlags};
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

use crate::Error;

/// "mpcheck" and a layout version: what [`attach`] checks first.
const MAGIC: u64 = u64::from_be_bytes(*b"mpchkA01");
/// The largest reservation tried first: 64 GiB. Block offsets in units fit in 32 bits below it.
const MAX_RESERVATION: u64 = 64 << 30;
/// The smallest reservation accepted when larger ones fail: 64 MiB.
const MIN_RESERVATION: u64 = 64 << 20;
/// The granularity of blocks and the size of a block header.
const UNIT: u64 = 16;
/// The number of size classes: 16 bytes << 0 ..= 16 bytes << 32 (64 GiB).
const CLASSES: usize = 33;
/// The committed prefix grows by multiples of this.
const COMMIT_CHUNK: u64 = 256 << 10;
/// The largest alignment a shared value may ask for: the page (the mapping's own alignment).
const MAX_ALIGN: usize = 4096;
/// The low half of a free-list head: a block offset in units (0: empty); the high half: a tag.
const UNIT_MASK: u64 = u32::MAX as u64;

/// The free-list head after `current`: `unit` on top, the tag one more (wrapping).
#[inline]
fn retagged(current: u64, unit: u64) -> u64 {
    ((current >> 32).wrapping_add(1) << 32) | (unit & UNIT_MASK)
}

/// The arena's header, at offset 0 of the mapping. Every field is an atomic word: processes
/// read and change it concurrently.
#[repr(C, align(64))]
struct Header {
    /// [`MAGIC`] once the header is written (stored last, `Release`).
    magic: AtomicU64,
    /// The family's random id: a [`Wire`] of another family is refused.
    family: AtomicU64,
    /// The size of the file and of every process's mapping.
    reservation: AtomicU64,
    /// The offset of the first byte never handed out.
    bump: AtomicU64,
    /// The committed prefix: `fallocate`d, never a `SIGBUS` below it.
    committed: AtomicU64,
    /// Blocks handed out and not freed (statistics: a death may leave them off by one).
    live_blocks: AtomicU64,
    /// Their total size in bytes (block sizes), as `live_blocks`.
    live_bytes: AtomicU64,
    /// One Treiber stack per size class: (tag << 32) | block offset / [`UNIT`].
    free: [AtomicU64; CLASSES],
    /// The family's table of processes (see `os_liveness.rs`).
    processes: [ProcessSlot; PROCESS_SLOTS],
}

/// How many processes of a family can be alive at once with a slot of their own in its table
/// of processes (more are untracked: see `os_liveness.rs`).
pub(crate) const PROCESS_SLOTS: usize = 1024;

/// One entry of the family's table of processes: which process holds the slot, when it
/// started, and how many times the slot was taken (see `os_liveness.rs`).
#[repr(C)]
pub(crate) struct ProcessSlot {
    /// The holder: its start time (in clock ticks after boot, `/proc/<pid>/stat` field 22)
    /// above its pid's 22 bits, in one word, so that a taking of the slot writes both at once;
    /// 0 when free.
    pub(crate) holder: AtomicU64,
    /// Bumped each time a process takes the slot: a token names one taking.
    pub(crate) generation: AtomicU32,
}

/// The family's table of processes, in its arena (made if this process has none yet).
pub(crate) fn process_slots() -> Result<&'static [ProcessSlot; PROCESS_SLOTS], Error> {
    Ok(&arena()?.header().processes)
}

/// Where the first block starts.
const FIRST_BLOCK: u64 = size_of::<Header>() as u64;

/// The 16 bytes before every block's value.
#[repr(C)]
struct BlockHeader {
    /// The size class, written once when the bump hands the block out.
    class: AtomicU32,
    /// Processes holding a handle, plus handles in flight; 0 while the block is free.
    count: AtomicU32,
    /// While the block is free: the next free block of its class, in units (0: none).
    next: AtomicU64,
}

const _: () = assert!(size_of::<BlockHeader>() as u64 == UNIT);
const _: () = assert!(FIRST_BLOCK % UNIT == 0);

/// A process's mapping of its family's arena.
struct Arena {
    base: NonNull<u8>,
    len: u64,
    fd: OwnedFd,
}

// SAFETY: `base` points to shared memory accessed only through atomics and through values whose
// own types make them `Send + Sync`; the mapping lives as long as the process.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

fn io(operation: &'static str) -> impl FnOnce(rustix::io::Errno) -> Error {
    move |errno| Error::Io {
        operation,
        message: std::io::Error::from(errno).to_string(),
    }
}

/// A random 64-bit id: std's randomly keyed hasher, over the pid and the time.
fn random_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() | 1
}

/// Maps all `len` bytes of `fd`, shared, without reserving swap.
fn map(fd: &OwnedFd, len: u64) -> Result<NonNull<u8>, Error> {
    let len_usize = usize::try_from(len).map_err(|_| Error::Io {
        operation: "mmap",
        message: format!("{len} bytes do not fit the address space"),
    })?;
    // SAFETY: a new mapping at an address the kernel chooses: it overlaps nothing of ours.
    let raw = unsafe {
        mmap(
            ptr::null_mut(),
            len_usize,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED | MapFlags::NORESERVE,
            fd,
            0,
        )
    }
    .map_err(io("mmap"))?;
    NonNull::new(raw.cast::<u8>()).ok_or_else(|| Error::Io {
        operation: "mmap",
        message: "a mapping at address 0".to_owned(),
    })
}

#[cfg(test)]
/// Tests make the next commits fail, as `fallocate` does when memory runs out.
static REFUSE_COMMIT: AtomicBool = AtomicBool::new(false);

impl Arena {
    /// A new family's arena: a memfd, reserved, mapped, its header written.
    fn create() -> Result<Arena, Error> {
        let fd = memfd_create("mpcheck-arena", MemfdFlags::CLOEXEC).map_err(io("memfd_create"))?;
        let mut len = MAX_RESERVATION;
        let base = loop {
            let mapped = ftruncate(&fd, len)
                .map_err(io("ftruncate"))
                .and_then(|()| map(&fd, len));
            match mapped {
                Ok(base) => break base,
                Err(_) if len > MIN_RESERVATION => len /= 2,
                Err(error) => return Err(error),
            }
        };
        let arena = Arena { base, len, fd };
        let header = arena.header();
        header.committed.store(0, Ordering::Relaxed);
        if let Err(error) = arena.commit(FIRST_BLOCK) {
            arena.unmap();
            return Err(error);
        }
        header.family.store(random_id(), Ordering::Relaxed);
        header.reservation.store(len, Ordering::Relaxed);
        header.bump.store(FIRST_BLOCK, Ordering::Relaxed);
        header.magic.store(MAGIC, Ordering::Release);
        Ok(arena)
    }

    /// The arena of `fd`, made by [`Arena::create`] in another process of the family.
    fn open(fd: OwnedFd) -> Result<Arena, Error> {
        let len = fstat(&fd).map_err(io("fstat"))?.st_size as u64;
        if len < COMMIT_CHUNK {
            return Err(Error::InvalidArgument(format!(
                "a file of {len} bytes is not an mpcheck arena"
            )));
        }
        let base = map(&fd, len)?;
        let arena = Arena { base, len, fd };
        let header = arena.header();
        if header.magic.load(Ordering::Acquire) != MAGIC
            || header.reservation.load(Ordering::Relaxed) != len
        {
            arena.unmap();
            return Err(Error::InvalidArgument(
                "the file descriptor is not an mpcheck arena (its header is not one)".to_owned(),
            ));
        }
        Ok(arena)
    }

    /// Unmaps an arena that will not be used (its descriptor closes with it).
    fn unmap(self) {
        // SAFETY: the whole mapping, made by `map`; nothing refers into it (the arena was
        // never installed).
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.len as usize) };
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the header is at offset 0 of the mapping, aligned (page-aligned base), and
        // made only of atomics, for which any bytes are valid.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// The header of the block at `offset` (16-aligned, inside the mapping).
    #[inline]
    fn block(&self, offset: u64) -> &BlockHeader {
        debug_assert!(offset % UNIT == 0 && offset >= FIRST_BLOCK && offset < self.len);
        // SAFETY: inside the mapping, 16-aligned, and made only of atomics.
        unsafe { self.at(offset).cast::<BlockHeader>().as_ref() }
    }

    /// The address of byte `offset` of the mapping.
    #[inline]
    fn at(&self, offset: u64) -> NonNull<u8> {
        // SAFETY: callers pass offsets inside the mapping.
        unsafe { self.base.add(offset as usize) }
    }

    /// Makes sure the first `end` bytes are committed.
    fn commit(&self, end: u64) -> Result<(), Error> {
        let committed = &self.header().committed;
        let from = committed.load(Ordering::Acquire);
        if end <= from {
            return Ok(());
        }
        let to = end
            .div_ceil(COMMIT_CHUNK)
            .saturating_mul(COMMIT_CHUNK)
            .min(self.len);
        #[cfg(test)]
        if REFUSE_COMMIT.load(Ordering::Relaxed) {
            return Err(io("fallocate")(rustix::io::Errno::NOSPC));
        }
        fallocate(&self.fd, FallocateFlags::empty(), from, to - from).map_err(io("fallocate"))?;
        committed.fetch_max(to, Ordering::Release);
        Ok(())
    }

    /// A free block of class `class` (`UNIT << class` bytes), its count still 0.
    fn take(&self, class: usize) -> Result<u64, Error> {
        if let Some(block) = self.pop(class) {
            return Ok(block);
        }
        let size = UNIT << class;
        let bump = &self.header().bump;
        let mut start = bump.load(Ordering::Relaxed);
        loop {
            let end = start.checked_add(size).filter(|&end| end <= self.len);
            let Some(end) = end else {
                return Err(Error::InvalidArgument(format!(
                    "a block of {size} bytes does not fit in what is left of the shared memory \
                     arena ({} of its {} bytes are free)",
                    self.len - start,
                    self.len
                )));
            };
            // Commit first: the block is handed out only once the memory under it is there.
            self.commit(end)?;
            match bump.compare_exchange_weak(start, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    self.block(start)
                        .class
                        .store(class as u32, Ordering::Relaxed);
                    return Ok(start);
                }
                Err(now) => start = now,
            }
        }
    }

    /// Pops a block off the free list of `class`.
    fn pop(&self, class: usize) -> Option<u64> {
        let head = &self.header().free[class];
        let mut current = head.load(Ordering::Acquire);
        loop {
            let unit = current & UNIT_MASK;
            if unit == 0 {
                return None;
            }
            // The link may be stale (another process popped this block and is using it): then
            // the head has changed, with its tag, and the CAS fails. The memory is mapped
            // either way.
            let next = self.link(unit * UNIT).load(Ordering::Relaxed);
            let new = retagged(current, next);
            match head.compare_exchange_weak(current, new, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Some(unit * UNIT),
                Err(now) => current = now,
            }
        }
    }

    /// The free-list link of the block at `offset`.
    #[inline]
    fn link(&self, offset: u64) -> &AtomicU64 {
        &self.block(offset).next
    }

    /// Pushes the block at `offset` (its count 0, its value dropped) on its class's free list.
    fn push(&self, offset: u64) {
        let class = self.block(offset).class.load(Ordering::Relaxed) as usize;
        let head = &self.header().free[class];
        let mut current = head.load(Ordering::Relaxed);
        loop {
            self.link(offset)
                .store(current & UNIT_MASK, Ordering::Relaxed);
            let new = retagged(current, offset / UNIT);
            match head.compare_exchange_weak(current, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// A block for `bytes` bytes aligned to `align`, its count 1: (block offset, value offset).
    fn allocate(&self, bytes: usize, align: usize) -> Result<(u64, u64), Error> {
        assert!(
            align <= MAX_ALIGN,
            "a shared value aligned to {align} bytes (at most {MAX_ALIGN})"
        );
        let need = bytes as u64 + (align as u64).max(UNIT);
        if need > self.len - FIRST_BLOCK {
            return Err(Error::InvalidArgument(format!(
                "{bytes} bytes are more than the shared memory arena holds ({} bytes reserved)",
                self.len
            )));
        }
        let class = (need.next_power_of_two().trailing_zeros() - UNIT.trailing_zeros()) as usize;
        let block = self.take(class)?;
        self.block(block).count.store(1, Ordering::Relaxed);
        let header = self.header();
        header.live_blocks.fetch_add(1, Ordering::Relaxed);
        header
            .live_bytes
            .fetch_add(UNIT << class, Ordering::Relaxed);
        let value = (block + UNIT).next_multiple_of(align as u64);
        Ok((block, value))
    }

    /// Frees the block at `offset`, whose count just reached 0 and whose value was dropped.
    fn free(&self, offset: u64) {
        let class = self.block(offset).class.load(Ordering::Relaxed);
        let header = self.header();
        header.live_blocks.fetch_sub(1, Ordering::Relaxed);
        header
            .live_bytes
            .fetch_sub(UNIT << class, Ordering::Relaxed);
        self.push(offset);
    }

    /// Adds one to the count of the block at `offset` (held by the caller: it cannot be 0).
    fn retain(&self, offset: u64) {
        self.block(offset).count.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one off the count of `block`; drops its value and frees it if that was the last.
    fn release(&self, block: &Block) {
        if self
            .block(block.block)
            .count
            .fetch_sub(1, Ordering::Release)
            != 1
        {
            return;
        }
        // Every use of the value, in every process, happens before its drop.
        fence(Ordering::Acquire);
        // SAFETY: the count reached 0: no process holds the value any more, and `block`
        // describes it (its type's drop, its place, its length).
        unsafe { (block.drop)(self.at(block.value), block.len) };
        self.free(block.block);
    }
}

/// This process's arena, once made or attached.
static ARENA: OnceLock<Arena> = OnceLock::new();
/// Held while the arena is made (and across `fork`).
static MAKING: Mutex<()> = Mutex::new(());

fn lock<T>(mutex: &'static Mutex<T>) -> MutexGuard<'static, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process's arena, made if it has none.
fn arena() -> Result<&'static Arena, Error> {
    if let Some(arena) = ARENA.get() {
        return Ok(arena);
    }
    let _making = lock(&MAKING);
    if let Some(arena) = ARENA.get() {
        return Ok(arena);
    }
    let made = Arena::create()?;
    Ok(ARENA.get_or_init(|| made))
}

/// Drops a value in the arena: its address and length (1 for a sized value).
type DropFn = unsafe fn(NonNull<u8>, usize);

/// Drops a `T` at `at`.
///
/// # Safety
/// `at` holds a live `T` nobody uses any more.
unsafe fn drop_one<T>(at: NonNull<u8>, _len: usize) {
    // SAFETY: the caller's promise.
    unsafe { ptr::drop_in_place(at.cast::<T>().as_ptr()) }
}

/// Drops `len` `T`s at `at`.
///
/// # Safety
/// `at` holds `len` live `T`s nobody uses any more.
unsafe fn drop_slice<T>(at: NonNull<u8>, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(at.cast::<T>().as_ptr(), len)) }
}

/// A block held by this process: where it is, and how to drop its value.
#[derive(Clone, Copy)]
struct Block {
    block: u64,
    value: u64,
    len: usize,
    drop: DropFn,
}

/// This process's hold on a block: one count in the arena, shared by every local handle (an
/// `Arc<Registration>`) and given back by the drop of the last.
pub(crate) struct Registration(Block);

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registration(block {})", self.0.block)
    }
}

/// A registered block: the registration (weak: the registry does not keep it alive) and its
/// description, which outlives the registration (a fork child may have to release a block
/// whose registration was being dropped by a thread of the parent).
struct Entry {
    local: Weak<Registration>,
    block: Block,
}

/// The blocks this process holds, by block offset.
static REGISTRY: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());
/// Set by [`release_all`]: this process gave back every count, later drops give back nothing.
static RELEASED: AtomicBool = AtomicBool::new(false);

impl Drop for Registration {
    fn drop(&mut self) {
        if RELEASED.load(Ordering::Acquire) {
            return;
        }
        let Some(arena) = ARENA.get() else { return };
        let mut registry = lock(&REGISTRY);
        // The entry is this registration's unless an import replaced it while this drop
        // waited for the lock (a new registration, with a count of its own).
        if registry
            .get(&self.0.block)
            .is_some_and(|entry| ptr::eq(entry.local.as_ptr(), self))
        {
            registry.remove(&self.0.block);
        }
        // Under the lock: a fork either counts this registration for the child (it is in the
        // registry) or happens after the count is given back.
        let count = arena
            .block(self.0.block)
            .count
            .fetch_sub(1, Ordering::Release);
        drop(registry);
        if count == 1 {
            fence(Ordering::Acquire);
            // SAFETY: the count reached 0: no process holds the value any more.
            unsafe { (self.0.drop)(arena.at(self.0.value), self.0.len) };
            arena.free(self.0.block);
        }
    }
}

/// Registers `block` (its count already counting this process) in this process's registry.
fn register(block: Block) -> Arc<Registration> {
    let local = Arc::new(Registration(block));
    let entry = Entry {
        local: Arc::downgrade(&local),
        block,
    };
    lock(&REGISTRY).insert(block.block, entry);
    local
}

/// The value of a handle: where it is and what describes it, for [`OsShared`](super::os::OsShared).
pub(crate) trait Pointee {
    /// The number of elements of the value at `value` (1 for a sized value).
    fn len(value: NonNull<Self>) -> usize;
    /// The value of `len` elements at `at`.
    fn at(at: NonNull<u8>, len: usize) -> NonNull<Self>;
    /// The size in bytes of a value of `len` elements, if it fits an address space.
    fn bytes(len: usize) -> Option<usize>;
    /// Its alignment.
    const ALIGN: usize;
    /// How to drop it.
    const DROP: DropFn;

    /// A fingerprint of the type, kept in a live block's header and in a [`Wire`], so that a
    /// wire imported as another type (or naming a block that now holds another type) is
    /// refused rather than misread.
    fn kind() -> u64 {
        // FNV-1a of the type's name: stable within one binary, which is all a family runs.
        std::any::type_name::<Self>()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    }
}

impl<T> Pointee for T {
    fn len(_: NonNull<Self>) -> usize {
        1
    }
    fn at(at: NonNull<u8>, _: usize) -> NonNull<Self> {
        at.cast()
    }
    fn bytes(len: usize) -> Option<usize> {
        (len == 1).then_some(size_of::<T>())
    }
    const ALIGN: usize = align_of::<T>();
    const DROP: DropFn = drop_one::<T>;
}

impl<T> Pointee for [T] {
    fn len(value: NonNull<Self>) -> usize {
        value.len()
    }
    fn at(at: NonNull<u8>, len: usize) -> NonNull<Self> {
        NonNull::slice_from_raw_parts(at.cast(), len)
    }
    fn bytes(len: usize) -> Option<usize> {
        std::alloc::Layout::array::<T>(len).ok().map(|l| l.size())
    }
    const ALIGN: usize = align_of::<T>();
    const DROP: DropFn = drop_slice::<T>;
}

/// `value` in the arena, in a block registered in this process: its address and registration.
pub(crate) fn share<T>(value: T) -> Result<(NonNull<T>, Arc<Registration>), Error> {
    let arena = arena()?;
    let (block, offset) = arena.allocate(size_of::<T>(), align_of::<T>())?;
    let at = arena.at(offset).cast::<T>();
    // SAFETY: the block was just taken for this value: inside the mapping, committed, aligned
    // for `T` and used by nobody else.
    unsafe { at.write(value) };
    // While the block is live its free-list link is unused: it keeps the type's fingerprint.
    arena.block(block).next.store(T::kind(), Ordering::Relaxed);
    let local = register(Block {
        block,
        value: offset,
        len: 1,
        drop: drop_one::<T>,
    });
    Ok((at, local))
}

/// A slice being built in a block: drops the elements made so far and frees the block if it is
/// dropped before it is complete (when `init` panics).
struct Partial<T> {
    block: u64,
    elements: NonNull<T>,
    done: usize,
}

impl<T> Drop for Partial<T> {
    fn drop(&mut self) {
        // SAFETY: the first `done` elements were written and nothing else refers to them.
        unsafe {
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(
                self.elements.as_ptr(),
                self.done,
            ))
        };
        if let Some(arena) = ARENA.get() {
            arena.block(self.block).count.store(0, Ordering::Relaxed);
            arena.free(self.block);
        }
    }
}

/// `len` values made by `init(0)`, `init(1)`, ... in the arena, as [`share`].
///
/// `Error::InvalidArgument` (before `init` is called) when `len` elements of `T` are more than
/// an address space holds (the message [`Heap`](super::Heap) gives) or than the arena holds;
/// `Error::Io` when the arena cannot be made or its memory committed.
pub(crate) fn share_slice<T>(
    len: usize,
    mut init: impl FnMut(usize) -> T,
) -> Result<(NonNull<[T]>, Arc<Registration>), Error> {
    let Some(bytes) = <[T]>::bytes(len) else {
        return Err(Error::InvalidArgument(format!(
            "{len} elements of {} bytes are more than an address space holds",
            size_of::<T>()
        )));
    };
    let arena = arena()?;
    let (block, offset) = arena.allocate(bytes, align_of::<T>())?;
    let mut partial = Partial {
        block,
        elements: arena.at(offset).cast::<T>(),
        done: 0,
    };
    while partial.done < len {
        let element = init(partial.done);
        // SAFETY: element `done` is inside the block, aligned for `T`, not yet written.
        unsafe { partial.elements.add(partial.done).write(element) };
        partial.done += 1;
    }
    let elements = partial.elements;
    std::mem::forget(partial);
    // While the block is live its free-list link is unused: it keeps the type's fingerprint.
    arena
        .block(block)
        .next
        .store(<[T] as Pointee>::kind(), Ordering::Relaxed);
    let local = register(Block {
        block,
        value: offset,
        len,
        drop: drop_slice::<T>,
    });
    Ok((NonNull::slice_from_raw_parts(elements, len), local))
}

/// A handle in transit to another process of the family (a spawn's arguments, a queue item):
/// which family, which block, where its value is, and its type's fingerprint. Made by
/// [`Platform::export`](super::Platform::export); [`Platform::import`](super::Platform::import)
/// gives the handle back, in any process of the family, any number of times. The block it
/// names is never freed (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wire {
    family: u64,
    block: u64,
    value: u64,
    len: u64,
    kind: u64,
}

/// The wire form of the handle whose value is `value` and registration `local`; adds the
/// in-flight count.
pub(crate) fn export<T: ?Sized + Pointee>(value: NonNull<T>, local: &Registration) -> Wire {
    let arena = ARENA.get().expect("a handle exists, so does the arena");
    arena.retain(local.0.block);
    Wire {
        family: arena.header().family.load(Ordering::Relaxed),
        block: local.0.block,
        value: local.0.value,
        len: T::len(value) as u64,
        kind: T::kind(),
    }
}

/// The handle `wire` names, registered in this process (which counts once, however many times
/// it imports it).
///
/// Safe for any bytes: a wire is accepted only if it names a live block of this family's arena
/// whose header holds the fingerprint of `T`, with the value inside the block and aligned;
/// the count is added only while it is not 0 (a block being freed is never revived).
pub(crate) fn import<T: ?Sized + Pointee>(
    wire: Wire,
) -> Result<(NonNull<T>, Arc<Registration>), Error> {
    let Some(arena) = ARENA.get() else {
        return Err(Error::Decode(
            "a shared handle, in a process without a shared memory arena (attach the \
             family's first)"
                .to_owned(),
        ));
    };
    let family = arena.header().family.load(Ordering::Relaxed);
    if wire.family != family {
        return Err(Error::Decode(format!(
            "a shared handle of another family of processes (family {:#x}; this process's is \
             {family:#x})",
            wire.family
        )));
    }
    let invalid = || {
        Error::Decode(format!(
            "a shared handle that names no live block of this family's arena (block {})",
            wire.block
        ))
    };
    let bump = arena.header().bump.load(Ordering::Acquire);
    if wire.block % UNIT != 0 || wire.block < FIRST_BLOCK || wire.block >= bump {
        return Err(invalid());
    }
    let header = arena.block(wire.block);
    let class = header.class.load(Ordering::Relaxed);
    let len = usize::try_from(wire.len).map_err(|_| invalid())?;
    let fits = (class as usize) < CLASSES
        && T::bytes(len).is_some_and(|bytes| {
            wire.value >= wire.block + UNIT
                && wire.value % T::ALIGN as u64 == 0
                && wire.value + bytes as u64 <= wire.block + (UNIT << class)
        });
    if !fits || header.count.load(Ordering::Relaxed) == 0 {
        return Err(invalid());
    }
    if wire.kind != T::kind() || header.next.load(Ordering::Relaxed) != T::kind() {
        return Err(Error::Decode(format!(
            "a shared handle decoded as a {}, which it is not",
            std::any::type_name::<T>()
        )));
    }
    let value = T::at(arena.at(wire.value), len);
    let block = Block {
        block: wire.block,
        value: wire.value,
        len,
        drop: T::DROP,
    };
    let mut registry = lock(&REGISTRY);
    if let Some(local) = registry
        .get(&wire.block)
        .and_then(|entry| entry.local.upgrade())
    {
        // Already held here: this process counts once.
        return Ok((value, local));
    }
    // This process's own count. The wire's count stays: the same bytes may be decoded again
    // (an item handed back by a full queue, say), so no import may take it; the block of a
    // handle that once travelled is never freed (see the module docs).
    let count = &arena.block(wire.block).count;
    if count
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n != 0).then(|| n + 1)
        })
        .is_err()
    {
        return Err(invalid());
    }
    let local = Arc::new(Registration(block));
    registry.insert(
        wire.block,
        Entry {
            local: Arc::downgrade(&local),
            block,
        },
    );
    Ok((value, local))
}

/// The family's memfd, to hand to a spawn child; `None` before this process has an arena.
#[allow(dead_code)] // used by the spawn start method
pub(crate) fn family_fd() -> Option<BorrowedFd<'static>> {
    ARENA.get().map(|arena| arena.fd.as_fd())
}

/// Makes the family arena of `fd` (received from the parent, see [`family_fd`]) this process's
/// arena. An error if this process already has one, or if `fd` is not an arena.
#[allow(dead_code)] // used by the spawn start method
pub(crate) fn attach(fd: OwnedFd) -> Result<(), Error> {
    let _making = lock(&MAKING);
    if ARENA.get().is_some() {
        return Err(Error::InvalidArgument(
            "this process already has a shared memory arena".to_owned(),
        ));
    }
    let opened = Arena::open(fd)?;
    let _ = ARENA.set(opened);
    Ok(())
}

/// The registry, locked across a `fork`, with one count added per registered block: the child
/// inherits a handle to each. Made by [`before_fork`].
#[must_use = "a fork guard must be ended by in_parent, in_child or failed"]
pub(crate) struct ForkGuard {
    registry: MutexGuard<'static, BTreeMap<u64, Entry>>,
    _making: MutexGuard<'static, ()>,
}

/// Prepares a `fork`: locks the registry (no handle is registered or given back during the
/// fork) and adds one count per registered block, for the child. End it with
/// [`ForkGuard::in_parent`], [`ForkGuard::in_child`] or [`ForkGuard::failed`].
#[allow(dead_code)] // used by the fork start method
pub(crate) fn before_fork() -> ForkGuard {
    let making = lock(&MAKING);
    let registry = lock(&REGISTRY);
    if let Some(arena) = ARENA.get() {
        for &offset in registry.keys() {
            arena.retain(offset);
        }
    }
    ForkGuard {
        registry,
        _making: making,
    }
}

#[allow(dead_code)] // used by the fork start method
impl ForkGuard {
    /// In the parent, after a successful `fork`: unlocks.
    pub(crate) fn in_parent(self) {}

    /// In the child, right after `fork`: gives back the counts of the blocks whose last local
    /// handle was being dropped by another thread of the parent at the fork (that thread does
    /// not exist here: the drop never completes), then unlocks.
    pub(crate) fn in_child(mut self) {
        let Some(arena) = ARENA.get() else { return };
        let dying: Vec<u64> = self
            .registry
            .iter()
            .filter(|(_, entry)| entry.local.strong_count() == 0)
            .map(|(&offset, _)| offset)
            .collect();
        for offset in dying {
            if let Some(entry) = self.registry.remove(&offset) {
                arena.release(&entry.block);
            }
        }
    }

    /// After a failed `fork`: takes back the counts added for the child, then unlocks.
    pub(crate) fn failed(self) {
        if let Some(arena) = ARENA.get() {
            for entry in self.registry.values() {
                // Never the last: this process's own count is still there.
                arena
                    .block(entry.block.block)
                    .count
                    .fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Gives back this process's count of every block it holds (dropping and freeing those whose
/// count reaches 0) and empties the registry: a child calls it just before `_exit`, so that
/// ending without running destructors leaks nothing. The handles still alive must not be used
/// afterwards (their drops give back nothing).
#[allow(dead_code)] // used by the process start methods
pub(crate) fn release_all() {
    let mut registry = lock(&REGISTRY);
    RELEASED.store(true, Ordering::Release);
    let Some(arena) = ARENA.get() else { return };
    for (_, entry) in std::mem::take(&mut *registry) {
        arena.release(&entry.block);
    }
}

/// What the arena holds, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(dead_code)] // for tests
pub(crate) struct Stats {
    /// Blocks handed out and not freed, in every process of the family.
    pub(crate) live_blocks: u64,
    /// Their total size (block sizes, powers of two).
    pub(crate) live_bytes: u64,
    /// The bump offset: bytes ever handed out, with the header.
    pub(crate) bump: u64,
    /// The committed prefix.
    pub(crate) committed: u64,
    /// The reservation: the size of the file and of the mapping.
    pub(crate) reservation: u64,
    /// Blocks this process holds.
    pub(crate) registered: usize,
}

/// The arena's statistics (all zero before this process has an arena).
#[allow(dead_code)] // for tests
pub(crate) fn stats() -> Stats {
    let Some(arena) = ARENA.get() else {
        return Stats::default();
    };
    let header = arena.header();
    Stats {
        live_blocks: header.live_blocks.load(Ordering::Relaxed),
        live_bytes: header.live_bytes.load(Ordering::Relaxed),
        bump: header.bump.load(Ordering::Relaxed),
        committed: header.committed.load(Ordering::Relaxed),
        reservation: arena.len,
        registered: lock(&REGISTRY).len(),
    }
}

/// The count of the block holding the value of `local` (for tests).
#[allow(dead_code)] // for tests
pub(crate) fn count(local: &Registration) -> u32 {
    ARENA.get().map_or(0, |arena| {
        arena.block(local.0.block).count.load(Ordering::Relaxed)
    })
}

/// The offset of the block of `local` (for tests).
#[allow(dead_code)] // for tests
pub(crate) fn block_of(local: &Registration) -> u64 {
    local.0.block
}

#[cfg(test)]
mod tests;
