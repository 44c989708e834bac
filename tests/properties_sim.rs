//! Every property function of `mpcheck::check::properties` under our simulator, on the very same
//! primitive code the `Os` tests run on real threads:
//! - exhaustive DFS with partial-order reduction at exploration size, which must report
//!   `complete` (every interleaving up to equivalence, and both outcomes of every timed wait);
//! - PCT (depth 3, 10,000 executions) with 4 tasks.

use mpcheck::check::properties::{self, Size};
use mpcheck::sim::{self, Config, Sim};

/// Exhaustive search of `run` at `size`: it must pass and cover the whole space.
fn complete(name: &str, run: fn(Size), size: Size) {
    let report = sim::explore(Config::dfs().ignore_env().name(name), move || run(size))
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete(), "{name}: {report}");
}

/// PCT of depth 3, 10,000 executions, 4 tasks.
fn pct(name: &str, run: fn(Size), ops: usize) {
    let size = Size {
        threads: 4,
        ops,
        start_together: false,
    };
    sim::check(Config::pct(3, 10_000).ignore_env().name(name), move || {
        run(size)
    });
}

const TWO_BY_TWO: Size = Size::SMALL;
/// Barrier rounds and the Condition ring have many more steps per operation (a Lock, a
/// Condition and their bookkeeping per round or item): one operation each keeps exhaustive
/// search to about a thousand executions; PCT covers longer runs.
const TWO_BY_ONE: Size = Size {
    threads: 2,
    ops: 1,
    start_together: false,
};

macro_rules! sim_properties {
    ($($name:ident: $size:expr),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn dfs_complete() {
                    complete(stringify!($name), properties::$name::<Sim>, $size);
                }

                #[test]
                fn pct_depth_3() {
                    pct(stringify!($name), properties::$name::<Sim>, 2);
                }
            }
        )*

        /// A property added to the registry without a test here fails this test.
        #[test]
        fn every_registered_property_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for p in properties::all::<Sim>() {
                assert!(tested.contains(&p.name), "no Sim test for property {}", p.name);
            }
        }
    };
}

sim_properties!(
    lock_mutual_exclusion: TWO_BY_TWO,
    rlock_mutual_exclusion: TWO_BY_TWO,
    semaphore_mutual_exclusion: TWO_BY_TWO,
    semaphore_bound: TWO_BY_TWO,
    bounded_semaphore_exact: TWO_BY_TWO,
    barrier_rounds: TWO_BY_ONE,
    condition_producer_consumer: TWO_BY_ONE,
    event_wakes_all: TWO_BY_TWO,
    timeouts: TWO_BY_TWO,
);
