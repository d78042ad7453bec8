//! The typed extension points of BitVault Plugins.
//!
//! This crate will hold the protobuf contracts of every extension point
//! (content transform, event handler, storage provider, auth provider,
//! policy hook, search analyzer and preview) and, behind a `host` feature,
//! the typed host API and the plugin lifecycle over `bitvault-runtime`.
//!
//! It contains no code yet: the extension points are not built. Today a host
//! invokes plugin exports directly through `bitvault-runtime`.
#![forbid(unsafe_code)]
