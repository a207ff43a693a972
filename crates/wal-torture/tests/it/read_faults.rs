//! The read-fault campaign (`wal_torture::readfaults`) in CI: reads that
//! fail with `EIO`, or return a flipped bit, at every read call of
//! recovery (`Wal::open` in each mode) and of the readers
//! (`Wal::read_from`, `groupwal::read_log`), and at a rate; held to the
//! oracle with zero violations. Eight logs (four seeds, each closed
//! cleanly and crashed after its last acknowledgement; encryption and
//! compression on and off). The oracle is shown to bite on made-up
//! outcomes and on a storage layer that takes read errors for the end of
//! the file.

use std::time::Instant;

use groupwal::format::Flags;
use groupwal::{LogicalKind, Lsn, OwnedRecord, RecoveryMode};
use wal_torture::bitrot::Ending;
use wal_torture::readfaults::{
    self, EndFacts, Failure, Got, Hit, Lane, Operation, ReadExpectation, ReadFault, ReadFaultCase,
    ReadFaultConfig, ReadFaultCounts, ReadFaultPlan, ReadVerdict, Seen, oracle::judge,
};

/// Explores seeds `first..first + seeds` (both endings each); prints the
/// counts; fails on any violation, and unless every kind of verdict the
/// campaign exists for was seen.
fn sweep(first: u64, seeds: u64) -> ReadFaultCounts {
    let started = Instant::now();
    let config = ReadFaultConfig::default();
    let out = readfaults::sweep(first, seeds, &config, 1, None, |plan, out| {
        eprintln!("wal-torture read faults, {plan}: {}", out.counts);
    });
    eprintln!(
        "wal-torture read faults, seeds {first:#x}..={:#x}: {} in {:.1?}",
        first + seeds - 1,
        out.counts,
        started.elapsed()
    );
    for v in &out.violations {
        eprintln!("  {v}");
    }
    let c = out.counts;
    assert_eq!(
        c.violations,
        0,
        "{} read-fault violations, first: {:?}",
        c.violations,
        out.violations.first().map(ToString::to_string)
    );
    assert_eq!(c.workloads, 2 * seeds);
    assert_eq!(c.operations, c.workloads * 6, "{c}");
    assert_eq!(c.verdicts(), c.cases, "{c}");
    // Every read of every operation, both faults, and the rate cases.
    let reads: u64 = c.reads.iter().sum();
    assert_eq!(c.eio_cases, reads, "{c}");
    assert_eq!(c.flip_cases, reads, "{c}");
    assert_eq!(c.rate_cases, c.operations * 2 * config.rate_draws, "{c}");
    // Reads on the read-ahead thread are faulted too; read errors are
    // reported, flips are reported as damage, some faults are absorbed.
    // (A flip on read no longer ends in a range skipped or cut by a
    // salvage mode: recovery reads the log again before it cuts or removes
    // anything, and refuses a log that reads back differently.)
    assert!(c.reads[1] > 0, "{c}");
    assert!(c.io_errors > 0 && c.corruption > 0 && c.absorbed > 0, "{c}");
    c
}

#[test]
fn read_faults_seeds_0x5100_to_0x5103() {
    sweep(0x5100, 4);
}

fn rec(lsn: u64) -> OwnedRecord {
    OwnedRecord {
        lsn: Lsn::new(lsn),
        kind: LogicalKind::Data,
        flags: Flags::EMPTY,
        payload: format!("record {lsn}").into_bytes(),
    }
}

fn hit(fault: ReadFault, file: &str, flipped: Option<u64>) -> Hit {
    Hit {
        lane: Lane::Caller,
        index: 7,
        fault,
        file: file.into(),
        offset: 4096,
        len: 4096,
        effect: true,
        flipped,
    }
}

const SEG1: &str = "00000000000000000001.wal";
const SEG5: &str = "00000000000000000005.wal";

/// A log of lsns 1..=8 in two segments; the evidence proves up to 6.
fn expectation() -> ReadExpectation {
    ReadExpectation {
        truth: (1..=8).map(rec).collect(),
        evidence: 6,
        segments: vec![SEG1.into(), SEG5.into()],
    }
}

fn opened(records: std::ops::RangeInclusive<u64>, torn: bool) -> Result<Got, Failure> {
    let next = records.end() + 1;
    Ok(Got {
        end: EndFacts {
            torn,
            next_lsn: next,
            corrupt: Vec::new(),
        },
        records: Ok(records.map(rec).collect()),
    })
}

