//! serde for the [`Platform::Shared`] fields of primitives: a handle is encoded as the
//! [`Wire`] its platform gives ([`Platform::export`]) and decoded by [`Platform::import`], so a
//! primitive that travels in a spawn's arguments or a queue item arrives as the same object.
//! Used as `#[serde(serialize_with = "wire::ser::<P, _, _>", deserialize_with = "wire::de::<P,
//! _, _>")]`.

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Platform, Shareable, Wire};

/// Encodes a handle to a `T`.
pub(crate) fn ser<P, T, S>(shared: &P::Shared<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    P: Platform,
    T: Shareable + Send + Sync,
    S: Serializer,
{
    P::export::<T>(shared)
        .map_err(S::Error::custom)?
        .serialize(serializer)
}

/// Decodes a handle to a `T`.
pub(crate) fn de<'de, P, T, D>(deserializer: D) -> Result<P::Shared<T>, D::Error>
where
    P: Platform,
    T: Shareable + Send + Sync,
    D: Deserializer<'de>,
{
    P::import::<T>(Wire::deserialize(deserializer)?).map_err(D::Error::custom)
}

/// Encodes a handle to a `[T]`.
pub(crate) fn ser_slice<P, T, S>(shared: &P::Shared<[T]>, serializer: S) -> Result<S::Ok, S::Error>
where
    P: Platform,
    T: Shareable + Send + Sync,
    S: Serializer,
{
    P::export_slice::<T>(shared)
        .map_err(S::Error::custom)?
        .serialize(serializer)
}

/// Decodes a handle to a `[T]`.
pub(crate) fn de_slice<'de, P, T, D>(deserializer: D) -> Result<P::Shared<[T]>, D::Error>
where
    P: Platform,
    T: Shareable + Send + Sync,
    D: Deserializer<'de>,
{
    P::import_slice::<T>(Wire::deserialize(deserializer)?).map_err(D::Error::custom)
}
