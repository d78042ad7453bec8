//! Cosign-style signatures against an in-memory registry: attach, verify,
//! and every way verification must refuse; plus golden bytes against
//! cosign's own formats.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bitvault_registry::cosign::{
    COSIGN_SIGNATURE_TYPE, CosignError, MAX_PAYLOAD_BYTES, OCI_CONFIG_MEDIA_TYPE,
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, attach, signature_config, signature_tag,
    simple_signing_payload, verify_attached,
};
use bitvault_registry::oci::{
    Descriptor, Digest, ImageManifest, MAX_MANIFEST_BYTES, OCI_MANIFEST_MEDIA_TYPE, Progress,
    Registry, RegistryError,
};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

/// A registry in a few maps. `serve_instead` makes it serve other bytes
/// for a blob digest, as a hostile or broken registry would.
#[derive(Default)]
struct MemoryRegistry {
    blobs: Mutex<HashMap<(String, Digest), Vec<u8>>>,
    manifests: Mutex<HashMap<(String, Digest), Vec<u8>>>,
    tags: Mutex<HashMap<(String, String), Digest>>,
    serve_instead: Mutex<HashMap<Digest, Vec<u8>>>,
}

impl MemoryRegistry {
    fn manifest_by_tag(&self, repository: &str, tag: &str) -> Option<ImageManifest> {
        let bytes = self.pull_manifest(repository, tag).ok()?;
        ImageManifest::from_bytes(&bytes).ok()
    }

    fn blob_count(&self) -> usize {
        self.blobs.lock().unwrap().len()
    }
}

impl Registry for MemoryRegistry {
    fn location(&self) -> String {
        "memory:".into()
    }

    fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: &[u8],
        _what: &str,
        _progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        assert!(
            digest.matches(bytes),
            "pushed bytes must match their digest"
        );
        self.blobs
            .lock()
            .unwrap()
            .insert((repository.into(), digest.clone()), bytes.to_vec());
        Ok(())
    }

    fn pull_blob(
        &self,
        repository: &str,
        digest: &Digest,
        limit: u64,
        _what: &str,
        _progress: &dyn Progress,
    ) -> Result<Vec<u8>, RegistryError> {
        let bytes = match self.serve_instead.lock().unwrap().get(digest) {
            Some(other) => other.clone(),
            None => self
                .blobs
                .lock()
                .unwrap()
                .get(&(repository.into(), digest.clone()))
                .cloned()
                .ok_or_else(|| RegistryError::NotFound(format!("blob {digest}")))?,
        };
        if bytes.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: "blob".into(),
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }

    fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let manifest = ImageManifest::from_bytes(bytes)?;
        let blobs = self.blobs.lock().unwrap();
        for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !blobs.contains_key(&(repository.into(), d.digest.clone())) {
                return Err(RegistryError::NotFound(format!("blob {}", d.digest)));
            }
        }
        let digest = Digest::of(bytes);
        self.manifests
            .lock()
            .unwrap()
            .insert((repository.into(), digest.clone()), bytes.to_vec());
        self.tags
            .lock()
            .unwrap()
            .insert((repository.into(), tag.into()), digest.clone());
        Ok(digest)
    }

    fn pull_manifest(&self, repository: &str, reference: &str) -> Result<Vec<u8>, RegistryError> {
        let digest = match Digest::parse(reference) {
            Ok(d) => d,
            Err(_) => self
                .tags
                .lock()
                .unwrap()
                .get(&(repository.into(), reference.into()))
                .cloned()
                .ok_or_else(|| RegistryError::NotFound(format!("{repository}:{reference}")))?,
        };
        let bytes = self
            .manifests
            .lock()
            .unwrap()
            .get(&(repository.into(), digest.clone()))
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("{repository}@{digest}")))?;
        assert!(bytes.len() as u64 <= MAX_MANIFEST_BYTES);
        Ok(bytes)
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .tags
            .lock()
            .unwrap()
            .keys()
            .filter(|(r, _)| r == repository)
            .map(|(_, t)| t.clone())
            .collect())
    }

    fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let mut repos: Vec<String> = self
            .tags
            .lock()
            .unwrap()
            .keys()
            .map(|(r, _)| r.clone())
            .collect();
        repos.sort();
        repos.dedup();
        Ok(repos)
    }
}

