//! A raw value or array (Python's `RawValue`, `RawArray`: no lock) is read and written a word
//! at a time, so a read of an element wider than a word can see another task's write half done.
//! The simulator must show those torn reads at operation granularity as it does at step
//! granularity: a raw access is no one-event operation (found by a review: at operation
//! granularity a raw `get` of two words only ever saw `[0, 0]` or `[1, 1]`).

use std::cell::RefCell;
use std::collections::BTreeSet;

use mpcheck::sim::{explore, Config, Granularity, Sim};
use mpcheck::{thread, Array, Value};

thread_local! {
    /// The outcomes of the executions explored so far.
    static SEEN: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

/// Every outcome `program` records, under exhaustive search at `granularity` (complete).
fn outcomes(granularity: Granularity, program: fn()) -> BTreeSet<String> {
    SEEN.with(|s| s.borrow_mut().clear());
    let config = Config::dfs()
        .granularity(granularity)
        .ignore_env()
        .no_files();
    let report = explore(config, program).unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete(), "{report}");
    SEEN.with(|s| s.borrow().clone())
}

fn record(outcome: impl std::fmt::Debug) {
    SEEN.with(|s| s.borrow_mut().insert(format!("{outcome:?}")));
}

/// A raw value of two words, written whole by another task while this one reads it.
fn raw_value() {
    let value = Value::<[u64; 2], Sim>::raw([0, 0]);
    let theirs = value.clone();
    let writer = thread::spawn::<Sim, _, _>(move || theirs.set([1, 1]));
    record(value.get());
    writer.join().unwrap();
}

/// A raw array of two elements, written one after the other while this task copies it.
fn raw_array() {
    let array = Array::<u64, Sim>::raw(2).unwrap();
    let theirs = array.clone();
    let writer = thread::spawn::<Sim, _, _>(move || {
        theirs.set(0, 1).unwrap();
        theirs.set(1, 1).unwrap();
    });
    record(array.to_vec());
    writer.join().unwrap();
}

/// The same with a lock: every read is whole.
fn locked_value() {
    let value = Value::<[u64; 2], Sim>::new([0, 0]);
    let theirs = value.clone();
    let writer = thread::spawn::<Sim, _, _>(move || theirs.set([1, 1]));
    record(value.get());
    writer.join().unwrap();
}

#[test]
fn a_raw_value_can_be_read_half_written_at_both_granularities() {
    let all: BTreeSet<String> = ["[0, 0]", "[0, 1]", "[1, 0]", "[1, 1]"]
        .map(String::from)
        .into();
    for granularity in [Granularity::Step, Granularity::Operation] {
        assert_eq!(outcomes(granularity, raw_value), all, "{granularity:?}");
        assert_eq!(outcomes(granularity, raw_array), all, "{granularity:?}");
    }
}

#[test]
fn a_locked_value_is_read_whole_at_both_granularities() {
    let whole: BTreeSet<String> = ["[0, 0]", "[1, 1]"].map(String::from).into();
    for granularity in [Granularity::Step, Granularity::Operation] {
        assert_eq!(
            outcomes(granularity, locked_value),
            whole,
            "{granularity:?}"
        );
    }
}
