//! The durable, namespaced, quota-bounded store behind the `kv_*` host
//! functions.
//!
//! ```
//! use bitvault_runtime::kv::{KvQuotas, KvStore, MemoryKv, Namespace};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryKv::new();
//! let ns = Namespace::new("tenant-a", "thumbnailer")?;
//! store.put(&ns, b"size", b"128", &KvQuotas::standard())?;
//! assert_eq!(store.get(&ns, b"size")?, Some(b"128".to_vec()));
//!
//! // Another plugin of the same tenant sees nothing of it.
//! let other = Namespace::new("tenant-a", "indexer")?;
//! assert_eq!(store.get(&other, b"size")?, None);
//! # Ok(()) }
//! ```
//!
//! # Namespaces
//! Every operation names a [`Namespace`], which only the host builds: it is
//! bound to a **tenant** and a **plugin name** — not the plugin's version,
//! so data survives upgrades and rollbacks — and optionally **narrowed** to
//! a path (the triggering object's path, where an extension point supplies
//! one). A guest passes only keys, prefixes and cursors, which are opaque
//! bytes *inside* its namespace.
//!
//! # Key encoding, and why it cannot be escaped
//! A store keeps one flat, byte-ordered key space. The storage key of a
//! guest key is [`Namespace::storage_prefix`] followed by the raw key:
//!
//! ```text
//! u16 BE len(tenant) ‖ tenant ‖ u16 BE len(plugin) ‖ plugin ‖ 0x00                  ‖ key
//! u16 BE len(tenant) ‖ tenant ‖ u16 BE len(plugin) ‖ plugin ‖ 0x01 ‖ u16 BE len(path) ‖ path ‖ key
//! ```
//!
//! Every component is length-prefixed and the path has a presence byte, so
//! the prefix is *self-delimiting*: reading a storage key from its start
//! recovers exactly one namespace, and the key is whatever follows. Hence no
//! namespace's prefix is a proper prefix of another's, and `prefix(A) ‖ k`
//! never equals `prefix(B) ‖ k'` for `A ≠ B`, whatever bytes `k` and `k'`
//! hold. Tenant `a` + plugin `bc` and tenant `ab` + plugin `c` differ in
//! their first length byte; a namespace narrowed to path `p` differs from
//! the un-narrowed one at the presence byte, so a key that merely starts
//! with `p` stays in the un-narrowed namespace. A listing scans only storage
//! keys that start with `prefix(ns) ‖ guest prefix`, which all belong to
//! `ns`.
//!
//! # Quotas and usage
//! [`KvQuotas`] bound key size, value size, the number of keys and the
//! bytes (keys plus values, as the guest sees them) of one namespace. A put
//! that would exceed one is refused with a typed [`KvError`] and the store
//! is left unchanged. Overwriting a key accounts the difference in value
//! size; deleting frees the key and its value. [`KvUsage`] is maintained in
//! the same transaction as the data, never by scanning.
//!
//! # Durability
//! [`RedbKv`], the embedded default, commits every `put` and `delete` in its
//! own write transaction with [`redb`]'s immediate durability (checksummed
//! commit slots, `fsync` before returning): once `put` has returned `Ok`,
//! the write survives a crash of the process or the machine. [`MemoryKv`]
//! keeps everything in memory, for tests and ephemeral hosts.
//!
//! Both implement [`KvStore`], the trait the runtime uses, so a networked
//! store can be added without touching the host functions; it must encode
//! keys with [`Namespace::storage_key`] (or an equally prefix-free scheme)
//! and keep usage transactionally with the data.
//!
//! [`Namespace`]: crate::kv::Namespace
//! [`Namespace::storage_prefix`]: crate::kv::Namespace::storage_prefix
//! [`Namespace::storage_key`]: crate::kv::Namespace::storage_key
//! [`KvQuotas`]: crate::kv::KvQuotas
//! [`KvError`]: crate::kv::KvError
//! [`KvUsage`]: crate::kv::KvUsage
//! [`KvStore`]: crate::kv::KvStore
//! [`RedbKv`]: crate::kv::RedbKv
//! [`MemoryKv`]: crate::kv::MemoryKv
// (Absolute link targets: rustdoc resolves these docs, joined with the
// outer doc on `pub mod kv` in lib.rs, in the crate root's scope.)

mod memory;
mod namespace;
mod redb_store;

use std::path::PathBuf;

use thiserror::Error;

pub use memory::MemoryKv;
pub use namespace::{MAX_PATH_BYTES, MAX_PLUGIN_BYTES, MAX_TENANT_BYTES, Namespace};
pub use redb_store::RedbKv;

/// The most keys one [`KvStore::list`] call returns; larger limits are
/// clamped to it, and a limit of 0 is taken as 1.
pub const MAX_LIST_LIMIT: usize = 1000;

