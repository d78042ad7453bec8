//! What the typed extension-point API and the plugin host add to a call:
//! one policy-hook evaluation of the reference `policy` plugin, measured
//! side by side as
//!
//! - `raw`: `Prepared::invoke` with the request already encoded (the
//!   runtime's fresh-instance call, the baseline);
//! - `typed`: `ExtPlugin::evaluate` (encode the request with its context,
//!   invoke, decode, check the contract);
//! - `installed`: the same through `PluginHost`'s `InstalledPlugin`
//!   (validity check and the installation's context).
//!
//! The plugins are built first (`bitvault_conformance::reference`).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::Arc;

use bitvault_plugins::extpoints::proto::policy_hook::v1::{EvaluateRequest, Resource};
use bitvault_plugins::extpoints::{ExtPlugin, Invocation, Point, PolicyHook};
use bitvault_plugins::registry::oci::Quiet;
use bitvault_plugins::registry::{
    KeyStatus, LayoutRegistry, Manifest, ModuleRef, RedbInstallStore, TrustPolicy, generate_key,
    publish, sha256_hex, sign,
};
use bitvault_plugins::{
    CallContext, Grants, InstallRequest, LimitPolicy, PluginHost, Providers, Runtime, RuntimeConfig,
};
use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;

fn request() -> EvaluateRequest {
    EvaluateRequest {
        action: "write".into(),
        resource: Some(Resource {
            path: "photos/a.png".into(),
            size: 2048,
            media_type: "image/png".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn typed_calls(c: &mut Criterion) {
    let dir = bitvault_conformance::reference::plugins_dir().expect("the plugins build");
    let wasm = std::fs::read(dir.join("policy.wasm")).expect("policy.wasm");
    let runtime = Runtime::new(RuntimeConfig::new()).expect("runtime");
    let plugin = ExtPlugin::load(&runtime, &wasm, &Grants::core(), &[Point::PolicyHook])
        .expect("policy loads");
    let call = CallContext::new(LimitPolicy::standard().default).for_plugin("t", "policy");
    let inv = Invocation::new(call.clone());
    let encoded = request().encode_to_vec();

    // The same plugin installed through the whole pipeline.
    let state = tempfile::tempdir().expect("tempdir");
    let registry = Arc::new(LayoutRegistry::open(state.path().join("registry")).expect("layout"));
    let store = Arc::new(RedbInstallStore::open(state.path().join("i.redb")).expect("store"));
    let host = PluginHost::new(
        Runtime::new(RuntimeConfig::new()).expect("runtime"),
        registry.clone(),
        store,
        Providers::default(),
    );
    let key = generate_key().expect("key");
    let manifest = Manifest {
        schema: 1,
        name: "policy".into(),
        version: "1.0.0".into(),
        publisher: "bench.example".into(),
        description: "bench".into(),
        extension_points: vec!["policy_hook".into()],
        event_types: vec![],
        capabilities: Grants::core(),
        limits: None,
        abi_version: bitvault_plugins::abi::ABI_VERSION,
        module: ModuleRef {
            sha256: sha256_hex(&wasm),
            size: wasm.len() as u64,
        },
    };
    let (bytes, sig) = sign(&manifest, &key).expect("sign");
    publish(&*registry, &bytes, Some(&sig.to_canonical()), &wasm, &Quiet).expect("publish");
    let mut policy = TrustPolicy::default();
    policy
        .trust("bench.example", &key.verifying_key(), KeyStatus::Active)
        .expect("trust");
    host.set_trust_policy("t", &policy.to_toml().expect("toml"), "bench")
        .expect("policy");
    host.install(
        &InstallRequest::new("t", "policy@1.0.0".parse().expect("reference"), "bench"),
        &Quiet,
    )
    .expect("install");
    let installed = host.plugin("t", "policy").expect("installed");

    let mut g = c.benchmark_group("policy_hook evaluate");
    g.bench_function("raw", |b| {
        b.iter(|| {
            let out = plugin
                .prepared()
                .invoke("policy_hook_v1_evaluate", encoded.clone(), &call);
            assert!(out.result.is_ok());
        });
    });
    g.bench_function("typed", |b| {
        b.iter(|| plugin.evaluate(&inv, request()).expect("evaluates"));
    });
    g.bench_function("installed", |b| {
        b.iter(|| {
            installed
                .call(|p, inv| p.evaluate(inv, request()))
                .expect("evaluates")
        });
    });
    g.finish();
}

criterion_group!(benches, typed_calls);
criterion_main!(benches);