fn seen(operation: Operation, hits: Vec<Hit>, result: Result<Got, Failure>) -> Seen {
    Seen {
        operation,
        hits,
        result,
        changed: None,
        after: Ok(8),
    }
}

const DEFAULT: Operation = Operation::Open(RecoveryMode::TolerateCorruptedTailRecords);

#[test]
fn the_oracle_catches_a_read_error_taken_for_a_clean_end() {
    let expect = expectation();
    // EIO on a read of the last segment; recovery "succeeded" with lsns
    // 1..=4, a clean end: the read error was taken for the end of the data.
    let eio = vec![hit(ReadFault::Eio, SEG5, None)];
    for operation in [DEFAULT, Operation::ReadLog, Operation::ReadFrom] {
        let e = judge(&expect, &seen(operation, eio.clone(), opened(1..=4, false))).unwrap_err();
        eprintln!("wal-torture read faults, oracle self-check: {e}");
        assert!(
            e.contains("without lsns 5..=8") && e.contains(SEG5),
            "{operation:?}: {e}"
        );
    }
    // Called a torn tail, it is no better.
    let e = judge(&expect, &seen(DEFAULT, eio.clone(), opened(1..=4, true))).unwrap_err();
    assert!(
        e.contains("a read error was taken for the end of the data"),
        "{e}"
    );
    // The same outcome without the loss, or failing with the EIO named,
    // is accepted.
    assert_eq!(
        judge(&expect, &seen(DEFAULT, eio.clone(), opened(1..=8, false))),
        Ok(ReadVerdict::Absorbed)
    );
    let named = Failure {
        text: format!("segment storage: read /torture/wal/{SEG5}: Input/output error (os error 5)"),
        eio: true,
        damage: None,
    };
    assert_eq!(
        judge(&expect, &seen(DEFAULT, eio.clone(), Err(named.clone()))),
        Ok(ReadVerdict::IoError)
    );
    // A failure that does not carry the EIO, or does not name the file,
    // or a failed open that changed the disk, is a violation.
    for bad in [
        Failure {
            eio: false,
            ..named.clone()
        },
        Failure {
            text: "segment storage: read: Input/output error (os error 5)".into(),
            ..named.clone()
        },
    ] {
        assert!(judge(&expect, &seen(DEFAULT, eio.clone(), Err(bad))).is_err());
    }
    let mut changed = seen(DEFAULT, eio.clone(), Err(named));
    changed.changed = Some("files [CLEAN] became []".into());
    assert!(
        judge(&expect, &changed)
            .unwrap_err()
            .contains("changed the disk")
    );
    // And the log must be whole again once the fault is gone.
    let mut short_after = seen(DEFAULT, eio, opened(1..=8, false));
    short_after.after = Ok(5);
    assert!(
        judge(&expect, &short_after)
            .unwrap_err()
            .contains("once the fault was gone")
    );
}

#[test]
fn the_oracle_catches_a_flip_taken_for_a_torn_tail_below_the_evidence() {
    let expect = expectation();
    // A flip in the last group (lsns 7..=8, past the evidence E = 6) may
    // be taken for a torn tail; one at lsn 5 may not (proven), nor may
    // the loss be called a clean end.
    let flip = vec![hit(ReadFault::Flip, SEG5, Some(4200))];
    assert_eq!(
        judge(&expect, &seen(DEFAULT, flip.clone(), opened(1..=6, true))),
        Ok(ReadVerdict::Torn)
    );
    let e = judge(&expect, &seen(DEFAULT, flip.clone(), opened(1..=4, true))).unwrap_err();
    assert!(e.contains("proven acknowledged"), "{e}");
    let e = judge(&expect, &seen(DEFAULT, flip.clone(), opened(1..=6, false))).unwrap_err();
    assert!(e.contains("not accounted for"), "{e}");
    // The tailing reader never stops early, whatever the fault.
    assert!(
        judge(
            &expect,
            &seen(Operation::ReadFrom, flip.clone(), opened(1..=6, true))
        )
        .is_err()
    );
    // A refusal must name the damage where the flip was.
    let refusal = |file: &str, gap: bool| Failure {
        text: format!("corruption before the tail of the log: damaged record in {file}"),
        eio: false,
        damage: Some(readfaults::Named {
            file: file.into(),
            gap,
        }),
    };
    assert_eq!(
        judge(
            &expect,
            &seen(DEFAULT, flip.clone(), Err(refusal(SEG5, false)))
        ),
        Ok(ReadVerdict::Corruption)
    );
    assert!(
        judge(
            &expect,
            &seen(DEFAULT, flip.clone(), Err(refusal(SEG1, false)))
        )
        .is_err()
    );
    // A flip in the first segment may show as a gap at the next one.
    let early = vec![hit(ReadFault::Flip, SEG1, Some(200))];
    assert_eq!(
        judge(&expect, &seen(DEFAULT, early, Err(refusal(SEG5, true)))),
        Ok(ReadVerdict::Corruption)
    );
    // A record read back changed is caught whatever the verdict.
    let mut changed = opened(1..=8, false);
    if let Ok(got) = changed.as_mut()
        && let Ok(records) = got.records.as_mut()
    {
        records[2].payload[0] ^= 1;
    }
    assert!(
        judge(&expect, &seen(DEFAULT, flip, changed))
            .unwrap_err()
            .contains("lsn 3 reads back changed")
    );
}

