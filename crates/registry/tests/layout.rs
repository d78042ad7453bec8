//! The embedded image-layout registry and package transfer: publish and
//! fetch round trips, a catalog, registries that serve the wrong bytes, and
//! several processes pushing and pulling the same directory at once.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Result;
use bitvault_abi::{Grants, HttpGrant};
use bitvault_registry::oci::{
    ARTIFACT_TYPE, Digest, ImageManifest, MODULE_MEDIA_TYPE, Progress, Quiet, Registry,
    RegistryError,
};
use bitvault_registry::{
    KeyStatus, LayoutRegistry, Manifest, ModuleRef, PackageError, Reference, TrustPolicy, catalog,
    fetch_package, generate_key, publish, sha256_hex, sign, verify, versions,
};
use ed25519_dalek::SigningKey;

fn wasm(tag: &str) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    // A custom section carrying `tag`, so each module is distinct and valid.
    m.push(0);
    m.push((tag.len() + 2) as u8);
    m.push(1);
    m.push(b't');
    m.extend_from_slice(tag.as_bytes());
    m
}

fn manifest(name: &str, version: &str, module: &[u8]) -> Manifest {
    Manifest {
        schema: 1,
        name: name.into(),
        version: version.into(),
        publisher: "acme.example".into(),
        description: format!("{name} for tests"),
        extension_points: vec!["search".into()],
        event_types: vec![],
        capabilities: Grants::core(),
        limits: None,
        abi_version: bitvault_abi::ABI_VERSION,
        module: ModuleRef {
            sha256: sha256_hex(module),
            size: module.len() as u64,
        },
    }
}

fn publish_one(
    registry: &dyn Registry,
    key: &SigningKey,
    name: &str,
    version: &str,
) -> Result<bitvault_registry::Published> {
    let module = wasm(&format!("{name}-{version}"));
    let (bytes, sig) = sign(&manifest(name, version, &module), key)?;
    Ok(publish(
        registry,
        &bytes,
        Some(&sig.to_canonical()),
        &module,
        &Quiet,
    )?)
}

fn policy(key: &SigningKey) -> Result<TrustPolicy> {
    let mut p = TrustPolicy::default();
    p.trust("acme.example", &key.verifying_key(), KeyStatus::Active)?;
    Ok(p)
}

#[test]
fn a_published_package_is_fetched_and_verifies() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path().join("reg"))?;
    let key = generate_key()?;
    let published = publish_one(&registry, &key, "echo", "1.0.0")?;
    assert_eq!(published.tag, "1.0.0");

    // The layout is a standard OCI image layout.
    let root = registry.root();
    assert_eq!(
        std::fs::read_to_string(root.join("oci-layout"))?,
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json"))?)?;
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"][0]["digest"], published.digest.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "echo:1.0.0"
    );
    assert!(
        root.join("blobs/sha256")
            .join(published.digest.hex())
            .is_file()
    );

    for reference in [
        "echo",
        "echo@1.0.0",
        "echo:1.0.0",
        &format!("echo@{}", published.digest),
    ] {
        let fetched = fetch_package(&registry, &reference.parse()?, &Quiet)?;
        assert_eq!(fetched.digest, published.digest, "{reference}");
        assert_eq!(fetched.module, wasm("echo-1.0.0"));
        assert_eq!(
            fetched.oci_manifest.artifact_type.as_deref(),
            Some(ARTIFACT_TYPE)
        );
        let verified = verify(fetched.bytes(), &policy(&key)?)?;
        assert_eq!(verified.manifest.version, "1.0.0");
    }
    Ok(())
}

