//! Package verification: a valid package verifies, and every way a package
//! can be wrong is refused with its own reason, before anything compiles.

use anyhow::Result;
use bitvault_abi::{EventsGrant, Grants};
use bitvault_registry::{
    KeyStatus, Manifest, ManifestError, ModuleRef, PackageBytes, PackageError, SignatureFile,
    TrustPolicy, fingerprint, generate_key, private_key_pem, public_key_pem, read_private_key,
    read_public_key, sha256_hex, sign, verify,
};
use ed25519_dalek::SigningKey;

const MODULE: &[u8] = b"\0asm\x01\0\0\0 pretend this is a plugin";

fn manifest(publisher: &str) -> Manifest {
    Manifest {
        schema: 1,
        name: "thumbnailer".into(),
        version: "1.2.0".into(),
        publisher: publisher.into(),
        description: "PNG thumbnails".into(),
        extension_points: vec!["content_transform".into()],
        event_types: vec![],
        capabilities: Grants::core(),
        limits: None,
        abi_version: bitvault_abi::ABI_VERSION,
        module: ModuleRef {
            sha256: sha256_hex(MODULE),
            size: MODULE.len() as u64,
        },
    }
}

struct Fixture {
    acme: SigningKey,
    globex: SigningKey,
    policy: TrustPolicy,
}

fn fixture() -> Result<Fixture> {
    let (acme, globex) = (generate_key()?, generate_key()?);
    let mut policy = TrustPolicy::default();
    policy.trust("acme.example", &acme.verifying_key(), KeyStatus::Active)?;
    policy.trust("globex.example", &globex.verifying_key(), KeyStatus::Active)?;
    Ok(Fixture {
        acme,
        globex,
        policy,
    })
}

fn check(
    manifest: &[u8],
    signature: Option<&SignatureFile>,
    module: &[u8],
    policy: &TrustPolicy,
) -> Result<bitvault_registry::Verified, PackageError> {
    let sig = signature.map(SignatureFile::to_canonical);
    verify(
        PackageBytes {
            manifest,
            signature: sig.as_deref(),
            module,
        },
        policy,
    )
}

#[test]
fn a_valid_package_verifies() -> Result<()> {
    let f = fixture()?;
    let (bytes, sig) = sign(&manifest("acme.example"), &f.acme)?;
    let v = check(&bytes, Some(&sig), MODULE, &f.policy)?;
    assert_eq!(v.manifest, manifest("acme.example"));
    assert_eq!(v.key, fingerprint(&f.acme.verifying_key()));
    assert_eq!(v.key_status, KeyStatus::Active);
    Ok(())
}

#[test]
fn a_tampered_or_truncated_module_is_refused() -> Result<()> {
    let f = fixture()?;
    let (bytes, sig) = sign(&manifest("acme.example"), &f.acme)?;
    let mut tampered = MODULE.to_vec();
    tampered[10] ^= 1;
    assert!(matches!(
        check(&bytes, Some(&sig), &tampered, &f.policy),
        Err(PackageError::ModuleDigest { .. })
    ));
    assert!(matches!(
        check(&bytes, Some(&sig), &MODULE[..20], &f.policy),
        Err(PackageError::ModuleSize { expected, actual: 20 }) if expected == MODULE.len() as u64
    ));
    Ok(())
}

#[test]
fn a_manifest_edited_to_escalate_a_capability_breaks_the_signature() -> Result<()> {
    let f = fixture()?;
    let (_, sig) = sign(&manifest("acme.example"), &f.acme)?;
    let mut escalated = manifest("acme.example");
    escalated.capabilities.kv = true;
    escalated.capabilities.events = Some(EventsGrant {
        topics: vec!["*".into()],
    });
    let bytes = escalated.to_canonical()?;
    match check(&bytes, Some(&sig), MODULE, &f.policy) {
        Err(PackageError::BadSignature { key }) => {
            assert_eq!(key, fingerprint(&f.acme.verifying_key()));
        }
        other => anyhow::bail!("expected a bad signature, got {other:?}"),
    }
    Ok(())
}

