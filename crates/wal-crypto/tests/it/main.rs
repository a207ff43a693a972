//! wal-crypto's integration tests, one module per scenario.

#[cfg(all(feature = "encryption", feature = "compression"))]
mod combinations;
#[cfg(feature = "compression")]
mod decompression_bomb;
#[cfg(feature = "encryption")]
mod nonce_uniqueness;
#[cfg(feature = "encryption")]
mod spec_conformance;
#[cfg(feature = "encryption")]
mod tamper;
mod without_features;
