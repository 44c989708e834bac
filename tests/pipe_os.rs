//! `pipe` / `Connection` on the real OS (Unix socket pairs): every operation, every error case,
//! real threads. Synchronization is by the pipes themselves; no sleeps.

use std::time::Duration;

use mpcheck::pipe::MAX_MESSAGE_LEN;
use mpcheck::thread::spawn;
use mpcheck::{pipe, Error, Os};
use serde::{Deserialize, Serialize};

const CLOSED: Error = Error::Closed { what: "connection" };

#[test]
fn one_way_pipe_carries_items_and_refuses_the_wrong_direction() {
    let (rx, tx) = pipe::<(u32, String), Os>(false).unwrap();
    assert!(rx.readable() && !rx.writable());
    assert!(tx.writable() && !tx.readable());
    tx.send(&(1, "one".into())).unwrap();
    assert_eq!(rx.recv().unwrap(), (1, "one".into()));
    assert_eq!(rx.send(&(2, "two".into())), Err(Error::ReadOnly));
    assert_eq!(rx.send_bytes(b"x"), Err(Error::ReadOnly));
    assert_eq!(tx.recv(), Err(Error::WriteOnly));
    assert_eq!(tx.recv_bytes(), Err(Error::WriteOnly));
    assert_eq!(tx.poll(None), Err(Error::WriteOnly));
    assert!(Error::ReadOnly.to_string().contains("read-only"));
    assert!(Error::WriteOnly.to_string().contains("write-only"));
    assert!(format!("{rx:?}").starts_with("Connection"));
}

#[test]
fn duplex_pipe_carries_both_ways() {
    let (a, b) = pipe::<String, Os>(true).unwrap();
    assert!(a.readable() && a.writable() && b.readable() && b.writable());
    let echo = spawn::<Os, _, _>(move || {
        while let Ok(m) = b.recv() {
            b.send(&m.to_uppercase()).unwrap();
        }
    });
    for word in ["ktv", "room", "open"] {
        a.send(&word.to_owned()).unwrap();
        assert_eq!(a.recv().unwrap(), word.to_uppercase());
    }
    a.close();
    echo.join().unwrap();
}

#[test]
fn byte_messages_keep_their_boundaries() {
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    // Empty, small, and larger than the socket's buffer (so the send blocks until the reader
    // reads, and the reader gets the message in many pieces).
    let messages: Vec<Vec<u8>> = vec![
        vec![],
        b"ab".to_vec(),
        (0..1 << 20).map(|i| (i % 251) as u8).collect(),
        vec![9; 3],
    ];
    let sent = messages.clone();
    let sender = spawn::<Os, _, _>(move || {
        for m in &sent {
            tx.send_bytes(m).unwrap();
        }
    });
    for m in &messages {
        assert_eq!(&rx.recv_bytes().unwrap(), m);
    }
    sender.join().unwrap();
    assert_eq!(rx.recv_bytes(), Err(Error::Eof));
}

