//! Tenant installations: which release of which plugin a tenant runs, what
//! it asked for against what an admin granted (who, when), each tenant's
//! trust policy, and the audit log of every decision and refusal.
//!
//! [`InstallStore`] is the trait a networked store can implement;
//! [`RedbInstallStore`] is the embedded default, one [`redb`] file whose
//! `meta` table records [`INSTALL_SCHEMA`]. A file written in another
//! schema is refused at open rather than misread.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use bitvault_abi::{Grants, Limits};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::oci::Digest;

/// The version of the install store's schema.
pub const INSTALL_SCHEMA: u64 = 1;

/// A plugin installed for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    /// The tenant.
    pub tenant: String,
    /// The plugin's name.
    pub name: String,
    /// The installed version.
    pub version: String,
    /// The OCI manifest digest of the installed release: what is fetched
    /// again to prepare it.
    pub digest: Digest,
    /// The publisher.
    pub publisher: String,
    /// The fingerprint of the key that signed it.
    pub key: String,
    /// The extension points it implements.
    pub extension_points: Vec<String>,
    /// The event types it handles.
    pub event_types: Vec<String>,
    /// What its manifest requests.
    pub requested: Grants,
    /// What the admin granted (never more than requested).
    pub granted: Grants,
    /// The limits its manifest requests, if any.
    pub requested_limits: Option<Limits>,
    /// The limits it runs with: the request bounded by the host's maxima.
    pub limits: Limits,
    /// Configuration values set at install time (read with `config_get`).
    pub config: BTreeMap<String, String>,
    /// Who granted it.
    pub granted_by: String,
    /// When, in seconds since the Unix epoch.
    pub granted_at: u64,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A first install.
    Install,
    /// An upgrade to a higher version.
    Upgrade,
    /// A move to a lower version.
    Rollback,
    /// A change of grants on an installed release.
    Grant,
    /// An uninstall.
    Revoke,
    /// A change to the tenant's trust policy.
    Trust,
    /// An invocation (recorded only when refused).
    Invoke,
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its position in the log, from 1 (set by the store).
    pub seq: u64,
    /// When, in seconds since the Unix epoch.
    pub at: u64,
    /// The tenant.
    pub tenant: String,
    /// Who acted (the admin, or `host` for invocations).
    pub actor: String,
    /// What was done or attempted.
    pub action: AuditAction,
    /// The plugin reference it concerned (`echo@1.0.0`).
    pub plugin: String,
    /// Whether it was done.
    pub allowed: bool,
    /// For a refusal, its stable reason (`bad_signature`,
    /// `capability_not_granted`, …).
    pub reason: Option<String>,
    /// A readable account.
    pub message: String,
}

