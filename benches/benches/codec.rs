//! Record codec throughput: encode, and decode + verify, of streams of
//! records with 128 B, 1 KiB, 16 KiB and 1 MiB payloads, beside a bare
//! crc32fast pass over the same bytes.
//!
//! Each iteration handles a stream of about 1 MiB, so time per iteration
//! divided by the record count is the per-record cost.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use groupwal_benches::{BENCH_SALT, encode_stream, payload, record_stream};
use wal_format::RecordDecoder;

const SIZES: [usize; 4] = [128, 1024, 16 * 1024, 1024 * 1024];
const STREAM_BYTES: usize = 1024 * 1024;

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in SIZES {
        let count = (STREAM_BYTES / size).max(4);
        let body = payload(size);
        let stream = record_stream(&body, count);
        group.throughput(Throughput::Bytes(stream.len() as u64));

        group.bench_with_input(BenchmarkId::new("crc32fast", size), &stream, |b, s| {
            b.iter(|| crc32fast::hash(black_box(s)))
        });

        let mut out = Vec::with_capacity(stream.len());
        group.bench_with_input(BenchmarkId::new("encode", size), &body, |b, p| {
            b.iter(|| {
                out.clear();
                encode_stream(&mut out, black_box(p), count);
                out.len()
            })
        });

        let decoder = RecordDecoder::new(BENCH_SALT, 2 * 1024 * 1024);
        group.bench_with_input(BenchmarkId::new("decode_verify", size), &stream, |b, s| {
            b.iter(|| {
                let mut rest = black_box(&s[..]);
                let mut n = 0u64;
                while let Ok(record) = decoder.decode(rest) {
                    n += record.header.lsn.get();
                    rest = rest.get(record.encoded_len()..).unwrap_or(&[]);
                }
                n
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
