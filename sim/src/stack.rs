//! Task stacks: mapped lazily, pooled by size, and guarded, so that a task that overflows its
//! stack fails its execution (a [`FailureKind::StackOverflow`](crate::FailureKind)) instead of
//! killing the process.
//!
//! Two defences, from cheap to last-resort:
//! - **The soft floor.** Every entry into the runtime ([`near_end`], called by the runtime's
//!   `with_exec`) compares the stack pointer with a floor [`MARGIN`] bytes above the guard
//!   page. Below it, the task is stopped right there, at a scheduling point, with the runtime's
//!   own state consistent: a recursion that touches shared state (almost any) is caught so.
//! - **The guard page.** A recursion that never reaches a scheduling point runs into the guard
//!   page below the stack; the fault (SIGSEGV) is caught by a signal handler running on the
//!   thread's alternate signal stack, which — when the fault is in the guard page of the task
//!   being run — makes the task's coroutine return at once, through corosensei's trap support
//!   (`CoroutineTrapHandler`). Any other fault goes on to the handler that was there before
//!   (std's, which reports overflows of real threads), or kills the process as it would have.
//!   The overflowing task's stack is abandoned, not unwound: the values on it are leaked, not
//!   dropped. Linux on x86-64 and AArch64 only; elsewhere the soft floor is the defence.

use std::cell::{Cell, RefCell};

use corosensei::stack::{DefaultStack, Stack};
use corosensei::trap::CoroutineTrapHandler;

/// How a task's coroutine ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskEnd {
    /// Its body returned or panicked.
    Done,
    /// It ran into the guard page below its stack.
    Overflow,
}

/// Stack the runtime keeps free below any entry into it: its own work (a scheduling decision,
/// a deadlock report) never needs more.
pub(crate) const MARGIN: usize = 32 * 1024;

/// The smallest stack a task can have: the margin, and room for a task to do anything.
pub(crate) const MIN_SIZE: usize = 4 * MARGIN;

/// The default stack size: what the main thread of a program gets on Linux, so code that runs
/// on a thread runs in a task. Only the pages a task touches are ever committed.
pub(crate) const DEFAULT_SIZE: usize = 8 * 1024 * 1024;

thread_local! {
    /// Stacks of finished tasks, with the size they were asked for, for the next tasks.
    static POOL: RefCell<Vec<(usize, DefaultStack)>> = const { RefCell::new(Vec::new()) };
    /// While a task runs: the lowest stack address the runtime may be entered at (0: no task).
    static FLOOR: Cell<usize> = const { Cell::new(0) };
    /// While a task runs: how to end it if it faults in its guard page.
    static TRAP: Cell<Option<Trap>> = const { Cell::new(None) };
}

/// The largest stack a task can have (1 GiB: 128 times the default).
pub(crate) const MAX_SIZE: usize = 1 << 30;

/// `Ok` if tasks can have stacks of `size` bytes: from [`MIN_SIZE`] to [`MAX_SIZE`], and the
/// system maps one (which then waits in the pool for the first task); else what was asked for
/// and why it cannot be had.
pub(crate) fn check(size: usize) -> Result<(), String> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(format!(
            "a task stack of {size} bytes, outside {MIN_SIZE} to {MAX_SIZE} bytes (1 GiB)"
        ));
    }
    if POOL.with(|p| p.borrow().iter().any(|(s, _)| *s == size)) {
        return Ok(());
    }
    let stack = DefaultStack::new(size)
        .map_err(|e| format!("a task stack of {size} bytes, which the system cannot map: {e}"))?;
    give_back(size, stack);
    Ok(())
}

/// A stack of `size` bytes: from the pool if one of that size is there.
pub(crate) fn take(size: usize) -> DefaultStack {
    let pooled = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let i = pool.iter().position(|(s, _)| *s == size)?;
        Some(pool.swap_remove(i).1)
    });
    pooled.unwrap_or_else(|| DefaultStack::new(size).expect("mpcheck-sim: cannot map a task stack"))
}

/// Gives a stack of `size` bytes back to the pool.
pub(crate) fn give_back(size: usize, stack: DefaultStack) {
    POOL.with(|p| p.borrow_mut().push((size, stack)));
}

/// Where a task's stack ends: its guard page, and how to end the task if it faults there.
#[derive(Clone, Copy)]
pub(crate) struct Trap {
    handler: CoroutineTrapHandler<TaskEnd>,
    /// The guard page: `[guard, guard + page)`.
    guard: usize,
    page: usize,
}

impl Trap {
    /// The guard of a coroutine's stack (`limit`: the lowest address of its mapping).
    pub(crate) fn new(handler: CoroutineTrapHandler<TaskEnd>, limit: usize) -> Self {
        Trap {
            handler,
            guard: limit,
            page: page_size(),
        }
    }

    /// The lowest address the runtime may be entered at.
    fn floor(&self) -> usize {
        self.guard + self.page + MARGIN
    }
}

/// The system's page size (the guard page's), asked once.
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: `sysconf` only reads a system setting.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    })
}

/// The lowest address of `stack`'s mapping (its guard page's start).
pub(crate) fn limit(stack: &DefaultStack) -> usize {
    stack.limit().get()
}

/// Marks the task whose stack `trap` describes as running (`Some`) or not (`None`): sets the
/// floor and the guard-page trap.
pub(crate) fn running(trap: Option<Trap>) {
    FLOOR.with(|f| f.set(trap.map_or(0, |t| t.floor())));
    TRAP.with(|t| t.set(trap));
}

/// `true` if the running task is within [`MARGIN`] of the end of its stack.
#[inline]
pub(crate) fn near_end() -> bool {
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    FLOOR.with(|f| sp < f.get())
}