/// A boxed error of a storage backend, kept as the `source` of
/// [`KvError::Open`] and [`KvError::Storage`].
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a KV operation, or building a [`Namespace`], failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KvError {
    /// A namespace's tenant or plugin name is empty.
    #[error("kv namespace {part} is empty")]
    EmptyNamespacePart {
        /// `"tenant"` or `"plugin"`.
        part: &'static str,
    },
    /// A namespace's tenant, plugin name or path is too long.
    #[error("kv namespace {part} is {len} bytes, over the maximum of {max}")]
    NamespacePartTooLong {
        /// `"tenant"`, `"plugin"` or `"path"`.
        part: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// [`Namespace::narrowed`] on a namespace that already has a path.
    #[error("kv namespace is already narrowed to a path")]
    AlreadyNarrowed,
    /// The key is larger than [`KvQuotas::max_key_bytes`].
    #[error("kv key is {len} bytes, over the maximum of {max}")]
    KeyTooLarge {
        /// The key's length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The value is larger than [`KvQuotas::max_value_bytes`].
    #[error("kv value is {len} bytes, over the maximum of {max}")]
    ValueTooLarge {
        /// The value's length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A new key would exceed [`KvQuotas::max_keys`].
    #[error("kv namespace already holds its maximum of {max} keys; delete some first")]
    TooManyKeys {
        /// The maximum number of keys.
        max: u64,
    },
    /// The write would take the namespace over [`KvQuotas::max_bytes`].
    #[error(
        "kv namespace full: {used} bytes used, the write needs {requested} more, \
         the maximum is {max}"
    )]
    NamespaceFull {
        /// Bytes (keys plus values) the namespace holds now.
        used: u64,
        /// Bytes the write would add.
        requested: u64,
        /// The maximum.
        max: u64,
    },
    /// The store's file could not be opened or created.
    #[error("cannot open the kv store at {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The store was written in a format this version does not read.
    #[error("the kv store at {} has format {found}; this version reads format {supported}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The format recorded in the file.
        found: u64,
        /// The format this version reads and writes.
        supported: u64,
    },
    /// The backend failed during an operation. A write that fails this way
    /// was applied entirely or not at all: a failed commit may still have
    /// reached the disk.
    #[error("kv store failed to {op}")]
    Storage {
        /// What was being done, e.g. `"commit"`.
        op: &'static str,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The store's usage records disagree with its data (a bug or an outside
    /// modification of the file); the write was refused and had no effect.
    #[error("kv store is inconsistent: {detail}")]
    Inconsistent {
        /// What disagreed.
        detail: &'static str,
    },
}

/// Per-namespace limits on what a plugin may store. Built by the host from
/// its policy and the plugin's grant; there is deliberately no `Default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvQuotas {
    /// The largest key, in bytes.
    pub max_key_bytes: usize,
    /// The largest value, in bytes.
    pub max_value_bytes: usize,
    /// The most keys one namespace may hold.
    pub max_keys: u64,
    /// The most bytes (keys plus values) one namespace may hold.
    pub max_bytes: u64,
}

impl KvQuotas {
    /// The standard quotas:
    /// - keys up to 1 KiB (`max_key_bytes = 1024`);
    /// - values up to 1 MiB (`max_value_bytes = 1_048_576`);
    /// - at most 10 000 keys per namespace (`max_keys`);
    /// - at most 64 MiB of keys plus values per namespace (`max_bytes`).
    pub const fn standard() -> KvQuotas {
        KvQuotas {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_keys: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What one namespace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KvUsage {
    /// The number of keys.
    pub keys: u64,
    /// Bytes of keys plus values, as the guest sees them (the namespace
    /// prefix is not counted).
    pub bytes: u64,
}

/// One page of a [`KvStore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KvPage {
    /// Keys in byte order, without the namespace prefix.
    pub keys: Vec<Vec<u8>>,
    /// The cursor to pass as `start_after` for the next page; `None` when
    /// this page ends the listing.
    pub next: Option<Vec<u8>>,
}

/// A namespaced, quota-bounded key-value store.
///
/// Implementations are shared between threads and invocations. A write is
/// acknowledged only once it is as durable as the implementation promises
/// (for [`RedbKv`]: committed to disk).
pub trait KvStore: Send + Sync {
    /// The value of `key` in `ns`, if any.
    ///
    /// # Errors
    /// [`KvError::Storage`] if the backend fails.
    fn get(&self, ns: &Namespace, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// Sets `key` to `value` in `ns`, within `quotas`. Overwriting accounts
    /// the difference in value size. When it returns `Ok`, the write is
    /// durable.
    ///
    /// # Errors
    /// [`KvError::KeyTooLarge`], [`KvError::ValueTooLarge`],
    /// [`KvError::TooManyKeys`] or [`KvError::NamespaceFull`] when a quota
    /// refuses the write, and the store is unchanged; [`KvError::Storage`]
    /// or [`KvError::Inconsistent`] if the backend fails, and the write was
    /// then applied entirely or not at all (a failed commit may still have
    /// reached the disk).
    fn put(
        &self,
        ns: &Namespace,
        key: &[u8],
        value: &[u8],
        quotas: &KvQuotas,
    ) -> Result<(), KvError>;

    /// Removes `key` from `ns`; whether it was there. Deleting frees its
    /// bytes and its key slot.
    ///
    /// # Errors
    /// [`KvError::Storage`] or [`KvError::Inconsistent`] if the backend
    /// fails; the delete was then applied entirely or not at all.
    fn delete(&self, ns: &Namespace, key: &[u8]) -> Result<bool, KvError>;

    /// Keys of `ns` that start with `prefix` and sort strictly after
    /// `start_after` (when given), in byte order, at most `limit` of them
    /// (clamped to `1..=`[`MAX_LIST_LIMIT`]). [`KvPage::next`] is the cursor
    /// for the next page.
    ///
    /// # Errors
    /// [`KvError::Storage`] if the backend fails.
    fn list(
        &self,
        ns: &Namespace,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<KvPage, KvError>;

    /// How many keys and bytes `ns` holds.
    ///
    /// # Errors
    /// [`KvError::Storage`] if the backend fails.
    fn usage(&self, ns: &Namespace) -> Result<KvUsage, KvError>;
}

/// Checks the size quotas that need no stored state.
fn check_sizes(key: &[u8], value: &[u8], quotas: &KvQuotas) -> Result<(), KvError> {
    if key.len() > quotas.max_key_bytes {
        return Err(KvError::KeyTooLarge {
            len: key.len(),
            max: quotas.max_key_bytes,
        });
    }
    if value.len() > quotas.max_value_bytes {
        return Err(KvError::ValueTooLarge {
            len: value.len(),
            max: quotas.max_value_bytes,
        });
    }
    Ok(())
}

/// The usage after putting `key = value` over a previous value of
/// `old_value_len` bytes (`None`: a new key), or the quota that refuses it.
/// Writes that do not grow the namespace are always allowed, so a namespace
/// over a since-lowered quota can still shrink.
fn usage_after_put(
    usage: KvUsage,
    key: &[u8],
    value: &[u8],
    old_value_len: Option<usize>,
    quotas: &KvQuotas,
) -> Result<KvUsage, KvError> {
    let new_len = len64(value.len());
    let (keys, old_bytes, new_bytes) = match old_value_len {
        Some(old) => (usage.keys, len64(old), new_len),
        None => {
            if usage.keys >= quotas.max_keys {
                return Err(KvError::TooManyKeys {
                    max: quotas.max_keys,
                });
            }
            (
                usage.keys.saturating_add(1),
                0,
                len64(key.len()).saturating_add(new_len),
            )
        }
    };
    let bytes = if new_bytes > old_bytes {
        let requested = new_bytes - old_bytes;
        match usage.bytes.checked_add(requested) {
            Some(total) if total <= quotas.max_bytes => total,
            _ => {
                return Err(KvError::NamespaceFull {
                    used: usage.bytes,
                    requested,
                    max: quotas.max_bytes,
                });
            }
        }
    } else {
        usage
            .bytes
            .checked_sub(old_bytes - new_bytes)
            .ok_or(KvError::Inconsistent {
                detail: "namespace usage is smaller than a value it holds",
            })?
    };
    Ok(KvUsage { keys, bytes })
}

/// The usage after deleting `key` whose value was `value_len` bytes.
fn usage_after_delete(usage: KvUsage, key: &[u8], value_len: usize) -> Result<KvUsage, KvError> {
    let freed = len64(key.len()).saturating_add(len64(value_len));
    match (usage.keys.checked_sub(1), usage.bytes.checked_sub(freed)) {
        (Some(keys), Some(bytes)) => Ok(KvUsage { keys, bytes }),
        _ => Err(KvError::Inconsistent {
            detail: "namespace usage is smaller than a key it holds",
        }),
    }
}

/// The effective page size of a requested `limit`.
fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_LIST_LIMIT)
}

/// Where a listing of the keys of `ns` under `prefix` starts: the first
/// storage key it may return, and whether that key itself is excluded. The
/// listing then runs while storage keys start with `ns.storage_key(prefix)`;
/// keys with a prefix are contiguous in byte order, so it never skips one.
fn list_start(ns: &Namespace, prefix: &[u8], start_after: Option<&[u8]>) -> (Vec<u8>, bool) {
    match start_after {
        // A cursor at or past the prefix: resume strictly after it. (A
        // cursor past every key with the prefix yields an empty page.)
        Some(after) if after >= prefix => (ns.storage_key(after), true),
        // No cursor, or one before the prefix: start at the prefix itself.
        _ => (ns.storage_key(prefix), false),
    }
}

/// Builds a page from keys (guest keys, in order) that start with the
/// requested prefix, having fetched up to `limit + 1` of them.
fn page_of(mut keys: Vec<Vec<u8>>, limit: usize) -> KvPage {
    if keys.len() > limit {
        keys.truncate(limit);
        let next = keys.last().cloned();
        KvPage { keys, next }
    } else {
        KvPage { keys, next: None }
    }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
