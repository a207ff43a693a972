//! A key-value node: openraft with groupwal as its log, its Raft RPCs
//! (`net.rs`) and a client API as JSON over HTTP (axum serves, reqwest
//! calls), and a cluster of such nodes on loopback, to start, kill and
//! restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use groupwal::{Wal, WalOptions};
use groupwal_openraft::LogStore;
use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};

use crate::net::{Network, Server, http_client, raft_routes};
use crate::sm::{Request, StateMachine, TypeConfig};

/// What goes wrong here, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The Raft group every node of this cluster is in (its stream in each
/// node's log).
const GROUP: u64 = 1;

/// How long a wait for the cluster (an election, a catch-up) may take
/// before it is reported as a failure: a guard against a hang.
const GUARD: Duration = Duration::from_secs(60);

/// The server side of the client API: what its HTTP handlers reach.
#[derive(Clone)]
struct Served {
    raft: Raft<TypeConfig>,
    sm: StateMachine,
}

type WriteResult =
    Result<ClientWriteResponse<TypeConfig>, RaftError<u64, ClientWriteError<u64, BasicNode>>>;

async fn write(State(s): State<Served>, Json(req): Json<Request>) -> Json<WriteResult> {
    Json(s.raft.client_write(req).await)
}

async fn read(State(s): State<Served>, Json(key): Json<String>) -> Json<Option<String>> {
    Json(s.sm.get(&key))
}

/// A running node: Raft on its own groupwal log, served over HTTP.
pub struct Node {
    /// Its Raft handle.
    pub raft: Raft<TypeConfig>,
    /// Its state machine.
    pub sm: StateMachine,
    wal: Arc<Wal>,
    server: Server,
}

impl Node {
    /// Starts node `id` on the log in `dir` (a new one, or the one it left),
    /// serving on `listener`.
    pub async fn start(
        id: u64,
        dir: PathBuf,
        listener: tokio::net::TcpListener,
    ) -> Result<Node, BoxError> {
        let wal = tokio::task::spawn_blocking(move || Wal::open(dir, &WalOptions::new()))
            .await??
            .0;
        let wal = Arc::new(wal);
        let log_store = LogStore::<TypeConfig>::open_async(wal.clone(), GROUP).await?;
        let sm = StateMachine::default();
        let config = Config {
            cluster_name: "raft-kv".into(),
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            // The state machine lives in memory and is rebuilt from the
            // log, which is therefore never purged.
            snapshot_policy: SnapshotPolicy::Never,
            ..Default::default()
        }
        .validate()?;
        let network = Network::new(http_client(false)?, GROUP);
        let raft = Raft::new(id, Arc::new(config), network, log_store, sm.clone()).await?;
        let app = Router::new()
            .route("/kv/write", post(write))
            .route("/kv/read", post(read))
            .with_state(Served {
                raft: raft.clone(),
                sm: sm.clone(),
            })
            .merge(raft_routes(BTreeMap::from([(GROUP, raft.clone())])));
        Ok(Node {
            raft,
            sm,
            wal,
            server: Server::spawn(listener, app),
        })
    }

    /// Stops the node as a crash would, as far as its peers can tell: it
    /// stops answering, its Raft stops, and its log is closed with what
    /// was durable (nothing more is written for it). Returns once the
    /// directory can be opened again.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.server.stop().await?;
        self.raft.shutdown().await?;
        drop(self.raft);
        // Replication tasks openraft detached at shutdown hold readers of
        // the log until they see their channel closed.
        let deadline = Instant::now() + GUARD;
        let mut wal = self.wal;
        let wal = loop {
            match Arc::try_unwrap(wal) {
                Ok(w) => break w,
                Err(shared) if Instant::now() < deadline => {
                    wal = shared;
                    tokio::task::yield_now().await;
                }
                Err(_) => return Err("the log is still in use after the node stopped".into()),
            }
        };
        tokio::task::spawn_blocking(move || wal.close()).await??;
        Ok(())
    }
}

/// A cluster of nodes on loopback, each with a directory of its own.
pub struct Cluster {
    /// The running nodes.
    pub nodes: BTreeMap<u64, Node>,
    addrs: BTreeMap<u64, SocketAddr>,
    base: PathBuf,
    client: reqwest::Client,
}

