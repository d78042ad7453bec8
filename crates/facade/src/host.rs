//! [`PluginHost`]: plugins installed per tenant from a signed registry,
//! admitted in one fixed order, prepared once and invoked through the typed
//! extension points.
//!
//! The admission pipeline, nothing compiled before it passes:
//!
//! 1. resolve the reference (`name`, `name@1.2.0`, `name@sha256:…`) to an
//!    OCI manifest digest;
//! 2. fetch the manifest and its blobs by digest, within size limits;
//! 3. check every blob against the digest and size that named it;
//! 4. verify the package signature against the tenant's trust policy;
//! 5. check the grant against the request (a grant never exceeds it) and
//!    the requested limits against the host's maxima;
//! 6. inspect the module without compiling it: admission limits, imports
//!    against the grant, exports against the declared extension points;
//! 7. compile (or take the compiled module from the cache) and prepare.
//!
//! Each refusal is an [`AdmissionError`] with a stable
//! [`reason`](AdmissionError::reason), and is appended to the tenant's
//! audit log.
//!
//! A prepared plugin is kept per (tenant, plugin). Revoking it, changing its
//! grant, upgrading it or changing the tenant's trust policy invalidates
//! it: the next call through any handle is refused with
//! [`CallError::Invalidated`] (calls already running finish), and the next
//! [`PluginHost::plugin`] runs the whole pipeline again, so a plugin whose
//! key was revoked is no longer admitted.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bitvault_abi::{ABI_VERSION, Grants, LimitName, Limits};
use bitvault_extpoints::{ExtError, ExtLoadError, ExtPlugin, Invocation, MissingExports, Point};
use bitvault_registry::oci::{Progress, Quiet, Registry, RegistryError};
use bitvault_registry::{
    AuditAction, AuditEntry, Fetched, InstallStore, Installation, PackageError, Reference,
    Selector, StoreError, TrustPolicy, Verified, fetch_package, review, verify,
};
use bitvault_runtime::events::{EventBus, EventLimits};
use bitvault_runtime::extism::VarStore;
use bitvault_runtime::http::{HttpClient, HttpLimits};
use bitvault_runtime::kv::{KvQuotas, KvStore};
use bitvault_runtime::net::Resolver;
use bitvault_runtime::{CallContext, LoadError, LogSink, PluginConfig, Runtime};

/// What an admin grants when installing, upgrading or re-granting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Everything the package requests (the admin reviewed it).
    AsRequested,
    /// Exactly these grants; more than requested is refused.
    Exactly(Grants),
    /// On upgrade: keep the current grant. Refused when the new release
    /// requests a capability the current grant lacks, so that it is
    /// reviewed.
    Keep,
}

/// Whether the tenant must already have the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expect {
    /// Either: a first install, or a move of an installed plugin.
    #[default]
    Any,
    /// A first install: an installed plugin is refused (`already_installed`).
    New,
    /// An upgrade (or forced rollback): a plugin not installed is refused
    /// (`not_installed`).
    Installed,
}

/// An install, upgrade or rollback to carry out.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The tenant.
    pub tenant: String,
    /// The release.
    pub reference: Reference,
    /// What is granted.
    pub grant: Grant,
    /// Configuration values for `config_get`; `None` keeps the current
    /// ones on upgrade (and means none on install).
    pub config: Option<PluginConfig>,
    /// Who acts, for the record.
    pub actor: String,
    /// Allows a move to a lower version.
    pub force: bool,
    /// Whether the tenant must already have the plugin.
    pub expect: Expect,
}

impl InstallRequest {
    /// A request to install `reference` for `tenant`, granting what it asks.
    pub fn new(tenant: &str, reference: Reference, actor: &str) -> InstallRequest {
        InstallRequest {
            tenant: tenant.to_owned(),
            reference,
            grant: Grant::AsRequested,
            config: None,
            actor: actor.to_owned(),
            force: false,
            expect: Expect::Any,
        }
    }
}

