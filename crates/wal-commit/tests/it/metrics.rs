//! With the `metrics` feature the committer's counters and histograms move
//! through the `metrics` facade, under their Prometheus names, labelled
//! with the log directory, in step with its own `Stats`; a poisoning is
//! counted once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use wal_commit::metrics::{
    APPEND_SECONDS, APPENDS, BYTES, FSYNC_SECONDS, GROUP_SIZE, GROUPS, POISONINGS,
    QUEUE_WAIT_SECONDS, SYNCS, WRITE_SECONDS,
};
use wal_io::sim::{Fault, SimStorage};

use crate::support::{DIR, open, payload};

/// One series: a counter's total, or a histogram's samples.
#[derive(Debug, Default)]
struct Series {
    total: Mutex<u64>,
    samples: Mutex<Vec<f64>>,
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        *self.total.lock().unwrap() += value;
    }

    fn absolute(&self, value: u64) {
        let mut total = self.total.lock().unwrap();
        *total = (*total).max(value);
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.samples.lock().unwrap().push(value);
    }
}

/// A series' labels, as (key, value) pairs.
type Labels = Vec<(String, String)>;

/// A recorder that keeps every series by name, with the labels it was
/// registered with.
#[derive(Debug, Default)]
struct TestRecorder {
    series: Mutex<BTreeMap<String, (Labels, Arc<Series>)>>,
}

impl TestRecorder {
    fn register(&self, key: &Key) -> Arc<Series> {
        let labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let mut series = self.series.lock().unwrap();
        let entry = series
            .entry(key.name().to_owned())
            .or_insert_with(|| (labels, Arc::default()));
        entry.1.clone()
    }

    fn series(&self, name: &str) -> Arc<Series> {
        let series = self.series.lock().unwrap();
        let (labels, s) = series
            .get(name)
            .unwrap_or_else(|| panic!("{name} was never registered"));
        assert_eq!(
            labels,
            &[("dir".to_owned(), DIR.to_owned())],
            "{name}'s labels"
        );
        s.clone()
    }

    fn total(&self, name: &str) -> u64 {
        *self.series(name).total.lock().unwrap()
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        self.series(name).samples.lock().unwrap().clone()
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.register(key))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.register(key))
    }
}

#[test]
fn the_numbers_move_in_step_with_stats_and_a_poisoning_counts_once() {
    let storage = SimStorage::new(71);
    let recorder = TestRecorder::default();
    // The committer registers its series when it starts, with the recorder
    // in force then; they record into it from any thread afterwards.
    let log = metrics::with_local_recorder(&recorder, || open(&storage));
    let mut bytes = 0;
    for s in 0..10 {
        let p = payload(1, s);
        bytes += p.len() as u64;
        log.append(&p).unwrap();
    }
    let batch: Vec<Vec<u8>> = (10..13).map(|s| payload(1, s)).collect();
    bytes += batch.iter().map(|p| p.len() as u64).sum::<u64>();
    log.append_batch(&batch).unwrap();

    let stats = log.stats();
    assert_eq!(recorder.total(APPENDS), 13);
    assert_eq!(recorder.total(BYTES), bytes);
    assert_eq!(recorder.total(GROUPS), stats.groups);
    assert!(
        stats.groups >= 11,
        "one group per blocking append: {stats:?}"
    );
    assert_eq!(recorder.total(SYNCS), stats.syncs);
    assert!(stats.syncs >= 11, "{stats:?}");
    assert_eq!(recorder.total(POISONINGS), 0);

    let fsyncs = recorder.samples(FSYNC_SECONDS);
    assert_eq!(fsyncs.len() as u64, stats.syncs);
    assert!(fsyncs.iter().all(|s| (0.0..60.0).contains(s)), "{fsyncs:?}");
    assert_eq!(recorder.samples(WRITE_SECONDS).len() as u64, stats.groups);
    let sizes = recorder.samples(GROUP_SIZE);
    assert_eq!(sizes.len() as u64, stats.groups);
    assert_eq!(sizes.iter().sum::<f64>(), 13.0);
    // One sample per request (a batch is one), as in `Stats`.
    assert_eq!(recorder.samples(QUEUE_WAIT_SECONDS).len(), 11);
    assert_eq!(recorder.samples(APPEND_SECONDS).len(), 11);
    assert_eq!(stats.queue_wait.count, 11);
    assert_eq!(stats.append.count, 11);

    // A failed sync poisons the log: counted once, however many calls fail.
    storage.inject(Fault::SyncEio);
    log.append(b"fails").unwrap_err();
    log.append(b"fails too").unwrap_err();
    assert_eq!(recorder.total(POISONINGS), 1);
    assert_eq!(
        recorder.total(SYNCS),
        stats.syncs,
        "a failed sync is not a sync"
    );
    drop(log);
}
