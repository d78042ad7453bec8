//! Ed25519 keys in standard files, signatures over canonical manifests,
//! and the trust policy that binds publishers to keys.
//!
//! - A private key is a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`), a
//!   public key an SPKI PEM file (`-----BEGIN PUBLIC KEY-----`): the formats
//!   `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` use.
//! - A key's fingerprint is `sha256:` and the hex SHA-256 of its 32 raw
//!   public-key bytes.
//! - A signature signs `bitvault-package-v1\n` followed by the canonical
//!   manifest bytes (the prefix keeps these signatures from being valid for
//!   anything else). Its file is canonical JSON: `{"key": fingerprint,
//!   "publisher": name, "schema": 1, "signature": base64}`.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{Manifest, ManifestError};

/// What a package signature signs before the manifest bytes.
pub const SIGNING_CONTEXT: &[u8] = b"bitvault-package-v1\n";

/// Why a key, signature or trust policy is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningError {
    /// A key file that is not an Ed25519 key in the expected PEM form.
    Key(String),
    /// Key generation failed (no randomness).
    Random(String),
    /// A signature file that does not parse.
    SignatureFile(String),
    /// A trust-policy file that does not parse or breaks its rules.
    Policy(String),
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningError::Key(m) => write!(f, "not an Ed25519 key file: {m}"),
            SigningError::Random(m) => write!(f, "cannot generate a key: {m}"),
            SigningError::SignatureFile(m) => write!(f, "not a signature file: {m}"),
            SigningError::Policy(m) => write!(f, "invalid trust policy: {m}"),
        }
    }
}

impl std::error::Error for SigningError {}

/// A new signing key from the operating system's CSPRNG.
///
/// # Errors
/// [`SigningError::Random`] when no randomness is available.
pub fn generate_key() -> Result<SigningKey, SigningError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SigningError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The PKCS#8 PEM of a private key.
///
/// # Errors
/// [`SigningError::Key`] if encoding fails.
pub fn private_key_pem(key: &SigningKey) -> Result<String, SigningError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| SigningError::Key(e.to_string()))
}

/// The SPKI PEM of a public key.
///
/// # Errors
/// [`SigningError::Key`] if encoding fails.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, SigningError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| SigningError::Key(e.to_string()))
}

/// Reads a PKCS#8 PEM private key.
///
/// # Errors
/// [`SigningError::Key`].
pub fn read_private_key(pem: &str) -> Result<SigningKey, SigningError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| SigningError::Key(e.to_string()))
}

/// Reads an SPKI PEM public key.
///
/// # Errors
/// [`SigningError::Key`].
pub fn read_public_key(pem: &str) -> Result<VerifyingKey, SigningError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| SigningError::Key(e.to_string()))
}

/// A public key's fingerprint: `sha256:` and 64 hex digits.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A signature file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// The signing key's fingerprint.
    pub key: String,
    /// The publisher the signer claims (must equal the manifest's).
    pub publisher: String,
    /// 1.
    pub schema: u32,
    /// The Ed25519 signature, base64.
    pub signature: String,
}

impl SignatureFile {
    /// Its canonical bytes.
    pub fn to_canonical(&self) -> Vec<u8> {
        // Field order is key order here; serde_json writes no whitespace.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads canonical bytes.
    ///
    /// # Errors
    /// [`SigningError::SignatureFile`].
    pub fn from_canonical(bytes: &[u8]) -> Result<SignatureFile, SigningError> {
        let file: SignatureFile = serde_json::from_slice(bytes)
            .map_err(|e| SigningError::SignatureFile(e.to_string()))?;
        if file.to_canonical() != bytes {
            return Err(SigningError::SignatureFile("not in canonical form".into()));
        }
        Ok(file)
    }
}

/// Signs a manifest as its publisher.
///
/// # Errors
/// [`ManifestError`] when the manifest breaks a rule.
pub fn sign(
    manifest: &Manifest,
    key: &SigningKey,
) -> Result<(Vec<u8>, SignatureFile), ManifestError> {
    let bytes = manifest.to_canonical()?;
    let message = [SIGNING_CONTEXT, &bytes].concat();
    let signature = key.sign(&message);
    Ok((
        bytes,
        SignatureFile {
            key: fingerprint(&key.verifying_key()),
            publisher: manifest.publisher.clone(),
            schema: 1,
            signature: B64.encode(signature.to_bytes()),
        },
    ))
}

/// The state of a key in a trust policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new releases; its packages are admitted.
    Active,
    /// Rotated out: signs nothing new, but packages it signed before are
    /// still admitted.
    Retired,
    /// Compromised or withdrawn: nothing it signed is admitted.
    Revoked,
}

