//! How queue items and pipe messages are encoded (postcard), where that can fail: the errors.
//!
//! postcard reports a `Serialize` impl's own error (`serde::ser::Error::custom("...")`) as
//! `SerdeSerCustom`, without its message. [`encode_error`] gets the message back: on that error
//! only, it runs the item's `Serialize` again into [`Capture`], a serializer that writes
//! nothing and keeps the first custom message. The hot path (an item that encodes) pays
//! nothing. A `Deserialize` impl's own error (`SerdeDeCustom`) keeps postcard's words: getting
//! its message back would take a whole postcard deserializer of our own (to replay the bytes),
//! not a sink like `Capture`.

use std::fmt::{self, Display};

use serde::de::DeserializeOwned;
use serde::ser::{self, Serialize};

use crate::Error;

/// Decodes one whole item; bytes left over are an error too (not a `T`).
#[inline]
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match postcard::take_from_bytes(bytes) {
        Ok((item, [])) => Ok(item),
        Ok((_, rest)) => Err(Error::Decode(format!(
            "{} bytes left over after the item",
            rest.len()
        ))),
        Err(e) => Err(Error::Decode(e.to_string())),
    }
}

/// Encodes one whole item.
pub(crate) fn encode<T: Serialize + ?Sized>(item: &T) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(item).map_err(|e| encode_error(item, e))
}

/// The [`Error::Encode`] for postcard's `error` in encoding `item`: with the message of the
/// item's own `ser::Error::custom` when that is what failed, else postcard's description.
#[cold]
pub(crate) fn encode_error<T: Serialize + ?Sized>(item: &T, error: postcard::Error) -> Error {
    if error == postcard::Error::SerdeSerCustom {
        // A `Serialize` that fails only now and then may succeed this time: then postcard's
        // words are all there is.
        if let Err(Custom(message)) = item.serialize(Capture) {
            return Error::Encode(message);
        }
    }
    Error::Encode(error.to_string())
}

/// The message of a `ser::Error::custom` (the only error [`Capture`] reports).
#[derive(Debug)]
struct Custom(String);

impl Display for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Custom {}

impl ser::Error for Custom {
    fn custom<M: Display>(message: M) -> Self {
        Custom(message.to_string())
    }
}

/// A serializer that accepts everything, writes nothing, and stops at the first error of the
/// value's own, as postcard does (so it reaches the same one). Not human-readable, as postcard,
/// so a `Serialize` that asks takes the same path.
struct Capture;

/// `Serializer` methods that take their arguments, do nothing with them and succeed with
/// `$ok`: nothing for a plain value, `Capture` itself for the parts of a compound one.
macro_rules! accept {
    ($ok:ty = $value:expr; $($method:ident($($ty:ty),*);)*) => {
        $(
            fn $method(self, $(_: $ty),*) -> Result<$ok, Custom> {
                Ok($value)
            }
        )*
    };
}

/// The compound serializers: every element goes through `Capture` in turn.
macro_rules! compound {
    ($($trait:ident { $($method:ident($($key:ty)?);)* })*) => {
        $(
            impl ser::$trait for Capture {
                type Ok = ();
                type Error = Custom;
                $(
                    fn $method<T: Serialize + ?Sized>(
                        &mut self,
                        $(_: $key,)?
                        value: &T,
                    ) -> Result<(), Custom> {
                        value.serialize(Capture)
                    }
                )*
                fn end(self) -> Result<(), Custom> {
                    Ok(())
                }
            }
        )*
    };
}

compound! {
    SerializeSeq { serialize_element(); }
    SerializeTuple { serialize_element(); }
    SerializeTupleStruct { serialize_field(); }
    SerializeTupleVariant { serialize_field(); }
    SerializeMap { serialize_key(); serialize_value(); }
    SerializeStruct { serialize_field(&'static str); }
    SerializeStructVariant { serialize_field(&'static str); }
}

impl ser::Serializer for Capture {
    type Ok = ();
    type Error = Custom;
    type SerializeSeq = Capture;
    type SerializeTuple = Capture;
    type SerializeTupleStruct = Capture;
    type SerializeTupleVariant = Capture;
    type SerializeMap = Capture;
    type SerializeStruct = Capture;
    type SerializeStructVariant = Capture;

    accept! {
        () = ();
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Custom> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Custom> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Custom> {
        value.serialize(self)
    }

    accept! {
        Capture = Capture;
        serialize_seq(Option<usize>);
        serialize_tuple(usize);
        serialize_tuple_struct(&'static str, usize);
        serialize_tuple_variant(&'static str, u32, &'static str, usize);
        serialize_map(Option<usize>);
        serialize_struct(&'static str, usize);
        serialize_struct_variant(&'static str, u32, &'static str, usize);
    }

    /// Formats into nothing (serde's default would build a `String`, and panic if `value`'s
    /// `Display` fails, where postcard reports an error).
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Custom> {
        struct Nowhere;
        impl fmt::Write for Nowhere {
            fn write_str(&mut self, _: &str) -> fmt::Result {
                Ok(())
            }
        }
        let _ = fmt::write(&mut Nowhere, format_args!("{value}"));
        Ok(())
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Fails with its own message when its number is odd.
    struct Ticket(u32);

    impl Serialize for Ticket {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 % 2 == 1 {
                return Err(ser::Error::custom(format_args!(
                    "ticket {} is void",
                    self.0
                )));
            }
            s.serialize_u32(self.0)
        }
    }

    #[derive(serde::Serialize)]
    enum Wrapper {
        Tuple(u8, Ticket),
        Struct { first: Ticket, rest: Vec<Ticket> },
    }

    fn message<T: Serialize + ?Sized>(item: &T) -> String {
        let error = postcard::to_allocvec(item).expect_err("the item does not encode");
        match encode_error(item, error) {
            Error::Encode(message) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_custom_message_is_found_wherever_it_is() {
        assert_eq!(message(&Ticket(7)), "ticket 7 is void");
        assert_eq!(message(&Some(Ticket(9))), "ticket 9 is void");
        assert_eq!(
            message(&[Ticket(2), Ticket(3), Ticket(5)]),
            "ticket 3 is void"
        );
        assert_eq!(message(&(1u8, "x", Ticket(11))), "ticket 11 is void");
        let map = BTreeMap::from([(0u8, Ticket(4)), (1, Ticket(13))]);
        assert_eq!(message(&map), "ticket 13 is void");
        assert_eq!(message(&Wrapper::Tuple(0, Ticket(15))), "ticket 15 is void");
        let item = Wrapper::Struct {
            first: Ticket(2),
            rest: vec![Ticket(4), Ticket(17)],
        };
        assert_eq!(message(&item), "ticket 17 is void");
    }

    #[test]
    fn other_errors_keep_postcards_words() {
        /// A sequence whose length is not known beforehand, which postcard cannot encode.
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                ser::SerializeSeq::end(s.serialize_seq(None)?)
            }
        }
        let error = postcard::to_allocvec(&Unsized).unwrap_err();
        assert_eq!(
            encode_error(&Unsized, error.clone()),
            Error::Encode(error.to_string())
        );
    }

    #[test]
    fn a_serialize_that_fails_only_once_keeps_postcards_words() {
        let error = encode_error(&Ticket(2), postcard::Error::SerdeSerCustom);
        assert_eq!(error, Error::Encode("Serde Serialization Error".to_owned()));
    }
}
