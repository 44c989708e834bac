//! Every property function of `mpcheck_properties::suite::properties` under our simulator, on the very same
//! primitive code the `Os` tests run on real threads:
//! - exhaustive DFS with partial-order reduction at exploration size, which must report
//!   `complete` (every interleaving up to equivalence, and both outcomes of every timed wait);
//! - PCT (depth 3, 10,000 executions) with 4 tasks.

use mpcheck::sim::{self, Config, Sim};
use mpcheck_properties::suite::properties::{self, Size};

/// Exhaustive search of `run` at `size`: it must pass and cover the whole space.
fn complete(name: &str, run: fn(Size), size: Size) {
    let report = sim::explore(
        Config::dfs()
            .granularity(mpcheck::sim::Granularity::Step)
            .ignore_env()
            .name(name),
        move || run(size),
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(report.complete(), "{name}: {report}");
}

/// PCT of depth 3, 10,000 executions, 4 tasks × 2 operations.
fn pct(name: &str, run: fn(Size)) {
    sim::check(
        Config::pct(3, 10_000)
            .granularity(mpcheck::sim::Granularity::Step)
            .ignore_env()
            .name(name),
        move || run(Size::SAMPLED),
    );
}

macro_rules! sim_properties {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn dfs_complete() {
                    let size = properties::find::<Sim>(stringify!($name)).unwrap().exhaustive;
                    complete(stringify!($name), properties::$name::<Sim>, size);
                }

                #[test]
                fn pct_depth_3() {
                    pct(stringify!($name), properties::$name::<Sim>);
                }
            }
        )*

        /// A property added to the registry without a test here fails this test.
        #[test]
        fn every_registered_property_has_a_test() {
            properties::assert_all_tested("Sim", &[$(stringify!($name)),*]);
        }
    };
}

mpcheck_properties::for_each_property!(sim_properties);
