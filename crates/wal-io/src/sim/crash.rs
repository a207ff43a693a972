//! The power loss and the process crash: what survives of unsynced data
//! and directory changes, and the fork that lets one crash point be tried
//! with many outcomes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::disk::{Inner, SimStorage};
use super::inode::LostSectors;
use super::namespace::NsOp;
use super::rng::SplitMix64;

impl SimStorage {
    /// A power loss: unsynced data and unsynced directory changes are lost,
    /// kept or torn as described in the module docs; every handle opened
    /// before dies and every lock is released. The disk is then ready to be
    /// "rebooted": open it again.
    pub fn crash(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut rng = inner.rng.clone();
        power_loss(inner, &mut rng, LostSectors::Old);
        inner.rng = rng;
    }

    /// A power loss as [`SimStorage::crash`], with its random choices
    /// (which unsynced sectors and directory changes survive, the garbage)
    /// drawn from `seed` instead of the disk's own generator, and lost
    /// sectors as `lost` says. The disk's generator is left alone, so forks
    /// of one disk crashed with different seeds are different post-crash
    /// states of the same crash point.
    pub fn crash_with(&self, seed: u64, lost: LostSectors) {
        let mut guard = self.lock();
        power_loss(&mut guard, &mut SplitMix64::new(seed), lost);
    }

    /// An independent copy of the disk as it is now: files, directories,
    /// what is durable and what is not, queued faults, rates, capacity, the
    /// random generator's state. It has no open handles and no locks (as
    /// after [`SimStorage::crash_process`]); handles of this disk never
    /// reach the copy.
    #[must_use]
    pub fn fork(&self) -> SimStorage {
        let mut inner = self.lock().clone();
        inner.epoch += 1;
        inner.locks.clear();
        SimStorage {
            inner: Arc::new(Mutex::new(inner)),
            seed: self.seed,
        }
    }

    /// A process crash without a power loss: handles die and locks are
    /// released, but the page cache (every write) survives.
    pub fn crash_process(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.locks.clear();
    }
}

/// The power loss of [`SimStorage::crash`], its choices drawn from `rng`.
fn power_loss(inner: &mut Inner, rng: &mut SplitMix64, lost: LostSectors) {
    inner.epoch += 1;
    inner.locks.clear();
    inner.queued.clear();
    inner.stats.crashes += 1;
    let mut reachable = BTreeSet::new();
    for dir in inner.dirs.values_mut() {
        let keep = rng.below(dir.pending.len() as u64 + 1) as usize;
        for op in dir.pending.drain(..).take(keep) {
            match op {
                NsOp::Link(name, ino) => {
                    dir.durable.insert(name, ino);
                }
                NsOp::Unlink(name) => {
                    dir.durable.remove(&name);
                }
            }
        }
        dir.live = dir.durable.clone();
        reachable.extend(dir.live.values().copied());
    }
    inner.inodes.retain(|ino, _| reachable.contains(ino));
    for inode in inner.inodes.values_mut() {
        inode.crash(rng, &mut inner.stats, lost);
    }
}