#[test]
fn wrong_keys_other_publishers_and_unsigned_packages_are_refused() -> Result<()> {
    let f = fixture()?;
    let m = manifest("acme.example");
    // Unsigned.
    assert_eq!(
        check(&m.to_canonical()?, None, MODULE, &f.policy),
        Err(PackageError::Unsigned)
    );
    // Globex's key signing as acme: named as globex's.
    let (bytes, forged) = sign(&m, &f.globex)?;
    match check(&bytes, Some(&forged), MODULE, &f.policy) {
        Err(e @ PackageError::UntrustedKey { .. }) => {
            assert!(e.to_string().contains("belongs to globex.example"), "{e}");
        }
        other => anyhow::bail!("expected an untrusted key, got {other:?}"),
    }
    // A key nobody trusts.
    let stranger = generate_key()?;
    let (bytes, sig) = sign(&m, &stranger)?;
    assert!(matches!(
        check(&bytes, Some(&sig), MODULE, &f.policy),
        Err(PackageError::UntrustedKey { owners, .. }) if owners.is_empty()
    ));
    // A signature claiming another publisher than the manifest.
    let (bytes, mut sig) = sign(&m, &f.acme)?;
    sig.publisher = "globex.example".into();
    assert!(matches!(
        check(&bytes, Some(&sig), MODULE, &f.policy),
        Err(PackageError::PublisherMismatch { .. })
    ));
    // A publisher the policy does not know.
    let (bytes, sig) = sign(&manifest("initech.example"), &f.acme)?;
    assert!(matches!(
        check(&bytes, Some(&sig), MODULE, &f.policy),
        Err(PackageError::UntrustedPublisher { .. })
    ));
    Ok(())
}

#[test]
fn rotation_keeps_retired_keys_valid_and_revocation_refuses() -> Result<()> {
    let mut f = fixture()?;
    let (old_bytes, old_sig) = sign(&manifest("acme.example"), &f.acme)?;
    let new_key = generate_key()?;
    f.policy
        .trust("acme.example", &new_key.verifying_key(), KeyStatus::Active)?;
    f.policy
        .trust("acme.example", &f.acme.verifying_key(), KeyStatus::Retired)?;
    let v = check(&old_bytes, Some(&old_sig), MODULE, &f.policy)?;
    assert_eq!(v.key_status, KeyStatus::Retired);
    let (bytes, sig) = sign(&manifest("acme.example"), &new_key)?;
    assert_eq!(
        check(&bytes, Some(&sig), MODULE, &f.policy)?.key_status,
        KeyStatus::Active
    );

    f.policy
        .trust("acme.example", &f.acme.verifying_key(), KeyStatus::Revoked)?;
    assert!(matches!(
        check(&old_bytes, Some(&old_sig), MODULE, &f.policy),
        Err(PackageError::RevokedKey { .. })
    ));
    Ok(())
}

#[test]
fn non_canonical_manifest_bytes_are_refused_not_reserialised() -> Result<()> {
    let f = fixture()?;
    let (bytes, sig) = sign(&manifest("acme.example"), &f.acme)?;
    let text = String::from_utf8(bytes.clone())?;
    // The same value with whitespace, with keys reordered, with a key twice.
    let spaced = text.replacen(',', ", ", 1);
    let reordered = {
        let value: serde_json::Value = serde_json::from_slice(&bytes)?;
        let obj = value.as_object().cloned().unwrap_or_default();
        let mut out = String::from("{");
        for (i, (k, v)) in obj.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k)?);
            out.push(':');
            out.push_str(&serde_json::to_string(v)?);
        }
        out.push('}');
        out
    };
    let duplicated = text.replacen("{", "{\"abi_version\":1,", 1);
    for variant in [spaced, reordered, duplicated] {
        assert_eq!(
            check(variant.as_bytes(), Some(&sig), MODULE, &f.policy),
            Err(PackageError::Manifest(ManifestError::NotCanonical)),
            "{variant}"
        );
    }
    let float = text.replacen("\"abi_version\":1", "\"abi_version\":1.0", 1);
    assert_eq!(
        check(float.as_bytes(), Some(&sig), MODULE, &f.policy),
        Err(PackageError::Manifest(ManifestError::Float))
    );
    Ok(())
}

