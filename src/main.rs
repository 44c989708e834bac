//! `mpcheck`: the command-line front of the verification matrix.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mpcheck::check::{self, properties, recovery, Property, Row, ShuttleStrategy, Size};
use mpcheck::loom::Loom;
use mpcheck::shuttle::Shuttle;
use mpcheck::sim::{self, Config, Sim};
use mpcheck::Os;

#[derive(Parser)]
#[command(
    name = "mpcheck",
    version,
    about = "Python's multiprocessing primitives for Rust, checked"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every property function under the chosen engines and print a table; exit status 1
    /// if any property fails or hangs.
    Check(CheckArgs),
    /// Run the failing execution recorded in a replay file again and print its trace; exit
    /// status 1 if it fails again, 0 if it now passes.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The engine: real threads (os), our simulator (sim), loom, shuttle, or all of them.
    #[arg(long, value_enum, default_value_t = Engine::All)]
    engine: Engine,
    /// The strategy of the simulator (by default dfs and pct) and of shuttle (by default
    /// random and pct; shuttle runs no dfs here). loom always searches exhaustively.
    #[arg(long, value_enum)]
    strategy: Option<Strategy>,
    /// Preemption bound of exhaustive search: the simulator's dfs (default: unbounded) and
    /// loom (default: each property's own bound, from the registry).
    #[arg(long)]
    preemption_bound: Option<usize>,
    /// How many times each property runs on real threads.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Executions per property for the random and PCT strategies (simulator and shuttle).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Seed of the random and PCT strategies (simulator and shuttle).
    #[arg(long)]
    seed: Option<u64>,
    /// Tasks per property (default: 4 on real threads and for sampling strategies; the
    /// property's own exhaustive size for dfs).
    #[arg(long, value_parser = parse_threads)]
    threads: Option<usize>,
    /// Operations per task (default: 10,000 on real threads, 2 for sampling strategies, the
    /// property's own exhaustive size for dfs).
    #[arg(long, value_parser = parse_ops)]
    ops: Option<usize>,
    /// Only properties whose primitive or name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// How many exploration rows (sim, loom, shuttle) run at once. More than one helps the
    /// simulator's and shuttle's rows, but loom's slow down side by side (each of its
    /// executions maps fresh thread stacks, and the kernel serialises that).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: u32,
    /// Seconds a property may run (all its runs) before it is reported as hung.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    time_limit: u64,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The replay file (written by a failing `mpcheck check --engine sim`).
    file: PathBuf,
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (2..=64).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 2 to 64".to_owned()),
    }
}

fn parse_ops(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".to_owned()),
    }
}

/// The engines `check` can run on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// Real threads on the real operating system.
    Os,
    /// Our deterministic simulator.
    Sim,
    /// The loom model checker (C11 memory model), on the same primitives.
    Loom,
    /// The shuttle randomized checker, on the same primitives.
    Shuttle,
    /// Every engine.
    All,
}

/// The simulator's strategies.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Strategy {
    /// Exhaustive search with partial-order reduction.
    Dfs,
    /// Probabilistic concurrency testing, depth 3.
    Pct,
    /// Random walk.
    Random,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check_command(args),
        Command::Replay(args) => replay_command(args),
    }
}

fn selected(props: Vec<Property>, filter: &Option<String>) -> Vec<Property> {
    props
        .into_iter()
        .filter(|p| matches(p.primitive, p.name, filter))
        .collect()
}

fn matches(primitive: &str, name: &str, filter: &Option<String>) -> bool {
    match filter {
        Some(f) => primitive.contains(f.as_str()) || name.contains(f.as_str()),
        None => true,
    }
}

/// The recovery properties (what each primitive promises when a process using it dies) that
/// match the filter.
fn selected_recovery(
    props: Vec<recovery::RecoveryProperty>,
    filter: &Option<String>,
) -> Vec<recovery::RecoveryProperty> {
    props
        .into_iter()
        .filter(|p| matches(p.primitive, p.name, filter))
        .collect()
}

fn sized(default: Size, args: &CheckArgs) -> Size {
    Size {
        threads: args.threads.unwrap_or(default.threads),
        ops: args.ops.unwrap_or(default.ops),
        start_together: default.start_together,
    }
}

/// The simulator's `config` with the seed and (for dfs) the preemption bound the command asks.
fn with_seed_and_bound(config: Config, strategy: Strategy, args: &CheckArgs) -> Config {
    let config = match args.seed {
        Some(seed) => config.seed(seed),
        None => config,
    };
    match (strategy, args.preemption_bound) {
        (Strategy::Dfs, Some(b)) => config.preemption_bound(b as u32),
        _ => config,
    }
}

