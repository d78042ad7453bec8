//! Many concurrent invocations driven from async code.

use std::time::{Duration, Instant};

use anyhow::Result;
use bitvault_plugins::{
    AsyncInvoke, CallContext, Grants, InvokeError, LimitPolicy, Limits, Runtime, RuntimeConfig,
};

const PLUGIN: &str = r#"
(module
  (import "bitvault_v1" "input_len" (func $len (result i32)))
  (import "bitvault_v1" "read_input" (func $read (param i32 i32 i32) (result i32)))
  (import "bitvault_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32) (local $n i32)
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (i32.const 0) (local.get $n)))
    (call $write (i32.const 0) (local.get $n)))
  (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_async_invocations_complete() -> Result<()> {
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let plugin = runtime.load(&wat::parse_str(PLUGIN)?, &Grants::core())?;
    let ctx = CallContext::new(LimitPolicy::standard().default);
    let calls: Vec<_> = (0..200)
        .map(|i| plugin.invoke_async("echo", format!("call {i}").into_bytes(), &ctx))
        .collect();
    let mut outcomes = Vec::new();
    for call in calls {
        outcomes.push(call.await);
    }
    for (i, o) in outcomes.into_iter().enumerate() {
        assert_eq!(o.result?, format!("call {i}").as_bytes());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_plugin_does_not_stall_the_async_runtime() -> Result<()> {
    let runtime = Runtime::new(RuntimeConfig::new())?;
    let plugin = runtime.load(&wat::parse_str(PLUGIN)?, &Grants::core())?;
    let limits = Limits {
        fuel: u64::MAX,
        deadline_ms: 300,
        ..LimitPolicy::standard().default
    };
    let spins: Vec<_> = (0..4)
        .map(|_| tokio::spawn(plugin.invoke_async("spin", Vec::new(), &CallContext::new(limits))))
        .collect();
    // While four plugins spin on the blocking pool, async tasks keep running.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let slept = started.elapsed();
    assert!(
        slept < Duration::from_millis(250),
        "the async runtime stalled for {slept:?}"
    );
    for s in spins {
        assert_eq!(
            s.await?.result.unwrap_err(),
            InvokeError::Deadline { deadline_ms: 300 }
        );
    }
    Ok(())
}
