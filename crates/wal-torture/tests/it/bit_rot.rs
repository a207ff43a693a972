//! The bit-rot campaign (`wal_torture::bitrot`) in CI: acknowledged data
//! damaged at rest (a bit flip, a zeroed sector, a garbage sector at every
//! record of the last segment, a sample of the earlier ones, every segment
//! header), recovered in the default, point-in-time and skipping modes,
//! and held to the oracle, with zero violations. Twelve workloads, each
//! closed cleanly and crashed after its last acknowledgement, encryption
//! and compression on and off, four of them with stream records among
//! the plain ones (whose streams, read through the facade, must be what
//! the records read back make): about 8,000 cases. The oracle is shown to
//! bite on made-up and on doctored real outcomes.
//!
//! The images with stream records are recovered in the default and
//! point-in-time modes only: in the skipping mode, damage to a stream
//! record makes `Wal::open` fail with an error that does not name the
//! damage, after it removed the `CLEAN` marker (a known bug,
//! `skip_mode_reports_damage_to_stream_records`, ignored until fixed;
//! `docs/RELIABILITY.md`, "Known bugs").

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use groupwal::format::Flags;
use groupwal::reader::CorruptionKind;
use groupwal::{LogicalKind, Lsn, OwnedRecord};
use wal_torture::bitrot::oracle::{
    DamageFacts, Expectation, RangeFacts, Recovered, Refusal, ReportFacts, judge,
};
use wal_torture::bitrot::{
    self, ALL_MODES, Acked, BitrotCase, BitrotConfig, BitrotCounts, BitrotPlan, Ending, Kind, Mode,
    Position, SkipReader, Verdict,
};
use wal_torture::model::StreamSet;

/// How the sweep reads back a log recovered in the skipping mode: through
/// the open log's own reader, `Wal::read_from` (the tailing reader), which
/// must skip what recovery skipped (see
/// `skip_mode_reads_back_through_wal_read_from`).
const SKIP_READER: SkipReader = SkipReader::Wal;

/// Cases so far, over the sweeps here.
static CASES: AtomicU64 = AtomicU64::new(0);

/// Explores seeds `first..first + seeds`, both endings each; checks that
/// every workload exercised what it claims to and that the verdicts add
/// up; fails on any violation.
fn sweep(first: u64, seeds: u64, modes: &[Mode]) -> BitrotCounts {
    let config = BitrotConfig {
        skip_reader: SKIP_READER,
        modes: modes.to_vec(),
        ..BitrotConfig::default()
    };
    let started = Instant::now();
    let plans = Mutex::new(Vec::new());
    let out = bitrot::sweep(first, seeds, &config, 1, None, |plan, out| {
        eprintln!("wal-torture bit rot, {plan}: {}", out.counts);
        plans.lock().unwrap().push((*plan, out.counts));
    });
    for v in &out.violations {
        eprintln!("  {v}");
    }
    assert_eq!(
        out.counts.violations,
        0,
        "{} bit-rot violations, first: {:?}",
        out.counts.violations,
        out.violations.first().map(ToString::to_string)
    );
    let plans = plans.into_inner().unwrap();
    assert_eq!(plans.len() as u64, 2 * seeds);
    let (mut truncations, mut purges) = (0, 0);
    for (plan, counts) in plans {
        let cover = bitrot::coverage(&plan).unwrap();
        truncations += cover.stream_truncations;
        purges += cover.stream_purges;
        // The workload exercises what it claims to: rotations, a group
        // larger than a segment, pipelined appends sharing a group,
        // batches, fragments.
        assert!(
            cover.segments >= 3
                && cover.oversized >= 1
                && cover.multi_append_groups >= 1
                && cover.batches >= 2
                && cover.fragmented >= 2,
            "{plan}: {cover:?}"
        );
        assert_eq!(cover.clean, plan.ending == Ending::Clean, "{plan}");
        assert_eq!(
            cover.stream_records >= 5,
            plan.streams(),
            "{plan}: {cover:?}"
        );
        // Every header and every record of the last segment, each with
        // every kind and mode.
        assert!(
            counts.positions >= cover.segments + cover.last_segment,
            "{plan}: {counts}"
        );
        assert_eq!(
            counts.cases,
            counts.positions * 3 * modes.len() as u64,
            "{plan}: {counts}"
        );
        assert_eq!(
            counts.refused + counts.reported + counts.torn + counts.zeroed_tail + counts.intact,
            counts.cases,
            "{plan}: {counts}"
        );
        assert!(
            counts.refused > 0 && counts.reported > 0,
            "{plan}: {counts}"
        );
        match plan.ending {
            // After a clean close every damage is proven, and none is torn.
            Ending::Clean => {
                assert_eq!(counts.proven + counts.no_op, counts.cases, "{plan}");
                assert_eq!(counts.torn + counts.zeroed_tail, 0, "{plan}: {counts}");
            }
            // After a crash the last group is in the torn zone.
            Ending::Crash => {
                assert!(counts.proven < counts.cases, "{plan}: {counts}");
                assert!(counts.torn > 0, "{plan}: {counts}");
            }
        }
    }
    // Images with streams hold truncations and purges among them.
    if BitrotPlan::new(first, Ending::Clean).streams() {
        assert!(truncations >= 4 && purges >= 2, "{truncations}, {purges}");
    }
    let total = CASES.fetch_add(out.counts.cases, Ordering::SeqCst) + out.counts.cases;
    eprintln!(
        "wal-torture bit rot, seeds {first:#x}..={:#x}: {} in {:.1?}; {total} cases so far",
        first + seeds - 1,
        out.counts,
        started.elapsed()
    );
    out.counts
}

