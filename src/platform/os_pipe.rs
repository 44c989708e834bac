//! [`OsPipeEnd`]: [`Os`](super::Os)'s pipe, kernel pipes or a Unix socket pair.
//!
//! Where the process ignores `SIGPIPE` when the pipe is made, a pipe is made of kernel pipes
//! (`pipe2(O_CLOEXEC)`): a one-way pipe is one, as Python's is; a duplex pipe is two, each end
//! reading one and writing the other. Kernel pipes carry small messages much faster than a
//! Unix socket pair here (no socket buffer allocated per write; a non-blocking read is cheap):
//! 1.4 times the raw socket pair one-way, and about 2.5 times its round trips when both sides
//! spin (see docs/PERFORMANCE.md). But `write(2)` to a pipe nobody reads raises `SIGPIPE`
//! (there is no `MSG_NOSIGNAL` for pipes), and a library must not kill its host process
//! through a signal disposition it does not own. Every Rust program ignores `SIGPIPE` (std sets
//! it to `SIG_IGN` before `main`), as Python does; a host that does not (a C program calling a
//! Rust library, say) gets a `socketpair(AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC)` instead, as
//! Python's duplex `Pipe` is, whose writes go through `send(MSG_NOSIGNAL)`. A host that
//! restores `SIGPIPE`'s default after making a pipe and then writes to it once its reader is
//! gone is killed by the signal, as a Python program would be. Either way, a write to a closed
//! reader is [`Error::BrokenPipe`]. The non-blocking tries of a kernel pipe's read (see
//! [`OsPipeEnd::read`](PipeEnd::read)) are `preadv2(RWF_NOWAIT)`: its `O_NONBLOCK` would be
//! shared by every process holding the pipe.
//!
//! The direction of a one-way pair is enforced here and by the kernel: the receiving end's
//! `write` fails with [`Error::BrokenPipe`] and the sending end's `read` returns `Ok(0)` (end of
//! file) at once, never blocking, whichever kind the pair is (a socket pair's other directions
//! are `shutdown(2)` when it is made). (`Connection` checks the direction before calling, so
//! neither is reached through it.) A spawned process that receives an end finds out what it is
//! from the descriptors themselves (a duplex end of kernel pipes travels as two).
//!
//! # Closing
//!
//! An end holds its descriptor as `Mutex<Option<Arc<OwnedFd>>>`. Every operation clones the
//! `Arc` out under the mutex and makes its system call without it; [`PipeEnd::close`] takes the
//! `Option`, so every later operation fails with `Error::Closed { what: "connection" }`, and the
//! descriptor is really closed when the last operation still in flight drops its `Arc`. A
//! descriptor number is therefore never closed while a thread of this process is still using it
//! (which could otherwise make that thread read from or write to whatever file next reuses the
//! number). The consequences:
//!
//! - A thread blocked in `read` (or `write`, or `poll` without a deadline) on an end that another
//!   thread closes stays blocked until data or end of file arrive (or room, or the deadline), as
//!   with `close(2)` on Linux; the peer sees the end closed only once that operation returns.
//! - Closing an end (or dropping it) closes this process's descriptor only. An end inherited by
//!   a forked child is a second descriptor of the same socket: the kernel counts descriptors, so
//!   the peer sees end of file (or a broken pipe) once every process's copy is closed. Closing
//!   never calls `shutdown(2)`, which would act on the socket shared by every process.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, Shutdown, SocketFlags, SocketType};

use super::{Instant, PipeEnd};
use crate::{Error, Platform};

/// The most non-blocking tries a `read` makes before it blocks; after the `k`-th empty try it
/// pauses for `2^k` spin-loop hints. How many it makes is adapted per end (see
/// [`OsPipeEnd::read`]).
const READ_SPINS: u32 = 10;
/// The tries a new end starts with.
const READ_SPINS_START: u32 = 6;
/// After how many blocking reads without spinning an end tries spinning again.
const READ_PROBE: u32 = 32;

