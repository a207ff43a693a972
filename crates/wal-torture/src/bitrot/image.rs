//! The image of a log directory (every file's bytes), its independent
//! listing (each segment walked with `wal_format::RecordDecoder`, not
//! `wal-reader`), and the damage applied to it.

use std::path::Path;

use groupwal::format::{
    CleanMarker, CommitMarker, RecordType, SEGMENT_HEADER_LEN, parse_segment_file_name,
};
use groupwal::io::sim::{SIM_SECTOR, SimStorage};
use groupwal::io::{CLEAN_FILE, LOCK_FILE, OpenOptions, Storage};

use super::workload::BitrotPlan;
use super::{Kind, Position};
use crate::layout::{Files, Fnv, difference, files, walk_segment};
use crate::rng::{Rng, mix};
use crate::workload::DIR;

/// Every file of the log directory, by name (sorted), with its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Image {
    files: Files,
}

fn io(what: &str, name: &str) -> impl FnOnce(std::io::Error) -> String {
    let what = format!("{what} {name}");
    move |e| format!("{what}: {e}")
}

impl Image {
    /// The live content of every file in the log directory of `sim`.
    pub(crate) fn take(sim: &SimStorage) -> Result<Image, String> {
        Ok(Image {
            files: files(sim, true)?,
        })
    }

    /// The bytes of file `name`.
    pub(crate) fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }

    /// The segment files, in name (LSN) order.
    fn segments(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .filter(|(n, _)| parse_segment_file_name(n).is_some())
            .map(|(n, b)| (n.as_str(), b.as_slice()))
    }

    /// The last LSN the `CLEAN` marker names, if it is there and valid.
    pub(crate) fn clean_last_lsn(&self) -> Option<u64> {
        let bytes = self.file(CLEAN_FILE)?;
        CleanMarker::decode(bytes).ok().map(|m| m.last_lsn().get())
    }

    /// A fresh simulated disk holding exactly these files, durably.
    pub(crate) fn restore(&self, seed: u64) -> Result<SimStorage, String> {
        let sim = SimStorage::new(seed);
        let dir = Path::new(DIR);
        sim.create_dir_all(dir).map_err(io("create", DIR))?;
        for (name, bytes) in &self.files {
            let file = sim
                .open(&dir.join(name), OpenOptions::create())
                .map_err(io("create", name))?;
            file.write_all_at(bytes, 0).map_err(io("write", name))?;
            file.sync_all().map_err(io("sync", name))?;
        }
        sim.sync_dir(dir).map_err(io("sync", DIR))?;
        Ok(sim)
    }

    /// How the files of `sim` differ from this image (`LOCK` aside), or
    /// `None` if they do not.
    pub(crate) fn differs_from(&self, sim: &SimStorage) -> Result<Option<String>, String> {
        let before: Files = self
            .files
            .iter()
            .filter(|(n, _)| n != LOCK_FILE)
            .cloned()
            .collect();
        Ok(difference(&before, &files(sim, false)?))
    }

    /// Applies `damage`.
    pub(crate) fn apply(&mut self, damage: &Damage) -> Result<(), String> {
        let bytes = self
            .files
            .iter_mut()
            .find(|(n, _)| *n == damage.file)
            .map(|(_, b)| b)
            .ok_or_else(|| format!("no file {}", damage.file))?;
        let start = usize::try_from(damage.offset).map_err(|e| e.to_string())?;
        bytes
            .get_mut(start..start.saturating_add(damage.bytes.len()))
            .ok_or_else(|| format!("damage outside {}", damage.file))?
            .copy_from_slice(&damage.bytes);
        Ok(())
    }
}

/// One physical record of a segment, as the independent walk found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Phys {
    /// Its offset in the file.
    pub(crate) offset: u64,
    /// Its length on disk (header and payload).
    pub(crate) len: u64,
    /// Its type.
    pub(crate) ty: RecordType,
    /// The LSN in its header.
    pub(crate) lsn: u64,
    /// For a commit marker, its durable LSN.
    pub(crate) durable: Option<u64>,
    /// The offset of the commit marker that starts its group (of the
    /// record itself, for a marker).
    pub(crate) group: u64,
}

impl Phys {
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// One segment file, walked.
#[derive(Clone, Debug)]
pub(crate) struct SegmentListing {
    /// The file name.
    pub(crate) name: String,
    /// The first LSN (header and name).
    pub(crate) first_lsn: u64,
    /// Its records, in file order.
    pub(crate) records: Vec<Phys>,
    /// Where its records end.
    pub(crate) data_end: u64,
}

/// Every segment of an image, walked.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    pub(crate) segments: Vec<SegmentListing>,
}

