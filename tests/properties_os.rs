//! Every property function of `mpcheck_properties::suite::properties`, on real threads at stress size
//! (4 threads × 10,000 operations). The same functions run under the exploration engines.

use mpcheck::Os;
use mpcheck_properties::suite::properties::{self, Size};

macro_rules! os_properties {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                properties::$name::<Os>(Size::STRESS);
            }
        )*

        /// A property added to the registry without a test here fails this test.
        #[test]
        fn every_registered_property_has_a_test() {
            properties::assert_all_tested("Os", &[$(stringify!($name)),*]);
        }
    };
}

mpcheck_properties::for_each_property!(os_properties);

#[test]
fn properties_also_pass_at_exploration_size() {
    for p in properties::all::<Os>() {
        (p.run)(Size::SMALL);
    }
}
