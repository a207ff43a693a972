//! `groupwal append`: one record per line of standard input, or one
//! entry of a stream (`--stream`).

use std::fmt;
use std::io::{BufRead, Read, Write};
use std::sync::mpsc;

use groupwal::format::StreamHeader;
use groupwal::{Lsn, Pending, StreamPending, Wal};

use crate::Outcome;
use crate::cli::AppendArgs;
use crate::error::{self, CliError, Code};

/// How many submitted records may wait for their acknowledgement before the
/// reader of standard input waits (the log bounds in-flight bytes too).
const MAX_UNACKED: usize = 1 << 16;

/// The longest line accepted: the largest record of the default options.
const MAX_LINE: usize = 64 << 20;

/// The longest line accepted as a stream entry: the largest record less
/// the stream header.
const MAX_ENTRY: usize = MAX_LINE - StreamHeader::ENCODED_LEN;

/// What one line became: a record of the log, or an entry of a stream.
enum Queued {
    Record(Pending),
    Entry(StreamPending),
}

impl Queued {
    /// Blocks until durable.
    fn wait(self) -> groupwal::Result<Acked> {
        match self {
            Queued::Record(p) => Ok(Acked {
                lsn: p.wait()?,
                index: None,
            }),
            Queued::Entry(p) => {
                let lsn = p.lsn();
                Ok(Acked {
                    index: Some(p.wait()?),
                    lsn,
                })
            }
        }
    }
}

/// A durable record: its LSN, and its index if it is a stream entry.
#[derive(Clone, Copy)]
struct Acked {
    lsn: Lsn,
    index: Option<u64>,
}

impl fmt::Display for Acked {
    /// `LSN`, or `INDEX<TAB>LSN` for a stream entry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "{index}\t{}", self.lsn),
            None => write!(f, "{}", self.lsn),
        }
    }
}

pub(crate) fn run(args: &AppendArgs) -> Outcome {
    let mut options = crate::logdir::options(args.key_file.as_deref())?;
    options.sync_mode(args.sync.into());
    if args.compress {
        if cfg!(feature = "compression") {
            options.compression_level(Some(3));
        } else {
            return Err(CliError::usage(
                "--compress needs a groupwal built with the `compression` feature",
            ));
        }
    }
    if let Some(size) = args.segment_size {
        options.segment_size(size);
    }
    refuse_foreign_dir(&args.dir)?;
    let (wal, report) = Wal::open(&args.dir, &options).map_err(|e| {
        if crate::error::is_locked(&e) {
            // Names the directory and, when the system tells, the holder.
            return CliError::usage(e.to_string());
        }
        CliError::wal(format!("opening {}", args.dir.display()), e)
    })?;
    if let Some(losses) = report.losses() {
        // Whatever recovery dropped is said, on standard error.
        let _ = writeln!(
            std::io::stderr().lock(),
            "groupwal: recovering {}: {losses}",
            args.dir.display()
        );
    }

    // What is printed when nothing was appended: where the log (and the
    // stream) ends.
    let before = Acked {
        lsn: report.last_lsn,
        index: args
            .stream
            .map(|id| wal.stream(id).next_index().saturating_sub(1)),
    };

    // The main thread reads lines and submits each at once; the acker waits
    // on the handles in order (records become durable in LSN order) and
    // prints each LSN the moment it is durable.
    let (tx, rx) = mpsc::sync_channel::<Queued>(MAX_UNACKED);
    let ack = args.ack;
    let (read_result, ack_result) = std::thread::scope(|scope| {
        let acker = scope.spawn(move || acknowledge(&rx, ack));
        let read_result = submit_lines(&wal, args.stream, &tx);
        drop(tx);
        let ack_result = acker.join().unwrap_or_else(|_| {
            Err(CliError::failure(
                "internal error",
                std::io::Error::other("the acknowledging thread panicked"),
            ))
        });
        (read_result, ack_result)
    });
    let closed = wal
        .close()
        .map_err(|e| CliError::wal(format!("closing {}", args.dir.display()), e));
    read_result?;
    let last = ack_result?;
    closed?;
    if !ack {
        let last = last.unwrap_or(before);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{last}").map_err(error::output)?;
        out.flush().map_err(error::output)?;
    }
    Ok(Code::Ok)
}

/// A directory that holds files but no log is most likely a mistake (a
/// log would be created among those files): refuse it. A missing or empty
/// directory is fine (the log is created).
fn refuse_foreign_dir(dir: &std::path::Path) -> Result<(), CliError> {
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        // Missing (created by the open), or not a directory (the open says).
        return Ok(());
    };
    if entries.next().is_none() {
        return Ok(());
    }
    crate::logdir::check_dir(dir)
}

/// Reads standard input line by line, submitting each line (without its
/// `\n`) as soon as it is read: as a record, or as an entry of `stream`.
fn submit_lines(
    wal: &Wal,
    stream: Option<u64>,
    tx: &mpsc::SyncSender<Queued>,
) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let (max, what) = match stream {
        Some(_) => (MAX_ENTRY, "stream entry"),
        None => (MAX_LINE, "record"),
    };
    // One byte more than the largest record, and its newline: a longer
    // line is refused before it is all in memory.
    let limit = max as u64 + 2;
    for number in 1u64.. {
        line.clear();
        let n = (&mut input)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::io("reading standard input", e))?;
        if n == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.len() > max {
            return Err(CliError::usage(format!(
                "line {number} is longer than the largest {what} ({max} bytes)"
            )));
        }
        let queued = match stream {
            Some(id) => wal.stream(id).submit(&line).map(Queued::Entry),
            None => wal.submit(&line).map(Queued::Record),
        }
        .map_err(|e| CliError::wal(format!("appending a {what}"), e))?;
        if tx.send(queued).is_err() {
            // The acker stopped (it exits the process on an error).
            return Ok(());
        }
    }
    Ok(())
}

/// Waits on each record in order; with `print`, prints each LSN (and
/// index) once durable. Returns the last durable record.
fn acknowledge(rx: &mpsc::Receiver<Queued>, print: bool) -> Result<Option<Acked>, CliError> {
    let stdout = std::io::stdout();
    let mut last = None;
    for queued in rx {
        let acked = match queued.wait() {
            Ok(acked) => acked,
            Err(e) => {
                // The log is poisoned: nothing more can be made durable.
                // Stop now rather than when standard input ends (a driver
                // waiting for an acknowledgement would wait forever).
                let e = CliError::wal("making a record durable", e);
                let _ = writeln!(std::io::stderr().lock(), "groupwal: {e}");
                std::process::exit(i32::from(e.code().number()));
            }
        };
        if print {
            let mut out = stdout.lock();
            writeln!(out, "{acked}").map_err(error::output)?;
            out.flush().map_err(error::output)?;
        }
        last = Some(acked);
    }
    Ok(last)
}
