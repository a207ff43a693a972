//! SIGKILL in the middle of a Raft-like workload, then a restart
//! ([`wal_torture::kill`] runs the child and kills it).
//!
//! The test re-executes its own binary as the child (filtered to this
//! test, told by `GROUPWAL_RAFT_KILL_CHILD` that it is the child). The
//! child opens the log in a temporary directory with two Raft groups
//! sharing it, and runs what a Raft node's storage sees, on each group:
//! batches of entries appended without waiting (up to [`MAX_IN_FLIGHT`]
//! in flight), votes, truncations of a suffix (a new leader's conflicting
//! entries), purges (a snapshot). It reports to its standard output, flushed, every append
//! whose callback fired and every vote, truncation and purge before it
//! starts and once it returned. The parent reads the pipe, sends SIGKILL
//! after a seeded number of acknowledgements (or as soon as the child
//! started or opened the log, so that the kill lands in recovery or in the
//! first writes), reopens the directory itself and checks, per group:
//!
//! - the vote is the last one saved, or one whose save had started;
//! - the last purged log id is the last one purged, or one whose purge had
//!   started;
//! - every entry whose callback fired is there with its term, above the
//!   purged index, unless a truncation that had started covers it (then it
//!   is there unchanged or gone with everything after it);
//! - every entry there is one that was appended: its payload is the one
//!   derived from its group, term and index, and the entries are
//!   consecutive; the last log id is the last entry's;
//! - the child of the next cycle recovers exactly what the parent found.
//!
//! The next cycle's child reopens the same directory. `GROUPWAL_RAFT_KILL_SEED`
//! picks the seed (by default one is drawn from the clock and printed),
//! `GROUPWAL_RAFT_KILL_CYCLES` the number of cycles (50 by default). What
//! this does not test: power loss (the page cache survives a SIGKILL; that
//! is the simulated disk's job, in `contract.rs` and `faults.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use groupwal::io::sim::SplitMix64;
use groupwal::{Wal, WalOptions};
use groupwal_openraft::LogStore;
use openraft::storage::RaftLogStorage;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};
use wal_torture::kill::{KillAt, KillTest, fail_child, say};

use crate::sm::{Request, TypeConfig};
use crate::support::runtime;

/// The child's spec (`GROUPWAL_RAFT_KILL_CHILD`): its cycle and seed.
const TEST: KillTest = KillTest {
    test: "process_kill::raft_state_survives_sigkill",
    env: "GROUPWAL_RAFT_KILL",
    default_cycles: 50,
    // One `O` a group.
    opens: GROUPS.len(),
    acks: &["A"],
};
/// The groups, sharing one log.
const GROUPS: [u64; 2] = [1, 2];
/// Appends a group may have in flight (callback not yet fired).
const MAX_IN_FLIGHT: usize = 16;
/// The most acknowledgements a child gets before the kill.
const MAX_ACKS: u64 = 80;
/// The node id in every log id and vote.
const NODE: u64 = 1;

fn options() -> WalOptions {
    let mut o = WalOptions::new();
    o.segment_size(64 * 1024);
    o
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, NODE), index)
}

/// The entry of `group` at `index` in `term`: its payload follows from
/// them, so the parent can tell an entry that was appended from anything
/// else.
fn kill_entry(group: u64, term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request {
            key: format!("g{group}"),
            value: format!(
                "g{group}t{term}i{index}:{}",
                SplitMix64::mix(group ^ SplitMix64::mix(term ^ SplitMix64::mix(index)))
            ),
        }),
    }
}

// ---------------------------------------------------------------- child

/// What the child knows of one group.
struct ChildGroup {
    id: u64,
    store: LogStore<TypeConfig>,
    term: u64,
    /// The present entries' terms by index (its own appends included).
    terms: BTreeMap<u64, u64>,
    purged: Option<u64>,
    in_flight: usize,
}

impl ChildGroup {
    fn next(&self) -> u64 {
        self.terms
            .keys()
            .next_back()
            .map(|i| i + 1)
            .or(self.purged.map(|p| p + 1))
            .unwrap_or(0)
    }
}

/// An acknowledgement: the group, the batch's first and last index, its
/// term, and what the callback was told.
type Ack = (u64, u64, u64, u64, std::io::Result<()>);

fn child(spec: &str) -> ! {
    let n: Vec<u64> = spec.split(' ').filter_map(|s| s.parse().ok()).collect();
    let [cycle, seed] = n[..] else {
        fail_child("bad spec", &spec);
    };
    let dir = TEST.child_dir();
    runtime().block_on(child_run(&dir, cycle, seed));
    fail_child("workload", &"stopped before the kill");
}

