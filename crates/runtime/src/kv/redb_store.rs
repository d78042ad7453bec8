//! [`RedbKv`]: the durable, embedded [`KvStore`] on [`redb`].
//!
//! One file, three tables: `kv_data` (storage key → value), `kv_usage`
//! (namespace prefix → (keys, bytes)) and `kv_meta` (`"format"` → the
//! format version). Every write updates data and usage in one write
//! transaction committed with [`Durability::Immediate`].

use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction,
};

use super::{
    BackendError, KvError, KvPage, KvQuotas, KvStore, KvUsage, Namespace, check_sizes, clamp_limit,
    list_start, page_of, usage_after_delete, usage_after_put,
};

/// Storage key (namespace prefix ‖ guest key) → value.
const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv_data");
/// Namespace prefix → (keys, bytes); absent when the namespace is empty.
const USAGE: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("kv_usage");
/// `"format"` → [`FORMAT`].
const META: TableDefinition<&str, u64> = TableDefinition::new("kv_meta");

/// The version of the on-disk layout: tables, key encoding, usage records.
const FORMAT: u64 = 1;

/// The durable, embedded [`KvStore`]: one [`redb`] database file.
///
/// A `put` or `delete` returns only after its write transaction (data and
/// usage together) has been committed with immediate durability, so an
/// acknowledged write survives a crash. After a crash, opening the file
/// repairs it from the last committed state. Reads run in their own read
/// transactions and do not wait for writers; writers are serialised.
///
/// The file is locked while open: a second [`RedbKv::open`] of the same
/// file, from this process or another, fails until this one is dropped.
pub struct RedbKv {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbKv")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbKv {
    /// Opens the store at `path`, creating the file if it does not exist,
    /// and repairing it if the last process to write it crashed.
    ///
    /// # Errors
    /// [`KvError::Open`] if the file cannot be created, opened or repaired,
    /// or is locked by another open store; [`KvError::UnsupportedFormat`] if
    /// it was written in another format; [`KvError::Storage`] if setting up
    /// its tables fails.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbKv, KvError> {
        RedbKv::open_waiting(path.as_ref(), std::time::Duration::ZERO)
    }

    /// [`RedbKv::open`], waiting up to `wait` while another process has the
    /// file open (a command-line tool run twice at once), trying again
    /// every 50 ms.
    ///
    /// # Errors
    /// As [`RedbKv::open`].
    pub fn open_waiting(
        path: impl AsRef<Path>,
        wait: std::time::Duration,
    ) -> Result<RedbKv, KvError> {
        let path = path.as_ref().to_path_buf();
        let until = std::time::Instant::now() + wait;
        let db = loop {
            match Database::create(&path) {
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if std::time::Instant::now() < until =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => {
                    break other.map_err(|e| KvError::Open {
                        path: path.clone(),
                        source: Box::new(e),
                    })?;
                }
            }
        };
        let txn = begin_write(&db)?;
        {
            txn.open_table(DATA)
                .map_err(storage("open the data table"))?;
            txn.open_table(USAGE)
                .map_err(storage("open the usage table"))?;
            let mut meta = txn
                .open_table(META)
                .map_err(storage("open the meta table"))?;
            let found = meta
                .get("format")
                .map_err(storage("read the format"))?
                .map(|g| g.value());
            match found {
                Some(FORMAT) => {}
                Some(found) => {
                    return Err(KvError::UnsupportedFormat {
                        path,
                        found,
                        supported: FORMAT,
                    });
                }
                None => {
                    meta.insert("format", FORMAT)
                        .map_err(storage("write the format"))?;
                }
            }
        }
        txn.commit().map_err(storage("commit"))?;
        Ok(RedbKv { db, path })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_usage(
        usage: &impl ReadableTable<&'static [u8], (u64, u64)>,
        ns: &Namespace,
    ) -> Result<KvUsage, KvError> {
        Ok(usage
            .get(ns.storage_prefix())
            .map_err(storage("read usage"))?
            .map(|g| {
                let (keys, bytes) = g.value();
                KvUsage { keys, bytes }
            })
            .unwrap_or_default())
    }

    fn write_usage(
        table: &mut Table<'_, &'static [u8], (u64, u64)>,
        ns: &Namespace,
        usage: KvUsage,
    ) -> Result<(), KvError> {
        if usage.keys == 0 {
            table
                .remove(ns.storage_prefix())
                .map_err(storage("write usage"))?;
        } else {
            table
                .insert(ns.storage_prefix(), (usage.keys, usage.bytes))
                .map_err(storage("write usage"))?;
        }
        Ok(())
    }
}