// Seed bits: 0 encryption, 1 compression; 2 and 3 `01`: stream records.
// Each sweep has one of each of the first two.

#[test]
fn bit_rot_seeds_0x7000_to_0x7003() {
    sweep(0x7000, 4, ALL_MODES);
}

#[test]
fn bit_rot_seeds_0x7004_to_0x7007_with_streams() {
    assert!((0x7004..0x7008).all(|s| BitrotPlan::new(s, Ending::Clean).streams()));
    sweep(0x7004, 4, &[Mode::Default, Mode::PointInTime]);
}

#[test]
fn bit_rot_seeds_0x7008_to_0x700b() {
    sweep(0x7008, 4, ALL_MODES);
}

/// In the skipping mode, recovery skips a damaged stream record and
/// reports it; the streams go on past the gap it leaves (reading the lost
/// entry says so: `Error::StreamGap`). Once, the streams' index refused
/// such a log (an append whose index is not the stream's next), with an
/// error that named no damage, after the failed open had removed the
/// `CLEAN` marker: these two cases found it, and the sweep holds the whole
/// skipping mode on images with streams.
#[test]
fn skip_mode_reports_damage_to_stream_records() {
    for text in [
        // One bit flipped in a stream record of the first segment. After a
        // clean close, the failed open removes CLEAN.
        "bitrot:0x7004:clean:r0.29:flip:skip:cc8f9b314f53b668",
        // After a crash, the error names no damage.
        "bitrot:0x7004:crash:r0.29:flip:skip:cc8f9b314f53b668",
    ] {
        let case: BitrotCase = text.parse().unwrap();
        if let Err(v) = bitrot::replay(&case) {
            panic!("{v}");
        }
    }
    sweep(0x7004, 4, &[Mode::Skip]);
}

#[test]
fn an_image_has_the_same_layout_on_every_run() {
    for seed in [0x7000, 0x7001, 0x7003] {
        let clean = bitrot::coverage(&BitrotPlan::new(seed, Ending::Clean)).unwrap();
        let again = bitrot::coverage(&BitrotPlan::new(seed, Ending::Clean)).unwrap();
        let crash = bitrot::coverage(&BitrotPlan::new(seed, Ending::Crash)).unwrap();
        assert_eq!(clean, again, "seed {seed:#x}");
        // The crash ending wrote nothing after the last acknowledgement:
        // the same records, only no CLEAN marker.
        assert_eq!(clean.fingerprint, crash.fingerprint, "seed {seed:#x}");
        assert!(clean.clean && !crash.clean);
    }
}