impl Cluster {
    /// A cluster of no node (a placeholder).
    pub fn empty() -> Cluster {
        Cluster {
            nodes: BTreeMap::new(),
            addrs: BTreeMap::new(),
            base: PathBuf::new(),
            client: reqwest::Client::new(),
        }
    }

    /// Starts nodes `1..=n` with their logs under `base` and makes them a
    /// cluster.
    pub async fn start(base: &Path, n: u64) -> Result<Cluster, BoxError> {
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            addrs: BTreeMap::new(),
            base: base.to_owned(),
            client: http_client(false)?,
        };
        for id in 1..=n {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            cluster.addrs.insert(id, listener.local_addr()?);
            let node = Node::start(id, cluster.dir(id), listener).await?;
            cluster.nodes.insert(id, node);
        }
        let members: BTreeMap<u64, BasicNode> = cluster
            .addrs
            .iter()
            .map(|(&id, addr)| (id, BasicNode::new(addr.to_string())))
            .collect();
        cluster.nodes[&1].raft.initialize(members).await?;
        Ok(cluster)
    }

    /// Node `id`'s log directory.
    pub fn dir(&self, id: u64) -> PathBuf {
        self.base.join(format!("node-{id}"))
    }

    /// Node `id`'s address.
    pub fn addr(&self, id: u64) -> SocketAddr {
        self.addrs[&id]
    }

    /// The leader the running nodes agree on (waits for an election).
    pub async fn leader(&self) -> Result<u64, BoxError> {
        let deadline = Instant::now() + GUARD;
        loop {
            let Some(node) = self.nodes.values().next() else {
                return Err("no node is running".into());
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let m = node
                .raft
                .wait(Some(left))
                .metrics(
                    |m| {
                        m.current_leader
                            .is_some_and(|l| self.nodes.contains_key(&l))
                    },
                    "a running leader",
                )
                .await?;
            let Some(leader) = m.current_leader else {
                continue;
            };
            // Every running node follows it.
            let mut all = true;
            for n in self.nodes.values() {
                let left = deadline.saturating_duration_since(Instant::now());
                all &= n
                    .raft
                    .wait(Some(left))
                    .current_leader(leader, "the same leader")
                    .await
                    .is_ok();
            }
            if all {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err("the nodes agree on no leader".into());
            }
        }
    }

    /// Writes `key = value` through the leader over HTTP; returns the
    /// entry's log index once it is committed.
    pub async fn write(&self, key: &str, value: &str) -> Result<u64, BoxError> {
        let mut leader = self.leader().await?;
        let deadline = Instant::now() + GUARD;
        loop {
            let req = Request {
                key: key.to_owned(),
                value: value.to_owned(),
            };
            let r: WriteResult = self
                .client
                .post(format!("http://{}/kv/write", self.addr(leader)))
                .json(&req)
                .send()
                .await?
                .json()
                .await?;
            match r {
                Ok(resp) => return Ok(resp.log_id.index),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))
                    if Instant::now() < deadline =>
                {
                    leader = match f.leader_id {
                        Some(l) if self.nodes.contains_key(&l) => l,
                        _ => self.leader().await?,
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// What node `id` has applied for `key`, asked over HTTP.
    pub async fn read(&self, id: u64, key: &str) -> Result<Option<String>, BoxError> {
        Ok(self
            .client
            .post(format!("http://{}/kv/read", self.addr(id)))
            .json(key)
            .send()
            .await?
            .json()
            .await?)
    }

    /// Stops node `id` (see [`Node::stop`]).
    pub async fn kill(&mut self, id: u64) -> Result<(), BoxError> {
        let node = self.nodes.remove(&id).ok_or("no such node")?;
        node.stop().await
    }

    /// Starts node `id` again from its directory, at its address.
    pub async fn restart(&mut self, id: u64) -> Result<(), BoxError> {
        let listener = tokio::net::TcpListener::bind(self.addr(id)).await?;
        let node = Node::start(id, self.dir(id), listener).await?;
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Waits until node `id` has applied the log up to `index`.
    pub async fn caught_up(&self, id: u64, index: u64) -> Result<(), BoxError> {
        self.nodes[&id]
            .raft
            .wait(Some(GUARD))
            .applied_index_at_least(Some(index), "caught up")
            .await?;
        Ok(())
    }

    /// Stops every node.
    pub async fn stop(mut self) -> Result<(), BoxError> {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.kill(id).await?;
        }
        Ok(())
    }
}
