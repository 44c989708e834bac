//! A traffic light with an [`Event`]: the seed "python进程数据隔离,守护进程,锁,信号量和事件"
//! (its 事件 section; seed 002 in `/work/shared/seeds`).
//!
//! The event is the light: set is green, clear is red. The light (a process) starts red and
//! toggles every period. Ten cars (processes, started at random 0 or 1-period gaps) each wait
//! for the green if the light is red (`wait`), then pass. The seed also defines a police car,
//! which waits for the green at most a short while (`wait(timeout=0.5)`) and passes either way:
//! three of them drive along here.
//!
//! ```text
//! cargo run --example traffic_light
//! ```
//!
//! The seed's light runs forever (so does its program). Here the light's sleep is a wait on a
//! second event, `stop`, which the main process sets once every vehicle has passed: the light
//! switches off and the program ends. The period is 20 ms (the seed's 2 s), the police car's
//! patience 5 ms (0.5 s).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use mpcheck::{Event, Os, Process};

/// Cars, as in the seed (`for i in range(10)`).
const CARS: usize = 10;
/// Police cars (the seed defines `police_car` and starts none).
const POLICE_CARS: usize = 3;
/// The seed's `time.sleep(2)` between switches, shortened.
const PERIOD: Duration = Duration::from_millis(20);
/// The seed's `e.wait(timeout=0.5)`, shortened.
const POLICE_PATIENCE: Duration = Duration::from_millis(5);

/// The seed's `ligth(e)`, which stops when `stop` is set.
fn light(e: Event, stop: Event) {
    println!("light: red");
    while !stop.wait_timeout(PERIOD) {
        if e.is_set() {
            println!("light: red");
            e.clear();
        } else {
            println!("light: green");
            e.set();
        }
    }
    println!("light: off");
}

/// The seed's `car(id, e)`.
fn car(id: usize, e: Event) {
    if !e.is_set() {
        println!("car {id} waits");
        e.wait();
    }
    println!("car {id} passes");
}

/// The seed's `police_car(id, e)`.
fn police_car(id: usize, e: Event) {
    if !e.is_set() {
        e.wait_timeout(POLICE_PATIENCE);
    }
    println!("police car {id} passes");
}

/// The seed's `random.randrange(0, 3, 2)`: 0 or 2 (seconds there, periods here).
fn random_gap(i: usize) -> Duration {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(i);
    PERIOD * (hasher.finish() % 2) as u32
}

fn main() {
    let e = Event::<Os>::new();
    let stop = Event::<Os>::new();
    let the_light = {
        let (e, stop) = (e.clone(), stop.clone());
        Process::<Os>::new(move || light(e, stop)).name("light")
    };
    the_light.start().expect("start the light");
    let mut vehicles = Vec::new();
    for i in 0..CARS {
        let light = e.clone();
        let vehicle = Process::<Os>::new(move || car(i, light)).name(format!("car-{i}"));
        vehicle.start().expect("start a car");
        vehicles.push(vehicle);
        if i < POLICE_CARS {
            let light = e.clone();
            let police =
                Process::<Os>::new(move || police_car(i, light)).name(format!("police-{i}"));
            police.start().expect("start a police car");
            vehicles.push(police);
        }
        std::thread::sleep(random_gap(i));
    }
    for vehicle in &vehicles {
        assert_eq!(vehicle.join(), Ok(0), "a vehicle failed");
    }
    println!("main: every vehicle passed");
    stop.set();
    assert_eq!(the_light.join(), Ok(0), "the light failed");
}
