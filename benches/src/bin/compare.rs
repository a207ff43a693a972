//! `compare`: groupwal, the baselines and the peer engines side by side on
//! the same workloads, with the disk's own limits, in one run. See
//! `docs/PERFORMANCE.md`.
//!
//! ```sh
//! cargo run --release -p groupwal-benches --bin compare -- --json results.json --svg-dir plots
//! ```
//!
//! Each engine runs in a child process of its own (this binary again, with
//! `--child`), one after the other, so one engine's threads, caches and
//! memory do not weigh on the next; `--in-process` runs them all here.

// A command-line tool: its results go to stdout, its progress to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Parser;
use groupwal_benches::engines::{self, ENGINES, Purpose};
use groupwal_benches::harness::buffered::{run_buffered, run_recovery};
use groupwal_benches::harness::cli::CompareArgs;
use groupwal_benches::harness::fs::{FsInfo, fs_info};
use groupwal_benches::harness::report::{
    self, EngineResults, Failure, Machine, Metric, Report, Settings, disk_table, fmt_int, fmt_size,
    fmt_us,
};
use groupwal_benches::harness::{RunResult, Workload, disk, run_workload, svg};

fn main() -> ExitCode {
    let mut args = CompareArgs::parse();
    if args.list {
        for e in ENGINES {
            println!("{:<16} {}", e.name, e.about);
        }
        return ExitCode::SUCCESS;
    }
    args.default_engines(&engines::default_engines());
    let baseline = match args.validate(&engines::names()) {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("compare: {msg}");
            return ExitCode::from(2);
        }
    };
    let outcome = if args.child {
        child(&args)
    } else {
        run(&args, &baseline)
    };
    match outcome {
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

/// As a child: run the one engine named, write its results as JSON.
fn child(args: &CompareArgs) -> io::Result<bool> {
    let dir = parent_dir(args)?;
    let mut results = EngineResults::default();
    for engine in &args.engines {
        run_engine(args, engine, &dir, &mut results);
    }
    let path = args
        .json
        .as_ref()
        .ok_or_else(|| io::Error::other("--child needs --json"))?;
    let json = serde_json::to_string(&results).map_err(io::Error::other)?;
    std::fs::write(path, json)?;
    Ok(true)
}

/// A failure record; a refused option (`Unsupported`) says so.
fn failure(engine: &str, writers: usize, payload_len: usize, e: &io::Error) -> Failure {
    let error = if e.kind() == io::ErrorKind::Unsupported {
        format!("refused: {e}")
    } else {
        e.to_string()
    };
    Failure {
        engine: engine.to_owned(),
        writers,
        payload_len,
        error,
    }
}

/// Runs every workload `args` asks for on `engine`, in fresh directories
/// under `base`, adding to `out`.
fn run_engine(args: &CompareArgs, engine: &str, base: &Path, out: &mut EngineResults) {
    let mut refused = None;
    if !args.no_durable {
        'sizes: for &size in &args.sizes {
            for &writers in &args.writers {
                let workload = Workload {
                    writers,
                    payload_len: size,
                    warmup: args.warmup(),
                    measure: args.measure(),
                };
                let started = Instant::now();
                let sub = base.join(format!("{engine}-w{writers}-s{size}"));
                let outcome = one_run(engine, &sub, &workload);
                let _ = std::fs::remove_dir_all(&sub);
                match outcome {
                    Ok(r) => {
                        eprintln!(
                            "compare: {engine} W={writers} {}: {} commits/s, p50 {} µs, p99 {} µs ({:.1} s)",
                            fmt_size(size),
                            fmt_int(r.commits_per_sec),
                            fmt_us(r.latency.p50_us),
                            fmt_us(r.latency.p99_us),
                            started.elapsed().as_secs_f64()
                        );
                        out.runs.push(r);
                    }
                    Err(e) => {
                        eprintln!(
                            "compare: {engine} W={writers} {}: FAILED: {e}",
                            fmt_size(size)
                        );
                        let f = failure(engine, writers, size, &e);
                        let is_refused = e.kind() == io::ErrorKind::Unsupported;
                        out.failures.push(f);
                        if is_refused {
                            // The same refusal at every size and count.
                            refused = Some(e);
                            break 'sizes;
                        }
                    }
                }
            }
        }
    }
    if args.buffered_mib == 0 || refused.is_some() {
        return;
    }
    let Ok(info) = engines::info(engine) else {
        return;
    };
    let sub = base.join(format!("{engine}-buffered"));
    let outcome = (|| {
        std::fs::create_dir(&sub)?;
        let log = (info.open)(&sub, Purpose::Buffered)?;
        run_buffered(
            engine,
            log,
            &sub,
            args.buffered_size,
            args.buffered_mib << 20,
        )
    })();
    match outcome {
        Ok(b) => {
            eprintln!(
                "compare: {engine} buffered: {} records in {:.2} s, {} MB/s",
                fmt_int(b.records as f64),
                b.elapsed_secs,
                report::fmt_rate(b.mb_per_sec)
            );
            if let Some(recover) = info.recover {
                for cold in [false, true] {
                    match run_recovery(engine, recover, &sub, b.records, b.payload_len, cold) {
                        Ok(r) => {
                            let bare = r.bare.map_or_else(String::new, |b| {
                                format!("; bare read: {} MiB in {:.2} s", b.bytes >> 20, b.secs)
                            });
                            eprintln!(
                                "compare: {engine} recovery ({}): {} records in {:.2} s, {} MB/s{bare}",
                                if cold { "cold" } else { "warm" },
                                fmt_int(r.records as f64),
                                r.elapsed_secs,
                                report::fmt_rate(r.mb_per_sec)
                            );
                            out.recovery.push(r);
                        }
                        Err(e) => {
                            eprintln!("compare: {engine} recovery: FAILED: {e}");
                            out.failures.push(failure(
                                &format!("{engine} (recovery)"),
                                1,
                                b.payload_len,
                                &e,
                            ));
                            break;
                        }
                    }
                }
            }
            out.buffered.push(b);
        }
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            eprintln!("compare: {engine} buffered: not applicable: {e}");
        }
        Err(e) => {
            eprintln!("compare: {engine} buffered: FAILED: {e}");
            out.failures.push(failure(
                &format!("{engine} (buffered)"),
                1,
                args.buffered_size,
                &e,
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&sub);
}

/// Runs `engine` in a child process (this binary with `--child`) and reads
/// back what it measured.
fn spawn_engine(
    args: &CompareArgs,
    engine: &str,
    base: &Path,
    with_buffered: bool,
) -> io::Result<EngineResults> {
    let json = base.join(format!("{engine}-results.json"));
    let list = |v: &[usize]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--child")
        .args(["--engines", engine])
        .args(["--writers", &list(&args.writers)])
        .args(["--sizes", &list(&args.sizes)])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .arg("--no-disk")
        .args(["--baseline", engine])
        .args([
            "--buffered-mib",
            &(if with_buffered { args.buffered_mib } else { 0 }).to_string(),
        ])
        .args(["--buffered-size", &args.buffered_size.to_string()])
        .arg("--dir")
        .arg(base)
        .arg("--json")
        .arg(&json);
    if args.no_durable {
        cmd.arg("--no-durable");
    }
    let status = cmd.status()?;
    let read = std::fs::read(&json);
    let _ = std::fs::remove_file(&json);
    if !status.success() {
        return Err(io::Error::other(format!(
            "the child process of {engine} failed ({status})"
        )));
    }
    serde_json::from_slice(&read?).map_err(io::Error::other)
}

/// Runs everything; `Ok(false)` if some run failed (a refused sync mode is
/// not a failure of the run).
fn run(args: &CompareArgs, baseline: &str) -> io::Result<bool> {
    let parent = parent_dir(args)?;
    let dir = tempfile::Builder::new()
        .prefix("groupwal-compare-")
        .tempdir_in(&parent)?;
    let fs = fs_info(dir.path()).ok();
    warn_if_in_memory(dir.path(), fs.as_ref());
    let mut machine = Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        dir: dir.path().display().to_string(),
        fs: fs.clone(),
        load_start: report::loadavg(),
        load_end: None,
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
        "# compare: {} cpus, kernel {}, {} on {}, load {}",
        machine.cpus,
        machine.kernel.as_deref().unwrap_or("?"),
        machine.dir,
        fs.as_ref().map_or("?", |f| f.name),
        machine.load_start.as_deref().unwrap_or("?"),
    );
    let per_engine = if args.no_durable {
        0
    } else {
        args.writers.len() * args.sizes.len()
    };
    eprintln!(
        "compare: {} engines x {} durable runs of {:.1}+{:.1} s x {} repeat(s), {} MiB buffered each{}{}",
        args.engines.len(),
        per_engine,
        settings.warmup_secs,
        settings.measure_secs,
        args.repeat,
        args.buffered_mib,
        if args.in_process {
            ", in this process"
        } else {
            ", a child process per engine"
        },
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
        Some(limits)
    };

    let mut all = EngineResults::default();
    for rep in 0..args.repeat {
        for engine in &args.engines {
            let with_buffered = rep == 0;
            if args.repeat > 1 {
                eprintln!("compare: {engine}, pass {}/{}", rep + 1, args.repeat);
            }
            if args.in_process {
                let mut one = args.clone();
                if !with_buffered {
                    one.buffered_mib = 0;
                }
                run_engine(&one, engine, dir.path(), &mut all);
            } else {
                match spawn_engine(args, engine, dir.path(), with_buffered) {
                    Ok(r) => {
                        all.runs.extend(r.runs);
                        all.failures.extend(r.failures);
                        all.buffered.extend(r.buffered);
                        all.recovery.extend(r.recovery);
                    }
                    Err(e) => {
                        eprintln!("compare: {engine}: {e}");
                        all.failures.push(failure(engine, 0, 0, &e));
                    }
                }
            }
        }
    }
    machine.load_end = report::loadavg();
    let runs = report::median_runs(&all.runs);
    let mut failures = all.failures.clone();
    failures.dedup();

    if let Some(limits) = &disk_limits {
        println!("\n## The disk's own limits\n");
        print!("{}", disk_table(limits).render());
    }
    print_durable(args, baseline, &runs);
    if !all.buffered.is_empty() {
        println!(
            "\n## Buffered throughput: one writer, {} payloads, no sync per record, one final sync\n",
            fmt_size(args.buffered_size)
        );
        print!(
            "{}",
            report::buffered_table(&all.buffered, baseline).render()
        );
    }
    if !all.recovery.is_empty() {
        println!(
            "\n## Recovery: reopen and read back (and check) every record the buffered workload wrote\n"
        );
        print!(
            "{}",
            report::recovery_table(&all.recovery, baseline).render()
        );
    }
    for f in &failures {
        let what = if f.payload_len == 0 {
            String::new()
        } else {
            format!(" W={} {}", f.writers, fmt_size(f.payload_len))
        };
        println!("\nFAILED: {}{what}: {}", f.engine, f.error);
    }
    println!(
        "\n(load average at start: {}; at end: {})",
        machine.load_start.as_deref().unwrap_or("?"),
        machine.load_end.as_deref().unwrap_or("?")
    );
    io::stdout().flush()?;

    if let Some(svg_dir) = &args.svg_dir {
        std::fs::create_dir_all(svg_dir)?;
        for &size in &args.sizes {
            if !runs.iter().any(|r| r.payload_len == size) {
                continue;
            }
            for (metric, name) in [(Metric::Commits, "commits"), (Metric::P99, "p99")] {
                let path = svg_dir.join(format!("durable-{}-{name}.svg", size_slug(size)));
                std::fs::write(
                    &path,
                    svg::durable_chart(&runs, &args.engines, size, metric),
                )?;
                eprintln!("compare: wrote {}", path.display());
            }
        }
    }
    if let Some(path) = &args.json {
        let report = Report {
            machine,
            settings,
            disk: disk_limits,
            runs: Report::rows(&runs, baseline),
            failures: failures.clone(),
            buffered: all.buffered.clone(),
            recovery: all.recovery.clone(),
        };
        let json = serde_json::to_string_pretty(&report).map_err(io::Error::other)?;
        std::fs::write(path, json + "\n")?;
        eprintln!("compare: wrote {}", path.display());
    }
    Ok(failures.iter().all(|f| f.error.starts_with("refused:")))
}

fn size_slug(size: usize) -> String {
    fmt_size(size).replace(' ', "").to_lowercase()
}

fn print_durable(args: &CompareArgs, baseline: &str, runs: &[RunResult]) {
    for &size in &args.sizes {
        if !runs.iter().any(|r| r.payload_len == size) {
            continue;
        }
        println!(
            "\n## Durable appends, {}: commits/s (ratio to {baseline})\n",
            fmt_size(size)
        );
        print!(
            "{}",
            report::matrix_table(runs, &args.engines, baseline, size, Metric::Commits).render()
        );
        println!(
            "\n## Durable appends, {}: p99 latency, µs (ratio to {baseline}; lower is better)\n",
            fmt_size(size)
        );
        print!(
            "{}",
            report::matrix_table(runs, &args.engines, baseline, size, Metric::P99).render()
        );
        if args.long {
            println!(
                "\n## Durable appends, {}: every figure (latency in µs; group = records per sync)\n",
                fmt_size(size)
            );
            print!(
                "{}",
                report::long_table(runs, &args.engines, baseline, size).render()
            );
        }
    }
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
///
/// One append goes in before the clock starts, so set-up an engine defers
/// to its first append (groupwal creates and zero-fills its first segment
/// and a spare there) is not taken for the steady state; work that recurs
/// (rotations, flushes, compactions) is measured.
fn one_run(engine: &str, dir: &Path, workload: &Workload) -> io::Result<RunResult> {
    std::fs::create_dir(dir)?;
    let log = engines::open(engine, dir)?;
    log.append(&groupwal_benches::payload(workload.payload_len))?;
    let result = run_workload(engine, log.as_ref(), workload);
    let closed = log.close();
    let result = result?;
    closed?;
    Ok(result)
}
