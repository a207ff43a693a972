//! openraft's storage test suite (`openraft::testing::Suite`), every case,
//! on a fresh log per case.

use groupwal_openraft::LogStore;
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

use crate::sm::{StateMachine, TypeConfig};
use crate::support::{open_wal, options};

struct Builder {
    /// The group each case's store is; another group shares the log and
    /// holds entries of its own, so a store that confused streams fails.
    group: u64,
}

impl StoreBuilder<TypeConfig, LogStore<TypeConfig>, StateMachine, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<TypeConfig>, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let wal = open_wal(dir.path(), &options());
        // A neighbour group with entries at the same indexes.
        let mut other = LogStore::<TypeConfig>::open_async(wal.clone(), self.group + 1)
            .await
            .unwrap();
        crate::support::append(
            &mut other,
            (0..30).map(|i| crate::support::entry(9, i)).collect(),
        )
        .await;
        drop(other);
        let store = LogStore::open_async(wal, self.group).await.unwrap();
        Ok((dir, store, StateMachine::default()))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder { group: 1 }).unwrap();
}

#[test]
fn openraft_storage_suite_passes_for_a_group_past_u32() {
    Suite::test_all(Builder {
        group: (1 << 40) + 5,
    })
    .unwrap();
}
