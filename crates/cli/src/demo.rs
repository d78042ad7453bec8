//! `demo`: the product end to end on the embedded defaults. Builds the
//! reference plugins, signs them with a fresh development key, publishes
//! them to an image-layout registry, installs them for two tenants with
//! different grants, calls every extension point, and shows one refusal of
//! each kind. Each run starts from an empty `HOME/demo`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bitvault_conformance::reference;
use bitvault_plugins::abi::CapabilityKind;
use bitvault_plugins::events::{EventLimits, InProcessBus};
use bitvault_plugins::extpoints::proto::{
    auth_provider::v1 as auth, content_transform::v1 as transform, event_handler::v1 as events,
    policy_hook::v1 as policy, search::v1 as search, storage_provider::v1 as storage,
};
use bitvault_plugins::extpoints::{
    AuthProvider, ContentTransform, EventHandler, ExtError, PolicyHook, Reply, Search,
    StorageProvider,
};
use bitvault_plugins::kv::{KvQuotas, RedbKv};
use bitvault_plugins::registry::cosign;
use bitvault_plugins::registry::oci::{
    CONFIG_MEDIA_TYPE, Descriptor, Digest, ImageManifest, MODULE_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE, Progress, Quiet, Registry,
};
use bitvault_plugins::registry::{
    KeyStatus, LayoutRegistry, Manifest, ModuleRef, RedbInstallStore, TrustPolicy, generate_key,
    private_key_pem, public_key_pem, publish, sha256_hex, sign,
};
use bitvault_plugins::{
    AdmissionError, CallError, Grant, Grants, InstallRequest, InstalledPlugin, Metrics, PluginHost,
    Providers, Runtime, RuntimeConfig,
};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use crate::admin::HomeArg;
use crate::exit;

/// The publisher the development key signs as.
const PUBLISHER: &str = "demo.bitvault.dev";
/// The admin who installs, for the record.
const ADMIN: &str = "demo-admin";

/// `demo`: sign, publish, install and invoke every extension point.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo works in HOME/demo, which each run empties first.
    #[command(flatten)]
    home: HomeArg,
    /// Print one JSON object with every row instead of tables.
    #[arg(long)]
    json: bool,
}

/// What each reference plugin is, for its manifest.
fn description(name: &str) -> &'static str {
    match name {
        "textsearch" => "Unicode word tokens and sanitised previews for search",
        "policy" => "upload rules by size, media type, hours and path",
        "pathcount" => "counts object events per path and publishes the counts",
        "jwtauth" => "validates HS256 and EdDSA JSON Web Tokens",
        "thumbnailer" => "PNG and JPEG thumbnails",
        "kvstore" => "an object store in the plugin's key-value namespace",
        "extism-policy" => "an upload size limit, on the Extism PDK",
        _ => "a reference plugin",
    }
}

/// A policy decision with its reasons, as the call table shows it.
fn decision(r: &policy::EvaluateResponse) -> String {
    let decision = policy::Decision::try_from(r.decision)
        .map(|d| d.as_str_name().to_owned())
        .unwrap_or_else(|_| r.decision.to_string());
    if r.reasons.is_empty() {
        decision
    } else {
        format!("{decision}: {}", r.reasons.join("; "))
    }
}

/// Progress on stderr: one line per blob, when it is complete.
struct Lines {
    quiet: bool,
}

impl Progress for Lines {
    fn transfer(&self, what: &str, digest: &Digest, done: u64, total: u64) {
        if !self.quiet && done == total {
            eprintln!("    {what:<9} {} {total:>8} bytes", &digest.as_str()[..19]);
        }
    }
}

/// One call's row.
struct Call {
    tenant: &'static str,
    point: &'static str,
    plugin: &'static str,
    operation: &'static str,
    result: String,
    metrics: Option<Metrics>,
}

/// One refusal's row, with whether it was the expected one.
struct Refusal {
    case: &'static str,
    tenant: &'static str,
    expected: &'static [&'static str],
    reason: String,
    message: String,
}

