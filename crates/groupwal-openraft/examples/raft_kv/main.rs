//! A three-node replicated key-value store on localhost, each node's Raft
//! log in a groupwal log of its own (`groupwal-openraft`).
//!
//! ```sh
//! cargo run --release --example raft_kv [-- DIR]
//! ```
//!
//! Starts three nodes (tasks in this process, talking JSON over HTTP on
//! loopback), writes through the leader, stops the leader, shows the
//! others elect a new one and take more writes, restarts the old leader
//! from its groupwal directory and shows it catching up: every write
//! acknowledged is then readable on every node. The logs go to a
//! temporary directory, or to DIR (kept).

// The modules are shared with the test that drives the same cluster
// (tests/it/cluster.rs), which uses what this does not.
#![allow(clippy::print_stdout, unreachable_pub, dead_code)]

mod cluster;
mod net;
mod sm;

use cluster::{BoxError, Cluster};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let tmp;
    let base = match std::env::args_os().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let mut cluster = Cluster::start(&base, 3).await?;
    for id in 1..=3 {
        println!(
            "node {id}: http://{}, log in {}",
            cluster.addr(id),
            cluster.dir(id).display()
        );
    }
    let leader = cluster.leader().await?;
    println!("leader: node {leader}");

    let mut written = Vec::new();
    for i in 0..10 {
        let (key, value) = (format!("key-{i}"), format!("value-{i}"));
        let index = cluster.write(&key, &value).await?;
        written.push((key, value));
        if i == 9 {
            println!("10 writes through node {leader}, the last at log index {index}");
        }
    }

    println!("stopping the leader, node {leader}");
    cluster.kill(leader).await?;
    let new_leader = cluster.leader().await?;
    println!("re-elected: node {new_leader} leads the other two");
    let mut last = 0;
    for i in 10..20 {
        let (key, value) = (format!("key-{i}"), format!("value-{i}"));
        last = cluster.write(&key, &value).await?;
        written.push((key, value));
    }
    println!("10 more writes through node {new_leader}, the last at log index {last}");

    println!(
        "restarting node {leader} from {}",
        cluster.dir(leader).display()
    );
    cluster.restart(leader).await?;
    cluster.caught_up(leader, last).await?;
    println!("node {leader} caught up to log index {last}");

    for id in 1..=3 {
        cluster.caught_up(id, last).await?;
        for (key, value) in &written {
            let got = cluster.read(id, key).await?;
            if got.as_deref() != Some(value.as_str()) {
                return Err(format!("node {id}: {key} is {got:?}, not {value}").into());
            }
        }
        println!(
            "node {id}: all {} acknowledged writes readable",
            written.len()
        );
    }
    cluster.stop().await?;
    Ok(())
}
