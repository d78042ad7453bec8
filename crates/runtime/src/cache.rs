//! Compiled-module caches: in memory, and authenticated artifacts on disk.
//!
//! wasmer's `Module::deserialize` trusts its input: a crafted artifact is
//! native code. An artifact is therefore written with an HMAC-SHA256 over
//! its header and payload under a secret [`CacheKey`], and loaded only after
//! the MAC verifies and the header names the same module digest and engine
//! fingerprint. Anything else (forged, truncated, from another host, key,
//! engine or version) is reported as a rejection and the module is compiled
//! afresh and the artifact rewritten.
//!
//! Artifact layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `BVMOD\0\0\x01` |
//! | 32 | engine fingerprint: SHA-256 of the engine/ABI/metering identity |
//! | 32 | SHA-256 of the original module bytes |
//! | 8 | payload length |
//! | n | wasmer's serialized module |
//! | 32 | HMAC-SHA256 of everything above |
//!
//! This module calls `Module::deserialize`, an `unsafe fn`; it is one of the
//! three modules of the crate allowed to contain `unsafe` code.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use wasmer::{Engine, Module};

/// A SHA-256 digest.
pub type Digest = [u8; 32];

const MAGIC: &[u8; 8] = b"BVMOD\0\0\x01";
const HEADER_LEN: usize = 8 + 32 + 32 + 8;
const MAC_LEN: usize = 32;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// Lower-case hex of a digest.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret that authenticates on-disk artifacts.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey([u8; 32]);

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(<secret>)")
    }
}

impl CacheKey {
    /// A key from 32 secret bytes the embedder keeps.
    pub fn new(bytes: [u8; 32]) -> CacheKey {
        CacheKey(bytes)
    }

    /// A fresh random key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// When the operating system cannot supply random bytes.
    pub fn generate() -> io::Result<CacheKey> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(CacheKey(k))
    }

    /// Reads the key kept at `path`, or creates one there (mode 0600 on
    /// unix). Keep it outside the artifact directory: whoever can read the
    /// key can forge artifacts.
    ///
    /// # Errors
    /// When the file cannot be read or created, or holds other than exactly
    /// 32 bytes.
    pub fn load_or_create(path: &Path) -> io::Result<CacheKey> {
        match fs::read(path) {
            Ok(bytes) => {
                let k: [u8; 32] = bytes.try_into().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "cache key file must hold exactly 32 bytes",
                    )
                })?;
                Ok(CacheKey(k))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = CacheKey::generate()?;
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut opts = fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                match opts.open(path) {
                    Ok(mut f) => {
                        f.write_all(&key.0)?;
                        f.sync_all()?;
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        CacheKey::load_or_create(path)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

/// Why an on-disk artifact was not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Shorter than a header and a MAC, or its length field disagrees.
    Truncated,
    /// The MAC does not verify under this host's key.
    BadMac,
    /// Authentic, but for another engine, ABI or metering version.
    OtherEngine,
    /// Authentic, but for another module.
    OtherModule,
    /// Authentic, but the engine could not load it.
    Undeserializable,
}

/// Where a compiled module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOrigin {
    /// Compiled now; no usable artifact existed.
    Compiled,
    /// Compiled now because the on-disk artifact was rejected.
    Recompiled(Rejection),
    /// Loaded from an authenticated on-disk artifact.
    Disk,
}

pub(crate) struct DiskStore {
    dir: PathBuf,
    key: CacheKey,
    fingerprint: Digest,
}

impl DiskStore {
    pub(crate) fn open(dir: PathBuf, key: CacheKey, fingerprint: Digest) -> io::Result<DiskStore> {
        fs::create_dir_all(&dir)?;
        Ok(DiskStore {
            dir,
            key,
            fingerprint,
        })
    }

