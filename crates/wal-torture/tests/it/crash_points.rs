//! Every mutating storage call of a workload is a crash point (the calls
//! of the first open and the final close included); each gets twelve
//! post-crash states (six in the encrypted workloads): the page cache
//! survives, or the power fails, keeping random subsets of the unsynced
//! sectors, lost ones old, zeroed or garbage; and after one of them a crash
//! at every call of the recovery. Workloads with encryption and compression
//! on and off, recycling on and off; the encrypted ones are shorter
//! (AES-GCM is slow in a debug build). In all, about 40,000 (crash point,
//! post-crash state) cases; the streams workload has its own
//! (`stream_crash_points`).

use std::sync::atomic::AtomicU64;

use wal_torture::{CrashConfig, Plan, Workload, crash};

use crate::support::{JOBS, crash_plan, explore_crash_points};

/// Operations per workload: enough to rotate through several segments,
/// purge and truncate, with every call a crash point.
const OPS: usize = 150;

/// Operations per encrypted workload.
const ENCRYPTED_OPS: usize = 50;

/// (crash point, post-crash state) cases so far, over the tests here.
static CASES: AtomicU64 = AtomicU64::new(0);

fn explore(seed: u64) {
    let planned = crash_plan(seed, OPS, ENCRYPTED_OPS);
    let plan = &planned.0;
    let cover = crash::coverage(plan, Workload::Records).unwrap();
    // The workload exercises what it claims to.
    assert!(cover.segments >= 3, "{plan}: {cover:?}");
    assert!(
        cover.batches >= 5 && cover.fragmented >= 3,
        "{plan}: {cover:?}"
    );
    assert!(
        cover.purges >= 1 && cover.truncations >= 2,
        "{plan}: {cover:?}"
    );
    assert_eq!(cover.recycled > 0, plan.recycling, "{plan}: {cover:?}");
    explore_crash_points(
        "crash points",
        &planned,
        Workload::Records,
        cover.calls,
        &CASES,
    );
}

// Seed bits: 0 encryption, 1 compression, 2 clear: recycling.

#[test]
fn plain_recycling() {
    explore(0x1000);
    explore(0x1008);
}

#[test]
fn plain_no_recycling() {
    explore(0x1004);
    explore(0x100c);
}

#[test]
fn compressed_recycling() {
    explore(0x3002);
    explore(0x300a);
}

#[test]
fn compressed_no_recycling() {
    explore(0x3006);
    explore(0x300e);
}

#[test]
fn encrypted_no_recycling() {
    explore(0x2005);
}

#[test]
fn encrypted_and_compressed_recycling() {
    explore(0x4003);
}

/// The parts of a divided exploration check the cases one exploration
/// does: the same counts, whether one thread runs them or several.
#[test]
fn a_divided_exploration_adds_up_to_the_whole() {
    let plan = Plan::from_seed(0x1004, 20);
    let config = CrashConfig {
        variants: 2,
        recovery: true,
    };
    let whole = crash::explore(&plan, Workload::Records, &config);
    let divided = crash::explore_parallel(&plan, Workload::Records, &config, JOBS);
    assert!(whole.counts.crash_points > 0, "{}", whole.counts);
    assert_eq!(divided.counts, whole.counts);
    let mut parts = wal_torture::Outcome::default();
    for part in 0..2 {
        parts.merge(crash::explore_part(
            &plan,
            Workload::Records,
            &config,
            part,
            2,
        ));
    }
    assert_eq!(parts.counts, whole.counts);
}
