//! Directories: live and durable entries, the queue of changes a directory
//! sync makes durable, directory locks, and the [`Storage`] calls on them.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::disk::{Inner, SimStorage, errno, not_found, split};
use super::file::SimFile;
use super::inode::Inode;
use crate::storage::{DirEntry, DirLock, OpenOptions, Storage, StorageFile, not_regular};

#[derive(Clone, Debug)]
pub(super) enum NsOp {
    Link(String, u64),
    Unlink(String),
}

#[derive(Clone, Debug, Default)]
pub(super) struct Dir {
    pub(super) live: BTreeMap<String, u64>,
    pub(super) durable: BTreeMap<String, u64>,
    /// Changes to `live` not yet made durable, in order.
    pub(super) pending: Vec<NsOp>,
}

impl Dir {
    pub(super) fn link(&mut self, name: &str, ino: u64) {
        self.live.insert(name.to_owned(), ino);
        self.pending.push(NsOp::Link(name.to_owned(), ino));
    }
    pub(super) fn unlink(&mut self, name: &str) -> Option<u64> {
        let ino = self.live.remove(name)?;
        self.pending.push(NsOp::Unlink(name.to_owned()));
        Some(ino)
    }
}

#[derive(Debug)]
struct SimLock {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
    id: u64,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.locks.get(&self.path) == Some(&self.id) {
            inner.locks.remove(&self.path);
        }
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        for ancestor in path.ancestors() {
            if ancestor.as_os_str().is_empty() {
                continue;
            }
            inner.dirs.entry(ancestor.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let inner = self.lock();
        let dir = inner.dir(path)?;
        let mut out: Vec<DirEntry> = dir
            .live
            .keys()
            .map(|name| DirEntry {
                name: name.clone(),
                is_file: true,
            })
            .collect();
        for sub in inner.dirs.keys() {
            if sub.parent() == Some(path)
                && let Some(name) = sub.file_name()
            {
                out.push(DirEntry {
                    name: name.to_string_lossy().into_owned(),
                    is_file: false,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if options.direct && !inner.direct_supported {
            return Err(errno(libc::EINVAL));
        }
        let (parent, name) = split(path)?;
        if inner.dirs.contains_key(path) {
            // A subdirectory: not a regular file, never opened.
            return Err(not_regular());
        }
        let existing = inner.dir(parent)?.live.get(name).copied();
        let ino = match existing {
            Some(_) if options.create_new => return Err(errno(libc::EEXIST)),
            Some(ino) => ino,
            None if options.create || options.create_new => {
                let ino = inner.next_ino;
                inner.next_ino += 1;
                inner.inodes.insert(ino, Inode::default());
                inner.dir_mut(parent)?.link(name, ino);
                ino
            }
            None => return Err(not_found()),
        };
        let mut options = options;
        options.write |= options.create || options.create_new;
        Ok(Box::new(SimFile {
            inner: Arc::clone(&self.inner),
            ino,
            epoch: inner.epoch,
            path: path.to_path_buf(),
            options,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let (from_dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if from_dir != to_dir {
            return Err(errno(libc::EXDEV));
        }
        let dir = inner.dir_mut(from_dir)?;
        let ino = dir.live.get(from_name).copied().ok_or_else(not_found)?;
        if from_name == to_name {
            return Ok(());
        }
        // One journal transaction: the new name, then the old one goes; a
        // crash keeps a prefix, so at worst both names survive (never
        // neither), as with a hard link.
        dir.link(to_name, ino);
        dir.unlink(from_name);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let (parent, name) = split(path)?;
        inner
            .dir_mut(parent)?
            .unlink(name)
            .map(|_| ())
            .ok_or_else(not_found)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let dir = inner.dir_mut(path)?;
        dir.durable = dir.live.clone();
        dir.pending.clear();
        inner.stats.dir_syncs += 1;
        Ok(())
    }

    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        let file_path = path.join(lock_file);
        drop(self.open(&file_path, OpenOptions::create())?);
        let mut inner = self.lock();
        if inner.locks.contains_key(path) {
            return Err(errno(libc::EWOULDBLOCK));
        }
        let id = inner.next_lock;
        inner.next_lock += 1;
        inner.locks.insert(path.to_path_buf(), id);
        Ok(Box::new(SimLock {
            inner: Arc::clone(&self.inner),
            path: path.to_path_buf(),
            id,
        }))
    }

    fn random_u64(&self) -> io::Result<u64> {
        Ok(self.lock().rng.next_u64())
    }

    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        let inner = self.lock();
        inner.dir(path)?;
        Ok(inner.free_space)
    }
}
