//! The property "a dead peer never hangs anyone", for queues: producer and consumer processes
//! share a [`Queue`], one of them (the victim) is killed, and then
//!
//! - every other process finishes (no put or get waits for good on the dead one);
//! - every item a live producer put is received exactly once, and each consumer receives each
//!   producer's items in the order they were put;
//! - a killed producer's items that were received are the ones it put before it died (a
//!   prefix of its sequence), each once; at most one item, the one it was putting, is reported
//!   lost ([`Error::ItemLost`], to one consumer), and nothing is reported lost otherwise;
//! - a killed consumer takes at most one item with it (the one it was getting), which nobody
//!   else receives.
//!
//! [`queue_survives_a_killed_process`] runs the processes on any engine `P` and checks the
//! outcome with [`check`]; *when* the victim dies is the caller's: its `kill` closure gets the
//! victim's [`Process`] once everyone is started. On `Os` a test stops the victim at an exact
//! point inside `put` or `get` (a test hook, [`mpcheck::queue::set_stop_hook`], set up by
//! `victim_setup` in the victim) and kills it there with SIGKILL; an engine that kills
//! processes at its scheduling points can call `kill` at once and explore every point.

use mpcheck::{Array, Error, Event, Platform, Process, Queue};

/// An item: (producer, sequence number).
pub type Item = (u32, u32);

/// The process that is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Victim {
    /// Producer `i` (of `0 .. Plan::producers`).
    Producer(usize),
    /// Consumer `i` (of `0 .. Plan::consumers`).
    Consumer(usize),
}

/// Who runs, and who dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Producer processes; producer `i` puts `(i, 0) .. (i, items)`.
    pub producers: usize,
    /// Consumer processes; each gets until the queue is closed and drained.
    pub consumers: usize,
    /// Items per producer.
    pub items: u32,
    /// The process that is killed.
    pub victim: Victim,
}

/// One get, as a consumer logged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Got {
    /// An item.
    Item(Item),
    /// [`Error::ItemLost`].
    Lost,
}

/// A logged [`Got::Lost`] (an item is `producer << 32 | seq`, producers below `u32::MAX`).
const LOST: u64 = u64::MAX;

