//! The [`Shareable`] marker: data that may be placed in memory shared between processes.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

/// Data that keeps its meaning when the memory holding it is mapped into another process, maybe
/// at another address: atomics, platform cells and plain-old-data, and structs made only of them.
///
/// A primitive's shared state (the `T` of [`Platform::Shared`](super::Platform::Shared)) must be
/// `Shareable`, so that the real-process engine can put it in a shared mapping without touching
/// the primitive.
///
/// # Safety
/// An implementor must hold no pointer or reference of any kind (no `Box`, `Vec`, `String`, `Arc`,
/// `&T`, function pointer or trait object), no file descriptor or other per-process handle, and
/// must not need its destructor to run in a particular process. Every field must itself be
/// `Shareable`.
pub unsafe trait Shareable {}

macro_rules! shareable {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a plain value or std atomic: no pointers, same bytes mean the same value in
            // every process.
            unsafe impl Shareable for $t {}
        )*
    };
}

shareable!(
    (),
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    char,
    AtomicBool,
    AtomicU32,
    AtomicU64,
);

// SAFETY: an array of shareable values is laid out inline, with no pointers of its own.
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {}

// SAFETY: as for arrays: the elements, inline, and nothing else.
unsafe impl<T: Shareable> Shareable for [T] {}

/// A value alone on its cache lines (128 bytes: two lines, as adjacent-line prefetchers pair
/// them), so that words written by different sides do not bounce one line between cores.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

// SAFETY: a `T` and padding, nothing else.
unsafe impl<T: Shareable> Shareable for Padded<T> {}

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
