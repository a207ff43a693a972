//! One verdict: over a corpus of damaged logs (mutations of real logs
//! written by the committer: byte flips, truncations, zeroed and garbage
//! sectors, records re-encoded with valid checksums but other fields, batch
//! and commit markers put where none belongs, a segment of another log),
//! what a read-only reader in the skipping mode finds (as `groupwal
//! verify` does) is what opening the log for writing decides: it opens
//! without findings exactly when recovery in the default mode succeeds, it
//! ends where recovery does, and a recovery that fails changes nothing.

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
    /// Anything else (not expected on these logs).
    Other(String),
}

fn damage_or_other(e: &Error) -> Verdict {
    match e {
        Error::Corruption(_) | Error::BadSegmentHeader { .. } | Error::NameMismatch { .. } => {
            Verdict::Damaged
        }
        other => Verdict::Other(format!("{other:?}")),
    }
}

/// The reader's verdict, as `groupwal verify` reaches it: skipping mode,
/// every record read, damage found if anything was skipped.
fn read_verdict(storage: &Arc<dyn Storage>) -> Verdict {
    let mut o = read_options();
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
fn open_verdict(storage: &Arc<dyn Storage>) -> Verdict {
    match recover(storage.clone(), dir(), &log_options(), &read_options()) {
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
/// fragments, checkpoints), the last closed cleanly or not (`clean`).
fn write_log(seed: u64, clean: bool) -> Image {
    let (sim, storage) = sim(seed);
    let mut rng = Rng(seed);
    let sessions = 1 + rng.below(3);
    for s in 0..sessions {
        write_mixed(
            storage.clone(),
            &dir(),
            10 + rng.below(40) as usize,
            seed + s,
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

/// One mutation of an image, chosen by `rng`; returns what it did.
fn mutate(image: &mut Image, rng: &mut Rng) -> String {
    let segs = segments(image);
    let seg = segs[rng.below(segs.len() as u64) as usize].clone();
    let salt = SegmentHeader::decode(&image[&seg]).unwrap().salt;
    let recs = records(&image[&seg]);
    let data_end = recs
        .last()
        .map_or(SEGMENT_HEADER_LEN, |(at, _, p)| at + 32 + p.len());
    let bytes = image.get_mut(&seg).unwrap();
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    match rng.below(8) {
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
                *b = if garbage { rng.next() as u8 } else { 0 };
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
            format!("{name}: record at {at} re-encoded with another {what}")
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
            format!("{name}: {ty} marker written at {at}")
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
            format!("{name}: replaced by a segment of another log")
        }
        _ => {
            let at = rng.below(data_end as u64) as usize;
            let len = (1 + rng.below(64) as usize).min(bytes.len() - at);
            for b in &mut bytes[at..at + len] {
                *b = rng.next() as u8;
            }
            format!("{name}: {len} garbage bytes at {at}")
        }
    }
}

#[test]
fn the_reader_and_the_opener_reach_one_verdict_on_damaged_logs() {
    let base = seed("one_verdict", 0x00e5_d1c7);
    let mut cases = 0;
    let mut damaged = 0;
    for l in 0..24u64 {
        let clean = l % 2 == 0;
        let original = write_log(base + l, clean);
        let mut rng = Rng(base ^ (l << 32));
        for m in 0..40u64 {
            let mut image = original.clone();
            let what = mutate(&mut image, &mut rng);
            let case = format!("log {l} (clean close: {clean}) mutation {m}: {what}");
            let (_, storage) = restore(&image, base + m);
            let read = read_verdict(&storage);
            let before = image_of(&storage);
            let open = open_verdict(&storage);
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
            cases += 1;
        }
    }
    eprintln!("one verdict: {cases} mutated logs, {damaged} refused as damaged");
    assert!(
        damaged > cases / 4,
        "the mutations rarely damage: {damaged} of {cases}"
    );
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