const REPO: &str = "acme/hello";
const REFERENCE: &str = "registry.example/acme/hello";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Pushes a small package-like manifest and returns its digest.
fn push_package(registry: &MemoryRegistry, version: &str) -> Digest {
    let module = format!("\0asm\x01\0\0\0{version}").into_bytes();
    let config = format!("{{\"version\":\"{version}\"}}").into_bytes();
    let config_desc = Descriptor::of("application/vnd.bitvault.plugin.manifest.v1+json", &config);
    let module_desc = Descriptor::of("application/wasm", &module);
    let quiet = bitvault_registry::oci::Quiet;
    registry
        .push_blob(REPO, &config_desc.digest, &config, "config", &quiet)
        .unwrap();
    registry
        .push_blob(REPO, &module_desc.digest, &module, "module", &quiet)
        .unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some("application/vnd.bitvault.plugin.v1".into()),
        config: config_desc,
        layers: vec![module_desc],
        annotations: BTreeMap::new(),
    };
    registry
        .push_manifest(REPO, version, &manifest.to_bytes())
        .unwrap()
}

#[test]
fn attach_then_verify() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let signer = key(1);

    let sig_manifest = attach(&registry, REPO, REFERENCE, &digest, &signer).unwrap();
    let verified = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap();
    assert_eq!(verified.manifest_digest, digest);
    assert_eq!(verified.docker_reference, REFERENCE);
    assert_eq!(verified.signature_manifest, sig_manifest);
    assert_eq!(verified.layer, 0);
    assert_eq!(
        verified.payload_digest,
        Digest::of(&simple_signing_payload(REFERENCE, &digest))
    );

    // The tag is where cosign looks, and the manifest is cosign's shape.
    assert!(
        registry
            .tags(REPO)
            .unwrap()
            .contains(&format!("sha256-{}.sig", digest.hex()))
    );
    let m = registry
        .manifest_by_tag(REPO, &signature_tag(&digest))
        .unwrap();
    assert_eq!(m.media_type.as_deref(), Some(OCI_MANIFEST_MEDIA_TYPE));
    assert_eq!(m.config.media_type, OCI_CONFIG_MEDIA_TYPE);
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, SIMPLE_SIGNING_MEDIA_TYPE);
    assert_eq!(
        m.layers[0].annotations.keys().collect::<Vec<_>>(),
        vec![SIGNATURE_ANNOTATION]
    );
}

#[test]
fn signature_is_pure_ed25519_over_the_payload_bytes() {
    // What `cosign verify --key` does for an Ed25519 key: base64-decode the
    // annotation and run plain Ed25519 verification over the payload blob.
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let signer = key(1);
    attach(&registry, REPO, REFERENCE, &digest, &signer).unwrap();

    let m = registry
        .manifest_by_tag(REPO, &signature_tag(&digest))
        .unwrap();
    let layer = &m.layers[0];
    let payload = registry
        .pull_blob(
            REPO,
            &layer.digest,
            MAX_PAYLOAD_BYTES,
            "payload",
            &bitvault_registry::oci::Quiet,
        )
        .unwrap();
    assert_eq!(payload, simple_signing_payload(REFERENCE, &digest));
    let raw = B64
        .decode(&layer.annotations[SIGNATURE_ANNOTATION])
        .unwrap();
    let signature = Signature::from_slice(&raw).unwrap();
    signer.verifying_key().verify(&payload, &signature).unwrap();
    // Not a prehash or context variant: exactly `sign(payload)`.
    assert_eq!(signature, signer.sign(&payload));

    // The config names each layer, as go-containerregistry writes it.
    let config = registry
        .pull_blob(
            REPO,
            &m.config.digest,
            1 << 20,
            "config",
            &bitvault_registry::oci::Quiet,
        )
        .unwrap();
    assert_eq!(config, signature_config(&[&layer.digest]));
    assert_eq!(m.config.size, config.len() as u64);
}

#[test]
fn wrong_key_is_bad_signature() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    attach(&registry, REPO, REFERENCE, &digest, &key(1)).unwrap();
    let err = verify_attached(&registry, REPO, &digest, &key(2).verifying_key()).unwrap_err();
    assert_eq!(err, CosignError::BadSignature);
    assert_eq!(err.reason(), "bad_signature");
}

