//! The crash and fault campaign, in CI: crash-point exploration and fault
//! injection with zero oracle violations; the counts are printed (run with
//! `--nocapture` to see them; `cargo xtask crash` soaks further).

#![allow(clippy::print_stderr)]

mod bit_rot;
mod crash_points;
mod fault_injection;
mod oracle_catches;
#[cfg(unix)]
mod process_kill;
mod read_faults;
mod regressions;
mod stream_crash_points;
mod support;
