//! A small deterministic generator, so a seed names one workload and one
//! post-crash state on every platform and in every version: the one
//! every workload of the campaigns (and of their tests) draws from.

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose every output follows from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo).saturating_add(1);
        lo.saturating_add(self.next_u64() % span.max(1))
    }

    /// `bytes` grown to `len` bytes: with `filler`, or with random bytes
    /// (one number drawn per byte) if `None`.
    pub fn fill(&mut self, mut bytes: Vec<u8>, len: usize, filler: Option<u8>) -> Vec<u8> {
        while bytes.len() < len {
            bytes.push(filler.unwrap_or_else(|| self.next_u64() as u8));
        }
        bytes
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// A seed derived from several numbers (for the post-crash state of one
/// crash point and variant).
#[must_use]
pub fn mix(parts: &[u64]) -> u64 {
    let mut rng = Rng::new(0x7075_7274_6f72_7475);
    let mut acc = 0u64;
    for &p in parts {
        rng.0 ^= p.wrapping_add(acc);
        acc = rng.next_u64();
    }
    acc
}