/// Runs `plan` on `queue` (empty and open) and checks the outcome ([`check`]).
///
/// Consumers are started first, then producers; the victim runs `victim_setup` before its
/// work. Once all are started, `kill` gets the victim (it kills it, at once or at a moment it
/// picks). When the victim is a consumer, the other consumers get nothing until `kill`
/// returned, so that the victim surely gets the items it is to be killed among (a `kill` that
/// waits for the victim's `n`-th get would otherwise wait for good if the others took every
/// item). Then every producer is joined (each live one must end with exit code 0), the queue
/// is closed, and every consumer is joined (each live one must end with 0). Consumers log what
/// they get in shared arrays, an entry then the count, so that a killed consumer's log is what
/// it had logged (at most the item it was getting is missing). `Err` says what went wrong.
pub fn queue_survives_a_killed_process<P: Platform>(
    queue: &Queue<Item, P>,
    plan: Plan,
    victim_setup: impl FnOnce() + Send + 'static,
    kill: impl FnOnce(&Process<P>),
) -> Result<(), String> {
    let total = plan.producers * plan.items as usize;
    let logs: Vec<Array<u64, P>> = (0..plan.consumers)
        .map(|_| Array::raw(total + 2).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut setup = Some(victim_setup);
    let mut start = |victim: bool, work: Box<dyn FnOnce() + Send>| -> Result<Process<P>, String> {
        let setup = if victim { setup.take() } else { None };
        let process = Process::<P>::new(move || {
            if let Some(setup) = setup {
                setup();
            }
            work();
        });
        process.start().map_err(|e| format!("start: {e}"))?;
        Ok(process)
    };
    let go = Event::<P>::new();
    let mut consumers = Vec::new();
    for (c, log) in logs.iter().enumerate() {
        let (queue, log, go) = (queue.clone(), log.clone(), go.clone());
        let victim = plan.victim == Victim::Consumer(c);
        let wait = matches!(plan.victim, Victim::Consumer(_)) && !victim;
        let work = Box::new(move || {
            if wait {
                go.wait();
            }
            consume(&queue, &log)
        });
        consumers.push(start(victim, work)?);
    }
    let mut producers = Vec::new();
    for p in 0..plan.producers {
        let queue = queue.clone();
        let items = plan.items;
        let work = Box::new(move || produce(&queue, p, items));
        producers.push(start(plan.victim == Victim::Producer(p), work)?);
    }
    let victim = match plan.victim {
        Victim::Producer(p) => &producers[p],
        Victim::Consumer(c) => &consumers[c],
    };
    kill(victim);
    go.set();
    let joined = |processes: &[Process<P>], role: &str, victim: Option<usize>| {
        for (i, process) in processes.iter().enumerate() {
            let code = process
                .join()
                .map_err(|e| format!("join {role} {i}: {e}"))?;
            if Some(i) != victim && code != 0 {
                return Err(format!("{role} {i} ended with exit code {code}"));
            }
        }
        Ok::<(), String>(())
    };
    let victim_producer = match plan.victim {
        Victim::Producer(p) => Some(p),
        Victim::Consumer(_) => None,
    };
    joined(&producers, "producer", victim_producer)?;
    queue.close();
    let victim_consumer = match plan.victim {
        Victim::Consumer(c) => Some(c),
        Victim::Producer(_) => None,
    };
    joined(&consumers, "consumer", victim_consumer)?;
    check(&plan, &read_logs(&logs))
}

/// Producer `p`: puts `(p, 0) .. (p, items)`.
fn produce<P: Platform>(queue: &Queue<Item, P>, p: usize, items: u32) {
    for seq in 0..items {
        queue.put((p as u32, seq)).expect("the queue is open");
    }
}

/// A consumer: gets until the queue is closed and drained, logging each get.
fn consume<P: Platform>(queue: &Queue<Item, P>, log: &Array<u64, P>) {
    let mut n = 0;
    loop {
        let word = match queue.get() {
            Ok((producer, seq)) => u64::from(producer) << 32 | u64::from(seq),
            Err(Error::ItemLost) => LOST,
            Err(Error::Closed { .. }) => return,
            Err(e) => panic!("a get failed: {e}"),
        };
        n += 1;
        log.set(n, word).expect("the log has room");
        log.set(0, n as u64).expect("the log has room");
    }
}

/// Checks what the consumers got (`logs[c]`: consumer `c`'s gets, in order) against the
/// property of the module docs.
pub fn check(plan: &Plan, logs: &[Vec<Got>]) -> Result<(), String> {
    match plan.victim {
        Victim::Producer(v) => check_killed(plan.producers, plan.items, &[v], 0, logs),
        Victim::Consumer(_) => check_killed(plan.producers, plan.items, &[], 1, logs),
    }
}

/// As [`check`], for `producers` producers of `items` items each of which those in
/// `killed_producers` died, and `killed_consumers` consumers died: every live producer's item
/// received once, in each consumer in the order put; each killed producer's items received
/// are the ones it put before it died; at most one item lost (reported) per killed producer,
/// none otherwise; and at most one item per killed consumer received by nobody (the one it
/// was getting), of any producer.
pub fn check_killed(
    producers: usize,
    items: u32,
    killed_producers: &[usize],
    killed_consumers: usize,
    logs: &[Vec<Got>],
) -> Result<(), String> {
    let items = items as usize;
    let mut received = vec![vec![0u32; items]; producers];
    let mut lost = 0;
    for (c, log) in logs.iter().enumerate() {
        let mut next = vec![0u32; producers];
        for got in log {
            match *got {
                Got::Lost => lost += 1,
                Got::Item((p, seq)) => {
                    let (pi, si) = (p as usize, seq as usize);
                    if pi >= producers || si >= items {
                        return Err(format!("consumer {c} got an item from nowhere: {got:?}"));
                    }
                    if seq < next[pi] {
                        return Err(format!(
                            "consumer {c} got producer {p}'s item {seq} after item {}",
                            next[pi] - 1
                        ));
                    }
                    next[pi] = seq + 1;
                    received[pi][si] += 1;
                }
            }
        }
    }
    for (p, counts) in received.iter().enumerate() {
        if let Some(seq) = counts.iter().position(|&n| n > 1) {
            return Err(format!("producer {p}'s item {seq} was received twice"));
        }
    }
    if lost > killed_producers.len() {
        return Err(format!(
            "{lost} item(s) reported lost; {} producer(s) died",
            killed_producers.len()
        ));
    }
    // Items nobody received that a producer surely put: all of a live producer's; a killed
    // one's before the last it put that arrived.
    let mut missing = 0;
    for (p, counts) in received.iter().enumerate() {
        let put = if killed_producers.contains(&p) {
            counts
                .iter()
                .rposition(|&n| n == 1)
                .map_or(0, |last| last + 1)
        } else {
            items
        };
        missing += counts[..put].iter().filter(|&&n| n == 0).count();
    }
    if missing > killed_consumers {
        return Err(format!(
            "{missing} item(s) put were never received; {killed_consumers} consumer(s) died              (each can take the one it was getting)"
        ));
    }
    Ok(())
}

/// The property with any process killed by the engine (the simulator's `Config::kills`):
/// `producer_processes` producer processes put `items` items each and `consumer_processes`
/// consumer processes get until the queue is closed; the main process, which nobody kills,
/// plays the other side too, so that no death leaves the queue without a live producer and a
/// live consumer:
///
/// - with producer processes, the main task closes the queue once the producers ended; with
///   `alongside`, a consumer task of the main process gets alongside the consumer processes
///   meanwhile (the queue may be smaller than the items: producers wait for room), else the
///   main task gets what is left once the consumer processes ended too (the queue must hold
///   every item);
/// - without, the main task puts the items (as producer 0; the queue must hold them all) and
///   closes the queue before it starts the consumer processes, and gets what is left once they
///   ended (and, by then, whatever a dead one left at the head). Each consumer's death is
///   then explored with nobody else running: the recovery paths are what is checked, and the
///   interleavings of live getters are the other properties' business.
///
/// Who died is known from the exit codes (`-9`), and [`check_killed`] judges. Panics on a
/// violation.
pub fn queue_survives_kills<P: Platform>(
    queue: &Queue<Item, P>,
    producer_processes: usize,
    consumer_processes: usize,
    items: u32,
    alongside: bool,
) {
    let producers = producer_processes.max(1);
    let total = producers * items as usize;
    let logs: Vec<Array<u64, P>> = (0..=consumer_processes)
        .map(|_| Array::raw(total + 2).expect("a log"))
        .collect();
    let main_log = logs[consumer_processes].clone();
    let start = |work: Box<dyn FnOnce() + Send>| {
        let process = Process::<P>::new(work);
        process.start().expect("a process starts");
        process
    };
    let task = if producer_processes > 0 && alongside {
        let (queue, log) = (queue.clone(), main_log.clone());
        Some(P::spawn(move || consume(&queue, &log)))
    } else {
        if producer_processes == 0 {
            produce(queue, 0, items);
            queue.close();
        }
        None
    };
    let consumer_processes: Vec<Process<P>> = logs[..consumer_processes]
        .iter()
        .map(|log| {
            let (queue, log) = (queue.clone(), log.clone());
            start(Box::new(move || consume(&queue, &log)))
        })
        .collect();
    let producer_processes: Vec<Process<P>> = (0..producer_processes)
        .map(|p| {
            let queue = queue.clone();
            start(Box::new(move || produce(&queue, p, items)))
        })
        .collect();
    let killed = |processes: &[Process<P>], role: &str| -> Vec<usize> {
        let mut killed = Vec::new();
        for (i, process) in processes.iter().enumerate() {
            match process.join().expect("a started process can be joined") {
                0 => {}
                -9 => killed.push(i),
                code => panic!("{role} {i} ended with exit code {code}"),
            }
        }
        killed
    };
    let killed_producers = killed(&producer_processes, "producer");
    if !producer_processes.is_empty() {
        queue.close();
    }
    let killed_consumers = killed(&consumer_processes, "consumer").len();
    match task {
        Some(task) => {
            if let Err(panic) = P::join(task) {
                std::panic::resume_unwind(panic);
            }
        }
        None => consume(queue, &main_log),
    }
    let logs = read_logs(&logs);
    if let Err(violation) =
        check_killed(producers, items, &killed_producers, killed_consumers, &logs)
    {
        panic!(
            "{violation}; killed producers {killed_producers:?}, {killed_consumers} killed \
             consumer(s); got {logs:?}"
        );
    }
}

/// The consumers' logs, as they logged them.
fn read_logs<P: Platform>(logs: &[Array<u64, P>]) -> Vec<Vec<Got>> {
    logs.iter()
        .map(|log| {
            let n = log.get(0).unwrap_or(0) as usize;
            (1..=n)
                .map(|i| match log.get(i).unwrap_or(LOST) {
                    LOST => Got::Lost,
                    word => Got::Item(((word >> 32) as u32, word as u32)),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(victim: Victim) -> Plan {
        Plan {
            producers: 2,
            consumers: 2,
            items: 3,
            victim,
        }
    }

    #[test]
    fn the_checker_accepts_what_the_property_allows_and_nothing_else() {
        use Got::{Item as I, Lost};
        let producer = plan(Victim::Producer(1));
        let whole = vec![
            vec![I((0, 0)), I((1, 0)), I((0, 2))],
            vec![I((0, 1)), I((1, 1))],
        ];
        assert_eq!(check(&producer, &whole), Ok(()));
        let mut lost_one = whole.clone();
        lost_one[1].push(Lost);
        assert_eq!(check(&producer, &lost_one), Ok(()));
        lost_one[0].push(Lost);
        assert!(check(&producer, &lost_one).is_err(), "two lost");
        let mut live_missing = whole.clone();
        live_missing[0].pop();
        assert!(check(&producer, &live_missing).is_err());
        let hole = vec![vec![I((0, 0)), I((0, 1)), I((0, 2)), I((1, 1))]];
        assert!(check(&producer, &hole).is_err(), "not a prefix");
        let twice = vec![vec![I((0, 0)), I((0, 1)), I((0, 2))], vec![I((0, 2))]];
        assert!(check(&producer, &twice).is_err());
        let disorder = vec![vec![I((0, 1)), I((0, 0)), I((0, 2))]];
        assert!(check(&producer, &disorder).is_err());
        let consumer = plan(Victim::Consumer(0));
        let one_taken = vec![
            vec![I((0, 0))],
            vec![I((0, 1)), I((1, 0)), I((1, 1)), I((1, 2))],
        ];
        assert_eq!(check(&consumer, &one_taken), Ok(()));
        assert!(check(&consumer, &live_missing).is_err(), "two missing");
        assert!(check(&consumer, &[vec![Lost]]).is_err());
    }
}
