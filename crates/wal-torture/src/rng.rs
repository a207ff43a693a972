//! A small deterministic generator, so a seed names one workload and one
//! post-crash state on every platform and in every version: the one
//! every workload of the campaigns (and of their tests) draws from. It is
//! the workspace's test RNG, [`wal_io::sim::SplitMix64`], under its old
//! name here.

pub use wal_io::sim::SplitMix64 as Rng;

/// `bytes` grown to `len` bytes: with `filler`, or with random bytes
/// (one number drawn per byte) if `None`.
pub fn fill(rng: &mut Rng, mut bytes: Vec<u8>, len: usize, filler: Option<u8>) -> Vec<u8> {
    while bytes.len() < len {
        bytes.push(filler.unwrap_or_else(|| rng.next_u64() as u8));
    }
    bytes
}

/// A seed derived from several numbers (for the post-crash state of one
/// crash point and variant).
#[must_use]
pub fn mix(parts: &[u64]) -> u64 {
    let mut rng = Rng::new(0x7075_7274_6f72_7475);
    let mut acc = 0u64;
    for &p in parts {
        rng = Rng::new(rng.state() ^ p.wrapping_add(acc));
        acc = rng.next_u64();
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::mix;

    /// Recorded seeds name cases through `mix`: its values must not move.
    #[test]
    fn mix_keeps_its_values() {
        assert_eq!(mix(&[]), 0);
        assert_eq!(mix(&[0]), 0xbaf6_fb9b_f52a_4e5a);
        assert_eq!(mix(&[1, 2, 3]), 0xeb5b_7cd6_210a_42d3);
        assert_eq!(mix(&[0x9006, 0x6269_7472_6f74]), 0x83b2_6e35_ec0d_49af);
    }
}