#[test]
fn cases_round_trip_through_their_text() {
    let plan = BitrotPlan::new(0x7003, Ending::Crash);
    for (position, kind, mode, reader) in [
        (
            Position::Header { segment: 2 },
            Kind::ZeroSector,
            Mode::Default,
            SkipReader::Wal,
        ),
        (
            Position::Record {
                segment: 4,
                index: 17,
            },
            Kind::GarbageSector,
            Mode::Skip,
            SkipReader::LogReader,
        ),
        (
            Position::Record {
                segment: 0,
                index: 0,
            },
            Kind::BitFlip,
            Mode::Skip,
            SkipReader::Wal,
        ),
        (
            Position::Record {
                segment: 1,
                index: 3,
            },
            Kind::BitFlip,
            Mode::PointInTime,
            SkipReader::Wal,
        ),
    ] {
        let case = BitrotCase {
            plan,
            position,
            kind,
            mode,
            reader,
            fingerprint: 0x0123_4567_89ab_cdef,
        };
        assert_eq!(case.to_string().parse::<BitrotCase>(), Ok(case));
    }
    for bad in [
        "bitrot:1:clean:h0:flip:default",
        "bitrot:1:torn:h0:flip:default:0",
        "bitrot:1:clean:x0:flip:default:0",
        "bitrot:1:clean:h0:flip:default/log:0",
        "crash:1:2:3:4",
    ] {
        assert!(bad.parse::<BitrotCase>().is_err(), "{bad}");
    }
}

/// The last physical record of the last segment of `plan`'s image.
fn last_record(plan: BitrotPlan, kind: Kind, mode: Mode) -> BitrotCase {
    let cover = bitrot::coverage(&plan).unwrap();
    BitrotCase {
        plan,
        position: Position::Record {
            segment: cover.segments as usize - 1,
            index: cover.last_segment as usize - 1,
        },
        kind,
        mode,
        reader: SKIP_READER,
        fingerprint: cover.fingerprint,
    }
}

/// A case replays with the verdict it had; a case named in
/// `GROUPWAL_BITROT_CASE` (the replay line of a violation) replays too.
#[test]
fn a_case_replays() {
    // The last record written before a crash: nothing proves it was
    // acknowledged, so damage there is a torn tail.
    let torn = last_record(
        BitrotPlan::new(0x7000, Ending::Crash),
        Kind::BitFlip,
        Mode::Default,
    );
    assert_eq!(bitrot::replay(&torn), Ok(Verdict::Torn));
    // The same damage after a clean close is corruption.
    let plan = BitrotPlan::new(0x7000, Ending::Clean);
    assert_eq!(
        bitrot::replay(&BitrotCase { plan, ..torn }),
        Ok(Verdict::Refused)
    );
    // A case from elsewhere (a rebuild with another layout is refused).
    let stale = BitrotCase {
        fingerprint: torn.fingerprint ^ 1,
        ..torn
    };
    assert!(bitrot::replay(&stale).unwrap_err().what.contains("layout"));
    if let Ok(text) = std::env::var("GROUPWAL_BITROT_CASE") {
        let case: BitrotCase = text.parse().unwrap();
        match bitrot::replay(&case) {
            Ok(verdict) => eprintln!("{case}: {verdict:?}, no violation"),
            Err(v) => panic!("{v}"),
        }
    }
}