impl AuditEntry {
    /// An entry stamped now (the store sets `seq`).
    pub fn now(
        tenant: &str,
        actor: &str,
        action: AuditAction,
        plugin: &str,
        outcome: Result<String, (String, String)>,
    ) -> AuditEntry {
        let (allowed, reason, message) = match outcome {
            Ok(message) => (true, None, message),
            Err((reason, message)) => (false, Some(reason), message),
        };
        AuditEntry {
            seq: 0,
            at: unix_now(),
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            action,
            plugin: plugin.to_owned(),
            allowed,
            reason,
            message,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks a tenant name: 1 to 64 of `a-z`, `0-9` and `-`, starting with a
/// letter or digit.
///
/// # Errors
/// [`StoreError::InvalidTenant`].
pub fn check_tenant(tenant: &str) -> Result<(), StoreError> {
    let b = tenant.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidTenant(tenant.chars().take(80).collect()))
    }
}

/// Why the install store failed.
#[derive(Debug)]
pub enum StoreError {
    /// The store file could not be opened (missing directory, locked by
    /// another process, corrupt).
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is open in another process, or by another store in this
    /// one (it is locked while open).
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// The file was written in another schema.
    Schema {
        /// The schema found.
        found: u64,
        /// [`INSTALL_SCHEMA`].
        expected: u64,
    },
    /// A tenant name that breaks the rule of [`check_tenant`].
    InvalidTenant(String),
    /// A read or write failed.
    Storage(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, reason } => {
                write!(
                    f,
                    "cannot open the install store {}: {reason}",
                    path.display()
                )
            }
            StoreError::InUse { path } => write!(
                f,
                "the install store {} is in use by another process",
                path.display()
            ),
            StoreError::Schema { found, expected } => write!(
                f,
                "the install store has schema {found}; this build reads schema {expected}"
            ),
            StoreError::InvalidTenant(t) => write!(
                f,
                "invalid tenant {t:?}: 1 to 64 of a-z, 0-9 and -, not starting with -"
            ),
            StoreError::Storage(why) => write!(f, "install store: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Where installations, trust policies and the audit log are kept.
pub trait InstallStore: Send + Sync {
    /// The tenant's installation of `name`, if any.
    ///
    /// # Errors
    /// [`StoreError`].
    fn installed(&self, tenant: &str, name: &str) -> Result<Option<Installation>, StoreError>;

    /// Every installation, of one tenant or of all, ordered by tenant and
    /// name.
    ///
    /// # Errors
    /// [`StoreError`].
    fn list(&self, tenant: Option<&str>) -> Result<Vec<Installation>, StoreError>;

    /// Makes `installation` the tenant's current one for its plugin, keeps
    /// it in the plugin's history, and appends `entry` to the audit log,
    /// all in one transaction.
    ///
    /// # Errors
    /// [`StoreError`].
    fn record(&self, installation: &Installation, entry: AuditEntry) -> Result<(), StoreError>;

    /// Removes the tenant's installation of `name` (its history stays) and
    /// appends `entry`, in one transaction. Returns what was removed.
    ///
    /// # Errors
    /// [`StoreError`].
    fn remove(
        &self,
        tenant: &str,
        name: &str,
        entry: AuditEntry,
    ) -> Result<Option<Installation>, StoreError>;

    /// Every installation the tenant has had of `name`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    fn history(&self, tenant: &str, name: &str) -> Result<Vec<Installation>, StoreError>;

    /// The tenant's trust policy (TOML, [`crate::TrustPolicy`]'s format), if
    /// one was set.
    ///
    /// # Errors
    /// [`StoreError`].
    fn trust_policy(&self, tenant: &str) -> Result<Option<String>, StoreError>;

    /// Replaces the tenant's trust policy and appends `entry`.
    ///
    /// # Errors
    /// [`StoreError`].
    fn set_trust_policy(
        &self,
        tenant: &str,
        policy_toml: &str,
        entry: AuditEntry,
    ) -> Result<(), StoreError>;

    /// Appends an entry to the audit log; returns its sequence number.
    ///
    /// # Errors
    /// [`StoreError`].
    fn audit(&self, entry: AuditEntry) -> Result<u64, StoreError>;

    /// The audit log, of one tenant or all, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    fn audit_log(&self, tenant: Option<&str>) -> Result<Vec<AuditEntry>, StoreError>;
}

/// `tenant/name` → the current installation (JSON).
const INSTALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("installs");
/// `tenant/name/<seq, 20 digits>` → a past or current installation (JSON).
const HISTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("history");
/// Sequence number → audit entry (JSON).
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Tenant → trust policy (TOML).
const TRUST: TableDefinition<&str, &str> = TableDefinition::new("trust");
/// `"schema"` → [`INSTALL_SCHEMA`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The embedded [`InstallStore`]: one [`redb`] file, every change committed
/// durably before it returns. The file is locked while open.
pub struct RedbInstallStore {
    db: Database,
}

impl fmt::Debug for RedbInstallStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbInstallStore").finish_non_exhaustive()
    }
}

fn storage<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Storage(format!("{what}: {e}"))
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(storage("encode"))
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(storage("decode a record"))
}

fn install_key(tenant: &str, name: &str) -> String {
    format!("{tenant}/{name}")
}

