//! The `compare` binary's arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::disk::DiskConfig;

/// Durable-append comparison: engines side by side with the disk's own
/// limits, in one run.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "compare", version, about)]
pub struct CompareArgs {
    /// Engines to run, in column order (see `--list`; default: groupwal,
    /// the baselines and every peer built in).
    #[arg(long, value_delimiter = ',')]
    pub engines: Vec<String>,
    /// Concurrent writer counts.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256")]
    pub writers: Vec<usize>,
    /// Payload sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "128,1024,16384")]
    pub sizes: Vec<usize>,
    /// Measured seconds per run (also the length of the disk's fsync loop).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Warm-up seconds per run (appends not counted).
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Runs of each durable configuration; the run with the median commits/s
    /// is reported (all samples go to the JSON). Repeats go round the
    /// engines, so noise spreads over all of them.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// MiB the buffered workload writes per engine (one writer, 1 KiB
    /// records, no sync per record), then read back by the recovery
    /// workload. 0 skips both.
    #[arg(long, default_value_t = 1024)]
    pub buffered_mib: u64,
    /// Payload bytes per record of the buffered workload.
    #[arg(long, default_value_t = 1024)]
    pub buffered_size: usize,
    /// Skip the durable-append matrix (run only the buffered and recovery
    /// workloads and the disk's limits).
    #[arg(long)]
    pub no_durable: bool,
    /// Write SVG plots (commits/s and p99 against writers, per payload
    /// size) into this directory.
    #[arg(long)]
    pub svg_dir: Option<PathBuf>,
    /// Run every engine in this process instead of one child process per
    /// engine (and per repeat).
    #[arg(long)]
    pub in_process: bool,
    /// Internal: run as a child of `compare` (no tables; results to
    /// `--json`).
    #[arg(long, hide = true)]
    pub child: bool,
    /// Ratios are taken against this engine (default: groupwal if it runs,
    /// else the first listed).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Parent directory for the run's fresh temporary directory (default:
    /// $TMPDIR, or the current directory if $TMPDIR is in memory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Also write every result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Skip measuring the disk's own limits.
    #[arg(long)]
    pub no_disk: bool,
    /// MiB written by each sequential-bandwidth test of the disk.
    #[arg(long, default_value_t = 256)]
    pub disk_mib: u64,
    /// One row per (writers, engine) instead of one column group per engine.
    #[arg(long)]
    pub long: bool,
    /// List the engines and exit.
    #[arg(long)]
    pub list: bool,
}

impl CompareArgs {
    /// Checks the arguments against each other and against the known
    /// engines; returns the baseline engine's name.
    ///
    /// # Errors
    ///
    /// A message for the user.
    pub fn validate(&self, known: &[&str]) -> Result<String, String> {
        if self.engines.is_empty() {
            return Err("--engines: name at least one engine".to_owned());
        }
        if self.repeat == 0 {
            return Err("--repeat: at least 1".to_owned());
        }
        if self.buffered_mib > 0 && self.buffered_size < super::buffered::MIN_PAYLOAD {
            return Err(format!(
                "--buffered-size: at least {} bytes",
                super::buffered::MIN_PAYLOAD
            ));
        }
        for e in &self.engines {
            if !known.contains(&e.as_str()) {
                return Err(format!("unknown engine {e:?}; known: {}", known.join(", ")));
            }
        }
        for (i, e) in self.engines.iter().enumerate() {
            if self.engines[..i].contains(e) {
                return Err(format!("--engines: {e:?} is listed twice"));
            }
        }
        if self.writers.is_empty() || self.writers.contains(&0) {
            return Err("--writers: counts must be at least 1".to_owned());
        }
        if self.sizes.is_empty() {
            return Err("--sizes: give at least one payload size".to_owned());
        }
        secs("--seconds", self.seconds, false)?;
        secs("--warmup", self.warmup, true)?;
        let baseline = self.baseline.clone().unwrap_or_else(|| {
            if self.engines.iter().any(|e| e == "groupwal") {
                "groupwal".to_owned()
            } else {
                self.engines[0].clone()
            }
        });
        if !self.engines.contains(&baseline) {
            return Err(format!("--baseline {baseline:?} is not one of --engines"));
        }
        Ok(baseline)
    }

    /// Fills in the default engine list when none was given.
    pub fn default_engines(&mut self, defaults: &[&str]) {
        if self.engines.is_empty() {
            self.engines = defaults.iter().map(|s| (*s).to_owned()).collect();
        }
    }

    /// The measured interval.
    #[must_use]
    pub fn measure(&self) -> Duration {
        Duration::try_from_secs_f64(self.seconds).unwrap_or_default()
    }

