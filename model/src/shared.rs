//! [`ValueModel`] (`mpcheck::Value`) and [`ArrayModel`] (`mpcheck::Array`).
//!
//! Every operation of a locked value or array is one step under its lock, and takes effect
//! there. A *raw* one (`Value::raw`, `Array::raw`) has no lock: its reads and writes of
//! values up to 8 bytes that share one storage word are single atomic accesses and follow the
//! model, but a larger value read while another task writes it may come out torn (as in
//! Python), which no model allows: check raw values only with such small types, or with
//! writes that never overlap reads. `Value::update(f)` on a raw value is `NoLock`.
//!
//! `update(f)` is [`ValueOp::Update`]`(g)` with `g` a plain function giving the new value from
//! the old; its result is the old value (a history records what `f` saw). Recorded where the
//! history must travel between processes, it is [`ValueOp::UpdateTo`]`(new)`: what `f` wrote,
//! with what it saw as the result. The guard views
//! (`get_lock`, `Array::locked`) are the lock's business, and `OwnerDied` is not modelled.

use std::fmt::Debug;
use std::hash::Hash;

use crate::{ErrorKind, Model};

/// The operations of a value (not comparable: `update`'s function pointer has no meaningful
/// equality).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ValueOp<V> {
    /// `get`.
    Get,
    /// `set`.
    Set(V),
    /// `update` recorded by what its function wrote: the new value (the result says what it
    /// saw). Unlike `Update` it can be serialized, to record across processes.
    UpdateTo(V),
    /// `has_lock`.
    HasLock,
    /// `update`: the new value from the old. Not serializable, and last: serde numbers the
    /// variants it deserializes without the skipped ones, so a skipped variant before others
    /// would shift their numbers between sender and receiver.
    #[cfg_attr(feature = "serde", serde(skip))]
    Update(fn(&V) -> V),
}

/// The results of value operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ValueRet<V> {
    /// `get` returned this value.
    Value(V),
    /// `set` returned.
    Done,
    /// `update` returned `Ok`; the value its function saw.
    Updated(V),
    /// What `has_lock()` returned.
    HasLock(bool),
    /// An error: `NoLock`.
    Err(ErrorKind),
}

/// A shared value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ValueModel<V> {
    value: V,
    locked: bool,
}

impl<V> ValueModel<V> {
    /// `Value::new(value)`: with a lock.
    pub fn new(value: V) -> Self {
        ValueModel {
            value,
            locked: true,
        }
    }

    /// `Value::raw(value)`: without a lock.
    pub fn raw(value: V) -> Self {
        ValueModel {
            value,
            locked: false,
        }
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.value
    }
}

impl<V: Clone + Eq + Hash + Debug + Send + Sync + 'static> Model for ValueModel<V> {
    type Op = ValueOp<V>;
    type Ret = ValueRet<V>;

    fn outcomes(&self, op: &ValueOp<V>) -> Vec<(ValueRet<V>, Self)> {
        let to = |value: V| ValueModel {
            value,
            locked: self.locked,
        };
        match op {
            ValueOp::Get => vec![(ValueRet::Value(self.value.clone()), self.clone())],
            ValueOp::Set(v) => vec![(ValueRet::Done, to(v.clone()))],
            ValueOp::Update(_) | ValueOp::UpdateTo(_) if !self.locked => {
                vec![(ValueRet::Err(ErrorKind::NoLock), self.clone())]
            }
            ValueOp::Update(f) => vec![(ValueRet::Updated(self.value.clone()), to(f(&self.value)))],
            ValueOp::UpdateTo(v) => vec![(ValueRet::Updated(self.value.clone()), to(v.clone()))],
            ValueOp::HasLock => vec![(ValueRet::HasLock(self.locked), self.clone())],
        }
    }
}

/// The operations of an array.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ArrayOp<V> {
    /// `get(index)`.
    Get(usize),
    /// `set(index, value)`.
    Set(usize, V),
    /// `len`.
    Len,
    /// `to_vec` (one snapshot under the lock; for a raw array only if no write overlaps).
    ToVec,
}

/// The results of array operations.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ArrayRet<V> {
    /// `get` returned `Ok(value)`.
    Value(V),
    /// `set` returned `Ok(())`.
    Done,
    /// What `len()` returned.
    Len(usize),
    /// What `to_vec()` returned.
    Items(Vec<V>),
    /// An error: `IndexOutOfRange`.
    Err(ErrorKind),
}

/// A shared array (its length is fixed).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ArrayModel<V> {
    items: Vec<V>,
}

impl<V> ArrayModel<V> {
    /// `Array::from_slice` (or `new(len)`: `len` zeroes), locked or raw alike.
    pub fn new(items: Vec<V>) -> Self {
        ArrayModel { items }
    }

    /// The elements.
    pub fn items(&self) -> &[V] {
        &self.items
    }
}

