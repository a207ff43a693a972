//! The core of the `raft_bench` example: a three-node cluster in this
//! process, its Raft RPCs over loopback (`net.rs`, the `raft_kv`
//! example's), on one of four log stores, and the client loop that
//! measures it. Shared with the test that checks the loop
//! (tests/it/bench.rs).
//!
//! Every node runs `groups` Raft groups (ids `1..=groups`), each on the
//! same key-value state machine (`sm.rs`). The log store is what differs:
//!
//! | variant | a node's log |
//! |---|---|
//! | `groupwal` | one groupwal log, one group in it |
//! | `memory` | an in-memory `RaftLogStorage` ([`MemLog`]): the upper bound for the storage |
//! | `groupwal-shared` | one groupwal log, every group a stream of it (one sync for all) |
//! | `groupwal-per-group` | one groupwal log per group (a sync per group) |

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use groupwal::{Wal, WalOptions};
use groupwal_openraft::LogStore;
use openraft::error::{ClientWriteError, RaftError};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    BasicNode, Config, Entry, LogId, OptionalSend, Raft, ServerState, SnapshotPolicy, StorageError,
    Vote,
};

use crate::net::{Network, Server, http_client, raft_routes};
use crate::sm::{Request, StateMachine, TypeConfig};

/// What goes wrong here, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The cluster's nodes.
pub const NODES: [u64; 3] = [1, 2, 3];

/// How long a wait for the cluster (an election, one write) may take
/// before it is reported as a failure: a guard against a hang.
const GUARD: Duration = Duration::from_secs(60);

/// The log store the nodes run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// One groupwal log per node, one group.
    Groupwal,
    /// [`MemLog`], one group.
    Memory,
    /// One groupwal log per node, every group a stream of it.
    GroupwalShared,
    /// One groupwal log per group per node.
    GroupwalPerGroup,
}

impl Variant {
    /// Every variant, in the order the tables list them.
    pub const ALL: [Variant; 4] = [
        Variant::Groupwal,
        Variant::Memory,
        Variant::GroupwalShared,
        Variant::GroupwalPerGroup,
    ];

    /// Its name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Groupwal => "groupwal",
            Variant::Memory => "memory",
            Variant::GroupwalShared => "groupwal-shared",
            Variant::GroupwalPerGroup => "groupwal-per-group",
        }
    }

    /// The variant named `name`.
    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Whether it runs several groups per node (`--groups`); the others
    /// run one.
    pub fn multi_group(self) -> bool {
        matches!(self, Variant::GroupwalShared | Variant::GroupwalPerGroup)
    }

    /// What its ratio is taken against.
    pub fn baseline(self) -> Variant {
        if self.multi_group() {
            Variant::GroupwalPerGroup
        } else {
            Variant::Memory
        }
    }
}

/// An in-memory `RaftLogStorage`: entries kept as they come, no encoding,
/// every append flushed at once (its callback called before `append`
/// returns). Nothing survives the process. What openraft costs with a
/// log store that costs nothing.
///
/// (`openraft-memstore` 0.9.25 does not fit: it is a v1 `RaftStorage`,
/// log and state machine in one, with types of its own, and it does not
/// build with the `storage-v2` feature this workspace sets.)
#[derive(Clone, Default)]
pub struct MemLog {
    inner: Arc<Mutex<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    vote: Option<Vote<u64>>,
    last_purged: Option<LogId<u64>>,
    log: BTreeMap<u64, Entry<TypeConfig>>,
}