#[test]
fn payload_for_another_digest_is_wrong_digest() {
    let registry = MemoryRegistry::default();
    let wanted = push_package(&registry, "1.0.0");
    let other = push_package(&registry, "0.9.0");
    let signer = key(1);
    // A valid signature for 0.9.0, copied to where 1.0.0's signatures live.
    attach(&registry, REPO, REFERENCE, &other, &signer).unwrap();
    let copied = registry
        .pull_manifest(REPO, &signature_tag(&other))
        .unwrap();
    registry
        .push_manifest(REPO, &signature_tag(&wanted), &copied)
        .unwrap();

    let err = verify_attached(&registry, REPO, &wanted, &signer.verifying_key()).unwrap_err();
    assert_eq!(
        err,
        CosignError::WrongDigest {
            expected: wanted.clone(),
            found: other.to_string(),
        }
    );
    // 0.9.0 itself still verifies.
    verify_attached(&registry, REPO, &other, &signer.verifying_key()).unwrap();
}

#[test]
fn tampered_payload_is_refused() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let signer = key(1);
    attach(&registry, REPO, REFERENCE, &digest, &signer).unwrap();
    let payload = simple_signing_payload(REFERENCE, &digest);
    let payload_digest = Digest::of(&payload);

    // Same length, other bytes: the digest check refuses it.
    let mut same_len = payload.clone();
    let at = same_len.len() - 10;
    same_len[at] ^= 1;
    registry
        .serve_instead
        .lock()
        .unwrap()
        .insert(payload_digest.clone(), same_len);
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(
        matches!(
            err,
            CosignError::Registry(RegistryError::DigestMismatch { .. })
        ),
        "{err:?}"
    );

    // Another length: the size check refuses it.
    registry
        .serve_instead
        .lock()
        .unwrap()
        .insert(payload_digest.clone(), b"{}".to_vec());
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(
        matches!(
            err,
            CosignError::Registry(RegistryError::SizeMismatch { .. })
        ),
        "{err:?}"
    );

    // A payload for another digest, served under this one's name: still
    // the digest check, never the payload's word.
    let other = simple_signing_payload(REFERENCE, &Digest::of(b"other"));
    registry
        .serve_instead
        .lock()
        .unwrap()
        .insert(payload_digest, other);
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(
        matches!(
            err,
            CosignError::Registry(RegistryError::DigestMismatch { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn oversized_payload_descriptor_is_not_fetched() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let signer = key(1);
    attach(&registry, REPO, REFERENCE, &digest, &signer).unwrap();
    let mut m = registry
        .manifest_by_tag(REPO, &signature_tag(&digest))
        .unwrap();
    m.layers[0].size = MAX_PAYLOAD_BYTES + 1;
    registry
        .push_manifest(REPO, &signature_tag(&digest), &m.to_bytes())
        .unwrap();
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(
        matches!(err, CosignError::Registry(RegistryError::TooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn two_signatures_are_appended_and_both_verify() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let (first, second) = (key(1), key(2));
    attach(&registry, REPO, REFERENCE, &digest, &first).unwrap();
    let after_second = attach(&registry, REPO, REFERENCE, &digest, &second).unwrap();

    let m = registry
        .manifest_by_tag(REPO, &signature_tag(&digest))
        .unwrap();
    assert_eq!(m.layers.len(), 2);
    let v1 = verify_attached(&registry, REPO, &digest, &first.verifying_key()).unwrap();
    let v2 = verify_attached(&registry, REPO, &digest, &second.verifying_key()).unwrap();
    assert_eq!((v1.layer, v2.layer), (0, 1));
    assert_eq!(v2.signature_manifest, after_second);
    // Both layers sign the same payload (one blob), with different keys.
    assert_eq!(m.layers[0].digest, m.layers[1].digest);
    assert_ne!(
        m.layers[0].annotations[SIGNATURE_ANNOTATION],
        m.layers[1].annotations[SIGNATURE_ANNOTATION]
    );

    // The config lists both layers.
    let config =
        registry.blobs.lock().unwrap()[&(REPO.to_string(), m.config.digest.clone())].clone();
    assert_eq!(
        config,
        signature_config(&[&m.layers[0].digest, &m.layers[1].digest])
    );

    // Signing again with a key already there adds nothing.
    let blobs = registry.blob_count();
    let again = attach(&registry, REPO, REFERENCE, &digest, &first).unwrap();
    assert_eq!(again, after_second);
    assert_eq!(registry.blob_count(), blobs);
    assert_eq!(
        registry
            .manifest_by_tag(REPO, &signature_tag(&digest))
            .unwrap()
            .layers
            .len(),
        2
    );

    // A third key with another claimed reference is a third layer.
    attach(
        &registry,
        REPO,
        "registry.example/acme/hello:1.0.0",
        &digest,
        &key(3),
    )
    .unwrap();
    let v3 = verify_attached(&registry, REPO, &digest, &key(3).verifying_key()).unwrap();
    assert_eq!(v3.layer, 2);
    assert_eq!(v3.docker_reference, "registry.example/acme/hello:1.0.0");
}

#[test]
fn attach_keeps_foreign_layers_and_annotations() {
    // A signature manifest cosign wrote (say with a certificate annotation
    // we do not produce) keeps its layers when we append ours.
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let foreign_payload = simple_signing_payload("elsewhere.example/x", &digest);
    let mut foreign = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, &foreign_payload);
    foreign
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), B64.encode([7u8; 64]));
    foreign.annotations.insert(
        "dev.sigstore.cosign/certificate".into(),
        "-----BEGIN CERTIFICATE-----\n…".into(),
    );
    let config = signature_config(&[&foreign.digest]);
    let quiet = bitvault_registry::oci::Quiet;
    registry
        .push_blob(REPO, &foreign.digest, &foreign_payload, "payload", &quiet)
        .unwrap();
    registry
        .push_blob(REPO, &Digest::of(&config), &config, "config", &quiet)
        .unwrap();
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.note".to_string(), "kept".to_string());
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG_MEDIA_TYPE, &config),
        layers: vec![foreign.clone()],
        annotations,
    };
    registry
        .push_manifest(REPO, &signature_tag(&digest), &manifest.to_bytes())
        .unwrap();

    // The foreign signature is garbage for our key: bad signature.
    let signer = key(1);
    assert_eq!(
        verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err(),
        CosignError::BadSignature
    );
    attach(&registry, REPO, REFERENCE, &digest, &signer).unwrap();
    let m = registry
        .manifest_by_tag(REPO, &signature_tag(&digest))
        .unwrap();
    assert_eq!(m.layers.len(), 2);
    assert_eq!(m.layers[0], foreign);
    assert_eq!(m.annotations["org.example.note"], "kept");
    assert_eq!(
        verify_attached(&registry, REPO, &digest, &signer.verifying_key())
            .unwrap()
            .layer,
        1
    );
}

#[test]
fn unreadable_signature_manifest_is_left_alone() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    // Something else under the .sig tag: a manifest with schemaVersion 1.
    let quiet = bitvault_registry::oci::Quiet;
    let config = b"{}".to_vec();
    registry
        .push_blob(REPO, &Digest::of(&config), &config, "config", &quiet)
        .unwrap();
    let odd = ImageManifest {
        schema_version: 2,
        media_type: None,
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG_MEDIA_TYPE, &config),
        layers: vec![],
        annotations: BTreeMap::new(),
    };
    let mut bytes = odd.to_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    bytes = text
        .replace("\"schemaVersion\":2", "\"schemaVersion\":1")
        .into_bytes();
    let tag = signature_tag(&digest);
    registry
        .manifests
        .lock()
        .unwrap()
        .insert((REPO.into(), Digest::of(&bytes)), bytes.clone());
    registry
        .tags
        .lock()
        .unwrap()
        .insert((REPO.into(), tag.clone()), Digest::of(&bytes));

    let err = attach(&registry, REPO, REFERENCE, &digest, &key(1)).unwrap_err();
    assert!(
        matches!(err, CosignError::BadSignatureManifest(_)),
        "{err:?}"
    );
    assert_eq!(registry.pull_manifest(REPO, &tag).unwrap(), bytes);
    let err = verify_attached(&registry, REPO, &digest, &key(1).verifying_key()).unwrap_err();
    assert!(
        matches!(err, CosignError::BadSignatureManifest(_)),
        "{err:?}"
    );
}

