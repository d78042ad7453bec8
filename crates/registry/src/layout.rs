//! The embedded registry: an OCI image-layout directory on disk.
//!
//! ```text
//! ROOT/oci-layout          {"imageLayoutVersion":"1.0.0"}
//! ROOT/index.json          an OCI image index: one entry per tag
//! ROOT/blobs/sha256/<hex>  every manifest and blob, named by its digest
//! ROOT/.tmp/               files being written (same file system)
//! ROOT/.lock               held while index.json is rewritten
//! ```
//!
//! Each tag is an `index.json` entry whose `org.opencontainers.image.ref.name`
//! annotation is `<repository>:<tag>` (`echo:1.0.0`), the fully qualified
//! form the image-layout specification allows, so one directory holds many
//! plugins and shares their blobs.
//!
//! **Atomicity.** A blob is written to a temporary file in `.tmp/`, synced,
//! checked against its digest and renamed into place: a reader sees the
//! whole blob or none. `index.json` is rewritten the same way, under an
//! exclusive lock on `.lock` (an OS file lock, released if the process
//! dies), so concurrent writers in any number of processes never lose each
//! other's tags; readers take no lock, because the rename is atomic.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::oci::{
    Descriptor, Digest, MAX_MANIFEST_BYTES, OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE,
    Progress, REF_NAME_ANNOTATION, Registry, RegistryError, check_repository, check_tag,
};

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const INDEX_FILE: &str = "index.json";
const CHUNK: usize = 1 << 20;

/// An OCI image-layout directory used as a registry.
#[derive(Debug, Clone)]
pub struct LayoutRegistry {
    root: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

fn io(context: &str, path: &Path, e: std::io::Error) -> RegistryError {
    RegistryError::Storage(format!("{context} {}: {e}", path.display()))
}

impl LayoutRegistry {
    /// Opens the layout at `root`, creating it (and its parents) when it
    /// does not exist. A directory that exists but is not an image layout
    /// must be empty.
    ///
    /// # Errors
    /// [`RegistryError::Storage`] when the directory cannot be created, or
    /// holds something else.
    pub fn open(root: impl Into<PathBuf>) -> Result<LayoutRegistry, RegistryError> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs/sha256")).map_err(|e| io("cannot create", &root, e))?;
        fs::create_dir_all(root.join(".tmp")).map_err(|e| io("cannot create", &root, e))?;
        let registry = LayoutRegistry { root };
        let layout = registry.root.join(LAYOUT_FILE);
        match fs::read_to_string(&layout) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| RegistryError::Storage(format!("{}: {e}", layout.display())))?;
                if v["imageLayoutVersion"] != "1.0.0" {
                    return Err(RegistryError::Storage(format!(
                        "{}: unsupported image layout {text}",
                        layout.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                registry.write_atomically(&layout, LAYOUT_CONTENT.as_bytes())?;
            }
            Err(e) => return Err(io("cannot read", &layout, e)),
        }
        if !registry.root.join(INDEX_FILE).exists() {
            let _lock = registry.lock()?;
            if !registry.root.join(INDEX_FILE).exists() {
                registry.write_index(&Index {
                    schema_version: 2,
                    media_type: Some(OCI_INDEX_MEDIA_TYPE.into()),
                    manifests: vec![],
                })?;
            }
        }
        Ok(registry)
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn lock(&self) -> Result<File, RegistryError> {
        let path = self.root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("cannot open", &path, e))?;
        file.lock().map_err(|e| io("cannot lock", &path, e))?;
        Ok(file)
    }

    /// Writes `bytes` to `target` through a synced temporary file and a
    /// rename, then syncs the directory.
    fn write_atomically(&self, target: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
        let mut name = [0u8; 12];
        getrandom::fill(&mut name)
            .map_err(|e| RegistryError::Storage(format!("no randomness for a file name: {e}")))?;
        let tmp = self
            .root
            .join(".tmp")
            .join(name.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let result = (|| {
            let mut file = File::create(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| io("cannot write", &tmp, e))?;
            fs::rename(&tmp, target).map_err(|e| io("cannot rename into", target, e))?;
            if let Some(dir) = target.parent() {
                // Syncing the directory makes the rename durable; some file
                // systems refuse to open a directory for it, which loses
                // durability, not atomicity.
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn read_index(&self) -> Result<Index, RegistryError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Storage(format!("{} is corrupt: {e}", path.display())))?;
        Ok(index)
    }

    fn write_index(&self, index: &Index) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec(index)
            .map_err(|e| RegistryError::Storage(format!("cannot encode the index: {e}")))?;
        self.write_atomically(&self.root.join(INDEX_FILE), &bytes)
    }

    fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), RegistryError> {
        if !digest.matches(bytes) {
            return Err(RegistryError::DigestMismatch {
                what: "blob to store".into(),
                expected: digest.clone(),
                actual: Digest::of(bytes),
            });
        }
        let path = self.blob_path(digest);
        if path.exists() {
            return Ok(());
        }
        self.write_atomically(&path, bytes)
    }

    fn read_blob(
        &self,
        digest: &Digest,
        limit: u64,
        what: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::NotFound(format!("blob {digest}")));
            }
            Err(e) => return Err(io("cannot open", &path, e)),
        };
        let size = file
            .metadata()
            .map_err(|e| io("cannot stat", &path, e))?
            .len();
        if size > limit {
            return Err(RegistryError::TooLarge {
                what: what.to_owned(),
                size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        let mut chunk = vec![0u8; CHUNK.min(size as usize + 1)];
        progress.transfer(what, digest, 0, size);
        loop {
            let n = file
                .read(&mut chunk)
                .map_err(|e| io("cannot read", &path, e))?;
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..n]);
            if bytes.len() as u64 > limit {
                return Err(RegistryError::TooLarge {
                    what: what.to_owned(),
                    size: bytes.len() as u64,
                    limit,
                });
            }
            progress.transfer(
                what,
                digest,
                bytes.len() as u64,
                size.max(bytes.len() as u64),
            );
        }
        if bytes.is_empty() {
            progress.transfer(what, digest, 0, 0);
        }
        Ok(bytes)
    }
}