#[test]
fn latest_is_the_highest_semver_and_the_catalog_names_the_signer() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path())?;
    let key = generate_key()?;
    for v in ["1.2.0", "1.10.0", "1.9.3", "2.0.0-rc.1"] {
        publish_one(&registry, &key, "search-md", v)?;
    }
    publish_one(&registry, &key, "echo", "0.1.0")?;
    let listed: Vec<String> = versions(&registry, "search-md")?
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["2.0.0-rc.1", "1.10.0", "1.9.3", "1.2.0"]);
    let latest = fetch_package(&registry, &"search-md".parse()?, &Quiet)?;
    assert_eq!(
        Manifest::from_canonical(&latest.manifest)?.version,
        "2.0.0-rc.1"
    );

    let entries = catalog(&registry, None)?;
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].name, "echo");
    let signer = entries[0].signed_by.clone().expect("signed");
    assert_eq!(signer.0, "acme.example");
    assert_eq!(
        signer.1,
        bitvault_registry::fingerprint(&key.verifying_key())
    );
    assert_eq!(entries[0].extension_points, ["search"]);
    assert!(entries[0].capabilities.contains(&"io".to_owned()));
    assert_eq!(catalog(&registry, Some("search"))?.len(), 4);
    Ok(())
}

#[test]
fn the_catalog_shows_requested_http_origins_and_unsigned_packages() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path())?;
    let key = generate_key()?;
    let module = wasm("fetcher");
    let mut m = manifest("fetcher", "1.0.0", &module);
    m.capabilities.http = Some(HttpGrant::to(["https://api.example.com/"]));
    let (bytes, _) = sign(&m, &key)?;
    publish(&registry, &bytes, None, &module, &Quiet)?;
    let entries = catalog(&registry, None)?;
    assert_eq!(entries[0].http_origins, ["https://api.example.com/"]);
    assert!(entries[0].capabilities.contains(&"http".to_owned()));
    assert_eq!(entries[0].signed_by, None);
    // Unsigned packages travel, but never verify.
    let fetched = fetch_package(&registry, &"fetcher@1.0.0".parse()?, &Quiet)?;
    assert_eq!(
        verify(fetched.bytes(), &policy(&key)?).unwrap_err(),
        PackageError::Unsigned
    );
    Ok(())
}

#[test]
fn a_package_that_does_not_hold_together_is_not_published() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path())?;
    let key = generate_key()?;
    let module = wasm("a");
    let (bytes, sig) = sign(&manifest("a", "1.0.0", &module), &key)?;
    let other = wasm("b");
    let err = publish(&registry, &bytes, Some(&sig.to_canonical()), &other, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "bad_manifest");
    // Non-canonical manifest bytes are refused rather than re-serialised.
    let mut spaced = bytes.clone();
    spaced.insert(1, b' ');
    let err = publish(&registry, &spaced, None, &module, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "bad_manifest");
    assert!(registry.repositories()?.is_empty());
    Ok(())
}

#[test]
fn references_parse_and_refuse_nonsense() {
    assert!("echo".parse::<Reference>().is_ok());
    assert!("echo@1.0.0".parse::<Reference>().is_ok());
    for bad in [
        "",
        "Echo",
        "echo@",
        "echo@latest",
        "echo@sha256:1234",
        "../echo",
        "echo:1.0",
        "ec ho",
    ] {
        assert!(bad.parse::<Reference>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn unknown_tags_blobs_and_hostile_names_are_typed_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path())?;
    let err = fetch_package(&registry, &"nope@1.0.0".parse()?, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "not_found");
    let missing = Digest::of(b"missing");
    let err = registry
        .pull_blob("nope", &missing, 100, "module", &Quiet)
        .unwrap_err();
    assert_eq!(err.reason(), "not_found");
    for name in ["../etc", "a/../../b", "A", "a//b", ""] {
        let err = registry.tags(name).unwrap_err();
        assert_eq!(err.reason(), "invalid_name", "{name:?}");
    }
    let err = registry.pull_manifest("echo", "../../index").unwrap_err();
    assert_eq!(err.reason(), "invalid_name");
    // A blob whose bytes are not its digest is never stored.
    let err = registry
        .push_blob("echo", &missing, b"other", "module", &Quiet)
        .unwrap_err();
    assert_eq!(err.reason(), "digest_mismatch");
    // A manifest naming blobs that are not there is never tagged.
    let dangling = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{missing}","size":1}},"layers":[]}}"#
    );
    let err = registry
        .push_manifest("echo", "1.0.0", dangling.as_bytes())
        .unwrap_err();
    assert_eq!(err.reason(), "not_found");
    assert!(registry.tags("echo")?.is_empty());
    Ok(())
}

