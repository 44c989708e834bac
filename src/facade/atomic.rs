//! std's atomics over a [`Platform`]: `AtomicBool`, `AtomicU8` … `AtomicU64`, `AtomicUsize`,
//! `AtomicI8` … `AtomicI64`, `AtomicIsize` and `AtomicPtr<T>`, with std's methods, generic
//! (`AtomicU8<P>`, ...; the per-engine modules of the [facade](super) give them std's
//! one-parameter names).
//!
//! The platform offers 32- and 64-bit words ([`Platform::AtomicU32`], [`Platform::AtomicU64`]);
//! each facade atomic keeps its value in one of them, *zero-extended* (an `AtomicI8` holding
//! `-1` holds `0xff` in its `u32`), so that equal values are equal words:
//!
//! | types | word |
//! |---|---|
//! | `bool` (0 or 1), `u8`, `i8`, `u16`, `i16`, `u32`, `i32` | `P::AtomicU32` |
//! | `u64`, `i64`, `usize`, `isize`, pointers | `P::AtomicU64` |
//!
//! A load, store, swap, compare-exchange, `fetch_and` and `fetch_or` is one access of the word
//! (zero-extension keeps them exact), and so are `fetch_add` and `fetch_sub` where the type
//! fills its word (two's complement makes signed and unsigned addition the same bits). Every
//! other read-modify-write (`fetch_xor`, `fetch_nand`, `fetch_max`, `fetch_min`, and
//! `fetch_add`/`fetch_sub` of a narrower type, which must wrap at its own width) is a
//! compare-exchange loop, marked as one operation ([`Platform::operation`]): at the simulator's
//! operation granularity it is one step, as it is one instruction (or one atomic operation) with
//! std. `fetch_update` is not: it runs the caller's closure, which is no part of any operation
//! (it may read and write other shared state, and it runs again when the compare-exchange
//! fails, as std's may), so it is a load and compare-exchanges, each a step of its own, as std
//! writes it. Plain accesses are steps of their own, as every engine's atomics are.
//!
//! Differences from std, each forced by the platforms: `new` is not `const` (an engine's atomic
//! is made inside the execution that uses it; loom's are not `const` either), so a `static`
//! atomic must be made lazily or passed in; `get_mut` returns an [`AtomicMut`] that
//! dereferences to the value and stores it back when dropped, rather than `&mut` into the word
//! (loom's atomics have no `get_mut` at all, and a narrow type has no place of its own in its
//! word); `as_ptr` and the unstable methods are left out.
//!
//! `AtomicPtr<T>` keeps the address in a 64-bit word: stores expose the pointer's provenance
//! (`<*mut T>::expose_provenance`) and loads take it back
//! ([`std::ptr::with_exposed_provenance_mut`]), the round trip through an integer that the
//! exposed-provenance model of Rust (and Miri's permissive mode) makes sound. Pointer arithmetic
//! on the stored value (std's unstable `fetch_ptr_add`) is not offered.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

use crate::platform::{Atomic, AtomicInt, Platform};
use crate::Os;

/// The failure ordering std derives for a read-modify-write's compare-exchange loop, and the
/// ordering of its first load.
#[inline]
fn load_order(order: Ordering) -> Ordering {
    match order {
        Ordering::Release | Ordering::Relaxed => Ordering::Relaxed,
        Ordering::AcqRel | Ordering::Acquire => Ordering::Acquire,
        _ => Ordering::SeqCst,
    }
}

/// What [`AtomicU8::get_mut`] (and every facade atomic's `get_mut`) returns: the value, which
/// the exclusive borrow lets nobody else see, stored back into the atomic when dropped.
/// Dereference it as std's `&mut`: `*counter.get_mut() += 1`.
pub struct AtomicMut<'a, V: Copy, A: ?Sized> {
    value: V,
    atomic: &'a mut A,
    store: fn(&mut A, V),
}

impl<V: Copy, A: ?Sized> Deref for AtomicMut<'_, V, A> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.value
    }
}

impl<V: Copy, A: ?Sized> DerefMut for AtomicMut<'_, V, A> {
    fn deref_mut(&mut self) -> &mut V {
        &mut self.value
    }
}

