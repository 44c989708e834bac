//! The values std's synchronization calls give back that only std can make: the facade's own
//! `WaitTimeoutResult`, `BarrierWaitResult` and `OnceState`, with std's methods. Plain values:
//! no operation of any primitive.

/// Whether a timed wait of a [`Condvar`](super::Condvar) returned because its time was up
/// (std's `WaitTimeoutResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(pub(crate) bool);

impl WaitTimeoutResult {
    /// `true` if the wait's time was up (std: "the wait is known to have timed out").
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// What [`Barrier::wait`](super::Barrier::wait) returns: whether this thread is the
/// generation's leader (std's `BarrierWaitResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(pub(crate) bool);

impl BarrierWaitResult {
    /// `true` for exactly one thread of each generation (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

/// What [`Once::call_once_force`](super::Once::call_once_force) tells its closure (std's
/// `OnceState`).
#[derive(Debug)]
pub struct OnceState {
    pub(crate) poisoned: bool,
}

impl OnceState {
    /// Whether an earlier closure panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}
