//! Every property function under shuttle (the `Shuttle` platform): its random scheduler and its
//! PCT scheduler (depth 3), 4 tasks × 2 operations, 1,000 executions each.

use mpcheck::shuttle::{check_pct, check_random, Shuttle};
use mpcheck_properties::suite::properties::{self, Size};

const EXECUTIONS: usize = 1_000;

macro_rules! shuttle_properties {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn random() {
                    check_random(|| properties::$name::<Shuttle>(Size::SAMPLED), EXECUTIONS);
                }

                #[test]
                fn pct_depth_3() {
                    check_pct(|| properties::$name::<Shuttle>(Size::SAMPLED), EXECUTIONS, 3);
                }
            }
        )*

        /// A property added to the registry without a test here fails this test.
        #[test]
        fn every_registered_property_has_a_test() {
            properties::assert_all_tested("shuttle", &[$(stringify!($name)),*]);
        }
    };
}

mpcheck_properties::for_each_property!(shuttle_properties);
