//! No (subkey, nonce) pair is ever used twice under one key, on a real log
//! written by the real writer (`groupwal::Wal`: recovery, then the
//! committer, whose segment hook draws each new segment's key seed):
//! across a close and reopen, a suffix truncation rewritten at the same
//! LSNs (into recycled files), a process death and power loss whose lost
//! LSNs are written again, and a second log with the same key on an
//! identical disk (same log id, same salts: only the seeds differ).
//!
//! What is checked is read from the simulated disk, after every step that
//! could destroy records (so a segment later cut, recycled or lost in the
//! crash is seen while it exists, unsynced page cache included): every
//! segment and spare file's header and every encrypted logical record in
//! it. A segment's subkey is derived from the key and its key seed, log id,
//! salt and key id (docs/FORMAT.md, "Per-segment subkey"); the key is the
//! same everywhere, so those header fields name the subkey. A record's
//! nonce is its LSN. Each record is decrypted: its plaintext names the
//! append that wrote it. A (subkey, nonce) pair used by two appends is a
//! nonce reuse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use groupwal::{Lsn, Wal, WalOptions};
use wal_crypto::{Key, Keyring, PayloadDecoder, SegmentDecryptor};
use wal_format::{
    KeyId, Reassembler, RecordDecoder, SEGMENT_HEADER_LEN, SegmentHeader, parse_segment_file_name,
};
use wal_io::Storage;
use wal_io::sim::{HaltingStorage, SimStorage};

const DIR: &str = "/logs/wal";
const SEED: u64 = 0x006e_6f6e_6365;
const KEY_ID: u32 = 5;
const MAX_RECORD: usize = 64 * 1024;

fn keys() -> Arc<Keyring> {
    Arc::new(Keyring::new(KeyId::new(KEY_ID), Key::from_bytes([0x6b; 32])).unwrap())
}

/// Small segments (the log rotates), fragments, recycling, and the order of
/// storage calls fixed (no background preparation), so that two disks with
/// the same seed draw the same log ids and salts.
fn options(storage: Arc<dyn Storage>, keys: &Arc<Keyring>) -> WalOptions {
    let mut o = WalOptions::new();
    o.storage(storage)
        .segment_size(16 * 1024)
        .fragment_size(2000)
        .max_record_len(MAX_RECORD)
        .max_spares(2)
        .prepare_in_background(false)
        .encryption(keys.clone());
    o
}

/// The payload of append `n` of session `tag`: the tag names it, and its
/// length depends on `n` only (so two logs writing the same `n`s rotate at
/// the same places); some are fragmented.
fn payload(tag: &str, n: u64) -> Vec<u8> {
    let mut p = format!("{tag}:").into_bytes();
    p.resize(((n * 397) % 2600 + 100) as usize, b'a' + (n % 26) as u8);
    p
}

/// The inputs of a segment's subkey besides the key (the same everywhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Subkey {
    key_id: u32,
    seed: [u8; 16],
    log_id: u64,
    salt: u64,
}

impl Subkey {
    fn of(h: &SegmentHeader) -> Subkey {
        Subkey {
            key_id: h.key_id.get(),
            seed: h.key_seed,
            log_id: h.log_id.get(),
            salt: h.salt.get(),
        }
    }
}

/// What the disks showed, over every look.
#[derive(Default)]
struct Seen {
    /// (subkey, nonce) -> the appends whose records were encrypted with it.
    uses: BTreeMap<(Subkey, u64), BTreeSet<String>>,
    /// Append -> the subkeys its record was found under.
    subkey_of: BTreeMap<String, BTreeSet<Subkey>>,
    /// Every segment header seen, by log.
    headers: BTreeMap<&'static str, BTreeSet<(u64, Subkey)>>,
    /// Append -> the LSN it was given (or, for an append that failed, the
    /// LSN it would have had).
    lsn_of: BTreeMap<String, u64>,
}

