//! The `raft_bench` example's client loop, on every variant, for a few
//! writes: every write it counts was acknowledged, and every acknowledged
//! write is readable on the state machine of the leader that acknowledged
//! it, so the benchmark cannot measure writes that did not happen. And
//! its in-memory log store passes openraft's storage suite, so the upper
//! bound it measures is a correct Raft log.

#[path = "../../examples/raft_bench/bench.rs"]
mod raft_bench;

use std::collections::BTreeSet;

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use raft_bench::{BenchCluster, Load, MemLog, Setup, Variant};

use crate::sm::{StateMachine, TypeConfig};
use crate::support::{options, runtime};

const CLIENTS: usize = 3;
const WRITES: u64 = 8;

#[test]
fn every_write_the_bench_loop_counts_is_on_the_leader() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        for variant in Variant::ALL {
            let groups = if variant.multi_group() { 2 } else { 1 };
            let setup = Setup {
                variant,
                groups,
                dir: dir.path().join(variant.name()),
                wal: options(),
            };
            let cluster = BenchCluster::start(&setup).await.unwrap();
            let load = Load {
                clients: CLIENTS,
                warmup: std::time::Duration::ZERO,
                measure: None,
                max_writes: Some(WRITES),
                keep: true,
                value_bytes: 16,
            };
            let outcomes = cluster.run_clients(load).await.unwrap();
            let name = variant.name();
            assert_eq!(outcomes.len(), CLIENTS, "{name}");
            let mut keys = BTreeSet::new();
            let mut used = BTreeSet::new();
            for (i, o) in outcomes.iter().enumerate() {
                assert_eq!(o.writes, WRITES, "{name}: client {i}");
                assert_eq!(o.latencies_us.len() as u64, WRITES, "{name}: client {i}");
                assert_eq!(o.acked.len() as u64, WRITES, "{name}: client {i}");
                for a in &o.acked {
                    assert_eq!(a.group, 1 + i as u64 % groups, "{name}: client {i}");
                    assert_eq!(a.value.len(), 16, "{name}");
                    let sm = cluster.sm(a.node, a.group).unwrap();
                    assert_eq!(
                        sm.get(&a.key).as_deref(),
                        Some(a.value.as_str()),
                        "{name}: {} in group {} on node {}",
                        a.key,
                        a.group,
                        a.node
                    );
                    assert!(keys.insert(a.key.clone()), "{name}: {} twice", a.key);
                    used.insert(a.group);
                }
            }
            assert_eq!(keys.len() as u64, CLIENTS as u64 * WRITES, "{name}");
            assert_eq!(used.len() as u64, groups, "{name}: every group written");
            cluster.stop().await.unwrap();
        }
    });
}

struct MemBuilder;

impl StoreBuilder<TypeConfig, MemLog, StateMachine, ()> for MemBuilder {
    async fn build(&self) -> Result<((), MemLog, StateMachine), StorageError<u64>> {
        Ok(((), MemLog::default(), StateMachine::default()))
    }
}

#[test]
fn the_bench_memory_log_passes_openraft_storage_suite() {
    Suite::test_all(MemBuilder).unwrap();
}