/// Stops checking the floor (the task is being stopped for running into it).
pub(crate) fn disarm() {
    FLOOR.with(|f| f.set(0));
}

/// Installs the fault handler (once per process) and makes sure this thread has an alternate
/// signal stack for it to run on (std gives one to the threads it starts; others get one here).
pub(crate) fn install() {
    fault::install();
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod fault {
    use std::cell::Cell;
    use std::sync::OnceLock;

    use super::{TaskEnd, TRAP};

    /// The handlers of SIGSEGV and SIGBUS before ours.
    static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

    thread_local! {
        static ALT_STACK: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn install() {
        PREVIOUS.get_or_init(|| [replace(libc::SIGSEGV), replace(libc::SIGBUS)]);
        if !ALT_STACK.with(Cell::get) {
            ensure_alt_stack();
            ALT_STACK.with(|a| a.set(true));
        }
    }

    /// Installs [`on_fault`] for `signal`; returns the action it replaces.
    fn replace(signal: libc::c_int) -> libc::sigaction {
        // SAFETY: both structs are plain C data, zero is a valid value for them; `sigaction`
        // installs a handler that only reads thread-locals without destructors and either
        // redirects the faulting coroutine or hands over to the previous handler.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, &action, &mut previous) != 0 {
                // Not installed: faults behave as before (the soft floor still works).
                return previous;
            }
            previous
        }
    }

    /// Gives this thread an alternate signal stack if it has none (leaked with the thread:
    /// one per thread that ever runs an execution without std's).
    fn ensure_alt_stack() {
        // SAFETY: querying and setting this thread's alternate signal stack; the new stack is
        // a fresh anonymous mapping that is never unmapped.
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut current) != 0
                || current.ss_flags & libc::SS_DISABLE == 0
            {
                return;
            }
            let size = 64 * 1024;
            let memory = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if memory == libc::MAP_FAILED {
                return;
            }
            let stack = libc::stack_t {
                ss_sp: memory,
                ss_flags: 0,
                ss_size: size,
            };
            libc::sigaltstack(&stack, std::ptr::null_mut());
        }
    }

    extern "C" fn on_fault(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid `siginfo_t` and `ucontext_t` to an SA_SIGINFO
        // handler. The trap is this thread's running task's; its stack is alive while the task
        // runs (the driver clears the trap when the task suspends or ends). The coroutine is
        // abandoned where it faulted: its runtime state is consistent (the soft floor keeps
        // the runtime itself from reaching the guard page) and what is on its stack is
        // leaked, never used again.
        unsafe {
            let context = &mut *context.cast::<libc::ucontext_t>();
            if let Some(trap) = TRAP.with(Cell::get) {
                let address = (*info).si_addr() as usize;
                let in_guard = address >= trap.guard && address < trap.guard + trap.page;
                if in_guard && trap.handler.stack_ptr_in_bounds(stack_pointer(context)) {
                    TRAP.with(|t| t.set(None));
                    let regs = trap.handler.setup_trap_handler(|| TaskEnd::Overflow);
                    redirect(context, regs);
                    return;
                }
            }
            let index = (signal == libc::SIGBUS) as usize;
            match PREVIOUS.get().map(|p| p[index]) {
                Some(previous)
                    if previous.sa_sigaction != libc::SIG_DFL
                        && previous.sa_sigaction != libc::SIG_IGN =>
                {
                    if previous.sa_flags & libc::SA_SIGINFO != 0 {
                        let handler: extern "C" fn(
                            libc::c_int,
                            *mut libc::siginfo_t,
                            *mut libc::c_void,
                        ) = std::mem::transmute(previous.sa_sigaction);
                        handler(signal, info, (context as *mut libc::ucontext_t).cast());
                    } else {
                        let handler: extern "C" fn(libc::c_int) =
                            std::mem::transmute(previous.sa_sigaction);
                        handler(signal);
                    }
                }
                // No handler before ours: the default action, when the fault happens again
                // on return.
                _ => {
                    let mut default: libc::sigaction = std::mem::zeroed();
                    default.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn stack_pointer(context: &libc::ucontext_t) -> usize {
        context.uc_mcontext.gregs[libc::REG_RSP as usize] as usize
    }

    #[cfg(target_arch = "x86_64")]
    fn redirect(context: &mut libc::ucontext_t, regs: corosensei::trap::TrapHandlerRegs) {
        let gregs = &mut context.uc_mcontext.gregs;
        gregs[libc::REG_RIP as usize] = regs.rip as i64;
        gregs[libc::REG_RSP as usize] = regs.rsp as i64;
        gregs[libc::REG_RBP as usize] = regs.rbp as i64;
        gregs[libc::REG_RDI as usize] = regs.rdi as i64;
        gregs[libc::REG_RSI as usize] = regs.rsi as i64;
    }

    #[cfg(target_arch = "aarch64")]
    fn stack_pointer(context: &libc::ucontext_t) -> usize {
        context.uc_mcontext.sp as usize
    }

    #[cfg(target_arch = "aarch64")]
    fn redirect(context: &mut libc::ucontext_t, regs: corosensei::trap::TrapHandlerRegs) {
        let m = &mut context.uc_mcontext;
        m.pc = regs.pc;
        m.sp = regs.sp;
        m.regs[0] = regs.x0;
        m.regs[1] = regs.x1;
        m.regs[29] = regs.x29;
        m.regs[30] = regs.lr;
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod fault {
    /// No trap support on this platform: the soft floor is the only defence.
    pub(super) fn install() {}
}
