//! `compare`: durable appends of every engine side by side, with the disk's
//! own limits, in one run. See `docs/PERFORMANCE.md`.
//!
//! ```sh
//! cargo run --release -p groupwal-benches --bin compare -- --json results.json
//! ```

// A command-line tool: its results go to stdout, its progress to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use groupwal_benches::engines::{self, ENGINES};
use groupwal_benches::harness::cli::CompareArgs;
use groupwal_benches::harness::fs::{FsInfo, fs_info};
use groupwal_benches::harness::report::{
    self, Failure, Machine, Report, Settings, disk_table, fmt_int, fmt_size, fmt_us,
};
use groupwal_benches::harness::{RunResult, Workload, disk, run_workload};

fn main() -> ExitCode {
    let args = CompareArgs::parse();
    if args.list {
        for e in ENGINES {
            println!("{:<8} {}", e.name, e.about);
        }
        return ExitCode::SUCCESS;
    }
    let baseline = match args.validate(&engines::names()) {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("compare: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(&args, &baseline) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The parent of the run's temporary directory: `--dir`, else `$TMPDIR`
/// unless it is in memory, else the current directory.
fn parent_dir(args: &CompareArgs) -> io::Result<PathBuf> {
    if let Some(dir) = &args.dir {
        return Ok(dir.clone());
    }
    let tmp = std::env::temp_dir();
    match fs_info(&tmp) {
        Ok(info) if info.in_memory() => {
            let cwd = std::env::current_dir()?;
            eprintln!(
                "compare: {} is on {}; using the current directory {} instead",
                tmp.display(),
                info.name,
                cwd.display()
            );
            Ok(cwd)
        }
        _ => Ok(tmp),
    }
}

/// Runs everything; `Ok(false)` if some run failed.
fn run(args: &CompareArgs, baseline: &str) -> io::Result<bool> {
    let parent = parent_dir(args)?;
    let dir = tempfile::Builder::new()
        .prefix("groupwal-compare-")
        .tempdir_in(&parent)?;
    let fs = fs_info(dir.path()).ok();
    warn_if_in_memory(dir.path(), fs.as_ref());
    let machine = Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        dir: dir.path().display().to_string(),
        fs: fs.clone(),
    };
    let settings = Settings {
        engines: args.engines.clone(),
        baseline: baseline.to_owned(),
        writers: args.writers.clone(),
        sizes: args.sizes.clone(),
        warmup_secs: args.warmup().as_secs_f64(),
        measure_secs: args.measure().as_secs_f64(),
    };
    println!(
        "# compare: {} cpus, kernel {}, {} on {}",
        machine.cpus,
        machine.kernel.as_deref().unwrap_or("?"),
        machine.dir,
        fs.as_ref().map_or("?", |f| f.name),
    );
    let total = args.engines.len() * args.writers.len() * args.sizes.len();
    eprintln!(
        "compare: {total} runs of {:.1}+{:.1} s{}",
        settings.warmup_secs,
        settings.measure_secs,
        if args.no_disk {
            ""
        } else {
            ", after the disk's limits"
        }
    );

    let disk_limits = if args.no_disk {
        None
    } else {
        eprintln!(
            "compare: measuring the disk ({} MiB sequential writes)",
            args.disk_mib
        );
        let limits = disk::measure(dir.path(), &args.disk_config())?;
        if let Some(why) = &limits.direct.unsupported {
            eprintln!("compare: {why}; continuing without it");
        }
        println!("\n## The disk's own limits\n");
        print!("{}", disk_table(&limits).render());
        Some(limits)
    };

    let mut runs: Vec<RunResult> = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut n = 0;
    for &size in &args.sizes {
        for &writers in &args.writers {
            for engine in &args.engines {
                n += 1;
                let workload = Workload {
                    writers,
                    payload_len: size,
                    warmup: args.warmup(),
                    measure: args.measure(),
                };
                let started = Instant::now();
                let sub = dir.path().join(format!("{engine}-w{writers}-s{size}"));
                let outcome = one_run(engine, &sub, &workload);
                let _ = std::fs::remove_dir_all(&sub);
                match outcome {
                    Ok(r) => {
                        eprintln!(
                            "[{n}/{total}] {engine} W={writers} {}: {} commits/s, p50 {} µs, p99 {} µs ({:.1} s)",
                            fmt_size(size),
                            fmt_int(r.commits_per_sec),
                            fmt_us(r.latency.p50_us),
                            fmt_us(r.latency.p99_us),
                            started.elapsed().as_secs_f64()
                        );
                        runs.push(r);
                    }
                    Err(e) => {
                        eprintln!(
                            "[{n}/{total}] {engine} W={writers} {}: FAILED: {e}",
                            fmt_size(size)
                        );
                        failures.push(Failure {
                            engine: engine.clone(),
                            writers,
                            payload_len: size,
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
        println!(
            "\n## Durable appends, {} payloads (latency in µs; group = records per fdatasync)\n",
            fmt_size(size)
        );
        let table = if args.long {
            report::long_table(&runs, &args.engines, baseline, size)
        } else {
            report::wide_table(&runs, &args.engines, baseline, size)
        };
        print!("{}", table.render());
        io::stdout().flush()?;
    }

    for f in &failures {
        println!(
            "\nFAILED: {} W={} {}: {}",
            f.engine,
            f.writers,
            fmt_size(f.payload_len),
            f.error
        );
    }
    if let Some(path) = &args.json {
        let report = Report {
            machine,
            settings,
            disk: disk_limits,
            runs: Report::rows(&runs, baseline),
            failures: failures.clone(),
        };
        let json = serde_json::to_string_pretty(&report).map_err(io::Error::other)?;
        std::fs::write(path, json + "\n")?;
        eprintln!("compare: wrote {}", path.display());
    }
    Ok(failures.is_empty())
}

fn warn_if_in_memory(dir: &Path, fs: Option<&FsInfo>) {
    match fs {
        Some(info) if info.in_memory() => eprintln!(
            "compare: WARNING: {} is on {} (memory, no disk): fsync costs nothing there and \
             the figures say nothing about a disk; pass --dir on a real disk",
            dir.display(),
            info.name
        ),
        Some(_) => {}
        None => eprintln!("compare: could not statfs {}", dir.display()),
    }
}

/// Opens `engine` in a fresh `dir`, runs the workload, closes it.
fn one_run(engine: &str, dir: &Path, workload: &Workload) -> io::Result<RunResult> {
    std::fs::create_dir(dir)?;
    let log = engines::open(engine, dir)?;
    let result = run_workload(engine, log.as_ref(), workload);
    let closed = log.close();
    let result = result?;
    closed?;
    Ok(result)
}