/// `Wal::read_from` (the tailing reader) on a log recovered in the
/// skipping mode reads past the ranges that mode skipped. (It used to fail
/// with "... at a durable lsn", or hand out the same records again,
/// forever: `bitrot:0x7000:clean:r0.0:flip:skip:fe75b20e451c09a8` failed,
/// `bitrot:0x7000:clean:r0.9:flip:skip:fe75b20e451c09a8` read lsn 1 again
/// and again.)
#[test]
fn skip_mode_reads_back_through_wal_read_from() {
    let plan = BitrotPlan::new(0x7000, Ending::Clean);
    let config = BitrotConfig {
        modes: vec![Mode::Skip],
        skip_reader: SkipReader::Wal,
        ..BitrotConfig::default()
    };
    let out = bitrot::explore(&plan, &config);
    for v in &out.violations {
        eprintln!("  {v}");
    }
    assert_eq!(out.counts.violations, 0, "{}", out.counts);
}

// The oracle bites: made-up outcomes of a log of six acknowledged records
// whose last group (lsns 5 and 6, in `B.wal` from offset 480) is damaged
// at offset 500.

fn payload(lsn: u64) -> Vec<u8> {
    format!("record {lsn}").into_bytes()
}

fn records(lsns: impl IntoIterator<Item = u64>) -> Vec<OwnedRecord> {
    lsns.into_iter()
        .map(|lsn| OwnedRecord {
            lsn: Lsn::new(lsn),
            kind: LogicalKind::Data,
            flags: Flags::EMPTY,
            payload: payload(lsn),
        })
        .collect()
}

/// The damaged log; `evidence` is E (4: crashed after the last group; 6:
/// closed cleanly).
fn damaged_log(evidence: u64) -> Expectation {
    Expectation {
        acked: (1..=6).map(|lsn| Acked::data(payload(lsn))).collect(),
        evidence,
        intact_prefix: 4,
        damage: Some(DamageFacts {
            file: "B.wal".into(),
            next_file: None,
            first_byte: 500,
            first_lsn: 5,
        }),
        zeroed_tail_from: None,
    }
}

fn facts(last: u64, torn: bool, corrupt: Vec<RangeFacts>) -> ReportFacts {
    ReportFacts {
        torn,
        last_lsn: last,
        next_lsn: last + 1,
        dropped_anything: torn || !corrupt.is_empty(),
        corrupt,
        losses: None,
    }
}

fn range(file: &str, offset: u64, lsns: Option<(u64, u64)>) -> RangeFacts {
    RangeFacts {
        kind: CorruptionKind::DamagedRecord,
        file: file.into(),
        offset,
        lsns,
        text: format!("damaged record in {file} at offset {offset}"),
    }
}

fn opened(last: u64, torn: bool, corrupt: Vec<RangeFacts>, lsns: &[u64]) -> Recovered {
    Recovered::Opened {
        report: facts(last, torn, corrupt),
        records: Ok(records(lsns.iter().copied())),
        streams: Ok(StreamSet::default()),
    }
}

fn refused(refusal: Refusal, changed: Option<&str>) -> Recovered {
    Recovered::Refused {
        refusal,
        changed: changed.map(Into::into),
    }
}

#[test]
fn the_oracle_accepts_what_recovery_may_do() {
    let crashed = damaged_log(4);
    // The unproven last group cut as a torn tail, or the log refused.
    assert_eq!(
        judge(
            &crashed,
            Mode::Default,
            &opened(4, true, vec![], &[1, 2, 3, 4])
        ),
        Ok(Verdict::Torn)
    );
    let at = |offset| Refusal::Corruption(range("B.wal", offset, Some((5, 6))));
    assert_eq!(
        judge(&damaged_log(6), Mode::Default, &refused(at(480), None)),
        Ok(Verdict::Refused)
    );
    assert_eq!(
        judge(
            &crashed,
            Mode::PointInTime,
            &refused(Refusal::BadSegmentHeader("B.wal".into()), None)
        ),
        Ok(Verdict::Refused)
    );
    // Salvage modes: the damaged range listed.
    let skipped = vec![range("B.wal", 480, Some((5, 5)))];
    assert_eq!(
        judge(
            &damaged_log(6),
            Mode::Skip,
            &opened(6, false, skipped, &[1, 2, 3, 4, 6])
        ),
        Ok(Verdict::Reported)
    );
    let discarded = vec![range("B.wal", 480, Some((5, 6)))];
    assert_eq!(
        judge(
            &damaged_log(6),
            Mode::PointInTime,
            &opened(4, true, discarded, &[1, 2, 3, 4])
        ),
        Ok(Verdict::Reported)
    );
}

