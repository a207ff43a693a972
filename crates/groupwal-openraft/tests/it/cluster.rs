//! The `raft_kv` example's cluster, in this process over loopback: three
//! nodes with groupwal logs, writes through the leader, the leader
//! stopped, a new one elected, more writes, the old leader restarted from
//! its directory; every acknowledged write is then readable on every node.
//! Twice over, so the restarted node also leads and is stopped again.

use std::sync::Arc;

#[path = "../../examples/raft_kv/cluster.rs"]
mod kv;

use kv::Cluster;

/// Writes `n` keys from `from` on, several at once; returns them with the
/// last log index.
async fn write_many(cluster: &mut Cluster, from: u64, n: u64) -> (Vec<(String, String)>, u64) {
    let shared = Arc::new(std::mem::replace(cluster, Cluster::empty()));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4 {
        let c = shared.clone();
        tasks.spawn(async move {
            let mut done = Vec::new();
            let mut last = 0;
            for i in (from..from + n).filter(|i| i % 4 == w) {
                let (key, value) = (format!("key-{i}"), format!("value-{i}"));
                last = last.max(c.write(&key, &value).await.unwrap());
                done.push((key, value));
            }
            (done, last)
        });
    }
    let mut written = Vec::new();
    let mut last = 0;
    while let Some(r) = tasks.join_next().await {
        let (done, l) = r.unwrap();
        written.extend(done);
        last = last.max(l);
    }
    *cluster = Arc::into_inner(shared).unwrap();
    (written, last)
}

#[test]
fn a_leader_stopped_and_restarted_from_its_log_catches_up() {
    let rt = crate::support::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let mut cluster = Cluster::start(dir.path(), 3).await.unwrap();
        let mut written = Vec::new();
        let mut next = 0;
        for round in 0..2 {
            let (w, _) = write_many(&mut cluster, next, 20).await;
            written.extend(w);
            next += 20;
            let leader = cluster.leader().await.unwrap();
            cluster.kill(leader).await.unwrap();
            let new_leader = cluster.leader().await.unwrap();
            assert_ne!(new_leader, leader, "round {round}");
            let (w, last) = write_many(&mut cluster, next, 20).await;
            written.extend(w);
            next += 20;
            cluster.restart(leader).await.unwrap();
            cluster.caught_up(leader, last).await.unwrap();
            for id in 1..=3 {
                cluster.caught_up(id, last).await.unwrap();
                for (key, value) in &written {
                    assert_eq!(
                        cluster.read(id, key).await.unwrap().as_deref(),
                        Some(value.as_str()),
                        "round {round}: node {id}, {key}"
                    );
                }
            }
        }
        cluster.stop().await.unwrap();
    });
}
