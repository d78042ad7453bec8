//! The Rust guest SDK (plugin development kit) for BitVault Plugins.
//!
//! This crate will give plugin authors safe wrappers over every `bitvault_v1`
//! host function and a macro that turns `fn(Input) -> Result<Output, Error>`
//! into an export. It builds for `wasm32-unknown-unknown` and
//! `wasm32-wasip1`.
//!
//! It contains no code yet. Until it exists, a Rust plugin declares the
//! imports itself; `docs/abi.md` specifies them and `docs/writing-plugins.md`
//! shows how.
#![no_std]
#![forbid(unsafe_code)]
