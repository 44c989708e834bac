// The program, as written against std: `main.rs` includes it three times, under std's `use`
// lines, the facade's on `Os`, and the facade's under the simulator. Nothing here changes.

/// Workers take words from a shared queue (a `Mutex` and a `Condvar`) until it is closed and
/// count their letters in an atomic; the main thread fills the queue, closes it, and returns
/// the count once every worker is done.
pub fn count_letters(words: &[&'static str], workers: usize) -> usize {
    let queue = Arc::new((Mutex::new((VecDeque::<&str>::new(), false)), Condvar::new()));
    let letters = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, letters) = (Arc::clone(&queue), Arc::clone(&letters));
            thread::spawn(move || {
                let (lock, ready) = &*queue;
                loop {
                    let mut state = ready
                        .wait_while(lock.lock().unwrap(), |(words, closed)| {
                            words.is_empty() && !*closed
                        })
                        .unwrap();
                    let Some(word) = state.0.pop_front() else {
                        return; // closed, and nothing left
                    };
                    drop(state);
                    letters.fetch_add(word.len(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    let (lock, ready) = &*queue;
    for &word in words {
        lock.lock().unwrap().0.push_back(word);
        ready.notify_one();
    }
    lock.lock().unwrap().1 = true;
    ready.notify_all();
    for handle in handles {
        handle.join().unwrap();
    }
    letters.load(Ordering::Relaxed)
}