fn ref_name(repository: &str, tag: &str) -> String {
    format!("{repository}:{tag}")
}

impl Registry for LayoutRegistry {
    fn location(&self) -> String {
        format!("oci-layout:{}", self.root.display())
    }

    fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        bytes: &[u8],
        what: &str,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        check_repository(repository)?;
        let total = bytes.len() as u64;
        progress.transfer(what, digest, 0, total);
        self.write_blob(digest, bytes)?;
        progress.transfer(what, digest, total, total);
        Ok(())
    }

    fn pull_blob(
        &self,
        repository: &str,
        digest: &Digest,
        limit: u64,
        what: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<u8>, RegistryError> {
        check_repository(repository)?;
        self.read_blob(digest, limit, what, progress)
    }

    fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        check_repository(repository)?;
        check_tag(tag)?;
        let digest = Digest::of(bytes);
        let manifest: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::BadManifest(format!("not JSON: {e}")))?;
        // The blobs a manifest names must be here before it is tagged, so
        // that a tag never points at a partial package.
        let named = manifest["config"].as_object().into_iter().chain(
            manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_object()),
        );
        for d in named {
            let digest = Digest::parse(d.get("digest").and_then(|v| v.as_str()).unwrap_or(""))?;
            if !self.blob_path(&digest).exists() {
                return Err(RegistryError::NotFound(format!(
                    "blob {digest} named by the manifest (push blobs first)"
                )));
            }
        }
        self.write_blob(&digest, bytes)?;
        let mut descriptor = Descriptor::of(
            manifest["mediaType"]
                .as_str()
                .unwrap_or(OCI_MANIFEST_MEDIA_TYPE),
            bytes,
        );
        descriptor.artifact_type = manifest["artifactType"].as_str().map(str::to_owned);
        let name = ref_name(repository, tag);
        descriptor
            .annotations
            .insert(REF_NAME_ANNOTATION.into(), name.clone());

        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME_ANNOTATION) != Some(&name));
        index.manifests.push(descriptor);
        self.write_index(&index)?;
        Ok(digest)
    }

    fn pull_manifest(&self, repository: &str, reference: &str) -> Result<Vec<u8>, RegistryError> {
        check_repository(repository)?;
        let digest = if reference.starts_with("sha256:") {
            Digest::parse(reference)?
        } else {
            check_tag(reference)?;
            let name = ref_name(repository, reference);
            self.read_index()?
                .manifests
                .into_iter()
                .find(|d| d.annotations.get(REF_NAME_ANNOTATION) == Some(&name))
                .map(|d| d.digest)
                .ok_or_else(|| RegistryError::NotFound(format!("{name} in {}", self.location())))?
        };
        self.read_blob(&digest, MAX_MANIFEST_BYTES, "manifest", &crate::oci::Quiet)
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        check_repository(repository)?;
        let prefix = format!("{repository}:");
        Ok(self
            .read_index()?
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME_ANNOTATION))
            .filter_map(|n| n.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect())
    }

    fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let mut names: Vec<String> = self
            .read_index()?
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME_ANNOTATION))
            .filter_map(|n| n.rsplit_once(':').map(|(repo, _)| repo.to_owned()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