impl<V: Copy, A: ?Sized> Drop for AtomicMut<'_, V, A> {
    fn drop(&mut self) {
        (self.store)(self.atomic, self.value)
    }
}

impl<V: Copy + fmt::Debug, A: ?Sized> fmt::Debug for AtomicMut<'_, V, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

/// The methods every facade atomic has, whatever its value (`$t`), its word (`$word`, the
/// platform's `$atomic`), and how a value becomes a word and back (`$to`, `$from`).
macro_rules! common_methods {
    ($name:ident, $t:ty, $atomic:ident, $word:ty, $to:path, $from:path) => {
        /// A new atomic holding `value`.
        pub fn new(value: $t) -> Self {
            let word = <P::$atomic as Atomic<$word>>::new($to(value));
            word.label(stringify!($name));
            $name {
                word,
                _value: PhantomData,
            }
        }

        /// Loads the value (see std's `load`).
        #[inline]
        #[track_caller]
        pub fn load(&self, order: Ordering) -> $t {
            $from(self.word.load(order))
        }

        /// Stores `value` (see std's `store`).
        #[inline]
        #[track_caller]
        pub fn store(&self, value: $t, order: Ordering) {
            self.word.store($to(value), order)
        }

        /// Stores `value` and returns the previous value.
        #[inline]
        #[track_caller]
        pub fn swap(&self, value: $t, order: Ordering) -> $t {
            $from(self.word.swap($to(value), order))
        }

        /// Stores `new` if the value is `current`: `Ok(previous)`, or `Err(actual)` and nothing
        /// stored.
        #[inline]
        #[track_caller]
        pub fn compare_exchange(
            &self,
            current: $t,
            new: $t,
            success: Ordering,
            failure: Ordering,
        ) -> Result<$t, $t> {
            self.word
                .compare_exchange($to(current), $to(new), success, failure)
                .map($from)
                .map_err($from)
        }

        /// As [`compare_exchange`](Self::compare_exchange), but may fail spuriously.
        #[inline]
        #[track_caller]
        pub fn compare_exchange_weak(
            &self,
            current: $t,
            new: $t,
            success: Ordering,
            failure: Ordering,
        ) -> Result<$t, $t> {
            self.word
                .compare_exchange_weak($to(current), $to(new), success, failure)
                .map($from)
                .map_err($from)
        }

        /// Applies `f` to the value until it stores `f`'s result (`Ok(previous)`) or `f`
        /// returns `None` (`Err(previous)`): std's `fetch_update`, a load and compare-exchanges
        /// with `f` run between them (not one operation: see the module's documentation).
        #[track_caller]
        pub fn fetch_update<F>(
            &self,
            set_order: Ordering,
            fetch_order: Ordering,
            mut f: F,
        ) -> Result<$t, $t>
        where
            F: FnMut($t) -> Option<$t>,
        {
            // A load, then compare-exchanges, each one step; `f` runs between them, outside
            // any operation (as std's, it may run more than once).
            let mut seen = self.word.load(fetch_order);
            while let Some(next) = f($from(seen)) {
                match self
                    .word
                    .compare_exchange_weak(seen, $to(next), set_order, fetch_order)
                {
                    Ok(previous) => return Ok($from(previous)),
                    Err(now) => seen = now,
                }
            }
            Err($from(seen))
        }

        /// The value, consuming the atomic.
        #[track_caller]
        pub fn into_inner(self) -> $t {
            // Owned: every store to it happened before (ownership moved here after them).
            $from(self.word.load(Ordering::Acquire))
        }

        /// The value, through the exclusive borrow: an [`AtomicMut`] that dereferences to it
        /// and stores it back when dropped (`*atomic.get_mut() = v`).
        #[track_caller]
        pub fn get_mut(&mut self) -> AtomicMut<'_, $t, Self> {
            AtomicMut {
                value: $from(self.word.load(Ordering::Acquire)),
                atomic: self,
                store: |atomic, value| atomic.word.store($to(value), Ordering::Release),
            }
        }

        /// Stores `new` if the value is `current`; returns the previous value (std's deprecated
        /// `compare_and_swap`, which loom keeps).
        #[inline]
        #[track_caller]
        pub fn compare_and_swap(&self, current: $t, new: $t, order: Ordering) -> $t {
            match self.compare_exchange(current, new, order, load_order(order)) {
                Ok(previous) | Err(previous) => previous,
            }
        }

        /// A read-modify-write by a compare-exchange loop, as one operation named `what`.
        #[inline]
        #[track_caller]
        fn update(&self, what: &'static str, order: Ordering, f: impl Fn($t) -> $t) -> $t {
            let _op = P::operation(|| &self.word, stringify!($name), what);
            let fetch = load_order(order);
            let mut seen = self.word.load(fetch);
            loop {
                let next = $to(f($from(seen)));
                match self.word.compare_exchange_weak(seen, next, order, fetch) {
                    Ok(previous) => return $from(previous),
                    Err(now) => seen = now,
                }
            }
        }
    };
}

