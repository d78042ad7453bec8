//! [`MemoryKv`]: the in-memory [`KvStore`], for tests and ephemeral hosts.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use super::{
    KvError, KvPage, KvQuotas, KvStore, KvUsage, Namespace, check_sizes, clamp_limit, list_start,
    page_of, usage_after_delete, usage_after_put,
};

/// A [`KvStore`] held in memory: a byte-ordered map of storage keys under
/// one mutex. Nothing survives the value; "durable" means "visible to the
/// next call".
#[derive(Debug, Default)]
pub struct MemoryKv {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Storage key (namespace prefix ‖ guest key) → value.
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Namespace prefix → usage; absent when the namespace is empty.
    usage: HashMap<Vec<u8>, KvUsage>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation checks before it mutates and its mutations cannot
        // fail half-way, so a poisoned lock still guards consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvStore for MemoryKv {
    fn get(&self, ns: &Namespace, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().data.get(&ns.storage_key(key)).cloned())
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
        let mut inner = self.lock();
        let usage = inner
            .usage
            .get(ns.storage_prefix())
            .copied()
            .unwrap_or_default();
        let old = inner.data.get(&storage_key).map(Vec::len);
        let usage = usage_after_put(usage, key, value, old, quotas)?;
        inner.data.insert(storage_key, value.to_vec());
        inner.usage.insert(ns.storage_prefix().to_vec(), usage);
        Ok(())
    }

    fn delete(&self, ns: &Namespace, key: &[u8]) -> Result<bool, KvError> {
        let storage_key = ns.storage_key(key);
        let mut inner = self.lock();
        let Some(old_len) = inner.data.get(&storage_key).map(Vec::len) else {
            return Ok(false);
        };
        let usage = inner
            .usage
            .get(ns.storage_prefix())
            .copied()
            .unwrap_or_default();
        let usage = usage_after_delete(usage, key, old_len)?;
        inner.data.remove(&storage_key);
        if usage.keys == 0 {
            inner.usage.remove(ns.storage_prefix());
        } else {
            inner.usage.insert(ns.storage_prefix().to_vec(), usage);
        }
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
            Bound::Excluded(start)
        } else {
            Bound::Included(start)
        };
        let inner = self.lock();
        let keys = inner
            .data
            .range((lower, Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&full_prefix))
            .filter_map(|k| ns.guest_key(k).map(<[u8]>::to_vec))
            .take(limit + 1)
            .collect();
        Ok(page_of(keys, limit))
    }

    fn usage(&self, ns: &Namespace) -> Result<KvUsage, KvError> {
        Ok(self
            .lock()
            .usage
            .get(ns.storage_prefix())
            .copied()
            .unwrap_or_default())
    }
}
