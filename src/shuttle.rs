//! The shuttle engine: run a scenario on the [`Shuttle`] platform under shuttle's schedulers.
//! Shuttle's warnings about `lazy_static` drop order are silenced: the futex table of the
//! platform is one, and its drop at the end of an execution is intended.

pub use crate::platform::Shuttle;

fn config() -> ::shuttle::Config {
    let mut config = ::shuttle::Config::new();
    config.silence_warnings = true;
    config
}

/// The seed of [`check_random`] and [`check_pct`]: `MPCHECK_SHUTTLE_SEED` if set (a number),
/// else a fixed one, so that a test that passes once passes every time (shuttle's own `new`
/// draws a fresh seed per run: a test of it would search different executions each time).
fn seed() -> u64 {
    match std::env::var("MPCHECK_SHUTTLE_SEED") {
        Ok(seed) => seed
            .parse()
            .unwrap_or_else(|_| panic!("MPCHECK_SHUTTLE_SEED={seed}: not a number")),
        Err(_) => 0x6d70_6368_6563_6b01,
    }
}

/// `iterations` executions of shuttle's random scheduler, seeded by `MPCHECK_SHUTTLE_SEED` (a
/// number) or else a fixed seed, so that a run is the same every time; panics on failure.
pub fn check_random<F: Fn() + Send + Sync + 'static>(f: F, iterations: usize) {
    check_random_with_seed(f, iterations, seed());
}

/// As [`check_random`], with the scheduler's seed given: the same seed explores the same
/// executions.
pub fn check_random_with_seed<F: Fn() + Send + Sync + 'static>(f: F, iterations: usize, seed: u64) {
    let scheduler = ::shuttle::scheduler::RandomScheduler::new_from_seed(seed, iterations);
    ::shuttle::Runner::new(scheduler, config()).run(f);
}

/// `iterations` executions of shuttle's PCT scheduler for bugs of depth `depth`, with the seed
/// of [`check_random`].
pub fn check_pct<F: Fn() + Send + Sync + 'static>(f: F, iterations: usize, depth: usize) {
    check_pct_with_seed(f, iterations, depth, seed());
}

/// As [`check_pct`], with the scheduler's seed given.
pub fn check_pct_with_seed<F: Fn() + Send + Sync + 'static>(
    f: F,
    iterations: usize,
    depth: usize,
    seed: u64,
) {
    let scheduler = ::shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, iterations);
    ::shuttle::Runner::new(scheduler, config()).run(f);
}

/// Shuttle's depth-first search (no reduction), at most `max_iterations` executions if given.
/// The timed waits' choices are not part of the search: they come from a seeded generator.
pub fn check_dfs<F: Fn() + Send + Sync + 'static>(f: F, max_iterations: Option<usize>) {
    let scheduler = ::shuttle::scheduler::DfsScheduler::new(max_iterations, true);
    ::shuttle::Runner::new(scheduler, config()).run(f);
}
