//! The loom engine: run a scenario on the [`Loom`] platform under loom's exhaustive search of
//! interleavings and of the C11 memory model.

pub use crate::platform::Loom;

/// Explores every execution of `f` with loom's default settings (and its `LOOM_*`
/// environment variables); panics with loom's report on failure.
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    ::loom::model(f)
}

/// As [`model`], with at most `bound` preemptions per execution (loom's
/// `preemption_bound`): the way to keep larger scenarios within a time budget.
pub fn model_bounded<F: Fn() + Sync + Send + 'static>(bound: usize, f: F) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f)
}