impl RedbInstallStore {
    /// [`RedbInstallStore::open`], waiting up to `wait` while another
    /// process has the store open (a command-line tool run twice at once),
    /// trying again every 50 ms.
    ///
    /// # Errors
    /// As [`RedbInstallStore::open`]; [`StoreError::InUse`] when the store
    /// is still in use after `wait`.
    pub fn open_waiting(
        path: impl AsRef<Path>,
        wait: std::time::Duration,
    ) -> Result<RedbInstallStore, StoreError> {
        let until = std::time::Instant::now() + wait;
        loop {
            match RedbInstallStore::open(path.as_ref()) {
                Err(StoreError::InUse { .. }) if std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Opens the store at `path`, creating it if it does not exist.
    ///
    /// # Errors
    /// [`StoreError::InUse`] when another store has it open,
    /// [`StoreError::Open`], or [`StoreError::Schema`] for a file of
    /// another schema.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbInstallStore, StoreError> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.to_path_buf(),
            },
            e => StoreError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
        })?;
        let txn = db.begin_write().map_err(storage("begin"))?;
        {
            txn.open_table(INSTALLS).map_err(storage("open installs"))?;
            txn.open_table(HISTORY).map_err(storage("open history"))?;
            txn.open_table(AUDIT).map_err(storage("open audit"))?;
            txn.open_table(TRUST).map_err(storage("open trust"))?;
            let mut meta = txn.open_table(META).map_err(storage("open meta"))?;
            let found = meta
                .get("schema")
                .map_err(storage("read the schema"))?
                .map(|g| g.value());
            match found {
                Some(v) if v != INSTALL_SCHEMA => {
                    return Err(StoreError::Schema {
                        found: v,
                        expected: INSTALL_SCHEMA,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert("schema", INSTALL_SCHEMA)
                        .map_err(storage("write the schema"))?;
                }
            }
        }
        txn.commit().map_err(storage("commit"))?;
        Ok(RedbInstallStore { db })
    }

    fn next_audit(
        table: &mut redb::Table<'_, u64, &[u8]>,
        mut entry: AuditEntry,
    ) -> Result<u64, StoreError> {
        let seq = table
            .last()
            .map_err(storage("read the audit log"))?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(1);
        entry.seq = seq;
        table
            .insert(seq, json(&entry)?.as_slice())
            .map_err(storage("append to the audit log"))?;
        Ok(seq)
    }
}

impl InstallStore for RedbInstallStore {
    fn installed(&self, tenant: &str, name: &str) -> Result<Option<Installation>, StoreError> {
        check_tenant(tenant)?;
        let txn = self.db.begin_read().map_err(storage("begin"))?;
        let table = txn.open_table(INSTALLS).map_err(storage("open installs"))?;
        table
            .get(install_key(tenant, name).as_str())
            .map_err(storage("read"))?
            .map(|g| parse(g.value()))
            .transpose()
    }

    fn list(&self, tenant: Option<&str>) -> Result<Vec<Installation>, StoreError> {
        if let Some(t) = tenant {
            check_tenant(t)?;
        }
        let txn = self.db.begin_read().map_err(storage("begin"))?;
        let table = txn.open_table(INSTALLS).map_err(storage("open installs"))?;
        let prefix = tenant.map(|t| format!("{t}/"));
        let mut out = Vec::new();
        for row in table.iter().map_err(storage("list"))? {
            let (k, v) = row.map_err(storage("list"))?;
            if prefix.as_deref().is_none_or(|p| k.value().starts_with(p)) {
                out.push(parse(v.value())?);
            }
        }
        Ok(out)
    }

    fn record(&self, installation: &Installation, entry: AuditEntry) -> Result<(), StoreError> {
        check_tenant(&installation.tenant)?;
        let key = install_key(&installation.tenant, &installation.name);
        let bytes = json(installation)?;
        let txn = self.db.begin_write().map_err(storage("begin"))?;
        {
            let mut installs = txn.open_table(INSTALLS).map_err(storage("open installs"))?;
            installs
                .insert(key.as_str(), bytes.as_slice())
                .map_err(storage("write the installation"))?;
            let mut history = txn.open_table(HISTORY).map_err(storage("open history"))?;
            let prefix = format!("{key}/");
            let next = history
                .range(prefix.as_str()..)
                .map_err(storage("read history"))?
                .take_while(|r| {
                    r.as_ref()
                        .is_ok_and(|(k, _)| k.value().starts_with(&prefix))
                })
                .count();
            let hkey = format!("{prefix}{next:020}");
            history
                .insert(hkey.as_str(), bytes.as_slice())
                .map_err(storage("write history"))?;
            let mut audit = txn.open_table(AUDIT).map_err(storage("open audit"))?;
            Self::next_audit(&mut audit, entry)?;
        }
        txn.commit().map_err(storage("commit"))
    }

