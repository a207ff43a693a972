//! One verdict: over a corpus of damaged logs (mutations of real logs
//! written by the committer, plain and encrypted: byte flips, truncations,
//! zeroed and garbage sectors, records re-encoded with valid checksums but
//! other fields or another payload, batch and commit markers put where none
//! belongs, a segment of another log), what a read-only reader in the
//! skipping mode finds (as `groupwal verify` does) is what opening the log
//! for writing decides: it opens without findings exactly when recovery in
//! the default mode succeeds, it ends where recovery does, and a recovery
//! that fails changes nothing. And no log closed cleanly opens once its
//! acknowledged bytes were changed: by damage, whatever the log; by someone
//! who recomputes the checksums, when it is encrypted (a plain log's
//! checksums authenticate nothing).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use wal_format::{
    BatchMarker, CommitMarker, Flags, LogId, Lsn, RecordDecoder, RecordHeader, RecordType,
    SEGMENT_HEADER_LEN, Salt, SegmentHeader, encode_record,
};
use wal_io::sim::SimStorage;
use wal_io::{CLEAN_FILE, OpenOptions, Storage};
use wal_reader::{Error, LogReader, RecoveryMode, recover};

use crate::support::*;

/// What a reader or a recovery concluded about a log.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Readable: the data ends at this LSN (the next one is the LSN after).
    Ok { next: Lsn },
    /// Damaged (corruption, a bad or foreign segment).
    Damaged,
    /// A key error: the only segments of a key id fail its key check (a
    /// wrong key and a forged header look alike then).
    Key,
    /// Anything else (not expected on these logs).
    Other(String),
}

fn damage_or_other(e: &Error) -> Verdict {
    match e {
        Error::Corruption(_)
        | Error::Io(wal_io::Error::BadSegmentHeader { .. } | wal_io::Error::NameMismatch { .. }) => {
            Verdict::Damaged
        }
        Error::Key { .. } => Verdict::Key,
        other => Verdict::Other(format!("{other:?}")),
    }
}

/// The tests' read options, with the test key when `encrypted`.
fn options(encrypted: bool) -> wal_reader::ReadOptions {
    #[cfg_attr(not(feature = "encryption"), allow(unused_mut))]
    let mut o = read_options();
    #[cfg(feature = "encryption")]
    if encrypted {
        o.keys(key());
    }
    #[cfg(not(feature = "encryption"))]
    let _ = encrypted;
    o
}

#[cfg(feature = "encryption")]
fn key() -> Arc<dyn wal_crypto::KeyProvider> {
    Arc::new(
        wal_crypto::Keyring::new(
            wal_format::KeyId::new(5),
            wal_crypto::Key::from_bytes([9; 32]),
        )
        .unwrap(),
    )
}

/// The reader's verdict, as `groupwal verify` reaches it: skipping mode,
/// every record read, damage found if anything was skipped.
fn read_verdict(storage: &Arc<dyn Storage>, encrypted: bool) -> Verdict {
    let mut o = options(encrypted);
    o.mode(RecoveryMode::SkipAnyCorruptedRecords);
    let mut reader = match LogReader::open(storage.clone(), dir(), &o) {
        Ok(r) => r,
        Err(e) => return damage_or_other(&e),
    };
    loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return damage_or_other(&e),
        }
    }
    if !reader.skipped().is_empty() {
        return Verdict::Damaged;
    }
    Verdict::Ok {
        next: reader
            .end()
            .map_or(Lsn::FIRST, |e| e.next_lsn.max(Lsn::FIRST)),
    }
}

/// The opener's verdict: recovery in the default mode.
fn open_verdict(storage: &Arc<dyn Storage>, encrypted: bool) -> Verdict {
    match recover(storage.clone(), dir(), &log_options(), &options(encrypted)) {
        Ok((log, report)) => {
            drop(log);
            Verdict::Ok {
                next: report.next_lsn,
            }
        }
        Err(e) => damage_or_other(&e),
    }
}

/// Every file of the log directory and its bytes.
type Image = BTreeMap<PathBuf, Vec<u8>>;