#[test]
fn the_oracle_catches_silent_losses_and_proven_damage_called_torn() {
    let crashed = damaged_log(4);
    let clean = damaged_log(6);
    let undamaged = Expectation {
        damage: None,
        intact_prefix: 6,
        ..damaged_log(0)
    };
    let listed = || vec![range("B.wal", 480, Some((5, 6)))];
    let elsewhere = vec![range("B.wal", 480, Some((6, 6)))];
    // Fewer records than were acknowledged, and no word about it.
    let lost = opened(4, false, vec![], &[1, 2, 3, 4]);
    // The same, the rest called a torn tail.
    let torn = opened(4, true, vec![], &[1, 2, 3, 4]);
    // A record before the damaged group lost, even with the damage listed.
    let few = opened(3, false, listed(), &[1, 2, 3]);
    // A skipped range that does not cover what is missing.
    let beside = opened(6, false, elsewhere, &[1, 2, 3, 4, 6]);
    // Ranges listed where the mode must fail instead.
    let ranges = opened(4, true, listed(), &[1, 2, 3, 4]);
    // Every record, and no word about the damage.
    let all = opened(6, false, vec![], &[1, 2, 3, 4, 5, 6]);
    // What the oracle is shown, and what it must say is wrong.
    let cases = [
        (&crashed, Mode::Default, &lost, "silently lost"),
        (&crashed, Mode::Skip, &lost, "silently lost"),
        // After a clean close, say.
        (&clean, Mode::Default, &torn, "proven damage called torn"),
        (&clean, Mode::PointInTime, &few, "before the damaged group"),
        (&clean, Mode::Skip, &beside, "lsn 5 is missing"),
        (&clean, Mode::Default, &ranges, "default mode listed"),
        (&clean, Mode::Default, &all, "unreported"),
        // A loss with no damage at all.
        (&undamaged, Mode::Default, &torn, "missing"),
    ];
    for (i, (expect, mode, got, what)) in cases.into_iter().enumerate() {
        let e = judge(expect, mode, got).unwrap_err();
        assert!(e.contains(what), "case {i}: {e:?} does not say {what:?}");
    }
}

#[test]
fn the_oracle_catches_invented_repeated_and_changed_records() {
    let clean = damaged_log(6);
    let skip = |lsns: &[u64]| opened(6, false, vec![range("B.wal", 480, Some((5, 5)))], lsns);
    let repeated = judge(&clean, Mode::Skip, &skip(&[1, 2, 3, 4, 4, 6])).unwrap_err();
    assert!(repeated.contains("lsn 4 read after lsn 4"), "{repeated}");
    let invented = judge(
        &clean,
        Mode::Skip,
        &opened(7, false, vec![], &[1, 2, 3, 4, 6, 7]),
    );
    assert!(invented.unwrap_err().contains("invented"));
    let mut changed = records([1, 2, 3, 4, 6]);
    changed[1].payload.push(b'!');
    let got = Recovered::Opened {
        report: facts(6, false, vec![range("B.wal", 480, Some((5, 5)))]),
        records: Ok(changed),
        streams: Ok(StreamSet::default()),
    };
    assert!(
        judge(&clean, Mode::Skip, &got)
            .unwrap_err()
            .contains("payload differs")
    );
    // A gap outside the skipping mode.
    let gap = opened(
        6,
        false,
        vec![range("B.wal", 480, Some((5, 5)))],
        &[1, 2, 3, 4, 6],
    );
    assert!(
        judge(&clean, Mode::PointInTime, &gap)
            .unwrap_err()
            .contains("gap")
    );
}

