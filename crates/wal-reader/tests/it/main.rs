//! wal-reader's integration tests: one module per scenario.

#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

mod bit_flips;
mod bounded_memory;
#[cfg(feature = "compression")]
mod compression;
mod crash;
mod differential;
#[cfg(feature = "encryption")]
mod encryption;
mod linear_scan;
mod real_fs;
mod recover_corruption;
mod recover_gaps;
mod recover_torn_tail;
mod round_trip;
mod seek;
mod tailing;