impl KvStore for RedbKv {
    fn get(&self, ns: &Namespace, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let txn = self.db.begin_read().map_err(storage("begin a read"))?;
        let data = txn
            .open_table(DATA)
            .map_err(storage("open the data table"))?;
        let value = data
            .get(ns.storage_key(key).as_slice())
            .map_err(storage("read a value"))?
            .map(|g| g.value().to_vec());
        Ok(value)
    }

    fn put(
        &self,
        ns: &Namespace,
        key: &[u8],
        value: &[u8],
        quotas: &KvQuotas,
    ) -> Result<(), KvError> {
        check_sizes(key, value, quotas)?;
        let storage_key = ns.storage_key(key);
        // On any error below, dropping `txn` uncommitted aborts it.
        let txn = begin_write(&self.db)?;
        {
            let mut data = txn
                .open_table(DATA)
                .map_err(storage("open the data table"))?;
            let mut usage = txn
                .open_table(USAGE)
                .map_err(storage("open the usage table"))?;
            let old = data
                .get(storage_key.as_slice())
                .map_err(storage("read a value"))?
                .map(|g| g.value().len());
            let now = Self::read_usage(&usage, ns)?;
            let next = usage_after_put(now, key, value, old, quotas)?;
            data.insert(storage_key.as_slice(), value)
                .map_err(storage("write a value"))?;
            Self::write_usage(&mut usage, ns, next)?;
        }
        txn.commit().map_err(storage("commit"))
    }

    fn delete(&self, ns: &Namespace, key: &[u8]) -> Result<bool, KvError> {
        let storage_key = ns.storage_key(key);
        let txn = begin_write(&self.db)?;
        {
            let mut data = txn
                .open_table(DATA)
                .map_err(storage("open the data table"))?;
            let mut usage = txn
                .open_table(USAGE)
                .map_err(storage("open the usage table"))?;
            let old = data
                .get(storage_key.as_slice())
                .map_err(storage("read a value"))?
                .map(|g| g.value().len());
            let Some(old_len) = old else {
                return Ok(false);
            };
            let now = Self::read_usage(&usage, ns)?;
            let next = usage_after_delete(now, key, old_len)?;
            data.remove(storage_key.as_slice())
                .map_err(storage("delete a value"))?;
            Self::write_usage(&mut usage, ns, next)?;
        }
        txn.commit().map_err(storage("commit"))?;
        Ok(true)
    }

    fn list(
        &self,
        ns: &Namespace,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<KvPage, KvError> {
        let limit = clamp_limit(limit);
        let full_prefix = ns.storage_key(prefix);
        let (start, exclusive) = list_start(ns, prefix, start_after);
        let lower = if exclusive {
            Bound::Excluded(start.as_slice())
        } else {
            Bound::Included(start.as_slice())
        };
        let txn = self.db.begin_read().map_err(storage("begin a read"))?;
        let data = txn
            .open_table(DATA)
            .map_err(storage("open the data table"))?;
        let range = data
            .range::<&[u8]>((lower, Bound::Unbounded))
            .map_err(storage("list keys"))?;
        let mut keys = Vec::new();
        for entry in range {
            let (k, _) = entry.map_err(storage("list keys"))?;
            let k = k.value();
            if !k.starts_with(&full_prefix) {
                break;
            }
            if let Some(guest) = ns.guest_key(k) {
                keys.push(guest.to_vec());
            }
            // One more than a page tells whether another page follows.
            if keys.len() > limit {
                break;
            }
        }
        Ok(page_of(keys, limit))
    }

    fn usage(&self, ns: &Namespace) -> Result<KvUsage, KvError> {
        let txn = self.db.begin_read().map_err(storage("begin a read"))?;
        let usage = txn
            .open_table(USAGE)
            .map_err(storage("open the usage table"))?;
        Self::read_usage(&usage, ns)
    }
}

/// Begins a write transaction that commits with immediate durability.
fn begin_write(db: &Database) -> Result<WriteTransaction, KvError> {
    let mut txn = db.begin_write().map_err(storage("begin a write"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(storage("set durability"))?;
    Ok(txn)
}

/// Wraps a backend error as [`KvError::Storage`] during `op`.
fn storage<E>(op: &'static str) -> impl FnOnce(E) -> KvError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| KvError::Storage {
        op,
        source: BackendError::from(e),
    }
}
