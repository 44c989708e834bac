//! The panic hook: quiet for panics inside simulated tasks (they become failures with their
//! message and location), unchanged for every other thread.

use std::sync::Once;

use crate::rt::{IN_SIM, PANIC_LOCATION};

static INSTALL: Once = Once::new();

/// Wraps the current panic hook once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_SIM.with(|s| s.get()) {
                let place = info.location().map(|l| (l.file(), l.line()));
                // `file()` borrows from the location, which is 'static for panics from code.
                let place = place.map(|(f, l)| (leak_str(f), l));
                PANIC_LOCATION.with(|p| p.set(place));
            } else {
                previous(info);
            }
        }));
    });
}

/// Panic locations name source files, a small fixed set: intern them.
fn leak_str(s: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&name) = names.get(s) {
        return name;
    }
    let name: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(name);
    name
}