    /// The artifact path of a module.
    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.bvmod",
            hex(digest),
            &hex(&self.fingerprint)[..16]
        ))
    }

    /// Loads the artifact of `digest`: `Ok(None)` when there is none,
    /// `Err(rejection)` when there is one that must not be loaded.
    pub(crate) fn load(
        &self,
        digest: &Digest,
        engine: &Engine,
    ) -> Result<Option<Module>, Rejection> {
        let bytes = match fs::read(self.path(digest)) {
            Ok(b) => b,
            Err(_) => return Ok(None),
        };
        if bytes.len() < HEADER_LEN + MAC_LEN {
            return Err(Rejection::Truncated);
        }
        let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut mac = self.key.mac();
        mac.update(body);
        mac.verify_slice(tag).map_err(|_| Rejection::BadMac)?;
        let (header, payload) = body.split_at(HEADER_LEN);
        if &header[..8] != MAGIC || header[8..40] != self.fingerprint {
            return Err(Rejection::OtherEngine);
        }
        if header[40..72] != digest[..] {
            return Err(Rejection::OtherModule);
        }
        let len = u64::from_le_bytes(header[72..80].try_into().expect("8 bytes"));
        if len != payload.len() as u64 {
            return Err(Rejection::Truncated);
        }
        // SAFETY: `Module::deserialize` requires bytes produced by
        // `Module::serialize` of a compatible engine. The MAC above proves
        // this host (the only holder of the key) wrote these exact bytes with
        // `store`, from `Module::serialize`, and the fingerprint proves the
        // same wasmer version, compiler, target features, ABI and metering
        // configuration.
        unsafe { Module::deserialize(engine, payload) }
            .map(Some)
            .map_err(|_| Rejection::Undeserializable)
    }

    /// Writes the artifact of `digest` atomically (temp file, then rename).
    pub(crate) fn store(&self, digest: &Digest, module: &Module) -> io::Result<()> {
        let payload = module
            .serialize()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + MAC_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(digest);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        let mut mac = self.key.mac();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());

        let path = self.path(digest);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&out)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A bounded in-memory map from module digest to compiled module, evicting
/// the least recently used entry.
pub(crate) struct MemoryCache<T> {
    capacity: usize,
    tick: u64,
    entries: HashMap<Digest, (u64, T)>,
}

impl<T: Clone> MemoryCache<T> {
    pub(crate) fn new(capacity: usize) -> MemoryCache<T> {
        MemoryCache {
            capacity,
            tick: 0,
            entries: HashMap::new(),
        }
    }

    pub(crate) fn get(&mut self, digest: &Digest) -> Option<T> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(digest).map(|(used, v)| {
            *used = tick;
            v.clone()
        })
    }

    /// Inserts `value` unless an entry exists; returns the entry kept.
    pub(crate) fn insert(&mut self, digest: Digest, value: T) -> T {
        if let Some(existing) = self.get(&digest) {
            return existing;
        }
        if self.capacity == 0 {
            return value;
        }
        while self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(d, _)| *d)
                .expect("non-empty");
            self.entries.remove(&oldest);
        }
        self.entries.insert(digest, (self.tick, value.clone()));
        value
    }

    pub(crate) fn remove(&mut self, digest: &Digest) {
        self.entries.remove(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cache_evicts_least_recently_used() {
        let mut c = MemoryCache::new(2);
        c.insert([1; 32], 1);
        c.insert([2; 32], 2);
        assert_eq!(c.get(&[1; 32]), Some(1));
        c.insert([3; 32], 3);
        assert_eq!(c.get(&[2; 32]), None);
        assert_eq!(c.get(&[1; 32]), Some(1));
        assert_eq!(c.get(&[3; 32]), Some(3));
    }

    #[test]
    fn first_insert_wins() {
        let mut c = MemoryCache::new(2);
        assert_eq!(c.insert([1; 32], 1), 1);
        assert_eq!(c.insert([1; 32], 9), 1);
    }

    #[test]
    fn key_file_is_created_once_and_reused() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keys/cache.key");
        let a = CacheKey::load_or_create(&path)?;
        let b = CacheKey::load_or_create(&path)?;
        assert_eq!(a, b);
        fs::write(&path, b"short")?;
        assert!(CacheKey::load_or_create(&path).is_err());
        Ok(())
    }
}
