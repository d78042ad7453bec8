//! Tenant installs through [`PluginHost`]: a signed package from the
//! embedded registry installs and runs, and each way it can be wrong is
//! refused at its admission step with its own reason, and kept in the
//! audit log: a tampered module, a manifest edited to escalate, a foreign
//! key, a publisher claiming another's key, no signature, an untrusted
//! publisher, a revoked key, an ungranted capability, a grant beyond the
//! request, a rollback, an upgrade asking for more, and a revoked plugin.
//! An Extism plugin's `extism:host/user` imports link to the functions the
//! host registered, granted by name like any capability.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use bitvault_plugins::abi::HttpGrant;
use bitvault_plugins::extism::{UserFunction, UserFunctions, UserType, UserVal};
use bitvault_plugins::extpoints::PolicyHook;
use bitvault_plugins::extpoints::proto::policy_hook::v1::{
    Decision, EvaluateRequest, EvaluateResponse, Resource,
};
use bitvault_plugins::registry::oci::Quiet;
use bitvault_plugins::registry::{
    AuditAction, InstallStore, KeyStatus, LayoutRegistry, Manifest, ModuleRef, RedbInstallStore,
    TrustPolicy, generate_key, publish, sha256_hex, sign,
};
use bitvault_plugins::{
    AdmissionError, CallError, Expect, Grant, Grants, InstallRequest, InstalledPlugin, PluginHost,
    Providers, Runtime, RuntimeConfig,
};
use ed25519_dalek::SigningKey;

const ACME: &str = "acme.example";

struct World {
    _dir: tempfile::TempDir,
    layout: std::path::PathBuf,
    host: PluginHost,
    registry: Arc<LayoutRegistry>,
    acme: SigningKey,
    globex: SigningKey,
}

fn manifest(version: &str, module: &[u8], capabilities: Grants) -> Manifest {
    Manifest {
        schema: 1,
        name: "policy".into(),
        version: version.into(),
        publisher: ACME.into(),
        description: "upload policy".into(),
        extension_points: vec!["policy_hook".into()],
        event_types: vec![],
        capabilities,
        limits: None,
        abi_version: bitvault_plugins::abi::ABI_VERSION,
        module: ModuleRef {
            sha256: sha256_hex(module),
            size: module.len() as u64,
        },
    }
}

fn world() -> Result<World> {
    world_with(RuntimeConfig::new())
}

fn world_with(config: RuntimeConfig) -> Result<World> {
    let dir = tempfile::tempdir()?;
    let layout = dir.path().join("registry");
    let registry = Arc::new(LayoutRegistry::open(&layout)?);
    let store = Arc::new(RedbInstallStore::open(dir.path().join("installs.redb"))?);
    let host = PluginHost::new(
        Runtime::new(config)?,
        registry.clone(),
        store,
        Providers::default(),
    );
    let (acme, globex) = (generate_key()?, generate_key()?);
    let mut policy = TrustPolicy::default();
    policy.trust(ACME, &acme.verifying_key(), KeyStatus::Active)?;
    policy.trust("globex.example", &globex.verifying_key(), KeyStatus::Active)?;
    for tenant in ["tenant-a", "tenant-b"] {
        host.set_trust_policy(tenant, &policy.to_toml()?, "root")?;
    }
    Ok(World {
        _dir: dir,
        layout,
        host,
        registry,
        acme,
        globex,
    })
}

impl World {
    /// Publishes the policy plugin at `version`, signed with `key`.
    fn publish(&self, version: &str, key: &SigningKey, caps: Grants) -> Result<()> {
        let module = common::plugin_wasm("policy")?;
        self.publish_signed(&manifest(version, &module, caps), &module, key)
    }

    /// Publishes `module` with manifest `m`, signed with `key`.
    fn publish_signed(&self, m: &Manifest, module: &[u8], key: &SigningKey) -> Result<()> {
        let (bytes, sig) = sign(m, key)?;
        publish(
            &*self.registry,
            &bytes,
            Some(&sig.to_canonical()),
            module,
            &Quiet,
        )?;
        Ok(())
    }

