//! A file's contents: the live image reads see, the durable image a power
//! loss leaves, the dirty sectors between them, and what becomes of a lost
//! sector.

use std::collections::BTreeSet;

use super::SIM_SECTOR;
use super::disk::SimStats;
use super::rng::SplitMix64;

/// What a power loss leaves in the bytes of an unsynced sector it loses
/// (the bytes the lost writes changed; bytes they did not change keep their
/// durable value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LostSectors {
    /// The durable (old) content, as if the write never started.
    #[default]
    Old,
    /// Zeros.
    Zeroed,
    /// Random bytes: the sector was being written when the power went.
    Garbage,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Inode {
    pub(super) live: Vec<u8>,
    pub(super) durable: Vec<u8>,
    /// Sectors whose live content may differ from the durable one.
    pub(super) dirty: BTreeSet<u64>,
}

impl Inode {
    pub(super) fn mark_dirty(&mut self, from: u64, to: u64) {
        if to <= from {
            return;
        }
        let first = from / SIM_SECTOR;
        let last = (to - 1) / SIM_SECTOR;
        self.dirty.extend(first..=last);
    }

    pub(super) fn persist(&mut self) {
        let len = self.live.len();
        self.durable.resize(len, 0);
        for &sector in &self.dirty {
            copy_sector(&self.live, &mut self.durable, sector);
        }
        self.dirty.clear();
    }

    /// Power loss: each dirty sector survives or not (a lost one as `lost`
    /// says); the size is the old or the new one.
    pub(super) fn crash(&mut self, rng: &mut SplitMix64, stats: &mut SimStats, lost: LostSectors) {
        let live_len = self.live.len();
        let durable_len = self.durable.len();
        let len = if live_len == durable_len || rng.coin() {
            live_len
        } else {
            durable_len
        };
        let mut image = std::mem::take(&mut self.durable);
        image.resize(len.max(durable_len), 0);
        for &sector in &self.dirty {
            if rng.coin() {
                copy_sector(&self.live, &mut image, sector);
                stats.sectors_kept += 1;
            } else {
                stats.sectors_lost += 1;
                spoil_sector(&self.live, &mut image, sector, lost, rng);
            }
        }
        image.truncate(len);
        self.live = image.clone();
        self.durable = image;
        self.dirty.clear();
    }
}

/// Replaces the bytes of sector `sector` of `image` that differ from `live`
/// (those the lost writes changed) as `lost` says.
fn spoil_sector(
    live: &[u8],
    image: &mut [u8],
    sector: u64,
    lost: LostSectors,
    rng: &mut SplitMix64,
) {
    if lost == LostSectors::Old {
        return;
    }
    let start = (sector * SIM_SECTOR) as usize;
    let end = start
        .saturating_add(SIM_SECTOR as usize)
        .min(live.len())
        .min(image.len());
    let (Some(new), Some(old)) = (live.get(start..end), image.get_mut(start..end)) else {
        return;
    };
    for (o, &n) in old.iter_mut().zip(new) {
        if *o != n {
            *o = match lost {
                LostSectors::Garbage => rng.next_u64() as u8,
                _ => 0,
            };
        }
    }
}

/// Copies sector `sector` of `from` into `to` (as far as both reach).
fn copy_sector(from: &[u8], to: &mut [u8], sector: u64) {
    let start = (sector * SIM_SECTOR) as usize;
    let end = start.saturating_add(SIM_SECTOR as usize);
    let end = end.min(from.len()).min(to.len());
    if let (Some(src), Some(dst)) = (from.get(start..end), to.get_mut(start..end)) {
        dst.copy_from_slice(src);
    }
}
