//! Client writes/s through a three-node openraft cluster on loopback,
//! with groupwal as the log against an in-memory log, and with several
//! Raft groups per node sharing one groupwal log against one log per
//! group.
//!
//! ```sh
//! cargo run --release --example raft_bench -- \
//!     --variants groupwal,memory,groupwal-shared,groupwal-per-group \
//!     --clients 1,16,64 --groups 4 --seconds 10 --repeat 3 --json raft_bench.json
//! ```
//!
//! Each run starts a fresh cluster (three nodes in this process, their
//! Raft RPCs as JSON over HTTP/1 on loopback: the `raft_kv` example's
//! network), waits for the leaders, runs C client tasks that each call
//! `client_write` on its group's leader in a loop (one write in flight
//! per client; client `i` writes to group `1 + i % G`), counts the writes
//! acknowledged in the measured interval after the warm-up, then stops
//! the cluster and removes its logs. Runs are interleaved: every repeat
//! runs every client count and every variant once. Prints a markdown
//! table (median writes/s of the repeats, their range, the ratio to
//! `memory` for the single-group variants and to `groupwal-per-group`
//! for the multi-group ones, p50/p99 latency over every measured write of
//! the repeats) and, with `--json`, every run.
//!
//! Variants: see `bench.rs`. `groupwal` and `memory` run one group per
//! node; `groupwal-shared` and `groupwal-per-group` run `--groups`.

#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)]

// What the test of the client loop (tests/it/bench.rs) reads is unused
// here.
#[allow(dead_code)]
mod bench;
#[path = "../raft_kv/net.rs"]
mod net;
#[path = "../raft_kv/sm.rs"]
#[allow(dead_code)]
mod sm;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bench::{BenchCluster, BoxError, Load, Setup, Variant};
use groupwal::{SyncMode, WalOptions};
use serde::Serialize;

const USAGE: &str = "\
usage: raft_bench [options]
  --variants LIST    of groupwal, memory, groupwal-shared, groupwal-per-group
                     (default: all four)
  --clients LIST     concurrent clients, e.g. 1,16,64 (default)
  --groups G         Raft groups per node for groupwal-shared and
                     groupwal-per-group (default 4)
  --seconds S        measured interval of each run (default 10)
  --warmup S         before it, not counted (default 2)
  --repeat R         runs of each variant and client count (default 3)
  --value-bytes N    the length of each value written (default 64)
  --segment-mib N    groupwal's segment size (default: groupwal's, 64)
  --sync-mode M      groupwal's: data (fdatasync, the default), all
                     (fsync), dsync, direct, none (no sync: the cost of
                     the adapter and the log without the disk's flush)
  --adaptive-delay B groupwal's adaptive group delay, on (default) or off
  --dir DIR          parent of the runs' log directories, each removed
                     after its run (default: a temporary directory)
  --json FILE        every run and the summary, as JSON";

#[derive(Debug, Serialize)]
struct Args {
    variants: Vec<&'static str>,
    clients: Vec<usize>,
    groups: u64,
    seconds: f64,
    warmup: f64,
    repeat: usize,
    value_bytes: usize,
    segment_mib: Option<u64>,
    sync_mode: String,
    adaptive_delay: bool,
    dir: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, BoxError> {
    s.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("bad list item {x:?}").into())
        })
        .collect()
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        variants: Variant::ALL.iter().map(|v| v.name()).collect(),
        clients: vec![1, 16, 64],
        groups: 4,
        seconds: 10.0,
        warmup: 2.0,
        repeat: 3,
        value_bytes: 64,
        segment_mib: None,
        sync_mode: "data".to_owned(),
        adaptive_delay: true,
        dir: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (flag, None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value\n{USAGE}").into()),
        };
        match flag.as_str() {
            "--variants" => {
                args.variants = value
                    .split(',')
                    .map(|v| {
                        Variant::parse(v.trim())
                            .map(Variant::name)
                            .ok_or_else(|| format!("unknown variant {v:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--clients" => args.clients = list(&value)?,
            "--groups" => args.groups = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--warmup" => args.warmup = value.parse()?,
            "--repeat" => args.repeat = value.parse()?,
            "--value-bytes" => args.value_bytes = value.parse()?,
            "--segment-mib" => args.segment_mib = Some(value.parse()?),
            "--sync-mode" => {
                sync_mode(&value)?;
                args.sync_mode = value;
            }
            "--adaptive-delay" => {
                args.adaptive_delay = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--adaptive-delay is on or off, not {value:?}").into()),
                }
            }
            "--dir" => args.dir = Some(value.into()),
            "--json" => args.json = Some(value.into()),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}").into()),
        }
    }
    if args.variants.is_empty() || args.clients.is_empty() || args.clients.contains(&0) {
        return Err("--variants and --clients need at least one (non-zero) item".into());
    }
    if args.groups == 0 || args.repeat == 0 || args.seconds <= 0.0 || args.warmup < 0.0 {
        return Err("--groups, --repeat and --seconds must be positive".into());
    }
    Ok(args)
}

/// groupwal's sync mode named `name`.
fn sync_mode(name: &str) -> Result<SyncMode, BoxError> {
    Ok(match name {
        "data" => SyncMode::Data,
        "all" => SyncMode::All,
        "dsync" => SyncMode::Dsync,
        "direct" => SyncMode::Direct,
        "none" => SyncMode::None,
        _ => return Err(format!("unknown sync mode {name:?}").into()),
    })
}

/// One run: one variant at one client count.
#[derive(Debug, Serialize)]
struct Run {
    variant: &'static str,
    groups: u64,
    clients: usize,
    repeat: usize,
    writes: u64,
    writes_per_s: f64,
    p50_us: u32,
    p99_us: u32,
    /// Writes sent again to a new leader.
    retries: u64,
}

/// The repeats of one variant at one client count.
#[derive(Debug, Serialize)]
struct Summary {
    variant: &'static str,
    groups: u64,
    clients: usize,
    median_writes_per_s: f64,
    min_writes_per_s: f64,
    max_writes_per_s: f64,
    /// Against `baseline`'s median at the same client count.
    ratio: Option<f64>,
    baseline: &'static str,
    p50_us: u32,
    p99_us: u32,
    retries: u64,
}

#[derive(Serialize)]
struct Report<'a> {
    args: &'a Args,
    cores: usize,
    runs: &'a [Run],
    summary: &'a [Summary],
}

