//! [`SplitMix64`], the workspace's test RNG.

/// SplitMix64: the workspace's test RNG, small, seeded and deterministic.
///
/// The simulated disk draws its random choices from it, and so do the
/// tests and campaigns built on it, so a seed names one workload, one
/// post-crash state or one kill point on every platform and in every
/// version. Its sequence must never change: recorded seeds replay by it.
///
/// Each method draws exactly one number, except [`below`](Self::below)
/// with `n == 0`, which draws none.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose every output follows from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The state: the seed, plus one increment per number drawn.
    #[must_use]
    pub const fn state(&self) -> u64 {
        self.0
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        Self::mix(self.0)
    }

    /// SplitMix64's output function alone: a well-mixed hash of `z`, for
    /// deriving values from numbers without a generator.
    #[must_use]
    pub const fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (the next number modulo `n`); 0, without
    /// drawing, if `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `lo..=hi` (`lo` plus the next number modulo the span);
    /// `lo` if `hi < lo`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo).saturating_add(1);
        lo.saturating_add(self.next_u64() % span.max(1))
    }

    /// True or false, from the next number's lowest bit.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// True with probability `percent` / 100 (the next number modulo 100
    /// is below `percent`).
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    /// Recorded seeds replay by this sequence: it must not move.
    #[test]
    fn split_mix_64_keeps_its_sequence() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
        assert_eq!(rng.state(), 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(3));
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.state(), 0, "below(0) draws nothing");
        // The first two numbers above, modulo 1000 and modulo 7.
        assert_eq!(rng.below(1000), 535);
        assert_eq!(rng.range(10, 16), 11);
        assert_eq!(rng.range(5, 4), 5);
        assert_eq!(
            rng.state(),
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(3),
            "range draws one number even when hi < lo"
        );
    }
}