async fn child_run(dir: &str, cycle: u64, seed: u64) {
    say("S");
    let (wal, _) = Wal::open(dir, &options()).unwrap_or_else(|e| fail_child("open", &e));
    let wal = Arc::new(wal);
    let mut groups = Vec::new();
    for &g in &GROUPS {
        let mut store = LogStore::<TypeConfig>::open_async(wal.clone(), g)
            .await
            .unwrap_or_else(|e| fail_child("open store", &e));
        let state = store
            .get_log_state()
            .await
            .unwrap_or_else(|e| fail_child("log state", &e));
        let vote = store
            .read_vote()
            .await
            .unwrap_or_else(|e| fail_child("read vote", &e));
        let entries = store
            .try_get_log_entries(..)
            .await
            .unwrap_or_else(|e| fail_child("read", &e));
        let terms: BTreeMap<u64, u64> = entries
            .iter()
            .map(|e| (e.log_id.index, e.log_id.leader_id.term))
            .collect();
        let purged = state.last_purged_log_id.map(|p| p.index);
        let vote_term = vote.map(|v| v.leader_id.term);
        say(&format!(
            "O {g} {} {} {} {}",
            fmt(terms.keys().next().copied()),
            fmt(state.last_log_id.map(|l| l.index)),
            fmt(vote_term),
            fmt(purged),
        ));
        let term = vote_term
            .into_iter()
            .chain(terms.values().copied())
            .chain(state.last_purged_log_id.map(|p| p.leader_id.term))
            .max()
            .unwrap_or(0);
        groups.push(ChildGroup {
            id: g,
            store,
            term,
            terms,
            purged,
            in_flight: 0,
        });
    }
    let (ack_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<Ack>();
    let mut rng = SplitMix64::new(SplitMix64::mix(seed ^ SplitMix64::mix(cycle)));
    loop {
        let g = rng.below(GROUPS.len() as u64) as usize;
        let roll = rng.below(100);
        if roll < 4 || groups[g].term == 0 {
            new_term(&mut groups[g]).await;
        } else if roll < 11 {
            // A truncation (below 8) or a purge, of a group that holds
            // entries.
            if let Some((grp, first, last)) = settle(&mut groups, g, &mut acks).await {
                if roll < 8 {
                    truncate(grp, first, last, &mut rng).await;
                } else {
                    purge(grp, first, last, &mut rng).await;
                }
            }
        } else {
            while groups[g].in_flight >= MAX_IN_FLIGHT {
                heard(&mut groups, acks.recv().await);
            }
            let grp = &mut groups[g];
            let first = grp.next();
            let n = 1 + rng.below(8);
            let (term, id) = (grp.term, grp.id);
            let tx = ack_tx.clone();
            grp.store
                .append_with(
                    (first..first + n).map(|i| kill_entry(id, term, i)),
                    move |r| {
                        let _ = tx.send((id, first, first + n - 1, term, r));
                    },
                )
                .unwrap_or_else(|e| fail_child("append", &e));
            for i in first..first + n {
                grp.terms.insert(i, term);
            }
            grp.in_flight += 1;
        }
        while let Ok(ack) = acks.try_recv() {
            heard(&mut groups, Some(ack));
        }
    }
}

fn fmt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Reports an acknowledgement.
fn heard(groups: &mut [ChildGroup], ack: Option<Ack>) {
    let Some((g, first, last, term, r)) = ack else {
        fail_child("acks", &"the channel closed");
    };
    if let Err(e) = r {
        fail_child("append callback", &e);
    }
    if let Some(grp) = groups.iter_mut().find(|grp| grp.id == g) {
        grp.in_flight -= 1;
    }
    say(&format!("A {g} {first} {last} {term}"));
}

/// Waits for every append of group `g` in flight (a truncation or a
/// purge is reported only with everything before it reported); returns
/// the group and its first and last index, if it holds entries.
async fn settle<'a>(
    groups: &'a mut [ChildGroup],
    g: usize,
    acks: &mut tokio::sync::mpsc::UnboundedReceiver<Ack>,
) -> Option<(&'a mut ChildGroup, u64, u64)> {
    while groups[g].in_flight > 0 {
        heard(groups, acks.recv().await);
    }
    let grp = &mut groups[g];
    let first = *grp.terms.keys().next()?;
    let last = *grp.terms.keys().next_back()?;
    Some((grp, first, last))
}

async fn new_term(grp: &mut ChildGroup) {
    grp.term += 1;
    let g = grp.id;
    say(&format!("v {g} {}", grp.term));
    grp.store
        .save_vote(&Vote::new(grp.term, NODE))
        .await
        .unwrap_or_else(|e| fail_child("save_vote", &e));
    say(&format!("V {g} {}", grp.term));
}

