//! The crash and fault campaign, in CI: crash-point exploration and fault
//! injection with zero oracle violations, the counts printed.

#![allow(clippy::print_stderr)]

mod crash_points;
mod fault_injection;
mod support;
