//! Content-addressed registries in the OCI distribution model: digests,
//! descriptors, the [`Registry`] trait that every backend implements, and
//! the OCI artifact a plugin package is stored as.
//!
//! A package is one OCI image manifest (`application/vnd.oci.image.manifest.v1+json`)
//! in a repository named after the plugin, tagged with its version:
//!
//! - `artifactType`: [`ARTIFACT_TYPE`];
//! - `config`: the canonical package manifest ([`CONFIG_MEDIA_TYPE`]);
//! - `layers[0]`: the module ([`MODULE_MEDIA_TYPE`], `application/wasm`);
//! - `layers[1]`, when signed: the signature file ([`SIGNATURE_MEDIA_TYPE`]).
//!
//! Backends move bytes; they do not judge them. [`fetch_package`](crate::fetch_package) checks
//! every byte it is given against the digest and size that named it, so a
//! registry that serves another blob for a digest, or a short one, is
//! refused whichever backend served it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The OCI image manifest media type.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type (the layout's `index.json`).
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The artifact type of a BitVault plugin package.
pub const ARTIFACT_TYPE: &str = "application/vnd.bitvault.plugin.v1";
/// The config blob: the canonical package manifest.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.bitvault.plugin.manifest.v1+json";
/// The module layer.
pub const MODULE_MEDIA_TYPE: &str = "application/wasm";
/// The signature layer: the package's signature file.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.bitvault.plugin.signature.v1+json";
/// The annotation holding a manifest's tag in an image layout's
/// `index.json`, and the title of each layer.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The annotation naming a layer's file.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// Most bytes an OCI manifest may have (the distribution spec's 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Most bytes a package manifest or signature blob may have.
pub const MAX_METADATA_BYTES: u64 = 1 << 20;
/// Most bytes a module blob may have (the runtime's own module ceiling).
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// A content digest, `sha256:` and 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        let hash = Sha256::digest(bytes);
        let mut text = String::with_capacity(71);
        text.push_str("sha256:");
        for b in hash {
            text.push_str(&format!("{b:02x}"));
        }
        Digest(text)
    }

    /// Parses `sha256:<64 lower-case hex>`; any other algorithm or form is
    /// refused.
    ///
    /// # Errors
    /// [`RegistryError::InvalidDigest`].
    pub fn parse(text: &str) -> Result<Digest, RegistryError> {
        let ok = text.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Digest(text.to_owned()))
        } else {
            Err(RegistryError::InvalidDigest(
                text.chars().take(100).collect(),
            ))
        }
    }

    /// The full form, `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits alone (a blob's file name in an image layout).
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::of(bytes) == *self
    }
}

impl TryFrom<String> for Digest {
    type Error = RegistryError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Digest::parse(&value)
    }
}

impl From<Digest> for String {
    fn from(value: Digest) -> Self {
        value.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The artifact type, for manifests of artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// An OCI image manifest (the fields this crate writes and reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`OCI_MANIFEST_MEDIA_TYPE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type ([`ARTIFACT_TYPE`] for packages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// Its JSON bytes: the bytes that are pushed and whose digest names it.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs and string maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses manifest bytes.
    ///
    /// # Errors
    /// [`RegistryError::BadManifest`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ImageManifest, RegistryError> {
        let m: ImageManifest = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::BadManifest(format!("not an OCI image manifest: {e}")))?;
        if m.schema_version != 2 {
            return Err(RegistryError::BadManifest(format!(
                "schemaVersion {} (expected 2)",
                m.schema_version
            )));
        }
        Ok(m)
    }
}

/// Receives progress reports for transfers. Implementations must be cheap:
/// they are called from the transfer loop.
pub trait Progress: Sync {
    /// `done` of `total` bytes of `what` (a blob's role, such as `module`)
    /// have been moved. Called at least once at the start (`done == 0`) and
    /// once at the end (`done == total`) of every transfer.
    fn transfer(&self, what: &str, digest: &Digest, done: u64, total: u64);
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn transfer(&self, _: &str, _: &Digest, _: u64, _: u64) {}
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// A digest that is not `sha256:` and 64 lower-case hex digits.
    InvalidDigest(String),
    /// A repository name or tag that breaks the OCI grammar.
    InvalidName(String),
    /// A reference that does not parse.
    InvalidReference(String),
    /// The repository, tag, manifest or blob does not exist.
    NotFound(String),
    /// Bytes fetched for a digest hash to another digest: the registry
    /// served something else, or it was changed on the way.
    DigestMismatch {
        /// What was fetched (`module`, `manifest`, …).
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Bytes fetched have another size than their descriptor: a truncated
    /// (or padded) download.
    SizeMismatch {
        /// What was fetched.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// The bytes that arrived (a lower bound when the transfer was cut
        /// off at the limit).
        actual: u64,
    },
    /// Content larger than this crate accepts for its role.
    TooLarge {
        /// What it is.
        what: String,
        /// Its size.
        size: u64,
        /// The most accepted.
        limit: u64,
    },
    /// A manifest that is not a BitVault package (or not an OCI manifest).
    BadManifest(String),
    /// The fetched package manifest names another plugin or version than
    /// the reference asked for.
    WrongPackage {
        /// What the reference asked for, `name@version`.
        asked: String,
        /// What the signed manifest says, `name@version`.
        found: String,
    },
    /// The registry's storage failed (I/O, a lock, a corrupt index).
    Storage(String),
    /// The remote registry could not be reached or answered with an error.
    Transport(String),
}

impl RegistryError {
    /// A short, stable reason for machine-readable output.
    pub fn reason(&self) -> &'static str {
        match self {
            RegistryError::InvalidDigest(_) => "invalid_digest",
            RegistryError::InvalidName(_) => "invalid_name",
            RegistryError::InvalidReference(_) => "invalid_reference",
            RegistryError::NotFound(_) => "not_found",
            RegistryError::DigestMismatch { .. } => "digest_mismatch",
            RegistryError::SizeMismatch { .. } => "size_mismatch",
            RegistryError::TooLarge { .. } => "too_large",
            RegistryError::BadManifest(_) => "bad_manifest",
            RegistryError::WrongPackage { .. } => "wrong_package",
            RegistryError::Storage(_) => "storage",
            RegistryError::Transport(_) => "transport",
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::InvalidDigest(d) => write!(f, "invalid digest {d:?}"),
            RegistryError::InvalidName(n) => write!(f, "invalid repository name or tag {n:?}"),
            RegistryError::InvalidReference(r) => write!(f, "invalid reference {r:?}"),
            RegistryError::NotFound(what) => write!(f, "not found: {what}"),
            RegistryError::DigestMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "the registry served a {what} whose digest is {actual}, not the {expected} asked for"
            ),
            RegistryError::SizeMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "the {what} is {actual} bytes, not the {expected} its descriptor names (truncated or padded download)"
            ),
            RegistryError::TooLarge { what, size, limit } => {
                write!(f, "the {what} is {size} bytes, over the {limit}-byte limit")
            }
            RegistryError::BadManifest(why) => write!(f, "not a BitVault package: {why}"),
            RegistryError::WrongPackage { asked, found } => write!(
                f,
                "asked for {asked}, but the signed manifest is {found}: refused (a registry may not serve one release as another)"
            ),
            RegistryError::Storage(why) => write!(f, "registry storage: {why}"),
            RegistryError::Transport(why) => write!(f, "registry transport: {why}"),
        }
    }
}

