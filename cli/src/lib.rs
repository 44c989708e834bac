//! The library half of the `mpcheck` command line: the seed programs it demonstrates
//! ([`demo`]) and its machine-readable reports ([`report`]). The verification matrix itself,
//! its properties and engines, live in `mpcheck-properties` (`suite`).
#![deny(missing_docs)]

pub mod demo;
pub mod report;
