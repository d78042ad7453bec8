//! Signed plugin packages and registries for BitVault Plugins.
//!
//! This crate will hold plugin manifests, ed25519 signatures, the embedded
//! OCI image-layout registry and the remote OCI client, the trust policy and
//! tenant installations with their grants. It never executes wasm.
//!
//! It contains no code yet: packages, signing and registries are not built.
//! Today modules are loaded from bytes the embedder supplies.
#![forbid(unsafe_code)]
