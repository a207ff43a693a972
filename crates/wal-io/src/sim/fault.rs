//! Fault injection: the faults the simulated disk can inject, queued on
//! command or drawn at a seeded rate, and taken by the call they apply to.

use super::disk::{Inner, SimStorage};

/// A fault the simulated disk can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// A write fails with `EIO`; nothing is written.
    WriteEio,
    /// A write fails with `ENOSPC`; nothing is written.
    WriteEnospc,
    /// A write of more than one sector writes only its first half (rounded
    /// down to a sector) and returns that short count.
    ShortWrite,
    /// A write reports success and reads see it, but it never reaches the
    /// disk: no sync persists it, and a crash takes it away.
    LostWrite,
    /// A read fails with `EIO`.
    ReadEio,
    /// A read returns the data with one bit flipped (the stored data is
    /// unharmed).
    BitFlipOnRead,
    /// A sync (`sync_data` or `sync_all`) fails with `EIO`; the dirty data
    /// stays dirty, so a later sync may still persist it.
    SyncEio,
    /// The Linux fsync behaviour: the sync fails with `EIO` once, the dirty
    /// pages are marked clean without reaching the disk, and later syncs
    /// report success although the data is not durable (a crash loses it).
    SyncEioForgets,
}

impl Fault {
    pub(super) fn is_write(self) -> bool {
        matches!(
            self,
            Fault::WriteEio | Fault::WriteEnospc | Fault::ShortWrite | Fault::LostWrite
        )
    }
    pub(super) fn is_read(self) -> bool {
        matches!(self, Fault::ReadEio | Fault::BitFlipOnRead)
    }
    pub(super) fn is_sync(self) -> bool {
        matches!(self, Fault::SyncEio | Fault::SyncEioForgets)
    }
}

impl Inner {
    /// Takes a fault matching `pred` that fires now: a queued one first,
    /// else one drawn at its rate.
    pub(super) fn take_fault(&mut self, pred: impl Fn(Fault) -> bool) -> Option<Fault> {
        if let Some(i) = self.queued.iter().position(|&f| pred(f)) {
            let f = self.queued.remove(i);
            self.stats.faults += 1;
            return Some(f);
        }
        let candidates: Vec<(Fault, u32)> = self
            .rates
            .iter()
            .filter(|&(&f, _)| pred(f))
            .map(|(&f, &r)| (f, r))
            .collect();
        for (fault, rate) in candidates {
            if self.rng.below(1_000_000) < u64::from(rate) {
                self.stats.faults += 1;
                return Some(fault);
            }
        }
        None
    }
}

impl SimStorage {
    /// Injects `fault` into the next call it applies to (a write, a read or
    /// a sync). Faults queue up in order.
    pub fn inject(&self, fault: Fault) {
        self.lock().queued.push(fault);
    }

    /// Injects `fault` into each call it applies to with probability
    /// `per_million / 1_000_000`, drawn from the seed. 0 turns it off.
    pub fn set_fault_rate(&self, fault: Fault, per_million: u32) {
        let mut inner = self.lock();
        if per_million == 0 {
            inner.rates.remove(&fault);
        } else {
            inner.rates.insert(fault, per_million);
        }
    }
}
