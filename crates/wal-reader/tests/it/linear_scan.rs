//! Every scan is linear in the bytes read, whatever the content: after
//! damage, the search for valid records (for evidence, and for where to
//! resume) reads each byte of the segment a bounded number of times, even
//! when every offset looks like a candidate (the segment's own salt over
//! and over) or crafted headers with valid checksums claim large payloads
//! at every step. Measured by counting the bytes the storage is asked to
//! read, not by time (`groupwal-benches`' `adversarial_scan` example gives
//! the rate).

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wal_format::{Flags, Lsn, RecordHeader, RecordType, encode_record};
use wal_io::{DirEntry, DirLock, OpenOptions, Storage, StorageFile};
use wal_reader::{LogReader, RecoveryMode};

use crate::support::*;

/// A storage that counts the bytes read through it.
#[derive(Debug)]
struct CountingReads {
    inner: Arc<dyn Storage>,
    read: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn StorageFile>,
    read: Arc<AtomicU64>,
}

impl StorageFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.inner.read_at(buf, offset)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.allocate(offset, len)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}

impl Storage for CountingReads {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.list_dir(path)
    }
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(CountingFile {
            inner: self.inner.open(path, options)?,
            read: self.read.clone(),
        }))
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

const SALT: u64 = 0x5a17_5a17_5a17_5a17;

/// A segment of `len` bytes: 20 valid groups, one damaged record, then
/// `filler` up to the end.
fn segment(len: usize, filler: impl Fn(&mut RawSeg, usize)) -> RawSeg {
    let mut seg = RawSeg::new(1, SALT);
    for lsn in 1..=20 {
        seg.group(lsn);
    }
    let at = seg.group(21) as usize;
    seg.bytes[at + 40] ^= 1;
    filler(&mut seg, len);
    seg.bytes.truncate(len);
    seg
}

/// The segment's own salt, over and over: a candidate at every eighth
/// offset, none of which verifies.
fn salt_pattern(seg: &mut RawSeg, len: usize) {
    while seg.bytes.len() < len {
        seg.bytes.extend_from_slice(&SALT.to_le_bytes());
    }
}

/// Headers with valid checksums every 32 bytes, each claiming a payload of
/// 1 MiB that never verifies.
fn crafted_headers(seg: &mut RawSeg, len: usize) {
    let header = RecordHeader {
        lsn: Lsn::new(1000),
        salt: wal_format::Salt::new(SALT),
        record_type: RecordType::Full,
        flags: Flags::EMPTY,
    };
    let mut rec = Vec::new();
    encode_record(&mut rec, &header, &vec![0xa5; 1 << 20]).unwrap();
    while seg.bytes.len() < len {
        seg.bytes.extend_from_slice(&rec[..32]);
    }
}

/// Bytes read to verify a segment of `len` bytes built with `filler`, as
/// `groupwal verify` reads (skipping mode, to the end).
fn bytes_read(len: usize, filler: fn(&mut RawSeg, usize)) -> u64 {
    let (_sim, storage) = sim(90);
    segment(len, filler).write(&*storage, 0);
    let read = Arc::new(AtomicU64::new(0));
    let counting: Arc<dyn Storage> = Arc::new(CountingReads {
        inner: storage,
        read: read.clone(),
    });
    let mut o = read_options();
    o.mode(RecoveryMode::SkipAnyCorruptedRecords)
        .max_payload_len(2 << 20)
        .max_record_len(2 << 20)
        .buffer_size(64 << 10);
    let mut reader = LogReader::open(counting, dir(), &o).unwrap();
    let mut n = 0;
    while reader.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 20, "the records before the damage");
    // Nothing after the damage proves it was acknowledged: a torn tail,
    // decided after searching the whole rest of the segment.
    assert_eq!(reader.end().unwrap().tail, wal_reader::TailKind::Torn);
    read.load(Ordering::Relaxed)
}

#[test]
fn the_search_after_damage_reads_each_byte_a_bounded_number_of_times() {
    for (name, filler) in [
        ("salt pattern", salt_pattern as fn(&mut RawSeg, usize)),
        ("crafted headers", crafted_headers),
    ] {
        for len in [1 << 20, 4 << 20] {
            let read = bytes_read(len, filler);
            // A pass for the evidence, one for where to resume, and the
            // budget's allowance for crafted payloads: a small constant
            // times the segment, never a window per candidate (that was
            // 2 MiB per candidate: terabytes).
            assert!(
                read <= 8 * len as u64 + (8 << 20),
                "{name}, {len} bytes: read {read} bytes"
            );
        }
    }
}