#[test]
fn no_sig_tag_is_no_signatures() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let err = verify_attached(&registry, REPO, &digest, &key(1).verifying_key()).unwrap_err();
    assert_eq!(
        err,
        CosignError::NoSignatures {
            tag: signature_tag(&digest)
        }
    );
    assert_eq!(err.reason(), "no_signatures");

    // A .sig manifest with no simple signing layer has no signatures either.
    let quiet = bitvault_registry::oci::Quiet;
    let config = signature_config(&[]);
    registry
        .push_blob(REPO, &Digest::of(&config), &config, "config", &quiet)
        .unwrap();
    let empty = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG_MEDIA_TYPE, &config),
        layers: vec![],
        annotations: BTreeMap::new(),
    };
    registry
        .push_manifest(REPO, &signature_tag(&digest), &empty.to_bytes())
        .unwrap();
    assert!(matches!(
        verify_attached(&registry, REPO, &digest, &key(1).verifying_key()),
        Err(CosignError::NoSignatures { .. })
    ));
}

/// Attaches a hand-made payload signed by `signer` as the only layer.
fn attach_raw_payload(
    registry: &MemoryRegistry,
    digest: &Digest,
    payload: &[u8],
    signer: &SigningKey,
) {
    let quiet = bitvault_registry::oci::Quiet;
    let mut layer = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, payload);
    layer.annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        B64.encode(signer.sign(payload).to_bytes()),
    );
    let config = signature_config(&[&layer.digest]);
    registry
        .push_blob(REPO, &layer.digest, payload, "payload", &quiet)
        .unwrap();
    registry
        .push_blob(REPO, &Digest::of(&config), &config, "config", &quiet)
        .unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG_MEDIA_TYPE, &config),
        layers: vec![layer],
        annotations: BTreeMap::new(),
    };
    registry
        .push_manifest(REPO, &signature_tag(digest), &manifest.to_bytes())
        .unwrap();
}

