//! Raft's RPCs between nodes as JSON over HTTP on loopback: the client
//! side (openraft's `RaftNetworkFactory`, reqwest) and the server side (an
//! axum router). A node may run several Raft groups: each RPC names its
//! group in the path, `/raft/{group}/append`, `/raft/{group}/vote`,
//! `/raft/{group}/snapshot`.
//!
//! Shared by the `raft_kv` example (one group per node) and the
//! `raft_bench` example (one or several).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sm::TypeConfig;

/// An HTTP client for Raft RPCs and client calls. With `keep_alive`,
/// idle connections are kept for the next request (what a benchmark
/// wants); without, every request opens a connection of its own, so a
/// restarted node is reached at once (what the example wants).
pub fn http_client(keep_alive: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder();
    if keep_alive {
        builder.build()
    } else {
        builder.pool_max_idle_per_host(0).build()
    }
}

/// The client side of the network of one Raft group on one node.
#[derive(Clone)]
pub struct Network {
    client: reqwest::Client,
    group: u64,
}

impl Network {
    /// The network Raft group `group` uses, over `client`.
    pub fn new(client: reqwest::Client, group: u64) -> Self {
        Network { client, group }
    }
}

/// One peer, as openraft's replication and elections see it.
pub struct Peer {
    target: u64,
    /// `http://{addr}/raft/{group}`.
    base: String,
    client: reqwest::Client,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            target,
            base: format!("http://{}/raft/{}", node.addr, self.group),
            client: self.client.clone(),
        }
    }
}

impl Peer {
    async fn call<Req, Resp, E>(
        &self,
        rpc: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let resp = self
            .client
            .post(format!("{}/{rpc}", self.base))
            .json(req)
            .timeout(option.hard_ttl())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        let resp = resp
            .error_for_status()
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let result: Result<Resp, RaftError<u64, E>> = resp
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call("vote", &rpc, &option).await
    }
}

/// The Raft groups a node serves, by group id.
type Groups = Arc<BTreeMap<u64, Raft<TypeConfig>>>;

fn group(groups: &Groups, id: u64) -> Result<&Raft<TypeConfig>, StatusCode> {
    groups.get(&id).ok_or(StatusCode::NOT_FOUND)
}

async fn append(
    State(groups): State<Groups>,
    Path(id): Path<u64>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Result<Json<Result<AppendEntriesResponse<u64>, RaftError<u64>>>, StatusCode> {
    Ok(Json(group(&groups, id)?.append_entries(rpc).await))
}

async fn vote(
    State(groups): State<Groups>,
    Path(id): Path<u64>,
    Json(rpc): Json<VoteRequest<u64>>,
) -> Result<Json<Result<VoteResponse<u64>, RaftError<u64>>>, StatusCode> {
    Ok(Json(group(&groups, id)?.vote(rpc).await))
}

async fn snapshot(
    State(groups): State<Groups>,
    Path(id): Path<u64>,
    Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Result<
    Json<Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>>,
    StatusCode,
> {
    Ok(Json(group(&groups, id)?.install_snapshot(rpc).await))
}

/// The server side: the routes of the Raft RPCs of `groups` (group id to
/// the node's Raft of that group). A group not served answers 404.
pub fn raft_routes(groups: BTreeMap<u64, Raft<TypeConfig>>) -> Router {
    Router::new()
        .route("/raft/{group}/append", post(append))
        .route("/raft/{group}/vote", post(vote))
        .route("/raft/{group}/snapshot", post(snapshot))
        .with_state(Arc::new(groups))
}

/// An HTTP server on a task of its own, until stopped.
pub struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `app` on `listener`.
    pub fn spawn(listener: tokio::net::TcpListener, app: Router) -> Server {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Server { stop, task }
    }

    /// Stops accepting connections and waits for the server to end.
    pub async fn stop(self) -> Result<(), Box<dyn Error + Send + Sync>> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}
