//! Cosign-style signatures for published packages: a detached "simple
//! signing" payload that names the package's manifest digest, signed with a
//! publisher's Ed25519 key and stored in the registry where `cosign` looks
//! for it.
//!
//! The layout is cosign's tag-based discovery ("Cosign Signature
//! Specifications", `specs/SIGNATURE_SPEC.md` in the cosign repository):
//!
//! - The signatures of the manifest `sha256:<hex>` live in one OCI image
//!   manifest tagged [`signature_tag`] (`sha256-<hex>.sig`) in the same
//!   repository.
//! - Its config is an OCI image config (`application/vnd.oci.image.config.v1+json`)
//!   in the form go-containerregistry writes for cosign: an empty image with
//!   one `rootfs.diff_ids` and one `history` entry per layer
//!   ([`signature_config`]).
//! - Each signature is one layer of media type [`SIMPLE_SIGNING_MEDIA_TYPE`]
//!   whose blob is the payload ([`simple_signing_payload`]) and whose
//!   annotation [`SIGNATURE_ANNOTATION`] holds the standard base64 of the
//!   signature. A new signature is appended to the layers already there,
//!   as cosign does; an identical one is not added twice.
//!
//! The signature is PureEdDSA (RFC 8032 Ed25519) over the payload bytes,
//! with no prehash and no context prefix: what `cosign verify --key`
//! checks for an Ed25519 public key (sigstore's `LoadVerifier` gives a
//! plain `ed25519.Verify` for it). The payload itself binds the signature
//! to the manifest digest, so the payload is not prefixed like the package
//! signatures of [`crate::sign`] are.
//!
//! Verification ([`verify_attached`]) never trusts the registry: every
//! payload is fetched under a size limit and checked against the digest and
//! size its layer names before its signature is checked, and the payload
//! must be a cosign container image signature for exactly the digest asked
//! about.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Deserialize;

use crate::oci::{
    Descriptor, Digest, ImageManifest, OCI_MANIFEST_MEDIA_TYPE, Quiet, Registry, RegistryError,
    check_blob,
};

/// The media type of a signature layer: a simple signing payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type` for cosign image signatures.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
/// The media type of the signature manifest's config blob.
pub const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Most bytes a payload blob may have. Cosign payloads are a few hundred
/// bytes (more only with many `optional` claims).
pub const MAX_PAYLOAD_BYTES: u64 = 64 << 10;
/// Most layers a signature manifest may have (cosign's own limit).
pub const MAX_SIGNATURE_LAYERS: usize = 1000;

