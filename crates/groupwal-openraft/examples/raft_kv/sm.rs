//! An in-memory key-value state machine (the example's, and what
//! openraft's storage suite in the tests needs besides the log store).
//! Not durable: a restarted node applies its log again.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// The tests' Raft types: key-value writes, default everything else.
    pub TypeConfig: D = Request, R = Response
);

/// A write: set `key` to `value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub key: String,
    pub value: String,
}

/// What applying an entry gives: the value written, if it was a write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Data {
    pub last_applied: Option<LogId<u64>>,
    pub last_membership: StoredMembership<u64, BasicNode>,
    pub kv: BTreeMap<String, String>,
}

#[derive(Clone)]
struct Stored {
    meta: SnapshotMeta<u64, BasicNode>,
    bytes: Vec<u8>,
}

/// The state machine; clones share it (the snapshot builder is a clone).
#[derive(Clone, Default)]
pub struct StateMachine {
    data: Arc<Mutex<Data>>,
    snapshot: Arc<Mutex<Option<Stored>>>,
    built: Arc<Mutex<u64>>,
}

impl StateMachine {
    /// The value of `key`, as applied here.
    pub fn get(&self, key: &str) -> Option<String> {
        self.data.lock().unwrap().kv.get(key).cloned()
    }

    pub fn data(&self) -> Data {
        self.data.lock().unwrap().clone()
    }
}

fn sm_error(e: &(impl std::error::Error + 'static)) -> StorageError<u64> {
    StorageIOError::read_state_machine(AnyError::new(e)).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let data = self.data();
        let bytes = serde_json::to_vec(&data).map_err(|e| sm_error(&e))?;
        let n = {
            let mut built = self.built.lock().unwrap();
            *built += 1;
            *built
        };
        let meta = SnapshotMeta {
            last_log_id: data.last_applied,
            last_membership: data.last_membership.clone(),
            snapshot_id: format!("{}-{n}", data.last_applied.map_or(0, |l| l.index)),
        };
        *self.snapshot.lock().unwrap() = Some(Stored {
            meta: meta.clone(),
            bytes: bytes.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let data = self.data.lock().unwrap();
        Ok((data.last_applied, data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut data = self.data.lock().unwrap();
        let mut out = Vec::new();
        for entry in entries {
            data.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => out.push(Response::default()),
                EntryPayload::Normal(req) => {
                    data.kv.insert(req.key, req.value.clone());
                    out.push(Response {
                        value: Some(req.value),
                    });
                }
                EntryPayload::Membership(m) => {
                    data.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    out.push(Response::default());
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let data: Data = serde_json::from_slice(&bytes).map_err(|e| sm_error(&e))?;
        *self.data.lock().unwrap() = data;
        *self.snapshot.lock().unwrap() = Some(Stored {
            meta: meta.clone(),
            bytes,
        });
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        Ok(self.snapshot.lock().unwrap().clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.bytes)),
        }))
    }
}