/// The `q`-quantile of `sorted` (nearest rank); 0 when empty.
fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `12345.6` as `12,346`.
fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn run_once(
    args: &Args,
    variant: Variant,
    clients: usize,
    repeat: usize,
    base: &std::path::Path,
    options: &WalOptions,
) -> Result<(Run, Vec<u32>), BoxError> {
    let groups = if variant.multi_group() {
        args.groups
    } else {
        1
    };
    let dir = base.join(format!("r{repeat}-c{clients}-{}", variant.name()));
    let setup = Setup {
        variant,
        groups,
        dir: dir.clone(),
        wal: options.clone(),
    };
    let cluster = BenchCluster::start(&setup).await?;
    let load = Load {
        clients,
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Some(Duration::from_secs_f64(args.seconds)),
        max_writes: None,
        keep: false,
        value_bytes: args.value_bytes,
    };
    let outcomes = cluster.run_clients(load).await;
    cluster.stop().await?;
    if dir.exists() {
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await??;
    }
    let outcomes = outcomes?;
    let writes: u64 = outcomes.iter().map(|o| o.writes).sum();
    let retries: u64 = outcomes.iter().map(|o| o.retries).sum();
    let mut lat: Vec<u32> = outcomes.into_iter().flat_map(|o| o.latencies_us).collect();
    lat.sort_unstable();
    let run = Run {
        variant: variant.name(),
        groups,
        clients,
        repeat,
        writes,
        writes_per_s: writes as f64 / args.seconds,
        p50_us: quantile(&lat, 0.50),
        p99_us: quantile(&lat, 0.99),
        retries,
    };
    Ok((run, lat))
}

fn summarize(args: &Args, runs: &[Run], lat: &BTreeMap<(usize, &str), Vec<u32>>) -> Vec<Summary> {
    let mut medians = BTreeMap::new();
    let mut out = Vec::new();
    for &clients in &args.clients {
        for &name in &args.variants {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| r.clients == clients && r.variant == name)
                .collect();
            let mut rates: Vec<f64> = mine.iter().map(|r| r.writes_per_s).collect();
            if rates.is_empty() {
                continue;
            }
            let med = median(&mut rates);
            medians.insert((clients, name), med);
            let mut all = lat.get(&(clients, name)).cloned().unwrap_or_default();
            all.sort_unstable();
            let variant = Variant::parse(name).unwrap_or(Variant::Memory);
            out.push(Summary {
                variant: name,
                groups: mine.first().map_or(1, |r| r.groups),
                clients,
                median_writes_per_s: med,
                min_writes_per_s: rates.first().copied().unwrap_or(0.0),
                max_writes_per_s: rates.last().copied().unwrap_or(0.0),
                ratio: None,
                baseline: variant.baseline().name(),
                p50_us: quantile(&all, 0.50),
                p99_us: quantile(&all, 0.99),
                retries: mine.iter().map(|r| r.retries).sum(),
            });
        }
    }
    for s in &mut out {
        s.ratio = medians
            .get(&(s.clients, s.baseline))
            .filter(|&&b| b > 0.0)
            .map(|b| s.median_writes_per_s / b);
    }
    out
}