/// Why a plugin was not admitted, installed or invoked.
#[derive(Debug)]
pub enum AdmissionError {
    /// Resolving or fetching failed, or a fetched byte did not match its
    /// digest or size.
    Registry(RegistryError),
    /// The tenant has no trust policy, so nothing is trusted.
    NoTrustPolicy {
        /// The tenant.
        tenant: String,
    },
    /// The tenant's stored trust policy does not parse.
    TrustPolicy(String),
    /// The package failed verification (signature, trust, digests).
    Package(PackageError),
    /// The package targets another ABI version.
    AbiVersion {
        /// The manifest's.
        found: u32,
    },
    /// The manifest names an extension point this host does not know.
    UnknownPoint(String),
    /// The grant gives more than the package requests.
    GrantExceedsRequest {
        /// Each excess, named.
        excess: Vec<String>,
    },
    /// The requested limits exceed the host's maxima.
    LimitsExceedHost {
        /// Each limit over its maximum, with the value requested.
        limits: Vec<(LimitName, u64)>,
    },
    /// The module failed inspection or compilation: malformed, over an
    /// admission limit, or importing what is not granted.
    Module(LoadError),
    /// The module lacks exports of an extension point it declares.
    Exports(MissingExports),
    /// An export of a declared point has the wrong type.
    ExportType(String),
    /// The plugin is not installed for the tenant.
    NotInstalled {
        /// The tenant.
        tenant: String,
        /// The plugin.
        name: String,
    },
    /// `install` of a plugin the tenant already has.
    AlreadyInstalled {
        /// The installed version.
        version: String,
    },
    /// A move below the installed version without `force`.
    Rollback {
        /// The installed version.
        installed: String,
        /// The version asked for.
        target: String,
    },
    /// An upgrade that keeps the current grant, while the new release asks
    /// for more: it must be reviewed.
    ReviewRequired {
        /// The capabilities requested beyond the current grant.
        new: Vec<String>,
    },
    /// The install store failed.
    Store(StoreError),
}

impl AdmissionError {
    /// A short, stable reason, as kept in the audit log and printed by the
    /// CLI's `--json`.
    pub fn reason(&self) -> String {
        match self {
            AdmissionError::Registry(e) => e.reason().to_owned(),
            AdmissionError::NoTrustPolicy { .. } => "no_trust_policy".into(),
            AdmissionError::TrustPolicy(_) => "bad_trust_policy".into(),
            AdmissionError::Package(e) => e.reason().to_owned(),
            AdmissionError::AbiVersion { .. } => "abi_version".into(),
            AdmissionError::UnknownPoint(_) => "unknown_extension_point".into(),
            AdmissionError::GrantExceedsRequest { .. } => "grant_exceeds_request".into(),
            AdmissionError::LimitsExceedHost { .. } => "limits_exceed_host".into(),
            AdmissionError::Module(LoadError::CapabilityDenied { .. }) => {
                "capability_not_granted".into()
            }
            AdmissionError::Module(LoadError::InvalidGrant { .. }) => "invalid_grant".into(),
            AdmissionError::Module(_) => "invalid_module".into(),
            AdmissionError::Exports(_) | AdmissionError::ExportType(_) => "missing_exports".into(),
            AdmissionError::NotInstalled { .. } => "not_installed".into(),
            AdmissionError::AlreadyInstalled { .. } => "already_installed".into(),
            AdmissionError::Rollback { .. } => "rollback_refused".into(),
            AdmissionError::ReviewRequired { .. } => "review_required".into(),
            AdmissionError::Store(_) => "store".into(),
        }
    }
}