#[test]
fn signed_payload_of_another_type_is_bad_payload() {
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let signer = key(1);
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"atomic container signature"}},"optional":null}}"#
    );
    attach_raw_payload(&registry, &digest, payload.as_bytes(), &signer);
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(matches!(err, CosignError::BadPayload(_)), "{err:?}");

    attach_raw_payload(&registry, &digest, b"not json", &signer);
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(matches!(err, CosignError::BadPayload(_)), "{err:?}");
}

#[test]
fn cosign_payload_with_optional_claims_verifies() {
    // Payloads cosign writes with `-a key=value` carry an `optional` map;
    // verification reads past it. (Bytes from sigstore's payload tests,
    // with this test's digest.)
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let signer = key(1);
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"example.com/atomic/test/image"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":{{"creator":"atomic","timestamp":1458239713}}}}"#
    );
    attach_raw_payload(&registry, &digest, payload.as_bytes(), &signer);
    let verified = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap();
    assert_eq!(verified.docker_reference, "example.com/atomic/test/image");
}

#[test]
fn furthest_failure_is_reported() {
    // Layer 0 is not by the key; layer 1 is, but for another digest: the
    // error names the replayed signature, the more telling of the two.
    let registry = MemoryRegistry::default();
    let digest = push_package(&registry, "1.0.0");
    let other = Digest::of(b"another image");
    let signer = key(1);
    attach(&registry, REPO, REFERENCE, &digest, &key(9)).unwrap();
    let m = registry
        .manifest_by_tag(REPO, &signature_tag(&digest))
        .unwrap();
    let payload = simple_signing_payload(REFERENCE, &other);
    let mut layer = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, &payload);
    layer.annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        B64.encode(signer.sign(&payload).to_bytes()),
    );
    let quiet = bitvault_registry::oci::Quiet;
    registry
        .push_blob(REPO, &layer.digest, &payload, "payload", &quiet)
        .unwrap();
    let mut layers = m.layers.clone();
    layers.push(layer);
    let digests: Vec<&Digest> = layers.iter().map(|l| &l.digest).collect();
    let config = signature_config(&digests);
    registry
        .push_blob(REPO, &Digest::of(&config), &config, "config", &quiet)
        .unwrap();
    let both = ImageManifest {
        config: Descriptor::of(OCI_CONFIG_MEDIA_TYPE, &config),
        layers,
        ..m
    };
    registry
        .push_manifest(REPO, &signature_tag(&digest), &both.to_bytes())
        .unwrap();
    let err = verify_attached(&registry, REPO, &digest, &signer.verifying_key()).unwrap_err();
    assert!(matches!(err, CosignError::WrongDigest { .. }), "{err:?}");
}

const D34DB33F: &str = "sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f";