/// The platform-independent trait impls of a facade atomic.
macro_rules! common_impls {
    ($name:ident, $t:ty) => {
        impl<P: Platform> Default for $name<P> {
            fn default() -> Self {
                Self::new(<$t>::default())
            }
        }

        impl<P: Platform> From<$t> for $name<P> {
            fn from(value: $t) -> Self {
                Self::new(value)
            }
        }

        impl<P: Platform> fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
            }
        }
    };
}

/// An integer atomic: `$t` in the word `$atomic` (`$word`), `$u` the unsigned type of `$t`'s
/// width (its zero-extension).
macro_rules! atomic_int {
    ($(#[$doc:meta])* $name:ident, $t:ty, $u:ty, $atomic:ident, $word:ty) => {
        $(#[$doc])*
        pub struct $name<P: Platform = Os> {
            word: P::$atomic,
            _value: PhantomData<$t>,
        }

        impl<P: Platform> $name<P> {
            /// Whether `$t` fills its word: then addition is the word's own.
            const FILLS_WORD: bool = <$u>::BITS == <$word>::BITS;

            #[inline(always)]
            fn to_word(value: $t) -> $word {
                value as $u as $word
            }

            #[inline(always)]
            fn from_word(word: $word) -> $t {
                word as $u as $t
            }

            common_methods!($name, $t, $atomic, $word, Self::to_word, Self::from_word);

            /// Adds `value`, wrapping; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_add(&self, value: $t, order: Ordering) -> $t {
                if Self::FILLS_WORD {
                    Self::from_word(self.word.fetch_add(Self::to_word(value), order))
                } else {
                    self.update("fetch_add", order, |v| v.wrapping_add(value))
                }
            }

            /// Subtracts `value`, wrapping; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_sub(&self, value: $t, order: Ordering) -> $t {
                if Self::FILLS_WORD {
                    Self::from_word(self.word.fetch_sub(Self::to_word(value), order))
                } else {
                    self.update("fetch_sub", order, |v| v.wrapping_sub(value))
                }
            }

            /// Bitwise and; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_and(&self, value: $t, order: Ordering) -> $t {
                Self::from_word(self.word.fetch_and(Self::to_word(value), order))
            }

            /// Bitwise or; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_or(&self, value: $t, order: Ordering) -> $t {
                Self::from_word(self.word.fetch_or(Self::to_word(value), order))
            }

            /// Bitwise xor; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_xor(&self, value: $t, order: Ordering) -> $t {
                self.update("fetch_xor", order, |v| v ^ value)
            }

            /// Bitwise nand (`!(v & value)`); returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_nand(&self, value: $t, order: Ordering) -> $t {
                self.update("fetch_nand", order, |v| !(v & value))
            }

            /// Stores the maximum of the value and `value` (compared as `$t`: signed types
            /// signed); returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_max(&self, value: $t, order: Ordering) -> $t {
                self.update("fetch_max", order, |v| v.max(value))
            }

            /// Stores the minimum of the value and `value`; returns the previous value.
            #[inline]
            #[track_caller]
            pub fn fetch_min(&self, value: $t, order: Ordering) -> $t {
                self.update("fetch_min", order, |v| v.min(value))
            }
        }

        common_impls!($name, $t);
    };
}

