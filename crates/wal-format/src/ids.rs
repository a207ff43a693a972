//! Newtypes that give the format's integers a meaning.

use std::fmt;

/// A log sequence number: the position of a logical record in the log.
///
/// LSNs are dense: the first record of a log is [`Lsn::FIRST`] and each
/// logical record (a full record, a reassembled fragmented record, or a
/// checkpoint) takes the next one. [`Lsn::ZERO`] means "no record" (for
/// example, the durable LSN of an empty log).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(u64);

impl Lsn {
    /// "No record": sorts before every real LSN.
    pub const ZERO: Lsn = Lsn(0);
    /// The LSN of the first record of a new log.
    pub const FIRST: Lsn = Lsn(1);
    /// The largest LSN.
    pub const MAX: Lsn = Lsn(u64::MAX);

    /// Wraps a raw value.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Lsn(value)
    }

    /// The raw value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The LSN after this one, or `None` at [`Lsn::MAX`].
    #[must_use]
    pub const fn checked_next(self) -> Option<Lsn> {
        match self.0.checked_add(1) {
            Some(v) => Some(Lsn(v)),
            None => None,
        }
    }

    /// This LSN advanced by `n`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, n: u64) -> Option<Lsn> {
        match self.0.checked_add(n) {
            Some(v) => Some(Lsn(v)),
            None => None,
        }
    }

    /// The LSN before this one, or `None` at [`Lsn::ZERO`].
    #[must_use]
    pub const fn checked_prev(self) -> Option<Lsn> {
        match self.0.checked_sub(1) {
            Some(v) => Some(Lsn(v)),
            None => None,
        }
    }

    /// This LSN advanced by `n`, stopping at [`Lsn::MAX`].
    #[must_use]
    pub const fn saturating_add(self, n: u64) -> Lsn {
        Lsn(self.0.saturating_add(n))
    }

    /// This LSN moved back by `n`, stopping at [`Lsn::ZERO`].
    #[must_use]
    pub const fn saturating_sub(self, n: u64) -> Lsn {
        Lsn(self.0.saturating_sub(n))
    }

    /// How many LSNs lie from `earlier` up to this one (`self - earlier`),
    /// 0 if `earlier` is not earlier: the records between two positions.
    ///
    /// ```
    /// use wal_format::Lsn;
    /// assert_eq!(Lsn::new(10).since(Lsn::new(4)), 6);
    /// assert_eq!(Lsn::new(4).since(Lsn::new(10)), 0);
    /// assert_eq!(Lsn::FIRST.saturating_add(2), Lsn::new(3));
    /// ```
    #[must_use]
    pub const fn since(self, earlier: Lsn) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<u64> for Lsn {
    fn from(value: u64) -> Lsn {
        Lsn(value)
    }
}

impl fmt::Debug for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lsn({})", self.0)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Lsn> for u64 {
    fn from(lsn: Lsn) -> u64 {
        lsn.0
    }
}

/// A random 64-bit value chosen each time a segment file is (re)initialised.
///
/// Every record header carries the salt of the segment it was written to, so
/// records left in a file from an earlier use (a recycled segment, a file
/// truncated and rewritten) are recognised as stale and never accepted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Salt(u64);

impl Salt {
    /// Wraps a raw value. The caller is responsible for choosing it at random.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Salt(value)
    }

    /// The raw value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Salt({:#018x})", self.0)
    }
}

impl fmt::Display for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// A random 64-bit identifier chosen when a log is created; every segment of
/// the log records it, so segments of two different logs are never mixed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LogId(u64);

impl LogId {
    /// Wraps a raw value.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        LogId(value)
    }

    /// The raw value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogId({:#018x})", self.0)
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// Identifies the encryption key a segment's records are encrypted under.
///
/// [`KeyId::NONE`] (zero) means the segment holds no encrypted records.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId(u32);

impl KeyId {
    /// No key: the segment is not encrypted.
    pub const NONE: KeyId = KeyId(0);

    /// Wraps a raw value.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        KeyId(value)
    }

    /// The raw value.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this is [`KeyId::NONE`].
    #[must_use]
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_arithmetic_is_checked() {
        assert_eq!(Lsn::ZERO.checked_next(), Some(Lsn::FIRST));
        assert_eq!(Lsn::MAX.checked_next(), None);
        assert_eq!(Lsn::ZERO.checked_prev(), None);
        assert_eq!(Lsn::new(10).checked_add(5), Some(Lsn::new(15)));
        assert_eq!(Lsn::MAX.checked_add(1), None);
        assert!(Lsn::ZERO < Lsn::FIRST);
    }

    #[test]
    fn display_forms() {
        assert_eq!(Lsn::new(42).to_string(), "42");
        assert_eq!(Salt::new(0xab).to_string(), "0x00000000000000ab");
        assert!(KeyId::NONE.is_none());
        assert!(!KeyId::new(3).is_none());
    }
}
