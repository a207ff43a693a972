//! `wal-torture`: the soaks (`cargo xtask crash` runs them), and the
//! replay of one case.
//!
//! ```text
//! wal-torture soak [--seeds N] [--minutes M] [--first-seed S] [--jobs J]
//! wal-torture bitrot [--seeds N] [--minutes M] [--first-seed S] [--jobs J]
//! wal-torture read-faults [--seeds N] [--minutes M] [--first-seed S] [--jobs J]
//! wal-torture replay CASE
//! ```
//!
//! `soak` is the crash and fault campaign (about one seed in four on the
//! streams workload), `bitrot` the bit-rot campaign (`wal_torture::bitrot`,
//! each seed with both endings; one seed in four with stream records),
//! `read-faults` the read-fault campaign (`wal_torture::readfaults`,
//! likewise). Without `--seeds` or `--minutes`, 4 seeds. `replay` takes a
//! case of any of them: `crash[-streams]:...`, `fault[-seq][-streams]:...`,
//! `bitrot:...` or `readfault:...`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wal_torture::bitrot::{self, BitrotCase, BitrotConfig};
use wal_torture::readfaults::{self, ReadFaultCase, ReadFaultConfig};
use wal_torture::{Case, Findings, SoakConfig, Tally};

const USAGE: &str = "usage: wal-torture <soak|bitrot|read-faults [--seeds N] [--minutes M] [--first-seed S] [--jobs J] | replay CASE>";

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

/// A seed, decimal or `0x` hexadecimal (as the soaks print them).
fn seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
    .ok_or(format!("--first-seed: not a number: {s:?}"))
}

/// What a soak was asked for.
struct Soak {
    first_seed: u64,
    seeds: Option<u64>,
    minutes: Option<f64>,
    jobs: usize,
    started: Instant,
}

impl Soak {
    fn parse(args: &[String]) -> Result<Soak, String> {
        let mut seeds = value(args, "--seeds")?;
        let minutes: Option<f64> = value(args, "--minutes")?;
        if seeds.is_none() && minutes.is_none() {
            seeds = Some(4);
        }
        Ok(Soak {
            // New seeds by default: the time, so soaks do not repeat.
            first_seed: match value::<String>(args, "--first-seed")? {
                Some(s) => seed(&s)?,
                None => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs() << 16),
            },
            seeds,
            minutes,
            jobs: value(args, "--jobs")?.unwrap_or(1),
            started: Instant::now(),
        })
    }

    fn deadline(&self) -> Option<Instant> {
        self.minutes
            .map(|m| self.started + Duration::from_secs_f64(m * 60.0))
    }

    fn announce(&self, what: &str) {
        println!(
            "wal-torture {what}: first seed {:#x}, {} seeds, {} minutes, {} jobs",
            self.first_seed,
            self.seeds.map_or("unlimited".into(), |n| n.to_string()),
            self.minutes.map_or("unlimited".into(), |m| m.to_string()),
            self.jobs
        );
    }

    /// Runs a sweep (given the progress report to call), printing each
    /// plan's findings with the totals so far as it finishes; then
    /// [`Soak::finish`].
    fn sweep<P: Display, C: Tally + Display + Send, V: Display + Clone + Send>(
        &self,
        what: &str,
        sweep: impl FnOnce(&(dyn Fn(&P, &Findings<C, V>) + Sync)) -> Findings<C, V>,
    ) -> ExitCode {
        self.announce(what);
        let total = Mutex::new(Findings::<C, V>::default());
        let out = sweep(&|plan: &P, out: &Findings<C, V>| {
            let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
            total.merge(out.clone());
            println!(
                "[{:>7.1?}] {plan}: {}; so far: {}",
                self.started.elapsed(),
                out.counts,
                total.counts
            );
            for v in &out.violations {
                println!("  {v}");
            }
        });
        self.finish(what, out)
    }

    /// Prints the totals and every violation kept; fails on a violation.
    fn finish<C: Tally + Display, V: Display>(&self, what: &str, out: Findings<C, V>) -> ExitCode {
        println!(
            "wal-torture {what} finished in {:.1?}: {}",
            self.started.elapsed(),
            out.counts
        );
        for v in &out.violations {
            println!("{v}");
        }
        if out.counts.violations() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("soak") => {
            let soak = Soak::parse(rest)?;
            let config = SoakConfig {
                first_seed: soak.first_seed,
                seeds: soak.seeds,
                deadline: soak.deadline(),
                jobs: soak.jobs,
                ..SoakConfig::default()
            };
            soak.announce("soak");
            let out = wal_torture::soak(&config, |seed, total| {
                println!(
                    "[{:>7.1?}] seed {seed:#x} done; so far: {}",
                    soak.started.elapsed(),
                    total.counts
                );
                for v in &total.violations {
                    println!("  {v}");
                }
            });
            Ok(soak.finish("soak", out))
        }
        Some("bitrot") => {
            let soak = Soak::parse(rest)?;
            Ok(soak.sweep("bit-rot soak", |progress| {
                bitrot::sweep(
                    soak.first_seed,
                    soak.seeds.unwrap_or(u64::MAX / 2),
                    &BitrotConfig::default(),
                    soak.jobs,
                    soak.deadline(),
                    progress,
                )
            }))
        }
        Some("read-faults") => {
            let soak = Soak::parse(rest)?;
            Ok(soak.sweep("read-fault soak", |progress| {
                readfaults::sweep(
                    soak.first_seed,
                    soak.seeds.unwrap_or(u64::MAX / 2),
                    &ReadFaultConfig::default(),
                    soak.jobs,
                    soak.deadline(),
                    progress,
                )
            }))
        }
        Some("replay") => {
            let text = args.get(1).ok_or("replay needs a case")?;
            replay(text)
        }
        _ => Err("no command".into()),
    }
}

/// Replays a case of any campaign, told apart by its tag.
fn replay(text: &str) -> Result<ExitCode, String> {
    let verdict = if text.starts_with("bitrot:") {
        let case: BitrotCase = text.parse().map_err(|e| format!("{e}"))?;
        bitrot::replay(&case)
            .map(|v| format!("{case}: no violation ({v:?})"))
            .map_err(|v| v.to_string())
    } else if text.starts_with("readfault:") {
        let case: ReadFaultCase = text.parse().map_err(|e| format!("{e}"))?;
        readfaults::replay(&case)
            .map(|v| format!("{case}: no violation ({v:?})"))
            .map_err(|v| v.to_string())
    } else {
        let case: Case = text.parse().map_err(|e| format!("{e}"))?;
        wal_torture::replay(&case)
            .map(|()| format!("{case}: no violation"))
            .map_err(|v| v.to_string())
    };
    match verdict {
        Ok(line) => {
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(violation) => {
            println!("{violation}");
            Ok(ExitCode::FAILURE)
        }
    }
}