    /// The warm-up.
    #[must_use]
    pub fn warmup(&self) -> Duration {
        Duration::try_from_secs_f64(self.warmup).unwrap_or_default()
    }

    /// The disk measurements these arguments ask for.
    #[must_use]
    pub fn disk_config(&self) -> DiskConfig {
        DiskConfig {
            fsync_duration: self.measure(),
            seq_bytes: self.disk_mib << 20,
            ..DiskConfig::default()
        }
    }
}

fn secs(name: &str, x: f64, zero_ok: bool) -> Result<(), String> {
    let ok = x.is_finite() && (x > 0.0 || (zero_ok && x == 0.0)) && x < 86_400.0;
    if ok {
        Ok(())
    } else {
        Err(format!("{name}: {x} is not a usable number of seconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["groupwal", "mutex", "window"];

    fn parse(args: &[&str]) -> CompareArgs {
        CompareArgs::try_parse_from(std::iter::once("compare").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_are_the_full_matrix() {
        let mut a = parse(&[]);
        assert!(a.engines.is_empty());
        a.default_engines(KNOWN);
        assert_eq!(a.engines, KNOWN);
        assert_eq!((a.repeat, a.buffered_mib, a.buffered_size), (1, 1024, 1024));
        assert!(!a.in_process && !a.child && !a.no_durable);
        assert_eq!(a.writers, [1, 4, 16, 64, 256]);
        assert_eq!(a.sizes, [128, 1024, 16384]);
        assert_eq!(a.measure(), Duration::from_secs(3));
        assert_eq!(a.warmup(), Duration::from_millis(500));
        assert_eq!(
            (a.dir.clone(), a.json.clone(), a.no_disk, a.long),
            (None, None, false, false)
        );
        assert_eq!(a.validate(KNOWN), Ok("groupwal".to_owned()));
        assert_eq!(a.disk_config().seq_bytes, 256 << 20);
        assert_eq!(a.disk_config().fsync_duration, Duration::from_secs(3));
    }

    #[test]
    fn lists_and_options() {
        let a = parse(&[
            "--engines",
            "window,mutex",
            "--writers",
            "2,8",
            "--sizes=64",
            "--seconds",
            "0.25",
            "--baseline",
            "mutex",
            "--dir",
            "/x",
            "--json",
            "out.json",
            "--no-disk",
            "--disk-mib",
            "8",
        ]);
        assert_eq!(a.engines, ["window", "mutex"]);
        assert_eq!(a.writers, [2, 8]);
        assert_eq!(a.sizes, [64]);
        assert_eq!(a.measure(), Duration::from_millis(250));
        assert_eq!(a.dir, Some(PathBuf::from("/x")));
        assert_eq!(a.json, Some(PathBuf::from("out.json")));
        assert!(a.no_disk);
        assert_eq!(a.disk_config().seq_bytes, 8 << 20);
        assert_eq!(a.validate(KNOWN), Ok("mutex".to_owned()));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let bad_parse = |args: &[&str]| {
            CompareArgs::try_parse_from(std::iter::once("compare").chain(args.iter().copied()))
                .is_err()
        };
        assert!(bad_parse(&["--writers", "1,x"]));
        assert!(bad_parse(&["--sizes", "-1"]));
        assert!(bad_parse(&["--seconds", "soon"]));
        assert!(bad_parse(&["--frobnicate"]));

        let invalid = |args: &[&str]| {
            let mut a = parse(args);
            a.default_engines(KNOWN);
            a.validate(KNOWN).unwrap_err()
        };
        assert!(invalid(&["--engines", "mutex,rocks"]).contains("unknown engine \"rocks\""));
        assert!(invalid(&["--engines", "mutex,mutex"]).contains("twice"));
        assert!(invalid(&["--writers", "0"]).contains("at least 1"));
        assert!(invalid(&["--seconds", "0"]).contains("--seconds"));
        assert!(invalid(&["--seconds", "NaN"]).contains("--seconds"));
        assert!(invalid(&["--warmup=-1"]).contains("--warmup"));
        assert!(invalid(&["--engines", "window", "--baseline", "mutex"]).contains("--baseline"));
        assert!(invalid(&["--engines", "mutex", "--repeat", "0"]).contains("--repeat"));
        assert!(
            invalid(&["--engines", "mutex", "--buffered-size", "4"]).contains("--buffered-size")
        );
        assert_eq!(
            parse(&["--engines", "mutex,window", "--warmup", "0"]).validate(KNOWN),
            Ok("mutex".to_owned())
        );
    }
}