struct Demo {
    host: PluginHost,
    registry: Arc<LayoutRegistry>,
    key: SigningKey,
    plugins: PathBuf,
    subjects: Vec<(
        bitvault_conformance::Subject,
        Vec<bitvault_plugins::extpoints::Point>,
    )>,
    calls: Vec<Call>,
    refusals: Vec<Refusal>,
    published: Vec<Value>,
    bus: Arc<InProcessBus>,
    dir: PathBuf,
    json: bool,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn say(json: bool, text: &str) {
    if !json {
        eprintln!("{text}");
    }
}

/// Runs the demo.
///
/// # Errors
/// A host error (files, the plugin build); the outcome of each step is
/// reported, and an unexpected one makes the exit status 1.
pub fn demo(args: &DemoArgs) -> Result<u8> {
    let started = Instant::now();
    let home = args.home.dir()?;
    let dir = home.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("keys"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    say(
        args.json,
        &format!("BitVault Plugins demo, in {}", dir.display()),
    );

    say(
        args.json,
        "\n1. Building the reference plugins (wasm32-unknown-unknown, release)",
    );
    let t = Instant::now();
    let plugins = reference::plugins_dir().map_err(anyhow::Error::msg)?;
    let subjects = reference::subjects(&plugins).context("reading the reference plugins")?;
    say(
        args.json,
        &format!(
            "   built in {:.1} s: {}",
            t.elapsed().as_secs_f64(),
            plugins.display()
        ),
    );

    say(
        args.json,
        "\n2. A development key for publisher demo.bitvault.dev",
    );
    let key = generate_key()?;
    std::fs::write(dir.join("keys/dev.key"), private_key_pem(&key)?)?;
    std::fs::write(
        dir.join("keys/dev.pub"),
        public_key_pem(&key.verifying_key())?,
    )?;
    say(
        args.json,
        &format!(
            "   {} (keys/dev.key, keys/dev.pub)",
            bitvault_plugins::registry::fingerprint(&key.verifying_key())
        ),
    );

    let registry = Arc::new(LayoutRegistry::open(dir.join("registry"))?);
    let store = Arc::new(RedbInstallStore::open(dir.join("installs.redb"))?);
    let bus = Arc::new(InProcessBus::new(64));
    let kv = Arc::new(RedbKv::open(dir.join("kv.redb"))?);
    let providers = Providers {
        kv: Some((kv, KvQuotas::standard())),
        events: Some((bus.clone(), EventLimits::standard())),
        ..Providers::default()
    };
    let host = PluginHost::new(
        Runtime::new(RuntimeConfig::new())?,
        registry.clone(),
        store,
        providers,
    );
    let mut demo = Demo {
        host,
        registry,
        key,
        plugins,
        subjects,
        calls: Vec::new(),
        refusals: Vec::new(),
        published: Vec::new(),
        bus,
        dir: dir.clone(),
        json: args.json,
    };
    demo.publish_all()?;
    demo.trust_and_install()?;
    demo.invoke_every_point()?;
    demo.refuse_each_kind()?;
    let ok = demo.report(started.elapsed());
    Ok(if ok { exit::SUCCESS } else { exit::HOST_ERROR })
}

impl Demo {
    fn subject(&self, name: &str) -> Result<&bitvault_conformance::Subject> {
        self.subjects
            .iter()
            .map(|(s, _)| s)
            .find(|s| s.name == name)
            .with_context(|| format!("no reference plugin {name}"))
    }

    fn manifest(&self, name: &str, version: &str, module: &[u8]) -> Result<Manifest> {
        let (subject, points) = self
            .subjects
            .iter()
            .find(|(s, _)| s.name == name)
            .with_context(|| format!("no reference plugin {name}"))?;
        Ok(Manifest {
            schema: 1,
            name: name.into(),
            version: version.into(),
            publisher: PUBLISHER.into(),
            description: description(name).into(),
            extension_points: points.iter().map(|p| p.name().to_owned()).collect(),
            event_types: if name == "pathcount" {
                vec!["object.*".into()]
            } else {
                vec![]
            },
            capabilities: least_privilege(&subject.grants, &self.host, module)?,
            limits: Some(subject.limits),
            abi_version: bitvault_plugins::abi::ABI_VERSION,
            module: ModuleRef {
                sha256: sha256_hex(module),
                size: module.len() as u64,
            },
        })
    }

    fn wasm(&self, name: &str) -> Result<Vec<u8>> {
        // Cargo names a crate's module with `_` for `-`.
        let path = self
            .plugins
            .join(format!("{}.wasm", name.replace('-', "_")));
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    fn publish_all(&mut self) -> Result<()> {
        say(
            self.json,
            "\n3. Signing and publishing to the embedded registry (OCI image layout)",
        );
        let names: Vec<String> = self.subjects.iter().map(|(s, _)| s.name.clone()).collect();
        for name in names {
            let module = self.wasm(&name)?;
            let (bytes, sig) = sign(&self.manifest(&name, "1.0.0", &module)?, &self.key)?;
            say(self.json, &format!("   {name}@1.0.0"));
            let published = publish(
                &*self.registry,
                &bytes,
                Some(&sig.to_canonical()),
                &module,
                &Lines { quiet: self.json },
            )?;
            // And a cosign-style signature over the OCI manifest, for the
            // container ecosystem's tools.
            let reference = cosign::docker_reference(&*self.registry, &published.name);
            cosign::attach(
                &*self.registry,
                &name,
                &reference,
                &published.digest,
                &self.key,
            )?;
            let tag = cosign::signature_tag(&published.digest);
            say(self.json, &format!("    cosign    {tag}"));
            self.published.push(json!({
                "name": published.name,
                "version": published.version,
                "digest": published.digest.as_str(),
                "module_bytes": module.len(),
                "cosign_tag": tag,
            }));
        }
        Ok(())
    }

    fn trust_and_install(&mut self) -> Result<()> {
        say(
            self.json,
            "\n4. Trust policies and installs for tenants acme and globex",
        );
        let mut policy = TrustPolicy::default();
        policy.trust(PUBLISHER, &self.key.verifying_key(), KeyStatus::Active)?;
        let policy = policy.to_toml()?;
        for tenant in ["acme", "globex"] {
            self.host.set_trust_policy(tenant, &policy, ADMIN)?;
        }
        // acme: every plugin, granted as requested, configured as the
        // conformance suites configure them.
        let names: Vec<String> = self.subjects.iter().map(|(s, _)| s.name.clone()).collect();
        for name in &names {
            let mut request = InstallRequest::new("acme", format!("{name}@1.0.0").parse()?, ADMIN);
            request.config = Some(self.subject(name)?.config.clone());
            let installed = self.host.install(&request, &Quiet)?;
            say(
                self.json,
                &format!(
                    "   acme    {name:<13} {}  granted: {}",
                    installed.version,
                    grant_summary(&installed.granted)
                ),
            );
        }
        // globex: search and a stricter policy (uploads up to 1 KiB).
        for name in ["textsearch", "policy"] {
            let mut request =
                InstallRequest::new("globex", format!("{name}@1.0.0").parse()?, ADMIN);
            let mut config = self.subject(name)?.config.clone();
            if name == "policy" {
                config.insert("max_size".into(), "1024".into());
            }
            request.config = Some(config);
            let installed = self.host.install(&request, &Quiet)?;
            say(
                self.json,
                &format!(
                    "   globex  {name:<13} {}  granted: {}",
                    installed.version,
                    grant_summary(&installed.granted)
                ),
            );
        }
        Ok(())
    }

    fn call<R>(
        &mut self,
        tenant: &'static str,
        point: &'static str,
        plugin: &'static str,
        operation: &'static str,
        f: impl FnOnce(&InstalledPlugin) -> Result<Reply<R>, CallError>,
        show: impl FnOnce(&R) -> String,
    ) -> Result<Option<R>> {
        let installed = self.host.plugin(tenant, plugin)?;
        let (result, metrics, value) = match f(&installed) {
            Ok(reply) => (
                show(&reply.message),
                Some(reply.metrics),
                Some(reply.message),
            ),
            Err(CallError::Ext(ExtError::Invoke { error, metrics, .. })) => {
                (format!("error: {error}"), Some(metrics), None)
            }
            Err(e) => (format!("error: {e}"), None, None),
        };
        self.calls.push(Call {
            tenant,
            point,
            plugin,
            operation,
            result,
            metrics,
        });
        Ok(value)
    }

    fn invoke_every_point(&mut self) -> Result<()> {
        say(self.json, "\n5. Calling every extension point");
        // Content transform: a 320x240 PNG to a 64 px thumbnail.
        let png = reference::png_gradient(320, 240);
        self.call(
            "acme",
            "content_transform",
            "thumbnailer",
            "transform",
            |p| {
                p.call(|x, inv| {
                    x.transform(
                        inv,
                        transform::TransformRequest {
                            content: png,
                            media_type: "image/png".into(),
                            parameters: [("max_width", "64"), ("max_height", "64")]
                                .into_iter()
                                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                .collect(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| {
                let dims = r.metadata.get("width").zip(r.metadata.get("height"));
                match dims {
                    Some((w, h)) => format!("{} {w}x{h}, {} bytes", r.media_type, r.content.len()),
                    None => format!("{}, {} bytes", r.media_type, r.content.len()),
                }
            },
        )?;

        // Event handler: an object event, counted in KV, re-published.
        let events_rx = self.bus.subscribe();
        self.call(
            "acme",
            "event_handler",
            "pathcount",
            "handle",
            |p| {
                p.call(|x, inv| {
                    x.handle(
                        inv,
                        events::DomainEvent {
                            id: "evt-1".into(),
                            r#type: "object.created".into(),
                            subject: "reports/q3.pdf".into(),
                            tenant: "acme".into(),
                            time_unix_ms: reference_now(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| {
                let ack = events::Ack::try_from(r.ack)
                    .map(|a| a.as_str_name().to_owned())
                    .unwrap_or_else(|_| r.ack.to_string());
                let emitted: Vec<String> = events_rx
                    .try_iter()
                    .map(|e| format!("{} {}", e.topic, String::from_utf8_lossy(&e.payload)))
                    .collect();
                format!("{ack}; emitted {}", emitted.join(", "))
            },
        )?;

        // Storage provider: put, get, head, list, delete.
        let key = "reports/q3.txt";
        let body = b"quarterly numbers".to_vec();
        self.call(
            "acme",
            "storage_provider",
            "kvstore",
            "put",
            |p| {
                p.call(|x, inv| {
                    x.put(
                        inv,
                        storage::PutRequest {
                            key: key.into(),
                            data: body,
                            content_type: "text/plain".into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| match &r.meta {
                Some(m) => format!("{} bytes, etag {}", m.size, short(&m.etag)),
                None => format!("status {}", r.status),
            },
        )?;
        self.call(
            "acme",
            "storage_provider",
            "kvstore",
            "get",
            |p| {
                p.call(|x, inv| {
                    x.get(
                        inv,
                        storage::GetRequest {
                            key: key.into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| format!("{:?}", String::from_utf8_lossy(&r.data)),
        )?;
        self.call(
            "acme",
            "storage_provider",
            "kvstore",
            "head",
            |p| {
                p.call(|x, inv| {
                    x.head(
                        inv,
                        storage::HeadRequest {
                            key: key.into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| match &r.meta {
                Some(m) => format!("{} bytes, {}", m.size, m.content_type),
                None => "no metadata".into(),
            },
        )?;
        self.call(
            "acme",
            "storage_provider",
            "kvstore",
            "list",
            |p| {
                p.call(|x, inv| {
                    x.list(
                        inv,
                        storage::ListRequest {
                            prefix: "reports/".into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| {
                let keys: Vec<&str> = r.objects.iter().map(|o| o.key.as_str()).collect();
                format!("[{}]", keys.join(", "))
            },
        )?;
        self.call(
            "acme",
            "storage_provider",
            "kvstore",
            "delete",
            |p| {
                p.call(|x, inv| {
                    x.delete(
                        inv,
                        storage::DeleteRequest {
                            key: key.into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| format!("existed: {}", r.existed),
        )?;

        // Auth provider: the conformance suite's HS256 sample token.
        let token = self
            .subject("jwtauth")?
            .token_samples
            .first()
            .map(|t| t.token.clone())
            .context("jwtauth has a sample token")?;
        self.call(
            "acme",
            "auth_provider",
            "jwtauth",
            "authenticate",
            |p| {
                let inv = p.invocation().at(reference_now());
                p.call_with(inv, |x, inv| {
                    x.authenticate(
                        inv,
                        auth::AuthenticateRequest {
                            token,
                            scheme: "Bearer".into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| match &r.result {
                Some(auth::authenticate_response::Result::Identity(id)) => {
                    format!("identity {} groups [{}]", id.subject, id.groups.join(", "))
                }
                Some(auth::authenticate_response::Result::Rejection(rej)) => {
                    format!("rejected: {}", rej.detail)
                }
                None => "no answer".into(),
            },
        )?;

        // Policy hook: the same upload judged by two tenants' configs.
        for tenant in ["acme", "globex"] {
            self.call(
                tenant,
                "policy_hook",
                "policy",
                "evaluate",
                |p| {
                    let inv = p.invocation().at(reference_now());
                    p.call_with(inv, |x, inv| x.evaluate(inv, upload(4096)))
                },
                decision,
            )?;
        }
        // The same point served by a plugin built with the Extism PDK,
        // through the Extism kernel: a 64 MiB upload over its limit.
        self.call(
            "acme",
            "policy_hook",
            "extism-policy",
            "evaluate",
            |p| {
                let inv = p.invocation().at(reference_now());
                p.call_with(inv, |x, inv| x.evaluate(inv, upload(64 << 20)))
            },
            decision,
        )?;

        // Search: analyze and preview.
        self.call(
            "acme",
            "search",
            "textsearch",
            "analyze",
            |p| {
                p.call(|x, inv| {
                    x.analyze(
                        inv,
                        search::AnalyzeRequest {
                            text: "The quick brown fox jumps over the lazy dog's back".into(),
                            language: "en".into(),
                            ..Default::default()
                        },
                    )
                })
            },
            |r| {
                let terms: Vec<&str> = r.tokens.iter().map(|t| t.term.as_str()).collect();
                format!("{} tokens: {}", terms.len(), terms.join(" "))
            },
        )?;
        self.call(
            "globex",
            "search",
            "textsearch",
            "preview",
            |p| {
                p.call(|x, inv| {
                    x.preview(
                        inv,
                        search::PreviewRequest {
                            content:
                                b"# Q3 report\n\nRevenue **up** 12%. <script>alert(1)</script>"
                                    .to_vec(),
                            media_type: "text/markdown".into(),
                            max_bytes: 200,
                            ..Default::default()
                        },
                    )
                })
            },
            |r| format!("{} {:?}", r.media_type, String::from_utf8_lossy(&r.content)),
        )?;
        Ok(())
    }

    fn refused(
        &mut self,
        case: &'static str,
        tenant: &'static str,
        expected: &'static [&'static str],
        result: Result<impl Sized, AdmissionError>,
    ) {
        let (reason, message) = match result {
            Ok(_) => ("admitted".to_owned(), "it was admitted".to_owned()),
            Err(e) => (e.reason(), e.to_string()),
        };
        self.refusals.push(Refusal {
            case,
            tenant,
            expected,
            reason,
            message,
        });
    }

    fn refuse_each_kind(&mut self) -> Result<()> {
        say(self.json, "\n6. One refusal of each kind");
        let echo = self.wasm("echo")?;
        let mut echo_manifest = self.manifest("textsearch", "1.0.0", &echo)?;
        echo_manifest.name = "echo".into();
        echo_manifest.extension_points = vec![];
        echo_manifest.limits = None;
        echo_manifest.capabilities = Grants::core();

        // A tampered module: the signed manifest binds echo.wasm, but the
        // registry now serves other code whose OCI digests were fixed up
        // to match, so only the signature's binding catches it.
        let (bytes, sig) = sign(&echo_manifest, &self.key)?;
        let mut evil = echo.clone();
        let last = evil.len() - 1;
        evil[last] ^= 0xff;
        push_raw(
            &*self.registry,
            "echo",
            "1.0.0",
            &bytes,
            &sig.to_canonical(),
            &evil,
        )?;
        let r = self.install("acme", "echo@1.0.0");
        self.refused("tampered module", "acme", &["module_digest"], r);

        // Unsigned.
        let mut m = echo_manifest.clone();
        m.version = "1.0.1".into();
        let (bytes, _) = sign(&m, &self.key)?;
        publish(&*self.registry, &bytes, None, &echo, &Quiet)?;
        let r = self.install("acme", "echo@1.0.1");
        self.refused("unsigned package", "acme", &["unsigned"], r);

        // Signed by a key the tenant does not trust.
        let stranger = generate_key()?;
        m.version = "1.0.2".into();
        let (bytes, sig) = sign(&m, &stranger)?;
        publish(
            &*self.registry,
            &bytes,
            Some(&sig.to_canonical()),
            &echo,
            &Quiet,
        )?;
        let r = self.install("acme", "echo@1.0.2");
        self.refused("untrusted key", "acme", &["untrusted_key"], r);

        // A capability the admin does not grant: pathcount imports
        // emit_event, and globex withholds events.
        let mut grant = self
            .host
            .store()
            .installed("acme", "pathcount")?
            .context("pathcount is installed for acme")?
            .requested;
        grant.events = None;
        let mut request = InstallRequest::new("globex", "pathcount@1.0.0".parse()?, ADMIN);
        request.grant = Grant::Exactly(grant);
        let r = self.host.install(&request, &Quiet);
        self.refused(
            "ungranted capability",
            "globex",
            &["capability_not_granted"],
            r,
        );

        // A revoked plugin: the handle held before the revoke is refused
        // at its next call, and so is a new lookup.
        let held = self.host.plugin("globex", "policy")?;
        self.host.revoke("globex", "policy", ADMIN)?;
        let call = held.call(|x, inv| x.evaluate(inv, upload(1)));
        let (reason, message) = match call {
            Err(e @ CallError::Invalidated { .. }) => ("invalidated".to_owned(), e.to_string()),
            Err(e) => ("call_error".to_owned(), e.to_string()),
            Ok(_) => ("admitted".to_owned(), "the call ran".to_owned()),
        };
        self.refusals.push(Refusal {
            case: "revoked plugin (held handle)",
            tenant: "globex",
            expected: &["invalidated"],
            reason,
            message,
        });
        let r = self.host.plugin("globex", "policy");
        self.refused(
            "revoked plugin (next lookup)",
            "globex",
            &["not_installed"],
            r,
        );
        Ok(())
    }

    fn install(&self, tenant: &str, reference: &str) -> Result<(), AdmissionError> {
        let request = InstallRequest::new(tenant, reference.parse()?, ADMIN);
        self.host.install(&request, &Quiet).map(drop)
    }

    /// Prints the tables (or the JSON object); returns whether every step
    /// went as expected.
    fn report(&self, elapsed: Duration) -> bool {
        let calls_ok = self.calls.iter().all(|c| !c.result.starts_with("error"));
        let refusals_ok = self
            .refusals
            .iter()
            .all(|r| r.expected.contains(&r.reason.as_str()));
        let audit = self.host.store().audit_log(None).unwrap_or_default();
        if self.json {
            let calls: Vec<Value> = self
                .calls
                .iter()
                .map(|c| {
                    json!({
                        "tenant": c.tenant, "point": c.point, "plugin": c.plugin,
                        "operation": c.operation, "result": c.result,
                        "metrics": c.metrics.as_ref().map(crate::json::metrics),
                    })
                })
                .collect();
            let refusals: Vec<Value> = self
                .refusals
                .iter()
                .map(|r| {
                    json!({
                        "case": r.case, "tenant": r.tenant, "reason": r.reason,
                        "expected": r.expected, "message": r.message,
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "ok": calls_ok && refusals_ok,
                    "published": self.published,
                    "calls": calls,
                    "refusals": refusals,
                    "audit_entries": audit.len(),
                    "seconds": elapsed.as_secs_f64(),
                })
            );
            return calls_ok && refusals_ok;
        }
        let mut out = String::new();
        let _ = writeln!(out, "\nCalls (every extension point; metrics per call)\n");
        let _ = writeln!(
            out,
            "{:<7} {:<18} {:<13} {:<12} {:>11} {:>9} {:>8} {:>8}  result",
            "tenant", "point", "plugin", "operation", "fuel", "wall ms", "in B", "out B"
        );
        for c in &self.calls {
            let (fuel, wall, inb, outb) = match &c.metrics {
                Some(m) => (
                    m.fuel_used.to_string(),
                    ms(m.wall),
                    m.input_bytes.to_string(),
                    m.output_bytes.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "{:<7} {:<18} {:<13} {:<12} {fuel:>11} {wall:>9} {inb:>8} {outb:>8}  {}",
                c.tenant,
                c.point,
                c.plugin,
                c.operation,
                truncate(&c.result, 70)
            );
        }
        let _ = writeln!(out, "\nRefusals (each stops before the plugin runs)\n");
        let _ = writeln!(
            out,
            "{:<29} {:<7} {:<23} message",
            "case", "tenant", "reason"
        );
        for r in &self.refusals {
            let mark = if r.expected.contains(&r.reason.as_str()) {
                ""
            } else {
                "  (UNEXPECTED)"
            };
            let _ = writeln!(
                out,
                "{:<29} {:<7} {:<23} {}{mark}",
                r.case,
                r.tenant,
                r.reason,
                truncate(&r.message, 90)
            );
        }
        let refused = audit.iter().filter(|e| !e.allowed).count();
        let _ = writeln!(
            out,
            "\nAudit log: {} entries, {refused} refusals (bitvault-plugin audit --home {}).",
            audit.len(),
            self.dir.display()
        );
        let _ = writeln!(
            out,
            "{} in {:.1} s.",
            if calls_ok && refusals_ok {
                "Every call and refusal went as expected"
            } else {
                "SOMETHING WENT OTHERWISE THAN EXPECTED (see above)"
            },
            elapsed.as_secs_f64()
        );
        print!("{out}");
        calls_ok && refusals_ok
    }
}

/// The fixed time the conformance samples are made for (its tokens
/// expire an hour after it).
fn reference_now() -> i64 {
    bitvault_conformance::DEFAULT_NOW_UNIX_MS
}

fn upload(size: u64) -> policy::EvaluateRequest {
    policy::EvaluateRequest {
        subject: Some(policy::Subject {
            id: "ada".into(),
            ..Default::default()
        }),
        action: "write".into(),
        resource: Some(policy::Resource {
            path: "reports/q3.pdf".into(),
            size,
            media_type: "application/pdf".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What a package should request: the conformance subject's grant, less
/// every capability the module does not import.
fn least_privilege(grants: &Grants, host: &PluginHost, module: &[u8]) -> Result<Grants> {
    let report = host.runtime().inspect(module)?;
    // The native ABI's functions and the Extism kernel's alike.
    let used = crate::inspect::needs(&report);
    let has = |k| used.contains(&k);
    let mut g = grants.clone();
    g.io &= has(CapabilityKind::Io);
    g.config &= has(CapabilityKind::Config);
    g.clock &= has(CapabilityKind::Clock);
    g.random &= has(CapabilityKind::Random);
    g.kv &= has(CapabilityKind::Kv);
    if !has(CapabilityKind::Log) {
        g.log = None;
    }
    if !has(CapabilityKind::Events) {
        g.events = None;
    }
    if !has(CapabilityKind::Http) {
        g.http = None;
    }
    Ok(g)
}

fn grant_summary(g: &Grants) -> String {
    let rows = bitvault_plugins::registry::review::rows(g);
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.capability).collect();
    kinds.dedup();
    let mut text = kinds.join(", ");
    if let Some(e) = &g.events {
        let _ = write!(text, " (topics {})", e.topics.join(", "));
    }
    text
}

fn short(text: &str) -> String {
    truncate(text, 16)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Pushes a package artifact as a registry would hold it, without the
/// checks `publish` makes: how a compromised registry serves other code.
fn push_raw(
    registry: &dyn Registry,
    name: &str,
    tag: &str,
    manifest: &[u8],
    signature: &[u8],
    module: &[u8],
) -> Result<()> {
    let config = Descriptor::of(CONFIG_MEDIA_TYPE, manifest);
    let layer = Descriptor::of(MODULE_MEDIA_TYPE, module);
    let sig = Descriptor::of(
        bitvault_plugins::registry::oci::SIGNATURE_MEDIA_TYPE,
        signature,
    );
    for (d, bytes, what) in [
        (&config, manifest, "manifest"),
        (&layer, module, "module"),
        (&sig, signature, "signature"),
    ] {
        registry.push_blob(name, &d.digest, bytes, what, &Quiet)?;
    }
    let oci = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some(bitvault_plugins::registry::oci::ARTIFACT_TYPE.into()),
        config,
        layers: vec![layer, sig],
        annotations: BTreeMap::new(),
    };
    registry.push_manifest(name, tag, &oci.to_bytes())?;
    Ok(())
}
