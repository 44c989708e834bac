//! A daemonic heartbeat: the seed "python进程数据隔离,守护进程,锁,信号量和事件" (its 守护进程
//! section; seed 002 in `/work/shared/seeds`).
//!
//! Two children: `fun`, an ordinary process that starts, sleeps and says the weather is nice;
//! `fun2`, a daemon that prints a heartbeat forever. The main process works a while and ends.
//! As in Python, a daemon is terminated when the main process ends, whether or not it is done:
//! the heartbeat stops with the main process; the ordinary child is waited for, and has its
//! say after the main process's last line.
//!
//! ```text
//! cargo run --example daemon_heartbeat
//! ```
//!
//! The seed sleeps 0.5 s between heartbeats, 1 s in the main process and 3 s in `fun`; here
//! 25, 50 and 150 ms. The heartbeat and the main process print under one [`Lock`] (the print
//! lock of seed 001), and the main process keeps it from its last line to its end: without it a
//! heartbeat could still slip in between the main process's last line and the daemon's
//! termination.

use std::time::Duration;

use mpcheck::{Lock, Os, Process};

const HEARTBEAT: Duration = Duration::from_millis(25);
const MAIN_WORK: Duration = Duration::from_millis(50);
const FUN_WORK: Duration = Duration::from_millis(150);

/// The seed's `fun()`.
fn fun() {
    println!("start");
    std::thread::sleep(FUN_WORK);
    println!("nice weather today"); // 今天天气不错
}

/// The seed's `fun2()`.
fn fun2(print: Lock) {
    loop {
        {
            let _held = print.lock();
            println!("in fun2 (heartbeat)");
        }
        std::thread::sleep(HEARTBEAT);
    }
}

fn main() {
    let print = Lock::<Os>::new();
    let p = Process::<Os>::new(fun);
    p.start().expect("start fun");
    let heartbeat = print.clone();
    let p = Process::<Os>::new(move || fun2(heartbeat)).daemon(true);
    p.start().expect("start fun2");
    std::thread::sleep(MAIN_WORK);
    // Held until the end: the daemon is terminated waiting for it.
    print
        .acquire()
        .expect("the heartbeat never dies holding the print lock");
    println!("main done"); // 主程序结束了
}