/// One trusted key of a publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The public key, SPKI PEM.
    pub public_key: String,
    /// Its state.
    pub status: KeyStatus,
}

/// A tenant's trust policy: for each publisher, the keys that may sign as
/// it. A TOML file:
///
/// ```toml
/// [publishers."acme.example"]
/// keys = [
///   { public_key = "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n", status = "active" },
/// ]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicy {
    /// Publishers by name.
    #[serde(default)]
    pub publishers: BTreeMap<String, Publisher>,
}

/// A publisher's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    /// Its keys, in any order.
    pub keys: Vec<TrustedKey>,
}

impl TrustPolicy {
    /// Reads a trust-policy file, checking every key parses.
    ///
    /// # Errors
    /// [`SigningError::Policy`].
    pub fn from_toml(text: &str) -> Result<TrustPolicy, SigningError> {
        let policy: TrustPolicy =
            toml::from_str(text).map_err(|e| SigningError::Policy(e.message().to_owned()))?;
        for (name, p) in &policy.publishers {
            for k in &p.keys {
                read_public_key(&k.public_key)
                    .map_err(|e| SigningError::Policy(format!("publisher `{name}`: {e}")))?;
            }
        }
        Ok(policy)
    }

    /// The policy as a trust-policy file, as [`TrustPolicy::from_toml`]
    /// reads it.
    ///
    /// # Errors
    /// [`SigningError::Policy`] if it cannot be written (it always can:
    /// every field is a string or a table).
    pub fn to_toml(&self) -> Result<String, SigningError> {
        toml::to_string(self).map_err(|e| SigningError::Policy(e.to_string()))
    }

    /// Trusts `key` for `publisher` with `status` (replacing its status if
    /// already listed).
    ///
    /// # Errors
    /// [`SigningError::Key`] if the key cannot be encoded.
    pub fn trust(
        &mut self,
        publisher: &str,
        key: &VerifyingKey,
        status: KeyStatus,
    ) -> Result<(), SigningError> {
        let pem = public_key_pem(key)?;
        let keys = &mut self
            .publishers
            .entry(publisher.to_owned())
            .or_default()
            .keys;
        match keys
            .iter_mut()
            .find(|k| read_public_key(&k.public_key).ok().as_ref() == Some(key))
        {
            Some(k) => k.status = status,
            None => keys.push(TrustedKey {
                public_key: pem,
                status,
            }),
        }
        Ok(())
    }

    /// The key with `fingerprint` trusted for `publisher`, with its status.
    pub fn key(&self, publisher: &str, fingerprint: &str) -> Option<(VerifyingKey, KeyStatus)> {
        self.publishers.get(publisher)?.keys.iter().find_map(|k| {
            let key = read_public_key(&k.public_key).ok()?;
            (self::fingerprint(&key) == fingerprint).then_some((key, k.status))
        })
    }

    /// The publishers that trust a key with `fingerprint` (to name the
    /// real owner when a key signs as someone else).
    pub fn owners_of(&self, fingerprint: &str) -> Vec<&str> {
        self.publishers
            .iter()
            .filter(|(_, p)| {
                p.keys.iter().any(|k| {
                    read_public_key(&k.public_key)
                        .is_ok_and(|key| self::fingerprint(&key) == fingerprint)
                })
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// Checks `signature` over `manifest_bytes` with `key`.
pub(crate) fn verify_signature(
    key: &VerifyingKey,
    manifest_bytes: &[u8],
    signature_b64: &str,
) -> bool {
    let Ok(raw) = B64.decode(signature_b64) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&raw) else {
        return false;
    };
    let message = [SIGNING_CONTEXT, manifest_bytes].concat();
    key.verify_strict(&message, &signature).is_ok()
}
