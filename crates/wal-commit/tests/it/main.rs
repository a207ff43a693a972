//! wal-commit's integration tests, on the simulated disk unless the name
//! says otherwise. Randomized tests print the seed that replays them.

#![allow(clippy::print_stderr)]

mod async_tasks;
mod background_preparation;
mod batches_are_atomic;
mod concurrent_appends;
mod crash_keeps_acknowledged;
#[cfg(feature = "encryption")]
mod encryption;
mod failed_sync_poisons;
#[cfg(feature = "metrics")]
mod metrics;
mod on_durable;
mod pipelined_sync;
mod support;
mod truncation;
mod unsynced;
