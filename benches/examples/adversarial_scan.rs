//! The rate at which `groupwal verify` (a reader in the skipping mode)
//! gets through a segment of adversarial content after a damaged record:
//! the segment's own salt over and over (a candidate record at every eighth
//! offset), or headers with valid checksums every 32 bytes claiming 1 MiB
//! payloads that never verify. The search after damage must be linear in
//! the bytes read: the rate should not fall as the segment grows.
//!
//! ```text
//! cargo run --release -p groupwal-benches --example adversarial_scan -- [MiB,MiB,...] [rounds]
//! ```
//!
//! Defaults: 4, 16 and 64 MiB, 3 rounds, in a temporary directory (warm
//! page cache). Prints, per content and size, the median of the rounds in
//! MB/s and the range.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wal_format::{
    CommitMarker, Flags, LogId, Lsn, RecordHeader, RecordType, Salt, SegmentHeader, encode_record,
    segment_file_name,
};
use wal_io::FileStorage;
use wal_reader::{LogReader, ReadOptions, RecoveryMode};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SALT: u64 = 0x5a17_5a17_5a17_5a17;

fn record(out: &mut Vec<u8>, lsn: u64, ty: RecordType, payload: &[u8]) {
    let header = RecordHeader {
        lsn: Lsn::new(lsn),
        salt: Salt::new(SALT),
        record_type: ty,
        flags: Flags::EMPTY,
    };
    encode_record(out, &header, payload).unwrap();
}

/// 20 groups, a damaged record, then `fill` up to `len` bytes.
fn segment(len: usize, crafted: bool) -> Vec<u8> {
    let header = SegmentHeader::new(Lsn::FIRST, Salt::new(SALT), LogId::new(7));
    let mut out = header.encode().to_vec();
    for lsn in 1..=21u64 {
        let marker = CommitMarker::new(Lsn::new(lsn - 1)).encode();
        record(&mut out, lsn, RecordType::Commit, &marker);
        record(
            &mut out,
            lsn,
            RecordType::Full,
            b"a record before the damage",
        );
    }
    let last = out.len() - 4;
    out[last] ^= 1;
    if crafted {
        let mut header = Vec::new();
        record(&mut header, 1000, RecordType::Full, &vec![0xa5; 1 << 20]);
        header.truncate(32);
        while out.len() < len {
            out.extend_from_slice(&header);
        }
    } else {
        while out.len() < len {
            out.extend_from_slice(&SALT.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

fn verify(dir: &Path) -> Res<u64> {
    let mut o = ReadOptions::new();
    o.mode(RecoveryMode::SkipAnyCorruptedRecords);
    let mut reader = LogReader::open(Arc::new(FileStorage::new()), dir, &o)?;
    let mut n = 0;
    while reader.next_record()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .get(1)
        .map_or("4,16,64", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let rounds: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let tmp = tempfile::tempdir()?;
    println!("content          size     MB/s (median of {rounds})  range");
    for crafted in [false, true] {
        for &mib in &sizes {
            let dir = tmp.path().join(format!("{crafted}-{mib}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                dir.join(segment_file_name(Lsn::FIRST)),
                segment(mib << 20, crafted),
            )?;
            let mut rates = Vec::new();
            for _ in 0..rounds {
                let started = Instant::now();
                let n = verify(&dir)?;
                assert_eq!(n, 20);
                rates.push((mib << 20) as f64 / started.elapsed().as_secs_f64() / 1e6);
            }
            rates.sort_by(f64::total_cmp);
            let name = if crafted {
                "crafted headers"
            } else {
                "salt pattern"
            };
            println!(
                "{name:<16} {mib:>4} MiB  {:>8.0}              {:.0}-{:.0}",
                rates[rates.len() / 2],
                rates[0],
                rates[rates.len() - 1]
            );
        }
    }
    Ok(())
}
