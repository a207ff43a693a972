//! Process kills on the real file system: the harness of the SIGKILL
//! tests (this crate's `process_kill`, the facade's records;
//! groupwal-openraft's, a Raft node's storage).
//!
//! A test re-runs its own binary as the child, filtered to itself and told
//! by an environment variable that it is the child. The child reports
//! what it does on its standard output, one line at a time, flushed
//! before it goes on ([`say`]): an acknowledgement is in the pipe before
//! the next operation starts. A report starts with its tag: `S` (started),
//! `O` (opened), an acknowledgement's tag, and the test's own. The parent
//! reads the reports and sends SIGKILL at the moment the test chose
//! ([`KillAt`], counted from the tags by [`KillTest::run_child`]); what the
//! child said before it died is what the parent checks the reopened log
//! against.
//!
//! A SIGKILL loses only what the process had not yet handed to the
//! kernel: the page cache survives it. So these tests check that an
//! acknowledgement is never given early and that recovery copes with the
//! process stopping anywhere; power loss is the simulated disk's job.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use crate::rng::Rng;

/// How long a child may run before the parent gives up on it: a safety
/// net, not a timing assertion. A child that hangs before the kill moment
/// is killed after this, so the test fails (the child stopped early)
/// instead of hanging.
pub const WATCHDOG: Duration = Duration::from_secs(300);

/// One SIGKILL test: its name, the environment variables it reads, and
/// what its child's reports say.
///
/// With `env` `"PREFIX"`: `PREFIX_CHILD` is set in the child (its spec:
/// what the parent tells it of the cycle), `PREFIX_DIR` in the child too
/// (the log directory), `PREFIX_SEED` picks the seed (by default one is
/// drawn from the clock), `PREFIX_CYCLES` the number of cycles.
#[derive(Clone, Copy, Debug)]
pub struct KillTest {
    /// The test's path in its binary (`module::function`): the child runs
    /// it alone.
    pub test: &'static str,
    /// The prefix of its environment variables.
    pub env: &'static str,
    /// Cycles when `PREFIX_CYCLES` is not set.
    pub default_cycles: u64,
    /// How many `O` reports say the child has opened everything.
    pub opens: usize,
    /// The tags of the reports that are acknowledgements.
    pub acks: &'static [&'static str],
}

/// When the parent kills the child.
#[derive(Clone, Copy, Debug)]
pub enum KillAt {
    /// As soon as it says it started (`S`): usually during recovery.
    Start,
    /// As soon as it says it opened everything ([`KillTest::opens`] times
    /// `O`): during the first writes.
    Open,
    /// After this many acknowledgements.
    Acks(u64),
    /// As soon as it says it is starting the n-th operation of a kind
    /// (the n-th report with this one-letter tag, counted from 1): usually
    /// in the middle of it.
    Starting(char, u64),
}

/// What a child said, as the kill moment counts it.
#[derive(Clone, Debug, Default)]
pub struct Said {
    /// It said it started.
    pub started: bool,
    /// `O` reports.
    pub opened: usize,
    /// Acknowledgements.
    pub acks: u64,
    /// Reports by one-letter tag.
    pub tags: BTreeMap<char, u64>,
}

impl Said {
    fn count(&mut self, test: &KillTest, report: &str) {
        let tag = report.split(' ').next().unwrap_or_default();
        match tag {
            "S" => self.started = true,
            "O" => self.opened += 1,
            _ => {}
        }
        self.acks += u64::from(test.acks.contains(&tag));
        let mut chars = tag.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            *self.tags.entry(c).or_default() += 1;
        }
    }

    /// Whether the moment `at` has come.
    #[must_use]
    pub fn reached(&self, test: &KillTest, at: KillAt) -> bool {
        match at {
            KillAt::Start => self.started,
            KillAt::Open => self.opened >= test.opens,
            KillAt::Acks(n) => self.acks >= n,
            KillAt::Starting(c, n) => self.tags.get(&c).is_some_and(|&k| k >= n),
        }
    }
}