atomic_int!(
    /// std's `AtomicU8` on the platform `P` (in a `P::AtomicU32`; see the [module docs](self)).
    AtomicU8, u8, u8, AtomicU32, u32
);
atomic_int!(
    /// std's `AtomicI8` on the platform `P` (in a `P::AtomicU32`).
    AtomicI8, i8, u8, AtomicU32, u32
);
atomic_int!(
    /// std's `AtomicU16` on the platform `P` (in a `P::AtomicU32`).
    AtomicU16, u16, u16, AtomicU32, u32
);
atomic_int!(
    /// std's `AtomicI16` on the platform `P` (in a `P::AtomicU32`).
    AtomicI16, i16, u16, AtomicU32, u32
);
atomic_int!(
    /// std's `AtomicU32` on the platform `P` (a `P::AtomicU32`).
    AtomicU32, u32, u32, AtomicU32, u32
);
atomic_int!(
    /// std's `AtomicI32` on the platform `P` (in a `P::AtomicU32`).
    AtomicI32, i32, u32, AtomicU32, u32
);
atomic_int!(
    /// std's `AtomicU64` on the platform `P` (a `P::AtomicU64`).
    AtomicU64, u64, u64, AtomicU64, u64
);
atomic_int!(
    /// std's `AtomicI64` on the platform `P` (in a `P::AtomicU64`).
    AtomicI64, i64, u64, AtomicU64, u64
);
atomic_int!(
    /// std's `AtomicUsize` on the platform `P` (in a `P::AtomicU64`; where `usize` is
    /// narrower, addition wraps at its width).
    AtomicUsize, usize, usize, AtomicU64, u64
);
atomic_int!(
    /// std's `AtomicIsize` on the platform `P` (in a `P::AtomicU64`).
    AtomicIsize, isize, usize, AtomicU64, u64
);

/// std's `AtomicBool` on the platform `P` (0 or 1 in a `P::AtomicU32`, so that `fetch_and` and
/// `fetch_or` are the word's own).
pub struct AtomicBool<P: Platform = Os> {
    word: P::AtomicU32,
    _value: PhantomData<bool>,
}

impl<P: Platform> AtomicBool<P> {
    #[inline(always)]
    fn to_word(value: bool) -> u32 {
        u32::from(value)
    }

    #[inline(always)]
    fn from_word(word: u32) -> bool {
        word != 0
    }

    common_methods!(
        AtomicBool,
        bool,
        AtomicU32,
        u32,
        Self::to_word,
        Self::from_word
    );

    /// Logical and; returns the previous value.
    #[inline]
    #[track_caller]
    pub fn fetch_and(&self, value: bool, order: Ordering) -> bool {
        Self::from_word(self.word.fetch_and(Self::to_word(value), order))
    }

    /// Logical or; returns the previous value.
    #[inline]
    #[track_caller]
    pub fn fetch_or(&self, value: bool, order: Ordering) -> bool {
        Self::from_word(self.word.fetch_or(Self::to_word(value), order))
    }

    /// Logical xor; returns the previous value.
    #[inline]
    #[track_caller]
    pub fn fetch_xor(&self, value: bool, order: Ordering) -> bool {
        self.update("fetch_xor", order, |v| v ^ value)
    }

    /// Logical nand; returns the previous value.
    #[inline]
    #[track_caller]
    pub fn fetch_nand(&self, value: bool, order: Ordering) -> bool {
        self.update("fetch_nand", order, |v| !(v && value))
    }

    /// Logical not; returns the previous value.
    #[inline]
    #[track_caller]
    pub fn fetch_not(&self, order: Ordering) -> bool {
        self.update("fetch_not", order, |v| !v)
    }
}

common_impls!(AtomicBool, bool);

/// std's `AtomicPtr<T>` on the platform `P`: the address in a `P::AtomicU64`, its provenance
/// exposed (see the [module docs](self)).
pub struct AtomicPtr<T, P: Platform = Os> {
    word: P::AtomicU64,
    /// As std's, `Send` and `Sync` whatever `T` is (it holds a pointer, not a `T`).
    _value: PhantomData<fn() -> *mut T>,
}