    fn install(&self, tenant: &str, reference: &str) -> Result<(), AdmissionError> {
        let request = InstallRequest::new(tenant, reference.parse()?, "ada");
        self.host.install(&request, &Quiet).map(drop)
    }
}

fn evaluate(plugin: &InstalledPlugin, size: u64) -> Result<EvaluateResponse, CallError> {
    let request = EvaluateRequest {
        action: "write".into(),
        resource: Some(Resource {
            path: "photos/a.png".into(),
            size,
            media_type: "image/png".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    plugin.call(|p, inv| p.evaluate(inv, request).map(|r| r.message))
}

fn reason(result: Result<impl std::fmt::Debug, AdmissionError>) -> String {
    match result {
        Ok(v) => format!("admitted: {v:?}"),
        Err(e) => e.reason(),
    }
}

#[test]
fn a_signed_package_installs_for_two_tenants_with_their_own_config() -> Result<()> {
    let w = world()?;
    w.publish("1.0.0", &w.acme, Grants::core())?;
    w.install("tenant-a", "policy@1.0.0")?;
    let mut request = InstallRequest::new("tenant-b", "policy".parse()?, "bob");
    request.config = Some(BTreeMap::from([("max_size".into(), "1000".into())]));
    let installed = w.host.install(&request, &Quiet)?;
    assert_eq!(installed.version, "1.0.0");
    assert_eq!(installed.granted, installed.requested);
    assert_eq!(installed.granted_by, "bob");

    let a = w.host.plugin("tenant-a", "policy")?;
    let b = w.host.plugin("tenant-b", "policy")?;
    assert_eq!(evaluate(&a, 5000)?.decision, Decision::Abstain as i32);
    // Tenant b's install-time config limits the size.
    assert_eq!(evaluate(&b, 5000)?.decision, Decision::Deny as i32);

    let store = w.host.store();
    assert_eq!(store.list(Some("tenant-a"))?.len(), 1);
    assert_eq!(store.list(None)?.len(), 2);
    let log = store.audit_log(Some("tenant-b"))?;
    let last = log.last().expect("entries");
    assert_eq!((last.action, last.allowed), (AuditAction::Install, true));
    assert_eq!(last.plugin, "policy@1.0.0");
    Ok(())
}

#[test]
fn a_tampered_module_at_rest_is_refused_before_compiling() -> Result<()> {
    let w = world()?;
    w.publish("1.0.0", &w.acme, Grants::core())?;
    let module = common::plugin_wasm("policy")?;
    let blob = w.layout.join("blobs/sha256").join(sha256_hex(&module));
    let mut evil = module.clone();
    let at = evil.len() - 1;
    evil[at] ^= 0x55;
    std::fs::write(&blob, &evil)?;
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.0.0")),
        "digest_mismatch"
    );
    let log = w.host.store().audit_log(Some("tenant-a"))?;
    let last = log.last().expect("entries");
    assert!(!last.allowed);
    assert_eq!(last.reason.as_deref(), Some("digest_mismatch"));
    assert!(w.host.store().list(None)?.is_empty());
    Ok(())
}

#[test]
fn a_manifest_edited_to_escalate_does_not_verify() -> Result<()> {
    let w = world()?;
    let module = common::plugin_wasm("policy")?;
    let honest = manifest("1.0.0", &module, Grants::core());
    let (_, sig) = sign(&honest, &w.acme)?;
    let mut escalated = honest.clone();
    escalated.capabilities.http = Some(HttpGrant::to(["https://exfil.example/"]));
    let bytes = escalated.to_canonical()?;
    publish(
        &*w.registry,
        &bytes,
        Some(&sig.to_canonical()),
        &module,
        &Quiet,
    )?;
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.0.0")),
        "bad_signature"
    );
    Ok(())
}

#[test]
fn wrong_keys_unsigned_and_untrusted_publishers_are_refused() -> Result<()> {
    let w = world()?;
    let module = common::plugin_wasm("policy")?;
    // Globex's key claiming to sign for acme.
    w.publish_signed(
        &manifest("1.0.0", &module, Grants::core()),
        &module,
        &w.globex,
    )?;
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.0.0")),
        "untrusted_key"
    );
    // A key nobody trusts.
    w.publish("1.0.1", &generate_key()?, Grants::core())?;
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.0.1")),
        "untrusted_key"
    );
    // No signature.
    let (bytes, _) = sign(&manifest("1.0.2", &module, Grants::core()), &w.acme)?;
    publish(&*w.registry, &bytes, None, &module, &Quiet)?;
    assert_eq!(reason(w.install("tenant-a", "policy@1.0.2")), "unsigned");
    // A publisher the tenant does not trust.
    let mut m = manifest("1.0.3", &module, Grants::core());
    m.publisher = "initech.example".into();
    w.publish_signed(&m, &module, &w.acme)?;
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.0.3")),
        "untrusted_publisher"
    );
    // No trust policy at all.
    w.publish("1.0.4", &w.acme, Grants::core())?;
    assert_eq!(
        reason(w.install("tenant-c", "policy@1.0.4")),
        "no_trust_policy"
    );
    let refusals = w
        .host
        .store()
        .audit_log(Some("tenant-a"))?
        .into_iter()
        .filter(|e| !e.allowed)
        .count();
    assert_eq!(refusals, 4);
    Ok(())
}

