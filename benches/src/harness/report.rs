//! Turning results into tables (Markdown, aligned for a terminal), ratios
//! and a JSON document.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::RunResult;
use super::buffered::{BufferedResult, RecoveryResult};
use super::disk::{DiskLimits, SeqWrite};
use super::fs::FsInfo;

/// `value / base`, or `None` when `base` is not positive.
#[must_use]
pub fn ratio(value: f64, base: f64) -> Option<f64> {
    (base > 0.0).then(|| value / base)
}

/// The run of `engine` with the same writers and payload size as `run`.
#[must_use]
pub fn find_run<'a>(
    runs: &'a [RunResult],
    engine: &str,
    writers: usize,
    payload_len: usize,
) -> Option<&'a RunResult> {
    runs.iter()
        .find(|r| r.engine == engine && r.writers == writers && r.payload_len == payload_len)
}

/// `run`'s commits/s over those of `baseline` in the same configuration.
#[must_use]
pub fn ratio_to(runs: &[RunResult], baseline: &str, run: &RunResult) -> Option<f64> {
    let base = find_run(runs, baseline, run.writers, run.payload_len)?;
    ratio(run.commits_per_sec, base.commits_per_sec)
}

/// A table of strings: first column left-aligned, the others right-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Rows, each as long as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Renders the table as Markdown, padded so the columns line up.
    #[must_use]
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self
            .header
            .iter()
            .map(|h| h.chars().count().max(3))
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(cell.chars().count());
                s.push(' ');
                if i == 0 {
                    s.push_str(cell);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(cell);
                }
                s.push_str(" |");
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.header);
        out.push('|');
        for (i, w) in widths.iter().enumerate().take(columns) {
            if i == 0 {
                out.push_str(&format!(" {} |", "-".repeat(*w)));
            } else {
                out.push_str(&format!(" {}: |", "-".repeat(w.saturating_sub(1))));
            }
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// An integer with thousands separators: `12,345`.
#[must_use]
pub fn fmt_int(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_owned();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A latency in µs: one decimal below 10, whole numbers above.
#[must_use]
pub fn fmt_us(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1}")
    } else {
        fmt_int(us)
    }
}

/// A rate with three significant figures or so: `1.23`, `45.6`, `789`,
/// `1,234`.
#[must_use]
pub fn fmt_rate(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else if x < 100.0 {
        format!("{x:.1}")
    } else {
        fmt_int(x)
    }
}

fn fmt_opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_owned(), f)
}

fn fmt_ratio(x: f64) -> String {
    format!("{x:.2}x")
}

/// Human size of a payload: `128 B`, `1 KiB`, `16 KiB`.
#[must_use]
pub fn fmt_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn writer_counts(runs: &[RunResult], payload_len: usize) -> BTreeSet<usize> {
    runs.iter()
        .filter(|r| r.payload_len == payload_len)
        .map(|r| r.writers)
        .collect()
}

/// One row per writer count, and per engine (in `engines` order) the
/// columns commits/s, MB/s, p50/p99/p99.9 µs, average group and (except for
/// the baseline) the ratio of its commits/s to the baseline's. A run that
/// is missing (it failed) shows `-`.
#[must_use]
pub fn wide_table(
    runs: &[RunResult],
    engines: &[String],
    baseline: &str,
    payload_len: usize,
) -> Table {
    let mut header = vec!["W".to_owned()];
    for e in engines {
        header.push(format!("{e} commits/s"));
        for h in ["MB/s", "p50", "p99", "p99.9", "group"] {
            header.push(h.to_owned());
        }
        if e != baseline {
            header.push(format!("x {baseline}"));
        }
    }
    let mut rows = Vec::new();
    for w in writer_counts(runs, payload_len) {
        let mut row = vec![w.to_string()];
        for e in engines {
            match find_run(runs, e, w, payload_len) {
                Some(r) => {
                    row.push(fmt_int(r.commits_per_sec));
                    row.push(fmt_rate(r.mb_per_sec));
                    row.push(fmt_us(r.latency.p50_us));
                    row.push(fmt_us(r.latency.p99_us));
                    row.push(fmt_us(r.latency.p999_us));
                    row.push(fmt_opt(r.avg_group, |g| format!("{g:.2}")));
                    if e != baseline {
                        row.push(fmt_opt(ratio_to(runs, baseline, r), fmt_ratio));
                    }
                }
                None => {
                    let n = if e == baseline { 6 } else { 7 };
                    row.extend(std::iter::repeat_n("-".to_owned(), n));
                }
            }
        }
        rows.push(row);
    }
    Table { header, rows }
}

