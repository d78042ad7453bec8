//! The typed extension points through their host API, with the reference
//! plugins: the lifecycle (discover, load, invoke, teardown), each
//! implemented point's typed calls, and the refusals: a missing export,
//! a point the plugin was not loaded for, and a response that breaks its
//! contract.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use bitvault_plugins::abi::EventsGrant;
use bitvault_plugins::events::{EventBus, EventLimits, InProcessBus};
use bitvault_plugins::extpoints::proto::event_handler::v1::{Ack, DomainEvent};
use bitvault_plugins::extpoints::proto::policy_hook::v1::{
    Decision, EvaluateRequest, Resource, Subject,
};
use bitvault_plugins::extpoints::proto::search::v1::{AnalyzeRequest, PreviewRequest};
use bitvault_plugins::extpoints::{
    EventHandler, ExtError, ExtLoadError, ExtPlugin, Invocation, Point, PolicyHook, Search,
    discover,
};
use bitvault_plugins::kv::{KvQuotas, MemoryKv};
use bitvault_plugins::{CallContext, Grants, InvokeError, LimitPolicy, Runtime, RuntimeConfig};

fn runtime() -> Result<Runtime> {
    Ok(Runtime::new(RuntimeConfig::new())?)
}

fn load(rt: &Runtime, name: &str, grants: &Grants, points: &[Point]) -> Result<ExtPlugin> {
    Ok(ExtPlugin::load(
        rt,
        &common::plugin_wasm(name)?,
        grants,
        points,
    )?)
}

fn call(tenant: &str, plugin: &str) -> CallContext {
    CallContext::new(LimitPolicy::standard().default).for_plugin(tenant, plugin)
}

#[test]
fn discovery_finds_each_reference_plugin_by_its_points() -> Result<()> {
    let rt = runtime()?;
    let found = discover(&rt, &common::plugins_dir()?)?;
    let by_name: BTreeMap<_, _> = found.iter().map(|d| (d.name.as_str(), &d.points)).collect();
    assert_eq!(by_name.get("textsearch"), Some(&&vec![Point::Search]));
    assert_eq!(by_name.get("policy"), Some(&&vec![Point::PolicyHook]));
    assert_eq!(by_name.get("pathcount"), Some(&&vec![Point::EventHandler]));
    // Plugins without a complete point are not offered for any.
    assert!(!by_name.contains_key("echo"), "{by_name:?}");
    Ok(())
}

#[test]
fn discovery_per_tenant_stays_inside_the_root() -> Result<()> {
    use bitvault_plugins::extpoints::discover_for_tenant;
    let rt = runtime()?;
    let root = tempfile::tempdir()?;
    std::fs::create_dir(root.path().join("acme"))?;
    std::fs::write(
        root.path().join("acme/policy.wasm"),
        common::plugin_wasm("policy")?,
    )?;
    std::fs::write(root.path().join("acme/notes.txt"), b"not a module")?;
    let found = discover_for_tenant(&rt, root.path(), "acme")?;
    let names: Vec<_> = found
        .iter()
        .map(|d| (d.name.as_str(), d.points.clone()))
        .collect();
    assert_eq!(names, [("policy", vec![Point::PolicyHook])]);
    assert!(discover_for_tenant(&rt, root.path(), "globex")?.is_empty());
    for hostile in ["..", "../acme", "a/b", "", "."] {
        let e = discover_for_tenant(&rt, root.path(), hostile).unwrap_err();
        assert_eq!(
            e.source.kind(),
            std::io::ErrorKind::InvalidInput,
            "{hostile:?}"
        );
    }
    Ok(())
}