/// One end of an [`Os`](super::Os) pipe: an end of a `pipe(2)`, ends of two (duplex), or a
/// Unix stream socket of a `socketpair(2)` (which one: the module documentation says).
///
/// A closed reader is an [`Error::BrokenPipe`]. Shared by reference between threads; any
/// thread may close it, and dropping it closes it. [`PipeEnd::close`] makes every later
/// operation fail with `Error::Closed`, but the descriptor stays open until the operations
/// already in flight on this end return (a thread blocked in `read` stays blocked until data or
/// end of file arrive, as with `close(2)` on Linux), so a descriptor number still in use is
/// never closed and reused. Closing only closes this process's descriptor: a copy inherited by
/// a forked child keeps the pipe open.
#[derive(Debug)]
pub struct OsPipeEnd {
    /// The descriptors; `None` once closed. Operations clone the `Arc` and call without the
    /// lock.
    fd: Mutex<Option<Arc<Fds>>>,
    /// What the descriptor is.
    kind: Kind,
    /// How many non-blocking tries the next `read` makes (at most [`READ_SPINS`]).
    spins: AtomicU32,
    /// Reads made without spinning since spinning was given up (up to [`READ_PROBE`]).
    unspun: AtomicU32,
}

/// An end's descriptors. Closed in the order of the fields (a dropped struct drops its fields
/// in that order): for a [`Kind::PipePair`], the pipe it reads before the one it writes, which
/// its peer's `poll` relies on (see `poll`).
#[derive(Debug)]
struct Fds {
    /// The socket, or the kernel pipe end (for [`Kind::PipePair`] the one read from).
    fd: OwnedFd,
    /// For [`Kind::PipePair`]: the writing end of the other kernel pipe.
    write: Option<OwnedFd>,
}

impl Fds {
    /// The descriptor written to.
    fn write(&self) -> &OwnedFd {
        self.write.as_ref().unwrap_or(&self.fd)
    }
}

/// What an end's descriptors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A Unix stream socket (read with `recv`, written with `send(MSG_NOSIGNAL)`).
    Socket,
    /// The reading end of a `pipe(2)`.
    PipeReader,
    /// The writing end of a `pipe(2)`.
    PipeWriter,
    /// One end of a duplex pipe made of two `pipe(2)`s: the reading end of one, the writing
    /// end of the other.
    PipePair,
}

impl Kind {
    /// Whether it is read with `read(2)` (not `recv`).
    fn reads_a_pipe(self) -> bool {
        matches!(self, Kind::PipeReader | Kind::PipePair)
    }
}

/// The high bit of an exported end's number: a [`Kind::PipePair`], two descriptors (the
/// number's and the next).
const PAIR_BIT: u32 = 1 << 31;

/// A new pipe: `(first, second)`, close-on-exec.
///
/// Where this process ignores `SIGPIPE`, kernel pipes: one-way (`duplex == false`), a
/// `pipe(2)` whose first end only receives and second only sends; duplex, two of them, each end
/// reading one and writing the other. Otherwise a connected Unix stream socket pair, whose
/// other directions are shut down in the kernel if one-way.
pub(crate) fn os_pipe(duplex: bool) -> Result<(OsPipeEnd, OsPipeEnd), Error> {
    pair(duplex, sigpipe_ignored())
}

/// A new pipe, as [`os_pipe`] makes it: of kernel pipes if `kernel_pipe`.
fn pair(duplex: bool, kernel_pipe: bool) -> Result<(OsPipeEnd, OsPipeEnd), Error> {
    let kernel = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| io_error("pipe2", e))
    };
    if kernel_pipe && !duplex {
        let (reader, writer) = kernel()?;
        return Ok((
            OsPipeEnd::new(reader, None, Kind::PipeReader),
            OsPipeEnd::new(writer, None, Kind::PipeWriter),
        ));
    }
    if kernel_pipe {
        let ((first_reads, second_writes), (second_reads, first_writes)) = (kernel()?, kernel()?);
        return Ok((
            OsPipeEnd::new(first_reads, Some(first_writes), Kind::PipePair),
            OsPipeEnd::new(second_reads, Some(second_writes), Kind::PipePair),
        ));
    }
    let (first, second) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| io_error("socketpair", e))?;
    if !duplex {
        // On Linux either call alone shuts both (a Unix socket mirrors its shutdown onto its
        // peer); both are made so that each end's own state says what it is.
        rustix::net::shutdown(&first, Shutdown::Write).map_err(|e| io_error("shutdown", e))?;
        rustix::net::shutdown(&second, Shutdown::Read).map_err(|e| io_error("shutdown", e))?;
    }
    Ok((
        OsPipeEnd::new(first, None, Kind::Socket),
        OsPipeEnd::new(second, None, Kind::Socket),
    ))
}