/// One row per (writer count, engine): the same figures as [`wide_table`]
/// in a shape that stays readable with many engines.
#[must_use]
pub fn long_table(
    runs: &[RunResult],
    engines: &[String],
    baseline: &str,
    payload_len: usize,
) -> Table {
    let header = [
        "W",
        "engine",
        "commits/s",
        "MB/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "avg group",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("x {baseline}")])
    .collect();
    let mut rows = Vec::new();
    for w in writer_counts(runs, payload_len) {
        for e in engines {
            if let Some(r) = find_run(runs, e, w, payload_len) {
                rows.push(vec![
                    w.to_string(),
                    e.clone(),
                    fmt_int(r.commits_per_sec),
                    fmt_rate(r.mb_per_sec),
                    fmt_us(r.latency.p50_us),
                    fmt_us(r.latency.p99_us),
                    fmt_us(r.latency.p999_us),
                    fmt_opt(r.avg_group, |g| format!("{g:.2}")),
                    fmt_opt(ratio_to(runs, baseline, r), fmt_ratio),
                ]);
            }
        }
    }
    Table { header, rows }
}

fn seq_row(name: &str, s: &SeqWrite) -> Vec<String> {
    let figure = match (&s.unsupported, s.gb_per_sec) {
        (Some(why), _) => format!("not measured: {why}"),
        (None, Some(g)) => format!("{g:.2} GB/s"),
        (None, None) => "-".to_owned(),
    };
    let detail = if s.unsupported.is_some() {
        String::new()
    } else {
        format!("{} MiB in {:.2} s", s.bytes >> 20, s.elapsed_secs)
    };
    vec![name.to_owned(), figure, detail]
}

/// The disk's limits as a table: test, figure, detail.
#[must_use]
pub fn disk_table(d: &DiskLimits) -> Table {
    let f = &d.fsync_loop;
    Table {
        header: vec!["disk".to_owned(), "figure".to_owned(), "detail".to_owned()],
        rows: vec![
            vec![
                format!("{} KiB overwrite + fdatasync loop", f.block >> 10),
                format!("{} ops/s", fmt_int(f.ops_per_sec)),
                format!(
                    "p50 {} / p99 {} / p99.9 {} µs",
                    fmt_us(f.latency.p50_us),
                    fmt_us(f.latency.p99_us),
                    fmt_us(f.latency.p999_us)
                ),
            ],
            seq_row("sequential write, buffered + final fdatasync", &d.buffered),
            seq_row("sequential write, O_DIRECT + final fdatasync", &d.direct),
        ],
    }
}

/// Where and how the run was made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// `available_parallelism`.
    pub cpus: usize,
    /// `/proc/sys/kernel/osrelease`, if readable.
    pub kernel: Option<String>,
    /// The directory the engines wrote to.
    pub dir: String,
    /// Its file system.
    pub fs: Option<FsInfo>,
    /// `/proc/loadavg` when the run started.
    pub load_start: Option<String>,
    /// `/proc/loadavg` when it ended.
    pub load_end: Option<String>,
}

/// `/proc/loadavg`, trimmed, if readable.
#[must_use]
pub fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The settings of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Engines, in column order.
    pub engines: Vec<String>,
    /// The engine ratios are taken against.
    pub baseline: String,
    /// Writer counts.
    pub writers: Vec<usize>,
    /// Payload sizes.
    pub sizes: Vec<usize>,
    /// Warm-up per run, in seconds.
    pub warmup_secs: f64,
    /// Measured interval per run, in seconds.
    pub measure_secs: f64,
}

