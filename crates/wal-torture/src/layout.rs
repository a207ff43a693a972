//! What the bit-rot and read-fault campaigns share about the files a
//! workload leaves: reading them off the simulated disk, telling how they
//! changed, walking a segment's records with `wal_format::RecordDecoder`
//! (independently of `wal-reader`), and fingerprinting a layout.

use std::path::Path;

use groupwal::format::{Record, RecordDecoder, SEGMENT_HEADER_LEN, SegmentHeader};
use groupwal::io::sim::SimStorage;
use groupwal::io::{LOCK_FILE, Storage};

use crate::workload::DIR;

/// Files of the log directory, by name (sorted), with their bytes.
pub(crate) type Files = Vec<(String, Vec<u8>)>;

/// The live bytes of every file of the log directory of `sim`, sorted by
/// name; `LOCK` only if `lock`.
pub(crate) fn files(sim: &SimStorage, lock: bool) -> Result<Files, String> {
    let dir = Path::new(DIR);
    let mut out = Vec::new();
    for entry in sim
        .list_dir(dir)
        .map_err(|e| format!("listing {DIR}: {e}"))?
    {
        if !entry.is_file || (!lock && entry.name == LOCK_FILE) {
            continue;
        }
        let bytes = sim
            .contents(&dir.join(&entry.name))
            .map_err(|e| format!("reading {}: {e}", entry.name))?;
        out.push((entry.name, bytes));
    }
    out.sort();
    Ok(out)
}

/// How `after` differs from `before`, or `None`.
pub(crate) fn difference(before: &Files, after: &Files) -> Option<String> {
    if before == after {
        return None;
    }
    let names = |f: &Files| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if names(before) != names(after) {
        return Some(format!(
            "files {:?} became {:?}",
            names(before),
            names(after)
        ));
    }
    let changed: Vec<String> = before
        .iter()
        .zip(after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, a)| {
            let first = b.1.iter().zip(&a.1).position(|(x, y)| x != y);
            format!(
                "{} ({} bytes, now {}; first change at {first:?})",
                b.0,
                b.1.len(),
                a.1.len()
            )
        })
        .collect();
    Some(format!("changed: {}", changed.join(", ")))
}

/// Walks the records of segment file `name` (`bytes`): decodes its header,
/// then calls `each` with the offset of every record that decodes, in file
/// order, up to the first that does not. Returns the header and where the
/// records end.
pub(crate) fn walk_segment(
    name: &str,
    bytes: &[u8],
    mut each: impl FnMut(usize, &Record<'_>) -> Result<(), String>,
) -> Result<(SegmentHeader, usize), String> {
    let header = SegmentHeader::decode(bytes).map_err(|e| format!("{name}: header: {e}"))?;
    let decoder = RecordDecoder::new(header.salt, u32::MAX);
    let mut at = SEGMENT_HEADER_LEN;
    while let Some(rest) = bytes.get(at..) {
        let Ok(record) = decoder.decode(rest) else {
            break;
        };
        each(at, &record)?;
        at += record.encoded_len();
    }
    Ok((header, at))
}

/// FNV-1a, fed piece by piece: a layout's fingerprint.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Each number, little-endian.
    pub(crate) fn eat_u64s(&mut self, numbers: &[u64]) {
        for n in numbers {
            self.eat(&n.to_le_bytes());
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}
