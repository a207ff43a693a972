//! wal-io's integration tests: one binary, a module per scenario. Every
//! scenario runs on the simulated disk and, where it makes sense, on the
//! real file system (a temporary directory under the target directory's
//! file system).
//!
//! Tests print their seeds and skip reasons to stderr, as the house rules
//! ask.

#![allow(clippy::print_stderr)]

mod clean_close;
mod errors;
mod faults_and_crashes;
mod hostile_files;
mod lock;
mod preallocation;
mod recycling;
mod rotation;
mod segment_hook;
mod sim_faults;
mod support;
mod sync_modes;
mod truncation;
