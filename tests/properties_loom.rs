//! Every property function under loom (the `Loom` platform): loom explores interleavings and
//! the C11 memory model exhaustively, up to a preemption bound that keeps this file fast.
//!
//! This is the first step of the loom engine: the platform and `mpcheck::loom::model_bounded`.

use mpcheck::check::properties::{self, Size};
use mpcheck::loom::{model_bounded, Loom};

/// Preemption bound: 2 covers every property here in well under a second each.
const BOUND: usize = 2;

macro_rules! loom_properties {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let size = properties::find::<Loom>(stringify!($name)).unwrap().exhaustive;
                model_bounded(BOUND, move || properties::$name::<Loom>(size));
            }
        )*

        /// A property added to the registry without a test here fails this test.
        #[test]
        fn every_registered_property_has_a_test() {
            properties::assert_all_tested("loom", &[$(stringify!($name)),*]);
        }
    };
}

loom_properties!(
    lock_mutual_exclusion,
    rlock_mutual_exclusion,
    semaphore_mutual_exclusion,
    semaphore_bound,
    bounded_semaphore_exact,
    barrier_rounds,
    condition_producer_consumer,
    event_wakes_all,
    timeouts,
);

#[test]
fn small_size_is_what_the_registry_says() {
    assert_eq!(
        properties::find::<Loom>("lock_mutual_exclusion")
            .unwrap()
            .exhaustive,
        Size::SMALL
    );
}
