//! An open file of the simulated disk: reads, writes (short, lost, out of
//! room), syncs (failed, forgetful, or parked by a test), alignment checks
//! for `O_DIRECT`; a handle dies with the process that opened it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::disk::{Inner, errno, not_found};
use super::fault::Fault;
use super::{SIM_DIRECT_ALIGN, SIM_SECTOR};
use crate::storage::{OpenOptions, StorageFile};

pub(super) struct SimFile {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) ino: u64,
    pub(super) epoch: u64,
    pub(super) path: PathBuf,
    pub(super) options: OpenOptions,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    fn lock(&self) -> io::Result<MutexGuard<'_, Inner>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.epoch != self.epoch || !inner.inodes.contains_key(&self.ino) {
            return Err(errno(libc::EBADF));
        }
        Ok(inner)
    }

    fn check_direct(&self, addr: usize, len: usize, offset: u64) -> io::Result<()> {
        if self.options.direct
            && (!(addr as u64).is_multiple_of(SIM_DIRECT_ALIGN)
                || !(len as u64).is_multiple_of(SIM_DIRECT_ALIGN)
                || !offset.is_multiple_of(SIM_DIRECT_ALIGN))
        {
            return Err(errno(libc::EINVAL));
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut guard = self.lock()?;
        if guard.hold_armed && !guard.hold_parked {
            let changed = Arc::clone(&guard.hold_changed);
            guard.hold_parked = true;
            guard.hold_thread = std::thread::current().name().map(str::to_owned);
            changed.notify_all();
            while guard.hold_armed {
                guard = changed.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            guard.hold_parked = false;
            guard.hold_thread = None;
            changed.notify_all();
        }
        let inner = &mut *guard;
        match inner.take_fault(Fault::is_sync) {
            Some(Fault::SyncEioForgets) => {
                if let Some(inode) = inner.inodes.get_mut(&self.ino) {
                    // The pages are marked clean: nothing will write them.
                    inode.dirty.clear();
                }
                return Err(errno(libc::EIO));
            }
            Some(_) => return Err(errno(libc::EIO)),
            None => {}
        }
        if let Some(inode) = inner.inodes.get_mut(&self.ino) {
            inode.persist();
        }
        inner.stats.syncs += 1;
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.check_direct(buf.as_ptr() as usize, buf.len(), offset)?;
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let fault = inner.take_fault(Fault::is_read);
        if fault == Some(Fault::ReadEio) {
            return Err(errno(libc::EIO));
        }
        let inode = inner.inodes.get(&self.ino).ok_or_else(not_found)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(src) = inode.live.get(start..) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        let (dst, _) = buf.split_at_mut(n);
        let (src, _) = src.split_at(n);
        dst.copy_from_slice(src);
        if fault == Some(Fault::BitFlipOnRead) && n > 0 {
            let bit = inner.rng.below(n as u64 * 8);
            if let Some(b) = dst.get_mut((bit / 8) as usize) {
                *b ^= 1 << (bit % 8);
            }
        }
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if !self.options.write {
            return Err(errno(libc::EBADF));
        }
        self.check_direct(buf.as_ptr() as usize, buf.len(), offset)?;
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let fault = inner.take_fault(Fault::is_write);
        let mut len = buf.len() as u64;
        match fault {
            Some(Fault::WriteEio) => return Err(errno(libc::EIO)),
            Some(Fault::WriteEnospc) => return Err(errno(libc::ENOSPC)),
            Some(Fault::ShortWrite) if len > SIM_SECTOR => {
                len = (len / 2) / SIM_SECTOR * SIM_SECTOR;
            }
            _ => {}
        }
        let used = inner.used();
        let inode = inner.inodes.get(&self.ino).ok_or_else(not_found)?;
        let cur_len = inode.live.len() as u64;
        let end = offset.checked_add(len).ok_or_else(|| errno(libc::EFBIG))?;
        if let Some(cap) = inner.capacity {
            let growth = end.saturating_sub(cur_len);
            let free = cap.saturating_sub(used);
            if growth > free {
                let fits = cur_len.saturating_add(free).saturating_sub(offset);
                if fits == 0 || offset > cur_len.saturating_add(free) {
                    return Err(errno(libc::ENOSPC));
                }
                len = len.min(fits);
            }
        }
        let end = offset + len;
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
        let end_usize = usize::try_from(end).map_err(|_| errno(libc::EFBIG))?;
        if inode.live.len() < end_usize {
            inode.live.resize(end_usize, 0);
        }
        let (src, _) = buf.split_at(len as usize);
        if let Some(dst) = inode.live.get_mut(offset as usize..end_usize) {
            dst.copy_from_slice(src);
        }
        if fault == Some(Fault::LostWrite) {
            // Visible in the page cache, never written back: its sectors
            // are not dirty, so no sync copies them (a sync that persists a
            // larger size persists zeros there).
            return Ok(len as usize);
        }
        inode.mark_dirty(offset, end);
        if self.options.dsync {
            inode.persist();
        }
        Ok(len as usize)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync()
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let used = inner.used();
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
        let end = offset.checked_add(len).ok_or_else(|| errno(libc::EFBIG))?;
        let cur = inode.live.len() as u64;
        if end > cur {
            if let Some(cap) = inner.capacity
                && end - cur > cap.saturating_sub(used)
            {
                return Err(errno(libc::ENOSPC));
            }
            let end_usize = usize::try_from(end).map_err(|_| errno(libc::EFBIG))?;
            inode.live.resize(end_usize, 0);
            inode.mark_dirty(cur, end);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let used = inner.used();
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
        let cur = inode.live.len() as u64;
        if len > cur
            && let Some(cap) = inner.capacity
            && len - cur > cap.saturating_sub(used)
        {
            return Err(errno(libc::ENOSPC));
        }
        let len_usize = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
        inode.live.resize(len_usize, 0);
        inode.mark_dirty(cur.min(len), cur.max(len));
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let inner = self.lock()?;
        Ok(inner
            .inodes
            .get(&self.ino)
            .map_or(0, |i| i.live.len() as u64))
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let size = inner
            .inodes
            .get(&self.ino)
            .map_or(0, |i| i.live.len() as u64);
        // Linux accepts ranges past the end; a range that starts past it
        // here is a bug in the caller's bookkeeping.
        if offset > size {
            return Err(errno(libc::EINVAL));
        }
        inner.stats.writebacks += 1;
        inner.stats.writeback_bytes += len;
        Ok(())
    }
}
