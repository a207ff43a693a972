//! A read trigger in front of the simulated disk
//! ([`crate::hooks::Hooked`]): while armed, it
//! numbers the read calls of each [`Lane`] and injects the simulated
//! disk's read fault (`Fault::ReadEio`, `Fault::BitFlipOnRead`) into the
//! calls the [`Injection`] names, noting each [`Hit`] (the file, the
//! offset, and for a flip the byte of the file that read back changed).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use groupwal::io::Storage;
use groupwal::io::sim::{Fault, SimStorage};

use super::case::{Injection, Lane, ReadFault};
use crate::hooks::{Hooks, Opened};
use crate::rng::mix;

/// One read a fault hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The lane of the read.
    pub lane: Lane,
    /// Its number in the lane.
    pub index: u64,
    /// The fault.
    pub fault: ReadFault,
    /// The file's name.
    pub file: String,
    /// Where the read started.
    pub offset: u64,
    /// How many bytes it asked for.
    pub len: usize,
    /// Whether the fault changed anything: the read failed, reported the
    /// end of the file, or returned a changed byte (a flip on a read that
    /// returns nothing changes nothing).
    pub effect: bool,
    /// For a flip, the offset in the file of the byte that read back
    /// changed (`None`: no byte changed, or it could not be told).
    pub flipped: Option<u64>,
}

impl std::fmt::Display for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on read {} of lane {:?} ({} bytes of {} at {})",
            self.fault.name(),
            self.index,
            self.lane,
            self.len,
            self.file,
            self.offset
        )?;
        match (self.fault, self.flipped, self.effect) {
            (ReadFault::Flip, Some(at), _) => write!(f, ", byte {at} flipped"),
            (_, _, false) => write!(f, ", no effect"),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Read calls per lane so far.
    counts: [u64; 3],
    hits: Vec<Hit>,
    /// A queued fault the disk never took (a harness problem).
    stray: Option<String>,
}

/// Counts read calls per lane and fires the fault: see the module docs.
#[derive(Debug)]
pub(crate) struct Trigger {
    sim: SimStorage,
    seed: u64,
    fault: Option<(ReadFault, Injection)>,
    armed: AtomicBool,
    /// Set when the case was given up as hung: every read fails from then
    /// on, so a reader that loops over its reads ends.
    abandoned: Arc<AtomicBool>,
    caller: Mutex<Option<ThreadId>>,
    /// Held from the decision through the read it applies to, so a fault
    /// queued in the simulated disk is taken by this read and no other.
    state: Mutex<State>,
}

impl Trigger {
    /// A trigger on `sim` that only counts (`fault: None`) or injects;
    /// every read fails once `abandoned` is set.
    pub(crate) fn new(
        sim: SimStorage,
        seed: u64,
        fault: Option<(ReadFault, Injection)>,
        abandoned: Arc<AtomicBool>,
    ) -> Self {
        Trigger {
            sim,
            seed,
            fault,
            armed: AtomicBool::new(false),
            abandoned,
            caller: Mutex::new(None),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts counting (and injecting); the calling thread is the caller
    /// lane.
    pub(crate) fn arm(&self) {
        *self.caller.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current().id());
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Stops counting and injecting.
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Read calls per lane while armed.
    pub(crate) fn counts(&self) -> [u64; 3] {
        self.lock().counts
    }

    /// The reads the fault hit.
    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.lock().hits.clone()
    }

    /// A fault queued in the disk that no read took, if any.
    pub(crate) fn stray(&self) -> Option<String> {
        self.lock().stray.clone()
    }

    fn lane(&self) -> Lane {
        let me = std::thread::current();
        if *self.caller.lock().unwrap_or_else(|e| e.into_inner()) == Some(me.id()) {
            Lane::Caller
        } else if me.name() == Some("groupwal-readahead") {
            Lane::ReadAhead
        } else {
            Lane::Other
        }
    }

    fn decide(&self, lane: Lane, index: u64) -> Option<ReadFault> {
        let (fault, injection) = self.fault?;
        let fires = match injection {
            Injection::At { lane: l, k } => l == lane && k == index,
            Injection::Rate { per_million, draw } => {
                mix(&[self.seed, draw, lane.index() as u64, index]) % 1_000_000
                    < u64::from(per_million)
            }
        };
        fires.then_some(fault)
    }

    fn read(&self, at: Opened<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Opened { file: inner, path } = at;
        if self.abandoned.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "read-fault campaign: the case was given up as hung",
            ));
        }
        if !self.armed.load(Ordering::SeqCst) {
            return inner.read_at(buf, offset);
        }
        let mut state = self.lock();
        let lane = self.lane();
        let Some(slot) = state.counts.get_mut(lane.index()) else {
            return inner.read_at(buf, offset);
        };
        let index = *slot;
        *slot += 1;
        let Some(fault) = self.decide(lane, index) else {
            return inner.read_at(buf, offset);
        };
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut hit = Hit {
            lane,
            index,
            fault,
            file,
            offset,
            len: buf.len(),
            effect: false,
            flipped: None,
        };
        let result = match fault {
            ReadFault::EofOnError => {
                hit.effect = !buf.is_empty();
                Ok(0)
            }
            ReadFault::Eio | ReadFault::Flip => {
                let before = self.sim.stats().faults;
                self.sim.inject(if fault == ReadFault::Eio {
                    Fault::ReadEio
                } else {
                    Fault::BitFlipOnRead
                });
                let result = inner.read_at(buf, offset);
                if self.sim.stats().faults == before {
                    state.stray = Some(format!(
                        "the disk did not take the fault queued for {hit} (the read returned {result:?})"
                    ));
                }
                match (&result, fault) {
                    (Err(_), _) => hit.effect = true,
                    (Ok(n), ReadFault::Flip) => {
                        hit.flipped = flipped_byte(&self.sim, path, buf, offset, *n);
                        hit.effect = hit.flipped.is_some();
                    }
                    (Ok(_), _) => {}
                }
                result
            }
        };
        state.hits.push(hit);
        result
    }
}

/// The offset in the file of the first byte of `buf[..n]` (read at
/// `offset`) that differs from what the file holds.
fn flipped_byte(sim: &SimStorage, path: &Path, buf: &[u8], offset: u64, n: usize) -> Option<u64> {
    let stored = sim.contents(path).ok()?;
    let start = usize::try_from(offset).ok()?;
    let read = buf.get(..n)?;
    let stored = stored.get(start..start.checked_add(n)?)?;
    let at = read.iter().zip(stored).position(|(a, b)| a != b)?;
    Some(offset + at as u64)
}

/// The trigger in front of the simulated disk: only reads are counted.
impl Hooks for Trigger {
    fn behind(&self) -> &dyn Storage {
        &self.sim
    }
    fn read_at(&self, at: Opened<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.read(at, buf, offset)
    }
}
