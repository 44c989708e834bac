//! [`PipeEnd`]: the kernel byte pipe a platform offers, under `Connection` (issue 5).
//!
//! A platform's pipe is what a kernel's is: an unframed stream of bytes per direction, with
//! end-of-file once every writing end is closed and a broken-pipe error when writing to a stream
//! nobody can read any more. Message framing, the direction checks and the locking that keeps
//! concurrent senders' messages whole are written once, in `Connection`, above this trait.

use crate::platform::Instant;
use crate::Error;

/// One end of a pipe made by [`crate::Platform::pipe`].
///
/// Contract (every method; `Err(Error::Closed { what: "connection" })` once [`PipeEnd::close`]
/// has been called on this end):
/// - [`PipeEnd::read`] blocks until at least one byte is available or no writer remains; it
///   returns how many bytes it copied into `buf`, or `Ok(0)` at end of file (for a non-empty
///   `buf`). Bytes come out in the order they went in, none lost or repeated.
/// - [`PipeEnd::write`] blocks until at least one byte can be written, writes some prefix of
///   `buf` and returns its length (at least 1 for a non-empty `buf`); `Err(Error::BrokenPipe)`
///   once no reading end of this direction remains. Never raises a signal.
/// - [`PipeEnd::poll`] returns `Ok(true)` as soon as a `read` would not block (bytes are there,
///   or end of file), `Ok(false)` once `deadline` passed without that; `None` waits forever.
/// - [`PipeEnd::close`] closes this end: the peer's reads see end of file once every writing
///   end is closed, the peer's writes fail with `BrokenPipe` once every reading end is closed.
///   Idempotent. Dropping an end closes it too.
///
/// The direction of an end is the caller's business (a one-way pipe's ends only have one
/// direction; `Connection` checks before it calls). An end is shared by reference between the
/// tasks of a `Connection`.
pub trait PipeEnd: Send + Sync + Sized + 'static {
    /// Reads some bytes into `buf`, blocking until there are some; `Ok(0)` at end of file.
    fn read(&self, buf: &mut [u8]) -> Result<usize, Error>;
    /// Writes a non-empty prefix of `buf`, blocking until there is room; returns its length.
    fn write(&self, buf: &[u8]) -> Result<usize, Error>;
    /// Waits until a `read` would not block, or until `deadline`.
    fn poll(&self, deadline: Option<Instant>) -> Result<bool, Error>;
    /// Closes this end.
    fn close(&self);
}
