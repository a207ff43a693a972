//! The streams workload at every crash point: appends to several streams
//! (some started at an index of their own with `append_at`), atomic
//! batches across streams, purges (some emptying a stream, whose state
//! must then outlive the segment that held it) and truncations followed by
//! appends that take the truncated indexes again; segments rotate and are
//! removed once no stream needs them. Each crash point gets twelve
//! post-crash states (six in the encrypted workload) and a crash at every
//! call of the recovery; after each, every stream, read through the
//! facade, must be what the acknowledged calls left (or the call in
//! flight, all of it), per the campaign's model.

use std::sync::atomic::AtomicU64;

use wal_torture::{Case, Workload, crash};

use crate::support::{crash_plan, explore_crash_points};

/// Operations per workload: the streams workload verifies more per case
/// (every stream is read back), so fewer than the records workload's.
const OPS: usize = 100;

/// Operations per encrypted workload.
const ENCRYPTED_OPS: usize = 40;

/// (crash point, post-crash state) cases so far, over the tests here.
static CASES: AtomicU64 = AtomicU64::new(0);

fn explore(seed: u64) {
    let encrypted = seed & 1 == 1;
    let planned = crash_plan(seed, OPS, ENCRYPTED_OPS);
    let plan = &planned.0;
    let cover = crash::coverage(plan, Workload::Streams).unwrap();
    // The workload exercises what it claims to.
    assert!(cover.segments >= 3, "{plan}: {cover:?}");
    assert!(
        cover.cross_stream_batches >= 2 && cover.fragmented >= 3,
        "{plan}: {cover:?}"
    );
    assert!(
        cover.purges >= 3 && cover.truncations >= 2 && cover.indexes_reused >= 2,
        "{plan}: {cover:?}"
    );
    assert!(
        cover.streams >= 4 && cover.started_late >= 1,
        "{plan}: {cover:?}"
    );
    if !encrypted {
        // Segments go, among them one holding the state of an empty
        // stream, which the log must write forward first.
        assert!(
            cover.segments_dropped >= 1 && cover.streams_emptied >= 1 && cover.written_forward >= 1,
            "{plan}: {cover:?}"
        );
    }
    let counts = explore_crash_points(
        "stream crash points",
        &planned,
        Workload::Streams,
        cover.calls,
        &CASES,
    );
    assert_eq!(counts.stream_crash_points, cover.calls);
}

// Seed bits: 0 encryption, 1 compression, 2 clear: recycling.

#[test]
fn streams_recycling() {
    explore(0x8000);
}

#[test]
fn streams_compressed_no_recycling() {
    explore(0x8016);
}

#[test]
fn streams_encrypted_recycling() {
    explore(0x8001);
}

#[test]
fn a_stream_crash_case_replays_clean() {
    for text in [
        "crash-streams:0x8000:100:60:3",
        "crash-streams:0x8000:100:60:1:2",
    ] {
        let case: Case = text.parse().unwrap();
        assert_eq!(case.workload(), Workload::Streams);
        assert_eq!(case.to_string(), text);
        wal_torture::replay(&case).unwrap();
    }
}
