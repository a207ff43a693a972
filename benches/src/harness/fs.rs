//! Which file system a directory is on (`statfs`), so a run on tmpfs, which
//! has no disk under it, is flagged.

use std::io;
use std::path::Path;

use serde::Serialize;

/// `TMPFS_MAGIC` from `<linux/magic.h>`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `RAMFS_MAGIC`.
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// The file system a directory is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsInfo {
    /// `f_type` of `statfs(2)`.
    pub magic: u64,
    /// A name for it (`ext4`, `xfs`, `tmpfs`, ...; `unknown` otherwise).
    pub name: &'static str,
}

impl FsInfo {
    /// Whether the directory lives in memory (tmpfs, ramfs): an fsync there
    /// is free, and the run measures nothing about a disk.
    #[must_use]
    pub fn in_memory(&self) -> bool {
        self.magic == TMPFS_MAGIC || self.magic == RAMFS_MAGIC
    }
}

/// A name for a file-system magic number.
#[must_use]
pub fn fs_name(magic: u64) -> &'static str {
    match magic {
        0xEF53 => "ext2/3/4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0xF2F5_2010 => "f2fs",
        0x2FC1_2FC1 => "zfs",
        0x794C_7630 => "overlayfs",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        TMPFS_MAGIC => "tmpfs",
        RAMFS_MAGIC => "ramfs",
        _ => "unknown",
    }
}

/// The file system `dir` is on.
///
/// # Errors
///
/// The error of `statfs(2)`.
pub fn fs_info(dir: &Path) -> io::Result<FsInfo> {
    let st = rustix::fs::statfs(dir)?;
    // File-system magic numbers are 32-bit; `f_type`'s C type varies.
    #[allow(clippy::unnecessary_cast)]
    let magic = (st.f_type as u64) & 0xFFFF_FFFF;
    Ok(FsInfo {
        magic,
        name: fs_name(magic),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_memory_file_systems() {
        assert_eq!(fs_name(0xEF53), "ext2/3/4");
        assert_eq!(fs_name(TMPFS_MAGIC), "tmpfs");
        assert_eq!(fs_name(1), "unknown");
        let tmp = FsInfo {
            magic: TMPFS_MAGIC,
            name: "tmpfs",
        };
        assert!(tmp.in_memory());
        let ext4 = FsInfo {
            magic: 0xEF53,
            name: "ext2/3/4",
        };
        assert!(!ext4.in_memory());
    }

    #[test]
    fn statfs_of_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let info = fs_info(dir.path()).unwrap();
        assert_eq!(info.name, fs_name(info.magic));
        assert_ne!(info.magic, 0);
        assert!(fs_info(&dir.path().join("missing")).is_err());
    }
}
