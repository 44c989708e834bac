//! Every property function under loom (the `Loom` platform): loom explores interleavings and
//! the C11 memory model exhaustively, up to the preemption bound the registry gives each
//! property (`Property::loom_bound`; `None` is unbounded, a complete search: every property but
//! RLock's and Semaphore's, which run at bound 6). Together they take about a minute of CPU.
//!
//! `MPCHECK_LOOM_BOUND=N` (or `none`) replaces every property's bound, to measure or to search
//! deeper: `MPCHECK_LOOM_BOUND=6 cargo test --release --test properties_loom`.

use mpcheck::loom::{model, model_bounded, Loom};
use mpcheck_properties::suite::properties::{self, Size};

/// The bound for `property`: the registry's, unless `MPCHECK_LOOM_BOUND` says otherwise.
fn bound(property: &properties::Property) -> Option<usize> {
    match std::env::var("MPCHECK_LOOM_BOUND") {
        Ok(b) if b == "none" => None,
        Ok(b) => Some(
            b.parse()
                .unwrap_or_else(|_| panic!("MPCHECK_LOOM_BOUND={b}: a number or `none`")),
        ),
        Err(_) => property.loom_bound,
    }
}

macro_rules! loom_properties {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let property = properties::find::<Loom>(stringify!($name)).unwrap();
                let size = property.exhaustive;
                match bound(&property) {
                    Some(b) => model_bounded(b, move || properties::$name::<Loom>(size)),
                    None => model(move || properties::$name::<Loom>(size)),
                }
            }
        )*

        /// A property added to the registry without a test here fails this test.
        #[test]
        fn every_registered_property_has_a_test() {
            properties::assert_all_tested("loom", &[$(stringify!($name)),*]);
        }
    };
}

mpcheck_properties::for_each_property!(loom_properties);

#[test]
fn small_size_is_what_the_registry_says() {
    assert_eq!(
        properties::find::<Loom>("lock_mutual_exclusion")
            .unwrap()
            .exhaustive,
        Size::SMALL
    );
}
