//! Iteration across many segments equals what was written.

use proptest::prelude::*;
use wal_format::{LogicalKind, Lsn};
use wal_reader::{LogReader, TailKind, recover_with};

use crate::support::*;

#[test]
fn many_segments_with_fragments_batches_and_checkpoints() {
    let (_sim, storage) = sim(1);
    let written = write_mixed(storage.clone(), &dir(), 300, 7);
    let segments = segment_files(&*storage);
    assert!(segments > 10, "only {segments} segments");
    assert!(written.iter().any(|r| r.1 == LogicalKind::Checkpoint));
    assert!(
        written.iter().any(|r| r.2.len() > 3000),
        "no fragmented record"
    );

    let mut reader = LogReader::open(storage.clone(), dir(), &read_options()).unwrap();
    let mut got = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        got.push((r.lsn, r.kind, r.payload.to_vec()));
    }
    assert_eq!(got, written);
    let end = reader.end().unwrap();
    assert_eq!(end.next_lsn, Lsn::new(written.len() as u64 + 1));
    assert_eq!(end.tail, TailKind::ZeroFilled);

    // The owned iterator gives the same.
    let again = read_all(storage, &dir(), &read_options()).unwrap();
    assert_eq!(as_expected(&again), written);
}

#[test]
fn empty_log_reads_nothing() {
    let (_sim, storage) = sim(2);
    storage.create_dir_all(&dir()).unwrap();
    let mut reader = LogReader::open(storage, dir(), &read_options()).unwrap();
    assert!(reader.next_record().unwrap().is_none());
    assert_eq!(reader.end().unwrap().tail, TailKind::Clean);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_logs_read_back(seed in any::<u64>(), n in 1usize..80) {
        let (_sim, storage) = sim(seed);
        let written = write_mixed(storage.clone(), &dir(), n, seed);
        let got = read_all(storage, &dir(), &read_options()).unwrap();
        prop_assert_eq!(as_expected(&got), written);
    }

    /// Recovery with a replay hands over exactly what was written
    /// (fragments reassembled, batches whole, checkpoints), and the log it
    /// returns appends after the last.
    #[test]
    fn replaying_recovery_yields_what_was_written(seed in any::<u64>(), n in 1usize..80) {
        let (_sim, storage) = sim(seed);
        let written = write_mixed(storage.clone(), &dir(), n, seed);
        let mut replayed = Vec::new();
        let (log, report) = recover_with(storage, dir(), &log_options(), &read_options(), |r| {
            replayed.push(r.to_owned_record());
        })
        .unwrap();
        prop_assert_eq!(report.next_lsn, Lsn::new(written.len() as u64 + 1));
        prop_assert_eq!(as_expected(&replayed), written);
        prop_assert_eq!(report.last_lsn, replayed.last().map_or(Lsn::ZERO, |r| r.lsn));
        drop(log);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Reading ahead on a thread of its own changes nothing a reader sees:
    /// records of every size around the buffer's (within the headroom,
    /// beyond it, larger than the buffer, straddling chunk boundaries),
    /// read whole and after seeks, with and without it.
    #[test]
    fn read_ahead_yields_what_reading_inline_does(
        seed in any::<u64>(),
        sizes in proptest::collection::vec(0usize..20_000, 1..120),
        seeks in proptest::collection::vec(any::<u64>(), 0..4),
    ) {
        let (_sim, storage) = sim(seed);
        let mut options = wal_io::LogOptions::new();
        options.create(true).segment_size(256 << 10);
        let mut w = SegWriter::open(storage.clone(), &options);
        for (i, &len) in sizes.iter().enumerate() {
            w.append(&payload(i as u64 + 1, len));
        }
        drop(w);
        let read = |ahead: bool, from: Option<Lsn>| {
            let mut o = read_options();
            o.buffer_size(8192).read_ahead(ahead);
            let mut reader = LogReader::open(storage.clone(), dir(), &o).unwrap();
            if let Some(lsn) = from {
                reader.seek(lsn).unwrap();
            }
            let mut out = Vec::new();
            while let Some(r) = reader.next_record().unwrap() {
                out.push((r.lsn, r.payload.to_vec()));
            }
            out
        };
        let inline = read(false, None);
        prop_assert_eq!(inline.len(), sizes.len());
        prop_assert_eq!(read(true, None), inline);
        for s in seeks {
            let lsn = Lsn::new(1 + s % sizes.len() as u64);
            prop_assert_eq!(read(true, Some(lsn)), read(false, Some(lsn)));
        }
    }
}