fn print_table(args: &Args, summary: &[Summary], cores: usize) {
    println!(
        "raft_bench: 3 nodes in one process, Raft RPCs as JSON over HTTP/1 on loopback; \
         client_write on the leader, one write in flight per client; \
         {}s measured after {}s warm-up, median of {} interleaved repeats (range); \
         {}-byte values; groupwal sync mode {}, adaptive delay {}, segments {} MiB; \
         {cores} cores",
        args.seconds,
        args.warmup,
        args.repeat,
        args.value_bytes,
        args.sync_mode,
        if args.adaptive_delay { "on" } else { "off" },
        args.segment_mib.unwrap_or(64),
    );
    for multi in [false, true] {
        let rows: Vec<&Summary> = summary
            .iter()
            .filter(|s| Variant::parse(s.variant).is_some_and(|v| v.multi_group() == multi))
            .collect();
        if rows.is_empty() {
            continue;
        }
        println!();
        if multi {
            println!(
                "{} Raft groups per node (client i writes to group 1 + i % {}):",
                args.groups, args.groups
            );
        } else {
            println!("One Raft group:");
        }
        println!();
        println!("| variant | clients | writes/s | range | ratio | p50 / p99 µs |");
        println!("|---|---:|---:|---:|---:|---:|");
        for s in rows {
            let ratio = match s.ratio {
                Some(_) if s.variant == s.baseline => format!("1.00x ({})", s.baseline),
                Some(r) => format!("{r:.2}x {}", s.baseline),
                None => "-".to_owned(),
            };
            println!(
                "| {} | {} | {} | {}-{} | {} | {} / {} |",
                s.variant,
                s.clients,
                thousands(s.median_writes_per_s),
                thousands(s.min_writes_per_s),
                thousands(s.max_writes_per_s),
                ratio,
                thousands(f64::from(s.p50_us)),
                thousands(f64::from(s.p99_us)),
            );
        }
    }
    let retries: u64 = summary.iter().map(|s| s.retries).sum();
    if retries > 0 {
        println!();
        println!(
            "warning: {retries} writes were sent again to a new leader (a leader change \
             during a run): those runs measured an election too"
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp;
    let base = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let mut options = WalOptions::new();
    options
        .sync_mode(sync_mode(&args.sync_mode)?)
        .adaptive_delay(args.adaptive_delay);
    if let Some(mib) = args.segment_mib {
        options.segment_size(mib << 20);
    }
    let variants: Vec<Variant> = args
        .variants
        .iter()
        .filter_map(|n| Variant::parse(n))
        .collect();
    let mut runs = Vec::new();
    let mut lat: BTreeMap<(usize, &str), Vec<u32>> = BTreeMap::new();
    for repeat in 0..args.repeat {
        for &clients in &args.clients {
            // Each repeat starts with a different variant.
            let mut order = variants.clone();
            let first = repeat % order.len();
            order.rotate_left(first);
            for variant in order {
                let (run, l) = run_once(&args, variant, clients, repeat, &base, &options).await?;
                eprintln!(
                    "repeat {}/{}, {} clients, {} ({} group{}): {} writes/s, p50 {} µs, p99 {} µs{}",
                    repeat + 1,
                    args.repeat,
                    clients,
                    run.variant,
                    run.groups,
                    if run.groups == 1 { "" } else { "s" },
                    thousands(run.writes_per_s),
                    thousands(f64::from(run.p50_us)),
                    thousands(f64::from(run.p99_us)),
                    if run.retries > 0 {
                        format!(", {} retries", run.retries)
                    } else {
                        String::new()
                    },
                );
                lat.entry((clients, run.variant)).or_default().extend(l);
                runs.push(run);
            }
        }
    }
    let summary = summarize(&args, &runs, &lat);
    print_table(&args, &summary, cores);
    if let Some(path) = &args.json {
        let report = Report {
            args: &args,
            cores,
            runs: &runs,
            summary: &summary,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}