impl Seen {
    /// Reads every segment and spare file on `sim` (the live image: what
    /// the page cache holds), decrypting every logical record.
    fn look(&mut self, log: &'static str, sim: &SimStorage, keys: &Keyring) {
        let dir = Path::new(DIR);
        for entry in sim.list_dir(dir).unwrap() {
            let is_segment = parse_segment_file_name(&entry.name).is_some();
            if !entry.is_file || !(is_segment || entry.name.ends_with(".spare")) {
                continue;
            }
            let bytes = sim.contents(&dir.join(&entry.name)).unwrap();
            let header = match SegmentHeader::decode(&bytes) {
                Ok(h) => h,
                // A spare that never was a segment.
                Err(e) => {
                    assert!(!is_segment, "{}: {e}", entry.name);
                    continue;
                }
            };
            assert_eq!(
                header.key_id,
                KeyId::new(KEY_ID),
                "{}: a segment without the key",
                entry.name
            );
            let subkey = Subkey::of(&header);
            self.headers
                .entry(log)
                .or_default()
                .insert((header.first_lsn.get(), subkey));
            let cipher = SegmentDecryptor::open(keys, &header).unwrap();
            let decoder = RecordDecoder::new(header.salt, MAX_RECORD as u32);
            let mut reassembler = Reassembler::new(MAX_RECORD);
            let mut payloads = PayloadDecoder::new(MAX_RECORD);
            let mut rest = &bytes[SEGMENT_HEADER_LEN..];
            // Up to the end of the data (zeros, a torn record, or the stale
            // records of an earlier use of the file, under another salt).
            while let Ok(record) = decoder.decode(rest) {
                rest = &rest[record.encoded_len()..];
                if record.header.record_type.is_marker() {
                    continue;
                }
                let Some(logical) = reassembler.push(record).unwrap() else {
                    continue;
                };
                assert!(
                    logical.flags.contains(wal_format::Flags::ENCRYPTED),
                    "{}: lsn {} stored in plaintext",
                    entry.name,
                    logical.lsn
                );
                let plain = payloads
                    .decode(
                        logical.lsn,
                        logical.kind,
                        logical.flags,
                        logical.payload,
                        Some(&cipher),
                    )
                    .unwrap();
                let colon = plain.iter().position(|&b| b == b':').unwrap();
                let append = String::from_utf8(plain[..colon].to_vec()).unwrap();
                assert_eq!(
                    self.lsn_of.get(&append),
                    Some(&logical.lsn.get()),
                    "{}: append {append} found at lsn {}",
                    entry.name,
                    logical.lsn
                );
                self.uses
                    .entry((subkey, logical.lsn.get()))
                    .or_default()
                    .insert(append.clone());
                self.subkey_of.entry(append).or_default().insert(subkey);
            }
        }
    }

    /// Appends `ns` one by one as session `session`; returns their LSNs.
    fn append(&mut self, wal: &Wal, session: &str, ns: std::ops::Range<u64>) -> Vec<u64> {
        ns.map(|n| {
            let tag = format!("{session}.{n}");
            let expected = wal.next_lsn().get();
            self.lsn_of.insert(tag.clone(), expected);
            let lsn = wal.append(&payload(&tag, n)).unwrap();
            assert_eq!(lsn.get(), expected, "{tag}");
            expected
        })
        .collect()
    }

    /// The appends of `session`.
    fn appends_of(&self, session: &str) -> impl Iterator<Item = (&String, &BTreeSet<Subkey>)> {
        let prefix = format!("{session}.");
        self.subkey_of
            .iter()
            .filter(move |(tag, _)| tag.starts_with(&prefix))
    }

    /// The subkeys the records of `session` were encrypted with.
    fn subkeys_of(&self, session: &str) -> BTreeSet<Subkey> {
        self.appends_of(session)
            .flat_map(|(_, s)| s.iter().copied())
            .collect()
    }

    /// The subkeys `lsn` was encrypted with, over everything seen.
    fn subkeys_at(&self, lsn: u64) -> BTreeSet<Subkey> {
        self.uses
            .keys()
            .filter(|(_, l)| *l == lsn)
            .map(|(k, _)| *k)
            .collect()
    }
}

