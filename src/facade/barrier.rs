//! [`Barrier`]: std's barrier over a [`Platform`], built as std builds it: a count and a
//! generation under the facade's [`Mutex`], and a [`Condvar`] the early arrivals wait on. The
//! last arrival of a generation starts the next one, wakes everyone and is the leader. A task
//! that arrives early for the next generation cannot be confused with the current one: each
//! waits for the generation it arrived in to end. std's barrier never breaks, and neither does
//! this one (mpcheck's Python-shaped [`crate::Barrier`] has timeouts, aborts and actions).

use std::fmt;

use super::condvar::Condvar;
use super::mutex::Mutex;
use super::results::BarrierWaitResult;
use crate::platform::Platform;
use crate::Os;

/// The count of arrivals in the current generation, and the generation.
struct Round {
    arrived: usize,
    generation: u64,
}

/// A barrier for `n` threads with the API of [`std::sync::Barrier`]: `wait` returns once `n`
/// threads called it, exactly one of them the leader.
///
/// ```
/// use mpcheck::facade::os::sync::{Arc, Barrier};
/// use mpcheck::facade::os::thread;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let handles: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = Arc::clone(&barrier);
///         thread::spawn(move || barrier.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles
///     .into_iter()
///     .map(|handle| handle.join().unwrap())
///     .filter(|&leader| leader)
///     .count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier<P: Platform = Os> {
    round: Mutex<Round, P>,
    cvar: Condvar<P>,
    n: usize,
}

impl<P: Platform> Barrier<P> {
    /// A barrier for `n` threads (0 and 1 let every `wait` through at once, each the leader).
    pub fn new(n: usize) -> Self {
        Barrier {
            round: Mutex::labelled(
                Round {
                    arrived: 0,
                    generation: 0,
                },
                "Barrier",
            ),
            cvar: Condvar::labelled("Barrier.waiters"),
            n,
        }
    }

    /// Waits until `n` threads (this one included) have called `wait` in this generation.
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let _op = P::operation(|| self.round.word(), "Barrier", "wait");
        // The barrier's own mutex: nobody panics holding it, and a killed holder left the
        // count as consistent as any other state (one store at a time).
        let mut round = self.round.lock().unwrap_or_else(|e| e.into_inner());
        round.arrived += 1;
        if round.arrived < self.n {
            let generation = round.generation;
            let _round = self
                .cvar
                .wait_while(round, |round| round.generation == generation)
                .unwrap_or_else(|e| e.into_inner());
            BarrierWaitResult(false)
        } else {
            round.arrived = 0;
            round.generation = round.generation.wrapping_add(1);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

impl<P: Platform> fmt::Debug for Barrier<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}