fn check_command(args: CheckArgs) -> ExitCode {
    let limit = Duration::from_secs(args.time_limit);
    let mut rows: Vec<Row> = Vec::new();
    // Failures are reported in the table, with their messages; keep panics off stderr.
    check::quiet_panics();
    if matches!(args.engine, Engine::Os | Engine::All) {
        let size = sized(Size::STRESS, &args);
        for p in selected(properties::all::<Os>(), &args.filter) {
            rows.push(check::run(p, size, args.runs, limit));
        }
        // Real processes; nobody kills them here (tests/owner_died_os.rs and
        // tests/queue_death_os.rs do).
        for p in selected_recovery(recovery::all::<Os>(), &args.filter) {
            let size = sized(p.sampled(), &args);
            rows.push(check::run(p.property(), size, args.runs, limit));
        }
    }
    // The exploration engines' rows run side by side on `--jobs` threads (after the real
    // threads' rows, which want the machine to themselves).
    let mut jobs: Vec<check::Job> = Vec::new();
    if matches!(args.engine, Engine::Sim | Engine::All) {
        let strategies = match args.strategy {
            Some(s) => vec![s],
            None => vec![Strategy::Dfs, Strategy::Pct],
        };
        for strategy in strategies {
            for p in selected(properties::all::<Sim>(), &args.filter) {
                let (config, name, size) = match strategy {
                    Strategy::Dfs => (Config::dfs(), "dfs", sized(p.exhaustive, &args)),
                    Strategy::Pct => (
                        Config::pct(3, args.iterations),
                        "pct",
                        sized(Size::SAMPLED, &args),
                    ),
                    Strategy::Random => (
                        Config::random(args.iterations),
                        "random",
                        sized(Size::SAMPLED, &args),
                    ),
                };
                let config = with_seed_and_bound(config, strategy, &args);
                jobs.push(Box::new(move || {
                    check::explore(p, size, config, name, limit)
                }));
            }
            // The recovery properties, with the simulator killing one process wherever it
            // makes a difference (dfs) or at points it draws.
            for p in selected_recovery(recovery::all::<Sim>(), &args.filter) {
                let (config, name, size) = match strategy {
                    Strategy::Dfs => (Config::dfs(), "dfs, 1 kill", p.exhaustive),
                    Strategy::Pct => (Config::pct(3, args.iterations), "pct, 1 kill", p.sampled()),
                    Strategy::Random => (
                        Config::random(args.iterations),
                        "random, 1 kill",
                        p.sampled(),
                    ),
                };
                let config = with_seed_and_bound(p.configure(config.kills(1)), strategy, &args);
                let (p, size) = (p.property(), sized(size, &args));
                jobs.push(Box::new(move || {
                    check::explore(p, size, config, name, limit)
                }));
            }
        }
    }
    if matches!(args.engine, Engine::Loom | Engine::All) {
        for p in selected(properties::all::<Loom>(), &args.filter) {
            let size = sized(p.exhaustive, &args);
            let bound = args.preemption_bound.or(p.loom_bound);
            jobs.push(Box::new(move || check::loom(p, size, bound, limit)));
        }
        for p in selected_recovery(recovery::all::<Loom>(), &args.filter) {
            let (p, size) = (p.property(), sized(p.exhaustive, &args));
            let bound = args.preemption_bound.or(p.loom_bound);
            jobs.push(Box::new(move || check::loom(p, size, bound, limit)));
        }
    }
    if matches!(args.engine, Engine::Shuttle | Engine::All) {
        let strategies = match args.strategy {
            Some(Strategy::Random) => vec![ShuttleStrategy::Random],
            Some(Strategy::Pct) => vec![ShuttleStrategy::Pct],
            Some(Strategy::Dfs) => vec![],
            None => vec![ShuttleStrategy::Random, ShuttleStrategy::Pct],
        };
        let iterations = usize::try_from(args.iterations).unwrap_or(usize::MAX);
        for strategy in strategies {
            for p in selected(properties::all::<Shuttle>(), &args.filter) {
                let size = sized(Size::SAMPLED, &args);
                let seed = args.seed.unwrap_or(0);
                jobs.push(Box::new(move || {
                    check::shuttle(p, size, strategy, iterations, seed, limit)
                }));
            }
            for p in selected_recovery(recovery::all::<Shuttle>(), &args.filter) {
                let (p, size) = (p.property(), sized(p.sampled(), &args));
                let seed = args.seed.unwrap_or(0);
                jobs.push(Box::new(move || {
                    check::shuttle(p, size, strategy, iterations, seed, limit)
                }));
            }
        }
    }
    rows.extend(check::run_jobs(jobs, args.jobs));
    if rows.is_empty() {
        eprintln!("mpcheck check: no property matches the filter");
        return ExitCode::from(2);
    }
    print!("{}", check::table(&rows));
    if rows.iter().all(|r| r.verdict.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay_command(args: ReplayArgs) -> ExitCode {
    let recorded = match sim::inspect(&args.file) {
        Ok(recorded) => recorded,
        Err(failure) => {
            eprintln!("mpcheck replay: {}", failure.message());
            return ExitCode::from(2);
        }
    };
    let Some((property, size)) = check::parse_replay_name(&recorded.name) else {
        eprintln!(
            "mpcheck replay: {} records a failure of {:?}, which is not a property of \
             `mpcheck check`; replay it from its own test with mpcheck::sim::replay",
            args.file.display(),
            recorded.name
        );
        return ExitCode::from(2);
    };
    let f = property.run;
    match sim::replay(&args.file, move || f(size)) {
        Ok(report) => {
            println!(
                "{} / {}: the recorded {} no longer happens ({report})",
                property.primitive, property.name, recorded.kind
            );
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("{failure}");
            ExitCode::FAILURE
        }
    }
}