#[test]
fn reopen_truncate_crash_and_a_second_log_never_repeat_a_subkey_and_nonce() {
    let keys = keys();
    let mut seen = Seen::default();
    let a = SimStorage::new(SEED);
    let open = |sim: &SimStorage| {
        Wal::open(DIR, &options(Arc::new(sim.clone()), &keys))
            .unwrap_or_else(|e| panic!("open: {e} ({e:?})"))
    };

    // Session a1: a new log, several segments.
    let (wal, _) = open(&a);
    let a1 = seen.append(&wal, "a1", 0..40);
    seen.look("a", &a, &keys);
    wal.close().unwrap();

    // Session a2: reopened after a clean close, appended to; then the
    // suffix from a1's 31st record on is truncated, which recycles a2's
    // segments as spares, and those LSNs and more are written again (a2t).
    let (wal, report) = open(&a);
    assert_eq!(report.last_lsn.get(), *a1.last().unwrap());
    let a2 = seen.append(&wal, "a2", 40..60);
    seen.look("a", &a, &keys);
    let cut = a1[30];
    assert_eq!(wal.truncate_from(Lsn::new(cut)).unwrap(), Lsn::new(cut));
    let spares: Vec<String> = a
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.ends_with(".spare"))
        .collect();
    assert!(
        !spares.is_empty(),
        "the truncation recycled no segment file"
    );
    seen.look("a", &a, &keys);
    let a2t = seen.append(&wal, "a2t", 60..95);
    assert_eq!(a2t.first(), Some(&cut));
    assert!(a2t.last() > a2.last(), "a2t rewrote every LSN a2 had");
    let listed = a.list_dir(Path::new(DIR)).unwrap();
    assert!(
        spares.iter().any(|s| !listed.iter().any(|e| &e.name == s)),
        "no recycled file became a segment again: {spares:?}, {listed:?}"
    );
    seen.look("a", &a, &keys);
    wal.close().unwrap();

    // Session a3: a few appends, then an atomic batch during which the
    // process dies, at the storage call after the batch's first write (a
    // group is written in one or two calls, then synced): the page cache
    // holds the start of the batch, encrypted, never synced. Then the power
    // fails.
    let halting = HaltingStorage::new(Arc::new(a.clone()));
    let (wal, _) = Wal::open(DIR, &options(Arc::new(halting.clone()), &keys)).unwrap();
    seen.append(&wal, "a3", 0..3);
    let batch_first = wal.next_lsn().get();
    let batch_tags: Vec<String> = (3..7).map(|n| format!("a3.{n}")).collect();
    let batch: Vec<Vec<u8>> = (3..7)
        .zip(&batch_tags)
        .map(|(n, tag)| {
            seen.lsn_of.insert(tag.clone(), batch_first + n - 3);
            payload(tag, n)
        })
        .collect();
    halting.halt_at(halting.calls_made() + 1);
    assert!(wal.append_batch(&batch).is_err(), "the process did not die");
    let last_call = halting.calls().pop().unwrap();
    assert_eq!(
        (
            last_call.op,
            last_call.path.extension().and_then(|e| e.to_str())
        ),
        ("write", Some("wal")),
        "the last call before the death is not the batch's write: {last_call:?}"
    );
    seen.look("a", &a, &keys);
    assert!(
        seen.subkey_of.contains_key("a3.3"),
        "the batch's first record did not reach the page cache"
    );
    drop(wal);
    a.crash();
    assert_eq!(a.stats().crashes, 1);

    // Session a4: recovery drops the torn batch; its LSNs are written again.
    let (wal, report) = open(&a);
    assert_eq!(
        report.last_lsn.get(),
        batch_first - 1,
        "the power loss did not drop the batch: {report:?}"
    );
    let a4 = seen.append(&wal, "a4", 0..6);
    assert_eq!(a4.first(), Some(&batch_first));
    seen.look("a", &a, &keys);
    wal.close().unwrap();

    // Log b: a second log with the same key, on a disk identical to a's
    // first (same seed): the same writes draw the same log id and salts.
    let b = SimStorage::new(SEED);
    let (wal, _) = open(&b);
    seen.append(&wal, "b1", 0..40);
    seen.look("b", &b, &keys);
    wal.close().unwrap();

    // The check: every (subkey, nonce) pair was used by one append.
    let reused: Vec<_> = seen.uses.iter().filter(|(_, who)| who.len() > 1).collect();
    assert!(
        reused.is_empty(),
        "{} (subkey, nonce) pairs used by more than one append, first: {:?}",
        reused.len(),
        reused.first()
    );

    // Every append was seen, each under one subkey; only the end of a3's
    // batch never reached the page cache.
    let unseen: Vec<_> = seen
        .lsn_of
        .keys()
        .filter(|t| !seen.subkey_of.contains_key(*t))
        .collect();
    assert!(
        unseen.iter().all(|t| batch_tags.contains(*t)),
        "appends never seen on the disk: {unseen:?}"
    );
    assert!(seen.subkey_of.values().all(|s| s.len() == 1));
    // Each session (and the writing after the truncation) encrypted only in
    // segments it created: its subkeys are its own.
    let sessions = ["a1", "a2", "a2t", "a3", "a4", "b1"];
    for (i, s) in sessions.iter().enumerate() {
        let mine = seen.subkeys_of(s);
        assert!(!mine.is_empty(), "{s}");
        for t in &sessions[..i] {
            assert!(
                mine.is_disjoint(&seen.subkeys_of(t)),
                "sessions {t} and {s} share a subkey"
            );
        }
    }
    // The scenarios were reached: the same LSNs were encrypted again after
    // the truncation (and by b), and after the crash.
    assert_eq!(seen.subkeys_at(cut).len(), 3, "lsn {cut}: a1, a2t, b1");
    for lsn in a2[0]..=*a2.last().unwrap() {
        assert_eq!(seen.subkeys_at(lsn).len(), 2, "lsn {lsn}: a2, a2t");
    }
    for (lsn, tag) in (batch_first..).zip(&batch_tags) {
        if seen.subkey_of.contains_key(tag) {
            assert_eq!(seen.subkeys_at(lsn).len(), 2, "lsn {lsn}: a3, a4");
        }
    }
    // b's segments differ from a's only by their key seeds.
    let (a_headers, b_headers) = (&seen.headers["a"], &seen.headers["b"]);
    let a_first = a_headers.first().unwrap().1;
    let b_first = b_headers.first().unwrap().1;
    assert_eq!(
        (a_first.log_id, a_first.salt),
        (b_first.log_id, b_first.salt),
        "the second log does not share the first's log id and salt"
    );
    assert_ne!(a_first.seed, b_first.seed);
    assert!(b_headers.len() >= 3, "b wrote {} segments", b_headers.len());
}
