//! Packages as OCI artifacts: publishing one to a [`Registry`], resolving a
//! reference, fetching a package with every byte checked against the digest
//! that named it, and reading a registry's catalog.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::manifest::Manifest;
use crate::oci::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, Descriptor, Digest, ImageManifest, MAX_METADATA_BYTES,
    MAX_MODULE_BYTES, MODULE_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, Progress, Quiet, Registry,
    RegistryError, SIGNATURE_MEDIA_TYPE, TITLE_ANNOTATION, check_blob, check_repository,
    version_tag,
};
use crate::package::sha256_hex;
use crate::signing::SignatureFile;

/// Which release of a plugin a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The highest semver version among the repository's tags.
    Latest,
    /// One version (`1.2.0`).
    Version(String),
    /// One OCI manifest, by digest.
    Digest(Digest),
}

/// A reference to a package in a registry: `name`, `name@1.2.0` or
/// `name:1.2.0`, or `name@sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The plugin's name (its repository).
    pub name: String,
    /// Which release.
    pub selector: Selector,
}

impl FromStr for Reference {
    type Err = RegistryError;
    fn from_str(text: &str) -> Result<Reference, RegistryError> {
        let bad = || RegistryError::InvalidReference(text.chars().take(200).collect());
        let (name, selector) = if let Some((name, rest)) = text.split_once('@') {
            if rest.starts_with("sha256:") {
                (name, Selector::Digest(Digest::parse(rest)?))
            } else {
                (name, Selector::Version(rest.to_owned()))
            }
        } else if let Some((name, version)) = text.split_once(':') {
            (name, Selector::Version(version.to_owned()))
        } else {
            (text, Selector::Latest)
        };
        check_repository(name).map_err(|_| bad())?;
        if let Selector::Version(v) = &selector {
            semver::Version::parse(v).map_err(|_| bad())?;
        }
        Ok(Reference {
            name: name.to_owned(),
            selector,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Latest => f.write_str(&self.name),
            Selector::Version(v) => write!(f, "{}@{v}", self.name),
            Selector::Digest(d) => write!(f, "{}@{d}", self.name),
        }
    }
}

/// A package that was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The plugin's name (its repository).
    pub name: String,
    /// Its version.
    pub version: String,
    /// The tag it is stored under.
    pub tag: String,
    /// The OCI manifest's digest: the immutable reference to this release.
    pub digest: Digest,
}

/// A package fetched from a registry, every blob checked against its
/// digest and size. Nothing here is verified against a trust policy yet:
/// [`crate::verify`] does that with these bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The plugin's name.
    pub name: String,
    /// The OCI manifest's digest.
    pub digest: Digest,
    /// The OCI manifest.
    pub oci_manifest: ImageManifest,
    /// The package manifest's bytes, exactly as fetched.
    pub manifest: Vec<u8>,
    /// The signature file's bytes, if the package has one.
    pub signature: Option<Vec<u8>>,
    /// The module.
    pub module: Vec<u8>,
}

impl Fetched {
    /// The package's bytes, for [`crate::verify`].
    pub fn bytes(&self) -> crate::PackageBytes<'_> {
        crate::PackageBytes {
            manifest: &self.manifest,
            signature: self.signature.as_deref(),
            module: &self.module,
        }
    }
}

