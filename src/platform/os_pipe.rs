//! [`OsPipeEnd`]: [`Os`](super::Os)'s pipe, a Unix socket pair. (Being written.)

/// One end of an [`Os`](super::Os) pipe.
#[derive(Debug)]
pub struct OsPipeEnd {}
