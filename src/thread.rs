//! Threads on any [`Platform`]: `mpcheck::thread::spawn::<P, _, _>(f)`.

use std::fmt;
use std::marker::PhantomData;

use crate::platform::Platform;
use crate::{Error, Os};

/// Starts a new thread (a task of the platform `P`) running `f`.
///
/// ```
/// let handle = mpcheck::thread::spawn::<mpcheck::Os, _, _>(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
#[track_caller]
pub fn spawn<P, F, T>(f: F) -> JoinHandle<T, P>
where
    P: Platform,
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    JoinHandle {
        inner: P::spawn(f),
        _platform: PhantomData,
    }
}

/// Owns a thread started by [`spawn`]; [`JoinHandle::join`] waits for it.
pub struct JoinHandle<T: Send + 'static, P: Platform = Os> {
    inner: P::JoinHandle<T>,
    _platform: PhantomData<fn() -> P>,
}

impl<T: Send + 'static, P: Platform> JoinHandle<T, P> {
    /// Waits for the thread to finish and returns its result, or [`Error::Panicked`] with the
    /// panic message if it panicked.
    #[track_caller]
    pub fn join(self) -> Result<T, Error> {
        P::join(self.inner).map_err(|payload| Error::from_panic(&*payload))
    }
}

impl<T: Send + 'static, P: Platform> fmt::Debug for JoinHandle<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("platform", &P::NAME)
            .finish()
    }
}
