//! `groupwal`: the command-line tool for groupwal logs.
//!
//! Append lines from standard input, dump records, verify a log without
//! changing it, show what a log directory holds, and run the durable
//! concurrent-append benchmark. Run `groupwal --help` (and `groupwal
//! COMMAND --help`) for the contract: arguments, output formats, the key
//! file format and the exit codes.
//!
//! Exit codes (the README's): 0 success; 1 corruption found (`verify`,
//! and `dump` and `stat` when they reach damage); 2 bad usage or an I/O
//! error (bad arguments, a missing directory, not a log directory, a
//! missing or wrong key, a bad key file, a disk error). Errors go to
//! standard error, one line with the cause chain.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod append;
mod bench;
mod cli;
mod dump;
mod error;
mod keys;
mod logdir;
mod stat;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, Code};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; clap knows which is which.
            let code = if e.use_stderr() {
                Code::Usage
            } else {
                Code::Ok
            };
            // Nothing more to do if the terminal is gone.
            let _ = e.print();
            return code.into();
        }
    };
    let result = match cli.command {
        Command::Append(args) => append::run(&args),
        Command::Dump(args) => dump::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Stat(args) => stat::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Keygen(args) => keys::keygen(&args),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) if e.is_broken_pipe() => Code::Ok.into(),
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "groupwal: {e}");
            e.code().into()
        }
    }
}

/// A command's result: the exit code to use on success (verify reports
/// corruption with [`Code::Corrupt`] without failing), or an error.
type Outcome = Result<Code, CliError>;