#[test]
fn a_storage_that_takes_read_errors_for_the_end_of_the_file_is_caught() {
    // A storage layer that swallows a read's EIO and reports the end of
    // the file: the campaign must see records lost.
    let config = ReadFaultConfig {
        operations: vec![DEFAULT, Operation::ReadLog],
        faults: vec![ReadFault::EofOnError],
        rate_draws: 0,
        ..ReadFaultConfig::default()
    };
    let plan = ReadFaultPlan::new(0x5100, 30, Ending::Crash);
    let out = readfaults::explore(&plan, &config);
    eprintln!("wal-torture read faults, oracle self-check: {}", out.counts);
    assert!(out.counts.cases > 20, "{}", out.counts);
    assert!(
        out.counts.violations > out.counts.cases / 4,
        "read errors taken for the end of the file went unnoticed: {}",
        out.counts
    );
    let first = out
        .violations
        .iter()
        .find(|v| {
            v.what
                .contains("a read error was taken for the end of the data")
        })
        .unwrap_or_else(|| panic!("no clean end caught: {:?}", out.violations));
    eprintln!("wal-torture read faults, oracle self-check: {first}");
    assert!(
        first
            .to_string()
            .contains("cargo xtask crash --replay readfault:")
    );
    // The case replays from its text, and finds the violation again.
    let case: ReadFaultCase = first.case.unwrap().to_string().parse().unwrap();
    assert_eq!(Some(case), first.case);
    let again = readfaults::replay(&case).unwrap_err();
    assert_eq!(again.what, first.what);
    // A case from elsewhere (a rebuild with another layout) is refused.
    let stale = ReadFaultCase {
        fingerprint: case.fingerprint ^ 1,
        ..case
    };
    let refused = readfaults::replay(&stale).unwrap_err();
    assert!(refused.what.contains("fingerprint"), "{refused}");
}

/// `GROUPWAL_READFAULT_CASE=readfault:... cargo test -p wal-torture --test
/// it read_faults::a_case_replays -- --nocapture` replays one case and
/// prints what it saw (without it, nothing runs: the replay of a case is
/// checked in
/// `a_storage_that_takes_read_errors_for_the_end_of_the_file_is_caught`).
#[test]
fn a_case_replays() {
    let Ok(text) = std::env::var("GROUPWAL_READFAULT_CASE") else {
        return;
    };
    let case: ReadFaultCase = text.parse().unwrap();
    let (expect, seen) = readfaults::observe(&case).unwrap();
    eprintln!(
        "{case}: lsns {:?}..={:?}, evidence E = {}, segments {:?}",
        expect.truth.first().map(|r| r.lsn),
        expect.truth.last().map(|r| r.lsn),
        expect.evidence,
        expect.segments
    );
    for h in &seen.hits {
        eprintln!("  hit: {h}");
    }
    match &seen.result {
        Ok(got) => eprintln!(
            "  succeeded: {:?}; records {:?}",
            got.end,
            got.records
                .as_ref()
                .map(|r| r.iter().map(|r| r.lsn.get()).collect::<Vec<_>>())
        ),
        Err(f) => eprintln!("  failed: {f:?}"),
    }
    eprintln!("  changed: {:?}", seen.changed);
    eprintln!("  once the fault was gone: {:?}", seen.after);
    let verdict = judge(&expect, &seen);
    eprintln!("  verdict: {verdict:?}");
    verdict.unwrap();
}
