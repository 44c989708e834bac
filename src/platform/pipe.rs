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
/// - The close of a **duplex** end is atomic for its peer, though it ends two directions: it
///   lets go of the direction it reads first (the peer's writes fail with `BrokenPipe` from
///   then on), and from that moment on the peer's `poll` is ready (`Ok(true)`), even before
///   the direction it writes is closed too: a `read` then returns the bytes still in the
///   pipe, then end of file, waiting at most for the `close` to finish. (Without that, a peer
///   could see its send refused and then a `poll` find nothing: half a close.) For the end's
///   own operations too the close takes effect at that first step: from then on they fail
///   with `Closed` (a write, though its direction is still open, is not a `BrokenPipe` of a
///   peer that closed later), and a `close` called meanwhile returns only once the end is
///   closed. A platform that closes both directions in one step meets this at once.
///
/// The direction of an end is the caller's business (a one-way pipe's ends only have one
/// direction; `Connection` checks before it calls). An end is shared by reference between the
/// tasks of a `Connection`.
pub trait PipeEnd: Send + Sync + Sized + 'static {
    /// Reads some bytes into `buf`, blocking until there are some; `Ok(0)` at end of file.
    fn read(&self, buf: &mut [u8]) -> Result<usize, Error>;
    /// Writes a non-empty prefix of `buf`, blocking until there is room; returns its length.
    fn write(&self, buf: &[u8]) -> Result<usize, Error>;
    /// Reads as [`PipeEnd::read`] does, but never waits: `Ok(None)` where `read` would wait.
    /// For a caller that is this direction's only reader meanwhile (`Connection`'s receive
    /// lock), which the default relies on: a [`PipeEnd::poll`] whose deadline has passed,
    /// then a `read` if it found the end ready.
    fn try_read(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        if self.poll(Some(Instant::from_nanos(0)))? {
            self.read(buf).map(Some)
        } else {
            Ok(None)
        }
    }
    /// Waits until a `read` would not block, or until `deadline`.
    fn poll(&self, deadline: Option<Instant>) -> Result<bool, Error>;
    /// Waits until a `read` would not block, reading nothing: for a caller that tried
    /// [`PipeEnd::try_read`] and found nothing. By default a `poll` without deadline; a
    /// platform may first look a few times without waiting in the kernel.
    fn wait_readable(&self) -> Result<(), Error> {
        self.poll(None).map(|_| ())
    }
    /// Closes this end.
    fn close(&self);

    /// This end in the form that travels to a spawned process (its arguments): a number the
    /// new image turns back into the end with [`PipeEnd::import`]. `Err(Unsupported)` where the
    /// end cannot travel (the default; on [`Os`](crate::Os), anywhere but in a spawn's
    /// arguments).
    fn export(&self) -> Result<u32, Error> {
        Err(Error::Unsupported(
            "a pipe end of this engine cannot leave its program".to_owned(),
        ))
    }

    /// The end that [`PipeEnd::export`] gave `number` for, in the spawned process.
    fn import(number: u32) -> Result<Self, Error> {
        let _ = number;
        Err(Error::Unsupported(
            "a pipe end of this engine cannot leave its program".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{deadline_after, Platform};
    use crate::{Os, Sim};

    fn write_all<E: PipeEnd>(end: &E, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = &bytes[end.write(bytes).expect("the reader is open")..];
        }
    }

    fn read_exactly<E: PipeEnd>(end: &E, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        let mut at = 0;
        while at < n {
            match end.read(&mut got[at..]).expect("open") {
                0 => panic!("end of file after {at} of {n} bytes"),
                k => at += k,
            }
        }
        got
    }

    /// The [`PipeEnd`] contract, single-task parts, on platform `P`: the same results on every
    /// platform.
    fn contract<P: Platform>() {
        let closed = Error::Closed { what: "connection" };
        let past = Some(crate::platform::Instant::from_nanos(0));

        // One-way: bytes in order; the wrong directions; end of file after the writer closes.
        let (rx, tx) = P::pipe(false).expect("a pipe");
        assert_eq!(rx.poll(past), Ok(false), "nothing written yet");
        write_all(&tx, b"hello");
        assert_eq!(tx.write(&[]), Ok(0));
        assert_eq!(rx.poll(None), Ok(true));
        assert_eq!(rx.read(&mut []), Ok(0));
        assert_eq!(read_exactly(&rx, 5), b"hello");
        assert_eq!(rx.write(b"x"), Err(Error::BrokenPipe), "the receiving end");
        assert_eq!(tx.read(&mut [0; 4]), Ok(0), "the sending end");
        write_all(&tx, b"bye");
        tx.close();
        tx.close();
        assert_eq!(tx.write(b"x"), Err(closed.clone()));
        assert_eq!(read_exactly(&rx, 3), b"bye", "bytes outlive their writer");
        assert_eq!(rx.read(&mut [0; 4]), Ok(0));
        assert_eq!(rx.poll(past), Ok(true), "end of file is readable");
        drop(tx);
        rx.close();
        assert_eq!(rx.read(&mut [0; 4]), Err(closed.clone()));
        assert_eq!(rx.poll(None), Err(closed.clone()));

        // Duplex: both ways; a closed reader breaks the pipe; dropping an end closes it.
        let (a, b) = P::pipe(true).expect("a pipe");
        write_all(&a, b"ab");
        write_all(&b, b"ba");
        assert_eq!(read_exactly(&b, 2), b"ab");
        assert_eq!(read_exactly(&a, 2), b"ba");
        b.close();
        assert_eq!(a.write(b"x"), Err(Error::BrokenPipe));
        assert_eq!(a.read(&mut [0; 1]), Ok(0));
        assert_eq!(b.write(b"x"), Err(closed.clone()));
        assert_eq!(
            b.poll(deadline_after::<P>(std::time::Duration::ZERO)),
            Err(closed)
        );
        let (a, b) = P::pipe(true).expect("a pipe");
        drop(b);
        assert_eq!(a.write(b"x"), Err(Error::BrokenPipe));
        assert_eq!(a.read(&mut [0; 1]), Ok(0));
    }

    #[test]
    fn contract_on_os() {
        contract::<Os>();
    }

    #[test]
    fn contract_under_the_simulator() {
        let report = crate::sim::explore(
            crate::sim::Config::dfs()
                .granularity(crate::sim::Granularity::Step)
                .ignore_env(),
            contract::<Sim>,
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
        assert!(report.complete());
    }

    #[cfg(feature = "loom")]
    #[test]
    fn contract_under_loom() {
        crate::loom::model(contract::<crate::loom::Loom>);
    }

    #[cfg(feature = "shuttle")]
    #[test]
    fn contract_under_shuttle() {
        crate::shuttle::check_random(contract::<crate::shuttle::Shuttle>, 10);
    }
}