/// The tag cosign stores the signatures of `digest` under:
/// `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// The simple signing payload for `manifest_digest`, byte for byte what
/// cosign (Go's `encoding/json` over sigstore's `payload.Cosign`) writes
/// when signing without annotations:
///
/// ```text
/// {"critical":{"identity":{"docker-reference":"<ref>"},"image":{"docker-manifest-digest":"sha256:<hex>"},"type":"cosign container image signature"},"optional":null}
/// ```
///
/// `docker_reference` is the signer's claimed identity of the image,
/// usually `registry/repository` (cosign's default) or
/// `registry/repository:tag`; cosign verification does not check it.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &Digest) -> Vec<u8> {
    let mut out = String::with_capacity(200 + docker_reference.len());
    out.push_str(r#"{"critical":{"identity":{"docker-reference":"#);
    push_go_json_string(&mut out, docker_reference);
    out.push_str(r#"},"image":{"docker-manifest-digest":"#);
    push_go_json_string(&mut out, manifest_digest.as_str());
    out.push_str(r#"},"type":"#);
    push_go_json_string(&mut out, COSIGN_SIGNATURE_TYPE);
    out.push_str(r#"},"optional":null}"#);
    out.into_bytes()
}

/// The config blob of a signature manifest with layers `layer_digests`,
/// byte for byte what go-containerregistry writes when cosign appends
/// those layers to its empty signature image (no creation time recorded).
pub fn signature_config(layer_digests: &[&Digest]) -> Vec<u8> {
    let mut out =
        String::from(r#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":["#);
    for i in 0..layer_digests.len() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"created":"0001-01-01T00:00:00Z"}"#);
    }
    out.push_str(r#"],"os":"","rootfs":{"type":"layers","diff_ids":["#);
    for (i, d) in layer_digests.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_go_json_string(&mut out, d.as_str());
    }
    out.push_str(r#"]},"config":{}}"#);
    out.into_bytes()
}

/// Writes `s` as a JSON string the way Go's `encoding/json` does: `<`, `>`,
/// `&`, U+2028 and U+2029 escaped as `\u…`, control characters as `\n`,
/// `\r`, `\t`, `\b`, `\f` or `\u00xx`.
fn push_go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why attaching or verifying a cosign signature failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CosignError {
    /// There is no signature manifest for the digest, or it has no simple
    /// signing layer.
    NoSignatures {
        /// The tag that was looked up.
        tag: String,
    },
    /// Signatures exist, but none was made by the key.
    BadSignature,
    /// A signature by the key exists, but its payload names another image:
    /// a signature copied from elsewhere.
    WrongDigest {
        /// The digest asked about.
        expected: Digest,
        /// The `docker-manifest-digest` the signed payload names.
        found: String,
    },
    /// A signature by the key exists, but its payload is not a cosign
    /// container image signature.
    BadPayload(String),
    /// The signature manifest is not an OCI image manifest this crate can
    /// read or extend.
    BadSignatureManifest(String),
    /// The registry failed, or served a payload that does not match its
    /// descriptor.
    Registry(RegistryError),
}

impl CosignError {
    /// A short, stable reason for machine-readable output.
    pub fn reason(&self) -> &'static str {
        match self {
            CosignError::NoSignatures { .. } => "no_signatures",
            CosignError::BadSignature => "bad_signature",
            CosignError::WrongDigest { .. } => "wrong_digest",
            CosignError::BadPayload(_) => "bad_payload",
            CosignError::BadSignatureManifest(_) => "bad_signature_manifest",
            CosignError::Registry(e) => e.reason(),
        }
    }
}

impl fmt::Display for CosignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CosignError::NoSignatures { tag } => write!(f, "no cosign signatures (tag {tag})"),
            CosignError::BadSignature => f.write_str("no cosign signature is valid for this key"),
            CosignError::WrongDigest { expected, found } => write!(
                f,
                "the cosign signature by this key is for {found}, not {expected}: refused"
            ),
            CosignError::BadPayload(why) => write!(f, "not a cosign signature payload: {why}"),
            CosignError::BadSignatureManifest(why) => {
                write!(f, "unusable cosign signature manifest: {why}")
            }
            CosignError::Registry(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CosignError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CosignError::Registry(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RegistryError> for CosignError {
    fn from(e: RegistryError) -> Self {
        CosignError::Registry(e)
    }
}

/// A cosign signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignVerified {
    /// The manifest digest the signature is for (the one asked about).
    pub manifest_digest: Digest,
    /// The signer's claimed identity of the image (`critical.identity.docker-reference`).
    /// Cosign does not check it; callers that care compare it themselves.
    pub docker_reference: String,
    /// The digest of the signed payload blob.
    pub payload_digest: Digest,
    /// The digest of the signature manifest as it was fetched.
    pub signature_manifest: Digest,
    /// Which layer of the signature manifest verified (0-based).
    pub layer: usize,
}

/// The `docker-reference` a signature of `repository` in `registry`
/// claims: `host[:port]/prefix/name` for a remote registry (what `cosign
/// sign` writes for that image), the plugin name alone for a layout
/// directory, which has no registry host.
pub fn docker_reference(registry: &dyn Registry, repository: &str) -> String {
    let location = registry.location();
    match location
        .strip_prefix("https://")
        .or_else(|| location.strip_prefix("http://"))
    {
        Some(host_and_prefix) => {
            let base = host_and_prefix.trim_end_matches('/');
            // The remote backend names plugin `echo` `<prefix>/echo`.
            format!("{base}/{repository}")
        }
        None => repository.to_owned(),
    }
}

/// Signs `manifest_digest` with `key` and attaches the signature in
/// `repository` as cosign does: pushes the payload blob and the config
/// blob, then the signature manifest under [`signature_tag`], keeping the
/// signatures already there and appending the new one. Returns the digest
/// of the signature manifest.
///
/// Signing again with the same key and reference changes nothing (Ed25519
/// signatures are deterministic; an identical layer is not added twice).
/// Like cosign's, the read-modify-write of the tag is not atomic: two
/// signers attaching at the same moment can lose one signature.
///
/// # Errors
/// [`CosignError::Registry`] when the registry fails;
/// [`CosignError::BadSignatureManifest`] when an existing signature
/// manifest cannot be read or already has [`MAX_SIGNATURE_LAYERS`] layers
/// (it is left as it is).
pub fn attach(
    registry: &dyn Registry,
    repository: &str,
    docker_reference: &str,
    manifest_digest: &Digest,
    key: &SigningKey,
) -> Result<Digest, CosignError> {
    let payload = simple_signing_payload(docker_reference, manifest_digest);
    let signature = B64.encode(key.sign(&payload).to_bytes());
    let mut layer = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, &payload);
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_owned(), signature);

    let tag = signature_tag(manifest_digest);
    let (mut layers, annotations) = match registry.pull_manifest(repository, &tag) {
        Ok(bytes) => {
            let existing = ImageManifest::from_bytes(&bytes)
                .map_err(|e| CosignError::BadSignatureManifest(e.to_string()))?;
            if existing.layers.contains(&layer) {
                return Ok(Digest::of(&bytes));
            }
            if existing.layers.len() >= MAX_SIGNATURE_LAYERS {
                return Err(CosignError::BadSignatureManifest(format!(
                    "{} layers already, the most is {MAX_SIGNATURE_LAYERS}",
                    existing.layers.len()
                )));
            }
            (existing.layers, existing.annotations)
        }
        Err(RegistryError::NotFound(_)) => (Vec::new(), BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    layers.push(layer);

    let digests: Vec<&Digest> = layers.iter().map(|l| &l.digest).collect();
    let config = signature_config(&digests);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG_MEDIA_TYPE, &config),
        layers,
        annotations,
    };

    let payload_digest = Digest::of(&payload);
    registry.push_blob(
        repository,
        &payload_digest,
        &payload,
        "cosign payload",
        &Quiet,
    )?;
    registry.push_blob(
        repository,
        &manifest.config.digest,
        &config,
        "cosign config",
        &Quiet,
    )?;
    Ok(registry.push_manifest(repository, &tag, &manifest.to_bytes())?)
}

/// The parts of a simple signing payload that verification reads. Unknown
/// fields (such as cosign's `optional` claims) are ignored; a duplicated
/// field is an error.
#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Verifies that `manifest_digest` in `repository` has a cosign signature
/// by `key`: fetches the signature manifest tagged [`signature_tag`], and
/// for each simple signing layer fetches its payload (at most
/// [`MAX_PAYLOAD_BYTES`]), checks it against the layer's digest and size,
/// checks the layer's signature over it with `key` (PureEdDSA, strict), and
/// checks that the payload is a cosign container image signature for
/// exactly `manifest_digest`. The first layer that passes every check is
/// returned.
///
/// # Errors
/// When no layer passes, the failure of the layer that got furthest
/// through the checks above (the first such layer on a tie):
/// [`CosignError::WrongDigest`] or [`CosignError::BadPayload`] for a valid
/// signature by the key over the wrong payload, [`CosignError::BadSignature`]
/// when no signature is by the key, [`CosignError::Registry`] when a payload
/// could not be fetched or does not match its descriptor.
/// [`CosignError::NoSignatures`] when the tag or its simple signing layers
/// do not exist; [`CosignError::BadSignatureManifest`] when the manifest
/// does not parse or has more than [`MAX_SIGNATURE_LAYERS`] layers.
pub fn verify_attached(
    registry: &dyn Registry,
    repository: &str,
    manifest_digest: &Digest,
    key: &VerifyingKey,
) -> Result<CosignVerified, CosignError> {
    let tag = signature_tag(manifest_digest);
    let bytes = match registry.pull_manifest(repository, &tag) {
        Ok(bytes) => bytes,
        Err(RegistryError::NotFound(_)) => return Err(CosignError::NoSignatures { tag }),
        Err(e) => return Err(e.into()),
    };
    let signature_manifest = Digest::of(&bytes);
    let manifest = ImageManifest::from_bytes(&bytes)
        .map_err(|e| CosignError::BadSignatureManifest(e.to_string()))?;
    if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(CosignError::BadSignatureManifest(format!(
            "{} layers, the most is {MAX_SIGNATURE_LAYERS}",
            manifest.layers.len()
        )));
    }

    // The failure of the layer that got furthest, with how far it got.
    let mut furthest: Option<(Stage, CosignError)> = None;
    let mut any = false;
    for (index, layer) in manifest.layers.iter().enumerate() {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        any = true;
        match verify_layer(registry, repository, manifest_digest, key, layer) {
            Ok(docker_reference) => {
                return Ok(CosignVerified {
                    manifest_digest: manifest_digest.clone(),
                    docker_reference,
                    payload_digest: layer.digest.clone(),
                    signature_manifest,
                    layer: index,
                });
            }
            Err((stage, error)) => {
                if furthest.as_ref().is_none_or(|(s, _)| stage > *s) {
                    furthest = Some((stage, error));
                }
            }
        }
    }
    if !any {
        return Err(CosignError::NoSignatures { tag });
    }
    Err(furthest.map_or(CosignError::BadSignature, |(_, e)| e))
}

