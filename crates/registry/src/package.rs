//! Verifying a package before anything compiles it: the manifest's bytes,
//! its signature against the trust policy, the module's digest.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::manifest::{Manifest, ManifestError};
use crate::signing::{KeyStatus, SignatureFile, SigningError, TrustPolicy, verify_signature};

/// A package as fetched: the manifest's bytes, its signature file's bytes
/// (if any) and the module's bytes.
#[derive(Debug, Clone, Copy)]
pub struct PackageBytes<'a> {
    /// The manifest, exactly as fetched.
    pub manifest: &'a [u8],
    /// The signature file, exactly as fetched; `None` for an unsigned
    /// package.
    pub signature: Option<&'a [u8]>,
    /// The module.
    pub module: &'a [u8],
}

/// A package whose manifest, signature and module all verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The manifest.
    pub manifest: Manifest,
    /// The fingerprint of the key that signed it.
    pub key: String,
    /// That key's status (active or retired).
    pub key_status: KeyStatus,
}

/// Why a package is refused. Each names its reason; none is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageError {
    /// The manifest bytes are not a canonical, valid manifest.
    Manifest(ManifestError),
    /// There is no signature.
    Unsigned,
    /// The signature file does not parse.
    SignatureFile(SigningError),
    /// The signature claims another publisher than the manifest names.
    PublisherMismatch {
        /// The manifest's publisher.
        manifest: String,
        /// The signature's.
        signature: String,
    },
    /// The publisher is not in the trust policy.
    UntrustedPublisher {
        /// The publisher.
        publisher: String,
    },
    /// The key is not one the policy trusts for this publisher (it may be
    /// another publisher's: one publisher cannot sign as another).
    UntrustedKey {
        /// The publisher claimed.
        publisher: String,
        /// The key's fingerprint.
        key: String,
        /// Publishers that do trust this key.
        owners: Vec<String>,
    },
    /// The key is revoked.
    RevokedKey {
        /// The publisher.
        publisher: String,
        /// The key's fingerprint.
        key: String,
    },
    /// The signature does not verify over the manifest bytes.
    BadSignature {
        /// The key's fingerprint.
        key: String,
    },
    /// The module is not the one the manifest binds.
    ModuleDigest {
        /// The manifest's digest.
        expected: String,
        /// The module's.
        actual: String,
    },
    /// The module's size is not the manifest's (a truncated download).
    ModuleSize {
        /// The manifest's size.
        expected: u64,
        /// The module's.
        actual: u64,
    },
}

impl PackageError {
    /// The stable snake-case name of the reason (the CLI's `--json`
    /// `reason`).
    pub const fn reason(&self) -> &'static str {
        match self {
            PackageError::Manifest(_) => "manifest",
            PackageError::Unsigned => "unsigned",
            PackageError::SignatureFile(_) => "signature_file",
            PackageError::PublisherMismatch { .. } => "publisher_mismatch",
            PackageError::UntrustedPublisher { .. } => "untrusted_publisher",
            PackageError::UntrustedKey { .. } => "untrusted_key",
            PackageError::RevokedKey { .. } => "revoked_key",
            PackageError::BadSignature { .. } => "bad_signature",
            PackageError::ModuleDigest { .. } => "module_digest",
            PackageError::ModuleSize { .. } => "module_size",
        }
    }
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::Manifest(e) => write!(f, "{e}"),
            PackageError::Unsigned => f.write_str("the package is not signed"),
            PackageError::SignatureFile(e) => write!(f, "{e}"),
            PackageError::PublisherMismatch {
                manifest,
                signature,
            } => write!(
                f,
                "the signature is for publisher `{signature}`, the manifest names `{manifest}`"
            ),
            PackageError::UntrustedPublisher { publisher } => {
                write!(f, "publisher `{publisher}` is not trusted")
            }
            PackageError::UntrustedKey {
                publisher,
                key,
                owners,
            } if owners.is_empty() => {
                write!(f, "key {key} is not trusted for publisher `{publisher}`")
            }
            PackageError::UntrustedKey {
                publisher,
                key,
                owners,
            } => write!(
                f,
                "key {key} belongs to {} and cannot sign as `{publisher}`",
                owners.join(", ")
            ),
            PackageError::RevokedKey { publisher, key } => {
                write!(f, "key {key} of publisher `{publisher}` is revoked")
            }
            PackageError::BadSignature { key } => {
                write!(
                    f,
                    "the signature by key {key} does not verify over the manifest"
                )
            }
            PackageError::ModuleDigest { expected, actual } => write!(
                f,
                "the module's sha256 is {actual}, the manifest binds {expected}"
            ),
            PackageError::ModuleSize { expected, actual } => write!(
                f,
                "the module is {actual} bytes, the manifest says {expected}"
            ),
        }
    }
}

impl std::error::Error for PackageError {}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Verifies a package, in this order: the manifest bytes are canonical and
/// valid; a signature exists and parses; it claims the manifest's
/// publisher; the policy trusts that publisher and that key for it, and the
/// key is not revoked; the signature verifies over the exact manifest
/// bytes; the module has the manifest's size and digest. Nothing is
/// compiled; the caller compiles only a [`Verified`] package's module.
///
/// # Errors
/// The first [`PackageError`] in that order.
pub fn verify(package: PackageBytes<'_>, policy: &TrustPolicy) -> Result<Verified, PackageError> {
    let manifest = Manifest::from_canonical(package.manifest).map_err(PackageError::Manifest)?;
    let signature = package.signature.ok_or(PackageError::Unsigned)?;
    let signature =
        SignatureFile::from_canonical(signature).map_err(PackageError::SignatureFile)?;
    if signature.publisher != manifest.publisher {
        return Err(PackageError::PublisherMismatch {
            manifest: manifest.publisher,
            signature: signature.publisher,
        });
    }
    if !policy.publishers.contains_key(&manifest.publisher) {
        return Err(PackageError::UntrustedPublisher {
            publisher: manifest.publisher,
        });
    }
    let Some((key, status)) = policy.key(&manifest.publisher, &signature.key) else {
        return Err(PackageError::UntrustedKey {
            owners: policy
                .owners_of(&signature.key)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            publisher: manifest.publisher,
            key: signature.key,
        });
    };
    if status == KeyStatus::Revoked {
        return Err(PackageError::RevokedKey {
            publisher: manifest.publisher,
            key: signature.key,
        });
    }
    if !verify_signature(&key, package.manifest, &signature.signature) {
        return Err(PackageError::BadSignature { key: signature.key });
    }
    let size = package.module.len() as u64;
    if size != manifest.module.size {
        return Err(PackageError::ModuleSize {
            expected: manifest.module.size,
            actual: size,
        });
    }
    let digest = sha256_hex(package.module);
    if digest != manifest.module.sha256 {
        return Err(PackageError::ModuleDigest {
            expected: manifest.module.sha256,
            actual: digest,
        });
    }
    Ok(Verified {
        manifest,
        key: signature.key,
        key_status: status,
    })
}
