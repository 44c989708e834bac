//! [`PipeModel`]: the two [`End`]s of `mpcheck::pipe(duplex)`, `Connection`s of messages.
//!
//! Each direction is a FIFO of messages. `send` / `send_bytes` are [`PipeOp::Send`] (the
//! model takes the message whole; a real send waiting for room in the kernel's buffer is
//! simply still pending); `recv` / `recv_bytes` are [`PipeOp::Recv`], not enabled while
//! nothing can be read. `poll(None)` is [`PipeOp::Poll`]`(end, `[`Wait::Forever`]`)`, enabled
//! once a `recv` would not block; `poll(Some(d))` is `Poll(end, Wait::Bounded)`, returning
//! whether one would not block at the moment it takes effect (a timed `poll` that waits for
//! another task's `recv` to let go of the receive lock gives up at a moment when that `recv`
//! had not found a message yet).
//!
//! Errors, as the real `Connection` checks them: the wrong direction of a one-way pipe first
//! (`ReadOnly` / `WriteOnly`), then this end closed (`Closed`), then the peer: a send to a
//! closed peer is `BrokenPipe`, a recv with nothing left from a closed peer is `Eof` (and a
//! poll there is `true`: a recv would not block). `close` is idempotent.
//!
//! Not modelled: processes dying (`Truncated`), `TooLarge`, `Encode`/`Decode`, and several
//! handles of one end being closed separately (an end here is closed for all its handles, as
//! `Connection::close` does).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::hash::Hash;

use crate::{ErrorKind, Model, Wait};

/// An end of a pipe, in the order `pipe()` returns them. One-way (`duplex == false`): `A`
/// receives, `B` sends.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum End {
    /// The first end returned.
    A,
    /// The second end returned.
    B,
}

impl End {
    fn index(self) -> usize {
        match self {
            End::A => 0,
            End::B => 1,
        }
    }

    fn peer(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }
}

/// The operations on a pipe.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PipeOp<T> {
    /// `send` / `send_bytes` on an end.
    Send(End, T),
    /// `recv` / `recv_bytes` on an end.
    Recv(End),
    /// `poll` on an end: `Forever` for `poll(None)`, `Bounded` for `poll(Some(_))`.
    Poll(End, Wait),
    /// `close` on an end.
    Close(End),
}

/// The results of pipe operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PipeRet<T> {
    /// `send` returned `Ok(())`, or `close` returned.
    Done,
    /// `recv` returned this message.
    Received(T),
    /// `poll` returned `Ok(ready)`.
    Ready(bool),
    /// An error: `ReadOnly`, `WriteOnly`, `Closed`, `BrokenPipe`, `Eof`.
    Err(ErrorKind),
}

/// One end: the messages sent to it, not yet received, and whether it is closed.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct EndState<T> {
    inbox: VecDeque<T>,
    closed: bool,
}

/// A pipe's two ends.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PipeModel<T> {
    duplex: bool,
    ends: [EndState<T>; 2],
}

impl<T> PipeModel<T> {
    /// `pipe(duplex)`: both ends open, nothing sent.
    pub fn new(duplex: bool) -> Self {
        let open = || EndState {
            inbox: VecDeque::new(),
            closed: false,
        };
        PipeModel {
            duplex,
            ends: [open(), open()],
        }
    }

    fn end(&self, end: End) -> &EndState<T> {
        &self.ends[end.index()]
    }

    fn readable(&self, end: End) -> bool {
        self.duplex || end == End::A
    }

    fn writable(&self, end: End) -> bool {
        self.duplex || end == End::B
    }
}

impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> Model for PipeModel<T> {
    type Op = PipeOp<T>;
    type Ret = PipeRet<T>;

    fn outcomes(&self, op: &PipeOp<T>) -> Vec<(PipeRet<T>, Self)> {
        let same = |ret| vec![(ret, self.clone())];
        let err = |e| same(PipeRet::Err(e));
        match op {
            PipeOp::Send(end, _) if !self.writable(*end) => err(ErrorKind::ReadOnly),
            PipeOp::Recv(end) | PipeOp::Poll(end, _) if !self.readable(*end) => {
                err(ErrorKind::WriteOnly)
            }
            PipeOp::Send(end, _) | PipeOp::Recv(end) | PipeOp::Poll(end, _)
                if self.end(*end).closed =>
            {
                err(ErrorKind::Closed)
            }
            PipeOp::Send(end, _) if self.end(end.peer()).closed => err(ErrorKind::BrokenPipe),
            PipeOp::Send(end, message) => {
                let mut after = self.clone();
                after.ends[end.peer().index()]
                    .inbox
                    .push_back(message.clone());
                vec![(PipeRet::Done, after)]
            }
            PipeOp::Recv(end) => {
                let mut after = self.clone();
                match after.ends[end.index()].inbox.pop_front() {
                    Some(message) => vec![(PipeRet::Received(message), after)],
                    None if self.end(end.peer()).closed => err(ErrorKind::Eof),
                    None => vec![],
                }
            }
            PipeOp::Poll(end, wait) => {
                let ready = !self.end(*end).inbox.is_empty() || self.end(end.peer()).closed;
                match wait {
                    Wait::Forever if !ready => vec![],
                    _ => same(PipeRet::Ready(ready)),
                }
            }
            PipeOp::Close(end) => {
                let mut after = self.clone();
                let state = &mut after.ends[end.index()];
                state.closed = true;
                // Nobody can receive these any more: forget them (one state, not many).
                state.inbox.clear();
                vec![(PipeRet::Done, after)]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    type P = PipeModel<u8>;

    fn err(op: PipeOp<u8>, e: ErrorKind) -> (PipeOp<u8>, PipeRet<u8>) {
        (op, PipeRet::Err(e))
    }

    #[test]
    fn one_way_messages_in_order_and_directions_checked() {
        let steps = [
            (PipeOp::Poll(End::A, Wait::Bounded), PipeRet::Ready(false)),
            (PipeOp::Send(End::B, 1), PipeRet::Done),
            (PipeOp::Send(End::B, 2), PipeRet::Done),
            (PipeOp::Poll(End::A, Wait::Forever), PipeRet::Ready(true)),
            (PipeOp::Recv(End::A), PipeRet::Received(1)),
            (PipeOp::Recv(End::A), PipeRet::Received(2)),
            err(PipeOp::Send(End::A, 3), ErrorKind::ReadOnly),
            err(PipeOp::Recv(End::B), ErrorKind::WriteOnly),
            err(PipeOp::Poll(End::B, Wait::Bounded), ErrorKind::WriteOnly),
        ];
        assert_eq!(run(&P::new(false), &steps), Ok(P::new(false)));
        assert!(P::new(false).outcomes(&PipeOp::Recv(End::A)).is_empty());
        assert!(P::new(false)
            .outcomes(&PipeOp::Poll(End::A, Wait::Forever))
            .is_empty());
    }

    #[test]
    fn duplex_directions_are_independent() {
        let steps = [
            (PipeOp::Send(End::A, 1), PipeRet::Done),
            (PipeOp::Send(End::B, 2), PipeRet::Done),
            (PipeOp::Recv(End::A), PipeRet::Received(2)),
            (PipeOp::Recv(End::B), PipeRet::Received(1)),
        ];
        assert_eq!(run(&P::new(true), &steps), Ok(P::new(true)));
    }

    #[test]
    fn close_gives_eof_broken_pipe_and_closed() {
        let steps = [
            (PipeOp::Send(End::B, 1), PipeRet::Done),
            (PipeOp::Close(End::B), PipeRet::Done),
            (PipeOp::Close(End::B), PipeRet::Done),
            err(PipeOp::Send(End::B, 2), ErrorKind::Closed),
            (PipeOp::Recv(End::A), PipeRet::Received(1)),
            (PipeOp::Poll(End::A, Wait::Forever), PipeRet::Ready(true)),
            err(PipeOp::Recv(End::A), ErrorKind::Eof),
        ];
        assert!(run(&P::new(false), &steps).is_ok());
        let steps = [
            (PipeOp::Close(End::A), PipeRet::Done),
            err(PipeOp::Send(End::B, 1), ErrorKind::BrokenPipe),
            err(PipeOp::Recv(End::A), ErrorKind::Closed),
        ];
        assert!(run(&P::new(false), &steps).is_ok());
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let prefixes: [&[(PipeOp<u8>, PipeRet<u8>)]; 4] = [
            &[],
            &[(PipeOp::Send(End::B, 1), PipeRet::Done)],
            &[(PipeOp::Close(End::B), PipeRet::Done)],
            &[(PipeOp::Close(End::A), PipeRet::Done)],
        ];
        let mut rets = vec![PipeRet::Done, PipeRet::Received(1), PipeRet::Received(2)];
        rets.extend([PipeRet::Ready(false), PipeRet::Ready(true)]);
        for e in [
            ErrorKind::ReadOnly,
            ErrorKind::WriteOnly,
            ErrorKind::Closed,
            ErrorKind::BrokenPipe,
            ErrorKind::Eof,
        ] {
            rets.push(PipeRet::Err(e));
        }
        for duplex in [false, true] {
            for prefix in prefixes {
                let state = run(&P::new(duplex), prefix).unwrap();
                for end in [End::A, End::B] {
                    let ops = [
                        PipeOp::Send(end, 2),
                        PipeOp::Recv(end),
                        PipeOp::Poll(end, Wait::Forever),
                        PipeOp::Poll(end, Wait::Bounded),
                        PipeOp::Close(end),
                    ];
                    for op in &ops {
                        assert!(agrees(&state, op, &rets), "{state:?} {op:?}");
                    }
                }
            }
        }
    }
}