/// How far a layer got through verification before it failed, in check
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// No usable signature annotation.
    Annotation,
    /// The payload could not be fetched, or does not match its descriptor.
    Fetch,
    /// The signature is not by the key.
    Signature,
    /// Signed by the key, but the payload is not a cosign image signature.
    Payload,
    /// Signed by the key, but for another digest.
    Digest,
}

/// Checks one simple signing layer; returns the payload's claimed docker
/// reference.
fn verify_layer(
    registry: &dyn Registry,
    repository: &str,
    manifest_digest: &Digest,
    key: &VerifyingKey,
    layer: &Descriptor,
) -> Result<String, (Stage, CosignError)> {
    let signature = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .and_then(|b64| B64.decode(b64).ok())
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or((Stage::Annotation, CosignError::BadSignature))?;

    let fetch_error = |e: RegistryError| (Stage::Fetch, CosignError::Registry(e));
    if layer.size > MAX_PAYLOAD_BYTES {
        return Err(fetch_error(RegistryError::TooLarge {
            what: "cosign payload".into(),
            size: layer.size,
            limit: MAX_PAYLOAD_BYTES,
        }));
    }
    let payload = registry
        .pull_blob(
            repository,
            &layer.digest,
            MAX_PAYLOAD_BYTES,
            "cosign payload",
            &Quiet,
        )
        .map_err(fetch_error)?;
    check_blob("cosign payload", layer, &payload).map_err(fetch_error)?;

    key.verify_strict(&payload, &signature)
        .map_err(|_| (Stage::Signature, CosignError::BadSignature))?;

    let parsed: Payload = serde_json::from_slice(&payload)
        .map_err(|e| (Stage::Payload, CosignError::BadPayload(e.to_string())))?;
    if parsed.critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err((
            Stage::Payload,
            CosignError::BadPayload(format!(
                "critical.type is {:?}, not {COSIGN_SIGNATURE_TYPE:?}",
                parsed.critical.kind.chars().take(100).collect::<String>()
            )),
        ));
    }
    if parsed.critical.image.docker_manifest_digest != manifest_digest.as_str() {
        return Err((
            Stage::Digest,
            CosignError::WrongDigest {
                expected: manifest_digest.clone(),
                found: parsed
                    .critical
                    .image
                    .docker_manifest_digest
                    .chars()
                    .take(100)
                    .collect(),
            },
        ));
    }
    Ok(parsed.critical.identity.docker_reference)
}
