//! The on-disk format of a groupwal log: record and segment headers, their
//! checksums, fragmentation of large records and batch markers.
//!
//! This is the bottom layer of groupwal. It does no I/O, starts no threads,
//! allocates nothing per record, and depends on no other groupwal crate.
//! The [`spec`] module describes every byte, what each checksum covers,
//! the sync and recovery modes, and the format's version history.
//!
//! # Overview
//!
//! - A log is a directory of *segments*, each named by its first [`Lsn`]
//!   ([`segment_file_name`]) and starting with a [`SegmentHeader`] that
//!   carries a random [`Salt`].
//! - Records follow the segment header back to back. Each has a 32-byte
//!   header ([`RecordHeader`]) with two CRC-32 checksums: one over the header
//!   fields (so a length is trusted before it sizes a read), one over the
//!   header fields and the payload (so every bit of a record is covered).
//!   Every record carries its LSN and its segment's salt.
//! - [`encode_record`] appends a record to a caller's buffer;
//!   [`RecordDecoder::decode`] verifies one and borrows its payload.
//! - Payloads larger than a fragment are split by [`split_fragments`] and
//!   put back together by a [`Reassembler`]. A [`BatchMarker`] makes the
//!   records after it one all-or-nothing batch.
//! - A [`CommitMarker`] starts every group a writer writes, carrying the
//!   LSN through which the log was durable at that moment; a
//!   [`CleanMarker`] (the content of the clean-close marker file) says
//!   where a cleanly closed log ends. They are the evidence recovery uses
//!   to tell a torn write from damage to acknowledged records.
//!
//! # Example
//!
//! ```
//! use wal_format::{encode_record, Flags, Lsn, RecordDecoder, RecordHeader, RecordType, Salt};
//!
//! # fn main() -> Result<(), wal_format::Error> {
//! let salt = Salt::new(0x1234_5678_9abc_def0);
//! let mut buf = Vec::new();
//! for (i, payload) in [&b"first"[..], b"second"].into_iter().enumerate() {
//!     let header = RecordHeader {
//!         lsn: Lsn::new(1 + i as u64),
//!         salt,
//!         record_type: RecordType::Full,
//!         flags: Flags::EMPTY,
//!     };
//!     encode_record(&mut buf, &header, payload)?;
//! }
//!
//! let decoder = RecordDecoder::new(salt, 1 << 20);
//! let mut rest = &buf[..];
//! let mut lsns = Vec::new();
//! while !rest.is_empty() {
//!     let record = decoder.decode(rest)?;
//!     lsns.push(record.header.lsn);
//!     rest = &rest[record.encoded_len()..];
//! }
//! assert_eq!(lsns, [Lsn::new(1), Lsn::new(2)]);
//! # Ok(())
//! # }
//! ```
//!
//! # What this crate does not do
//!
//! It does not read or write files (`wal-io`), check LSN continuity across
//! records or group batches (`wal-reader`), or compress and encrypt
//! payloads (`wal-crypto`); it only defines the flags that say so.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

/// The on-disk format of a groupwal log, byte by byte: segment and record
/// headers, what each checksum covers, markers, streams, compression and
/// encryption, where data ends, recovery modes, sync modes, the truncation
/// protocol, assumptions about the media and the version history. (The
/// repository's `docs/FORMAT.md`, rendered here.)
pub mod spec {
    // Rendered by rustdoc only: its code blocks are byte tables and
    // formulas, neither doctests nor Rust.
    #![allow(rustdoc::invalid_rust_codeblocks)]
    #![cfg_attr(all(doc, not(doctest)), doc = "")]
    #![cfg_attr(all(doc, not(doctest)), doc = include_str!("../FORMAT.md"))]
}

mod error;
mod fragment;
mod ids;
mod layout;
mod marker;
mod record;
mod segment;
mod stream;
mod zero;

pub use error::{Checksum, Error, Result};
pub use fragment::{
    BatchMarker, Fragments, LogicalKind, LogicalRecord, Reassembler, split_fragments,
};
pub use ids::{KeyId, LogId, Lsn, Salt};
pub use marker::{CleanMarker, CommitMarker, MARKER_TAG_LEN, marker_body};
pub use record::{
    ENCRYPTION_TAG_LEN, Flags, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, Record, RecordDecoder,
    RecordHeader, RecordType, VerifiedHeader, encode_record,
};
pub use segment::{
    FORMAT_VERSION, HEADER_TAG_LEN, HEADER_TAG_OFFSET, OLDEST_READ_VERSION, SEGMENT_EXTENSION,
    SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SegmentHeader, parse_segment_file_name, segment_file_name,
};
pub use stream::{StreamHeader, StreamOp};
pub use zero::first_nonzero;