/// A registry that serves what it likes: another blob for a digest, a
/// truncated one, or one release under another's tag.
struct Hostile {
    inner: LayoutRegistry,
    swap_module: Option<Vec<u8>>,
    truncate: bool,
    retag: Option<(String, String)>,
}

impl Registry for Hostile {
    fn location(&self) -> String {
        "hostile".into()
    }
    fn push_blob(
        &self,
        r: &str,
        d: &Digest,
        b: &[u8],
        w: &str,
        p: &dyn Progress,
    ) -> Result<(), RegistryError> {
        self.inner.push_blob(r, d, b, w, p)
    }
    fn pull_blob(
        &self,
        r: &str,
        d: &Digest,
        limit: u64,
        what: &str,
        p: &dyn Progress,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut bytes = self.inner.pull_blob(r, d, limit, what, p)?;
        if what == "module" {
            if let Some(swap) = &self.swap_module {
                bytes = swap.clone();
            }
            if self.truncate {
                bytes.truncate(bytes.len() / 2);
            }
        }
        Ok(bytes)
    }
    fn push_manifest(&self, r: &str, t: &str, b: &[u8]) -> Result<Digest, RegistryError> {
        self.inner.push_manifest(r, t, b)
    }
    fn pull_manifest(&self, r: &str, reference: &str) -> Result<Vec<u8>, RegistryError> {
        match &self.retag {
            Some((asked, served)) if reference == asked => self.inner.pull_manifest(r, served),
            _ => self.inner.pull_manifest(r, reference),
        }
    }
    fn tags(&self, r: &str) -> Result<Vec<String>, RegistryError> {
        self.inner.tags(r)
    }
    fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        self.inner.repositories()
    }
}

fn hostile(dir: &Path) -> Result<(Hostile, SigningKey)> {
    let inner = LayoutRegistry::open(dir)?;
    let key = generate_key()?;
    publish_one(&inner, &key, "echo", "1.0.0")?;
    publish_one(&inner, &key, "echo", "2.0.0")?;
    Ok((
        Hostile {
            inner,
            swap_module: None,
            truncate: false,
            retag: None,
        },
        key,
    ))
}

#[test]
fn a_registry_serving_another_blob_for_a_digest_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut registry, _) = hostile(dir.path())?;
    // Same size, other bytes: only the digest tells.
    let mut evil = wasm("echo-1.0.0");
    let last = evil.len() - 1;
    evil[last] ^= 1;
    registry.swap_module = Some(evil);
    let err = fetch_package(&registry, &"echo@1.0.0".parse()?, &Quiet).unwrap_err();
    assert!(
        matches!(&err, RegistryError::DigestMismatch { what, .. } if what == "module"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_truncated_download_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut registry, _) = hostile(dir.path())?;
    registry.truncate = true;
    let err = fetch_package(&registry, &"echo@1.0.0".parse()?, &Quiet).unwrap_err();
    assert!(
        matches!(&err, RegistryError::SizeMismatch { what, .. } if what == "module"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_registry_serving_one_release_as_another_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut registry, _) = hostile(dir.path())?;
    // Asked for 2.0.0, served the (validly signed) 1.0.0: a rollback attack.
    registry.retag = Some(("2.0.0".into(), "1.0.0".into()));
    let err = fetch_package(&registry, &"echo@2.0.0".parse()?, &Quiet).unwrap_err();
    assert_eq!(
        err,
        RegistryError::WrongPackage {
            asked: "echo@2.0.0".into(),
            found: "echo@1.0.0".into()
        }
    );
    // Asked for a digest, served another manifest.
    let one = registry.inner.pull_manifest("echo", "1.0.0")?;
    let two = Digest::of(&registry.inner.pull_manifest("echo", "2.0.0")?);
    registry.retag = Some((two.to_string(), "1.0.0".into()));
    let err = fetch_package(&registry, &format!("echo@{two}").parse()?, &Quiet).unwrap_err();
    assert_eq!(
        err,
        RegistryError::DigestMismatch {
            what: "OCI manifest".into(),
            expected: two,
            actual: Digest::of(&one)
        }
    );
    Ok(())
}

#[test]
fn an_oversized_blob_is_refused_before_it_is_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path())?;
    let key = generate_key()?;
    let published = publish_one(&registry, &key, "echo", "1.0.0")?;
    let oci = ImageManifest::from_bytes(&registry.pull_manifest("echo", "1.0.0")?)?;
    let module = oci
        .layers
        .iter()
        .find(|l| l.media_type == MODULE_MEDIA_TYPE)
        .expect("module layer");
    let err = registry
        .pull_blob("echo", &module.digest, module.size - 1, "module", &Quiet)
        .unwrap_err();
    assert_eq!(err.reason(), "too_large");
    assert_eq!(published.name, "echo");
    Ok(())
}