/// Whether this process ignores `SIGPIPE` now (its disposition is `SIG_IGN`).
fn sigpipe_ignored() -> bool {
    // SAFETY: a zeroed `sigaction` is a valid value of the plain C struct, and `sigaction` with
    // a null new action only reads the current one into `old`, which outlives the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

impl OsPipeEnd {
    fn new(fd: OwnedFd, write: Option<OwnedFd>, kind: Kind) -> Self {
        OsPipeEnd {
            fd: Mutex::new(Some(Arc::new(Fds { fd, write }))),
            kind,
            spins: AtomicU32::new(READ_SPINS_START),
            unspun: AtomicU32::new(0),
        }
    }

    /// The descriptors, kept open for the caller's operation; `Closed` once closed.
    fn fd(&self) -> Result<Arc<Fds>, Error> {
        // Nothing panics while the lock is held, but a poisoned lock still holds a valid `Option`.
        let guard = self.fd.lock().unwrap_or_else(PoisonError::into_inner);
        guard.clone().ok_or(Error::Closed { what: "connection" })
    }
}

fn io_error(operation: &'static str, errno: Errno) -> Error {
    Error::Io {
        operation,
        message: errno.to_string(),
    }
}

impl PipeEnd for OsPipeEnd {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let fd = self.fd()?;
        if self.kind == Kind::PipeWriter {
            // The sending end of a one-way pipe: at end of file at once, as a shut-down socket.
            return Ok(0);
        }
        // Spin, then sleep: a few non-blocking tries first, with a growing pause between them,
        // because the peer's answer often comes sooner than the kernel wakes a sleeping
        // reader; then a blocking `recv`. Each try is a whole `recv` (no byte is peeked or
        // kept here), so the results are exactly a blocking read's. Spinning only pays while
        // the peer runs on another core: on a machine with more runnable tasks than cores it
        // takes the core from the very peer it waits for. So the number of tries adapts, per
        // end: one more after a spin that found data, half after a spin that ended in a
        // blocking `recv`, and from none back to two after `READ_PROBE` reads without.
        let budget = self.spins.load(Relaxed);
        let mut budget = if budget == 0 && self.unspun.fetch_add(1, Relaxed) + 1 >= READ_PROBE {
            self.unspun.store(0, Relaxed);
            2
        } else {
            budget
        };
        let mut tries = 0;
        loop {
            let spinning = tries < budget && !buf.is_empty();
            let flags = if spinning {
                RecvFlags::DONTWAIT
            } else {
                RecvFlags::empty()
            };
            let read = match (self.kind, spinning) {
                (Kind::Socket, _) => rustix::net::recv(&fd.fd, &mut *buf, flags).map(|(n, _)| n),
                // A non-blocking read of a blocking pipe (its `O_NONBLOCK` is shared by every
                // process holding the pipe, so it is never set).
                (_, true) => rustix::io::preadv2(
                    &fd.fd,
                    &mut [std::io::IoSliceMut::new(&mut *buf)],
                    u64::MAX, // the current position: a pipe has no other
                    rustix::io::ReadWriteFlags::NOWAIT,
                ),
                (_, false) => rustix::io::read(&fd.fd, &mut *buf),
            };
            match read {
                Ok(n) => {
                    if tries > 0 {
                        let next = if spinning {
                            (budget + 1).min(READ_SPINS)
                        } else {
                            budget / 2
                        };
                        self.spins.store(next, Relaxed);
                    }
                    return Ok(n);
                }
                Err(Errno::INTR) => continue,
                // Nothing there yet (only a non-blocking try says so): pause, try again.
                Err(Errno::AGAIN) if spinning => {
                    for _ in 0..1u32 << tries {
                        std::hint::spin_loop();
                    }
                    tries += 1;
                }
                // A Unix stream socket whose peer closed with bytes of ours unread reports
                // ECONNRESET once, and only when our own receive queue is empty: end of file,
                // nothing lost (the next `recv` returns 0).
                Err(Errno::CONNRESET) => return Ok(0),
                // A kernel without non-blocking reads of pipes (`RWF_NOWAIT`): block instead.
                Err(Errno::OPNOTSUPP | Errno::INVAL) if spinning && self.kind.reads_a_pipe() => {
                    // (It probes again after `READ_PROBE` reads, at the cost of one refused call.)
                    self.spins.store(0, Relaxed);
                    budget = 0;
                }
                Err(e) => return Err(io_error("recv", e)),
            }
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let fd = self.fd()?;
        if self.kind == Kind::PipeWriter {
            // At end of file at once (see `read`).
            return Ok(Some(0));
        }
        loop {
            let read = match self.kind {
                Kind::Socket => {
                    rustix::net::recv(&fd.fd, &mut *buf, RecvFlags::DONTWAIT).map(|(n, _)| n)
                }
                // Not `O_NONBLOCK`, which every process holding the pipe shares (see `read`).
                _ => rustix::io::preadv2(
                    &fd.fd,
                    &mut [std::io::IoSliceMut::new(&mut *buf)],
                    u64::MAX, // the current position: a pipe has no other
                    rustix::io::ReadWriteFlags::NOWAIT,
                ),
            };
            return match read {
                Ok(n) => Ok(Some(n)),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => Ok(None),
                // End of file, nothing lost (see `read`).
                Err(Errno::CONNRESET) => Ok(Some(0)),
                // A kernel without non-blocking reads of pipes: a look, then a read, which the
                // caller, the only reader meanwhile, makes without waiting after a ready look.
                Err(Errno::OPNOTSUPP | Errno::INVAL) if self.kind.reads_a_pipe() => {
                    if self.poll(Some(super::Instant::from_nanos(0)))? {
                        self.read(buf).map(Some)
                    } else {
                        Ok(None)
                    }
                }
                Err(e) => Err(io_error("recv", e)),
            };
        }
    }

    /// As `read` spins before it blocks (the same budget, adapted the same way), with looks
    /// (`poll` without waiting) instead of non-blocking reads, then a `poll` that waits.
    fn wait_readable(&self) -> Result<(), Error> {
        let budget = self.spins.load(Relaxed);
        let budget = if budget == 0 && self.unspun.fetch_add(1, Relaxed) + 1 >= READ_PROBE {
            self.unspun.store(0, Relaxed);
            2
        } else {
            budget
        };
        let now = Some(super::Instant::from_nanos(0));
        for tries in 0..budget {
            if self.poll(now)? {
                self.spins.store((budget + 1).min(READ_SPINS), Relaxed);
                return Ok(());
            }
            for _ in 0..1u32 << tries {
                std::hint::spin_loop();
            }
        }
        self.poll(None)?;
        if budget > 0 {
            self.spins.store(budget / 2, Relaxed);
        }
        Ok(())
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Error> {
        let fd = self.fd()?;
        loop {
            let written = match self.kind {
                Kind::Socket => rustix::net::send(&fd.fd, buf, SendFlags::NOSIGNAL),
                // `SIGPIPE` was ignored when the pipe was made (see the module docs).
                Kind::PipeWriter | Kind::PipePair => rustix::io::write(fd.write(), buf),
                // The receiving end of a one-way pipe, as a shut-down socket.
                Kind::PipeReader => return Err(Error::BrokenPipe),
            };
            match written {
                Ok(n) => return Ok(n),
                Err(Errno::INTR) => continue,
                Err(Errno::PIPE | Errno::CONNRESET) => return Err(Error::BrokenPipe),
                Err(e) => return Err(io_error("send", e)),
            }
        }
    }

    fn poll(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let fd = self.fd()?;
        if self.kind == Kind::PipeWriter {
            // A read would be at end of file at once (see `read`).
            return Ok(true);
        }
        loop {
            // Recomputed on every round: a signal or an early wake-up only shortens the wait.
            let timeout = match deadline {
                None => None,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(<crate::Os as Platform>::now());
                    // `left` is below 2^64 ns (an `Instant` difference), so its seconds fit.
                    Some(Timespec {
                        tv_sec: left.as_secs() as i64,
                        tv_nsec: left.subsec_nanos() as _,
                    })
                }
            };
            // A pair of kernel pipes also watches the one it writes: its reader gone (POLLERR
            // there) is a peer half way through its close, which lets go of the pipe it reads
            // first (`Fds`): the end of file follows, so this end is ready (see `PipeEnd`'s
            // contract: a duplex close is atomic for the peer, as a socket's one `close` is).
            let mut fds = [
                PollFd::new(&fd.fd, PollFlags::IN),
                PollFd::new(fd.write(), PollFlags::empty()),
            ];
            let watched = if self.kind == Kind::PipePair { 2 } else { 1 };
            match rustix::event::poll(&mut fds[..watched], timeout.as_ref()) {
                Ok(_) => {
                    // POLLHUP: no writer remains, a read returns end of file at once. POLLERR:
                    // a pending error, which a read returns at once.
                    let ready = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;
                    if fds[0].revents().intersects(ready) {
                        return Ok(true);
                    }
                    if watched == 2 && fds[1].revents().intersects(PollFlags::ERR) {
                        return Ok(true);
                    }
                }
                // Interrupted by a signal: poll again (also when this was the final check).
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io_error("poll", e)),
            }
            // Not readable: done if this was the check at (or after) the deadline.
            if let Some(Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }) = timeout
            {
                return Ok(false);
            }
        }
    }

    fn close(&self) {
        let taken = self
            .fd
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Dropped outside the lock: closes the descriptor unless an operation still uses it.
        drop(taken);
    }

    /// Only while a spawn encodes its arguments (`collecting`): a duplicate of the
    /// descriptor, which the new image inherits, numbered in the order of the arguments (a
    /// `Kind::PipePair`'s two descriptors take two numbers: the first, with `PAIR_BIT`).
    fn export(&self) -> Result<u32, Error> {
        let fd = self.fd()?;
        COLLECTED.with(|collected| {
            let mut collected = collected.borrow_mut();
            let Some(collected) = collected.as_mut() else {
                return Err(Error::Unsupported(
                    "a Connection travels only in the arguments of a spawned process \
                     (Process::call with StartMethod::Spawn); a forked child inherits the \
                     ones it uses, and a queue item cannot carry one"
                        .to_owned(),
                ));
            };
            let dup = |fd: &OwnedFd| {
                rustix::io::fcntl_dupfd_cloexec(fd, 0)
                    .map_err(|e| io_error("fcntl(F_DUPFD_CLOEXEC)", e))
            };
            let number = collected.len() as u32;
            collected.push(dup(&fd.fd)?);
            match &fd.write {
                None => Ok(number),
                Some(write) => {
                    collected.push(dup(write)?);
                    Ok(number | PAIR_BIT)
                }
            }
        })
    }

    /// The end the spawning parent exported as `number`: the descriptor the new image
    /// inherited (`receive` put it there); each number once.
    fn import(number: u32) -> Result<Self, Error> {
        RECEIVED.with(|received| {
            let mut received = received.borrow_mut();
            let first = (number & !PAIR_BIT) as usize;
            let mut take = |i: usize| received.get_mut(i).and_then(Option::take);
            let end = if number & PAIR_BIT == 0 {
                take(first).map(|fd| {
                    let kind = kind_of(&fd);
                    OsPipeEnd::new(fd, None, kind)
                })
            } else {
                match (take(first), take(first + 1)) {
                    (Some(read), Some(write)) => {
                        Some(OsPipeEnd::new(read, Some(write), Kind::PipePair))
                    }
                    _ => None,
                }
            };
            end.ok_or_else(|| {
                Error::Decode(format!(
                    "pipe end {number} is not among the descriptors this process was \
                         given (each is decoded once, in a spawned process's arguments)"
                ))
            })
        })
    }
}

