//! Errors that say what went wrong, on every engine, never an abort: shared memory the system
//! (or `Os`'s shared memory arena) cannot give is `Error::InvalidArgument` naming the size asked
//! for; an item whose own
//! `Serialize` fails has that failure's message in `Error::Encode`.

use std::time::Duration;

use mpcheck::sim::{self, Config, Sim};
use mpcheck::{pipe, Array, Error, JoinableQueue, Platform, Queue, SimpleQueue};
use serde::{ser, Deserialize, Serialize};

/// `scenario` under the simulator: a complete search, which must pass.
fn explored(scenario: fn()) {
    let report = sim::explore(Config::dfs().ignore_env(), scenario)
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete());
}

/// The message of the `InvalidArgument` that `result` must be.
fn invalid<T>(result: Result<T, Error>, what: &str) -> String {
    match result {
        Err(Error::InvalidArgument(message)) => message,
        Err(other) => panic!("{what}: {other:?} instead of InvalidArgument"),
        Ok(_) => panic!("{what} was allocated"),
    }
}

/// Every size that reaches an allocation, past what an address space holds or the system
/// gives: `P::share_slice` itself and every constructor that takes a size.
fn sizes_beyond_memory_are_invalid_arguments<P: Platform>() {
    // 2^65 bytes: no layout; 2^62 bytes: a layout, refused by the allocator (which no address
    // space holds either, so that it is refused on any machine).
    let message = invalid(P::share_slice(1 << 62, |_| 0u64), "2^62 u64s");
    assert_eq!(
        message,
        "4611686018427387904 elements of 8 bytes are more than an address space holds"
    );
    let message = invalid(P::share_slice(1 << 59, |_| 0u64), "2^59 u64s");
    if P::NAME == "os" {
        // `Os` places shared state in its arena (a memfd mapping of at most 64 GiB), which
        // says so before the system is asked.
        assert!(
            message.starts_with(
                "4611686018427387904 bytes are more than the shared memory arena holds ("
            ) && message.ends_with(" bytes reserved)"),
            "{message:?}"
        );
    } else {
        assert_eq!(
            message,
            "the system refused to allocate 4611686018427387912 bytes"
        );
    }

    // The cases, and sizes whose byte counts overflow. What the platform says after
    // the size asked for depends on its atomic word's size (8 bytes on `Os`, more under the
    // explorers): refused, or past any address space.
    for (result, start) in [
        (
            Array::<u8, P>::new(1 << 62).map(drop),
            "an array of 4611686018427387904 elements of 1 bytes: ",
        ),
        (
            Array::<u8, P>::raw(usize::MAX).map(drop),
            "an array of 18446744073709551615 elements of 1 bytes: ",
        ),
        (
            Queue::<u8, P>::with_capacity(None, 1 << 50).map(drop),
            "a queue of 1125899906842624 bytes: ",
        ),
        (
            JoinableQueue::<u8, P>::with_capacity(Some(3), usize::MAX).map(drop),
            "a queue of 18446744073709551615 bytes: ",
        ),
    ] {
        let message = invalid(result, start);
        assert!(
            message.starts_with(start)
                && (message.starts_with(&format!("{start}the system refused to allocate "))
                    || message.ends_with(" are more than an address space holds")
                    || (P::NAME == "os"
                        && message
                            .contains(" bytes are more than the shared memory arena holds (")
                        && message.ends_with(" bytes reserved)"))),
            "{message:?}"
        );
    }
    assert_eq!(
        invalid(Array::<u64, P>::new(1 << 62), "2^62 u64s"),
        "an array of 4611686018427387904 elements of 8 bytes is more than an address space holds"
    );

    // Sizes that fit still work.
    let array = Array::<u8, P>::new(3).unwrap();
    array.set(2, 7).unwrap();
    assert_eq!(array.to_vec(), [0, 0, 7]);
    let q = Queue::<u8, P>::with_capacity(Some(1), 8).unwrap();
    q.put(1).unwrap();
    assert_eq!(q.get(), Ok(1));
}

#[test]
fn sizes_beyond_memory_are_invalid_arguments_on_os() {
    sizes_beyond_memory_are_invalid_arguments::<mpcheck::Os>();
}

#[test]
fn sizes_beyond_memory_are_invalid_arguments_under_the_simulator() {
    explored(sizes_beyond_memory_are_invalid_arguments::<Sim>);
}

#[test]
fn sizes_beyond_memory_are_invalid_arguments_under_loom() {
    use mpcheck::loom::{model, Loom};
    model(sizes_beyond_memory_are_invalid_arguments::<Loom>);
}

#[test]
fn sizes_beyond_memory_are_invalid_arguments_under_shuttle() {
    use mpcheck::shuttle::{check_random, Shuttle};
    check_random(sizes_beyond_memory_are_invalid_arguments::<Shuttle>, 1);
}

/// A ticket that cannot be sold: its `Serialize` fails with a message of its own.
struct Void(u32);

impl Serialize for Void {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom(format_args!(
            "ticket {} is void",
            self.0
        )))
    }
}

impl<'de> Deserialize<'de> for Void {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(Void)
    }
}

/// Asserts that `result` is the `Encode` error of ticket 7.
#[track_caller]
fn void(result: Result<(), Error>) {
    match result {
        Err(error @ Error::Encode(_)) => assert_eq!(
            error.to_string(),
            "could not encode the item: ticket 7 is void"
        ),
        other => panic!("{other:?} instead of the item's own encoding error"),
    }
}

/// `put` (every form, every queue) and `send` report the item's own message; nothing is put or
/// sent.
fn encode_errors_keep_their_reason<P: Platform>() {
    let q = Queue::<Void, P>::new();
    void(q.put(Void(7)));
    void(q.try_put(Void(7)));
    void(q.put_timeout(Void(7), Duration::from_secs(1)));
    assert!(q.empty());
    // An item that fails after more than the 64 bytes `put` encodes on the stack.
    let q = Queue::<(String, Void), P>::new();
    void(q.put(("x".repeat(100), Void(7))));
    assert!(q.empty());
    let q = SimpleQueue::<Void, P>::new();
    void(q.put(Void(7)));
    assert!(q.empty());
    let q = JoinableQueue::<Void, P>::new();
    void(q.put(Void(7)));
    assert!(q.empty());
    assert_eq!(
        q.task_done(),
        Err(Error::TaskDoneTooManyTimes),
        "nothing counted"
    );

    let (rx, tx) = pipe::<Void, P>(false).unwrap();
    void(tx.send(&Void(7)));
    drop(tx);
    assert!(matches!(rx.recv(), Err(Error::Eof)), "nothing was sent");
}

#[test]
fn encode_errors_keep_their_reason_on_os() {
    encode_errors_keep_their_reason::<mpcheck::Os>();
}

#[test]
fn encode_errors_keep_their_reason_under_the_simulator() {
    explored(encode_errors_keep_their_reason::<Sim>);
}
