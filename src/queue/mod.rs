//! Queues (issue 5, under construction): the shared-memory ring of byte frames that `Queue`,
//! `SimpleQueue` and `JoinableQueue` will be built on.

// Parts of the ring only the queues (next) and the tests use yet.
#[allow(dead_code)]
pub(crate) mod ring;
