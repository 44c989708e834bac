//! `mpcheck`: the command-line front of the verification matrix.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mpcheck::check::{self, properties, Size};
use mpcheck::{Os, Platform};

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
    /// Run every property function under the chosen engine and print a table; exit status 1 if
    /// any property fails or hangs.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The engine that runs the properties.
    #[arg(long, value_enum, default_value_t = Engine::Os)]
    engine: Engine,
    /// How many times each property runs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Tasks per property.
    #[arg(long, default_value_t = Size::STRESS.threads, value_parser = parse_threads)]
    threads: usize,
    /// Operations per task.
    #[arg(long, default_value_t = Size::STRESS.ops, value_parser = parse_ops)]
    ops: usize,
    /// Only properties whose primitive or name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Seconds a property may run (all its runs) before it is reported as hung.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    time_limit: u64,
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

/// The engines `check` can run on. The exploration engines join this list as they land.
#[derive(Clone, Copy, ValueEnum)]
enum Engine {
    /// Real threads on the real operating system.
    Os,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check_command(args),
    }
}

fn check_command(args: CheckArgs) -> ExitCode {
    let size = Size {
        threads: args.threads,
        ops: args.ops,
        start_together: true,
    };
    let (engine, props) = match args.engine {
        Engine::Os => (Os::NAME, properties::all::<Os>()),
    };
    let selected: Vec<_> = props
        .into_iter()
        .filter(|p| match &args.filter {
            Some(f) => p.primitive.contains(f.as_str()) || p.name.contains(f.as_str()),
            None => true,
        })
        .collect();
    if selected.is_empty() {
        eprintln!("mpcheck check: no property matches the filter");
        return ExitCode::from(2);
    }
    // Failures are reported in the table, with their messages; keep panics off stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let limit = Duration::from_secs(args.time_limit);
    let rows: Vec<_> = selected
        .into_iter()
        .map(|p| check::run(engine, p, size, args.runs, limit))
        .collect();
    print!("{}", check::table(&rows));
    if rows.iter().all(|r| r.verdict.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