impl MemLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RaftLogReader<TypeConfig> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        Ok(self
            .lock()
            .log
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for MemLog {
    type LogReader = MemLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.lock();
        let last = inner.log.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> MemLog {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        self.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.lock().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut inner = self.lock();
            for entry in entries {
                inner.log.insert(entry.log_id.index, entry);
            }
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.lock().log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.lock();
        let keep = inner.log.split_off(&(log_id.index + 1));
        inner.log = keep;
        inner.last_purged = Some(log_id);
        Ok(())
    }
}

/// How a cluster is set up.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The log store.
    pub variant: Variant,
    /// Raft groups per node (1 for the single-group variants).
    pub groups: u64,
    /// Where the nodes' logs go (`node-{id}`, and `group-{g}` under it for
    /// `groupwal-per-group`); unused by `memory`.
    pub dir: PathBuf,
    /// The options every groupwal log is opened with.
    pub wal: WalOptions,
}

/// The Raft configuration of every group: the `raft_kv` example's, with
/// election timeouts long enough that a busy machine does not start
/// elections in the middle of a measurement.
fn raft_config() -> Result<Config, BoxError> {
    Ok(Config {
        cluster_name: "raft-bench".into(),
        heartbeat_interval: 100,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        // The state machine lives in memory; the log is never purged
        // (no snapshot is built in a measurement).
        snapshot_policy: SnapshotPolicy::Never,
        ..Default::default()
    }
    .validate()?)
}

/// One group on one node.
struct Member {
    raft: Raft<TypeConfig>,
    sm: StateMachine,
}

async fn member<LS: RaftLogStorage<TypeConfig>>(
    id: u64,
    group: u64,
    config: &Arc<Config>,
    client: &reqwest::Client,
    log: LS,
) -> Result<Member, BoxError> {
    let sm = StateMachine::default();
    let network = Network::new(client.clone(), group);
    let raft = Raft::new(id, config.clone(), network, log, sm.clone()).await?;
    Ok(Member { raft, sm })
}

/// Opens a groupwal log on the blocking pool.
async fn open_wal(dir: PathBuf, options: &WalOptions) -> Result<Arc<Wal>, BoxError> {
    let options = options.clone();
    let (wal, _) = tokio::task::spawn_blocking(move || Wal::open(dir, &options)).await??;
    Ok(Arc::new(wal))
}

struct Node {
    members: BTreeMap<u64, Member>,
    wals: Vec<Arc<Wal>>,
    server: Server,
}

impl Node {
    async fn start(
        id: u64,
        setup: &Setup,
        config: &Arc<Config>,
        client: &reqwest::Client,
        listener: tokio::net::TcpListener,
    ) -> Result<Node, BoxError> {
        let node_dir = setup.dir.join(format!("node-{id}"));
        let mut members = BTreeMap::new();
        let mut wals = Vec::new();
        match setup.variant {
            Variant::Memory => {
                for g in 1..=setup.groups {
                    let m = member(id, g, config, client, MemLog::default()).await?;
                    members.insert(g, m);
                }
            }
            Variant::Groupwal | Variant::GroupwalShared => {
                let wal = open_wal(node_dir, &setup.wal).await?;
                for g in 1..=setup.groups {
                    let log = LogStore::<TypeConfig>::open_async(wal.clone(), g).await?;
                    members.insert(g, member(id, g, config, client, log).await?);
                }
                wals.push(wal);
            }
            Variant::GroupwalPerGroup => {
                for g in 1..=setup.groups {
                    let wal = open_wal(node_dir.join(format!("group-{g}")), &setup.wal).await?;
                    let log = LogStore::<TypeConfig>::open_async(wal.clone(), g).await?;
                    members.insert(g, member(id, g, config, client, log).await?);
                    wals.push(wal);
                }
            }
        }
        let app = raft_routes(members.iter().map(|(&g, m)| (g, m.raft.clone())).collect());
        Ok(Node {
            members,
            wals,
            server: Server::spawn(listener, app),
        })
    }
}

/// A running three-node cluster.
pub struct BenchCluster {
    nodes: BTreeMap<u64, Node>,
    groups: u64,
}

