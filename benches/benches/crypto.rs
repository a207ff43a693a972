//! Payload transform throughput per payload size: AES-256-GCM encrypt and
//! decrypt (through `PayloadEncoder`/`PayloadDecoder`, as the log uses
//! them), and zstd level-1 compress and decompress of a text-like payload.

#![allow(clippy::print_stderr)] // the bench reports the compression ratio it measured

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use groupwal_benches::payload;
use wal_crypto::{
    Key, Keyring, PayloadDecoder, PayloadEncoder, SegmentDecryptor, SegmentEncryptor,
};
use wal_format::{KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};

const SIZES: [usize; 4] = [128, 1024, 16 * 1024, 1024 * 1024];

/// Text-like bytes (log lines with varying numbers): compressible, not trivially.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "{{\"seq\":{i},\"user\":{},\"op\":\"put\",\"key\":\"k{:x}\"}}\n",
                i % 977,
                i * 2654435761 % 65521
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn crypto(c: &mut Criterion) {
    let keys = Keyring::new(KeyId::new(1), Key::from_bytes([7; 32])).expect("key id 1 is valid");
    let mut group = c.benchmark_group("crypto");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let body = payload(size);

        let mut header = SegmentHeader::new(Lsn::new(1), Salt::new(1), LogId::new(1));
        let mut enc = SegmentEncryptor::new_segment(&keys, &mut header, wal_crypto::Link::NONE)
            .expect("segment cipher");
        let dec = SegmentDecryptor::open(&keys, &header).expect("right key");
        let mut encoder = PayloadEncoder::new(None).expect("no compression");
        let mut lsn = 0u64;
        group.bench_with_input(BenchmarkId::new("encrypt", size), &body, |b, p| {
            b.iter(|| {
                lsn += 1;
                let (_, out) = encoder
                    .encode(
                        Lsn::new(lsn),
                        LogicalKind::Data,
                        black_box(p),
                        Some(&mut enc),
                    )
                    .expect("encrypt");
                out.len()
            })
        });
        let (flags, sealed) = encoder
            .encode(Lsn::new(lsn + 1), LogicalKind::Data, &body, Some(&mut enc))
            .expect("encrypt");
        let sealed = sealed.to_vec();
        let mut decoder = PayloadDecoder::new(2 * size);
        group.bench_with_input(BenchmarkId::new("decrypt", size), &sealed, |b, s| {
            b.iter(|| {
                decoder
                    .decode(
                        Lsn::new(lsn + 1),
                        LogicalKind::Data,
                        flags,
                        black_box(s),
                        Some(&dec),
                    )
                    .expect("decrypt")
                    .len()
            })
        });

        let doc = text(size);
        let mut compressor = PayloadEncoder::new(Some(wal_crypto::DEFAULT_LEVEL)).expect("zstd");
        group.bench_with_input(BenchmarkId::new("compress", size), &doc, |b, d| {
            b.iter(|| {
                compressor
                    .encode(Lsn::new(1), LogicalKind::Data, black_box(d), None)
                    .expect("compress")
                    .1
                    .len()
            })
        });
        let (cflags, packed) = compressor
            .encode(Lsn::new(1), LogicalKind::Data, &doc, None)
            .expect("compress");
        let packed = packed.to_vec();
        eprintln!(
            "crypto/compress/{size}: ratio {:.2} ({} -> {} bytes)",
            doc.len() as f64 / packed.len() as f64,
            doc.len(),
            packed.len()
        );
        group.bench_with_input(BenchmarkId::new("decompress", size), &packed, |b, p| {
            b.iter(|| {
                decoder
                    .decode(Lsn::new(1), LogicalKind::Data, cflags, black_box(p), None)
                    .expect("decompress")
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, crypto);
criterion_main!(benches);