#[test]
fn golden_payload_matches_cosign() {
    // The expected strings are sigstore's own (pkg/signature/payload,
    // TestMarshalCosign "no claims" and "custom identity"): the bytes Go's
    // encoding/json writes for cosign's payload.Cosign.
    let digest = Digest::parse(D34DB33F).unwrap();
    assert_eq!(
        String::from_utf8(simple_signing_payload("example.com/test/image", &digest)).unwrap(),
        r#"{"critical":{"identity":{"docker-reference":"example.com/test/image"},"image":{"docker-manifest-digest":"sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"},"type":"cosign container image signature"},"optional":null}"#
    );
    assert_eq!(
        String::from_utf8(simple_signing_payload(
            "docker.io/library/test:1.2.3",
            &digest
        ))
        .unwrap(),
        r#"{"critical":{"identity":{"docker-reference":"docker.io/library/test:1.2.3"},"image":{"docker-manifest-digest":"sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"},"type":"cosign container image signature"},"optional":null}"#
    );
    assert!(
        String::from_utf8(simple_signing_payload("r", &digest))
            .unwrap()
            .contains(COSIGN_SIGNATURE_TYPE)
    );
    // It is JSON that any parser reads back.
    let v: serde_json::Value =
        serde_json::from_slice(&simple_signing_payload("example.com/test/image", &digest)).unwrap();
    assert_eq!(v["critical"]["image"]["docker-manifest-digest"], D34DB33F);
    assert!(v["optional"].is_null());
}

#[test]
fn golden_payload_escapes_like_go() {
    // Go's encoding/json escapes <, > and & (HTML-safe) and control
    // characters; a docker reference never holds them, but the bytes must
    // still be the ones cosign would sign.
    let digest = Digest::parse(D34DB33F).unwrap();
    let payload = String::from_utf8(simple_signing_payload(
        "a<b>&\"c\\\n\u{1}\u{2028}é",
        &digest,
    ))
    .unwrap();
    assert!(
        payload.starts_with(
            r#"{"critical":{"identity":{"docker-reference":"a\u003cb\u003e\u0026\"c\\\n\u0001\u2028é"}"#
        ),
        "{payload}"
    );
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        v["critical"]["identity"]["docker-reference"],
        "a<b>&\"c\\\n\u{1}\u{2028}é"
    );
}

#[test]
fn golden_signature_tag_and_config() {
    let digest = Digest::parse(D34DB33F).unwrap();
    assert_eq!(
        signature_tag(&digest),
        "sha256-d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f.sig"
    );
    bitvault_registry::oci::check_tag(&signature_tag(&digest)).unwrap();
    // go-containerregistry's empty image with one appended layer
    // (v1.ConfigFile marshalled by encoding/json, zero creation times).
    assert_eq!(
        String::from_utf8(signature_config(&[&digest])).unwrap(),
        r#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"]},"config":{}}"#
    );
}

#[test]
fn golden_signature_manifest_for_a_fixed_key() {
    // The whole signature manifest for a fixed key and digest, so a change
    // to any byte cosign reads shows up here.
    let registry = MemoryRegistry::default();
    let digest = Digest::parse(D34DB33F).unwrap();
    let signer = key(42);
    attach(
        &registry,
        REPO,
        "registry.example/acme/hello",
        &digest,
        &signer,
    )
    .unwrap();
    let bytes = registry
        .pull_manifest(REPO, &signature_tag(&digest))
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let payload = simple_signing_payload("registry.example/acme/hello", &digest);
    let config = signature_config(&[&Digest::of(&payload)]);
    let expected = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": Digest::of(&config).to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": Digest::of(&payload).to_string(),
            "size": payload.len(),
            "annotations": {
                "dev.cosignproject.cosign/signature": B64.encode(signer.sign(&payload).to_bytes()),
            },
        }],
    });
    assert_eq!(m, expected);
    assert_eq!(payload.len(), 243);
    // Known answer: Ed25519 is deterministic, so the signature of these
    // payload bytes with this key never changes. These exact bytes were
    // checked outside this repository with `openssl pkeyutl -verify -rawin`
    // and with the `sigstore` crate 0.15.0 (`CosignVerificationKey::from_pem`
    // with `SigningScheme::ED25519`, and the cosign module's
    // `PublicKeyVerifier` over a `SignatureLayer`): all accept them.
    assert_eq!(
        m["layers"][0]["annotations"][SIGNATURE_ANNOTATION],
        "6Q7Rd9RHwLn5OFVvNklbBSKen/Sl0eCm75XBt6B9fSrtqfR6H3aY6KDarOkKEhb0CEaAEwkNARQBQFRXi908Bw=="
    );
}