/// Walks every segment of `image` with a `RecordDecoder` and checks that
/// the logical records it finds are LSNs `1..=acked`, in order, each once,
/// every group started by a commit marker.
pub(crate) fn list(image: &Image, acked: u64) -> Result<Listing, String> {
    let mut segments = Vec::new();
    let mut next = 1u64;
    for (name, bytes) in image.segments() {
        let mut records = Vec::new();
        let mut group_at = None;
        let (header, end) = walk_segment(name, bytes, |at, record| {
            let ty = record.header.record_type;
            let lsn = record.header.lsn.get();
            let durable = match ty {
                RecordType::Commit => {
                    let m = CommitMarker::decode(record)
                        .map_err(|e| format!("{name} at {at}: commit marker: {e}"))?;
                    group_at = Some(at as u64);
                    Some(m.durable().get())
                }
                _ => None,
            };
            let group =
                group_at.ok_or_else(|| format!("{name} at {at}: a record before any marker"))?;
            if matches!(
                ty,
                RecordType::Full | RecordType::First | RecordType::Checkpoint
            ) {
                if lsn != next {
                    return Err(format!("{name} at {at}: lsn {lsn}, expected {next}"));
                }
                next += 1;
            }
            records.push(Phys {
                offset: at as u64,
                len: record.encoded_len() as u64,
                ty,
                lsn,
                durable,
                group,
            });
            Ok(())
        })?;
        segments.push(SegmentListing {
            name: name.to_owned(),
            first_lsn: header.first_lsn.get(),
            records,
            data_end: end as u64,
        });
    }
    if next != acked + 1 {
        return Err(format!(
            "the segments hold lsns 1..{next}, {acked} were acknowledged"
        ));
    }
    Ok(Listing { segments })
}

impl Listing {
    /// FNV-1a over the layout: names, and each record's offset, length,
    /// type, LSN and durable LSN.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        for seg in &self.segments {
            h.eat(seg.name.as_bytes());
            for r in &seg.records {
                h.eat_u64s(&[
                    r.offset,
                    r.len,
                    u64::from(r.ty.as_u8()),
                    r.lsn,
                    r.durable.unwrap_or(u64::MAX),
                ]);
            }
        }
        h.finish()
    }
}

/// Bytes written over a file of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    /// The segment index.
    pub(crate) segment: usize,
    /// The file.
    pub(crate) file: String,
    /// Where.
    pub(crate) offset: u64,
    /// What.
    pub(crate) bytes: Vec<u8>,
}

impl Damage {
    /// The segment and the range of bytes (`start..end`) the damage really
    /// changes in `image`, or `None` if it changes nothing.
    pub(crate) fn changed(&self, image: &Image) -> Option<(usize, u64, u64)> {
        let old = image.file(&self.file)?;
        let at = usize::try_from(self.offset).ok()?;
        let old = old.get(at..at.checked_add(self.bytes.len())?)?;
        let differs = |(a, b): (&u8, &u8)| a != b;
        let first = old.iter().zip(&self.bytes).position(differs)?;
        let last = old.iter().zip(&self.bytes).rposition(differs)?;
        Some((
            self.segment,
            self.offset + first as u64,
            self.offset + last as u64 + 1,
        ))
    }
}

/// The damage of `kind` at `position`: the random choices (which byte,
/// which bit, the garbage) follow from the plan, position and kind.
/// Sectors are clipped to the segment's header and records.
pub(crate) fn damage_for(
    plan: &BitrotPlan,
    listing: &Listing,
    image: &Image,
    position: Position,
    kind: Kind,
) -> Result<Damage, String> {
    let segment = position.segment();
    let seg = listing
        .segments
        .get(segment)
        .ok_or_else(|| format!("no segment {segment}"))?;
    let (start, len) = match position {
        Position::Header { .. } => (0, SEGMENT_HEADER_LEN as u64),
        Position::Record { index, .. } => {
            let r = seg
                .records
                .get(index)
                .ok_or_else(|| format!("no record {index} in {}", seg.name))?;
            (r.offset, r.len)
        }
    };
    let index = match position {
        Position::Header { .. } => u64::MAX,
        Position::Record { index, .. } => index as u64,
    };
    let mut rng = Rng::new(mix(&[
        plan.seed,
        u64::from(plan.ending == super::Ending::Crash),
        segment as u64,
        index,
        kind as u64,
    ]));
    let target = start + rng.range(0, len - 1);
    let bytes = image
        .file(&seg.name)
        .ok_or_else(|| format!("no file {}", seg.name))?;
    let (offset, bytes) = match kind {
        Kind::BitFlip => {
            let old = bytes
                .get(target as usize)
                .copied()
                .ok_or_else(|| format!("offset {target} outside {}", seg.name))?;
            (target, vec![old ^ (1u8 << rng.range(0, 7))])
        }
        Kind::ZeroSector | Kind::GarbageSector => {
            let sector = target / SIM_SECTOR * SIM_SECTOR;
            let end = (sector + SIM_SECTOR).min(seg.data_end);
            let n = usize::try_from(end - sector).map_err(|e| e.to_string())?;
            let fill = if kind == Kind::ZeroSector {
                vec![0; n]
            } else {
                (0..n).map(|_| rng.next_u64() as u8).collect()
            };
            (sector, fill)
        }
    };
    Ok(Damage {
        segment,
        file: seg.name.clone(),
        offset,
        bytes,
    })
}

/// If `damaged` holds only zeros from a record boundary of the last
/// segment to the end of its records (a zeroed sector that took the last
/// records whole), the LSN in the header of the first record so erased:
/// the damaged image is then exactly one in which those records were never
/// written (preallocated space reads as zeros).
pub(crate) fn zeroed_tail(listing: &Listing, damaged: &Image) -> Option<u64> {
    let seg = listing.segments.last()?;
    let bytes = damaged.file(&seg.name)?;
    let end = usize::try_from(seg.data_end).ok()?;
    let mut first = None;
    for r in seg.records.iter().rev() {
        let at = usize::try_from(r.offset).ok()?;
        if bytes.get(at..end)?.iter().all(|&b| b == 0) {
            first = Some(r.lsn);
        } else {
            break;
        }
    }
    first
}
