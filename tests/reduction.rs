//! Partial-order reduction cross-checked on every property of the suite (see
//! `support/reduction.rs`): the complete search with reduction reaches the same verdict as
//! plain search and every outcome plain search reaches — all of them where plain search ends,
//! else within the largest preemption bound where it does. At both granularities: at step
//! granularity the properties prove the primitives' algorithms; at operation granularity they
//! are programs built on the primitives (each operation one step, blocking operations guarded:
//! `Platform::ready_when`), the reduction a user's program gets. The generated-program version of
//! this check is `sim/tests/dpor.rs`; the mutants' is `tests/mutants/reduction.rs`.

#[path = "support/reduction.rs"]
mod support;

use mpcheck::sim::{Config, Granularity, Sim};
use mpcheck_properties::suite::properties::{self, Size};

/// The most executions plain search may take on one property, per preemption bound.
const LIMIT: u64 = 40_000;

/// The size of the cross-check: the property's exhaustive size, but one writer and one reader
/// for the pipe (at 2 × 1 the search with reduction alone takes 253,041 executions) and one
/// operation each for the queue.
fn size(name: &str, exhaustive: Size, granularity: Granularity) -> Size {
    match name {
        // At operation granularity a blocked put or get waits for its check
        // (`Platform::ready_if`) as one event, and larger programs compare.
        "queue_mpmc_exactly_once" | "joinable_join_waits_for_task_done"
            if granularity == Granularity::Operation =>
        {
            Size {
                threads: 2,
                ops: 1,
                start_together: false,
            }
        }
        // At 1 x 2 plain search takes more than 40,000 executions per bound since a put and a
        // get each claim a slot before they move a cursor.
        "pipe_keeps_messages_whole_then_eof" | "queue_mpmc_exactly_once" => Size {
            threads: 1,
            ops: 1,
            start_together: false,
        },
        // At 2 x 2 its search with reduction alone takes 72,702 executions.
        "value_linearizable" => Size::TINY,
        _ => exhaustive,
    }
}

fn cross_check(name: &str, granularity: Granularity) {
    let property = properties::find::<Sim>(name).expect("a registered property");
    let (run, size) = (property.run, size(name, property.exhaustive, granularity));
    let compared = support::compare(
        name,
        Config::dfs().granularity(granularity),
        LIMIT,
        move || run(size),
    )
    .unwrap_or_else(|| panic!("{name} at {size:?} is too big to cross-check"));
    println!(
        "{name} at {}x{}, {} granularity: {compared}",
        size.threads,
        size.ops,
        granularity.name()
    );
}

macro_rules! cross_checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                cross_check(stringify!($name), Granularity::Step);
            }
        )*

        /// The same properties at operation granularity.
        mod operations {
            use super::*;
            $(
                #[test]
                fn $name() {
                    cross_check(stringify!($name), Granularity::Operation);
                }
            )*
        }

        /// A property added to the registry without a cross-check fails this test.
        #[test]
        fn every_registered_property_is_cross_checked() {
            properties::assert_all_tested("reduction cross-check", &[$(stringify!($name)),*]);
        }
    };
}

mpcheck_properties::for_each_property!(cross_checks);