impl std::error::Error for RegistryError {}

/// Checks an OCI repository name: lower-case alphanumeric components
/// separated by `.`, `_`, `__`, `-` runs, joined by `/`, at most 255 bytes.
///
/// # Errors
/// [`RegistryError::InvalidName`].
pub fn check_repository(name: &str) -> Result<(), RegistryError> {
    let component_ok = |c: &str| {
        let bytes = c.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
            && bytes[bytes.len() - 1].is_ascii_lowercase() | bytes[bytes.len() - 1].is_ascii_digit()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
            && !c.contains("..")
    };
    if name.len() <= 255 && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(RegistryError::InvalidName(name.chars().take(100).collect()))
    }
}

/// Checks an OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. A semver version
/// with build metadata (`+`) is not a valid tag; `+` is written as `_`.
///
/// # Errors
/// [`RegistryError::InvalidName`].
pub fn check_tag(tag: &str) -> Result<(), RegistryError> {
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidName(tag.chars().take(100).collect()))
    }
}

/// The tag a version is stored under (`+` becomes `_`).
pub fn version_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// A content-addressed registry in the OCI distribution model. Names are
/// plugin names; each backend maps them to its repositories (a remote
/// registry under its namespace prefix, the image layout by tag).
///
/// Backends store and return bytes; callers check them against digests
/// ([`fetch_package`](crate::fetch_package) does). Every call blocks; async embedders call from a
/// blocking task.
pub trait Registry: Send + Sync {
    /// Where this registry is, for messages (`oci-layout:/srv/plugins`,
    /// `http://127.0.0.1:5000/bitvault`).
    fn location(&self) -> String;

    /// Stores a blob under `digest` in `repository` (a no-op when it is
    /// already there). Implementations may trust that `bytes` hash to
    /// `digest`; the layout directory checks it anyway.
    ///
    /// # Errors
    /// [`RegistryError`].
    fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: &[u8],
        what: &str,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError>;

    /// Fetches the blob `digest` from `repository`, reading at most
    /// `limit` bytes: more is [`RegistryError::TooLarge`], so a hostile
    /// registry cannot stream without end. The bytes are not checked here.
    ///
    /// # Errors
    /// [`RegistryError`].
    fn pull_blob(
        &self,
        repository: &str,
        digest: &Digest,
        limit: u64,
        what: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<u8>, RegistryError>;

    /// Stores an image manifest and points `tag` at it; returns the digest
    /// of the bytes stored. The blobs it names must already be pushed.
    ///
    /// # Errors
    /// [`RegistryError`].
    fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError>;

    /// Fetches a manifest by tag or by digest (`sha256:…`), at most
    /// [`MAX_MANIFEST_BYTES`]. The bytes are not checked here.
    ///
    /// # Errors
    /// [`RegistryError`].
    fn pull_manifest(&self, repository: &str, reference: &str) -> Result<Vec<u8>, RegistryError>;

    /// The tags of a repository, in no promised order.
    ///
    /// # Errors
    /// [`RegistryError`]; an unknown repository has no tags (`Ok(vec![])`).
    fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError>;

    /// The repositories in this registry (its catalog).
    ///
    /// # Errors
    /// [`RegistryError`].
    fn repositories(&self) -> Result<Vec<String>, RegistryError>;
}

/// Reads bytes fetched for `expected` and refuses any that do not match it
/// in size and digest.
///
/// # Errors
/// [`RegistryError::SizeMismatch`] or [`RegistryError::DigestMismatch`].
pub fn check_blob(what: &str, expected: &Descriptor, bytes: &[u8]) -> Result<(), RegistryError> {
    if bytes.len() as u64 != expected.size {
        return Err(RegistryError::SizeMismatch {
            what: what.to_owned(),
            expected: expected.size,
            actual: bytes.len() as u64,
        });
    }
    let actual = Digest::of(bytes);
    if actual != expected.digest {
        return Err(RegistryError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.digest.clone(),
            actual,
        });
    }
    Ok(())
}
