//! The loom engine: run a scenario on the [`Loom`] platform under loom's exhaustive search of
//! interleavings and of the C11 memory model.
//!
//! loom runs each thread on a coroutine stack: the model's main thread on 32 KiB (fixed), the
//! tasks [`Loom`] spawns on [`TASK_STACK`]. A body that needs more than the main thread's runs
//! with [`on_task_stack`]; a stack that overflows ends the model with a panic saying so (loom
//! itself ends it with a panic that has no message, its coroutines' `StackErr`).

use std::panic::{self, AssertUnwindSafe};

pub use crate::platform::loom::TASK_STACK;
pub use crate::platform::Loom;
use crate::Platform;

/// Explores every execution of `f` with loom's default settings (and its `LOOM_*`
/// environment variables); panics with loom's report on failure.
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    explaining_overflows(|| ::loom::model(f))
}

/// As [`model`], with at most `bound` preemptions per execution (loom's
/// `preemption_bound`): the way to keep larger scenarios within a time budget.
pub fn model_bounded<F: Fn() + Sync + Send + 'static>(bound: usize, f: F) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    explaining_overflows(|| builder.check(f))
}

/// Inside a model: runs `f` on a task of its own, with [`TASK_STACK`] bytes of stack, and waits
/// for it (a panic of `f` goes on in the caller). For the body of a model that needs more stack
/// than loom gives the model's main thread (32 KiB, which loom 0.7 cannot change): one that
/// makes a pipe a few calls deep in an unoptimized build, say. The task is one of the 5
/// threads loom allows an execution (the main thread included), so the body has 3 more.
pub fn on_task_stack<F: FnOnce() + Send + 'static>(f: F) {
    if let Err(payload) = Loom::join(Loom::spawn(f)) {
        panic::resume_unwind(payload)
    }
}

/// Runs a loom check; if loom ends it with its coroutines' stack overflow (a panic whose
/// payload is `generator::Error::StackErr`, which would print as no message at all), panics
/// with a message that says what happened instead.
fn explaining_overflows(check: impl FnOnce()) {
    let Err(payload) = panic::catch_unwind(AssertUnwindSafe(check)) else {
        return;
    };
    if payload.downcast_ref::<generator::Error>() == Some(&generator::Error::StackErr) {
        panic!(
            "a loom thread overflowed its stack (loom printed \"coroutine has overflowed its \
             stack\"): loom runs the model's main thread on 32 KiB, which cannot be changed, \
             and each task mpcheck::loom::Loom spawns on {} KiB; run a body that needs more \
             than the main thread has with mpcheck::loom::on_task_stack (a pipe made a few \
             calls deep in an unoptimized build needs more)",
            TASK_STACK >> 10
        );
    }
    panic::resume_unwind(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64 KiB of locals: more than loom's main thread has, well within a task's stack.
    fn deep() {
        let locals = [1u8; 64 << 10];
        std::hint::black_box(&locals);
    }

    #[test]
    fn a_stack_overflow_is_named() {
        let payload = panic::catch_unwind(|| model(deep)).expect_err("the main thread overflows");
        let message = payload
            .downcast_ref::<String>()
            .expect("a panic with a message");
        assert!(message.contains("overflowed its stack"), "{message}");
        assert!(message.contains("on_task_stack"), "{message}");
    }

    #[test]
    fn a_body_on_a_task_stack_has_room() {
        model(|| on_task_stack(deep));
        model_bounded(1, || {
            let task = Loom::spawn(deep);
            Loom::join(task).expect("the task has room");
        });
    }
}
