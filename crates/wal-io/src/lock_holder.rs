//! Who holds a log directory's lock, for the error that says it is taken
//! ([`crate::Error::Locked`]).
//!
//! The lock is an `flock` on the directory's lock file
//! ([`crate::Storage::lock_dir`]). Linux lists every `flock` in
//! `/proc/locks` with the pid that took it and the file's device and
//! inode; elsewhere, or when the list does not say, the holder is unknown.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The pid of the process holding the `flock` on `lock` (a directory's
/// lock file), if the system tells.
pub(crate) fn holder_pid(lock: &Path) -> Option<u32> {
    let lock = std::fs::symlink_metadata(lock).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    find_holder(&locks, major(lock.dev()), minor(lock.dev()), lock.ino())
}

/// The pid of the `FLOCK` entry of `/proc/locks` (text as the kernel
/// writes it: `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`, device
/// numbers in hex, the inode in decimal) on that device and inode.
fn find_holder(locks: &str, major: u64, minor: u64, inode: u64) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // A blocked waiter's line starts with "->" and names no holder.
        let [_, "FLOCK", _, _, pid, file, ..] = fields.as_slice() else {
            return None;
        };
        let mut parts = file.split(':');
        let (Some(maj), Some(min), Some(ino)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let same = u64::from_str_radix(maj, 16).ok()? == major
            && u64::from_str_radix(min, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == inode;
        same.then(|| pid.parse().ok()).flatten()
    })
}

/// The major number of a Linux device number (glibc's `gnu_dev_major`).
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// The minor number of a Linux device number (glibc's `gnu_dev_minor`).
fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flock_on_the_same_device_and_inode_names_its_pid() {
        let locks = "\
1: POSIX  ADVISORY  WRITE 77 00:2f:1234 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 103:0a:1234 0 EOF
2: -> FLOCK  ADVISORY  WRITE 99 103:0a:1234 0 EOF
3: FLOCK  ADVISORY  WRITE 5151 103:0a:999 0 EOF
";
        assert_eq!(find_holder(locks, 0x103, 0x0a, 1234), Some(4242));
        assert_eq!(find_holder(locks, 0x103, 0x0a, 999), Some(5151));
        assert_eq!(
            find_holder(locks, 0x00, 0x2f, 1234),
            None,
            "a POSIX lock is not ours"
        );
        assert_eq!(find_holder(locks, 0x103, 0x0b, 1234), None);
        assert_eq!(find_holder("", 1, 2, 3), None);
    }

    #[test]
    fn device_numbers_split_as_glibc_does() {
        // makedev(259, 3) and makedev(8, 1).
        assert_eq!((major(0x10303), minor(0x10303)), (259, 3));
        assert_eq!((major(0x801), minor(0x801)), (8, 1));
    }
}
