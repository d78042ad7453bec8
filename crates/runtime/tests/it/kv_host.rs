//! The `kv_*` host functions: a plugin's namespace through the ABI,
//! isolation between tenants and plugins, quotas, paging, and refusals.

use std::sync::Arc;

use anyhow::Result;
use bitvault_abi::{ErrorCode, Grants};
use bitvault_runtime::kv::{KvQuotas, KvStore, MemoryKv, RedbKv};
use bitvault_runtime::{CallContext, InvokeError, Prepared};

use crate::{defaults, runtime};

/// `count` increments the u32 under key "count" and writes the new value;
/// `forget` deletes it and writes kv_delete's result; `list` writes one
/// page of keys (limit 2) after the cursor given as the request (none if
/// the request is empty); `big` stores a value of `input_len` bytes.
const COUNTER: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $input_len (result i32)))
  (import "bitvault_v1" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (import "bitvault_v1" "result_read" (func $result_read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "kv_get" (func $get (param i32 i32) (result i32)))
  (import "bitvault_v1" "kv_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "bitvault_v1" "kv_delete" (func $delete (param i32 i32) (result i32)))
  (import "bitvault_v1" "kv_list" (func $list (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "count")
  (func (export "count") (result i32) (local $n i32) (local $r i32)
    (local.set $n (call $get (i32.const 0) (i32.const 5)))
    (if (i32.eq (local.get $n) (i32.const 4))
      (then (drop (call $result_read (i32.const 0) (i32.const 16) (i32.const 4))))
      (else
        (if (i32.ne (local.get $n) (i32.const -6)) (then (return (local.get $n))))
        (i32.store (i32.const 16) (i32.const 0))))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (local.set $r (call $put (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 4)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (call $write (i32.const 16) (i32.const 4)))
  (func (export "forget") (result i32)
    (i32.store (i32.const 16) (call $delete (i32.const 0) (i32.const 5)))
    (call $write (i32.const 16) (i32.const 4)))
  (func (export "list") (result i32) (local $cursor_len i32) (local $n i32)
    (local.set $cursor_len (call $input_len))
    (drop (call $read_input (i32.const 0) (i32.const 100) (local.get $cursor_len)))
    (if (i32.eqz (local.get $cursor_len)) (then (local.set $cursor_len (i32.const -1))))
    (local.set $n (call $list (i32.const 0) (i32.const 0) (i32.const 100) (local.get $cursor_len) (i32.const 2)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $n))))
    (drop (call $result_read (i32.const 0) (i32.const 1024) (local.get $n)))
    (call $write (i32.const 1024) (local.get $n)))
  (func (export "big") (result i32) (local $n i32)
    (local.set $n (call $input_len))
    (call $put (i32.const 0) (i32.const 5) (i32.const 1024) (local.get $n))))
"#;

fn plugin() -> Result<Prepared> {
    Ok(runtime().load(&wat::parse_str(COUNTER)?, &Grants::core_with_kv())?)
}

fn ctx(store: &Arc<dyn KvStore>, tenant: &str, plugin: &str) -> Result<CallContext> {
    Ok(CallContext::new(defaults())
        .for_plugin(tenant, plugin)
        .with_kv(store.clone(), KvQuotas::standard(), None)?)
}

fn count(p: &Prepared, ctx: &CallContext) -> Result<u32> {
    let out = p.invoke("count", Vec::new(), ctx).result?;
    Ok(u32::from_le_bytes(out.as_slice().try_into()?))
}

fn code(p: &Prepared, export: &str, input: Vec<u8>, ctx: &CallContext) -> i32 {
    match p.invoke(export, input, ctx).result {
        Err(InvokeError::PluginError { code, .. }) => code,
        other => panic!("expected a plugin error code, got {other:?}"),
    }
}

#[test]
fn state_persists_across_fresh_instances_and_is_isolated_per_tenant_and_plugin() -> Result<()> {
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let p = plugin()?;
    let a = ctx(&store, "tenant-a", "counter")?;
    let b = ctx(&store, "tenant-b", "counter")?;
    let other_plugin = ctx(&store, "tenant-a", "other")?;
    assert_eq!(count(&p, &a)?, 1);
    assert_eq!(count(&p, &a)?, 2);
    assert_eq!(count(&p, &a)?, 3);
    assert_eq!(count(&p, &b)?, 1);
    assert_eq!(count(&p, &other_plugin)?, 1);
    // A path-narrowed namespace is separate from the plugin's own.
    let narrowed = CallContext::new(defaults())
        .for_plugin("tenant-a", "counter")
        .with_kv(store.clone(), KvQuotas::standard(), Some("/photos/cat.png"))?;
    assert_eq!(count(&p, &narrowed)?, 1);
    assert_eq!(count(&p, &a)?, 4);

    let out = p.invoke("forget", Vec::new(), &a).result?;
    assert_eq!(out, 1i32.to_le_bytes());
    let out = p.invoke("forget", Vec::new(), &a).result?;
    assert_eq!(out, 0i32.to_le_bytes());
    assert_eq!(count(&p, &a)?, 1);
    assert_eq!(count(&p, &b)?, 2);
    Ok(())
}

#[test]
fn state_survives_reopening_a_durable_store() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kv.redb");
    let p = plugin()?;
    {
        let store: Arc<dyn KvStore> = Arc::new(RedbKv::open(&path)?);
        let c = ctx(&store, "t", "counter")?;
        assert_eq!(count(&p, &c)?, 1);
        assert_eq!(count(&p, &c)?, 2);
    }
    let store: Arc<dyn KvStore> = Arc::new(RedbKv::open(&path)?);
    assert_eq!(count(&p, &ctx(&store, "t", "counter")?)?, 3);
    Ok(())
}

fn decode_page(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let mut at = 4;
    let mut keys = Vec::new();
    for _ in 0..u32_at(0) {
        let n = u32_at(at);
        keys.push(bytes[at + 4..at + 4 + n].to_vec());
        at += 4 + n;
    }
    let next = (bytes[at] == 1).then(|| {
        let n = u32_at(at + 1);
        bytes[at + 5..at + 5 + n].to_vec()
    });
    assert_eq!(
        at + 1 + next.as_ref().map_or(0, |n| 4 + n.len()),
        bytes.len()
    );
    (keys, next)
}

#[test]
fn keys_are_listed_in_pages_through_the_staged_result() -> Result<()> {
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let c = ctx(&store, "t", "lister")?;
    let ns = c.kv.as_ref().unwrap().namespace.clone();
    for k in ["a", "b", "c", "d", "e"] {
        store.put(&ns, k.as_bytes(), b"v", &KvQuotas::standard())?;
    }
    let p = plugin()?;
    let mut seen = Vec::new();
    let mut cursor: Vec<u8> = Vec::new();
    for _ in 0..5 {
        let page = p.invoke("list", cursor.clone(), &c).result?;
        let (keys, next) = decode_page(&page);
        assert!(keys.len() <= 2);
        seen.extend(keys);
        match next {
            Some(n) => cursor = n,
            None => break,
        }
    }
    let expected: Vec<Vec<u8>> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    assert_eq!(seen, expected);
    Ok(())
}

#[test]
fn quota_refusals_are_codes_and_change_nothing() -> Result<()> {
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let quotas = KvQuotas {
        max_value_bytes: 100,
        ..KvQuotas::standard()
    };
    let c = CallContext::new(defaults())
        .for_plugin("t", "big")
        .with_kv(store.clone(), quotas, None)?;
    let p = plugin()?;
    assert_eq!(
        code(&p, "big", vec![0; 101], &c),
        ErrorCode::QuotaExceeded.code()
    );
    let ns = c.kv.as_ref().unwrap().namespace.clone();
    assert_eq!(store.get(&ns, b"count")?, None);
    // Within the quota the same call stores the value.
    assert_eq!(p.invoke("big", vec![0; 100], &c).result?, b"");
    assert_eq!(store.get(&ns, b"count")?, Some(vec![0; 100]));
    Ok(())
}

#[test]
fn kv_without_a_bound_store_is_unavailable() -> Result<()> {
    let p = plugin()?;
    let c = CallContext::new(defaults()).for_plugin("t", "counter");
    assert_eq!(
        code(&p, "count", Vec::new(), &c),
        ErrorCode::Unavailable.code()
    );
    Ok(())
}

#[test]
fn kv_is_denied_unless_granted() -> Result<()> {
    let err = runtime()
        .load(&wat::parse_str(COUNTER)?, &Grants::core())
        .unwrap_err();
    let text = err.to_string();
    for f in ["kv_get", "kv_put", "kv_delete", "kv_list"] {
        assert!(
            text.contains(&format!("bitvault_v1.{f} (capability `kv` not granted)")),
            "{text}"
        );
    }
    Ok(())
}