impl fmt::Display for AdmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmissionError::Registry(e) => e.fmt(f),
            AdmissionError::NoTrustPolicy { tenant } => write!(
                f,
                "tenant {tenant} has no trust policy: no publisher is trusted"
            ),
            AdmissionError::TrustPolicy(e) => write!(f, "the tenant's trust policy: {e}"),
            AdmissionError::Package(e) => e.fmt(f),
            AdmissionError::AbiVersion { found } => write!(
                f,
                "the package targets ABI version {found}; this host speaks {ABI_VERSION}"
            ),
            AdmissionError::UnknownPoint(p) => write!(f, "unknown extension point {p:?}"),
            AdmissionError::GrantExceedsRequest { excess } => write!(
                f,
                "the grant gives what the package does not request: {}",
                excess.join("; ")
            ),
            AdmissionError::LimitsExceedHost { limits } => {
                write!(f, "requested limits exceed the host's maxima:")?;
                for (name, v) in limits {
                    write!(f, " {name} {v}")?;
                }
                Ok(())
            }
            AdmissionError::Module(e) => e.fmt(f),
            AdmissionError::Exports(e) => e.fmt(f),
            AdmissionError::ExportType(e) => f.write_str(e),
            AdmissionError::NotInstalled { tenant, name } => {
                write!(f, "{name} is not installed for tenant {tenant}")
            }
            AdmissionError::AlreadyInstalled { version } => {
                write!(f, "{version} is already the installed version")
            }
            AdmissionError::Rollback { installed, target } => write!(
                f,
                "{target} is below the installed {installed}: a rollback must be forced"
            ),
            AdmissionError::ReviewRequired { new } => write!(
                f,
                "the new release requests capabilities the current grant lacks, to be reviewed: {}",
                new.join("; ")
            ),
            AdmissionError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AdmissionError {}

impl From<RegistryError> for AdmissionError {
    fn from(e: RegistryError) -> Self {
        AdmissionError::Registry(e)
    }
}

impl From<StoreError> for AdmissionError {
    fn from(e: StoreError) -> Self {
        AdmissionError::Store(e)
    }
}

impl From<ExtLoadError> for AdmissionError {
    fn from(e: ExtLoadError) -> Self {
        match e {
            ExtLoadError::Load(e) => AdmissionError::Module(e),
            ExtLoadError::MissingExports(e) => AdmissionError::Exports(e),
            e @ ExtLoadError::ExportType { .. } => AdmissionError::ExportType(e.to_string()),
        }
    }
}

/// Why a call through an [`InstalledPlugin`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The handle was invalidated (revoked, re-granted, upgraded, trust
    /// changed) before this call started; get a new one with
    /// [`PluginHost::plugin`].
    #[error("{name} for tenant {tenant} was revoked or changed; the call was not started")]
    Invalidated {
        /// The tenant.
        tenant: String,
        /// The plugin.
        name: String,
    },
    /// The call itself failed.
    #[error(transparent)]
    Ext(#[from] ExtError),
}

/// A package that passed every admission step.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The OCI manifest digest.
    pub digest: bitvault_registry::oci::Digest,
    /// The verified package.
    pub verified: Verified,
    /// The grant it runs under.
    pub granted: Grants,
    /// The limits it runs with.
    pub limits: Limits,
    /// The prepared plugin.
    pub plugin: ExtPlugin,
}

struct Live {
    installation: Installation,
    plugin: ExtPlugin,
    valid: AtomicBool,
}

/// A plugin installed for a tenant, ready to call. Cheap to clone.
#[derive(Clone)]
pub struct InstalledPlugin {
    live: Arc<Live>,
    base: CallContext,
}

impl fmt::Debug for InstalledPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstalledPlugin")
            .field("tenant", &self.live.installation.tenant)
            .field("name", &self.live.installation.name)
            .field("version", &self.live.installation.version)
            .finish_non_exhaustive()
    }
}

impl InstalledPlugin {
    /// The installation it was prepared from.
    pub fn installation(&self) -> &Installation {
        &self.live.installation
    }

    /// The extension points it implements.
    pub fn points(&self) -> &[Point] {
        self.live.plugin.points()
    }

    /// Whether calls through this handle still start.
    pub fn is_valid(&self) -> bool {
        self.live.valid.load(Ordering::Acquire)
    }

    /// A fresh invocation context: the installation's tenant, plugin,
    /// limits and configuration, and the host's providers for what is
    /// granted.
    pub fn invocation(&self) -> Invocation {
        Invocation::new(self.base.clone())
    }

    /// Calls the plugin through one of its extension point traits, with
    /// [`InstalledPlugin::invocation`]:
    /// `plugin.call(|p, inv| p.transform(inv, request))`.
    ///
    /// # Errors
    /// [`CallError::Invalidated`] when the handle was invalidated before
    /// the call; the call's [`ExtError`] otherwise.
    pub fn call<R>(
        &self,
        f: impl FnOnce(&ExtPlugin, &Invocation) -> Result<R, ExtError>,
    ) -> Result<R, CallError> {
        self.call_with(self.invocation(), f)
    }

