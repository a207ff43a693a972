//! The records of a queued request, held in whichever shape costs the
//! appender least: one record in its own buffer, a batch, or a run of small
//! unsynced appends packed back to back into one reusable buffer.

use wal_format::LogicalKind;

/// Unsynced appends are packed into one request up to this many payload
/// bytes (and no payload larger than [`PACK_MAX_RECORD`] is packed): large
/// enough that a request, an allocation and a wake-up of the I/O thread
/// are rare, small enough that the pooled buffers stay small and the I/O
/// thread gets a request to write soon.
pub(crate) const PACK_BYTES: usize = 256 * 1024;

/// The largest payload packed with others; larger ones get a buffer of
/// their own (the copy into the packed buffer is made under the queue
/// lock).
pub(crate) const PACK_MAX_RECORD: usize = 16 * 1024;

/// How many emptied packed buffers the queue keeps for reuse.
pub(crate) const PACK_POOL: usize = 4;

/// The records of one request, in LSN order.
#[derive(Debug)]
pub(crate) enum RequestRecords {
    /// One record (an append or a checkpoint).
    One(LogicalKind, Vec<u8>),
    /// A batch's records.
    Many(Vec<(LogicalKind, Vec<u8>)>),
    /// Data records appended unsynced, one after another.
    Packed(Packed),
}

impl RequestRecords {
    /// The payloads of owned records ([`RequestRecords::One`], [`RequestRecords::Many`])
    /// handed back, in order; packed ones are one payload each.
    pub(crate) fn into_payloads(self) -> Vec<Vec<u8>> {
        match self {
            RequestRecords::One(_, payload) => vec![payload],
            RequestRecords::Many(records) => records.into_iter().map(|(_, p)| p).collect(),
            RequestRecords::Packed(_) => self.iter().map(|(_, p)| p.to_vec()).collect(),
        }
    }

    /// How many records.
    pub(crate) fn len(&self) -> usize {
        match self {
            RequestRecords::One(..) => 1,
            RequestRecords::Many(records) => records.len(),
            RequestRecords::Packed(p) => p.ends.len(),
        }
    }

    /// Payload bytes in all.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            RequestRecords::One(_, payload) => payload.len(),
            RequestRecords::Many(records) => records.iter().map(|(_, p)| p.len()).sum(),
            RequestRecords::Packed(p) => p.data.len(),
        }
    }

    /// Each record's kind and payload, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (LogicalKind, &[u8])> {
        let (one, many, packed) = match self {
            RequestRecords::One(kind, payload) => (Some((*kind, payload.as_slice())), None, None),
            RequestRecords::Many(records) => (None, Some(records.iter()), None),
            RequestRecords::Packed(p) => (None, None, Some(p.iter())),
        };
        one.into_iter()
            .chain(
                many.into_iter()
                    .flatten()
                    .map(|(kind, payload)| (*kind, payload.as_slice())),
            )
            .chain(packed.into_iter().flatten())
    }
}

/// Payloads of data records back to back, with where each ends.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    data: Vec<u8>,
    ends: Vec<u32>,
}

impl Packed {
    /// An empty buffer with room for [`PACK_BYTES`].
    pub(crate) fn with_room() -> Packed {
        Packed {
            data: Vec::with_capacity(PACK_BYTES),
            ends: Vec::new(),
        }
    }

    /// Whether `payload` may join: it is small, and the buffer stays within
    /// `max_bytes` (at most [`PACK_BYTES`]) and `max_records`.
    pub(crate) fn fits(&self, payload: &[u8], max_records: usize, max_bytes: usize) -> bool {
        payload.len() <= PACK_MAX_RECORD
            && self.data.len() + payload.len() <= max_bytes.min(PACK_BYTES)
            && self.ends.len() < max_records
    }

    /// Adds one record's payload (at most [`PACK_MAX_RECORD`] bytes, so
    /// its end fits in a `u32`).
    pub(crate) fn push(&mut self, payload: &[u8]) {
        self.data.extend_from_slice(payload);
        self.ends
            .push(u32::try_from(self.data.len()).unwrap_or(u32::MAX));
    }

    /// Empties it for reuse, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (LogicalKind, &[u8])> {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let end = end as usize;
            let payload = self.data.get(start..end).unwrap_or_default();
            start = end;
            (LogicalKind::Data, payload)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_records_come_back_in_order_with_their_lengths() {
        let mut p = Packed::with_room();
        let payloads: [&[u8]; 4] = [b"a", b"", b"bcd", &[7u8; 1000]];
        for payload in payloads {
            assert!(p.fits(payload, 16, PACK_BYTES));
            p.push(payload);
        }
        let records = RequestRecords::Packed(p);
        assert_eq!(records.len(), 4);
        assert_eq!(records.bytes(), 1004);
        let got: Vec<_> = records.iter().collect();
        let want: Vec<_> = payloads.iter().map(|p| (LogicalKind::Data, *p)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn packing_stops_at_its_limits() {
        let mut p = Packed::with_room();
        assert!(!p.fits(&vec![0u8; PACK_MAX_RECORD + 1], 16, PACK_BYTES));
        p.push(&[1u8; 10]);
        assert!(!p.fits(b"x", 1, PACK_BYTES), "record limit");
        assert!(p.fits(&[2u8; 10], 16, 20), "up to the byte limit");
        assert!(!p.fits(&[2u8; 11], 16, 20), "byte limit");
        while p.fits(&[0u8; PACK_MAX_RECORD], usize::MAX, PACK_BYTES) {
            p.push(&[0u8; PACK_MAX_RECORD]);
        }
        assert!(p.data.len() <= PACK_BYTES);
        assert!(p.data.len() + PACK_MAX_RECORD > PACK_BYTES);
        p.clear();
        assert_eq!(RequestRecords::Packed(p).len(), 0);
    }

    #[test]
    fn one_and_many_iterate_their_records() {
        let one = RequestRecords::One(LogicalKind::Checkpoint, b"cp".to_vec());
        assert_eq!(
            one.iter().collect::<Vec<_>>(),
            vec![(LogicalKind::Checkpoint, &b"cp"[..])]
        );
        let many = RequestRecords::Many(vec![
            (LogicalKind::Data, b"x".to_vec()),
            (LogicalKind::Data, b"yz".to_vec()),
        ]);
        assert_eq!(many.len(), 2);
        assert_eq!(many.bytes(), 3);
        assert_eq!(
            many.iter().map(|(_, p)| p.to_vec()).collect::<Vec<_>>(),
            vec![b"x".to_vec(), b"yz".to_vec()]
        );
    }
}
