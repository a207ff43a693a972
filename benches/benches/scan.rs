//! The reader's own cost per record: a full scan of a 64 MiB log of
//! 128 B / 1 KiB / 16 KiB records held on the in-memory simulated disk
//! (`wal_io::sim`), beside a bare read of the same files from it and
//! `crc32fast` over the same bytes.
//!
//! On the simulated disk a read is a `memcpy`, so what is left is the
//! per-record work (decoding, checking the sequence, bookkeeping) and the
//! checksums. The real-disk figure (page-cache copies, read-ahead thread)
//! is `cargo run --release -p groupwal-benches --example scan_throughput`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use groupwal_benches::write_log;
use wal_io::sim::SimStorage;
use wal_io::{OpenOptions, Storage};
use wal_reader::{LogReader, ReadOptions};

const LOG_BYTES: usize = 64 << 20;

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    group.sample_size(20);
    for size in [128usize, 1024, 16 * 1024] {
        let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
        let dir = PathBuf::from(format!("/scan-{size}"));
        let Ok((files, records)) = write_log(&storage, &dir, 16 << 20, LOG_BYTES, size) else {
            panic!("write the log");
        };
        let bytes = records * (size as u64 + 32);
        group.throughput(Throughput::Bytes(bytes));

        let mut chunk = vec![0u8; 1 << 20];
        group.bench_function(BenchmarkId::new("bare_read", size), |b| {
            b.iter(|| {
                let mut n = 0u64;
                for path in &files {
                    let Ok(file) = storage.open(path, OpenOptions::read()) else {
                        panic!("open a segment");
                    };
                    loop {
                        match file.read_at(&mut chunk, n) {
                            Ok(0) | Err(_) => break,
                            Ok(k) => n += k as u64,
                        }
                    }
                    n = 0;
                }
                black_box(&chunk);
            })
        });

        let mut ro = ReadOptions::new();
        ro.read_ahead(false);
        group.bench_function(BenchmarkId::new("reader", size), |b| {
            b.iter(|| {
                let Ok(mut reader) = LogReader::open(storage.clone(), &dir, &ro) else {
                    panic!("open a reader");
                };
                let mut n = 0u64;
                while let Ok(Some(r)) = reader.next_record() {
                    n += r.payload.len() as u64;
                }
                assert_eq!(n, records * size as u64);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
