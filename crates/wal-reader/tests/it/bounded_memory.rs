//! The reader's memory is bounded by a small multiple of the largest
//! record, however large the segments: measured by its own high-water mark
//! and by counting this thread's heap allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wal_io::LogOptions;
use wal_reader::{LogReader, recover};

use crate::support::*;

struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping touches only const-initialised thread locals without
// destructors, and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak of this thread's heap growth while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    CURRENT.with(|c| c.set(0));
    PEAK.with(|p| p.set(0));
    let out = f();
    (out, PEAK.with(Cell::get).max(0) as usize)
}

#[test]
fn reading_a_large_segment_holds_one_window_and_one_record() {
    let (_sim, storage) = sim(50);
    let mut options = LogOptions::new();
    options.create(true).segment_size(8 << 20);
    let mut w = SegWriter::open(storage.clone(), &options);
    let mut total = 0usize;
    for i in 1..=4000u64 {
        // 1 KiB records, and now and then one of 20 KB (7 fragments).
        let len = if i % 500 == 0 { 20_000 } else { 1024 };
        total += len;
        w.append(&payload(i, len));
    }
    assert_eq!(w.log.segments().len(), 1, "one large segment");
    drop(w);
    assert!(total > 4 << 20);

    let mut ro = read_options();
    ro.buffer_size(16 * 1024).max_payload_len(4096);
    let bound = ro.memory_bound();
    // Window, read-ahead buffer, assembly and decoder buffers: far below
    // the 4 MiB of records.
    assert!(bound < 128 * 1024, "bound {bound}");

    let ((count, high), peak) = peak_during(|| {
        let mut reader = LogReader::open(storage.clone(), dir(), &ro).unwrap();
        let mut count = 0u64;
        while let Some(r) = reader.next_record().unwrap() {
            count += 1;
            assert_eq!(r.lsn.get(), count);
        }
        (count, reader.buffer_high_water())
    });
    assert_eq!(count, 4000);
    assert!(high <= bound, "high water {high} over the bound {bound}");
    assert!(
        high >= 20_000,
        "the assembly buffer held a 20 KB record: {high}"
    );
    // Everything the thread allocated at once, reader included: within the
    // bound plus small change, far below the 4 MiB of records.
    assert!(peak <= bound + 16 * 1024, "peak heap {peak}, bound {bound}");
    assert!(peak >= 20_000, "the allocator counts: {peak}");

    // Recovery of the same log: bounded too (wal-io's zero check reads in
    // 1 MiB chunks; the log holds more than 4 MiB).
    let (_, peak) = peak_during(|| {
        let (log, report) = recover(storage.clone(), dir(), &options, &ro).unwrap();
        assert_eq!(report.last_lsn.get(), 4000);
        drop(log);
    });
    assert!(peak <= (1 << 20) + 2 * bound, "recovery peak heap {peak}");
}

/// With read-ahead, the reader holds its window and the chunks the
/// read-ahead keeps in flight; with small records and record limits (so
/// the assembly and decoder allowances leave little slack),
/// `ReadOptions::memory_bound` must count every one of those chunks.
#[test]
fn the_bound_counts_every_read_ahead_chunk() {
    let (_sim, storage) = sim(51);
    let mut options = LogOptions::new();
    options.create(true).segment_size(8 << 20);
    let mut w = SegWriter::open(storage.clone(), &options);
    for i in 1..=2000u64 {
        w.append(&payload(i, 1024));
    }
    drop(w);

    let mut ro = read_options();
    ro.buffer_size(16 * 1024)
        .max_payload_len(2048)
        .max_record_len(2048);
    let bound = ro.memory_bound();
    let mut reader = LogReader::open(storage.clone(), dir(), &ro).unwrap();
    let mut count = 0u64;
    while let Some(r) = reader.next_record().unwrap() {
        count += 1;
        assert_eq!(r.lsn.get(), count);
    }
    assert_eq!(count, 2000);
    let high = reader.buffer_high_water();
    assert!(high <= bound, "high water {high} over the bound {bound}");
    // The window and two read-ahead chunks (16 KiB and 4 KiB of room each).
    assert!(high >= 3 * 16 * 1024, "high water {high}");
}