#[test]
fn the_search_analyzer_and_preview_answer_through_the_typed_api() -> Result<()> {
    let rt = runtime()?;
    let p = load(&rt, "textsearch", &Grants::core(), &[Point::Search])?;
    let inv = Invocation::new(call("tenant-a", "textsearch"));

    let reply = p.analyze(
        &inv,
        AnalyzeRequest {
            text: "The Wörld of Plugins".into(),
            language: "en".into(),
            ..Default::default()
        },
    )?;
    let terms: Vec<_> = reply
        .message
        .tokens
        .iter()
        .map(|t| (t.term.as_str(), t.position, t.start, t.end))
        .collect();
    assert_eq!(terms, [("wörld", 1, 4, 10), ("plugins", 3, 14, 21)]);
    assert!(reply.metrics.fuel_used > 0);

    let preview = p.preview(
        &inv,
        PreviewRequest {
            content: b"**bold** <b onclick=x>raw</b>".to_vec(),
            media_type: "text/markdown".into(),
            max_bytes: 4096,
            ..Default::default()
        },
    )?;
    let html = String::from_utf8(preview.message.content)?;
    assert_eq!(preview.message.media_type, "text/html");
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(html.contains("&lt;b onclick=x&gt;"), "{html}");

    // An unsupported media type is the plugin's typed error.
    let err = p
        .preview(
            &inv,
            PreviewRequest {
                content: vec![0x89, b'P'],
                media_type: "image/png".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    match err {
        ExtError::Invoke { error, export, .. } => {
            assert_eq!(export, "search_v1_preview");
            assert!(
                matches!(*error, InvokeError::PluginError { code: 22, .. }),
                "{error}"
            );
        }
        other => bail!("expected the plugin's error, got {other}"),
    }
    Ok(())
}

#[test]
fn the_policy_hook_judges_by_the_hosts_time_and_its_config() -> Result<()> {
    let rt = runtime()?;
    let p = load(&rt, "policy", &Grants::core(), &[Point::PolicyHook])?;
    let config: BTreeMap<String, String> = [
        ("max_size", "1048576"),
        ("media_types", "image/*"),
        ("hours", "8-18"),
        ("deny_paths", "private/**"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ctx = call("tenant-a", "policy").with_config(config);
    let request = |path: &str, media_type: &str| EvaluateRequest {
        subject: Some(Subject {
            id: "ada".into(),
            ..Default::default()
        }),
        action: "write".into(),
        resource: Some(Resource {
            path: path.into(),
            size: 2048,
            media_type: media_type.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ten_am = 10 * 3_600_000;
    let at_ten = Invocation::new(ctx.clone()).at(ten_am);
    let ok = p.evaluate(&at_ten, request("photos/a.png", "image/png"))?;
    assert_eq!(ok.message.decision, Decision::Abstain as i32);

    let at_night = Invocation::new(ctx).at(ten_am + 12 * 3_600_000);
    let denied = p.evaluate(&at_night, request("private/x.png", "text/html"))?;
    assert_eq!(denied.message.decision, Decision::Deny as i32);
    assert_eq!(
        denied.message.reasons.len(),
        3,
        "{:?}",
        denied.message.reasons
    );
    Ok(())
}

#[test]
fn the_event_handler_counts_in_kv_and_emits_a_derived_event() -> Result<()> {
    let rt = runtime()?;
    let grants = Grants {
        events: Some(EventsGrant {
            topics: vec!["pathcount.*".into()],
        }),
        ..Grants::core_with_kv()
    };
    let p = load(&rt, "pathcount", &grants, &[Point::EventHandler])?;
    let bus = Arc::new(InProcessBus::new(16));
    let subscription = bus.subscribe();
    let ctx = call("tenant-a", "pathcount")
        .with_kv(Arc::new(MemoryKv::new()), KvQuotas::standard(), None)?
        .with_events(bus.clone() as Arc<dyn EventBus>, 0, EventLimits::standard());
    let inv = Invocation::new(ctx);

    let described = p.describe(&inv)?;
    assert_eq!(described.message.event_types, ["object.*"]);
    let event = |id: &str| DomainEvent {
        id: id.into(),
        r#type: "object.created".into(),
        subject: "docs/a.md".into(),
        tenant: "tenant-a".into(),
        ..Default::default()
    };
    for id in ["e1", "e2", "e2"] {
        let reply = p.handle(&inv, event(id))?;
        assert_eq!(reply.message.ack, Ack::Done as i32);
    }
    let published: Vec<_> = subscription
        .try_iter()
        .map(|e| {
            (
                e.topic,
                String::from_utf8_lossy(&e.payload).into_owned(),
                e.depth,
            )
        })
        .collect();
    assert_eq!(
        published,
        [
            (
                "pathcount.updated".to_string(),
                "docs/a.md=1".to_string(),
                1
            ),
            (
                "pathcount.updated".to_string(),
                "docs/a.md=2".to_string(),
                1
            ),
        ],
        "the redelivered e2 is not counted twice"
    );
    Ok(())
}

#[test]
fn a_plugin_missing_an_export_of_its_point_is_refused_naming_it() -> Result<()> {
    let rt = runtime()?;
    let wasm = wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "search_v1_analyze") (result i32) (i32.const 0)))"#,
    )?;
    match ExtPlugin::load(&rt, &wasm, &Grants::core(), &[Point::Search]) {
        Err(ExtLoadError::MissingExports(m)) => {
            assert_eq!(m.point, Point::Search);
            assert_eq!(m.missing, ["search_v1_preview"]);
        }
        other => bail!("expected missing exports, got {other:?}"),
    }
    let typed = wat::parse_str(
        r#"(module
             (func (export "policy_hook_v1_evaluate") (param i32) (result i32) (i32.const 0)))"#,
    )?;
    match ExtPlugin::load(&rt, &typed, &Grants::core(), &[Point::PolicyHook]) {
        Err(ExtLoadError::ExportType { export, .. }) => {
            assert_eq!(export, "policy_hook_v1_evaluate");
        }
        other => bail!("expected a wrongly typed export, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_point_the_plugin_was_not_loaded_for_is_not_callable() -> Result<()> {
    let rt = runtime()?;
    let p = load(&rt, "policy", &Grants::core(), &[Point::PolicyHook])?;
    let inv = Invocation::new(call("t", "policy"));
    match p.analyze(&inv, AnalyzeRequest::default()) {
        Err(ExtError::NotImplemented { point }) => assert_eq!(point, Point::Search),
        other => bail!("expected not implemented, got {other:?}"),
    }
    Ok(())
}

/// A search plugin whose analyzer answers a token beyond the text: the
/// host refuses the response as a contract violation instead of passing
/// it on. Its output is a fixed `AnalyzeResponse`: token "x", position 0,
/// offsets 0..99.
#[test]
fn a_response_that_breaks_the_contract_is_a_typed_error() -> Result<()> {
    let rt = runtime()?;
    let wasm = wat::parse_str(
        r#"(module
             (import "bitvault_v1" "write_output" (func $w (param i32 i32) (result i32)))
             (memory (export "memory") 1)
             ;; AnalyzeResponse { tokens: [Token { term: "x", position: 0, start: 0, end: 99 }] }
             (data (i32.const 0) "\0a\07\0a\01x\18\00\20\63")
             (func (export "search_v1_analyze") (result i32)
               (drop (call $w (i32.const 0) (i32.const 9))) (i32.const 0))
             (func (export "search_v1_preview") (result i32)
               (drop (call $w (i32.const 100) (i32.const 3))) (i32.const 0)))"#,
    )?;
    let p = ExtPlugin::load(&rt, &wasm, &Grants::core(), &[Point::Search])?;
    let inv = Invocation::new(call("t", "broken"));
    let analyzed = p.analyze(
        &inv,
        AnalyzeRequest {
            text: "short".into(),
            ..Default::default()
        },
    );
    match analyzed {
        Err(ExtError::Contract { export, violation }) => {
            assert_eq!(export, "search_v1_analyze");
            assert!(violation.0.contains("outside a 5-byte text"), "{violation}");
        }
        other => bail!("expected a contract violation, got {other:?}"),
    }
    // Three zero bytes are not a PreviewResponse.
    match p.preview(&inv, PreviewRequest::default()) {
        Err(ExtError::Decode { export, .. }) => assert_eq!(export, "search_v1_preview"),
        other => bail!("expected a decode error, got {other:?}"),
    }
    Ok(())
}

/// Teardown: dropping a plugin (a revocation or an upgrade) does not
/// disturb a call already running on a clone, which holds the compiled
/// module; the next call goes through whatever is loaded then.
#[test]
fn a_call_in_flight_finishes_after_its_plugin_is_dropped() -> Result<()> {
    let rt = runtime()?;
    let p = load(&rt, "textsearch", &Grants::core(), &[Point::Search])?;
    let in_flight = p.clone();
    let digest = *p.prepared().module().digest();
    drop(p);
    rt.evict(&digest);
    let worker = std::thread::spawn(move || {
        let inv = Invocation::new(call("t", "textsearch"));
        in_flight.analyze(
            &inv,
            AnalyzeRequest {
                text: "still running".into(),
                ..Default::default()
            },
        )
    });
    let reply = worker
        .join()
        .map_err(|_| anyhow::anyhow!("worker panicked"))??;
    assert_eq!(reply.message.tokens.len(), 2);
    Ok(())
}

#[test]
fn the_storage_provider_keeps_objects_in_its_kv_namespace() -> Result<()> {
    use bitvault_plugins::extpoints::StorageProvider;
    use bitvault_plugins::extpoints::proto::storage_provider::v1::{
        ByteRange, GetRequest, ListRequest, PutRequest, Status,
    };
    let rt = runtime()?;
    let p = load(
        &rt,
        "kvstore",
        &Grants::core_with_kv(),
        &[Point::StorageProvider],
    )?;
    let store = Arc::new(MemoryKv::new());
    let ctx = call("tenant-a", "kvstore").with_kv(store.clone(), KvQuotas::standard(), None)?;
    let inv = Invocation::new(ctx).at(1_000);
    let put = p.put(
        &inv,
        PutRequest {
            key: "docs/a.txt".into(),
            data: b"hello, storage".to_vec(),
            content_type: "text/plain".into(),
            ..Default::default()
        },
    )?;
    let meta = put.message.meta.unwrap_or_default();
    assert_eq!((meta.size, meta.last_modified_unix_ms), (14, 1_000));
    let got = p.get(
        &inv,
        GetRequest {
            key: "docs/a.txt".into(),
            range: Some(ByteRange { start: 7, end: 0 }),
            ..Default::default()
        },
    )?;
    assert_eq!(got.message.data, b"storage");
    // Another tenant's namespace does not see it.
    let other =
        Invocation::new(call("tenant-b", "kvstore").with_kv(store, KvQuotas::standard(), None)?);
    let listed = p.list(&other, ListRequest::default())?;
    assert!(listed.message.objects.is_empty());
    let missing = p.get(
        &other,
        GetRequest {
            key: "docs/a.txt".into(),
            ..Default::default()
        },
    )?;
    assert_eq!(missing.message.status, Status::NotFound as i32);
    Ok(())
}

#[test]
fn the_auth_provider_judges_tokens_at_the_context_time() -> Result<()> {
    use bitvault_plugins::extpoints::AuthProvider;
    use bitvault_plugins::extpoints::proto::auth_provider::v1::{
        AuthenticateRequest, RejectionReason, authenticate_response::Result as Answer,
    };
    let rt = runtime()?;
    let p = load(&rt, "jwtauth", &Grants::core(), &[Point::AuthProvider])?;
    let secret = b"0123456789abcdef0123456789abcdef";
    let ctx = call("tenant-a", "jwtauth").with_config(
        [(
            "hs256_key".to_owned(),
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        )]
        .into_iter()
        .collect(),
    );
    let token = bitvault_conformance::reference::hs256_token(
        secret,
        r#"{"sub":"grace","groups":["ops"],"exp":2000}"#,
    );
    let request = || AuthenticateRequest {
        token: token.clone(),
        scheme: "Bearer".into(),
        ..Default::default()
    };
    let before = p.authenticate(&Invocation::new(ctx.clone()).at(1_999_000), request())?;
    match before.message.result {
        Some(Answer::Identity(id)) => {
            assert_eq!(
                (id.subject.as_str(), id.groups.as_slice()),
                ("grace", &["ops".to_owned()][..])
            );
            assert_eq!(id.expires_unix_ms, 2_000_000);
        }
        other => bail!("expected an identity, got {other:?}"),
    }
    let after = p.authenticate(&Invocation::new(ctx).at(2_000_000), request())?;
    match after.message.result {
        Some(Answer::Rejection(r)) => assert_eq!(r.reason, RejectionReason::Expired as i32),
        other => bail!("expected a rejection, got {other:?}"),
    }
    Ok(())
}

#[test]
fn the_thumbnailer_shrinks_a_png_keeping_its_aspect_ratio() -> Result<()> {
    use bitvault_plugins::extpoints::ContentTransform;
    use bitvault_plugins::extpoints::proto::content_transform::v1::TransformRequest;
    let rt = runtime()?;
    let p = load(
        &rt,
        "thumbnailer",
        &Grants::core(),
        &[Point::ContentTransform],
    )?;
    let mut limits = LimitPolicy::standard().default;
    limits.fuel = bitvault_conformance::reference::PLUGIN_FUEL;
    let inv = Invocation::new(CallContext::new(limits).for_plugin("tenant-a", "thumbnailer"));
    let reply = p.transform(
        &inv,
        TransformRequest {
            content: bitvault_conformance::reference::png_gradient(300, 150),
            media_type: "image/png".into(),
            parameters: [("max_width".to_owned(), "100".to_owned())]
                .into_iter()
                .collect(),
            ..Default::default()
        },
    )?;
    let m = &reply.message;
    assert_eq!(m.media_type, "image/png");
    assert_eq!(
        (m.metadata["width"].as_str(), m.metadata["height"].as_str()),
        ("100", "50")
    );
    assert!(m.content.starts_with(b"\x89PNG"));
    Ok(())
}