#[test]
fn threads_sharing_an_end_never_interleave_messages() {
    const THREADS: usize = 4;
    const EACH: usize = 300;
    let (rx, tx) = pipe::<(usize, usize, Vec<u8>), Os>(false).unwrap();
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            spawn::<Os, _, _>(move || {
                for seq in 0..EACH {
                    // Up to 20 KB: several writes per message.
                    tx.send(&(t, seq, vec![t as u8; (seq * 67) % 20_000]))
                        .unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0; THREADS];
    for _ in 0..THREADS * EACH {
        let (t, seq, body) = rx.recv().unwrap();
        assert_eq!(seq, next[t], "thread {t}'s messages out of order");
        assert_eq!(body, vec![t as u8; (seq * 67) % 20_000]);
        next[t] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(rx.recv(), Err(Error::Eof), "every sending handle is gone");
}

#[test]
fn eof_once_every_writer_is_gone_even_for_a_blocked_reader() {
    let (rx, tx) = pipe::<u8, Os>(false).unwrap();
    let reader = spawn::<Os, _, _>(move || (rx.recv(), rx.recv(), rx.recv()));
    tx.send(&5).unwrap();
    let tx2 = tx.clone();
    drop(tx); // a handle is left: not yet the end
    tx2.send(&6).unwrap();
    drop(tx2);
    assert_eq!(reader.join().unwrap(), (Ok(5), Ok(6), Err(Error::Eof)));
    assert!(Error::Eof.to_string().starts_with("end of file"));
}

#[test]
fn sending_to_a_closed_peer_is_a_broken_pipe() {
    let (rx, tx) = pipe::<Vec<u8>, Os>(false).unwrap();
    rx.close();
    assert_eq!(tx.send(&vec![1, 2, 3]), Err(Error::BrokenPipe));
    assert_eq!(tx.send_bytes(b""), Err(Error::BrokenPipe));
    // A sender blocked on a full pipe is released by the reader's close, with the same error.
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    let sender = spawn::<Os, _, _>(move || tx.send_bytes(&vec![0; 8 << 20]));
    rx.close();
    assert_eq!(sender.join().unwrap(), Err(Error::BrokenPipe));
    assert!(Error::BrokenPipe.to_string().contains("broken pipe"));
}

#[test]
fn a_closed_end_refuses_everything() {
    let (a, b) = pipe::<u8, Os>(true).unwrap();
    a.close();
    a.close(); // idempotent
    assert_eq!(a.send(&1), Err(CLOSED));
    assert_eq!(a.recv(), Err(CLOSED));
    assert_eq!(a.recv_bytes(), Err(CLOSED));
    assert_eq!(a.poll(Some(Duration::ZERO)), Err(CLOSED));
    assert_eq!(b.recv(), Err(Error::Eof));
    assert_eq!(b.send(&1), Err(Error::BrokenPipe));
    assert_eq!(CLOSED.to_string(), "connection is closed");
}

#[test]
fn poll_waits_for_a_message_or_the_end() {
    let (rx, tx) = pipe::<u8, Os>(false).unwrap();
    assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(false));
    assert_eq!(rx.poll(Some(Duration::from_millis(10))), Ok(false));
    let sender = {
        let tx = tx.clone();
        spawn::<Os, _, _>(move || tx.send(&1))
    };
    assert_eq!(rx.poll(None), Ok(true));
    assert_eq!(
        rx.poll(Some(Duration::MAX)),
        Ok(true),
        "a timeout past any deadline"
    );
    sender.join().unwrap().unwrap();
    assert_eq!(rx.recv(), Ok(1), "poll does not consume the message");
    drop(tx);
    assert_eq!(
        rx.poll(Some(Duration::ZERO)),
        Ok(true),
        "end of file is readable"
    );
}

#[test]
fn bytes_that_are_not_the_item_type_are_a_decode_error() {
    let (rx, tx) = pipe::<String, Os>(false).unwrap();
    tx.send_bytes(&[0xFF]).unwrap(); // a length varint cut off
    tx.send_bytes(&[1, b'a', b'!']).unwrap(); // "a" and a byte left over
    tx.send(&"ok".to_owned()).unwrap();
    assert!(matches!(rx.recv(), Err(Error::Decode(_))));
    assert!(matches!(rx.recv(), Err(Error::Decode(m)) if m.contains("left over")));
    assert_eq!(
        rx.recv().unwrap(),
        "ok",
        "a bad message is consumed, not stuck"
    );
}

struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no"))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

#[test]
fn an_encoding_error_sends_nothing() {
    let (rx, tx) = pipe::<Unencodable, Os>(false).unwrap();
    assert!(matches!(tx.send(&Unencodable), Err(Error::Encode(_))));
    assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(false), "nothing was sent");
}

#[test]
fn a_message_over_the_limit_is_refused_before_anything_is_sent() {
    let (rx, tx) = pipe::<(), Os>(false).unwrap();
    // Zeroed memory: the pages are not touched, the refusal comes first.
    let huge = vec![0u8; MAX_MESSAGE_LEN + 1];
    assert_eq!(
        tx.send_bytes(&huge),
        Err(Error::TooLarge {
            what: "message",
            len: MAX_MESSAGE_LEN + 1,
            max: MAX_MESSAGE_LEN
        })
    );
    assert_eq!(rx.poll(Some(Duration::ZERO)), Ok(false));
}