/// What a run of the client loop does.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Concurrent clients; client `i` writes to group `1 + i % groups`.
    pub clients: usize,
    /// Writes completed before this much time has passed are not counted.
    pub warmup: Duration,
    /// Each client stops once this much time has passed after the
    /// warm-up (`None`: no time limit).
    pub measure: Option<Duration>,
    /// Each client stops after this many counted writes (`None`: no
    /// limit).
    pub max_writes: Option<u64>,
    /// Whether every acknowledged write is returned ([`Outcome::acked`]).
    pub keep: bool,
    /// The length of each value written.
    pub value_bytes: usize,
}

/// An acknowledged write: `client_write` returned `Ok` on `node`.
#[derive(Clone, Debug)]
pub struct Acked {
    pub group: u64,
    pub node: u64,
    pub key: String,
    pub value: String,
}

/// What one client did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Writes acknowledged within the measured interval.
    pub writes: u64,
    /// Their latencies (from the first call to the acknowledgement,
    /// retries included), in microseconds.
    pub latencies_us: Vec<u32>,
    /// Calls answered "forward to the leader" (a leader change).
    pub retries: u64,
    /// Every write acknowledged, warm-up included (with [`Load::keep`]).
    pub acked: Vec<Acked>,
}

/// The group `rafts` handles, by (node, group), that the clients reach.
type Handles = BTreeMap<(u64, u64), Raft<TypeConfig>>;

impl BenchCluster {
    /// Starts nodes 1, 2 and 3 as `setup` says, each group initialized on
    /// node `1 + (g - 1) % 3` (so the groups' leaders are spread over the
    /// nodes), and waits until every group has a leader.
    pub async fn start(setup: &Setup) -> Result<BenchCluster, BoxError> {
        let client = http_client(true)?;
        let config = Arc::new(raft_config()?);
        let mut listeners = BTreeMap::new();
        for id in NODES {
            listeners.insert(id, tokio::net::TcpListener::bind("127.0.0.1:0").await?);
        }
        let mut members = BTreeMap::new();
        for (&id, listener) in &listeners {
            members.insert(id, BasicNode::new(listener.local_addr()?.to_string()));
        }
        let mut cluster = BenchCluster {
            nodes: BTreeMap::new(),
            groups: setup.groups,
        };
        for (id, listener) in listeners {
            let node = Node::start(id, setup, &config, &client, listener).await;
            match node {
                Ok(node) => {
                    cluster.nodes.insert(id, node);
                }
                Err(e) => {
                    let _ = cluster.stop().await;
                    return Err(e);
                }
            }
        }
        for g in 1..=setup.groups {
            let first = NODES[((g - 1) % 3) as usize];
            cluster.raft(first, g)?.initialize(members.clone()).await?;
        }
        for g in 1..=setup.groups {
            cluster.leader(g).await?;
        }
        Ok(cluster)
    }

    fn raft(&self, node: u64, group: u64) -> Result<&Raft<TypeConfig>, BoxError> {
        Ok(&self
            .nodes
            .get(&node)
            .and_then(|n| n.members.get(&group))
            .ok_or_else(|| format!("no group {group} on node {node}"))?
            .raft)
    }

    /// Group `group`'s state machine on `node`.
    pub fn sm(&self, node: u64, group: u64) -> Option<&StateMachine> {
        Some(&self.nodes.get(&node)?.members.get(&group)?.sm)
    }