#[test]
fn the_oracle_catches_refusals_that_change_the_disk_or_miss_the_damage() {
    let clean = damaged_log(6);
    let at = |file: &str, offset| Refusal::Corruption(range(file, offset, Some((5, 6))));
    let bad = |got: Recovered| judge(&clean, Mode::Default, &got).unwrap_err();
    assert!(bad(refused(at("B.wal", 480), Some("B.wal changed"))).contains("changed the disk"));
    assert!(bad(refused(at("A.wal", 480), None)).contains("without naming the damage"));
    assert!(bad(refused(at("B.wal", 520), None)).contains("without naming the damage"));
    assert!(
        bad(refused(Refusal::BadSegmentHeader("A.wal".into()), None))
            .contains("without naming the damage")
    );
    assert!(bad(refused(Refusal::Other("EIO".into()), None)).contains("without naming the damage"));
    let undamaged = Expectation {
        damage: None,
        ..damaged_log(6)
    };
    assert!(
        judge(&undamaged, Mode::Default, &refused(at("B.wal", 480), None))
            .unwrap_err()
            .contains("undamaged")
    );
}

/// `got`, a log `case` opened, with its report changed by `doctor`.
fn doctored(case: &BitrotCase, got: Recovered, doctor: impl FnOnce(&mut ReportFacts)) -> Recovered {
    let Recovered::Opened {
        mut report,
        records,
        streams,
    } = got
    else {
        panic!("{case}: expected an opened log");
    };
    doctor(&mut report);
    Recovered::Opened {
        report,
        records,
        streams,
    }
}

/// Real outcomes, doctored the way a broken recovery would get them
/// wrong, are caught.
#[test]
fn the_oracle_catches_doctored_real_recoveries() {
    // A torn tail after a crash, reported as a clean end: a silent loss.
    let case = last_record(
        BitrotPlan::new(0x7002, Ending::Crash),
        Kind::BitFlip,
        Mode::Default,
    );
    let (expect, got) = bitrot::observe(&case).unwrap();
    assert_eq!(judge(&expect, Mode::Default, &got), Ok(Verdict::Torn));
    let silent = doctored(&case, got, |report| {
        report.torn = false;
        report.dropped_anything = false;
    });
    assert!(
        judge(&expect, Mode::Default, &silent)
            .unwrap_err()
            .contains("silently lost")
    );

    // The same damage after a clean close: point-in-time recovery lists
    // it; dropping the range and calling the cut torn is caught.
    let plan = BitrotPlan::new(0x7002, Ending::Clean);
    let case = BitrotCase {
        plan,
        mode: Mode::PointInTime,
        ..case
    };
    let (expect, got) = bitrot::observe(&case).unwrap();
    assert_eq!(
        judge(&expect, Mode::PointInTime, &got),
        Ok(Verdict::Reported)
    );
    let torn = doctored(&case, got, |report| {
        report.corrupt.clear();
        report.torn = true;
    });
    assert!(
        judge(&expect, Mode::PointInTime, &torn)
            .unwrap_err()
            .contains("proven damage called torn")
    );

    // The default mode refuses it; an open that returned the records
    // before the damage instead is caught.
    let case = BitrotCase {
        mode: Mode::Default,
        ..case
    };
    let (expect, got) = bitrot::observe(&case).unwrap();
    assert_eq!(judge(&expect, Mode::Default, &got), Ok(Verdict::Refused));
    let kept = (1..=expect.intact_prefix)
        .map(|lsn| OwnedRecord {
            lsn: Lsn::new(lsn),
            kind: LogicalKind::Data,
            flags: Flags::EMPTY,
            payload: expect.acked[lsn as usize - 1].payload.clone(),
        })
        .collect();
    let quiet = Recovered::Opened {
        report: facts(expect.intact_prefix, false, vec![]),
        records: Ok(kept),
        streams: Ok(StreamSet::default()),
    };
    assert!(
        judge(&expect, Mode::Default, &quiet)
            .unwrap_err()
            .contains("silently lost")
    );
}
