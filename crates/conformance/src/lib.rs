//! Conformance suites for the BitVault Plugins extension points.
//!
//! This crate will hold one suite per extension point that any plugin module
//! can be run against (`cargo xtask conformance`).
//!
//! It contains no code yet: it depends on the extension points, which are
//! not built.
#![forbid(unsafe_code)]