#[test]
fn ungranted_capabilities_and_grants_beyond_the_request_are_refused() -> Result<()> {
    let w = world()?;
    w.publish("1.0.0", &w.acme, Grants::core())?;
    // The module imports log and config; granting only io refuses it at
    // inspection, naming the imports.
    let mut request = InstallRequest::new("tenant-a", "policy@1.0.0".parse()?, "ada");
    let mut narrow = Grants::none();
    narrow.io = true;
    request.grant = Grant::Exactly(narrow);
    let err = w.host.install(&request, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "capability_not_granted");
    assert!(err.to_string().contains("config_get"), "{err}");
    // More than the package asks for.
    let mut wide = Grants::core_with_kv();
    wide.http = Some(HttpGrant::to(["https://x.example/"]));
    request.grant = Grant::Exactly(wide);
    let err = w.host.install(&request, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "grant_exceeds_request");
    assert!(err.to_string().contains("kv"), "{err}");
    Ok(())
}

#[test]
fn upgrades_review_new_capabilities_and_rollbacks_must_be_forced() -> Result<()> {
    let w = world()?;
    w.publish("1.0.0", &w.acme, Grants::core())?;
    w.publish("1.1.0", &w.acme, Grants::core())?;
    let mut more = Grants::core_with_kv();
    more.http = Some(HttpGrant::to(["https://api.example.com/"]));
    w.publish("2.0.0", &w.acme, more)?;

    // An upgrade of what is not installed, and a first install of what is.
    let mut up = InstallRequest::new("tenant-a", "policy@1.1.0".parse()?, "ada");
    up.expect = Expect::Installed;
    assert_eq!(reason(w.host.install(&up, &Quiet)), "not_installed");
    w.install("tenant-a", "policy@1.1.0")?;
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.1.0")),
        "already_installed"
    );
    let mut first = InstallRequest::new("tenant-a", "policy@2.0.0".parse()?, "ada");
    first.expect = Expect::New;
    assert_eq!(reason(w.host.install(&first, &Quiet)), "already_installed");
    // Installing 1.0.0 over 1.1.0 is a rollback: refused unless forced.
    assert_eq!(
        reason(w.install("tenant-a", "policy@1.0.0")),
        "rollback_refused"
    );
    assert_eq!(
        reason(
            w.host
                .rollback("tenant-a", "policy", Some("1.0.0"), "ada", false)
        ),
        "not_installed"
    );

    // Keeping the grant over a release that asks for more needs review.
    let mut keep = InstallRequest::new("tenant-a", "policy@2.0.0".parse()?, "ada");
    keep.grant = Grant::Keep;
    let err = w.host.install(&keep, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "review_required");
    assert!(err.to_string().ends_with(": kv; http"), "{err}");
    keep.grant = Grant::AsRequested;
    let upgraded = w.host.install(&keep, &Quiet)?;
    assert!(upgraded.granted.kv);

    // Back to 1.1.0, under the grant it had: refused, then forced.
    assert_eq!(
        reason(w.host.rollback("tenant-a", "policy", None, "ada", false)),
        "rollback_refused"
    );
    let back = w.host.rollback("tenant-a", "policy", None, "ada", true)?;
    assert_eq!(back.version, "1.1.0");
    assert!(!back.granted.kv);
    let history = w.host.store().history("tenant-a", "policy")?;
    let versions: Vec<&str> = history.iter().map(|h| h.version.as_str()).collect();
    assert_eq!(versions, ["1.1.0", "2.0.0", "1.1.0"]);
    let actions: Vec<(AuditAction, bool)> = w
        .host
        .store()
        .audit_log(Some("tenant-a"))?
        .iter()
        .map(|e| (e.action, e.allowed))
        .collect();
    assert!(actions.contains(&(AuditAction::Rollback, false)));
    assert!(actions.contains(&(AuditAction::Rollback, true)));
    assert!(actions.contains(&(AuditAction::Upgrade, true)));
    Ok(())
}