impl<P: Platform, T> AtomicPtr<T, P> {
    #[inline(always)]
    fn to_word(pointer: *mut T) -> u64 {
        pointer.expose_provenance() as u64
    }

    #[inline(always)]
    fn from_word(word: u64) -> *mut T {
        std::ptr::with_exposed_provenance_mut(word as usize)
    }

    /// A new atomic pointer holding `pointer`.
    pub fn new(pointer: *mut T) -> Self {
        let word = <P::AtomicU64 as Atomic<u64>>::new(Self::to_word(pointer));
        word.label("AtomicPtr");
        AtomicPtr {
            word,
            _value: PhantomData,
        }
    }

    /// Loads the pointer.
    #[inline]
    #[track_caller]
    pub fn load(&self, order: Ordering) -> *mut T {
        Self::from_word(self.word.load(order))
    }

    /// Stores `pointer`.
    #[inline]
    #[track_caller]
    pub fn store(&self, pointer: *mut T, order: Ordering) {
        self.word.store(Self::to_word(pointer), order)
    }

    /// Stores `pointer` and returns the previous one.
    #[inline]
    #[track_caller]
    pub fn swap(&self, pointer: *mut T, order: Ordering) -> *mut T {
        Self::from_word(self.word.swap(Self::to_word(pointer), order))
    }

    /// Stores `new` if the pointer is `current`: `Ok(previous)` or `Err(actual)`.
    #[inline]
    #[track_caller]
    pub fn compare_exchange(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.word
            .compare_exchange(Self::to_word(current), Self::to_word(new), success, failure)
            .map(Self::from_word)
            .map_err(Self::from_word)
    }

    /// As [`AtomicPtr::compare_exchange`], but may fail spuriously.
    #[inline]
    #[track_caller]
    pub fn compare_exchange_weak(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.word
            .compare_exchange_weak(Self::to_word(current), Self::to_word(new), success, failure)
            .map(Self::from_word)
            .map_err(Self::from_word)
    }

    /// std's `fetch_update`: a load and compare-exchanges with `f` run between them.
    #[track_caller]
    pub fn fetch_update<F>(
        &self,
        set_order: Ordering,
        fetch_order: Ordering,
        mut f: F,
    ) -> Result<*mut T, *mut T>
    where
        F: FnMut(*mut T) -> Option<*mut T>,
    {
        // As the integers' `fetch_update`: `f` runs outside any operation.
        let mut seen = self.word.load(fetch_order);
        while let Some(next) = f(Self::from_word(seen)) {
            match self
                .word
                .compare_exchange_weak(seen, Self::to_word(next), set_order, fetch_order)
            {
                Ok(previous) => return Ok(Self::from_word(previous)),
                Err(now) => seen = now,
            }
        }
        Err(Self::from_word(seen))
    }

    /// The pointer, consuming the atomic.
    #[track_caller]
    pub fn into_inner(self) -> *mut T {
        Self::from_word(self.word.load(Ordering::Acquire))
    }

    /// The pointer, through the exclusive borrow (an [`AtomicMut`]).
    #[track_caller]
    pub fn get_mut(&mut self) -> AtomicMut<'_, *mut T, Self> {
        AtomicMut {
            value: Self::from_word(self.word.load(Ordering::Acquire)),
            atomic: self,
            store: |atomic, value| atomic.word.store(Self::to_word(value), Ordering::Release),
        }
    }
}

impl<P: Platform, T> Default for AtomicPtr<T, P> {
    fn default() -> Self {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

impl<P: Platform, T> From<*mut T> for AtomicPtr<T, P> {
    fn from(pointer: *mut T) -> Self {
        AtomicPtr::new(pointer)
    }
}

impl<P: Platform, T> fmt::Debug for AtomicPtr<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
    }
}

/// A memory fence on the platform `P` (std's [`std::sync::atomic::fence`]).
#[inline]
pub fn fence<P: Platform>(order: Ordering) {
    P::fence(order)
}
