//! [`Heap`]: a reference-counted handle to a value on the heap, like `Arc`, whose slice form
//! reports a failed allocation as an [`Error`] instead of aborting the process.
//!
//! The length of a shared slice comes from the user (an `Array`'s length, a queue's capacity),
//! so it may be more than the machine can give. std's `Arc` cannot say so: building an
//! `Arc<[T]>` (`collect`, `Arc::new_uninit_slice`) aborts when the allocator refuses, and there
//! is no stable fallible form. [`Heap::try_from_fn`] reports both an impossible size (the layout
//! overflows) and a refusal by the allocator as `Error::InvalidArgument`. It is the
//! [`Platform::Shared`](super::Platform::Shared) handle of the explorers (`Os` places its state
//! in a shared mapping instead: see `arena.rs`).
//!
//! One allocation, `#[repr(C)]`: a header with the number of handles, then the value, as in
//! `Arc` (without weak references). A clone adds one to the count (`Relaxed`: it is made from a
//! live handle, which keeps the value alive); a drop takes one off (`Release`), and the drop
//! that takes the last one fences (`Acquire`), so that every use of the value through the other
//! handles happens before it drops the value and frees the memory.

use std::alloc::{self, Layout};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicUsize, Ordering};

use crate::Error;

/// What a handle points to: the count of handles, then the value.
#[repr(C)]
struct Inner<T: ?Sized> {
    count: AtomicUsize,
    value: T,
}

/// A handle to a `T` (or a slice `[T]`) on the heap, shared by its clones and dropped with the
/// last of them, like `Arc<T>`; its slice form is allocated fallibly ([`Heap::try_from_fn`]).
pub struct Heap<T: ?Sized> {
    inner: NonNull<Inner<T>>,
    /// The handle owns (a share of) an `Inner<T>`: for the drop checker and auto traits.
    _owns: PhantomData<Inner<T>>,
}

// SAFETY: as for `Arc`: handles in several threads give shared access to the `T` (so it must be
// `Sync`), and whichever thread drops the last handle drops the `T` (so it must be `Send`).
unsafe impl<T: ?Sized + Send + Sync> Send for Heap<T> {}
// SAFETY: as above; `&Heap<T>` only gives `&T` and clones.
unsafe impl<T: ?Sized + Send + Sync> Sync for Heap<T> {}

impl<T> Heap<T> {
    /// `value` on the heap, in its first handle. Out of memory aborts the process, as for
    /// `Box::new` (the size is the type's, fixed when the program was compiled).
    pub fn new(value: T) -> Self {
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: the layout's size is not zero: it holds the count.
        let raw = unsafe { alloc::alloc(layout) }.cast::<Inner<T>>();
        let Some(inner) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: `raw` was just allocated with the layout of an `Inner<T>`: valid for a write.
        unsafe {
            raw.write(Inner {
                count: AtomicUsize::new(1),
                value,
            })
        };
        Heap {
            inner,
            _owns: PhantomData,
        }
    }
}

/// The layout of an `Inner<[T]>` of `len` elements, and the offset of its first element; `None`
/// when the size does not fit in an `isize`. Field by field as `#[repr(C)]` lays them out.
fn slice_layout<T>(len: usize) -> Option<(Layout, usize)> {
    let (layout, offset) = Layout::new::<AtomicUsize>()
        .extend(Layout::array::<T>(len).ok()?)
        .ok()?;
    Some((layout.pad_to_align(), offset))
}

/// A slice being built: drops the elements made so far and frees the memory if it is dropped
/// before it is complete (when `init` panics).
struct Partial<T> {
    raw: NonNull<u8>,
    layout: Layout,
    elements: *mut T,
    done: usize,
}

impl<T> Drop for Partial<T> {
    fn drop(&mut self) {
        // SAFETY: the first `done` elements were written and nothing else refers to them; `raw`
        // was allocated with `layout` and no handle to it exists yet.
        unsafe {
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.elements, self.done));
            alloc::dealloc(self.raw.as_ptr(), self.layout);
        }
    }
}

impl<T> Heap<[T]> {
    /// A slice of `len` elements made by `init(0)`, `init(1)`, ..., in its first handle.
    ///
    /// `Error::InvalidArgument` (before `init` is called) when `len` elements of `T` are more
    /// than an address space holds, or when the allocator refuses the memory. If `init`
    /// panics, the elements made so far are dropped and the memory freed.
    pub fn try_from_fn(len: usize, mut init: impl FnMut(usize) -> T) -> Result<Self, Error> {
        let Some((layout, offset)) = slice_layout::<T>(len) else {
            return Err(Error::InvalidArgument(format!(
                "{len} elements of {} bytes are more than an address space holds",
                std::mem::size_of::<T>()
            )));
        };
        // SAFETY: the layout's size is not zero: it holds the count.
        let Some(raw) = NonNull::new(unsafe { alloc::alloc(layout) }) else {
            return Err(Error::InvalidArgument(format!(
                "the system refused to allocate {} bytes",
                layout.size()
            )));
        };
        let mut partial = Partial {
            raw,
            layout,
            // SAFETY: `offset` is inside the allocation (the elements start there).
            elements: unsafe { raw.as_ptr().add(offset) }.cast::<T>(),
            done: 0,
        };
        while partial.done < len {
            let element = init(partial.done);
            // SAFETY: element `done` is inside the allocation, aligned for `T` (the layout
            // says so), and not yet written.
            unsafe { partial.elements.add(partial.done).write(element) };
            partial.done += 1;
        }
        std::mem::forget(partial);
        // SAFETY: the count is at offset 0 of the allocation, aligned, not yet written.
        unsafe { raw.cast::<AtomicUsize>().write(AtomicUsize::new(1)) };
        // A slice pointer to the allocation, cast to `Inner<[T]>`, keeps its length: the
        // pointer to an `Inner<[T]>` of `len` elements.
        let inner = ptr::slice_from_raw_parts_mut(raw.as_ptr().cast::<T>(), len) as *mut Inner<[T]>;
        Ok(Heap {
            // SAFETY: derived from `raw`, which is not null.
            inner: unsafe { NonNull::new_unchecked(inner) },
            _owns: PhantomData,
        })
    }
}

