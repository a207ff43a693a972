//! wal-format's integration tests, one module per scenario.

mod arbitrary_bytes;
mod bit_flips;
mod fragments;
mod golden;
mod round_trip;
mod support;