/// Publishes a package: its blobs, then its OCI manifest tagged with the
/// version. The manifest must be canonical and bind this module (a package
/// that could never verify is not published). Returns what was stored.
///
/// # Errors
/// [`RegistryError::BadManifest`] for a package that does not hold
/// together; the backend's errors otherwise.
pub fn publish(
    registry: &dyn Registry,
    manifest: &[u8],
    signature: Option<&[u8]>,
    module: &[u8],
    progress: &dyn Progress,
) -> Result<Published, RegistryError> {
    let parsed = Manifest::from_canonical(manifest)
        .map_err(|e| RegistryError::BadManifest(e.to_string()))?;
    if parsed.module.sha256 != sha256_hex(module) || parsed.module.size != module.len() as u64 {
        return Err(RegistryError::BadManifest(
            "the manifest does not bind this module (digest or size differs)".into(),
        ));
    }
    if let Some(sig) = signature {
        SignatureFile::from_canonical(sig)
            .map_err(|e| RegistryError::BadManifest(format!("signature file: {e}")))?;
    }
    let name = parsed.name.clone();
    let tag = version_tag(&parsed.version);

    let config = Descriptor::of(CONFIG_MEDIA_TYPE, manifest);
    let mut module_layer = Descriptor::of(MODULE_MEDIA_TYPE, module);
    module_layer
        .annotations
        .insert(TITLE_ANNOTATION.into(), format!("{name}.wasm"));
    let mut layers = vec![module_layer];
    if let Some(sig) = signature {
        let mut layer = Descriptor::of(SIGNATURE_MEDIA_TYPE, sig);
        layer
            .annotations
            .insert(TITLE_ANNOTATION.into(), format!("{name}.sig.json"));
        layers.push(layer);
    }
    registry.push_blob(&name, &config.digest, manifest, "manifest", progress)?;
    registry.push_blob(&name, &layers[0].digest, module, "module", progress)?;
    if let Some(sig) = signature {
        registry.push_blob(&name, &layers[1].digest, sig, "signature", progress)?;
    }
    let oci = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config,
        layers,
        annotations: [
            ("org.opencontainers.image.title".to_owned(), name.clone()),
            (
                "org.opencontainers.image.version".to_owned(),
                parsed.version.clone(),
            ),
            (
                "org.opencontainers.image.vendor".to_owned(),
                parsed.publisher.clone(),
            ),
            (
                "org.opencontainers.image.description".to_owned(),
                parsed.description.clone(),
            ),
        ]
        .into_iter()
        .collect(),
    };
    let digest = registry.push_manifest(&name, &tag, &oci.to_bytes())?;
    Ok(Published {
        name,
        version: parsed.version,
        tag,
        digest,
    })
}

/// The versions a repository holds, highest first (tags that are not
/// semver, such as cosign's `sha256-….sig`, are left out).
///
/// # Errors
/// The backend's errors.
pub fn versions(
    registry: &dyn Registry,
    name: &str,
) -> Result<Vec<semver::Version>, RegistryError> {
    let mut versions: Vec<semver::Version> = registry
        .tags(name)?
        .iter()
        .filter_map(|t| semver::Version::parse(&t.replacen('_', "+", 1)).ok())
        .collect();
    versions.sort_by(|a, b| b.cmp(a));
    Ok(versions)
}

/// Fetches a package: resolves the reference, pulls its OCI manifest and
/// each blob within its size limit, and refuses any byte that does not
/// match the digest and size that named it. When the reference names a
/// version, the signed manifest inside must name the same plugin and
/// version, so a registry cannot pass one release off as another.
///
/// # Errors
/// [`RegistryError`], each naming its reason.
pub fn fetch_package(
    registry: &dyn Registry,
    reference: &Reference,
    progress: &dyn Progress,
) -> Result<Fetched, RegistryError> {
    let name = &reference.name;
    let (bytes, digest) = match &reference.selector {
        Selector::Digest(d) => {
            let bytes = registry.pull_manifest(name, d.as_str())?;
            let actual = Digest::of(&bytes);
            if actual != *d {
                return Err(RegistryError::DigestMismatch {
                    what: "OCI manifest".into(),
                    expected: d.clone(),
                    actual,
                });
            }
            (bytes, d.clone())
        }
        Selector::Version(v) => {
            let bytes = registry.pull_manifest(name, &version_tag(v))?;
            let digest = Digest::of(&bytes);
            (bytes, digest)
        }
        Selector::Latest => {
            let latest = versions(registry, name)?
                .into_iter()
                .next()
                .ok_or_else(|| RegistryError::NotFound(format!("no versions of {name}")))?;
            let bytes = registry.pull_manifest(name, &version_tag(&latest.to_string()))?;
            let digest = Digest::of(&bytes);
            (bytes, digest)
        }
    };
    let oci = ImageManifest::from_bytes(&bytes)?;
    if oci.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(RegistryError::BadManifest(format!(
            "config media type {:?}, expected {CONFIG_MEDIA_TYPE}",
            oci.config.media_type
        )));
    }
    let module_layer = oci
        .layers
        .iter()
        .find(|l| l.media_type == MODULE_MEDIA_TYPE)
        .ok_or_else(|| RegistryError::BadManifest(format!("no {MODULE_MEDIA_TYPE} layer")))?;
    let signature_layer = oci
        .layers
        .iter()
        .find(|l| l.media_type == SIGNATURE_MEDIA_TYPE);

    let pull = |what: &str, d: &Descriptor, limit: u64| -> Result<Vec<u8>, RegistryError> {
        if d.size > limit {
            return Err(RegistryError::TooLarge {
                what: what.into(),
                size: d.size,
                limit,
            });
        }
        let bytes = registry.pull_blob(name, &d.digest, d.size, what, progress)?;
        check_blob(what, d, &bytes)?;
        Ok(bytes)
    };
    let manifest = pull("manifest", &oci.config, MAX_METADATA_BYTES)?;
    if let Selector::Version(v) = &reference.selector {
        // A manifest that does not parse is left for verification to refuse
        // with its precise reason.
        if let Ok(m) = Manifest::from_canonical(&manifest)
            && (m.name != *name || m.version != *v)
        {
            return Err(RegistryError::WrongPackage {
                asked: format!("{name}@{v}"),
                found: format!("{}@{}", m.name, m.version),
            });
        }
    }
    let signature = signature_layer
        .map(|d| pull("signature", d, MAX_METADATA_BYTES))
        .transpose()?;
    let module = pull("module", module_layer, MAX_MODULE_BYTES)?;
    Ok(Fetched {
        name: name.clone(),
        digest,
        oci_manifest: oci,
        manifest,
        signature,
        module,
    })
}