/// One run with its ratio to the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// The run.
    #[serde(flatten)]
    pub run: RunResult,
    /// Its commits/s over the baseline engine's in the same configuration.
    pub ratio_to_baseline: Option<f64>,
}

/// A run that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Engine.
    pub engine: String,
    /// Writers.
    pub writers: usize,
    /// Payload size.
    pub payload_len: usize,
    /// The error.
    pub error: String,
}

/// Everything a `compare` run measured, for `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// How.
    pub settings: Settings,
    /// The disk's limits, unless skipped.
    pub disk: Option<DiskLimits>,
    /// Every run that completed.
    pub runs: Vec<RunRow>,
    /// Every run that failed.
    pub failures: Vec<Failure>,
    /// The buffered workload, per engine.
    pub buffered: Vec<BufferedResult>,
    /// The recovery workload, per engine (warm, then cold).
    pub recovery: Vec<RecoveryResult>,
}

/// What one engine's run (a child process, or one pass in process)
/// produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineResults {
    /// Durable-append runs.
    pub runs: Vec<RunResult>,
    /// Runs that failed (`payload_len` 0 for the buffered and recovery
    /// workloads).
    pub failures: Vec<Failure>,
    /// The buffered workload.
    pub buffered: Vec<BufferedResult>,
    /// The recovery workload.
    pub recovery: Vec<RecoveryResult>,
}

/// Reduces repeated runs of each (engine, writers, payload) to the one with
/// the median commits/s (the lower middle one for an even count), carrying
/// every run's commits/s in `samples`. Keeps first-seen order.
#[must_use]
pub fn median_runs(runs: &[RunResult]) -> Vec<RunResult> {
    let mut keys: Vec<(String, usize, usize)> = Vec::new();
    for r in runs {
        let key = (r.engine.clone(), r.writers, r.payload_len);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .filter_map(|(engine, writers, payload_len)| {
            let mut same: Vec<&RunResult> = runs
                .iter()
                .filter(|r| {
                    r.engine == engine && r.writers == writers && r.payload_len == payload_len
                })
                .collect();
            same.sort_by(|a, b| a.commits_per_sec.total_cmp(&b.commits_per_sec));
            let samples = same.iter().map(|r| r.commits_per_sec).collect();
            let mid = same.get((same.len().saturating_sub(1)) / 2)?;
            let mut out = (*mid).clone();
            out.samples = samples;
            Some(out)
        })
        .collect()
}

/// What a cell of [`matrix_table`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Commits/s, with the ratio to the baseline engine.
    Commits,
    /// p99 latency in µs, with the ratio to the baseline's (lower is
    /// better).
    P99,
}

/// One row per engine, one column per writer count: commits/s (or p99)
/// and its ratio to the baseline's in the same column. Engines that have
/// no run at this size are left out; a missing cell is `-`.
#[must_use]
pub fn matrix_table(
    runs: &[RunResult],
    engines: &[String],
    baseline: &str,
    payload_len: usize,
    metric: Metric,
) -> Table {
    let ws: Vec<usize> = writer_counts(runs, payload_len).into_iter().collect();
    let mut header = vec!["engine".to_owned()];
    header.extend(ws.iter().map(|w| format!("W={w}")));
    let value = |r: &RunResult| match metric {
        Metric::Commits => r.commits_per_sec,
        Metric::P99 => r.latency.p99_us,
    };
    let mut rows = Vec::new();
    for e in engines {
        if !runs
            .iter()
            .any(|r| &r.engine == e && r.payload_len == payload_len)
        {
            continue;
        }
        let mut row = vec![e.clone()];
        for &w in &ws {
            let cell = match find_run(runs, e, w, payload_len) {
                None => "-".to_owned(),
                Some(r) => {
                    let v = value(r);
                    let shown = match metric {
                        Metric::Commits => fmt_int(v),
                        Metric::P99 => fmt_us(v),
                    };
                    let base = find_run(runs, baseline, w, payload_len).map(value);
                    match base.and_then(|b| ratio(v, b)) {
                        Some(x) if e != baseline => format!("{shown} ({})", fmt_ratio(x)),
                        _ => shown,
                    }
                }
            };
            row.push(cell);
        }
        rows.push(row);
    }
    Table { header, rows }
}