    /// As [`InstalledPlugin::call`], with an invocation the caller built
    /// (from [`InstalledPlugin::invocation`], with a path or a time set).
    ///
    /// # Errors
    /// As [`InstalledPlugin::call`].
    pub fn call_with<R>(
        &self,
        inv: Invocation,
        f: impl FnOnce(&ExtPlugin, &Invocation) -> Result<R, ExtError>,
    ) -> Result<R, CallError> {
        if !self.is_valid() {
            return Err(CallError::Invalidated {
                tenant: self.live.installation.tenant.clone(),
                name: self.live.installation.name.clone(),
            });
        }
        Ok(f(&self.live.plugin, &inv)?)
    }
}

/// The capability providers a host hands to the plugins it grants them to.
#[derive(Clone, Default)]
pub struct Providers {
    /// The key-value store, with its quotas.
    pub kv: Option<(Arc<dyn KvStore>, KvQuotas)>,
    /// The event bus, with its limits.
    pub events: Option<(Arc<dyn EventBus>, EventLimits)>,
    /// The HTTP client, its resolver and its limits.
    pub http: Option<(HttpClient, Arc<dyn Resolver>, HttpLimits)>,
    /// Where Extism-style plugins granted `kv` keep their variables, and
    /// the most bytes each (tenant, plugin) may keep.
    pub vars: Option<(Arc<dyn VarStore>, u64)>,
    /// Where plugin logs go (the runtime's tracing sink when `None`).
    pub log: Option<Arc<dyn LogSink>>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("kv", &self.kv.is_some())
            .field("events", &self.events.is_some())
            .field("http", &self.http.is_some())
            .field("vars", &self.vars.is_some())
            .field("log", &self.log.is_some())
            .finish()
    }
}

/// Plugins installed per tenant from a registry, under trust policies and
/// grants kept in an install store.
pub struct PluginHost {
    runtime: Runtime,
    registry: Arc<dyn Registry>,
    store: Arc<dyn InstallStore>,
    providers: Providers,
    prepared: Mutex<HashMap<(String, String), Arc<Live>>>,
}

impl fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHost")
            .field("registry", &self.registry.location())
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

fn audit_outcome<T>(
    result: &Result<T, AdmissionError>,
    ok: &str,
) -> Result<String, (String, String)> {
    match result {
        Ok(_) => Ok(ok.to_owned()),
        Err(e) => Err((e.reason(), e.to_string())),
    }
}