/// One release in a registry's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The OCI manifest's digest.
    pub digest: Digest,
    /// The publisher its manifest names.
    pub publisher: String,
    /// Its description.
    pub description: String,
    /// The extension points it implements.
    pub extension_points: Vec<String>,
    /// The capabilities it requests, by kind (`io`, `log`, `kv`, `http`, …).
    pub capabilities: Vec<String>,
    /// The HTTP origins it requests.
    pub http_origins: Vec<String>,
    /// The event topics it requests.
    pub event_topics: Vec<String>,
    /// Who signed it: the signature's claimed publisher and key
    /// fingerprint (not checked against any trust policy here), or `None`
    /// when unsigned.
    pub signed_by: Option<(String, String)>,
}

/// Reads a registry's catalog: every release of every plugin, highest
/// version first within each plugin, with what its manifest requests and
/// who signed it. Only the small blobs are fetched (manifests and
/// signatures, not modules). Releases that are not BitVault packages, or
/// whose bytes do not match their digests, are left out.
///
/// # Errors
/// The backend's errors for listing.
pub fn catalog(
    registry: &dyn Registry,
    filter: Option<&str>,
) -> Result<Vec<CatalogEntry>, RegistryError> {
    let mut entries = Vec::new();
    for name in registry.repositories()? {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        for version in versions(registry, &name)? {
            let tag = version_tag(&version.to_string());
            if let Ok(entry) = catalog_entry(registry, &name, &tag) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

fn catalog_entry(
    registry: &dyn Registry,
    name: &str,
    tag: &str,
) -> Result<CatalogEntry, RegistryError> {
    let bytes = registry.pull_manifest(name, tag)?;
    let digest = Digest::of(&bytes);
    let oci = ImageManifest::from_bytes(&bytes)?;
    if oci.config.media_type != CONFIG_MEDIA_TYPE || oci.config.size > MAX_METADATA_BYTES {
        return Err(RegistryError::BadManifest("not a package".into()));
    }
    let config = registry.pull_blob(
        name,
        &oci.config.digest,
        oci.config.size,
        "manifest",
        &Quiet,
    )?;
    check_blob("manifest", &oci.config, &config)?;
    let m =
        Manifest::from_canonical(&config).map_err(|e| RegistryError::BadManifest(e.to_string()))?;
    let signed_by = match oci
        .layers
        .iter()
        .find(|l| l.media_type == SIGNATURE_MEDIA_TYPE)
    {
        Some(d) if d.size <= MAX_METADATA_BYTES => {
            let sig = registry.pull_blob(name, &d.digest, d.size, "signature", &Quiet)?;
            check_blob("signature", d, &sig)?;
            SignatureFile::from_canonical(&sig)
                .ok()
                .map(|s| (s.publisher, s.key))
        }
        _ => None,
    };
    let c = &m.capabilities;
    let capabilities = [
        ("io", c.io),
        ("log", c.log.is_some()),
        ("config", c.config),
        ("clock", c.clock),
        ("random", c.random),
        ("kv", c.kv),
        ("events", c.events.is_some()),
        ("stdio", c.stdio),
        ("http", c.http.is_some()),
        ("host_functions", !c.host_functions.is_empty()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| k.to_owned())
    .collect();
    Ok(CatalogEntry {
        name: m.name,
        version: m.version,
        digest,
        publisher: m.publisher,
        description: m.description,
        extension_points: m.extension_points,
        capabilities,
        http_origins: c
            .http
            .iter()
            .flat_map(|h| h.origins.iter().map(|o| o.url.clone()))
            .collect(),
        event_topics: c.events.iter().flat_map(|e| e.topics.clone()).collect(),
        signed_by,
    })
}