impl KillTest {
    /// The variable named `suffix` (`CHILD`, `DIR`, `SEED`, `CYCLES`).
    #[must_use]
    pub fn var(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.env)
    }

    /// In the child: its spec. `None` in the parent.
    #[must_use]
    pub fn child_spec(&self) -> Option<String> {
        std::env::var(self.var("CHILD")).ok()
    }

    /// In the child: the log directory (the child fails without it).
    #[must_use]
    pub fn child_dir(&self) -> String {
        let var = self.var("DIR");
        std::env::var(&var).unwrap_or_else(|e| fail_child(&var, &e))
    }

    /// The seed: `PREFIX_SEED`, or one drawn from the clock.
    #[must_use]
    pub fn seed(&self) -> u64 {
        std::env::var(self.var("SEED"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Rng::mix(t.as_secs() ^ u64::from(t.subsec_nanos()))
            })
    }

    /// The number of cycles: `PREFIX_CYCLES`, or the default.
    #[must_use]
    pub fn cycles(&self) -> u64 {
        std::env::var(self.var("CYCLES"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(self.default_cycles)
    }

    /// Starts the child with `spec`, on the log in `dir`, and hands each
    /// of its reports to `hear` (the line after its `@`); kills it at
    /// `kill_at` (or at once when `hear` fails, or the child reports a
    /// failure, a line `E ...` from [`fail_child`]), and hands `hear` what
    /// it had written before it died. Returns what it said.
    ///
    /// # Errors
    ///
    /// The first error `hear` returned, the failure the child reported,
    /// or: the child could not be started or read, it stopped before the
    /// kill, or ended otherwise than by the kill.
    pub fn run_child(
        &self,
        dir: &Path,
        spec: &str,
        kill_at: KillAt,
        mut hear: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<Said, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args([self.test, "--exact", "--nocapture", "--test-threads=1"])
            .env(self.var("CHILD"), spec)
            .env(self.var("DIR"), AsRef::<OsStr>::as_ref(dir))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let child = Arc::new(Mutex::new(child));
        let lock = || child.lock().unwrap_or_else(PoisonError::into_inner);
        let (done, finished) = mpsc::channel::<()>();
        let watchdog = {
            let child = Arc::clone(&child);
            std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(WATCHDOG) {
                    let _ = child.lock().unwrap_or_else(PoisonError::into_inner).kill();
                }
            })
        };

        let mut said = Said::default();
        let mut killed = false;
        let mut error = None;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = out
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("reading the child: {e}"))?;
            if n == 0 || line.last() != Some(&b'\n') {
                // The end, or a line cut short by the kill.
                break;
            }
            let text = String::from_utf8_lossy(&line);
            // The test harness writes to the same pipe ("test NAME ... "
            // with no newline before the test runs), so a report starts at
            // its `@`.
            let Some((_, report)) = text.trim_end().split_once('@') else {
                continue;
            };
            let heard = if report == "E" || report.starts_with("E ") {
                Err(format!("the child failed: {report}"))
            } else {
                hear(report)
            };
            said.count(self, report);
            let now = match heard {
                Ok(()) => said.reached(self, kill_at),
                Err(e) => {
                    error.get_or_insert(e);
                    true
                }
            };
            if now && !killed {
                killed = true;
                lock().kill().map_err(|e| format!("kill: {e}"))?;
            }
        }
        let status = lock().wait().map_err(|e| format!("wait: {e}"))?;
        drop(done);
        watchdog.join().map_err(|_| "the watchdog panicked")?;
        if let Some(e) = error {
            return Err(e);
        }
        if !killed {
            return Err(format!(
                "the child stopped before the kill ({status}) after {} acknowledgements (one \
                 that hangs is killed after {} s)",
                said.acks,
                WATCHDOG.as_secs()
            ));
        }
        if status.signal() != Some(9) {
            return Err(format!("the child ended with {status}, not by the kill"));
        }
        Ok(said)
    }
}

/// In the child: one report to the parent, handed to the kernel before
/// this returns. If the parent is gone, so is the child.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "@{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(2);
    }
}

/// In the child: tells the parent what failed, and stops. The parent
/// reports it as the test's failure.
pub fn fail_child(what: &str, e: &dyn std::fmt::Display) -> ! {
    say(&format!("E {what}: {e}"));
    std::process::exit(3);
}
