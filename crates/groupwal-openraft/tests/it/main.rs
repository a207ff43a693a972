//! groupwal-openraft's integration tests: openraft's own storage suite,
//! and what it does not check (restarts, failures, process kills).

#![allow(clippy::print_stderr, unreachable_pub, missing_docs, dead_code)]

mod bench;
mod cluster;
mod contract;
mod crash_points;
mod faults;
#[path = "../../examples/raft_kv/net.rs"]
mod net;
#[cfg(unix)]
mod process_kill;
mod reopen;
#[path = "../../examples/raft_kv/sm.rs"]
mod sm;
mod suite;
mod support;