struct Counting(std::sync::Mutex<Vec<(String, u64, u64)>>);

impl Progress for Counting {
    fn transfer(&self, what: &str, _: &Digest, done: u64, total: u64) {
        self.0.lock().unwrap().push((what.into(), done, total));
    }
}

#[test]
fn transfers_report_progress_from_start_to_end() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = LayoutRegistry::open(dir.path())?;
    let key = generate_key()?;
    publish_one(&registry, &key, "echo", "1.0.0")?;
    let progress = Counting(Default::default());
    fetch_package(&registry, &"echo@1.0.0".parse()?, &progress)?;
    let seen = progress.0.into_inner().unwrap();
    let module: Vec<_> = seen.iter().filter(|(w, _, _)| w == "module").collect();
    let size = wasm("echo-1.0.0").len() as u64;
    assert_eq!(module.first().map(|m| (m.1, m.2)), Some((0, size)));
    assert_eq!(module.last().map(|m| (m.1, m.2)), Some((size, size)));
    Ok(())
}

const CHILD_ENV: &str = "BITVAULT_LAYOUT_TEST_CHILD";
const PROCESSES: usize = 4;
const PER_PROCESS: usize = 12;

/// Run by the child processes of
/// `concurrent_processes_push_and_pull_one_layout`; a no-op otherwise.
#[test]
fn layout_child_process() -> Result<()> {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    let (dir, id) = spec.split_once('|').expect("dir|id");
    let registry = LayoutRegistry::open(dir)?;
    let key = bitvault_registry::read_private_key(&std::fs::read_to_string(
        Path::new(dir).join("../key.pem"),
    )?)?;
    for j in 0..PER_PROCESS {
        // Each process's own plugin, and one plugin every process adds
        // versions to: the index is contended.
        publish_one(&registry, &key, &format!("p{id}"), &format!("1.0.{j}"))?;
        publish_one(&registry, &key, "shared", &format!("{id}.{j}.0"))?;
        // Pull whatever is there now; every blob must check out.
        for name in registry.repositories()? {
            for tag in registry.tags(&name)? {
                let reference = format!("{name}@{}", tag.replace('_', "+"));
                fetch_package(&registry, &reference.parse()?, &Quiet)?;
            }
        }
    }
    Ok(())
}

#[test]
fn concurrent_processes_push_and_pull_one_layout() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = dir.path().join("reg");
    let key = generate_key()?;
    std::fs::write(
        dir.path().join("key.pem"),
        bitvault_registry::private_key_pem(&key)?,
    )?;
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "layout_child_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, format!("{}|{id}", layout.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    // All are running before any is waited for.
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output())
        .collect::<Result<_, _>>()?;
    for (id, out) in outputs.iter().enumerate() {
        assert!(
            out.status.success(),
            "child {id} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let registry = LayoutRegistry::open(&layout)?;
    let mut shared = registry.tags("shared")?;
    shared.sort();
    assert_eq!(shared.len(), PROCESSES * PER_PROCESS, "a tag was lost");
    for id in 0..PROCESSES {
        assert_eq!(registry.tags(&format!("p{id}"))?.len(), PER_PROCESS);
    }
    let policy = policy(&key)?;
    for name in registry.repositories()? {
        for v in versions(&registry, &name)? {
            let fetched = fetch_package(&registry, &format!("{name}@{v}").parse()?, &Quiet)?;
            verify(fetched.bytes(), &policy)?;
        }
    }
    // Nothing is left half-written.
    assert_eq!(std::fs::read_dir(layout.join(".tmp"))?.count(), 0);
    Ok(())
}