impl PluginHost {
    /// A host over `runtime`, fetching from `registry` and keeping
    /// installations in `store`.
    pub fn new(
        runtime: Runtime,
        registry: Arc<dyn Registry>,
        store: Arc<dyn InstallStore>,
        providers: Providers,
    ) -> PluginHost {
        PluginHost {
            runtime,
            registry,
            store,
            providers,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The registry.
    pub fn registry(&self) -> &dyn Registry {
        &*self.registry
    }

    /// The install store (installations, history, trust policies, audit).
    pub fn store(&self) -> &dyn InstallStore {
        &*self.store
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<Live>>> {
        // A panic while holding the map leaves it consistent (single
        // inserts and removes), so a poisoned lock is still usable.
        self.prepared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn invalidate(&self, tenant: &str, name: Option<&str>) {
        let mut map = self.lock();
        map.retain(|(t, n), live| {
            let hit = t == tenant && name.is_none_or(|x| x == n);
            if hit {
                live.valid.store(false, Ordering::Release);
            }
            !hit
        });
    }

    /// The tenant's trust policy.
    ///
    /// # Errors
    /// [`AdmissionError::NoTrustPolicy`], [`AdmissionError::TrustPolicy`].
    pub fn trust_policy(&self, tenant: &str) -> Result<TrustPolicy, AdmissionError> {
        let text =
            self.store
                .trust_policy(tenant)?
                .ok_or_else(|| AdmissionError::NoTrustPolicy {
                    tenant: tenant.to_owned(),
                })?;
        TrustPolicy::from_toml(&text).map_err(|e| AdmissionError::TrustPolicy(e.to_string()))
    }

    /// Replaces the tenant's trust policy (TOML), after checking it parses.
    /// Every plugin prepared for the tenant is invalidated, so the next
    /// call verifies again under the new policy.
    ///
    /// # Errors
    /// [`AdmissionError::TrustPolicy`], [`AdmissionError::Store`].
    pub fn set_trust_policy(
        &self,
        tenant: &str,
        policy_toml: &str,
        actor: &str,
    ) -> Result<(), AdmissionError> {
        let policy = TrustPolicy::from_toml(policy_toml)
            .map_err(|e| AdmissionError::TrustPolicy(e.to_string()))?;
        let keys: usize = policy.publishers.values().map(|p| p.keys.len()).sum();
        let entry = AuditEntry::now(
            tenant,
            actor,
            AuditAction::Trust,
            "-",
            Ok(format!(
                "trust policy set: publishers {}, keys {keys}",
                policy.publishers.len()
            )),
        );
        self.store.set_trust_policy(tenant, policy_toml, entry)?;
        self.invalidate(tenant, None);
        Ok(())
    }

    /// Runs the admission pipeline for `reference` under `grant` for
    /// `tenant`, without recording anything.
    ///
    /// # Errors
    /// The first step that refuses, as an [`AdmissionError`].
    pub fn admit(
        &self,
        tenant: &str,
        reference: &Reference,
        grant: &Grants,
        progress: &dyn Progress,
    ) -> Result<Admitted, AdmissionError> {
        // 1–3: resolve, fetch by digest, check every digest and size.
        let fetched = fetch_package(&*self.registry, reference, progress)?;
        self.admit_fetched(tenant, &fetched, grant)
    }

    /// Steps 4 to 7 of the pipeline, for a package already fetched (and
    /// its digests checked) by [`fetch_package`].
    ///
    /// # Errors
    /// The first step that refuses, as an [`AdmissionError`].
    pub fn admit_fetched(
        &self,
        tenant: &str,
        fetched: &Fetched,
        grant: &Grants,
    ) -> Result<Admitted, AdmissionError> {
        // 4: signature and trust.
        let policy = self.trust_policy(tenant)?;
        let verified = verify(fetched.bytes(), &policy).map_err(AdmissionError::Package)?;
        let manifest = &verified.manifest;
        if manifest.abi_version != ABI_VERSION {
            return Err(AdmissionError::AbiVersion {
                found: manifest.abi_version,
            });
        }
        // 5: the grant against the request, the limits against the host.
        let excess = review::excess(grant, &manifest.capabilities);
        if !excess.is_empty() {
            return Err(AdmissionError::GrantExceedsRequest { excess });
        }
        let policy_limits = &self.runtime.config().limits;
        let limits = match &manifest.limits {
            Some(l) => {
                let over = l.exceeding(&policy_limits.max);
                if !over.is_empty() {
                    return Err(AdmissionError::LimitsExceedHost { limits: over });
                }
                *l
            }
            None => policy_limits.default,
        };
        let points = manifest
            .extension_points
            .iter()
            .map(|p| Point::from_name(p).ok_or_else(|| AdmissionError::UnknownPoint(p.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        // 6: inspect without compiling.
        let report = self
            .runtime
            .inspect(&fetched.module)
            .map_err(AdmissionError::Module)?;
        report
            .link_plan(grant, &self.runtime.config().user_functions)
            .map_err(AdmissionError::Module)?;
        bitvault_extpoints::check_exports(report.exports.iter().map(|e| e.name.as_str()), &points)
            .map_err(AdmissionError::Exports)?;
        // 7: compile (or the cache) and prepare.
        let plugin = ExtPlugin::load(&self.runtime, &fetched.module, grant, &points)?;
        Ok(Admitted {
            digest: fetched.digest.clone(),
            verified,
            granted: grant.clone(),
            limits,
            plugin,
        })
    }

    fn installation(
        &self,
        tenant: &str,
        admitted: &Admitted,
        config: PluginConfig,
        actor: &str,
    ) -> Installation {
        let m = &admitted.verified.manifest;
        Installation {
            tenant: tenant.to_owned(),
            name: m.name.clone(),
            version: m.version.clone(),
            digest: admitted.digest.clone(),
            publisher: m.publisher.clone(),
            key: admitted.verified.key.clone(),
            extension_points: m.extension_points.clone(),
            event_types: m.event_types.clone(),
            requested: m.capabilities.clone(),
            granted: admitted.granted.clone(),
            requested_limits: m.limits,
            limits: admitted.limits,
            config,
            granted_by: actor.to_owned(),
            granted_at: bitvault_registry::installs::unix_now(),
        }
    }

    /// Installs a release for a tenant, or upgrades, or (forced) rolls
    /// back: runs the whole pipeline, then records the installation. The
    /// outcome, allowed or refused, is appended to the audit log.
    ///
    /// # Errors
    /// [`AdmissionError`]: `AlreadyInstalled` for an installed plugin when
    /// [`Expect::New`], or at the same version with nothing to change;
    /// `NotInstalled` for a plugin not installed when [`Expect::Installed`];
    /// `Rollback` for a lower version without `force`; `ReviewRequired`
    /// for [`Grant::Keep`] over new requests.
    pub fn install(
        &self,
        request: &InstallRequest,
        progress: &dyn Progress,
    ) -> Result<Installation, AdmissionError> {
        let current = self
            .store
            .installed(&request.tenant, &request.reference.name)?;
        let action = match (request.expect, &current) {
            (Expect::New, _) | (Expect::Any, None) => AuditAction::Install,
            (Expect::Installed, _) | (Expect::Any, Some(_)) => AuditAction::Upgrade,
        };
        let result = self.install_inner(request, current.as_ref(), progress);
        let action = match &result {
            Ok((_, a)) => *a,
            Err(AdmissionError::Rollback { .. }) => AuditAction::Rollback,
            Err(_) => action,
        };
        let plugin = match &result {
            Ok((inst, _)) => format!("{}@{}", inst.name, inst.version),
            Err(AdmissionError::Rollback { target, .. }) => {
                format!("{}@{target}", request.reference.name)
            }
            Err(_) => request.reference.to_string(),
        };
        let entry = AuditEntry::now(
            &request.tenant,
            &request.actor,
            action,
            &plugin,
            audit_outcome(&result, &format!("{action}: {plugin}")),
        );
        match result {
            Ok((installation, _)) => {
                self.store.record(&installation, entry)?;
                self.invalidate(&request.tenant, Some(&installation.name));
                Ok(installation)
            }
            Err(e) => {
                self.store.audit(entry)?;
                Err(e)
            }
        }
    }

    fn install_inner(
        &self,
        request: &InstallRequest,
        current: Option<&Installation>,
        progress: &dyn Progress,
    ) -> Result<(Installation, AuditAction), AdmissionError> {
        // Fetched once; its manifest is read here only to compare versions
        // and choose the grant, and verified before anything is compiled.
        match (request.expect, current) {
            (Expect::New, Some(cur)) => {
                return Err(AdmissionError::AlreadyInstalled {
                    version: cur.version.clone(),
                });
            }
            (Expect::Installed, None) => {
                return Err(AdmissionError::NotInstalled {
                    tenant: request.tenant.clone(),
                    name: request.reference.name.clone(),
                });
            }
            _ => {}
        }
        let fetched = fetch_package(&*self.registry, &request.reference, progress)?;
        let fetched_manifest = bitvault_registry::Manifest::from_canonical(&fetched.manifest)
            .map_err(|e| AdmissionError::Package(PackageError::Manifest(e)))?;
        let action = match current {
            None => AuditAction::Install,
            Some(cur) => {
                let installed = semver::Version::parse(&cur.version).ok();
                let target = semver::Version::parse(&fetched_manifest.version).ok();
                match (installed, target) {
                    (Some(i), Some(t)) if t == i => {
                        if matches!(request.grant, Grant::Keep) || request.config.is_none() {
                            return Err(AdmissionError::AlreadyInstalled {
                                version: cur.version.clone(),
                            });
                        }
                        AuditAction::Grant
                    }
                    (Some(i), Some(t)) if t < i => {
                        if !request.force {
                            return Err(AdmissionError::Rollback {
                                installed: cur.version.clone(),
                                target: fetched_manifest.version.clone(),
                            });
                        }
                        AuditAction::Rollback
                    }
                    _ => AuditAction::Upgrade,
                }
            }
        };
        let granted = match (&request.grant, current) {
            (Grant::AsRequested, _) => fetched_manifest.capabilities.clone(),
            (Grant::Exactly(g), _) => g.clone(),
            (Grant::Keep, None) => fetched_manifest.capabilities.clone(),
            (Grant::Keep, Some(cur)) => {
                let new = review::excess(&fetched_manifest.capabilities, &cur.granted);
                if !new.is_empty() {
                    return Err(AdmissionError::ReviewRequired { new });
                }
                cur.granted.clone()
            }
        };
        let admitted = self.admit_fetched(&request.tenant, &fetched, &granted)?;
        let config = request
            .config
            .clone()
            .or_else(|| current.map(|c| c.config.clone()))
            .unwrap_or_default();
        Ok((
            self.installation(&request.tenant, &admitted, config, &request.actor),
            action,
        ))
    }

    /// Changes the grant of an installed plugin (re-admitting it under the
    /// new grant) and records who granted it.
    ///
    /// # Errors
    /// [`AdmissionError`]; `NotInstalled` when it is not installed.
    pub fn grant(
        &self,
        tenant: &str,
        name: &str,
        grant: Grants,
        actor: &str,
    ) -> Result<Installation, AdmissionError> {
        let result = (|| {
            let current = self.store.installed(tenant, name)?.ok_or_else(|| {
                AdmissionError::NotInstalled {
                    tenant: tenant.to_owned(),
                    name: name.to_owned(),
                }
            })?;
            let reference = Reference {
                name: name.to_owned(),
                selector: Selector::Digest(current.digest.clone()),
            };
            let admitted = self.admit(tenant, &reference, &grant, &Quiet)?;
            Ok(self.installation(tenant, &admitted, current.config.clone(), actor))
        })();
        let plugin = match &result {
            Ok(i) => format!("{}@{}", i.name, i.version),
            Err(_) => name.to_owned(),
        };
        let entry = AuditEntry::now(
            tenant,
            actor,
            AuditAction::Grant,
            &plugin,
            audit_outcome(&result, "grant changed"),
        );
        match result {
            Ok(installation) => {
                self.store.record(&installation, entry)?;
                self.invalidate(tenant, Some(name));
                Ok(installation)
            }
            Err(e) => {
                self.store.audit(entry)?;
                Err(e)
            }
        }
    }

    /// Rolls an installed plugin back to `to`, or to the version installed
    /// before the current one, under the grant and configuration it had
    /// then. Refused unless `force`.
    ///
    /// # Errors
    /// [`AdmissionError`]; `Rollback` without `force`; `NotInstalled`.
    pub fn rollback(
        &self,
        tenant: &str,
        name: &str,
        to: Option<&str>,
        actor: &str,
        force: bool,
    ) -> Result<Installation, AdmissionError> {
        let current = self.store.installed(tenant, name)?;
        let history = self.store.history(tenant, name)?;
        let target = current.as_ref().and_then(|cur| {
            history
                .iter()
                .rev()
                .find(|h| match to {
                    Some(v) => h.version == v,
                    None => h.version != cur.version,
                })
                .cloned()
        });
        let Some(target) = target else {
            let e = AdmissionError::NotInstalled {
                tenant: tenant.to_owned(),
                name: format!("{name} (with an earlier version to return to)"),
            };
            let entry = AuditEntry::now(
                tenant,
                actor,
                AuditAction::Rollback,
                name,
                Err((e.reason(), e.to_string())),
            );
            self.store.audit(entry)?;
            return Err(e);
        };
        let request = InstallRequest {
            tenant: tenant.to_owned(),
            reference: Reference {
                name: name.to_owned(),
                selector: Selector::Digest(target.digest.clone()),
            },
            grant: Grant::Exactly(target.granted.clone()),
            config: Some(target.config.clone()),
            actor: actor.to_owned(),
            force,
            expect: Expect::Installed,
        };
        self.install(&request, &Quiet)
    }

    /// Uninstalls a plugin for a tenant. Handles already given out refuse
    /// their next call; calls in flight finish. The compiled module leaves
    /// the memory cache unless another tenant's prepared plugin uses it.
    ///
    /// # Errors
    /// `NotInstalled`, or the store's error.
    pub fn revoke(
        &self,
        tenant: &str,
        name: &str,
        actor: &str,
    ) -> Result<Installation, AdmissionError> {
        let current = self.store.installed(tenant, name)?;
        let Some(current) = current else {
            let e = AdmissionError::NotInstalled {
                tenant: tenant.to_owned(),
                name: name.to_owned(),
            };
            self.store.audit(AuditEntry::now(
                tenant,
                actor,
                AuditAction::Revoke,
                name,
                Err((e.reason(), e.to_string())),
            ))?;
            return Err(e);
        };
        let plugin = format!("{}@{}", current.name, current.version);
        self.store.remove(
            tenant,
            name,
            AuditEntry::now(
                tenant,
                actor,
                AuditAction::Revoke,
                &plugin,
                Ok("revoked".into()),
            ),
        )?;
        let removed = self.lock().remove(&(tenant.to_owned(), name.to_owned()));
        if let Some(live) = removed {
            live.valid.store(false, Ordering::Release);
            let digest = *live.plugin.prepared().module().digest();
            let shared = self
                .lock()
                .values()
                .any(|l| l.plugin.prepared().module().digest() == &digest);
            if !shared {
                self.runtime.evict(&digest);
            }
        }
        Ok(current)
    }

    /// The tenant's installed `name`, prepared and ready to call: from the
    /// cache, or through the whole admission pipeline again (fetching the
    /// installed release by digest and verifying it under the current
    /// trust policy). A refusal is appended to the audit log.
    ///
    /// # Errors
    /// `NotInstalled`, or the pipeline's refusal.
    pub fn plugin(&self, tenant: &str, name: &str) -> Result<InstalledPlugin, AdmissionError> {
        let key = (tenant.to_owned(), name.to_owned());
        let cached = self.lock().get(&key).cloned();
        let live = match cached {
            Some(live) => live,
            None => {
                let result = self.prepare(tenant, name);
                match result {
                    Ok(live) => {
                        self.lock().insert(key, live.clone());
                        live
                    }
                    Err(e) => {
                        self.store.audit(AuditEntry::now(
                            tenant,
                            "host",
                            AuditAction::Invoke,
                            name,
                            Err((e.reason(), e.to_string())),
                        ))?;
                        return Err(e);
                    }
                }
            }
        };
        let base = self.context(&live.installation);
        Ok(InstalledPlugin { live, base })
    }

    fn prepare(&self, tenant: &str, name: &str) -> Result<Arc<Live>, AdmissionError> {
        let installation =
            self.store
                .installed(tenant, name)?
                .ok_or_else(|| AdmissionError::NotInstalled {
                    tenant: tenant.to_owned(),
                    name: name.to_owned(),
                })?;
        let reference = Reference {
            name: name.to_owned(),
            selector: Selector::Digest(installation.digest.clone()),
        };
        let admitted = self.admit(tenant, &reference, &installation.granted, &Quiet)?;
        Ok(Arc::new(Live {
            installation,
            plugin: admitted.plugin,
            valid: AtomicBool::new(true),
        }))
    }

    fn context(&self, installation: &Installation) -> CallContext {
        let g = &installation.granted;
        let mut ctx = CallContext::new(installation.limits)
            .for_plugin(&installation.tenant, &installation.name)
            .with_config(installation.config.clone());
        if let Some(log) = &self.providers.log {
            ctx = ctx.with_log(log.clone());
        }
        if g.events.is_some()
            && let Some((bus, limits)) = &self.providers.events
        {
            ctx = ctx.with_events(bus.clone(), 0, *limits);
        }
        if g.http.is_some()
            && let Some((client, resolver, limits)) = &self.providers.http
        {
            ctx = ctx.with_http(client.clone(), resolver.clone(), *limits);
        }
        if g.kv
            && let Some((store, max_bytes)) = &self.providers.vars
        {
            ctx = ctx.with_vars(store.clone(), *max_bytes);
        }
        if g.kv
            && let Some((store, quotas)) = &self.providers.kv
        {
            // Tenant and plugin names are checked when installed, so they
            // always name a namespace; a failure leaves kv unbound and the
            // plugin's kv calls answer `unavailable`.
            if let Ok(bound) = ctx.clone().with_kv(store.clone(), *quotas, None) {
                ctx = bound;
            }
        }
        ctx
    }
}