#[test]
fn a_revoked_plugin_is_refused_at_its_next_invocation() -> Result<()> {
    let w = world()?;
    w.publish("1.0.0", &w.acme, Grants::core())?;
    w.install("tenant-a", "policy@1.0.0")?;
    w.install("tenant-b", "policy@1.0.0")?;
    let held = w.host.plugin("tenant-a", "policy")?;
    evaluate(&held, 1)?;
    w.host.revoke("tenant-a", "policy", "ada")?;
    match evaluate(&held, 1) {
        Err(CallError::Invalidated { tenant, .. }) => assert_eq!(tenant, "tenant-a"),
        other => bail!("expected Invalidated, got {other:?}"),
    }
    assert_eq!(reason(w.host.plugin("tenant-a", "policy")), "not_installed");
    // The other tenant's install is untouched.
    evaluate(&w.host.plugin("tenant-b", "policy")?, 1)?;
    let log = w.host.store().audit_log(Some("tenant-a"))?;
    assert!(
        log.iter()
            .any(|e| e.action == AuditAction::Revoke && e.allowed)
    );
    assert!(
        log.iter().any(
            |e| e.action == AuditAction::Invoke && e.reason.as_deref() == Some("not_installed")
        )
    );
    Ok(())
}

#[test]
fn revoking_a_key_stops_what_it_signed_rotation_keeps_it() -> Result<()> {
    let w = world()?;
    w.publish("1.0.0", &w.acme, Grants::core())?;
    w.install("tenant-a", "policy@1.0.0")?;
    let held = w.host.plugin("tenant-a", "policy")?;

    // Rotation: a new active key, the old one retired. Still admitted.
    let next = generate_key()?;
    let mut policy = TrustPolicy::default();
    policy.trust(ACME, &next.verifying_key(), KeyStatus::Active)?;
    policy.trust(ACME, &w.acme.verifying_key(), KeyStatus::Retired)?;
    w.host
        .set_trust_policy("tenant-a", &policy.to_toml()?, "root")?;
    assert!(
        !held.is_valid(),
        "a trust change invalidates prepared plugins"
    );
    let rotated = w.host.plugin("tenant-a", "policy")?;
    evaluate(&rotated, 1)?;

    // Revocation: nothing the old key signed is admitted any more.
    let mut policy = TrustPolicy::default();
    policy.trust(ACME, &next.verifying_key(), KeyStatus::Active)?;
    policy.trust(ACME, &w.acme.verifying_key(), KeyStatus::Revoked)?;
    w.host
        .set_trust_policy("tenant-a", &policy.to_toml()?, "root")?;
    assert!(matches!(
        evaluate(&rotated, 1),
        Err(CallError::Invalidated { .. })
    ));
    assert_eq!(reason(w.host.plugin("tenant-a", "policy")), "revoked_key");
    Ok(())
}