    /// The leader of `group` (waits for one that knows it leads).
    pub async fn leader(&self, group: u64) -> Result<u64, BoxError> {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .raft(NODES[0], group)?
                .wait(Some(left))
                .metrics(|m| m.current_leader.is_some(), "a leader")
                .await?;
            let Some(leader) = m.current_leader else {
                continue;
            };
            // It may have stepped down since: ask again after a while.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(5));
            let leads = self
                .raft(leader, group)?
                .wait(Some(left))
                .state(ServerState::Leader, "leads")
                .await
                .is_ok();
            if leads {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err(format!("group {group} has no leader").into());
            }
        }
    }

    /// Runs the client loop: `load.clients` tasks, each writing distinct
    /// keys through its group's leader with `client_write`, one write at
    /// a time, until its limit. Returns what each did.
    pub async fn run_clients(&self, load: Load) -> Result<Vec<Outcome>, BoxError> {
        let mut handles = Handles::new();
        for (&id, node) in &self.nodes {
            for (&g, m) in &node.members {
                handles.insert((id, g), m.raft.clone());
            }
        }
        let handles = Arc::new(handles);
        let mut leaders = BTreeMap::new();
        for g in 1..=self.groups {
            leaders.insert(g, self.leader(g).await?);
        }
        let start = Instant::now() + load.warmup;
        let end = load.measure.map(|m| start + m);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..load.clients {
            let group = 1 + i as u64 % self.groups;
            let leader = leaders[&group];
            let handles = handles.clone();
            tasks.spawn(async move {
                client(&handles, i, group, leader, load, start, end)
                    .await
                    .map(|o| (i, o))
            });
        }
        let mut outcomes = vec![Outcome::default(); load.clients];
        while let Some(r) = tasks.join_next().await {
            let (i, outcome) = r??;
            outcomes[i] = outcome;
        }
        Ok(outcomes)
    }

    /// Stops every node: every group's Raft first, then the servers, then
    /// the logs (closed on the blocking pool).
    pub async fn stop(self) -> Result<(), BoxError> {
        for node in self.nodes.values() {
            for m in node.members.values() {
                m.raft.shutdown().await?;
            }
        }
        let mut wals = Vec::new();
        for node in self.nodes.into_values() {
            node.server.stop().await?;
            wals.extend(node.wals);
        }
        for wal in wals {
            tokio::task::spawn_blocking(move || wal.close()).await??;
        }
        Ok(())
    }
}

/// The value of a client's `seq`-th write: `seq`, zero-padded to `len`.
fn value(seq: u64, len: usize) -> String {
    format!("{seq:0>len$}")
}

/// One client: writes `c{i}-{seq}` until its limit.
async fn client(
    handles: &Handles,
    i: usize,
    group: u64,
    mut leader: u64,
    load: Load,
    start: Instant,
    end: Option<Instant>,
) -> Result<Outcome, BoxError> {
    let mut out = Outcome::default();
    let mut seq = 0u64;
    loop {
        let began = Instant::now();
        if end.is_some_and(|e| began >= e) || load.max_writes.is_some_and(|m| out.writes >= m) {
            return Ok(out);
        }
        let req = Request {
            key: format!("c{i}-{seq}"),
            value: value(seq, load.value_bytes),
        };
        seq += 1;
        let kept = load.keep.then(|| req.clone());
        write(handles, group, &mut leader, req, &mut out.retries).await?;
        let done = Instant::now();
        if done >= start && end.is_none_or(|e| done < e) {
            out.writes += 1;
            let us = done.duration_since(began).as_micros();
            out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
        if let Some(req) = kept {
            out.acked.push(Acked {
                group,
                node: leader,
                key: req.key,
                value: req.value,
            });
        }
    }
}

/// Writes `req` through `group`'s leader, following the leader when it
/// changed; `leader` is then the node that acknowledged the write.
async fn write(
    handles: &Handles,
    group: u64,
    leader: &mut u64,
    req: Request,
    retries: &mut u64,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + GUARD;
    loop {
        let raft = handles
            .get(&(*leader, group))
            .ok_or_else(|| format!("no group {group} on node {leader}"))?;
        match raft.client_write(req.clone()).await {
            Ok(_) => return Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))
                if Instant::now() < deadline =>
            {
                *retries += 1;
                *leader = match f.leader_id {
                    Some(l) => l,
                    None => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        raft.wait(Some(left))
                            .metrics(|m| m.current_leader.is_some(), "a leader")
                            .await?
                            .current_leader
                            .ok_or("no leader")?
                    }
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
}