fn image(sim: &SimStorage) -> Image {
    sim.list_dir(&dir())
        .unwrap()
        .into_iter()
        .filter(|e| e.name != wal_io::LOCK_FILE)
        .map(|e| {
            let path = dir().join(&e.name);
            let bytes = sim.contents(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

fn restore(image: &Image, seed: u64) -> (SimStorage, Arc<dyn Storage>) {
    let (sim, storage) = sim(seed);
    storage.create_dir_all(&dir()).unwrap();
    for (path, bytes) in image {
        let f = storage.open(path, OpenOptions::create()).unwrap();
        f.write_all_at(bytes, 0).unwrap();
        f.sync_all().unwrap();
    }
    storage.sync_dir(&dir()).unwrap();
    (sim, storage)
}

/// A real log: several sessions of mixed appends (records, batches,
/// fragments, checkpoints), the last closed cleanly or not (`clean`),
/// encrypted or not.
fn write_log(seed: u64, clean: bool, encrypted: bool) -> Image {
    let (sim, storage) = sim(seed);
    let mut rng = Rng::new(seed);
    let sessions = 1 + rng.below(3);
    #[cfg(feature = "encryption")]
    let keys: Keys = encrypted.then(key);
    #[cfg(not(feature = "encryption"))]
    let keys: Keys = {
        let _ = encrypted;
        None
    };
    for s in 0..sessions {
        write_mixed_keyed(
            storage.clone(),
            &dir(),
            10 + rng.below(40) as usize,
            seed + s,
            // `Keys` is `Copy` (no key type) without encryption.
            #[allow(clippy::clone_on_copy)]
            keys.clone(),
        );
    }
    if !clean {
        storage.remove_file(&dir().join(CLEAN_FILE)).unwrap();
    }
    image(&sim)
}

/// The segment files of an image, in LSN order.
fn segments(image: &Image) -> Vec<PathBuf> {
    image
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .cloned()
        .collect()
}

/// The physical records of a segment's bytes: (offset, header, payload).
fn records(bytes: &[u8]) -> Vec<(usize, RecordHeader, Vec<u8>)> {
    let Ok(header) = SegmentHeader::decode(bytes) else {
        return Vec::new();
    };
    let decoder = RecordDecoder::new(header.salt, 1 << 20);
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while let Ok(r) = decoder.decode(&bytes[at..]) {
        out.push((at, r.header, r.payload.to_vec()));
        at += r.encoded_len();
    }
    out
}

/// One mutation of an image, chosen by `rng`; returns what it did, and
/// whether it was crafted (checksums recomputed: only a key tells).
fn mutate(image: &mut Image, rng: &mut Rng) -> (String, bool) {
    let segs = segments(image);
    let seg = segs[rng.below(segs.len() as u64) as usize].clone();
    let salt = SegmentHeader::decode(&image[&seg]).unwrap().salt;
    let recs = records(&image[&seg]);
    let data_end = recs
        .last()
        .map_or(SEGMENT_HEADER_LEN, |(at, _, p)| at + 32 + p.len());
    let bytes = image.get_mut(&seg).unwrap();
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    let what = match rng.below(9) {
        0 | 1 => {
            let at = rng.below(data_end as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            format!("{name}: bit flip at {at}")
        }
        2 => {
            let at =
                SEGMENT_HEADER_LEN as u64 + rng.below((data_end - SEGMENT_HEADER_LEN) as u64 + 1);
            bytes.truncate(at as usize);
            format!("{name}: cut at {at}")
        }
        3 => {
            let sector = rng.below(data_end as u64 / 512 + 1) as usize * 512;
            let end = (sector + 512).min(bytes.len());
            let garbage = rng.below(2) == 0;
            for b in &mut bytes[sector..end] {
                *b = if garbage { rng.next_u64() as u8 } else { 0 };
            }
            format!(
                "{name}: sector at {sector} {}",
                if garbage { "garbage" } else { "zeroed" }
            )
        }
        4 if !recs.is_empty() => {
            // A record re-encoded with valid checksums and another field.
            let (at, mut h, payload) = recs[rng.below(recs.len() as u64) as usize].clone();
            let what = match rng.below(3) {
                0 => {
                    h.lsn = Lsn::new(h.lsn.get().wrapping_add(1 + rng.below(3)));
                    "lsn"
                }
                1 => {
                    h.record_type = RecordType::ALL[rng.below(7) as usize];
                    "type"
                }
                _ => {
                    h.flags = Flags::from_bits(rng.below(4) as u8).unwrap();
                    "flags"
                }
            };
            let mut enc = Vec::new();
            encode_record(&mut enc, &h, &payload).unwrap();
            bytes[at..at + enc.len()].copy_from_slice(&enc);
            return (
                format!("{name}: record at {at} re-encoded with another {what}"),
                true,
            );
        }
        8 if recs
            .iter()
            .any(|(_, h, p)| !h.record_type.is_marker() && !p.is_empty()) =>
        {
            // A record's payload changed, its checksums recomputed.
            let data: Vec<_> = recs
                .iter()
                .filter(|(_, h, p)| !h.record_type.is_marker() && !p.is_empty())
                .collect();
            let (at, h, payload) = data[rng.below(data.len() as u64) as usize].clone();
            let mut payload = payload.clone();
            let i = rng.below(payload.len() as u64) as usize;
            payload[i] ^= 1 << rng.below(8);
            let mut enc = Vec::new();
            encode_record(&mut enc, &h, &payload).unwrap();
            bytes[at..at + enc.len()].copy_from_slice(&enc);
            return (
                format!(
                    "{name}: payload byte {i} of the record at {at} changed, checksums recomputed"
                ),
                true,
            );
        }
        5 if !recs.is_empty() => {
            // A CRC-valid marker written over a record's start.
            let (at, h, _) = recs[rng.below(recs.len() as u64) as usize].clone();
            let mut enc = Vec::new();
            let (ty, payload) = if rng.below(2) == 0 {
                (
                    RecordType::Batch,
                    BatchMarker::new(2 + rng.below(3) as u32)
                        .unwrap()
                        .encode()
                        .to_vec(),
                )
            } else {
                let durable = h.lsn.get().saturating_sub(rng.below(3));
                (
                    RecordType::Commit,
                    CommitMarker::new(Lsn::new(durable)).encode().to_vec(),
                )
            };
            let header = RecordHeader {
                lsn: h.lsn,
                salt,
                record_type: ty,
                flags: Flags::EMPTY,
            };
            encode_record(&mut enc, &header, &payload).unwrap();
            let end = (at + enc.len()).min(bytes.len());
            bytes[at..end].copy_from_slice(&enc[..end - at]);
            return (format!("{name}: {ty} marker written at {at}"), true);
        }
        6 => {
            // The segment replaced by one of another log with the same
            // first LSN and records re-encoded under its salt.
            let mut header = SegmentHeader::decode(bytes).unwrap();
            header.log_id = LogId::new(header.log_id.get() ^ 0xdead);
            header.salt = Salt::new(header.salt.get() ^ 0xbeef);
            let mut out = header.encode().to_vec();
            for (_, mut h, payload) in recs {
                h.salt = header.salt;
                encode_record(&mut out, &h, &payload).unwrap();
            }
            *bytes = out;
            return (
                format!("{name}: replaced by a segment of another log"),
                true,
            );
        }
        _ => {
            let at = rng.below(data_end as u64) as usize;
            let len = (1 + rng.below(64) as usize).min(bytes.len() - at);
            for b in &mut bytes[at..at + len] {
                *b = rng.next_u64() as u8;
            }
            format!("{name}: {len} garbage bytes at {at}")
        }
    };
    (what, false)
}

/// Whether `after` differs from `before` in acknowledged bytes: a segment
/// header, or a record of a segment (up to the end of its records as the
/// writer left them).
fn acknowledged_bytes_changed(before: &Image, after: &Image) -> bool {
    segments(before).iter().any(|path| {
        let old = &before[path];
        let end = records(old)
            .last()
            .map_or(SEGMENT_HEADER_LEN, |(at, _, p)| at + 32 + p.len());
        match after.get(path) {
            None => true,
            Some(new) => new.len() < end || new[..end] != old[..end],
        }
    })
}

#[test]
fn the_reader_and_the_opener_reach_one_verdict_on_damaged_logs() {
    let base = seed("one_verdict", 0x00e5_d1c7);
    let mut cases = 0;
    let mut damaged = 0;
    let mut refused_changes = 0;
    for l in 0..32u64 {
        let clean = l % 2 == 0;
        let encrypted = cfg!(feature = "encryption") && l % 4 >= 2;
        let original = write_log(base + l, clean, encrypted);
        let mut rng = Rng::new(base ^ (l << 32));
        for m in 0..40u64 {
            let mut image = original.clone();
            let (what, crafted) = mutate(&mut image, &mut rng);
            let case = format!(
                "log {l} (clean close: {clean}, encrypted: {encrypted}) mutation {m}: {what}"
            );
            let (_, storage) = restore(&image, base + m);
            let read = read_verdict(&storage, encrypted);
            let before = image_of(&storage);
            let open = open_verdict(&storage, encrypted);
            assert!(
                !matches!(read, Verdict::Other(_)),
                "{case}: reader {read:?}"
            );
            assert_eq!(read, open, "{case}: the reader and the opener disagree");
            if open == Verdict::Damaged {
                damaged += 1;
                assert!(
                    before == image_of(&storage),
                    "{case}: a recovery that refused the log changed it"
                );
            }
            if clean && (encrypted || !crafted) && acknowledged_bytes_changed(&original, &image) {
                assert!(
                    matches!(open, Verdict::Damaged | Verdict::Key),
                    "{case}: a cleanly closed log changed in acknowledged bytes opened: {open:?}"
                );
                refused_changes += 1;
            }
            cases += 1;
        }
    }
    eprintln!(
        "one verdict: {cases} mutated logs, {damaged} refused as damaged, \
         {refused_changes} cleanly closed ones changed in acknowledged bytes all refused"
    );
    assert!(
        damaged > cases / 4,
        "the mutations rarely damage: {damaged} of {cases}"
    );
    assert!(refused_changes > cases / 4, "{refused_changes} of {cases}");
}

/// The files of the log directory on `storage`, with their bytes (the
/// lock file aside: every opener makes it).
fn image_of(storage: &Arc<dyn Storage>) -> Image {
    storage
        .list_dir(&dir())
        .unwrap()
        .into_iter()
        .filter(|e| e.name != wal_io::LOCK_FILE)
        .map(|e| {
            let path = dir().join(&e.name);
            let f = storage.open(&path, OpenOptions::read()).unwrap();
            let mut bytes = vec![0; f.size().unwrap() as usize];
            f.read_exact_at(&mut bytes, 0).unwrap();
            (path, bytes)
        })
        .collect()
}