#[test]
fn the_install_store_survives_a_reopen() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("installs.redb");
    {
        let w = world()?;
        w.publish("1.0.0", &w.acme, Grants::core())?;
        let store = Arc::new(RedbInstallStore::open(&path)?);
        let host = PluginHost::new(
            Runtime::new(RuntimeConfig::new())?,
            w.registry.clone(),
            store,
            Providers::default(),
        );
        host.set_trust_policy(
            "tenant-a",
            &w.host.store().trust_policy("tenant-a")?.unwrap_or_default(),
            "root",
        )?;
        host.install(
            &InstallRequest::new("tenant-a", "policy".parse()?, "ada"),
            &Quiet,
        )?;
    }
    let store = RedbInstallStore::open(&path)?;
    let installed = store.installed("tenant-a", "policy")?.expect("kept");
    assert_eq!(installed.version, "1.0.0");
    assert_eq!(store.audit_log(None)?.len(), 2);
    Ok(())
}

/// A host whose runtime registers `lookup_user(id) -> text`, answering
/// with the tenant and plugin it sees, and `record(entry)`, which keeps
/// nothing.
fn world_with_host_functions() -> Result<World> {
    let lookup = UserFunction::new(
        "lookup_user",
        [UserType::I64],
        [UserType::I64],
        |call, args| {
            let id = args[0]
                .offset()
                .and_then(|o| call.block(o))
                .ok_or("no id")?;
            let text = format!(
                "user {} of {} seen by {}",
                String::from_utf8_lossy(id),
                call.tenant(),
                call.plugin()
            );
            let block = call.new_block(text.as_bytes()).map_err(|e| e.to_string())?;
            Ok(vec![UserVal::I64(block as i64)])
        },
    )?;
    let record = UserFunction::new("record", [UserType::I64], [], |_, _| Ok(Vec::new()))?;
    let mut user_functions = UserFunctions::new();
    user_functions.register(lookup)?;
    user_functions.register(record)?;
    world_with(RuntimeConfig {
        user_functions,
        ..RuntimeConfig::new()
    })
}

#[test]
fn an_extism_plugin_reaches_registered_host_functions_only_as_granted() -> Result<()> {
    let w = world_with_host_functions()?;
    let module = common::plugin_wasm("extism_hostfns")?;
    let mut requested = Grants::none();
    requested.io = true;
    requested.host_functions = vec!["lookup_user".into(), "record".into()];
    let mut m = manifest("1.0.0", &module, requested.clone());
    m.name = "hostfns".into();
    m.extension_points = vec![];
    w.publish_signed(&m, &module, &w.acme)?;
    let mut request = InstallRequest::new("tenant-a", "hostfns@1.0.0".parse()?, "ada");

    // A grant beyond the request names the extra function.
    let mut wide = requested.clone();
    wide.host_functions.push("delete_all".into());
    request.grant = Grant::Exactly(wide);
    let err = w.host.install(&request, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "grant_exceeds_request");
    assert!(
        err.to_string().contains("host function delete_all"),
        "{err}"
    );

    // Granting only `lookup_user` refuses the module, naming `record`.
    let mut narrow = requested.clone();
    narrow.host_functions = vec!["lookup_user".into()];
    request.grant = Grant::Exactly(narrow);
    let err = w.host.install(&request, &Quiet).unwrap_err();
    assert_eq!(err.reason(), "capability_not_granted");
    assert!(err.to_string().contains("extism:host/user.record"), "{err}");

    // As requested, it installs; the handler sees the installation's
    // tenant and plugin.
    request.grant = Grant::AsRequested;
    w.host.install(&request, &Quiet)?;
    let plugin = w.host.plugin("tenant-a", "hostfns")?;
    let out = plugin.call(|p, inv| Ok(p.prepared().invoke("greet", &b"7"[..], &inv.call)))?;
    assert_eq!(
        out.result.map_err(|e| anyhow::anyhow!("{e}"))?,
        b"Hello, user 7 of tenant-a seen by hostfns!"
    );
    Ok(())
}
