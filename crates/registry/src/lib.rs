//! Signed plugin packages for BitVault Plugins: the manifest and its
//! canonical bytes, Ed25519 keys in standard PEM files, signatures bound to
//! publishers by a trust policy with key rotation and revocation, and the
//! verification that runs before anything is compiled. This crate never
//! executes wasm (it does not depend on the runtime).
//!
//! ```
//! use bitvault_abi::Grants;
//! use bitvault_registry::{KeyStatus, Manifest, ModuleRef, PackageBytes, TrustPolicy};
//! use bitvault_registry::{generate_key, sha256_hex, sign, verify};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = b"\0asm\x01\0\0\0".to_vec();
//! let manifest = Manifest {
//!     schema: 1,
//!     name: "hello".into(),
//!     version: "1.0.0".into(),
//!     publisher: "acme.example".into(),
//!     description: "says hello".into(),
//!     extension_points: vec![],
//!     event_types: vec![],
//!     capabilities: Grants::core(),
//!     limits: None,
//!     abi_version: bitvault_abi::ABI_VERSION,
//!     module: ModuleRef { sha256: sha256_hex(&module), size: module.len() as u64 },
//! };
//! let key = generate_key()?;
//! let (manifest_bytes, signature) = sign(&manifest, &key)?;
//!
//! let mut policy = TrustPolicy::default();
//! policy.trust("acme.example", &key.verifying_key(), KeyStatus::Active)?;
//! let package = PackageBytes {
//!     manifest: &manifest_bytes,
//!     signature: Some(&signature.to_canonical()),
//!     module: &module,
//! };
//! assert_eq!(verify(package, &policy)?.manifest.name, "hello");
//! # Ok(()) }
//! ```
//!
//! Packages travel through a content-addressed [`oci::Registry`]: the
//! embedded [`LayoutRegistry`] (an OCI image-layout directory) or, with the
//! `remote` feature, `remote::RemoteRegistry` (any OCI distribution
//! registry). [`publish`] stores a package as an OCI artifact,
//! [`fetch_package`] fetches one with every byte checked against its
//! digest, and [`catalog`] lists what a registry holds. [`cosign`] attaches
//! and verifies cosign-style signatures. [`installs`] keeps tenant
//! installations, trust policies and the audit log behind
//! [`InstallStore`]; [`review`] compares grants with requests. The
//! admission pipeline that joins these to the runtime is
//! `bitvault_plugins::PluginHost`.
#![forbid(unsafe_code)]

mod artifact;
pub mod cosign;
pub mod installs;
mod layout;
mod manifest;
pub mod oci;
mod package;
#[cfg(feature = "remote")]
pub mod remote;
pub mod review;
mod signing;

pub use artifact::{
    CatalogEntry, Fetched, Published, Reference, Selector, catalog, fetch_package, publish,
    versions,
};
pub use installs::{
    AuditAction, AuditEntry, INSTALL_SCHEMA, InstallStore, Installation, RedbInstallStore,
    StoreError,
};
pub use layout::LayoutRegistry;
pub use manifest::{MANIFEST_SCHEMA, Manifest, ManifestError, ModuleRef};
pub use package::{PackageBytes, PackageError, Verified, sha256_hex, verify};
pub use signing::{
    KeyStatus, Publisher, SIGNING_CONTEXT, SignatureFile, SigningError, TrustPolicy, TrustedKey,
    fingerprint, generate_key, private_key_pem, public_key_pem, read_private_key, read_public_key,
    sign,
};