impl<V: Clone + Eq + Hash + Debug + Send + Sync + 'static> Model for ArrayModel<V> {
    type Op = ArrayOp<V>;
    type Ret = ArrayRet<V>;

    fn outcomes(&self, op: &ArrayOp<V>) -> Vec<(ArrayRet<V>, Self)> {
        let len = self.items.len();
        let same = |ret| vec![(ret, self.clone())];
        match op {
            ArrayOp::Get(index) | ArrayOp::Set(index, _) if *index >= len => {
                same(ArrayRet::Err(ErrorKind::IndexOutOfRange {
                    index: *index,
                    len,
                }))
            }
            ArrayOp::Get(index) => same(ArrayRet::Value(self.items[*index].clone())),
            ArrayOp::Set(index, value) => {
                let mut after = self.clone();
                after.items[*index] = value.clone();
                vec![(ArrayRet::Done, after)]
            }
            ArrayOp::Len => same(ArrayRet::Len(len)),
            ArrayOp::ToVec => same(ArrayRet::Items(self.items.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agrees, run};

    fn add_one(n: &i64) -> i64 {
        n + 1
    }

    #[test]
    fn value_get_set_update() {
        let steps = [
            (ValueOp::Get, ValueRet::Value(5)),
            (ValueOp::Set(7), ValueRet::Done),
            (ValueOp::Update(add_one), ValueRet::Updated(7)),
            (ValueOp::Update(add_one), ValueRet::Updated(8)),
            (ValueOp::UpdateTo(9), ValueRet::Updated(9)),
            (ValueOp::Get, ValueRet::Value(9)),
            (ValueOp::HasLock, ValueRet::HasLock(true)),
        ];
        assert_eq!(run(&ValueModel::new(5i64), &steps), Ok(ValueModel::new(9)));
        // A lost update is refused.
        let lost = [
            (ValueOp::Update(add_one), ValueRet::Updated(0)),
            (ValueOp::Update(add_one), ValueRet::Updated(0)),
        ];
        assert_eq!(run(&ValueModel::new(0i64), &lost), Err(1));
    }

    #[test]
    fn raw_value_has_no_update() {
        let steps = [
            (ValueOp::Update(add_one), ValueRet::Err(ErrorKind::NoLock)),
            (ValueOp::HasLock, ValueRet::HasLock(false)),
            (ValueOp::Get, ValueRet::Value(0)),
        ];
        assert_eq!(run(&ValueModel::raw(0i64), &steps), Ok(ValueModel::raw(0)));
    }

    #[test]
    fn array_get_set_and_out_of_range() {
        let steps = [
            (ArrayOp::Set(1, 4), ArrayRet::Done),
            (ArrayOp::Get(1), ArrayRet::Value(4)),
            (ArrayOp::Len, ArrayRet::Len(2)),
            (ArrayOp::ToVec, ArrayRet::Items(vec![0, 4])),
            (
                ArrayOp::Get(2),
                ArrayRet::Err(ErrorKind::IndexOutOfRange { index: 2, len: 2 }),
            ),
            (
                ArrayOp::Set(9, 1),
                ArrayRet::Err(ErrorKind::IndexOutOfRange { index: 9, len: 2 }),
            ),
        ];
        let end = run(&ArrayModel::new(vec![0u32, 0]), &steps).unwrap();
        assert_eq!(end.items(), [0, 4]);
    }

    #[test]
    fn step_agrees_with_outcomes() {
        let value_rets = [
            ValueRet::Value(0),
            ValueRet::Value(1),
            ValueRet::Done,
            ValueRet::Updated(0),
            ValueRet::Updated(1),
            ValueRet::HasLock(false),
            ValueRet::HasLock(true),
            ValueRet::Err(ErrorKind::NoLock),
        ];
        for state in [ValueModel::new(0i64), ValueModel::raw(1)] {
            for op in [
                ValueOp::Get,
                ValueOp::Set(1),
                ValueOp::Update(add_one),
                ValueOp::HasLock,
            ] {
                assert!(agrees(&state, &op, &value_rets), "{state:?} {op:?}");
            }
        }
        let array_rets = [
            ArrayRet::Value(0),
            ArrayRet::Value(3),
            ArrayRet::Done,
            ArrayRet::Len(1),
            ArrayRet::Items(vec![0]),
            ArrayRet::Err(ErrorKind::IndexOutOfRange { index: 1, len: 1 }),
        ];
        let state = ArrayModel::new(vec![0u8]);
        for op in [
            ArrayOp::Get(0),
            ArrayOp::Get(1),
            ArrayOp::Set(0, 3),
            ArrayOp::Set(1, 3),
            ArrayOp::Len,
            ArrayOp::ToVec,
        ] {
            assert!(agrees(&state, &op, &array_rets), "{state:?} {op:?}");
        }
    }
}