impl<T: ?Sized> Heap<T> {
    #[inline]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: a live handle keeps the allocation, fully initialized, alive.
        unsafe { self.inner.as_ref() }
    }
}

impl<T: ?Sized> Deref for Heap<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: ?Sized> Clone for Heap<T> {
    #[inline]
    fn clone(&self) -> Self {
        let before = self.inner().count.fetch_add(1, Ordering::Relaxed);
        // As `Arc`: a count that could wrap (handles leaked with `mem::forget`) would free the
        // value under live handles; stop instead.
        if before > isize::MAX as usize {
            std::process::abort();
        }
        Heap {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> Drop for Heap<T> {
    fn drop(&mut self) {
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let layout = Layout::for_value(self.inner());
        // SAFETY: this was the last handle: nothing else reaches the value, which is dropped
        // once, and then the allocation, made with this layout, is freed.
        unsafe {
            ptr::drop_in_place(ptr::addr_of_mut!((*self.inner.as_ptr()).value));
            alloc::dealloc(self.inner.as_ptr().cast::<u8>(), layout);
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Heap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its drops in a shared counter.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn drops(counter: &Arc<AtomicUsize>) -> usize {
        counter.load(Ordering::Relaxed)
    }

    #[test]
    fn a_value_is_shared_by_clones_and_dropped_with_the_last() {
        let counter = Arc::new(AtomicUsize::new(0));
        let first = Heap::new(Counted(counter.clone()));
        let second = first.clone();
        assert!(ptr::eq(&*first, &*second), "clones reach the same value");
        drop(first);
        assert_eq!(drops(&counter), 0);
        let third = std::thread::spawn(move || second.clone()).join().unwrap();
        assert_eq!(
            drops(&counter),
            0,
            "the thread's handle was dropped, not the last"
        );
        drop(third);
        assert_eq!(drops(&counter), 1);
    }

    #[test]
    fn a_slice_holds_what_init_made_and_drops_each_element_once() {
        let counter = Arc::new(AtomicUsize::new(0));
        let slice = Heap::try_from_fn(5, |i| (i * 10, Counted(counter.clone()))).unwrap();
        let values: Vec<usize> = slice.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, [0, 10, 20, 30, 40]);
        let clone = slice.clone();
        drop(slice);
        assert_eq!(drops(&counter), 0);
        assert_eq!(clone.len(), 5);
        drop(clone);
        assert_eq!(drops(&counter), 5);
    }

    #[test]
    fn a_panic_in_init_drops_what_was_made() {
        let counter = Arc::new(AtomicUsize::new(0));
        let result = catch_unwind(AssertUnwindSafe(|| {
            Heap::try_from_fn(10, |i| {
                assert!(i < 4, "element {i} cannot be made");
                Counted(counter.clone())
            })
        }));
        assert!(result.is_err(), "the panic goes on to the caller");
        assert_eq!(drops(&counter), 4, "elements 0 to 3 were dropped");
    }

    #[test]
    fn the_layout_is_the_one_repr_c_gives() {
        fn check<T: Default>(len: usize) {
            let heap = Heap::try_from_fn(len, |_| T::default()).unwrap();
            let (layout, offset) = slice_layout::<T>(len).unwrap();
            assert_eq!(Layout::for_value(heap.inner()), layout);
            let start = heap.inner.as_ptr().cast::<u8>();
            assert_eq!(heap.as_ptr().cast::<u8>(), start.wrapping_add(offset));
        }
        #[derive(Default)]
        #[repr(align(64))]
        struct Line(#[allow(dead_code)] [u64; 8]);
        for len in [0, 1, 3, 17] {
            check::<u8>(len);
            check::<u64>(len);
            check::<u128>(len);
            check::<Line>(len);
            check::<()>(len);
        }
    }

    #[test]
    fn a_size_past_the_address_space_is_an_error() {
        let error = Heap::try_from_fn(1 << 62, |_| 0u64).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid argument: 4611686018427387904 elements of 8 bytes are more than an \
             address space holds"
        );
    }

    #[test]
    fn memory_the_system_cannot_give_is_an_error() {
        // 2^61 bytes: a valid layout, but more than any address space (57 bits at most).
        let error = Heap::try_from_fn(1 << 58, |_| 0u64).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid argument: the system refused to allocate 2305843009213693960 bytes"
        );
        // 16 TiB: within the address space. Linux refuses it unless it overcommits without
        // limit (`vm.overcommit_memory` = 1), in which case the test would touch every page.
        let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory");
        if overcommit.is_ok_and(|mode| mode.trim() != "1") {
            let error = Heap::try_from_fn(1 << 44, |_| 0u8).unwrap_err();
            assert!(
                error.to_string().contains("17592186044424 bytes"),
                "{error}"
            );
        }
    }

    #[test]
    fn debug_shows_the_value() {
        assert_eq!(format!("{:?}", Heap::new(7)), "7");
        assert_eq!(
            format!("{:?}", Heap::try_from_fn(3, |i| i).unwrap()),
            "[0, 1, 2]"
        );
    }
}
