//! For tests that must know a thread is blocked in a system call before they act (the only
//! waiting they do is on the kernel's own word for it, never a sleep).

/// Blocks until the thread `tid` of this process sleeps in the kernel (state `S`): a thread
/// about to block in a system call (a `recv` with nothing to read) reaches that state only
/// once it blocks there.
pub fn wait_until_sleeping(tid: i32) {
    let path = format!("/proc/self/task/{tid}/stat");
    loop {
        let stat = std::fs::read_to_string(&path).unwrap();
        // The state follows the command name, which is in parentheses.
        let state = stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap();
        if state == 'S' {
            return;
        }
        std::thread::yield_now();
    }
}
