//! `wal-torture`: the crash and fault soak (`cargo xtask crash` runs it),
//! and the replay of one case.
//!
//! ```text
//! wal-torture soak [--seeds N] [--minutes M] [--first-seed S] [--jobs J]
//! wal-torture replay CASE
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use wal_torture::{Case, Outcome, SoakConfig};

const USAGE: &str =
    "usage: wal-torture <soak [--seeds N] [--minutes M] [--first-seed S] [--jobs J] | replay CASE>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wal-torture: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn value<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    let Some(pos) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    let v = args.get(pos + 1).ok_or(format!("{name} needs a value"))?;
    v.parse()
        .map(Some)
        .map_err(|_| format!("{name}: not a number: {v:?}"))
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    match args.first().map(String::as_str) {
        Some("soak") => {
            let rest = args.get(1..).unwrap_or_default();
            let mut config = SoakConfig {
                seeds: value(rest, "--seeds")?,
                jobs: value(rest, "--jobs")?.unwrap_or(1),
                ..SoakConfig::default()
            };
            // New seeds by default: the time, so soaks do not repeat.
            config.first_seed = match value(rest, "--first-seed")? {
                Some(s) => s,
                None => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs() << 16),
            };
            let minutes: Option<f64> = value(rest, "--minutes")?;
            if config.seeds.is_none() && minutes.is_none() {
                config.seeds = Some(4);
            }
            let started = Instant::now();
            config.deadline = minutes.map(|m| started + Duration::from_secs_f64(m * 60.0));
            println!(
                "wal-torture soak: first seed {:#x}, {} seeds, {} minutes, {} jobs",
                config.first_seed,
                config.seeds.map_or("unlimited".into(), |n| n.to_string()),
                minutes.map_or("unlimited".into(), |m| m.to_string()),
                config.jobs
            );
            let out = wal_torture::soak(&config, |seed, total| {
                println!(
                    "[{:>7.1?}] seed {seed:#x} done; so far: {}",
                    started.elapsed(),
                    total.counts
                );
                for v in &total.violations {
                    println!("  {v}");
                }
            });
            Ok(finish(&out, started))
        }
        Some("replay") => {
            let case: Case = args
                .get(1)
                .ok_or("replay needs a case")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            match wal_torture::replay(&case) {
                Ok(()) => {
                    println!("{case}: no violation");
                    Ok(ExitCode::SUCCESS)
                }
                Err(v) => {
                    println!("{v}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        _ => Err("no command".into()),
    }
}

fn finish(out: &Outcome, started: Instant) -> ExitCode {
    println!(
        "wal-torture soak finished in {:.1?}: {}",
        started.elapsed(),
        out.counts
    );
    for v in &out.violations {
        println!("{v}");
    }
    if out.counts.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
