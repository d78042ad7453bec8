//! `emit_event`: granted topics, the bus, and the causal-depth cut.

use std::sync::Arc;

use anyhow::Result;
use bitvault_abi::{ErrorCode, EventsGrant, Grants};
use bitvault_runtime::events::{EventBus, EventLimits, InProcessBus};
use bitvault_runtime::{CallContext, InvokeError, Prepared};

use crate::{defaults, runtime};

/// `notify` publishes the request on `thumbnails.created`; `sneaky` tries
/// `admin.purge`. Both return emit_event's result as their code.
const EMITTER: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $len (result i32)))
  (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "emit_event" (func $emit (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "thumbnails.created")
  (data (i32.const 32) "admin.purge")
  (func (export "notify") (result i32) (local $n i32)
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (i32.const 1024) (local.get $n)))
    (call $emit (i32.const 0) (i32.const 18) (i32.const 1024) (local.get $n)))
  (func (export "sneaky") (result i32)
    (call $emit (i32.const 32) (i32.const 11) (i32.const 0) (i32.const 0))))
"#;

fn plugin() -> Result<Prepared> {
    let grants = Grants {
        events: Some(EventsGrant {
            topics: vec!["thumbnails.*".into()],
        }),
        ..Grants::core()
    };
    Ok(runtime().load(&wat::parse_str(EMITTER)?, &grants)?)
}

fn code_of(result: Result<Vec<u8>, InvokeError>) -> i32 {
    match result {
        Ok(_) => 0,
        Err(InvokeError::PluginError { code, .. }) => code,
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn events_on_granted_topics_reach_subscribers_with_their_origin() -> Result<()> {
    let bus = Arc::new(InProcessBus::new(16));
    let rx = bus.subscribe();
    let ctx = CallContext::new(defaults())
        .for_plugin("tenant-a", "thumbnailer")
        .with_events(bus.clone(), 0, EventLimits::standard());
    let out = plugin()?.invoke("notify", b"/photos/cat.png".to_vec(), &ctx);
    let id = out.invocation_id;
    assert_eq!(code_of(out.result), 0);
    let e = rx.try_recv()?;
    assert_eq!(e.topic, "thumbnails.created");
    assert_eq!(&e.payload[..], b"/photos/cat.png");
    assert_eq!(
        (e.tenant.as_str(), e.source.as_str()),
        ("tenant-a", "thumbnailer")
    );
    assert_eq!(e.invocation_id, id);
    assert_eq!(e.depth, 1);
    Ok(())
}

#[test]
fn topics_outside_the_grant_are_refused_and_nothing_is_published() -> Result<()> {
    let bus = Arc::new(InProcessBus::new(16));
    let rx = bus.subscribe();
    let ctx = CallContext::new(defaults()).with_events(bus.clone(), 0, EventLimits::standard());
    let out = plugin()?.invoke("sneaky", Vec::new(), &ctx);
    assert_eq!(code_of(out.result), ErrorCode::NotPermitted.code());
    assert!(rx.try_recv().is_err());
    Ok(())
}

#[test]
fn an_emit_handler_emit_chain_is_cut_at_the_configured_depth() -> Result<()> {
    let bus = Arc::new(InProcessBus::new(16));
    let rx = bus.subscribe();
    let limits = EventLimits {
        max_depth: 3,
        ..EventLimits::standard()
    };
    let p = plugin()?;
    // Each handled event triggers the plugin again, which emits again.
    let mut depth = 0;
    let mut depths = Vec::new();
    let last = loop {
        let ctx = CallContext::new(defaults()).with_events(bus.clone(), depth, limits);
        let code = code_of(p.invoke("notify", b"again".to_vec(), &ctx).result);
        if code != 0 {
            break code;
        }
        let e = rx.try_recv()?;
        depths.push(e.depth);
        depth = e.depth;
        assert!(depths.len() < 10, "the chain was not cut");
    };
    assert_eq!(depths, [1, 2, 3]);
    assert_eq!(last, ErrorCode::DepthExceeded.code());
    assert!(rx.try_recv().is_err());
    Ok(())
}

#[test]
fn payload_size_and_missing_bus_are_refused_with_codes() -> Result<()> {
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new(16));
    let limits = EventLimits {
        max_payload_bytes: 8,
        ..EventLimits::standard()
    };
    let ctx = CallContext::new(defaults()).with_events(bus, 0, limits);
    let p = plugin()?;
    assert_eq!(
        code_of(p.invoke("notify", vec![0; 9], &ctx).result),
        ErrorCode::TooLarge.code()
    );
    assert_eq!(code_of(p.invoke("notify", vec![0; 8], &ctx).result), 0);
    let unbound = CallContext::new(defaults());
    assert_eq!(
        code_of(p.invoke("notify", Vec::new(), &unbound).result),
        ErrorCode::Unavailable.code()
    );
    Ok(())
}

#[test]
fn a_full_subscriber_makes_the_publish_unavailable() -> Result<()> {
    let bus = Arc::new(InProcessBus::new(1));
    let _rx = bus.subscribe();
    let ctx = CallContext::new(defaults()).with_events(bus.clone(), 0, EventLimits::standard());
    let p = plugin()?;
    assert_eq!(code_of(p.invoke("notify", b"1".to_vec(), &ctx).result), 0);
    assert_eq!(
        code_of(p.invoke("notify", b"2".to_vec(), &ctx).result),
        ErrorCode::Unavailable.code()
    );
    Ok(())
}

#[test]
fn emit_event_is_denied_without_an_events_grant() -> Result<()> {
    let err = runtime()
        .load(&wat::parse_str(EMITTER)?, &Grants::core())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("bitvault_v1.emit_event (capability `events` not granted)"),
        "{err}"
    );
    Ok(())
}