/// The buffered workload: one row per engine.
#[must_use]
pub fn buffered_table(results: &[BufferedResult], baseline: &str) -> Table {
    let base = results
        .iter()
        .find(|r| r.engine == baseline)
        .map(|r| r.mb_per_sec);
    let rows = results
        .iter()
        .map(|r| {
            vec![
                r.engine.clone(),
                fmt_int(r.records as f64),
                format!("{:.2}", r.elapsed_secs),
                fmt_rate(r.mb_per_sec),
                fmt_int(r.records_per_sec),
                fmt_opt(base.and_then(|b| ratio(r.mb_per_sec, b)), fmt_ratio),
                format!("{} MiB", r.disk_bytes >> 20),
            ]
        })
        .collect();
    Table {
        header: [
            "engine",
            "records",
            "seconds",
            "MB/s",
            "records/s",
            "x groupwal",
            "on disk",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        rows,
    }
    .rename_ratio(baseline)
}

/// The recovery workload: one row per engine, warm and cold side by side,
/// each with the bare read of the same files ([`super::buffered::bare_read`])
/// and the recovery's time over the bare read's (`recovery / bare`: 1.00x
/// is as fast as reading the files and nothing else). The last column is
/// what the bare read read: whole files, including space the engine
/// preallocated and its recovery may not read.
#[must_use]
pub fn recovery_table(results: &[RecoveryResult], baseline: &str) -> Table {
    let mut engines: Vec<&str> = Vec::new();
    for r in results {
        if !engines.contains(&r.engine.as_str()) {
            engines.push(&r.engine);
        }
    }
    let find = |e: &str, cold: bool| results.iter().find(|r| r.engine == e && r.cold == cold);
    let mut rows = Vec::new();
    for e in engines {
        let mut row = vec![e.to_owned()];
        for cold in [false, true] {
            match find(e, cold) {
                Some(r) => {
                    row.push(format!("{:.2}", r.elapsed_secs));
                    row.push(fmt_rate(r.mb_per_sec));
                    let base = find(baseline, cold).map(|b| b.mb_per_sec);
                    row.push(fmt_opt(
                        base.and_then(|b| ratio(r.mb_per_sec, b)),
                        fmt_ratio,
                    ));
                    row.push(fmt_opt(r.bare.map(|b| b.secs), |s| format!("{s:.2}")));
                    row.push(fmt_opt(
                        r.bare.and_then(|b| ratio(r.elapsed_secs, b.secs)),
                        fmt_ratio,
                    ));
                }
                None => row.extend(std::iter::repeat_n("-".to_owned(), 5)),
            }
        }
        let bare_bytes = find(e, false)
            .or_else(|| find(e, true))
            .and_then(|r| r.bare)
            .map(|b| b.bytes);
        row.push(fmt_opt(bare_bytes.map(|b| b as f64), |b| {
            format!("{:.1} MiB", b / f64::from(1u32 << 20))
        }));
        rows.push(row);
    }
    Table {
        header: [
            "engine",
            "warm s",
            "warm MB/s",
            "x groupwal",
            "bare warm s",
            "warm / bare",
            "cold s",
            "cold MB/s",
            "x groupwal",
            "bare cold s",
            "cold / bare",
            "bare read",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        rows,
    }
    .rename_ratio(baseline)
}

impl Table {
    fn rename_ratio(mut self, baseline: &str) -> Self {
        for h in &mut self.header {
            if h == "x groupwal" {
                *h = format!("x {baseline}");
            }
        }
        self
    }
}

impl Report {
    /// Rows for `runs` with their ratios to `baseline`.
    #[must_use]
    pub fn rows(runs: &[RunResult], baseline: &str) -> Vec<RunRow> {
        runs.iter()
            .map(|r| RunRow {
                run: r.clone(),
                ratio_to_baseline: ratio_to(runs, baseline, r),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{GroupStats, LatencySummary};

    fn run(engine: &str, writers: usize, payload_len: usize, cps: f64) -> RunResult {
        RunResult {
            engine: engine.to_owned(),
            writers,
            payload_len,
            commits: (cps * 2.0) as u64,
            elapsed_secs: 2.0,
            commits_per_sec: cps,
            mb_per_sec: cps * payload_len as f64 / 1e6,
            latency: LatencySummary {
                count: (cps * 2.0) as u64,
                p50_us: 99.5,
                p99_us: 1234.4,
                p999_us: 5.25,
                max_us: 9999.0,
                mean_us: 100.0,
            },
            avg_group: (engine == "window").then_some(3.5),
            group: (engine == "window").then_some(GroupStats {
                records: 7,
                syncs: 2,
            }),
            thread_commits_min: 1,
            thread_commits_max: 2,
            samples: Vec::new(),
        }
    }

    #[test]
    fn medians_of_repeats() {
        let runs = vec![
            run("a", 1, 8, 300.0),
            run("b", 1, 8, 50.0),
            run("a", 1, 8, 100.0),
            run("a", 1, 8, 200.0),
            run("a", 4, 8, 7.0),
            run("a", 4, 8, 9.0),
        ];
        let m = median_runs(&runs);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].engine.as_str(), m[0].commits_per_sec), ("a", 200.0));
        assert_eq!(m[0].samples, [100.0, 200.0, 300.0]);
        assert_eq!(m[1].samples, [50.0]);
        // Even count: the lower middle.
        assert_eq!(m[2].commits_per_sec, 7.0);
    }

    #[test]
    fn matrix_cells_carry_ratios() {
        let runs = vec![
            run("groupwal", 1, 1024, 1000.0),
            run("groupwal", 4, 1024, 4000.0),
            run("peer", 1, 1024, 500.0),
        ];
        let engines = vec!["groupwal".to_owned(), "peer".to_owned(), "none".to_owned()];
        let t = matrix_table(&runs, &engines, "groupwal", 1024, Metric::Commits);
        assert_eq!(t.header, ["engine", "W=1", "W=4"]);
        assert_eq!(t.rows[0], ["groupwal", "1,000", "4,000"]);
        assert_eq!(t.rows[1], ["peer", "500 (0.50x)", "-"]);
        assert_eq!(t.rows.len(), 2);
        let t = matrix_table(&runs, &engines, "groupwal", 1024, Metric::P99);
        assert_eq!(t.rows[1], ["peer", "1,234 (1.00x)", "-"]);
    }

    #[test]
    fn ratios_pair_runs_of_the_same_configuration() {
        let runs = vec![
            run("mutex", 1, 1024, 1000.0),
            run("mutex", 4, 1024, 2000.0),
            run("window", 1, 1024, 500.0),
            run("window", 4, 1024, 10_000.0),
            run("window", 4, 128, 10_000.0),
            run("zero", 4, 1024, 0.0),
        ];
        assert_eq!(ratio_to(&runs, "mutex", &runs[2]), Some(0.5));
        assert_eq!(ratio_to(&runs, "mutex", &runs[3]), Some(5.0));
        assert_eq!(ratio_to(&runs, "mutex", &runs[0]), Some(1.0));
        // No mutex run at 128 B; a zero baseline gives no ratio.
        assert_eq!(ratio_to(&runs, "mutex", &runs[4]), None);
        assert_eq!(ratio_to(&runs, "zero", &runs[3]), None);
        assert_eq!(ratio(3.0, 0.0), None);
        let rows = Report::rows(&runs, "window");
        assert_eq!(rows[1].ratio_to_baseline, Some(0.2));
        assert_eq!(rows[5].ratio_to_baseline, Some(0.0));
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_int(0.0), "0");
        assert_eq!(fmt_int(999.4), "999");
        assert_eq!(fmt_int(1000.0), "1,000");
        assert_eq!(fmt_int(1_234_567.0), "1,234,567");
        assert_eq!(fmt_int(-1234.0), "-1,234");
        assert_eq!(fmt_int(f64::NAN), "-");
        assert_eq!(fmt_us(5.25), "5.2");
        assert_eq!(fmt_us(99.5), "100");
        assert_eq!(fmt_us(20_653.0), "20,653");
        assert_eq!(fmt_rate(1.234), "1.23");
        assert_eq!(fmt_rate(45.67), "45.7");
        assert_eq!(fmt_rate(1234.0), "1,234");
        assert_eq!(fmt_size(128), "128 B");
        assert_eq!(fmt_size(1024), "1 KiB");
        assert_eq!(fmt_size(16384), "16 KiB");
        assert_eq!(fmt_size(1500), "1500 B");
    }

    #[test]
    fn wide_table_renders_aligned_markdown() {
        let runs = vec![
            run("mutex", 1, 1024, 7606.0),
            run("window", 1, 1024, 708.0),
            run("window", 16, 1024, 10_355.0),
            run("mutex", 1, 128, 1.0),
        ];
        let engines = vec!["mutex".to_owned(), "window".to_owned()];
        let t = wide_table(&runs, &engines, "mutex", 1024);
        let expected = "\
| W   | mutex commits/s | MB/s | p50 |   p99 | p99.9 | group | window commits/s | MB/s | p50 |   p99 | p99.9 | group | x mutex |
| --- | --------------: | ---: | --: | ----: | ----: | ----: | ---------------: | ---: | --: | ----: | ----: | ----: | ------: |
| 1   |           7,606 | 7.79 | 100 | 1,234 |   5.2 |     - |              708 | 0.72 | 100 | 1,234 |   5.2 |  3.50 |   0.09x |
| 16  |               - |    - |   - |     - |     - |     - |           10,355 | 10.6 | 100 | 1,234 |   5.2 |  3.50 |       - |
";
        assert_eq!(t.render(), expected);
    }

    #[test]
    fn long_table_has_a_row_per_engine_and_writer_count() {
        let runs = vec![
            run("mutex", 4, 128, 2000.0),
            run("window", 4, 128, 3000.0),
            run("mutex", 1, 128, 1000.0),
        ];
        let engines = vec!["mutex".to_owned(), "window".to_owned()];
        let t = long_table(&runs, &engines, "mutex", 128);
        let firsts: Vec<(&str, &str, &str)> = t
            .rows
            .iter()
            .map(|r| (r[0].as_str(), r[1].as_str(), r[8].as_str()))
            .collect();
        assert_eq!(
            firsts,
            [
                ("1", "mutex", "1.00x"),
                ("4", "mutex", "1.00x"),
                ("4", "window", "1.50x")
            ]
        );
        assert!(t.rows.iter().all(|r| r.len() == t.header.len()));
        assert!(long_table(&runs, &engines, "mutex", 16384).rows.is_empty());
    }

    #[test]
    fn recovery_table_sets_each_recovery_against_its_bare_read() {
        use crate::harness::buffered::BareRead;
        let rec = |engine: &str, cold: bool, secs: f64, bare: Option<f64>| RecoveryResult {
            engine: engine.to_owned(),
            records: 10,
            bytes: 1_000_000,
            elapsed_secs: secs,
            mb_per_sec: 1.0 / secs,
            records_per_sec: 10.0 / secs,
            cold,
            bare: bare.map(|secs| BareRead {
                bytes: 3 << 19,
                secs,
            }),
        };
        let results = vec![
            rec("groupwal", false, 0.4, Some(0.2)),
            rec("groupwal", true, 2.0, Some(1.6)),
            rec("okaywal", false, 0.5, None),
        ];
        let t = recovery_table(&results, "groupwal");
        assert!(t.rows.iter().all(|r| r.len() == t.header.len()));
        assert_eq!(t.header[4], "bare warm s");
        assert_eq!(
            t.rows[0][1..],
            [
                "0.40", "2.50", "1.00x", "0.20", "2.00x", "2.00", "0.50", "1.00x", "1.60", "1.25x",
                "1.5 MiB"
            ]
        );
        assert_eq!(
            t.rows[1][1..],
            [
                "0.50", "2.00", "0.80x", "-", "-", "-", "-", "-", "-", "-", "-"
            ]
        );
    }
}
