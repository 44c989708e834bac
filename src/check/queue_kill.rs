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
//! point inside `put` or `get` (a test hook, [`crate::queue::set_stop_hook`], set up by
//! `victim_setup` in the victim) and kills it there with SIGKILL; an engine that kills
//! processes at its scheduling points can call `kill` at once and explore every point.

use crate::{Array, Error, Event, Platform, Process, Queue};

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
        let work = Box::new(move || {
            for seq in 0..items {
                queue.put((p as u32, seq)).expect("the queue is open");
            }
        });
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
    let logs: Vec<Vec<Got>> = logs
        .iter()
        .map(|log| {
            let n = log.get(0).unwrap_or(0) as usize;
            (1..=n)
                .map(|i| match log.get(i).unwrap_or(LOST) {
                    LOST => Got::Lost,
                    word => Got::Item(((word >> 32) as u32, word as u32)),
                })
                .collect()
        })
        .collect();
    check(&plan, &logs)
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
    let items = plan.items as usize;
    let mut received = vec![vec![0u32; items]; plan.producers];
    let mut lost = 0;
    for (c, log) in logs.iter().enumerate() {
        let mut next = vec![0u32; plan.producers];
        for got in log {
            match *got {
                Got::Lost => lost += 1,
                Got::Item((p, seq)) => {
                    let (pi, si) = (p as usize, seq as usize);
                    if pi >= plan.producers || si >= items {
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
    let missing = |p: usize| received[p].iter().filter(|&&n| n == 0).count();
    match plan.victim {
        Victim::Producer(v) => {
            if lost > 1 {
                return Err(format!("{lost} items reported lost; one producer died"));
            }
            if let Some(p) = (0..plan.producers).find(|&p| p != v && missing(p) > 0) {
                return Err(format!("a live producer's item was lost: producer {p}"));
            }
            let prefix = received[v].iter().take_while(|&&n| n == 1).count();
            if received[v][prefix..].iter().any(|&n| n > 0) {
                return Err(format!(
                    "the killed producer's items received are not the ones it put before it \
                     died: item {prefix} is missing, a later one arrived"
                ));
            }
        }
        Victim::Consumer(_) => {
            if lost > 0 {
                return Err("an item was reported lost, and no producer died".to_owned());
            }
            let missing: usize = (0..plan.producers).map(missing).sum();
            if missing > 1 {
                return Err(format!(
                    "{missing} items were never received; the killed consumer can take one"
                ));
            }
        }
    }
    Ok(())
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
