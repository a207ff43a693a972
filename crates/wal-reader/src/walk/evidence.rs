//! What the log proves was acknowledged, gathered as the walk goes: the
//! clean-close marker and the commit markers walked, and how a report
//! names that evidence.

use wal_format::{CleanMarker, Lsn};

use super::Walker;
use crate::segments::Segment;

/// What made a stop in the last segment corruption: the evidence that the
/// first record not kept was acknowledged, and the highest LSN of the valid
/// records found after the stop.
#[derive(Clone, Copy, Debug)]
pub(super) struct Acked {
    pub(super) evidence: Evidence,
    pub(super) high: Option<Lsn>,
}

/// Where the strongest evidence of durability came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EvidenceAt {
    /// Nothing: no record is known to have been acknowledged.
    Nothing,
    /// The clean-close marker.
    CleanClose,
    /// A commit marker: segment index and offset.
    Marker(usize, u64),
}

/// The highest LSN the log's own evidence proves was durable (and
/// acknowledged), and where that evidence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Evidence {
    pub(super) lsn: Lsn,
    pub(super) at: EvidenceAt,
}

impl Evidence {
    pub(super) const NONE: Evidence = Evidence {
        lsn: Lsn::ZERO,
        at: EvidenceAt::Nothing,
    };

    pub(super) fn max(self, other: Evidence) -> Evidence {
        if other.lsn > self.lsn { other } else { self }
    }
}

/// What the log itself proves was acknowledged, gathered as the walk goes:
/// the clean-close marker and the commit markers walked so far.
#[derive(Debug)]
pub(super) struct Proof {
    /// The strongest evidence of durability seen.
    pub(super) best: Evidence,
    /// The clean-close marker, when it verified and names this log.
    pub(super) clean: Option<CleanMarker>,
}

impl Walker {
    /// The highest LSN the evidence seen so far proves was acknowledged.
    pub(crate) fn proven_lsn(&self) -> Lsn {
        self.proof.best.lsn
    }

    /// Takes the clean-close marker as evidence: every record below its
    /// next LSN was durable when the log was closed.
    pub(crate) fn set_clean_marker(&mut self, clean: Option<CleanMarker>) {
        self.proof.clean = clean;
        if let Some(c) = clean {
            self.proof.best = self.proof.best.max(Evidence {
                lsn: c.last_lsn(),
                at: EvidenceAt::CleanClose,
            });
        }
    }

    /// Whether the walk stands exactly where the clean-close marker says
    /// the log's data ends (its segment, offset and next LSN): nothing
    /// more to look for there.
    pub(super) fn at_clean_close_end(&self) -> bool {
        self.proof.clean.is_some_and(|clean| {
            self.pos.commit_lsn == clean.next_lsn
                && self.segments.get(self.pos.seg_idx).map(Segment::first_lsn)
                    == Some(clean.segment)
                && self.pos.commit == clean.end_offset
        })
    }

    pub(super) fn describe_evidence(&self, at: EvidenceAt) -> String {
        match at {
            EvidenceAt::Nothing => "no evidence".into(),
            EvidenceAt::CleanClose => "the log was closed cleanly after them".into(),
            EvidenceAt::Marker(seg, offset) => format!(
                "commit marker in {} at offset {offset}",
                self.segments.get(seg).map_or_else(
                    || self.dir.display().to_string(),
                    |s| s.path.display().to_string()
                )
            ),
        }
    }
}