/// What an inherited descriptor is: a pipe's end by its access mode, otherwise a socket.
fn kind_of(fd: &OwnedFd) -> Kind {
    let pipe = rustix::fs::fstat(fd)
        .map(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Fifo)
        .unwrap_or(false);
    match rustix::fs::fcntl_getfl(fd) {
        Ok(flags) if pipe && flags.contains(rustix::fs::OFlags::WRONLY) => Kind::PipeWriter,
        _ if pipe => Kind::PipeReader,
        _ => Kind::Socket,
    }
}

thread_local! {
    /// The duplicates of the pipe ends a spawn's arguments hold, while it encodes them.
    static COLLECTED: std::cell::RefCell<Option<Vec<OwnedFd>>> =
        const { std::cell::RefCell::new(None) };
    /// In a spawned process: the pipe ends its arguments hold, until decoded.
    static RECEIVED: std::cell::RefCell<Vec<Option<OwnedFd>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `encode` (a spawn's arguments) with pipe ends allowed to travel: returns its result
/// and the descriptors the new image must inherit, in the numbers `export` gave.
pub(crate) fn collecting<R>(encode: impl FnOnce() -> R) -> (R, Vec<OwnedFd>) {
    let outer = COLLECTED.with(|c| c.replace(Some(Vec::new())));
    let result = encode();
    let collected = COLLECTED.with(|c| c.replace(outer)).unwrap_or_default();
    (result, collected)
}

/// In a spawned process, before its arguments are decoded: the inherited descriptors of the
/// pipe ends they hold, in order.
pub(crate) fn receive(fds: Vec<OwnedFd>) {
    RECEIVED.with(|r| *r.borrow_mut() = fds.into_iter().map(Some).collect());
}

#[cfg(test)]
#[path = "../../tests/support/sleeping.rs"]
mod sleeping;

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    /// Every kind of pair, as `(duplex, kernel_pipe)`: a duplex socket pair, two kernel pipes
    /// (duplex), a one-way kernel pipe, a one-way socket pair.
    const KINDS: [(bool, bool); 4] = [(true, false), (true, true), (false, true), (false, false)];

    const CLOSED: Error = Error::Closed { what: "connection" };

    /// Writes all of `buf`.
    fn write_all(end: &OsPipeEnd, mut buf: &[u8]) {
        while !buf.is_empty() {
            let n = end.write(buf).unwrap();
            assert!(n >= 1 && n <= buf.len());
            buf = &buf[n..];
        }
    }

    /// Reads until end of file.
    fn read_to_end(end: &OsPipeEnd) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4093];
        loop {
            match end.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    use super::sleeping::wait_until_sleeping;

    fn past() -> Option<Instant> {
        Some(Instant::from_nanos(0))
    }

    #[test]
    fn bytes_arrive_in_order_across_many_writes() {
        for (duplex, kernel) in KINDS {
            let (rx, tx) = pair(duplex, kernel).unwrap();
            let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
            let expected = data.clone();
            let writer = thread::spawn(move || {
                let mut chunks = [1usize, 7, 4099, 65537, 3].into_iter().cycle();
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let n = chunks.next().unwrap().min(rest.len());
                    write_all(&tx, &rest[..n]);
                    rest = &rest[n..];
                }
                // Dropped here: end of file for the reader.
            });
            assert_eq!(read_to_end(&rx), expected);
            writer.join().unwrap();
        }
    }

    #[test]
    fn duplex_carries_both_ways() {
        for kernel in [true, false] {
            let (a, b) = pair(true, kernel).unwrap();
            write_all(&a, b"ping");
            let mut buf = [0u8; 16];
            assert_eq!(b.read(&mut buf).unwrap(), 4);
            assert_eq!(&buf[..4], b"ping");
            write_all(&b, b"pong");
            assert_eq!(a.read(&mut buf).unwrap(), 4);
            assert_eq!(&buf[..4], b"pong");
        }
    }

    #[test]
    fn end_of_file_after_the_writer_closes_or_is_dropped() {
        for kernel in [true, false] {
            for drop_it in [false, true] {
                let (rx, tx) = pair(false, kernel).unwrap();
                write_all(&tx, b"last words");
                if drop_it {
                    drop(tx);
                } else {
                    tx.close();
                    tx.close(); // idempotent
                }
                // Bytes written before the close still come out, then end of file, again and again.
                assert_eq!(read_to_end(&rx), b"last words");
                assert_eq!(rx.read(&mut [0u8; 8]), Ok(0));
                assert_eq!(rx.poll(None), Ok(true));
            }
        }
    }

    /// A duplex end of two kernel pipes caught half way through its close (the pipe it reads
    /// closed, the one it writes not yet: the order `Fds` closes them in): its peer's write is
    /// `BrokenPipe`, and its peer's `poll` is ready already, so that the close looks atomic
    /// (never a refused send and then a `poll` that finds nothing); the end of file follows
    /// once the close is done.
    #[test]
    fn poll_is_ready_once_a_duplex_peer_let_go_of_the_pipe_it_reads() {
        let (a, b) = pair(true, true).unwrap();
        let taken = b.fd.lock().unwrap().take().expect("open");
        let Fds { fd, write } = Arc::try_unwrap(taken).expect("no operation in progress");
        drop(fd);
        assert_eq!(a.write(b"x"), Err(Error::BrokenPipe));
        assert_eq!(a.poll(past()), Ok(true));
        assert_eq!(a.poll(None), Ok(true));
        drop(write);
        assert_eq!(a.read(&mut [0; 4]), Ok(0));
    }

    #[test]
    fn broken_pipe_after_the_reader_closes() {
        for (duplex, kernel) in KINDS {
            let (rx, tx) = pair(duplex, kernel).unwrap();
            rx.close();
            let chunk = vec![0u8; 65536];
            // The first writes may land in the socket buffer; the error comes at the latest once
            // it is full. Bounded so that a missing error fails instead of hanging.
            let mut result = Ok(0);
            for _ in 0..1000 {
                result = tx.write(&chunk);
                if result.is_err() {
                    break;
                }
            }
            assert_eq!(result, Err(Error::BrokenPipe));
            assert_eq!(tx.write(b"x"), Err(Error::BrokenPipe));
        }
    }

    #[test]
    fn broken_pipe_when_the_reader_closes_while_the_writer_is_blocked() {
        for kernel in [true, false] {
            let (rx, tx) = pair(false, kernel).unwrap();
            let (tid_tx, tid_rx) = mpsc::channel();
            let writer = thread::spawn(move || {
                tid_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                let chunk = vec![0u8; 65536];
                loop {
                    if let Err(e) = tx.write(&chunk) {
                        return e;
                    }
                }
            });
            // Once the writer sleeps, the socket buffer is full and it is blocked in `send`.
            wait_until_sleeping(tid_rx.recv().unwrap());
            rx.close();
            assert_eq!(writer.join().unwrap(), Error::BrokenPipe);
        }
    }

    #[test]
    fn end_of_file_when_the_peer_closes_with_our_bytes_unread() {
        for kernel in [true, false] {
            // Linux reports ECONNRESET to the survivor of a socket pair here; it reads as end
            // of file.
            let (a, b) = pair(true, kernel).unwrap();
            write_all(&a, b"never read");
            write_all(&b, b"read");
            drop(b);
            assert_eq!(a.poll(past()), Ok(true));
            assert_eq!(read_to_end(&a), b"read");
            assert_eq!(a.read(&mut [0u8; 8]), Ok(0));
            assert_eq!(a.write(b"x"), Err(Error::BrokenPipe));
        }
    }

    #[test]
    fn one_way_ends_refuse_the_wrong_direction() {
        for kernel in [true, false] {
            let (rx, tx) = pair(false, kernel).unwrap();
            // The receiving end cannot send: its write direction is shut down.
            assert_eq!(rx.write(b"x"), Err(Error::BrokenPipe));
            // The sending end cannot receive: its read direction is shut down, so a read is at end
            // of file at once (it never blocks), and poll says so.
            assert_eq!(tx.read(&mut [0u8; 8]), Ok(0));
            assert_eq!(tx.poll(None), Ok(true));
            // The right direction still works, and no wrong-direction byte reached anyone.
            write_all(&tx, b"ok");
            assert_eq!(rx.poll(past()), Ok(true));
            let mut buf = [0u8; 8];
            assert_eq!(rx.read(&mut buf), Ok(2));
            assert_eq!(&buf[..2], b"ok");
            assert_eq!(tx.read(&mut buf), Ok(0));
        }
    }

    #[test]
    fn poll_reports_data_end_of_file_and_deadlines() {
        for kernel in [true, false] {
            let (rx, tx) = pair(false, kernel).unwrap();
            // Nothing there and a deadline in the past (or now): false, at once.
            assert_eq!(rx.poll(past()), Ok(false));
            assert_eq!(rx.poll(Some(<crate::Os as Platform>::now())), Ok(false));
            // Data there: true, whatever the deadline, and poll consumes nothing.
            write_all(&tx, b"abc");
            assert_eq!(rx.poll(past()), Ok(true));
            assert_eq!(rx.poll(None), Ok(true));
            let mut buf = [0u8; 8];
            assert_eq!(rx.read(&mut buf), Ok(3));
            assert_eq!(rx.poll(past()), Ok(false));
            // End of file: true.
            tx.close();
            assert_eq!(rx.poll(past()), Ok(true));
            assert_eq!(rx.poll(None), Ok(true));
        }
    }

    #[test]
    fn poll_without_deadline_wakes_when_data_arrives() {
        for kernel in [true, false] {
            let (rx, tx) = pair(false, kernel).unwrap();
            let (tid_tx, tid_rx) = mpsc::channel();
            let poller = thread::spawn(move || {
                tid_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                let far = <crate::Os as Platform>::now()
                    .checked_add(std::time::Duration::from_secs(3600));
                (rx.poll(far), rx.poll(None), rx)
            });
            wait_until_sleeping(tid_rx.recv().unwrap());
            write_all(&tx, b"!");
            let (with_deadline, without, rx) = poller.join().unwrap();
            assert_eq!((with_deadline, without), (Ok(true), Ok(true)));
            assert_eq!(rx.read(&mut [0u8; 8]), Ok(1));
        }
    }

    #[test]
    fn every_operation_after_close_is_closed() {
        for (duplex, kernel) in KINDS {
            let (a, b) = pair(duplex, kernel).unwrap();
            for end in [&a, &b] {
                end.close();
                assert_eq!(end.read(&mut [0u8; 8]), Err(CLOSED));
                assert_eq!(end.write(b"x"), Err(CLOSED));
                assert_eq!(end.poll(None), Err(CLOSED));
                assert_eq!(end.poll(past()), Err(CLOSED));
                end.close();
                assert_eq!(end.read(&mut [0u8; 8]), Err(CLOSED));
            }
        }
    }

    #[test]
    fn blocked_reader_wakes_with_end_of_file_when_the_writer_closes() {
        for (duplex, kernel) in KINDS {
            let (rx, tx) = pair(duplex, kernel).unwrap();
            let (tid_tx, tid_rx) = mpsc::channel();
            let reader = thread::spawn(move || {
                tid_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                rx.read(&mut [0u8; 8])
            });
            wait_until_sleeping(tid_rx.recv().unwrap());
            tx.close();
            assert_eq!(reader.join().unwrap(), Ok(0));
        }
    }

    #[test]
    fn closing_an_end_a_thread_is_blocked_reading_keeps_its_descriptor_until_it_returns() {
        for kernel in [true, false] {
            let (a, b) = pair(true, kernel).unwrap();
            let a = Arc::new(a);
            let (tid_tx, tid_rx) = mpsc::channel();
            let reader = thread::spawn({
                let a = Arc::clone(&a);
                move || {
                    tid_tx
                        .send(rustix::thread::gettid().as_raw_nonzero().get())
                        .unwrap();
                    let mut buf = [0u8; 8];
                    let n = a.read(&mut buf).unwrap();
                    buf[..n].to_vec()
                }
            });
            wait_until_sleeping(tid_rx.recv().unwrap());
            a.close();
            // New operations see the end closed at once...
            assert_eq!(a.read(&mut [0u8; 8]), Err(CLOSED));
            assert_eq!(a.write(b"x"), Err(CLOSED));
            // ...while the blocked read keeps the socket open (the peer can still send to it) and
            // returns what arrives.
            write_all(&b, b"late");
            assert_eq!(reader.join().unwrap(), b"late");
            // That read has returned: the descriptor is closed now, and the peer sees it.
            assert_eq!(b.read(&mut [0u8; 8]), Ok(0));
            assert_eq!(b.write(b"x"), Err(Error::BrokenPipe));
        }
    }

    #[test]
    fn ends_can_be_shared_between_threads() {
        for kernel in [true, false] {
            fn assert_send_sync<T: Send + Sync + 'static>() {}
            assert_send_sync::<OsPipeEnd>();
            // Several writers through one shared end: every byte arrives exactly once.
            let (rx, tx) = pair(false, kernel).unwrap();
            let tx = Arc::new(tx);
            let writers: Vec<_> = (0..4u8)
                .map(|id| {
                    let tx = Arc::clone(&tx);
                    thread::spawn(move || {
                        for _ in 0..10_000 {
                            write_all(&tx, &[id]);
                        }
                    })
                })
                .collect();
            let reader = thread::spawn(move || read_to_end(&rx));
            for w in writers {
                w.join().unwrap();
            }
            tx.close();
            let got = reader.join().unwrap();
            let mut counts = [0usize; 4];
            for byte in got {
                counts[usize::from(byte)] += 1;
            }
            assert_eq!(counts, [10_000; 4]);
        }
    }
}
