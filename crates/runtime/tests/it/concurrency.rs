//! Concurrent invocations, and memory staying flat over many calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use bitvault_abi::{Grants, Limits};
use bitvault_runtime::InvokeError;

use crate::{ECHO, ctx, ctx_with, defaults, load, runtime};

#[test]
fn two_threads_share_the_module_and_both_progress() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, ECHO)?;
    let done = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    std::thread::scope(|s| {
        for (t, counter) in done.iter().enumerate() {
            let p = p.clone();
            let counter = counter.clone();
            s.spawn(move || {
                for i in 0..300u32 {
                    let msg = format!("thread {t} call {i}");
                    let out = p.invoke("echo", msg.clone().into_bytes(), &ctx());
                    assert_eq!(out.result.unwrap(), msg.as_bytes());
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(done[0].load(Ordering::Relaxed), 300);
    assert_eq!(done[1].load(Ordering::Relaxed), 300);
    // One compiled module behind both.
    let again = rt.load(&wat::parse_str(ECHO)?, &Grants::core())?;
    assert!(Arc::ptr_eq(p.module(), again.module()));
    Ok(())
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[test]
fn thousands_of_invocations_leave_memory_flat() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, ECHO)?;
    let payload = vec![7u8; 16 << 10];
    let run = |n: usize| {
        for _ in 0..n {
            let out = p.invoke("echo", payload.clone(), &ctx());
            assert_eq!(out.result.unwrap().len(), payload.len());
        }
    };
    run(500);
    let warm = rss_bytes();
    run(5000);
    let after = rss_bytes();
    let growth = after.saturating_sub(warm);
    assert!(
        growth < 8 << 20,
        "RSS grew by {growth} bytes over 5000 invocations ({warm} -> {after})"
    );
    Ok(())
}

const SPIN: &str =
    r#"(module (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))"#;

#[test]
fn thousands_of_deadlines_fire_without_a_miss_or_a_hang() -> Result<()> {
    let rt = runtime();
    let p = load(&rt, SPIN)?;
    let limits = Limits {
        fuel: u64::MAX,
        deadline_ms: 2,
        ..defaults()
    };
    let worst = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let p = p.clone();
            let worst = worst.clone();
            s.spawn(move || {
                for _ in 0..1000 {
                    let out = p.invoke("spin", Vec::new(), &ctx_with(limits));
                    assert_eq!(
                        out.result.unwrap_err(),
                        InvokeError::Deadline { deadline_ms: 2 }
                    );
                    worst.fetch_max(out.metrics.wall.as_micros() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let worst = Duration::from_micros(worst.load(Ordering::Relaxed));
    // Each call ends shortly after its deadline; 2000 calls of 2 ms on two
    // threads take about 2 s, not the 60 s the fuel would allow one call.
    assert!(
        worst < Duration::from_millis(250),
        "slowest deadline took {worst:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(rt.deadline_interrupts() >= 2000);
    // Ordinary calls are unaffected afterwards.
    crate::assert_serves(&rt)
}
