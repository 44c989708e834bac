//! `Value` and `Array` on real threads: every operation, every error case.

use bytemuck::{Pod, Zeroable};
use mpcheck::{Array, Error, Os, Value};

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
    tag: u32,
    _pad: u32,
}

#[test]
fn value_get_set_update() {
    let v = Value::<i32, Os>::new(-5);
    assert_eq!(v.get(), -5);
    v.set(7);
    assert_eq!(v.get(), 7);
    let doubled = v
        .update(|n| {
            *n *= 2;
            *n
        })
        .unwrap();
    assert_eq!(doubled, 14);
    assert_eq!(v.get(), 14);
    assert!(v.has_lock());
}

#[test]
fn value_clones_share_the_value() {
    let v = Value::<u8, Os>::new(1);
    let w = v.clone();
    w.set(200);
    assert_eq!(v.get(), 200);
}

#[test]
fn value_of_a_struct_spanning_several_words() {
    let p = Point {
        x: 1.5,
        y: -2.25,
        tag: 9,
        _pad: 0,
    };
    let v = Value::<Point, Os>::new(p);
    assert_eq!(v.get(), p);
    v.update(|p| p.tag += 1).unwrap();
    assert_eq!(v.get().tag, 10);
    assert_eq!(v.get().y, -2.25);
    let arr = Value::<[u16; 7], Os>::new([1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(arr.get(), [1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn value_get_lock_holds_the_same_lock() {
    let v = Value::<u64, Os>::new(0);
    let lock = v.get_lock().unwrap();
    let held = lock.lock();
    // The value's lock is recursive: its owner may still use the value.
    v.set(3);
    assert_eq!(v.get(), 3);
    drop(held);
    assert!(!lock.is_locked());
}

#[test]
fn raw_value_has_no_lock() {
    let v = Value::<u64, Os>::raw(4);
    assert!(!v.has_lock());
    assert_eq!(v.get(), 4);
    v.set(5);
    assert_eq!(v.get(), 5);
    assert_eq!(
        v.update(|n| *n += 1),
        Err(Error::NoLock {
            operation: "Value::update",
            what: "Value"
        })
    );
    assert_eq!(v.get(), 5, "a refused update changes nothing");
    let err = v.get_lock().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Value::get_lock needs a lock, and this Value was made without one (raw)"
    );
}

#[test]
fn value_updates_from_many_threads_add_up() {
    let v = Value::<u64, Os>::new(0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let v = v.clone();
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    v.update(|n| *n += 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(v.get(), 20_000);
}

#[test]
fn value_debug_shows_the_value() {
    let v = Value::<u32, Os>::new(42);
    assert_eq!(format!("{v:?}"), "Value { value: 42, lock: true }");
}

#[test]
fn array_new_is_zeroed() {
    let a = Array::<f32, Os>::new(3).unwrap();
    assert_eq!(a.len(), 3);
    assert!(!a.is_empty());
    assert_eq!(a.to_vec(), [0.0; 3]);
}

#[test]
fn array_get_set_to_vec() {
    let a = Array::<i64, Os>::from_slice(&[1, -2, 3]).unwrap();
    assert_eq!(a.get(1), Ok(-2));
    a.set(2, 30).unwrap();
    assert_eq!(a.to_vec(), [1, -2, 30]);
    let b = a.clone();
    b.set(0, 10).unwrap();
    assert_eq!(a.get(0), Ok(10));
}

#[test]
fn array_index_out_of_range_is_an_error() {
    let a = Array::<u8, Os>::from_slice(&[1, 2]).unwrap();
    assert_eq!(a.get(2), Err(Error::IndexOutOfRange { index: 2, len: 2 }));
    assert_eq!(
        a.set(usize::MAX, 9),
        Err(Error::IndexOutOfRange {
            index: usize::MAX,
            len: 2
        })
    );
    assert_eq!(a.to_vec(), [1, 2], "a refused set changes nothing");
    assert_eq!(
        Error::IndexOutOfRange { index: 5, len: 2 }.to_string(),
        "index 5 is out of range for an array of length 2"
    );
    let view = a.locked().unwrap();
    assert!(view.get(2).is_err());
    assert!(view.set(2, 0).is_err());
}

#[test]
fn empty_array() {
    let a = Array::<u32, Os>::new(0).unwrap();
    assert!(a.is_empty());
    assert_eq!(a.to_vec(), Vec::<u32>::new());
    assert_eq!(a.get(0), Err(Error::IndexOutOfRange { index: 0, len: 0 }));
}

#[test]
fn array_too_large_for_memory_is_invalid() {
    let err = Array::<u64, Os>::new(usize::MAX / 4).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(Array::<u64, Os>::raw(usize::MAX).is_err());
}

#[test]
fn array_of_structs() {
    let p = |i: u32| Point {
        x: i as f64,
        y: -(i as f64),
        tag: i,
        _pad: 0,
    };
    let a = Array::<Point, Os>::from_slice(&[p(0), p(1), p(2)]).unwrap();
    assert_eq!(a.get(2), Ok(p(2)));
    a.set(1, p(7)).unwrap();
    assert_eq!(a.to_vec(), [p(0), p(7), p(2)]);
}

#[test]
fn locked_view_holds_the_lock() {
    let a = Array::<u32, Os>::from_slice(&[5, 0]).unwrap();
    let lock = a.get_lock().unwrap();
    {
        let view = a.locked().unwrap();
        assert!(lock.is_locked());
        assert_eq!(view.len(), 2);
        assert!(!view.is_empty());
        view.set(0, view.get(0).unwrap() - 1).unwrap();
        view.set(1, view.get(1).unwrap() + 1).unwrap();
        assert_eq!(view.to_vec(), [4, 1]);
        // Re-entrant: the holder may use the array's own locked operations.
        assert_eq!(a.to_vec(), [4, 1]);
    }
    assert!(!lock.is_locked());
}

#[test]
fn raw_array_has_no_lock() {
    let a = Array::<u16, Os>::raw_from_slice(&[1, 2, 3]).unwrap();
    assert!(!a.has_lock());
    a.set(0, 9).unwrap();
    assert_eq!(a.to_vec(), [9, 2, 3]);
    assert!(matches!(a.locked(), Err(Error::NoLock { .. })));
    assert!(matches!(a.get_lock(), Err(Error::NoLock { .. })));
    let zeroed = Array::<u16, Os>::raw(2).unwrap();
    assert_eq!(zeroed.to_vec(), [0, 0]);
}

#[test]
fn array_transfers_between_threads_keep_the_sum() {
    mpcheck_properties::suite::properties::array_transfer_keeps_sum::<Os>(
        mpcheck_properties::suite::Size {
            threads: 4,
            ops: 2_000,
            start_together: true,
        },
    );
}

#[test]
fn array_debug_shows_the_elements() {
    let a = Array::<u8, Os>::from_slice(&[1, 2]).unwrap();
    assert_eq!(format!("{a:?}"), "Array { elements: [1, 2], lock: true }");
}

#[test]
fn small_elements_are_packed_and_keep_their_neighbours() {
    // 3-byte elements straddle word boundaries: element 2 is bytes 6..9.
    let a = Array::<[u8; 3], Os>::new(11).unwrap();
    for i in 0..11u8 {
        a.set(i as usize, [i, i + 100, i + 200]).unwrap();
    }
    for i in 0..11u8 {
        assert_eq!(a.get(i as usize), Ok([i, i + 100, i + 200]));
    }
    a.set(2, [0; 3]).unwrap();
    assert_eq!(a.get(1), Ok([1, 101, 201]));
    assert_eq!(a.get(3), Ok([3, 103, 203]));
}

#[test]
fn raw_byte_array_writes_from_many_threads_do_not_disturb_each_other() {
    // Eight bytes share one word; each thread owns one and rewrites it over and over.
    let a = Array::<u8, Os>::raw(8).unwrap();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                for round in 0..2_000u32 {
                    a.set(t as usize, (round % 250) as u8 + t).unwrap();
                }
                a.set(t as usize, 10 + t).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.to_vec(), [10, 11, 12, 13, 0, 0, 0, 0]);
}
