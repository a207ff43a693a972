//! A crafted compressed record cannot make a reader allocate more than the
//! maximum record size, whatever its length prefix or frame says.

use std::io::Write;

use wal_crypto::{Error, PayloadDecoder};
use wal_format::{Flags, LogicalKind, Lsn};

const MAX: usize = 1 << 20;

/// A zstd frame of 256 MiB of zeros: a few kilobytes on disk.
fn bomb_frame() -> Vec<u8> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 19).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&chunk).unwrap();
    }
    enc.finish().unwrap()
}

fn with_prefix(len: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = len.to_le_bytes().to_vec();
    v.extend_from_slice(frame);
    v
}

#[test]
fn honest_prefix_over_the_maximum_is_refused_before_decompressing() {
    let frame = bomb_frame();
    assert!(frame.len() < 64 * 1024, "frame is {} bytes", frame.len());
    let mut d = PayloadDecoder::new(MAX);
    let record = with_prefix(256 << 20, &frame);
    let got = d.decode(
        Lsn::new(1),
        LogicalKind::Data,
        Flags::COMPRESSED,
        &record,
        None,
    );
    assert_eq!(
        got,
        Err(Error::DecompressedTooLarge {
            lsn: Lsn::new(1),
            len: 256 << 20,
            max: MAX as u64
        })
    );
}

#[test]
fn lying_prefix_is_caught_without_growing_past_it() {
    let frame = bomb_frame();
    let mut d = PayloadDecoder::new(MAX);
    for claimed in [0u32, 100, MAX as u32] {
        let record = with_prefix(claimed, &frame);
        let got = d.decode(
            Lsn::new(2),
            LogicalKind::Data,
            Flags::COMPRESSED,
            &record,
            None,
        );
        assert!(
            matches!(got, Err(Error::Decompress { .. })),
            "claimed {claimed}: {got:?}"
        );
    }
    // The decoder's buffers never grew past the maximum record size: the
    // next honest record still decodes, and the process did not allocate
    // 256 MiB (under the test's default memory it would have to).
    let ok = d
        .decode(Lsn::new(3), LogicalKind::Data, Flags::EMPTY, b"fine", None)
        .unwrap();
    assert_eq!(ok, b"fine");
}

#[test]
fn truncated_and_garbage_frames_are_errors() {
    let mut d = PayloadDecoder::new(MAX);
    for bad in [&b""[..], &b"\x01\x00"[..], &b"\x10\x00\x00\x00garbage!"[..]] {
        let got = d.decode(Lsn::new(4), LogicalKind::Data, Flags::COMPRESSED, bad, None);
        assert!(
            matches!(got, Err(Error::Decompress { .. })),
            "{bad:?}: {got:?}"
        );
    }
}
