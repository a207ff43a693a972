//! Spare segments are prepared on the committer's own thread
//! (`CommitOptions::prepare_in_background`, on by default), not by the
//! rotation on the thread that writes groups; rotations still keep every
//! record.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wal_io::sim::SimStorage;
use wal_io::{DirEntry, DirLock, OpenOptions, SPARE_PREFIX, SegmentLog, Storage, StorageFile};

use crate::support::{DIR, check_oracle, commit_options, log_options, payload, read_all};

/// A storage that notes which thread created each spare file.
#[derive(Debug)]
struct SpareCreators {
    inner: SimStorage,
    creators: Mutex<Vec<(PathBuf, Option<String>)>>,
}

impl Storage for SpareCreators {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.list_dir(path)
    }
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        let spare = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(SPARE_PREFIX));
        if options.create_new && spare {
            let thread = std::thread::current().name().map(str::to_owned);
            self.creators
                .lock()
                .unwrap()
                .push((path.to_path_buf(), thread));
        }
        self.inner.open(path, options)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        self.inner.lock_dir(path, lock_file)
    }
    fn random_u64(&self) -> io::Result<u64> {
        self.inner.random_u64()
    }
}

/// Appends enough to rotate several times, closes, and returns the spare
/// creators, the number of segments, the spares left and whether every
/// record came back.
fn run(background: bool) -> (Vec<Option<String>>, usize, usize) {
    let sim = SimStorage::new(11);
    let storage = Arc::new(SpareCreators {
        inner: sim.clone(),
        creators: Mutex::new(Vec::new()),
    });
    let mut options = commit_options();
    options.prepare_in_background(background);
    let log = crate::support::open_with(storage.clone(), &options);
    let mut submitted = BTreeMap::new();
    // Enough to rotate several times and to end with the last segment more
    // than half full, so a spare was asked for before the close (seed 11).
    for seq in 0..220 {
        let p = payload(1, seq);
        let lsn = log.append(&p).unwrap();
        submitted.insert(lsn, p);
    }
    log.close().unwrap();
    let recovered = read_all(Arc::new(sim.clone()), Path::new(DIR));
    assert_eq!(recovered.len(), submitted.len());
    check_oracle(11, &recovered, &submitted, submitted.keys().copied());
    let reopened = SegmentLog::open(Arc::new(sim), DIR, &log_options()).unwrap();
    let creators = storage.creators.lock().unwrap();
    (
        creators.iter().map(|(_, t)| t.clone()).collect(),
        reopened.segments().len(),
        reopened.spare_count(),
    )
}

#[test]
fn spares_are_prepared_on_the_preparer_thread() {
    let (creators, segments, spares) = run(true);
    assert!(
        segments >= 5,
        "only {segments} segments: no rotations to test"
    );
    // The first spare is prepared at open, before any rotation could
    // need it, so at least that one is the preparer's; and close waits
    // for the preparation a last rotation asked for.
    let by_preparer = creators
        .iter()
        .filter(|t| t.as_deref() == Some("groupwal-prepare"))
        .count();
    assert!(by_preparer >= 1, "spares created by {creators:?}");
    assert_eq!(spares, 1, "close left no spare ready");
}

#[test]
fn without_background_preparation_the_rotation_prepares() {
    let (creators, segments, spares) = run(false);
    assert!(
        segments >= 5,
        "only {segments} segments: no rotations to test"
    );
    assert!(
        creators
            .iter()
            .all(|t| t.as_deref() != Some("groupwal-prepare")),
        "spares created by {creators:?}"
    );
    assert_eq!(
        creators.len(),
        segments + 1,
        "one spare per rotation, plus the next"
    );
    assert_eq!(spares, 1);
}
