//! A conversation over a [`pipe`]: the seed "3.1 多进程:进程间通信" (its 进程管道(Pipes)通信
//! section; seed 001 in `/work/shared/seeds`), and the Pipes example of seed 004 (the child
//! sends "Hello World" and closes its end).
//!
//! A duplex pipe is made before the child process, which gets one end. The son (the child) says
//! "have you eaten?" after a moment, the father (the main process) answers "mm". Then the son
//! says "Hello World" and closes his end: once every copy of it is closed (the father's went
//! with the child's target, when the child started), the father's next `recv` is end of file.
//!
//! ```text
//! cargo run --example pipe_conversation
//! ```
//!
//! The seed's `time.sleep(1)` is 10 ms here.

use std::time::Duration;

use mpcheck::{pipe, Connection, Error, Os, Process};

/// The seed's `f(child_conn)`, with seed 004's `send(conn)` after it.
fn f(child_conn: Connection<String>) {
    std::thread::sleep(Duration::from_millis(10));
    child_conn
        .send(&"have you eaten?".to_owned()) // 吃了吗
        .expect("send to the father");
    println!(
        "greeting from the father: {}", // 来自父亲的问候
        child_conn.recv().expect("the father's answer")
    );
    child_conn
        .send(&"Hello World".to_owned())
        .expect("send to the father");
    child_conn.close();
}

fn main() {
    // The pipe is made before the process (the seed insists: 必须在创建Process之前创建Pipe).
    let (parent_conn, child_conn) = pipe::<String, Os>(true).expect("a pipe");
    let p = Process::<Os>::new(move || f(child_conn));
    p.start().expect("start the son");
    println!(
        "greeting from the son: {}", // 来自儿子的问候
        parent_conn.recv().expect("the son's greeting")
    );
    parent_conn.send(&"mm".to_owned()).expect("answer"); // 嗯
    println!("{}", parent_conn.recv().expect("the son's last words"));
    match parent_conn.recv() {
        Err(Error::Eof) => println!("the son closed his end: end of file"),
        other => panic!("expected end of file, got {other:?}"),
    }
    assert_eq!(p.join(), Ok(0), "the son failed");
}