/// Truncates a suffix of the entries from `first` to `last`.
async fn truncate(grp: &mut ChildGroup, first: u64, last: u64, rng: &mut SplitMix64) {
    // A suffix of at most 20 entries, as a new leader's conflict would be.
    let from = last.saturating_sub(rng.below(20)).max(first);
    let term = grp.terms[&from];
    let g = grp.id;
    say(&format!("t {g} {from}"));
    grp.store
        .truncate(log_id(term, from))
        .await
        .unwrap_or_else(|e| fail_child("truncate", &e));
    say(&format!("T {g} {from}"));
    grp.terms.split_off(&from);
    // The new leader's term.
    new_term(grp).await;
}

/// Purges a prefix of the entries from `first` to `last`.
async fn purge(grp: &mut ChildGroup, first: u64, last: u64, rng: &mut SplitMix64) {
    let upto = first + rng.below(last - first + 1);
    let term = grp.terms[&upto];
    let g = grp.id;
    say(&format!("p {g} {upto} {term}"));
    grp.store
        .purge(log_id(term, upto))
        .await
        .unwrap_or_else(|e| fail_child("purge", &e));
    say(&format!("P {g} {upto} {term}"));
    grp.terms = grp.terms.split_off(&(upto + 1));
    grp.purged = Some(upto);
}

// --------------------------------------------------------------- parent

/// What the parent knows of one group.
#[derive(Clone, Debug, Default)]
struct Model {
    /// Entries known to be there (acknowledged, or found by the last
    /// check): index to term.
    entries: BTreeMap<u64, u64>,
    /// The vote's term, confirmed, and one whose save had started.
    vote: Option<u64>,
    vote_started: Option<u64>,
    /// The last purged (index, term), confirmed, and one whose purge had
    /// started.
    purged: Option<(u64, u64)>,
    purge_started: Option<(u64, u64)>,
    /// A truncation from this index had started and not returned.
    truncate_started: Option<u64>,
}