#[test]
fn manifests_are_checked_field_by_field() {
    let bad = |edit: fn(&mut Manifest), field: &str| {
        let mut m = manifest("acme.example");
        edit(&mut m);
        match m.to_canonical() {
            Err(ManifestError::Field { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    };
    bad(|m| m.name = "Thumb Nailer".into(), "name");
    bad(|m| m.name = "-x".into(), "name");
    bad(|m| m.version = "1.2".into(), "version");
    bad(|m| m.publisher = "ACME".into(), "publisher");
    bad(|m| m.module.sha256 = "xyz".into(), "module.sha256");
    bad(|m| m.abi_version = 99, "abi_version");
    bad(|m| m.schema = 2, "schema");
}

#[test]
fn keys_round_trip_through_standard_pem_files() -> Result<()> {
    let key = generate_key()?;
    let private = private_key_pem(&key)?;
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(read_private_key(&private)?.to_bytes(), key.to_bytes());
    let public = public_key_pem(&key.verifying_key())?;
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(read_public_key(&public)?, key.verifying_key());
    // An OpenSSL-generated Ed25519 key (RFC 8410's example).
    let openssl = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    let k = read_private_key(openssl)?;
    assert_eq!(fingerprint(&k.verifying_key()).len(), "sha256:".len() + 64);
    assert!(
        read_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err()
    );
    Ok(())
}

#[test]
fn trust_policies_are_toml_with_checked_keys() -> Result<()> {
    let key = generate_key()?;
    let pem = public_key_pem(&key.verifying_key())?;
    let text = format!(
        "[publishers.\"acme.example\"]\nkeys = [{{ public_key = \"\"\"{pem}\"\"\", status = \"active\" }}]\n"
    );
    let policy = TrustPolicy::from_toml(&text)?;
    let fp = fingerprint(&key.verifying_key());
    assert_eq!(
        policy.key("acme.example", &fp).map(|(_, s)| s),
        Some(KeyStatus::Active)
    );
    assert!(
        TrustPolicy::from_toml(
            "[publishers.x]\nkeys = [{ public_key = \"nope\", status = \"active\" }]\n"
        )
        .is_err()
    );
    assert!(TrustPolicy::from_toml("[publishers.x]\nkeys = []\nextra = 1\n").is_err());
    Ok(())
}

/// Interoperability with OpenSSL, the reference tool for these formats:
/// it generates the key we read, and verifies a signature we make with its
/// public key file as we write it.
#[test]
fn openssl_keys_sign_and_our_signatures_verify_with_openssl() -> Result<()> {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("bitvault-openssl-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let run = |args: &[&str]| -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .map_err(|e| anyhow::anyhow!("openssl is needed for this test: {e}"))?;
        anyhow::ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    run(&["genpkey", "-algorithm", "ed25519", "-out", "key.pem"])?;
    let key = read_private_key(&std::fs::read_to_string(dir.join("key.pem"))?)?;
    std::fs::write(dir.join("pub.pem"), public_key_pem(&key.verifying_key())?)?;
    let message = b"bitvault-package-v1\n{\"a\":1}";
    std::fs::write(dir.join("msg"), message)?;
    use ed25519_dalek::Signer;
    std::fs::write(dir.join("sig"), key.sign(message).to_bytes())?;
    let verified = run(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile",
        "sig",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    verified
}