    fn remove(
        &self,
        tenant: &str,
        name: &str,
        entry: AuditEntry,
    ) -> Result<Option<Installation>, StoreError> {
        check_tenant(tenant)?;
        let txn = self.db.begin_write().map_err(storage("begin"))?;
        let removed = {
            let mut installs = txn.open_table(INSTALLS).map_err(storage("open installs"))?;
            let removed = installs
                .remove(install_key(tenant, name).as_str())
                .map_err(storage("remove"))?
                .map(|g| parse::<Installation>(g.value()))
                .transpose()?;
            let mut audit = txn.open_table(AUDIT).map_err(storage("open audit"))?;
            Self::next_audit(&mut audit, entry)?;
            removed
        };
        txn.commit().map_err(storage("commit"))?;
        Ok(removed)
    }

    fn history(&self, tenant: &str, name: &str) -> Result<Vec<Installation>, StoreError> {
        check_tenant(tenant)?;
        let txn = self.db.begin_read().map_err(storage("begin"))?;
        let table = txn.open_table(HISTORY).map_err(storage("open history"))?;
        let prefix = format!("{}/", install_key(tenant, name));
        let mut out = Vec::new();
        for row in table
            .range(prefix.as_str()..)
            .map_err(storage("read history"))?
        {
            let (k, v) = row.map_err(storage("read history"))?;
            if !k.value().starts_with(&prefix) {
                break;
            }
            out.push(parse(v.value())?);
        }
        Ok(out)
    }

    fn trust_policy(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        check_tenant(tenant)?;
        let txn = self.db.begin_read().map_err(storage("begin"))?;
        let table = txn.open_table(TRUST).map_err(storage("open trust"))?;
        Ok(table
            .get(tenant)
            .map_err(storage("read the trust policy"))?
            .map(|g| g.value().to_owned()))
    }

    fn set_trust_policy(
        &self,
        tenant: &str,
        policy_toml: &str,
        entry: AuditEntry,
    ) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let txn = self.db.begin_write().map_err(storage("begin"))?;
        {
            let mut table = txn.open_table(TRUST).map_err(storage("open trust"))?;
            table
                .insert(tenant, policy_toml)
                .map_err(storage("write the trust policy"))?;
            let mut audit = txn.open_table(AUDIT).map_err(storage("open audit"))?;
            Self::next_audit(&mut audit, entry)?;
        }
        txn.commit().map_err(storage("commit"))
    }

    fn audit(&self, entry: AuditEntry) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(storage("begin"))?;
        let seq = {
            let mut audit = txn.open_table(AUDIT).map_err(storage("open audit"))?;
            Self::next_audit(&mut audit, entry)?
        };
        txn.commit().map_err(storage("commit"))?;
        Ok(seq)
    }

    fn audit_log(&self, tenant: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(storage("begin"))?;
        let table = txn.open_table(AUDIT).map_err(storage("open audit"))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(storage("read the audit log"))? {
            let (_, v) = row.map_err(storage("read the audit log"))?;
            let entry: AuditEntry = parse(v.value())?;
            if tenant.is_none_or(|t| entry.tenant == t) {
                out.push(entry);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_of_another_schema_is_refused_not_misread() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("installs.redb");
        drop(RedbInstallStore::open(&path)?);
        {
            let db = Database::create(&path)?;
            let txn = db.begin_write()?;
            txn.open_table(META)?.insert("schema", INSTALL_SCHEMA + 1)?;
            txn.commit()?;
        }
        match RedbInstallStore::open(&path) {
            Err(StoreError::Schema { found, expected }) => {
                assert_eq!((found, expected), (INSTALL_SCHEMA + 1, INSTALL_SCHEMA));
            }
            other => panic!("expected a schema refusal, got {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn an_open_store_is_in_use_until_closed_and_a_waiting_open_gets_it()
    -> Result<(), Box<dyn std::error::Error>> {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("installs.redb");
        let first = RedbInstallStore::open(&path)?;
        assert!(matches!(
            RedbInstallStore::open(&path),
            Err(StoreError::InUse { .. })
        ));
        let start = Instant::now();
        let err = RedbInstallStore::open_waiting(&path, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            drop(first);
        });
        RedbInstallStore::open_waiting(&path, Duration::from_secs(10))?;
        closer.join().map_err(|_| "the closing thread panicked")?;
        Ok(())
    }

    #[test]
    fn tenant_names_cannot_reach_into_other_keys() {
        for bad in ["", "a/b", "A", "-a", "a b", "../x", &"x".repeat(65)] {
            assert!(check_tenant(bad).is_err(), "{bad:?}");
        }
        assert!(check_tenant("tenant-1").is_ok());
    }
}
