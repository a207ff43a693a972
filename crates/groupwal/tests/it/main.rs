//! The facade's integration tests: the everyday API end to end, on the
//! simulated disk unless the name says otherwise.

#![allow(clippy::print_stderr)]

mod basics;
mod crashes;
#[cfg(all(feature = "encryption", feature = "compression"))]
mod encrypted;
mod errors;
mod footprint;
mod stream_crashes;
mod streams;
mod support;
mod tailing;