/// Takes one report of the child into the models.
fn hear(models: &mut BTreeMap<u64, Model>, line: &str) -> Result<(), String> {
    let bad = || format!("unreadable line from the child: {line:?}");
    let mut f = line.split(' ');
    let tag = f.next().ok_or_else(bad)?;
    if tag == "S" {
        return Ok(());
    }
    let g: u64 = f.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let nums: Vec<Option<u64>> = f.map(|s| s.parse().ok()).collect();
    let num = |i: usize| nums.get(i).copied().flatten().ok_or_else(bad);
    let m = models.entry(g).or_default();
    match tag {
        "O" => {
            // The child recovered exactly what the parent found.
            let first = nums.first().copied().flatten();
            let last = nums.get(1).copied().flatten();
            let vote = nums.get(2).copied().flatten();
            let purged = nums.get(3).copied().flatten();
            let want_last = m
                .entries
                .keys()
                .next_back()
                .copied()
                .or(m.purged.map(|p| p.0));
            let want = (
                m.entries.keys().next().copied(),
                want_last,
                m.vote,
                m.purged.map(|p| p.0),
            );
            if (first, last, vote, purged) != want {
                return Err(format!(
                    "group {g}: the child recovered (first, last, vote, purged) {:?}, the parent \
                     found {want:?}",
                    (first, last, vote, purged)
                ));
            }
        }
        "A" => {
            let (first, last, term) = (num(0)?, num(1)?, num(2)?);
            for i in first..=last {
                m.entries.insert(i, term);
            }
        }
        "v" => m.vote_started = Some(num(0)?),
        "V" => {
            m.vote = Some(num(0)?);
            m.vote_started = None;
        }
        "t" => m.truncate_started = Some(num(0)?),
        "T" => {
            m.entries.split_off(&num(0)?);
            m.truncate_started = None;
        }
        "p" => m.purge_started = Some((num(0)?, num(1)?)),
        "P" => {
            let (upto, term) = (num(0)?, num(1)?);
            m.entries = m.entries.split_off(&(upto + 1));
            m.purged = Some((upto, term));
            m.purge_started = None;
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// Starts the child, reads its reports until the kill moment, kills it,
/// reads what it had written before it died; returns how many appends it
/// acknowledged.
fn kill_child(
    dir: &Path,
    spec: &str,
    kill_at: KillAt,
    models: &mut BTreeMap<u64, Model>,
) -> Result<u64, String> {
    let said = TEST.run_child(dir, spec, kill_at, |report| hear(models, report))?;
    Ok(said.acks)
}

/// Reopens the log and checks every group against its model; the model
/// becomes what was found.
fn check(
    dir: &Path,
    rt: &tokio::runtime::Runtime,
    models: &mut BTreeMap<u64, Model>,
) -> Result<(), String> {
    let (wal, _) = Wal::open(dir, &options()).map_err(|e| format!("reopen: {e}"))?;
    let wal = Arc::new(wal);
    for &g in &GROUPS {
        let m = models.entry(g).or_default();
        let mut store = rt
            .block_on(LogStore::<TypeConfig>::open_async(wal.clone(), g))
            .map_err(|e| format!("group {g}: open: {e}"))?;
        let vote = rt
            .block_on(store.read_vote())
            .map_err(|e| e.to_string())?
            .map(|v| v.leader_id.term);
        if vote != m.vote && (m.vote_started.is_none() || vote != m.vote_started) {
            return Err(format!(
                "group {g}: vote {vote:?}, saved {:?}, started {:?}",
                m.vote, m.vote_started
            ));
        }
        let state = rt
            .block_on(store.get_log_state())
            .map_err(|e| e.to_string())?;
        let purged = state
            .last_purged_log_id
            .map(|p| (p.index, p.leader_id.term));
        if purged != m.purged && (m.purge_started.is_none() || purged != m.purge_started) {
            return Err(format!(
                "group {g}: last purged {purged:?}, purged {:?}, started {:?}",
                m.purged, m.purge_started
            ));
        }
        let entries = rt
            .block_on(store.try_get_log_entries(..))
            .map_err(|e| format!("group {g}: read: {e}"))?;
        let mut found = BTreeMap::new();
        let mut expect_next = purged.map(|p| p.0 + 1);
        for e in &entries {
            let (index, term) = (e.log_id.index, e.log_id.leader_id.term);
            if expect_next.is_some_and(|n| n != index) {
                return Err(format!(
                    "group {g}: entry {index} where {expect_next:?} was due"
                ));
            }
            expect_next = Some(index + 1);
            if *e != kill_entry(g, term, index) {
                return Err(format!(
                    "group {g}: entry {index} is not one appended: {e:?}"
                ));
            }
            found.insert(index, term);
        }
        let last = entries.last().map(|e| e.log_id);
        if state.last_log_id != last.or(state.last_purged_log_id) {
            return Err(format!(
                "group {g}: last log id {:?}, last entry {last:?}",
                state.last_log_id
            ));
        }
        // Every acknowledged entry above the purge is there, unchanged,
        // unless a truncation that started covers it.
        let floor = purged.map_or(0, |p| p.0 + 1);
        let cut = m.truncate_started.unwrap_or(u64::MAX);
        let mut truncated = false;
        for (&index, &term) in m.entries.range(floor..) {
            match found.get(&index) {
                Some(&t) if t == term => {}
                None if index >= cut => truncated = true,
                other => {
                    return Err(format!(
                        "group {g}: entry {index} of term {term} was acknowledged, found {other:?}"
                    ));
                }
            }
        }
        // A truncation happened whole or not at all.
        if truncated && found.range(cut..).next().is_some() {
            return Err(format!("group {g}: half a truncation from {cut}"));
        }
        *m = Model {
            entries: found,
            vote,
            vote_started: None,
            purged,
            purge_started: None,
            truncate_started: None,
        };
        drop(store);
    }
    Arc::into_inner(wal)
        .ok_or("the log is still in use")?
        .close()
        .map_err(|e| format!("close: {e}"))
}

#[test]
fn raft_state_survives_sigkill() {
    if let Some(spec) = TEST.child_spec() {
        child(&spec);
    }
    let (seed, cycles) = (TEST.seed(), TEST.cycles());
    let seed_var = TEST.var("SEED");
    eprintln!("raft kill test: seed {seed} ({seed_var}), {cycles} cycles");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut models: BTreeMap<u64, Model> = BTreeMap::new();
    let mut rng = SplitMix64::new(seed);
    let mut acks = 0;
    for cycle in 0..cycles {
        // `Starting`: as soon as it says it is starting the n-th vote
        // (`v`), truncation (`t`) or purge (`p`).
        let kill_at = match rng.below(10) {
            0 => KillAt::Start,
            1 => KillAt::Open,
            2 => KillAt::Starting('v', 1 + rng.below(3)),
            3 => KillAt::Starting('t', 1 + rng.below(3)),
            4 | 5 => KillAt::Starting('p', 1 + rng.below(3)),
            _ => KillAt::Acks(1 + rng.below(MAX_ACKS)),
        };
        let spec = format!("{cycle} {}", SplitMix64::mix(seed ^ cycle));
        let result = kill_child(dir.path(), &spec, kill_at, &mut models).and_then(|n| {
            acks += n;
            check(dir.path(), &rt, &mut models)
        });
        if let Err(e) = result {
            panic!("seed {seed} ({seed_var}), cycle {cycle}, kill at {kill_at:?}: {e}");
        }
    }
    let entries: usize = models.values().map(|m| m.entries.len()).sum();
    eprintln!(
        "raft kill test: {cycles} cycles, {acks} acknowledged appends checked, {entries} entries \
         in the log at the end"
    );
}
